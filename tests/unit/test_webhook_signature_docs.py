"""Audit F3: a receiver written from docs/api.md alone verifies the hub's webhook
signatures. The check is the docs' own snippet (extracted and run), the key is what
``hub actors webhook-key`` prints, the bodies are signed by the deliverer's ``sign``.

Audit K F8: the body-only signature replays for ever and leaves the event id and offset
headers (the receivers' dedup key) unsigned. The docs' ``from_passerelle`` checks
``X-Passerelle-Signature-V2`` (timestamp, event id, offset and body signed) and a 5-minute
window: it verifies what the deliverer sends (its own request's headers, single and
batch), and refuses a replay outside the window, a changed event id, offset, timestamp
or body."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from connectors.outbound.webhook import WebhookDelivery, actor_key, sign, sign_v2
from hub.cli import main
from hub.core.db import make_engine, migrate
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox, Pending

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SECRET = "a master secret of the deployment"


def _doc_scope() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    part = text[text.index("**Checking the signature**") :]
    code = re.search(r"```python\n(.*?)```", part, re.S)
    assert code, "docs/api.md: the receiver's snippet is missing"
    scope: dict[str, Any] = {}
    exec(compile(re.sub(r"(?m)^  ", "", code.group(1)), str(DOC), "exec"), scope)
    return scope


def _doc_check() -> Any:
    return _doc_scope()["signed_by_passerelle"]


def _doc_check_v2() -> Any:
    scope = _doc_scope()
    assert "from_passerelle" in scope, "docs/api.md: no check of X-Passerelle-Signature-V2"
    assert scope.get("TOLERANCE_S") == 300  # the documented window: 5 minutes
    return scope["from_passerelle"]


def _printed_key(monkeypatch: Any, actor: str) -> str:
    from hub.core.settings import get_settings

    monkeypatch.setenv("HUB_API__WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()  # read once per process: an earlier test may have read it
    try:
        out = CliRunner().invoke(main, ["actors", "webhook-key", actor])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    return out.output.strip()


def test_the_printed_key_is_the_hex_of_the_signing_key(monkeypatch: Any) -> None:
    printed = _printed_key(monkeypatch, "erp")
    assert re.fullmatch(r"[0-9a-f]{64}", printed)
    assert bytes.fromhex(printed) == actor_key(SECRET, "erp")


@given(body=st.binary(max_size=2048), actor=st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True))
def test_the_docs_snippet_verifies_real_signatures(body: bytes, actor: str) -> None:
    check = _doc_check()
    printed = actor_key(SECRET, actor).hex()  # what the command prints (test above)
    header = sign(actor_key(SECRET, actor), body)
    assert check(printed, body, header)
    assert not check(printed, body + b" ", header)  # any change of the bytes fails
    assert not check(actor_key(SECRET, actor + "x").hex(), body, header)


#: an event id as the hub sends it in a header: printable ASCII, no space (header_value)
EVENT_IDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)


@given(body=st.binary(max_size=2048), actor=st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
       event_id=EVENT_IDS, offset=st.integers(0, 2**62), sent=st.integers(10**9, 4 * 10**9),
       late=st.integers(-300, 300), past=st.integers(301, 10**8))  # fmt: skip
def test_the_docs_snippet_checks_the_v2_signature_and_its_window(
    body: bytes, actor: str, event_id: str, offset: int, sent: int, late: int, past: int
) -> None:
    check = _doc_check_v2()
    key = actor_key(SECRET, actor)
    printed, ts, off = key.hex(), str(sent), str(offset)
    sig = sign_v2(key, ts, event_id, off, body)
    assert check(printed, body, ts, event_id, off, sig, now=sent + late)
    # a captured request replayed outside the window (either way) is refused
    assert not check(printed, body, ts, event_id, off, sig, now=sent + past)
    assert not check(printed, body, ts, event_id, off, sig, now=sent - past)
    # ... and so is one whose timestamp was made fresh, or whose dedup headers changed
    assert not check(printed, body, str(sent + past), event_id, off, sig, now=sent + past)
    assert not check(printed, body, ts, event_id + "x", off, sig, now=sent)
    assert not check(printed, body, ts, "", off, sig, now=sent) or event_id == ""
    assert not check(printed, body, ts, event_id, str(offset + 1), sig, now=sent)
    assert not check(printed, body + b" ", ts, event_id, off, sig, now=sent)
    assert not check(actor_key(SECRET, actor + "x").hex(), body, ts, event_id, off, sig, now=sent)
    # no ambiguity between the fields: moving characters across a separator breaks it
    assert not check(printed, body, ts, event_id + "\n" + off, "", sig, now=sent)
    assert not check(printed, body, "x" + ts, event_id, off, sig, now=sent)


def _sent_requests(tmp_path: Path, batch: bool) -> list[httpx.Request]:
    """The requests the deliverer sends for two records (one request each, or one batch)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    settings = HubSettings().model_copy(update={"api": ApiSettings(webhook_secret=SECRET)})  # type: ignore[arg-type]
    channel = WebhookDelivery(settings, Outbox(engine), AuditStore(engine))
    options = {"url": "https://erp.example/hook", "batch": "true" if batch else "false"}
    actor = Actor(id="erp", name="ERP", kind="bailleur", filters=ActorFilters(communes=["76540"]),
                  delivery=Delivery(channel="webhook", options=options))  # fmt: skip
    now = datetime.now(UTC)
    records = [Pending(i, "erp", 40 + i, "N", json.dumps({"eventId": f"ev-{i}.x", "n": i}).encode(),
                       0, now) for i in range(2)]  # fmt: skip
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(b"ok"))

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            answered = await channel.post(client, actor, channel.prepare(actor), records)
            assert answered.error is None

    asyncio.run(run())
    assert len(seen) == (1 if batch else 2)
    return seen


def test_what_the_deliverer_sends_verifies_with_the_docs_snippet(tmp_path: Path) -> None:
    check, old_check = _doc_check_v2(), _doc_check()
    printed = actor_key(SECRET, "erp").hex()
    for batch in (False, True):
        for request in _sent_requests(tmp_path / str(batch), batch):
            h, body = request.headers, request.content
            ts = h["x-passerelle-timestamp"]
            event_id = h.get("x-passerelle-event-id", "")
            assert (event_id == "") == batch
            assert abs(int(ts) - datetime.now(UTC).timestamp()) < 60
            args = (body, ts, event_id, h["x-passerelle-offset"], h["x-passerelle-signature-v2"])
            assert check(printed, *args)
            assert old_check(printed, body, h["x-passerelle-signature"])  # unchanged
            # the same request, replayed 6 minutes later or with another event id: refused
            assert not check(printed, *args, now=int(ts) + 360)
            assert not check(printed, body, ts, event_id + "-2", *args[3:])
