"""The feed readers' stops shared by the audit recorder, the feed pump and the DIS outbox
(hub.core.kafka.feed_stops), without a broker: each reader's words, the channel gauge
summed over a process's outboxes, where a DIS batch ends and its partition stops. End to
end: tests/integration/test_{audit,deliver,files}_registry_stop.py."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from connectors.outbound.file import DIS, _decode
from connectors.outbound.pump import COPY
from hub.core.errors import DecodeError
from hub.core.kafka.feed_stops import Reader, Stops, stop_line
from hub.core.settings import HubSettings
from hub.stores.audit.stops import AUDIT
from monitoring import metrics, recorder
from schemas import get_codec
from schemas.confluent import IDS, frame
from tests.unit.test_audit_stops import URL, _settings, _single

UNKNOWN = DecodeError("unknown schema id 9", code="unknown_schema")


@pytest.mark.parametrize(
    ("reader", "starts", "done"),
    [(AUDIT, "audit of", "recorded"), (COPY, "copy of", "copied into the outbox"),
     (DIS, "DIS outbox of", "written")],
)  # fmt: skip
def test_each_reader_says_who_stopped_and_what_waits(
        reader: Reader, starts: str, done: str) -> None:  # fmt: skip
    settings: HubSettings = _settings(URL)
    framed = frame(9, _single()[10:])
    line = stop_line(settings, reader, "hub.feed.a", 4, framed, UNKNOWN)
    assert line.startswith(f"{starts} hub.feed.a stopped at offset 4 (unknown schema id 9): "
                           f"the registry at {URL} (HUB_REGISTRY__URL)")  # fmt: skip
    assert line.endswith(f"nothing after it on this feed is {done} until it does")
    newer = stop_line(settings, reader, "hub.feed.a", 4, b"\xc3\x01" + bytes(8), UNKNOWN)
    assert f"upgrade '{reader.command}'" in newer


def test_the_file_gauge_sums_the_outboxes_of_one_process() -> None:
    def gauge(channel: str) -> float | None:
        return metrics.REGISTRY.get_sample_value("passerelle_outbox_feeds_stopped",
                                                 {"channel": channel})  # fmt: skip

    a, b = TopicPartition("hub.feed.a", 0), TopicPartition("hub.feed.b", 0)
    one = Stops(gauge=lambda n: recorder.outbox_feeds_stopped("file", n, owner="a"))
    two = Stops(gauge=lambda n: recorder.outbox_feeds_stopped("file", n, owner="b"))
    assert gauge("file") == 0  # created at 0 with the first outbox
    one.stop(a, 1, b"x", "line a")
    two.stop(b, 2, b"y", "line b")
    assert gauge("file") == 2
    one.drop(a)
    assert gauge("file") == 1
    two.drop(b)
    assert gauge("file") == 0


def _records(values: list[bytes]) -> list[ConsumerRecord]:
    return [ConsumerRecord("hub.feed.a", 0, 10 + i, 0, 0, b"k", v, None, 1, len(v), ())
            for i, v in enumerate(values)]  # fmt: skip


def test_a_dis_batch_ends_before_the_unresolved_record() -> None:
    codec = get_codec()
    good = _single()
    unknown = frame(9, _single()[10:])
    IDS.forget()  # no resolver: id 9 is unknown
    try:
        decoded, held = _decode(codec, _records([good, unknown, good]), replay=False)
        assert [o for o, _ in decoded] == [10]
        assert held is not None and held[:2] == (11, unknown) and held[2].code == "unknown_schema"
        # a pending intent's range is written whole or not at all: stopped at its first
        decoded, held = _decode(codec, _records([good, unknown, good]), replay=True)
        assert decoded == [] and held is not None and held[:2] == (10, unknown)
        assert _decode(codec, _records([good, good]), replay=False)[1] is None
        with pytest.raises(DecodeError) as bad:  # truly undecodable: the outbox stops
            _decode(codec, _records([good, b"not avro", unknown]), replay=False)
        assert bad.value.code != "unknown_schema"
    finally:
        IDS.forget()
