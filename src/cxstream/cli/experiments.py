"""``cxstream experiments``: planning what-ifs that need no cluster (the units each arm needs to see a move of a
share, whether the units the arms got match the declared allocation), and the experiments on the cluster:
start, list, show (the arms put together from the metric history and the workers' live partials), stop."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("experiments", help="experiment what-ifs: units per arm, sample-ratio mismatch")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    plan = actions.add_parser("plan", help="units each arm needs to detect a share moving from baseline to target")
    plan.add_argument("--baseline", type=float, required=True, help="the share today, e.g. 0.80")
    plan.add_argument("--target", type=float, required=True, help="the share to detect, e.g. 0.85")
    plan.add_argument("--alpha", type=float, default=0.05, help="two-sided false-positive rate (default 0.05)")
    plan.add_argument("--power", type=float, default=0.8, help="chance to detect the target move (default 0.8)")
    plan.add_argument("--json", action="store_true", help="print JSON (key per_arm)")
    srm = actions.add_parser("srm", help="sample-ratio mismatch: the units per arm against the allocation")
    srm.add_argument("counts", nargs="+", type=int, help="units seen per arm, e.g. 44000 45000")
    srm.add_argument("--ratio", default="", help="the declared allocation, e.g. 50/50 or 1:1:2 (default: equal)")
    srm.add_argument("--json", action="store_true", help="print JSON (keys chi2, p, alarm)")
    start = actions.add_parser("start", help="start an experiment on the cluster")
    start.add_argument("--title", required=True)
    start.add_argument("--hypothesis", required=True)
    start.add_argument("--metric", action="append", required=True, help="a target metric (repeat for more)")
    start.add_argument("--unit", required=True, choices=["customer", "ticket", "agent", "team", "site"])
    start.add_argument("--arms", default="control,treatment", help="arm names, the control first")
    start.add_argument("--ratio", default="", help="the allocation, e.g. 50/50 (default: equal)")
    start.add_argument("--id", default=None, help="the experiment id (default: derived from the title)")
    start.add_argument("--planned-per-arm", type=int, default=None)
    start.add_argument("--method", choices=["sequential", "fixed"], default="sequential")
    start.add_argument("--author", default=None)
    lst = actions.add_parser("list", help="the experiments on the cluster")
    lst.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="an experiment's arms, intervals and decision")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    halt = actions.add_parser("stop", help="stop an experiment, saying why")
    halt.add_argument("id")
    halt.add_argument("--decision", required=True, help="why it stops, e.g. ship the call-back")
    halt.add_argument("--author", default=None)
    p.set_defaults(handler=cmd_experiments)


def cmd_experiments(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.impact.planning import SRM_ALARM, parse_ratio, per_arm
    from cxstream.domain.impact.planning import srm as mismatch

    if args.action not in ("plan", "srm"):
        return _on_cluster(settings, args)
    try:
        if args.action == "plan":
            units = per_arm(args.baseline, args.target, args.alpha, args.power)
            body: dict[str, Any] = {"baseline": args.baseline, "target": args.target, "alpha": args.alpha,
                                    "power": args.power, "per_arm": units, "total": 2 * units,
                                    "method": "two proportions, Cohen's h, normal approximation"}  # fmt: skip
            print(json.dumps(body) if args.json else
                  f"{units:,} units per arm ({2 * units:,} in all) to detect {args.baseline:.2%} -> {args.target:.2%} "
                  f"at alpha {args.alpha} (two-sided) with power {args.power}")  # fmt: skip
            return EXIT_OK
        found = mismatch(args.counts, parse_ratio(args.ratio, len(args.counts)))
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    body = {"observed": list(found.observed), "expected": [round(e, 2) for e in found.expected],
            "chi2": round(found.chi2, 4), "p": found.p, "alarm": found.alarm, "alarm_below": SRM_ALARM}  # fmt: skip
    print(json.dumps(body) if args.json else found.summary)
    return EXIT_FAILED if found.alarm else EXIT_OK


def _on_cluster(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.cli.common import author, cluster
    from cxstream.domain.base import digest, now_ms
    from cxstream.domain.catalog import Internal, Topics
    from cxstream.domain.impact.experiments import (
        Arm,
        Experiment,
        ExperimentBook,
        Method,
        Refused,
        analyse,
        check_new,
        stopped,
    )
    from cxstream.domain.impact.planning import parse_ratio
    from cxstream.domain.impact.views import experiment_json, state_of
    from cxstream.domain.remediation.checks import EvidenceBook, Partial
    from cxstream.kafka.history import read_history
    from cxstream.kafka.tools import read_decoded, read_to_end, send_records

    reached = cluster(settings, f"experiments {args.action}")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    codec = ctx.codec(Topics.EXPERIMENTS)
    records, _ = asyncio.run(read_decoded(options, codec, Topics.EXPERIMENTS))
    book = ExperimentBook()
    for record in records:
        book.add(Experiment.from_record(record))
    at = now_ms()
    if args.action == "start":
        names = [n.strip() for n in args.arms.split(",") if n.strip()]
        try:
            weights = parse_ratio(args.ratio, len(names))
            new_id = args.id or f"exp-{digest(args.title, 12)}"
            experiment = Experiment(
                new_id, args.title, args.hypothesis, tuple(args.metric), args.unit,
                tuple(Arm(n, w) for n, w in zip(names, weights, strict=True)), new_id,
                at, author(args.author), planned_per_arm=args.planned_per_arm, method=Method(args.method),
            )  # fmt: skip
            check_new(experiment, ctx.topology.metrics, book.experiments.values())
        except (Refused, ValueError) as exc:
            return fail(str(exc), EXIT_FAILED)
        asyncio.run(send_records(options, Topics.EXPERIMENTS,
                                 [(experiment.experiment_id.encode(), codec.encode(experiment.record()))]))  # fmt: skip
        print(f"{experiment.experiment_id} started: {experiment.title} ({', '.join(names)} by {experiment.unit})")
        return EXIT_OK
    if args.action == "list":
        ordered = sorted(book.experiments.values(), key=lambda e: -e.start_ms)
        if args.json:
            print(json.dumps([experiment_json(e, at) for e in ordered], indent=2))
            return EXIT_OK
        for e in ordered:
            print(f"{e.experiment_id}  {state_of(e, at):9} {e.title} ({', '.join(e.metrics)}; by {e.unit}; arms "
                  f"{', '.join(a.name for a in e.arms)})")  # fmt: skip
        return EXIT_OK
    found = book.experiments.get(args.id)
    if found is None:
        return fail(f"no experiment {args.id!r}", EXIT_FAILED)
    if args.action == "stop":
        if found.end_ms is not None:
            return fail(f"{args.id} stopped already", EXIT_FAILED)
        done = stopped(found, author(args.author), at, args.decision)
        asyncio.run(send_records(options, Topics.EXPERIMENTS, [(args.id.encode(), codec.encode(done.record()))]))
        print(f"{args.id} stopped: {args.decision}")
        return EXIT_OK
    index, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    evidence = EvidenceBook()

    async def partials() -> None:
        async for message in read_to_end(options, Internal.REMEDIATION_EVIDENCE):
            if message.value is not None:
                evidence.add(Partial.decode(message.value))

    asyncio.run(partials())
    result = analyse(found, ctx.topology.metrics, index, evidence, 1 - ctx.topology.metrics.confidence, at)
    body = experiment_json(found, at, result)
    if args.json:
        print(json.dumps(body, indent=2))
        return EXIT_OK
    print(f"{found.experiment_id}: {found.title} [{body['state']}]\n  hypothesis: {found.hypothesis}")
    for metric in result.metrics:
        arms = ", ".join(f"{a.arm} {100 * a.value:.1f} % (n={a.n})" if a.value is not None else f"{a.arm} - (n=0)"
                         for a in metric.arms)  # fmt: skip
        print(f"  {metric.metric}: {arms}")
        for c in metric.comparisons:
            i = c.interval
            print(
                f"    {c.arm} - control: {100 * i.estimate:+.1f} points, {i.method} {100 * i.low:+.1f} to "
                f"{100 * i.high:+.1f}; fixed horizon {100 * c.fixed.low:+.1f} to {100 * c.fixed.high:+.1f}"
            )
        if metric.srm is not None:
            print(f"    sample ratio: {metric.srm.summary}")
    print(f"  decision: {result.decision}: {result.summary}")
    return EXIT_OK
