"""A push receiver's URL (audit finding 6): the registry refuses, in one line, what is no
absolute https URL with a host (``https://[::1/hook``, a space inside...); what it
accepts, the HTTP client reads as the same https URL with a host (hypothesis: arbitrary
text, and RFC 3986 URLs from hypothesis' own URL grammar)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.provisional import urls

from hub.core.db import make_engine, migrate
from hub.core.errors import InputError
from hub.core.urls import push_url_problem
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
