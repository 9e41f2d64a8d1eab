"""The text view of ``hub status`` at 80 columns and narrower (issue 21 point 5): every id,
topic and number comes out whole, between spaces, and no line is wider than the screen
unless it is one id alone."""

from __future__ import annotations

import pytest

from hub.cli.status import age, render
from hub.services.status import Brokers, Feed, Lag, Member, Outbox, Status

LONG_ACTOR = "a" + "-very-long-actor-identifier" * 2 + "-0123456789"  # 66 > 63: worst case
MEMBER = "faust-0.11.3-6f1c2a44-9b1e-4f0e-8a53-2c7d0e9f4b1a-passerelle-dispatch"
WORKER_URL = "http://worker-2.example.internal:6066"


def _status() -> Status:
    return Status(
        generated_at_ms=0, group="passerelle-dispatch-with-a-long-group-name",
        brokers=Brokers("broker-1.example.internal:9093,broker-2.example.internal:9093",
                        True, "BQs6aiUkR7OK0si7tVzvew", 1, ["1 broker-1.example.internal:9093"]),
        group_state="Stable", group_protocol="faust",
        members=[Member(MEMBER, "hub-worker-1", "/10.0.0.12",
                        [f"hub.demandes:{p}" for p in range(12)]),
                 Member(MEMBER + "-2", "faust-0.11.3", "/10.0.0.13", ["hub.demandes:12"],
                        worker_url=WORKER_URL)],
        lag=[Lag("hub.demandes", 3, 1_234_567, 1_234_999, 432, "hub-worker-1"),
             Lag("hub.evenements", 0, None, 12, 12, None)],
        dlq={"unknown_commune": {"letters": 3, "pending": 2}},
        outboxes=[Outbox("webhook", LONG_ACTOR, 7), Outbox("soap", "erp-1", 1_500, 1_200),
                  Outbox("file", "files-1", 0)],
        feeds=[Feed(LONG_ACTOR, f"hub.feed.{LONG_ACTOR}", 1_000_000, 0, 3_700.0),
               Feed("empty-actor", "hub.feed.empty-actor", 0)],
        problems=["outboxes: (psycopg.OperationalError) connection refused to host db.internal"],
    )


@pytest.mark.parametrize("width", [80, 60, 40])
def test_ids_are_never_cut(width: int) -> None:
    lines = render(_status(), width)
    assert all(len(ln) <= width or " " not in ln.strip() for ln in lines), lines
    words = " ".join(lines).split()
    for whole in (LONG_ACTOR, MEMBER, "passerelle-dispatch-with-a-long-group-name",
                  "BQs6aiUkR7OK0si7tVzvew", "hub.demandes:11", "hub.demandes:3", "1,234,567",
                  "hub-worker-1", "unknown_commune", "empty-actor",
                  "broker-1.example.internal:9093,broker-2.example.internal:9093",
                  WORKER_URL, "erp-1", "files-1"):
        assert whole in words, (whole, lines)
    text = " ".join(words)  # wrapped lines read as one
    assert "reader nobody" in text and "committed none" in text
    assert "last record 1 h ago" in text and "empty-actor end 0 empty" in text
    assert "protocol faust" in text and f"worker {WORKER_URL} faust-0.11.3" in text
    assert "Outboxes file 0 soap 1,500 webhook 7" in text
    assert "soap erp-1 depth 1,500 of which 1,200 not copied from the feed" in text
    assert "file files-1 depth 0" in text and "files-1 depth 0 of which" not in text


def test_age() -> None:
    assert [age(s) for s in (None, 4.2, 125, 7_300, 200_000)] == ["-", "4 s", "2 min", "2 h", "2 d"]
