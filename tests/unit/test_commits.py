"""When a partition's offsets may be committed: never past a record no agent handled."""

from __future__ import annotations

from faust.types import TP

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


def test_the_worker_s_consumer_holds_the_commit_where_faust_s_would_pass_the_record() -> None:
    import faust
    from faust.transport.drivers import aiokafka as driver
    from faust.types import TP

    from cxstream.agents.consumer import SkipAwareTransport

    app = faust.App("commit-test", broker="kafka://127.0.0.1:1")
    tp = TP("cx.raw.crm", 0)

    def consumer_of(transport_class: type) -> object:
        async def nothing(*args: object) -> None:
            return None

        consumer = transport_class(app.conf.broker_consumer, app).create_consumer(
            callback=nothing, on_partitions_revoked=nothing, on_partitions_assigned=nothing
        )
        consumer._committed_offset[tp] = 31  # the next offset to read
        consumer._acked[tp] = [32, 33, 34]  # 31 was skipped in a rebalance and never handled
        consumer._acked_index[tp] = {32, 33, 34}
        return consumer

    assert consumer_of(driver.Transport)._new_offset(tp) == 35  # Faust's: commits past 31
    held = consumer_of(SkipAwareTransport)
    assert held._new_offset(tp) is None
    held._acked[tp].insert(0, 31)  # read again and handled: the commit moves on
    held._acked_index[tp].add(31)
    assert held._new_offset(tp) == 35


def test_a_jump_faust_saw_between_two_records_is_not_committed_as_handled_on_a_plain_topic() -> None:
    import faust
    from faust.transport.drivers import aiokafka as driver
    from faust.types import TP

    from cxstream.agents.consumer import SkipAwareTransport

    app = faust.App("commit-gap-test", broker="kafka://127.0.0.1:1")

    async def nothing(*args: object) -> None:
        return None

    def consumer_of(transport_class: type, tp: TP) -> object:
        transport = transport_class(app.conf.broker_consumer, app)
        transport.compacted = frozenset({"cx.silences"})
        consumer = transport.create_consumer(callback=nothing, on_partitions_revoked=nothing,
                                             on_partitions_assigned=nothing)  # fmt: skip
        consumer._committed_offset[tp] = 257
        consumer._acked[tp] = [360, 361, 362]  # 257-359 were fetched, dropped in a rebalance, never delivered
        consumer._acked_index[tp] = {360, 361, 362}
        consumer._gap[tp].addi(257, 360)  # what Faust records when the next record it reads is 360
        return consumer

    events = TP("cx.events", 1)
    assert consumer_of(driver.Transport, events)._new_offset(events) == 363  # Faust's: 103 events passed over
    assert consumer_of(SkipAwareTransport, events)._new_offset(events) is None
    silences = TP("cx.silences", 0)  # compacted: missing offsets are normal there, Faust's rule stands
    assert consumer_of(SkipAwareTransport, silences)._new_offset(silences) == 363


async def test_a_flush_waits_for_every_buffered_table_write() -> None:
    """Faust's buffer flush returns after 0.1 s without a send, with writes still in it; the worker's waits."""
    import asyncio

    from cxstream.agents.consumer import DrainingBuffer

    sent: list[int] = []

    class Channel:  # what handing one message over to Kafka costs under load
        async def publish_message(self, fut: object, wait: bool = False) -> None:
            await asyncio.sleep(0.15)
            sent.append(1)

    class Message:
        channel = Channel()

    class Future:
        message = Message()

    buffer = DrainingBuffer()
    buffer.app = type("App", (), {"conf": type("Conf", (), {"producer_threaded": False})()})()
    await buffer.start()
    try:
        for _ in range(3):
            buffer.put(Future())  # type: ignore[arg-type]
        await buffer.flush()  # Faust's: gives up after 0.1 s
        assert len(sent) < 3
        await buffer.drain()
        assert len(sent) == 3 and buffer.size == 0 and buffer.in_flight == 0
    finally:
        await buffer.stop()


async def test_a_partition_without_a_commit_goes_back_to_its_start_after_a_rebalance() -> None:
    """aiokafka's seek_to_committed leaves a partition nobody committed where its fetcher stood (past the
    records Faust fetched and dropped in the rebalance): the worker's seek moves it back to its start."""
    from aiokafka import TopicPartition

    from cxstream.agents.consumer import seek_to_committed_or_start

    raw0, raw1 = TopicPartition("cx.raw.canonical", 0), TopicPartition("cx.raw.canonical", 1)
    changelog = TopicPartition("app-cxstream-metrics-changelog", 1)

    class Client:
        def __init__(self) -> None:
            self.to_start: list[TopicPartition] = []

        async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
            return {raw0: 190, raw1: None, changelog: None}

        async def seek_to_beginning(self, *tps: TopicPartition) -> None:
            self.to_start += tps

        async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            return {tp: 7 for tp in tps}  # a log whose first records are gone (retention)

    client = Client()
    starts: dict[object, int] = {}
    committed = await seek_to_committed_or_start(client, starts)
    assert committed == {raw0: 190, raw1: None, changelog: None}
    assert client.to_start == [raw1]  # the committed one stays, the changelog is the recovery's
    assert starts == {TP("cx.raw.canonical", 0): 190, TP("cx.raw.canonical", 1): 7}


def test_commits_without_a_known_committed_offset_still_wait_for_the_head() -> None:
    """Faust forgets a committed offset of 0 (and one it failed to read) and then commits the first run of
    handled offsets, past a gap at the head; the worker checks the head against where reading started."""
    import faust

    from cxstream.agents.consumer import SkipAwareTransport

    app = faust.App("start-test", broker="kafka://127.0.0.1:1")

    async def nothing(*args: object) -> None:
        return None

    consumer = SkipAwareTransport(app.conf.broker_consumer, app).create_consumer(
        callback=nothing, on_partitions_revoked=nothing, on_partitions_assigned=nothing
    )
    tp = TP("cx.events", 1)
    consumer._acked[tp] = list(range(203, 254))  # 182-202 dropped in a rebalance, never handled
    consumer._acked_index[tp] = set(consumer._acked[tp])
    consumer._committed_offset[tp] = None
    consumer._reread = lambda tp, offset: None  # type: ignore[method-assign]
    consumer.add_future = lambda coroutine: None  # type: ignore[method-assign]
    consumer.starts[tp] = 182
    assert consumer._new_offset(tp) is None  # held: 182-202 are read again, not passed
    consumer.starts[tp] = 203
    assert consumer._new_offset(tp) == 254
