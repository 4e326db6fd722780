# cxstream: every target does its own set-up, so `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help install tools run broker worker test test-unit stress bench lint schemas-check topics-apply clean

help: ## Show this help
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; else on=''; off=''; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %s%-14s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cxstream needs Python >= 3.11 (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install cxstream with its dev tools (idempotent; a no-op when nothing changed)

# System tools the tests run: promtool (Debian package prometheus) and a headless browser (Debian package
# chromium, driven by playwright). Installed with apt-get when missing and possible (root); otherwise the
# tests that need them fail and say what to install.
SYSTEM_TOOLS := promtool:prometheus chromium:chromium
tools: ## Install the system tools the tests use (promtool, chromium) when missing
	@missing=""; for pair in $(SYSTEM_TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	      || echo "cxstream: could not install$$missing; the tests that need them will fail"; \
	  else echo "cxstream: missing Debian packages:$$missing (apt-get install$$missing)"; fi; fi

run: install ## Run the whole service on the embedded broker (or on CXSTREAM_KAFKA_BOOTSTRAP); Ctrl-C stops everything
	$(BIN)/cxstream run $(ARGS)

broker: install ## Run the embedded Kafka-wire broker alone and print its bootstrap address
	$(BIN)/cxstream broker $(ARGS)

worker: install ## Run one worker against CXSTREAM_KAFKA_BOOTSTRAP (embedded broker when unset)
	$(BIN)/cxstream worker $(ARGS)

topics-apply: install ## Create the declared topics on the configured cluster and report drift
	$(BIN)/cxstream topics apply

schemas-check: install ## Parse every Avro schema and check backward compatibility against main
	$(BIN)/cxstream schemas check

test: install tools ## Run the whole test suite (unit + integration on the embedded broker)
	$(BIN)/python -m pytest $(ARGS)

test-unit: install tools ## Run the tests that need no broker
	$(BIN)/python -m pytest -m 'not integration' $(ARGS)

stress: install tools ## Long fault runs (a paused worker 1 + CXSTREAM_STRESS_REPEATS times, default 5; a rebalance storm, then a SIGKILL)
	$(BIN)/python -m pytest -m stress $(ARGS)

bench: install ## Throughput (and its ceiling without Faust), memory per table key and with 1M customers, and event-to-escalation latency on the embedded broker, against minimal Faust agents; history backfill rate and bytes per stored day; execution gaps under no difference against their budget
	$(BIN)/python bench/ingest_metrics.py $(ARGS)
	$(BIN)/python bench/bare_pipeline.py
	$(BIN)/python bench/escalation_latency.py
	$(BIN)/python bench/history_backfill.py
	$(BIN)/python bench/table_memory.py
	$(BIN)/python bench/location_noise.py

lint: install ## ruff (lint + format check) and mypy on src
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/mypy

clean: ## Remove the virtualenv, caches and local state
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .cxstream test-artifacts
