"""``python -m cxstream.demo <plan JSON>``: the demo source as its own process, on the cluster in
``CXSTREAM_KAFKA_BOOTSTRAP`` (``cxstream run`` starts it so, tied to its own life)."""

import sys

from cxstream.demo.plan import DemoPlan, run
from cxstream.kafka.connection import aiokafka_options
from cxstream.settings import load_settings

settings = load_settings()
try:
    sent = run(DemoPlan.from_json(sys.argv[1]), aiokafka_options(settings, settings.kafka_bootstrap))
except KeyboardInterrupt:
    sys.exit(0)
print(f"demo: done, {sent.total()} records sent", file=sys.stderr)
