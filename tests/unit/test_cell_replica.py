"""Threshold rules over partitions held by several workers: the cells another worker's changelog carries, folded
the way recovery folds them, merge with this worker's own into exactly the round one worker holding everything
would run."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

from cxstream.agents.cell_replica import CellCopy
from cxstream.agents.fencing import EPOCH_HEADER, MARKER_KEY
from cxstream.domain.alerting.evaluation import evaluate_thresholds
from cxstream.domain.ingest.events import SurveyMetric
from cxstream.domain.metrics.cells import Cell, CellKey, CellValue, apply_update
from cxstream.domain.metrics.measure import updates_for
from tests.unit.test_evaluation import CTX, NOW, SPEC
from tests.unit.test_metrics import Table, survey

RULE_METRICS = {rule.metric for rule in CTX.topology.alerting.thresholds}
PARTITIONS = 6
REGIONS = {"emea": "ams-1", "amer": "chi-1", "apac": "sin-1"}


def spread(seed: int) -> Table:
    """Answers over six partitions: EMEA falling (about 20 % satisfied), the other regions fine."""
    rng = random.Random(seed)
    out: Table = {}
    offsets = [0] * PARTITIONS
    for region, site in REGIONS.items():
        for _ in range(240):
            satisfied = rng.random() < (0.2 if region == "emea" else 0.9)
            event = survey(SurveyMetric.CSAT, 5 if satisfied else 1, minutes_ago=rng.uniform(12, 40),
                           region=region, site=site)  # fmt: skip
            partition = rng.randrange(PARTITIONS)
            for update in updates_for(SPEC, event, partition):
                out[update.key] = apply_update(out.get(update.key), update, offsets[partition])
            offsets[partition] += 1
    return out


def faust_key(text: str) -> bytes:
    """A text key as a Faust table writes it to its changelog: a JSON string."""
    return json.dumps(text).encode()


def changelog(cells: Table, epoch: int) -> Iterator[tuple[int, int, list[tuple[str, bytes]], bytes, bytes]]:
    """The records an owner writes for ``cells`` (partition, offset, headers, key, value), owner markers first."""
    offsets = [0] * PARTITIONS
    header = [(EPOCH_HEADER, str(epoch).encode())]
    for partition in range(PARTITIONS):
        yield partition, offsets[partition], header, faust_key(MARKER_KEY), str(epoch).encode()
        offsets[partition] += 1
    for key, value in cells.items():
        encoded = json.dumps(value.to_json()).encode()
        yield key.partition, offsets[key.partition], header, faust_key(key.encode()), encoded
        offsets[key.partition] += 1


def test_own_cells_and_the_replica_of_the_others_give_the_round_of_one_worker_holding_all() -> None:
    table = spread(seed=5)
    copy = CellCopy(RULE_METRICS)
    for record in changelog(table, epoch=100):
        copy.apply(*record)
    mine = [Cell(k, v) for k, v in table.items() if k.partition < 2]
    merged = mine + copy.cells({2, 3, 4, 5})
    whole = [Cell(k, v) for k, v in table.items()]
    alerting, metrics = CTX.topology.alerting, CTX.topology.metrics
    one = evaluate_thresholds(alerting, metrics, whole, {}, NOW)
    three = evaluate_thresholds(alerting, metrics, merged, {}, NOW)
    assert [b.to_record() for b in three.breaches] == [b.to_record() for b in one.breaches]
    assert [(b.rule_id, b.scope, b.status.value) for b in one.breaches] == [
        ("csat.delivery.low", {"region": "emea"}, "FIRING")
    ]
    assert one.breaches[0].n > 200  # answers from every partition, not only this worker's
    assert three.changed == one.changed


def test_only_the_rule_metrics_are_kept_and_a_tombstone_deletes() -> None:
    table = spread(seed=6)
    copy = CellCopy({"csat.delivery"})
    for record in changelog(table, epoch=100):
        copy.apply(*record)
    kept = copy.cells(set(range(PARTITIONS)))
    assert kept and {c.key.definition for c in kept} == {"csat.delivery"}
    assert len(kept) == sum(1 for k in table if k.definition == "csat.delivery")
    gone = kept[0].key
    copy.apply(gone.partition, 10_000, [(EPOCH_HEADER, b"100")], faust_key(gone.encode()), None)
    assert gone not in {c.key for c in copy.cells(set(range(PARTITIONS)))}


def test_a_fenced_writer_does_not_win_in_the_replica() -> None:
    key = CellKey("csat.delivery", SPEC.finest_ms, 0, 3, ("emea",))
    fresh, stale = CellValue.from_json({"h": {"5": 10}}), CellValue.from_json({"h": {"1": 99}})
    copy = CellCopy({"csat.delivery"})
    copy.apply(3, 0, [(EPOCH_HEADER, b"200")], faust_key(MARKER_KEY), b"200")  # the new owner's marker
    copy.apply(3, 1, [(EPOCH_HEADER, b"200")], faust_key(key.encode()), json.dumps(fresh.to_json()).encode())
    # the zombie, paused past its session, writes after the new owner took the partition
    copy.apply(3, 2, [(EPOCH_HEADER, b"150")], faust_key(key.encode()), json.dumps(stale.to_json()).encode())
    [cell] = copy.cells({3})
    assert cell.value == fresh and copy.fenced == 1
    copy.apply(3, 3, [], b"\xff not a cell key", b"{}")  # another table's garbage is not a cell: ignored
    assert copy.cells({3}) == [cell]
