"""Event ids every channel carries as they are (found while testing audit F1: a feed
record whose eventId held a non-ASCII character made the webhook raise at its header, the
actor retried for ever). The door refuses them (``invalid_event_id``: printable ASCII
without space, the rule the API already had), and the webhook sends one written to a feed
before the rule percent-encoded rather than stall. Ids generated from the rule's own
alphabet (RFC 7230 visible characters), not from the code."""

from __future__ import annotations

from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.outbound.webhook import header_value
from hub.core.errors import InputError
from hub.domain.decisions import validate_event
from tests.support.demandes import demande_event
from tests.support.sne import serve

VISIBLE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80)
ANY = st.text(st.characters(exclude_categories=("Cs",)), min_size=0, max_size=40)


def _event(event_id: object) -> dict[str, object]:
    ev = demande_event("076112500000001234", ["76540"])
    ev["eventId"] = event_id
    return ev


@given(event_id=VISIBLE)
def test_a_visible_ascii_id_is_let_in(event_id: str) -> None:
    validate_event(_event(event_id))


@given(event_id=ANY.filter(lambda t: not t or any(not 0x21 <= ord(c) <= 0x7E for c in t)))
def test_any_other_id_is_refused_with_its_reason(event_id: str) -> None:
    with pytest.raises(InputError) as refused:
        validate_event(_event(event_id))
    assert refused.value.code == "invalid_event_id"
    # never quoted: the same words whatever the id
    assert refused.value.message == "eventId must be printable ASCII without space (a UUID, say)"


@given(event_id=ANY)
def test_a_header_value_is_visible_ascii(event_id: str) -> None:
    value = header_value(event_id)
    assert all(0x21 <= ord(c) <= 0x7E for c in value)
    if "%" not in event_id:
        assert unquote(value) == event_id  # the encoded id comes back


@given(event_id=VISIBLE)
def test_an_id_the_door_lets_in_travels_unchanged(event_id: str) -> None:
    assert header_value(event_id) == event_id  # "%" included: a%20b stays a%20b


def test_httpx_sends_an_encoded_id_that_it_refuses_raw() -> None:
    got: list[str] = []

    async def endpoint(request: Request) -> Response:
        got.append(request.headers["x-passerelle-event-id"])
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])
    with serve(app) as base, httpx.Client() as client:
        with pytest.raises(UnicodeEncodeError):  # what stalled the actor
            client.post(f"{base}/hook", content=b"{}", headers={"x-passerelle-event-id": "é"})
        r = client.post(f"{base}/hook", content=b"{}",
                        headers={"x-passerelle-event-id": header_value("évé-1")})  # fmt: skip
    assert r.status_code == 204 and [unquote(g) for g in got] == ["évé-1"]
