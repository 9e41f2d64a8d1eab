"""A push receiver's URL (audit finding 6): the registry refuses, in one line, what is no
absolute https URL with a host (``https://[::1/hook``, a space inside...); what it
accepts, the HTTP client reads as the same https URL with a host (hypothesis: arbitrary
text, and RFC 3986 URLs from hypothesis' own URL grammar). A URL carrying credentials
(userinfo) is refused, naming the actor and how to authenticate instead; exactly those:
every other URL keeps the verdict of the rule before (hypothesis over RFC 3986's grammar,
IPv6 hosts and ``@`` in paths, queries and fragments included)."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.provisional import urls

from hub.core.addresses import denied_by, name_addresses
from hub.core.db import make_engine, migrate
from hub.core.errors import InputError
from hub.core.urls import CREDENTIALS, DENIED_ADDRESS, LOOPBACK, push_url_problem
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.domain.geo import get_geography
from hub.stores.registry.service import ActorService
from hub.stores.registry.store import ActorStore
from tests.unit.test_publish_cli import _hub

AUDIT = ["https://[::1/hook", "https://exa mple.invalid/hook"]  # repro/f6, finding 6


@given(st.text(max_size=60) | urls())
@example("https://[::1/hook")
@example("https://exa mple.invalid/hook")
@example("https://h:99999/x")
@example("http://127.0.0.1:8080/hook")
def test_an_accepted_url_is_an_https_url_with_a_host_for_the_http_client(url: str) -> None:
    if push_url_problem(url) is not None:
        return
    parts = urlsplit(url)
    parsed = httpx.URL(url)  # must not raise: hub deliver POSTs to it as it is
    assert parsed.host and parsed.scheme in ("https", "http") and parts.port != 0
    assert parsed.scheme == "https" or parsed.host in ("127.0.0.1", "localhost", "::1")
    assert not any(ch.isspace() or ord(ch) < 0x20 for ch in url)


@given(urls())
def test_every_https_url_of_the_rfc_grammar_is_accepted(url: str) -> None:
    https = "https://" + url.split("://", 1)[1]
    if urlsplit(https).port == 0:
        assert push_url_problem(https) == "has port 0"
        return
    assert push_url_problem(https) is None, https


@pytest.mark.parametrize("url", AUDIT)
def test_the_audit_urls_are_refused_in_one_line(url: str) -> None:
    problem = push_url_problem(url)
    assert problem is not None and "\n" not in problem and url not in problem


def _service(tmp_path: Path) -> ActorService:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    return ActorService(ActorStore(engine), get_geography(), publisher=None)


def _actor(channel: str, options: dict[str, str]) -> Actor:
    return Actor(id=f"url-{uuid.uuid4().hex[:8]}", name="U", kind="bailleur",
                 filters=ActorFilters(communes=["76540"]),
                 delivery=Delivery(channel=channel, options=options))  # type: ignore[arg-type]


@pytest.mark.parametrize(("channel", "options", "message"), [
    ("webhook", {"url": AUDIT[0]}, "delivery.options.url does not parse as a URL "
                                   "(Invalid IPv6 URL)"),
    ("webhook", {"url": AUDIT[1]}, "delivery.options.url holds a space or a control character"),
    ("soap", {"url": "http://erp.example/soap"}, "delivery.options.url must be https "
                                                 "(plain http only on the loopback)"),
    ("webhook", {}, "delivery.options.url is missing (an https URL)"),
    ("soap", {"url": "https://erp.example/soap", "mapping": "autre"},
     "delivery.options.mapping 'autre' is unknown (known: interfacenuu-dis)"),
])  # fmt: skip
def test_the_registry_refuses_an_unusable_push_option_and_saves_nothing(
        tmp_path: Path, channel: str, options: dict[str, str], message: str) -> None:  # fmt: skip
    service = _service(tmp_path)
    actor = _actor(channel, options)
    with pytest.raises(InputError) as caught:
        service.add_or_update(actor)
    assert caught.value.message == f"actor {actor.id!r}: {message}"
    assert service.store.list() == []
    service.add_or_update(_actor(channel, {"url": "https://erp.example/in"}))  # a good one
    service.add_or_update(_actor("kafka", {}))  # no push option to check


def test_hub_actors_import_and_add_refuse_it_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_HOME"] = str(tmp_path / "home")  # a registry of its own (SQLite)
    actors = tmp_path / "badurl.yaml"
    actors.write_text(  # repro/badurl.yaml
        "actors:\n  - id: bail-badurl\n    name: Bad URL\n    kind: bailleur\n"
        "    profile: consultant_demande\n    filters: {communes: [\"76540\"]}\n"
        '    delivery: {channel: webhook, options: {url: "https://[::1/hook"}}\n')
    res = subprocess.run([*_hub(), "actors", "import", str(actors)], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.splitlines() == [
        "Error: actor 'bail-badurl': delivery.options.url does not parse as a URL "
        "(Invalid IPv6 URL)"]
    res = subprocess.run([*_hub(), "actors", "add", "--id", "bail-space", "--name", "S",
                          "--kind", "bailleur", "--commune", "76540", "--channel", "webhook",
                          "--url", "https://exa mple.invalid/hook"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 1 and res.stderr.splitlines() == [
        "Error: actor 'bail-space': delivery.options.url holds a space or a control character"]
    listed = subprocess.run([*_hub(), "actors", "list", "--format", "json"], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "bail-badurl" not in listed.stdout and "bail-space" not in listed.stdout


# URLs with credentials ------------------------------------------------------------------
# RFC 3986 §2-3: the characters a userinfo, a host and a path are made of
UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
SUB_DELIMS = "!$&'()*+,;="
pct_encoded = st.builds("%{:02X}".format, st.integers(0, 255))


def _chars(alphabet: str, *, max_size: int = 8) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(list(alphabet)) | pct_encoded, max_size=max_size).map(
        "".join)


# userinfo = *( unreserved / pct-encoded / sub-delims / ":" ): a user (maybe empty), with
# or without ":" and a password (maybe empty): "u:p@", "u@", ":p@", ":@", "@", "%40:p%3A@"
userinfos = st.builds(
    lambda user, password: user + ("" if password is None else ":" + password) + "@",
    _chars(UNRESERVED + SUB_DELIMS), st.none() | _chars(UNRESERVED + SUB_DELIMS + ":"))
hosts = st.one_of(
    st.sampled_from(["erp.example", "xn--rp-fka.example", "localhost", "127.0.0.1", "[::1]",
                     "h_1.example", "exa%20mple", "[::1", "a..b"]),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    _chars(UNRESERVED + SUB_DELIMS, max_size=12),  # reg-name
)
ports = st.none() | st.integers(0, 70_000).map(str) | st.just("")
pchars = _chars(UNRESERVED + SUB_DELIMS + ":@")  # "@" is a pchar: no userinfo after the host
paths = st.lists(pchars, max_size=3).map(lambda segments: "".join("/" + s for s in segments))
tails = st.tuples(st.none() | _chars(UNRESERVED + SUB_DELIMS + ":@/?"),
                  st.none() | _chars(UNRESERVED + SUB_DELIMS + ":@/?"))  # fmt: skip


@st.composite
def url_parts(draw: st.DrawFn) -> tuple[str, str]:
    """(what comes before the authority, what comes after the userinfo)."""
    scheme = draw(st.sampled_from(["https", "http", "HTTPS", "ftp"]))
    port = draw(ports)
    query, fragment = draw(tails)
    after = draw(hosts) + ("" if port is None else ":" + port) + draw(paths)
    after += ("" if query is None else "?" + query) + ("" if fragment is None else "#" + fragment)
    return scheme + "://", after


_HOST_BEFORE = re.compile(r"[\w.-]+")


def _rule_before(url: str) -> str | None:
    """The verdict of the rule as it was before credentials were refused (commit b84094e's
    hub/core/urls.py, kept here as the oracle of "verdicts unchanged")."""
    if _SPACE_OR_CONTROL_BEFORE.search(url):
        return "holds a space or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"does not parse as a URL ({exc})"
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        return "is not an absolute https URL with a host"
    if parts.scheme == "http" and host not in LOOPBACK:
        return "must be https (plain http only on the loopback)"
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    if not (bracketed or _HOST_BEFORE.fullmatch(host)):
        return "has a host that is no DNS name nor IP address"
    if port == 0:
        return "has port 0"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "is refused by the HTTP client"
    if not parsed.host:
        return "is not an absolute https URL with a host"
    return None


_SPACE_OR_CONTROL_BEFORE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


@given(url_parts(), userinfos)
@example(("https://", "erp.example/hook"), "user:secret@")
@example(("https://", "erp.example/hook"), "user@")
@example(("https://", "erp.example/hook"), ":secret@")
@example(("https://", "erp.example/hook"), "@")
@example(("https://", "erp.example/hook"), "us%40er:p%3Aw@")
@example(("https://", "[2001:db8::1]:8443/hook"), "u:p@")
@example(("http://", "127.0.0.1:8080/a@b?c=d@e#f@g"), "u:p@")
@example(("https://", "[::1/hook"), "u:p@")  # malformed too: refused for its credentials
def test_exactly_the_urls_with_a_userinfo_are_refused_for_it(
        parts: tuple[str, str], userinfo: str) -> None:  # fmt: skip
    before, after = parts
    plain = before + after
    assert push_url_problem(before + userinfo + after) == CREDENTIALS
    verdict, before_verdict = push_url_problem(plain), _rule_before(plain)
    if before_verdict is None and _denied_host(plain):  # refused since audit K F10
        assert verdict is not None and verdict.startswith(DENIED_ADDRESS)
    else:
        assert verdict == before_verdict  # unchanged without a userinfo


def _denied_host(url: str) -> bool:
    """Whether ``url``'s host spells a link-local or unspecified address (hub.core.addresses;
    tests/unit/test_push_addresses.py: every spelling)."""
    host = urlsplit(url).hostname or ""
    return any(denied_by(a) is not None for a in name_addresses(host))


@pytest.mark.parametrize("url", [
    "https://erp.example/a@b", "https://erp.example/?mail=a@b.example",
    "https://erp.example/#@evil.example", "https://erp.example/%40", "https://[::1]/a@b",
])  # fmt: skip
def test_an_at_sign_after_the_host_is_no_userinfo(url: str) -> None:
    assert push_url_problem(url) is None


@pytest.mark.parametrize(("channel", "hint"), [
    ("webhook", "the receiver authenticates the hub by the X-Passerelle-Signature HMAC, "
                "keyed by `hub actors webhook-key {id}`"),
    ("soap", "SOAP push sends no secret (docs/api.md: restrict the endpoint to the hub)"),
])  # fmt: skip
def test_the_registry_refuses_credentials_naming_the_actor_and_the_way_instead(
        tmp_path: Path, channel: str, hint: str) -> None:  # fmt: skip
    service = _service(tmp_path)
    actor = _actor(channel, {"url": "https://erp:s3cr3t@erp.example/in"})
    with pytest.raises(InputError) as caught:
        service.add_or_update(actor)
    message = caught.value.message
    assert message == (f"actor {actor.id!r}: delivery.options.url {CREDENTIALS}; give the "
                       f"URL without them: {hint.format(id=actor.id)}")  # fmt: skip
    assert "s3cr3t" not in message and "\n" not in message
    assert service.store.list() == []
