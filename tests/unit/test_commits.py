"""When a partition's offsets may be committed: never past a record no agent handled."""

from __future__ import annotations

from cxstream.agents.consumer import head_is_handled


def test_a_commit_never_passes_an_unhandled_head_offset() -> None:
    # 31 committed (the next to read), 32 and on handled: 31 was skipped in a rebalance. Faust committed past it.
    assert not head_is_handled(31, 32, [], lenient=False)
    assert not head_is_handled(31, 35, [(32, 40)], lenient=False)  # a known gap that does not cover 31
    assert head_is_handled(31, 31, [], lenient=False)
    assert head_is_handled(31, 35, [(31, 35)], lenient=False)  # offsets known not to exist (a compacted range)
    assert head_is_handled(None, 7, [], lenient=False)  # nothing committed yet: nothing to hold on to


def test_compacted_topics_keep_faust_s_allowance_for_one_missing_offset() -> None:
    assert head_is_handled(31, 32, [], lenient=True)
    assert not head_is_handled(31, 33, [], lenient=True)
