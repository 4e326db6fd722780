"""The rules that keep a fenced worker's writes from winning, a rebalance from stopping a worker, and a worker
running: epochs per changelog partition, the listed-end check, the restart backoff, the stall watch, and
notification ids that say what a notification is rather than when it was computed."""

from __future__ import annotations

import time
from collections import Counter

from faust.types import TP

from cxstream.agents import stall
from cxstream.agents.fencing import EPOCH_HEADER, Epochs, epoch_of
from cxstream.agents.recovery import ahead
from cxstream.domain.alerting.desk import escalation_record
from cxstream.domain.alerting.routing import Notification
from cxstream.process import Backoff, exit_code


def test_a_new_owner_fences_the_old_owners_later_writes_in_every_copy() -> None:
    old, new, standby = Epochs(), Epochs(), Epochs()
    a = old.take(0, now_ms=1_000)
    # the new owner read the partition (the old owner's marker among it) before taking it
    assert new.admit(0, 0, a)
    b = new.take(0, now_ms=900)  # its clock is behind: still above what it read
    assert b == a + 1
    log = [a, a, b, a, b, a]  # the old owner, paused, resumed and wrote twice more after the new marker
    applied = [standby.admit(0, offset, epoch) for offset, epoch in enumerate(log)]
    assert applied == [True, True, True, False, True, False]


def test_reading_a_partition_again_from_the_start_applies_what_was_applied_the_first_time() -> None:
    epochs = Epochs()
    log = [5, 5, 9, 9, 5, 12]  # owners 5, 9, 12; a record of 5 written after 9 took over
    first = [epochs.admit(0, offset, epoch) for offset, epoch in enumerate(log)]
    again = [epochs.admit(0, offset, epoch) for offset, epoch in enumerate(log)]  # the partition came back
    assert first == again == [True, True, True, True, False, True]
    assert [epochs.admit(0, offset, epoch) for offset, epoch in list(enumerate(log))[3:]] == first[3:]


def test_epochs_are_per_partition_and_records_without_one_apply_in_order() -> None:
    epochs = Epochs()
    assert epochs.admit(0, 0, 10)
    assert epochs.admit(1, 0, 3)  # another partition has its own owner
    assert epochs.admit(0, 1, None)  # written before fencing existed
    assert not epochs.admit(0, 2, 9)
    assert epochs.writing(2, now_ms=77) == 77  # a write to a partition never announced takes an epoch then
    assert epochs.writing(2, now_ms=99) == 77
    assert epochs.admit(2, 0, 150)  # another owner wrote there since (seen on a standby copy)
    assert epochs.writing(2, now_ms=99) == 151


def test_the_epoch_header_is_read_from_either_header_shape() -> None:
    assert epoch_of([(EPOCH_HEADER, b"1733000000000")]) == 1733000000000
    assert epoch_of({EPOCH_HEADER: b"12"}) == 12
    assert epoch_of([("other", b"1")]) is None
    assert epoch_of(None) is None
    assert epoch_of([(EPOCH_HEADER, b"not a number")]) is None


def test_a_copy_is_ahead_only_when_it_holds_an_offset_beyond_the_listed_last_one() -> None:
    tps = {TP("t-changelog", p) for p in range(4)}
    offsets: Counter[TP] = Counter({TP("t-changelog", 0): 286, TP("t-changelog", 1): 10, TP("t-changelog", 2): -1})
    highwaters: Counter[TP] = Counter({TP("t-changelog", 0): 284, TP("t-changelog", 1): 10, TP("t-changelog", 2): -1,
                                       TP("t-changelog", 3): 5})  # fmt: skip
    assert ahead(offsets, highwaters, tps) == [TP("t-changelog", 0)]


def test_restarts_back_off_and_start_over_after_a_stable_run() -> None:
    backoff = Backoff(first=1, most=8, stable=60)
    assert [backoff.after(2) for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    assert backoff.after(61) == 1
    assert backoff.after(1) == 2


def test_exit_codes_read_as_a_shell_reports_them() -> None:
    assert exit_code(0) == 0
    assert exit_code(75 << 8) == 75
    assert exit_code(9) == 137  # killed by SIGKILL


def test_the_stall_watch_reports_a_pause_past_its_limit_and_nothing_else() -> None:
    watch = stall.Watch()
    assert watch.stalled_for() is None  # not started: never stalls
    watch.start(limit_s=0.6)
    time.sleep(0.7)  # the thread ticks through the sleep: no stall
    assert watch.stalled_for() is None
    watch._last -= 5.0  # as if the process had stood still for five seconds before the next tick
    assert watch.stalled_for() is not None
    time.sleep(2 * stall.TICK_S)  # the thread ticked meanwhile: the gap it saw stays reported
    gap = watch.stalled_for()
    assert gap is not None and gap > 5.0


def _note(at_ms: int, firing: tuple[str, ...], resolved: tuple[str, ...] = (), slot: int = 0) -> Notification:
    return Notification(
        group_key='{}:{region="emea"}', receiver="logistics",
        firing=tuple({"breach_id": b, "region": "emea"} for b in firing),
        resolved=tuple({"breach_id": b, "region": "emea"} for b in resolved), at_ms=at_ms, repeat=slot > 0, slot=slot,
    )  # fmt: skip


def test_a_notification_computed_again_later_has_the_same_id_and_a_different_one_does_not() -> None:
    first = escalation_record(_note(1_000, ("br-1",)), {}).escalation_id
    assert escalation_record(_note(14_000, ("br-1",)), {}).escalation_id == first  # a replay, 13 s later
    others = {
        escalation_record(_note(1_000, ("br-1", "br-2")), {}).escalation_id,  # a companion joined
        escalation_record(_note(1_000, ("br-2",), ("br-1",)), {}).escalation_id,  # one resolved
        escalation_record(_note(1_000, ("br-1",), slot=7), {}).escalation_id,  # a reminder
        escalation_record(_note(1_000, ("br-1",), slot=8), {}).escalation_id,  # the next reminder
    }
    assert first not in others and len(others) == 4
