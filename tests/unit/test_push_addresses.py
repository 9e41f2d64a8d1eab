"""Audit K F10: push URLs may not target link-local or unspecified addresses (cloud
metadata services), whatever their spelling, and the deployment may refuse more networks
(``HUB_API__PUSH_DENY_NETWORKS``: private, loopback ranges).

* registration (:func:`hub.core.urls.push_url_problem`), hypothesis over the spellings of
  an address a URL's host may use: RFC 3986's dotted decimal and IP-literals
  (IPv4-mapped, IPv4-compatible, NAT64, 6to4 IPv6 forms, zones of RFC 6874), and
  ``inet_aton``'s one to four parts in decimal, octal or hexadecimal, which the system
  resolver takes too (each spelling is checked to mean the address for ``inet_aton`` or
  ``ipaddress``); a public address is still accepted;
* the setting: its default, its JSON list, a bad CIDR refused in one line;
* ``hub actors add``: refused in one line, naming the network, never the URL;
* sending (:mod:`connectors.outbound.guarded_net`): a host *name* resolving to a denied
  address (``localhost`` with the loopback denied: no /etc/hosts edit) is not connected
  to, by the actors' HTTP client and by the webhook channel (the record waits, one
  warning line), while the same request goes through when the network is not denied.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.outbound.guarded_net import AddressRefused
from connectors.outbound.push import actor_client
from connectors.outbound.webhook import WebhookDelivery
from hub.core.db import make_engine, migrate
from hub.core.errors import ConfigError
from hub.core.settings import ApiSettings, HubSettings, get_settings
from hub.core.urls import DENIED_ADDRESS, push_url_problem
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.registry.store import ActorStore
from tests.support.hostile_receiver import Mode, hostile_receiver
from tests.support.outbox_records import demande_record
from tests.unit.test_publish_cli import _hub

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Net, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
PRIVATE: tuple[Net, ...] = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
#: inet_aton's forms: the bits of each part when there are 1, 2, 3 or 4 parts
_PART_BITS = {1: (32,), 2: (8, 24), 3: (8, 8, 16), 4: (8, 8, 8, 8)}


def _radix(value: int, radix: str) -> str:
    if radix == "oct":
        return "0" + format(value, "o")
    if radix in ("hex", "HEX"):
        return ("0x" if radix == "hex" else "0X") + format(value, "x" if radix == "hex" else "X")
    return str(value)


@st.composite
def v4_spellings(draw: st.DrawFn, address: ipaddress.IPv4Address) -> str:
    """``address`` as inet_aton reads it: 1 to 4 parts, each in its own radix."""
    bits = _PART_BITS[draw(st.sampled_from(sorted(_PART_BITS)))]
    n, shift, parts = int(address), 32, []
    for size in bits:
        shift -= size
        value = (n >> shift) & ((1 << size) - 1)
        parts.append(_radix(value, draw(st.sampled_from(["dec", "oct", "hex", "HEX"]))))
    text = ".".join(parts)
    assert socket.inet_aton(text) == address.packed, text  # what the resolver reads too
    return text


@st.composite
def v6_carrying(draw: st.DrawFn, address: ipaddress.IPv4Address) -> str:
    """An IPv6 literal (bracketed) carrying ``address``."""
    dotted, hi, lo = str(address), int(address) >> 16, int(address) & 0xFFFF
    form = draw(st.sampled_from([
        f"::ffff:{dotted}", f"::FFFF:{hi:x}:{lo:X}", f"0:0:0:0:0:ffff:{dotted}",
        f"::ffff:{hi:04x}:{lo:04x}", f"64:ff9b::{dotted}", f"2002:{hi:x}:{lo:x}::1",
        f"::{dotted}",
    ]))  # fmt: skip
    ipaddress.IPv6Address(form)  # a valid IPv6 address (inet_pton agrees)
    return f"[{form}]"


@st.composite
def spellings(draw: st.DrawFn, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """A URL host standing for ``address``, in any spelling (module doc)."""
    if isinstance(address, ipaddress.IPv6Address):
        text = draw(st.sampled_from([address.compressed, address.exploded,
                                     address.exploded.upper()]))  # fmt: skip
        zone = draw(st.sampled_from(["", "%25eth0", "%251"]))
        return f"[{text}{zone if address.is_link_local else ''}]"
    host = draw(v4_spellings(address) | v6_carrying(address) | st.just(str(address)))
    return host + draw(st.sampled_from(["", "."])) if not host.startswith("[") else host


def _url(host: str, tail: str) -> str:
    return f"https://{host}{tail}"


TAILS = st.sampled_from(["/", ":8443/latest/meta-data/", "/hook?access_token=T"])


@given(st.data(), st.ip_addresses(network="169.254.0.0/16") | st.ip_addresses(
    network="fe80::/10") | st.ip_addresses(network="0.0.0.0/8") | st.just(
    ipaddress.ip_address("::")), TAILS)  # fmt: skip
@example(None, ipaddress.ip_address("169.254.169.254"), "/latest/meta-data/")
def test_link_local_and_unspecified_are_refused_in_any_spelling(
    data: st.DataObject | None, address: ipaddress.IPv4Address | ipaddress.IPv6Address, tail: str
) -> None:
    hosts = [str(address)] if data is None else [data.draw(spellings(address))]
    for host in hosts:
        url = _url(host if ":" not in host or host.startswith("[") else f"[{host}]", tail)
        for deny in ((), PRIVATE):  # whatever the setting says
            problem = push_url_problem(url, deny)
            assert problem is not None, url
            assert url not in problem and "access_token" not in problem
            if not problem.startswith(("is refused by the HTTP client", "has a host that is")):
                assert problem.startswith(DENIED_ADDRESS), (url, problem)
                assert "never a push receiver" in problem


@given(st.data(), st.sampled_from(LOOPBACK + PRIVATE), TAILS)
@example(None, LOOPBACK[0], "/")
def test_private_and_loopback_are_refused_when_the_setting_says_so(
    data: st.DataObject | None, network: Net, tail: str
) -> None:
    address = (network.network_address + 1 if data is None
               else data.draw(st.ip_addresses(network=str(network))))  # fmt: skip
    host = str(address) if data is None else data.draw(spellings(address))
    url = _url(host, tail)
    problem = push_url_problem(url, LOOPBACK + PRIVATE)
    assert problem is not None and url not in problem
    if problem.startswith(DENIED_ADDRESS):
        assert "in HUB_API__PUSH_DENY_NETWORKS" in problem
    # the default (link-local only) accepts them: on-premises ERPs, local receivers
    default = HubSettings().api.push_deny_networks
    assert push_url_problem(url, default) is None or not push_url_problem(
        url, default).startswith(DENIED_ADDRESS)  # fmt: skip


@given(st.ip_addresses(v=4).filter(lambda a: a.is_global) | st.ip_addresses(v=6).filter(
    lambda a: a.is_global and a.ipv4_mapped is None and a.sixtofour is None
    and a not in ipaddress.ip_network("64:ff9b::/96")), TAILS)  # fmt: skip
def test_a_public_address_is_accepted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, tail: str
) -> None:
    host = str(address) if address.version == 4 else f"[{address}]"
    assert push_url_problem(_url(host, tail), LOOPBACK + PRIVATE) is None


def test_localhost_is_the_loopback_for_the_rule() -> None:
    for url in ("http://localhost:8080/hook", "https://LOCALHOST./x", "https://erp.localhost/"):
        assert push_url_problem(url) is None
        problem = push_url_problem(url, LOOPBACK)
        assert problem is not None and problem.startswith(DENIED_ADDRESS), url


def test_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [str(n) for n in HubSettings().api.push_deny_networks] == ["169.254.0.0/16",
                                                                      "fe80::/10"]  # fmt: skip
    monkeypatch.setenv("HUB_API__PUSH_DENY_NETWORKS", '["10.0.0.0/8", "::1/128"]')
    assert [str(n) for n in HubSettings().api.push_deny_networks] == ["10.0.0.0/8", "::1/128"]
    monkeypatch.setenv("HUB_API__PUSH_DENY_NETWORKS", '["10.0.0.1/8"]')
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as caught:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert caught.value.message.startswith("invalid setting HUB_API__PUSH_DENY_NETWORKS__0:")


def test_hub_actors_add_refuses_a_denied_address_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_HOME"] = str(tmp_path / "home")

    def add(actor_id: str, url: str, deny: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {} if deny is None else {"HUB_API__PUSH_DENY_NETWORKS": deny}
        return subprocess.run([*_hub(), "actors", "add", "--id", actor_id, "--name", "N",
                               "--kind", "bailleur", "--commune", "76540", "--channel", "webhook",
                               "--url", url], env={**env, **extra},
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    res = add("meta", "https://2852039166/latest/meta-data/?token=T")  # 169.254.169.254
    assert res.returncode == 1 and res.stderr.splitlines() == [
        "Error: actor 'meta': delivery.options.url has a host whose address is refused "
        "(169.254.0.0/16, link-local or unspecified: never a push receiver)"], res.stderr
    res = add("local", "http://localhost:9/hook", '["127.0.0.0/8", "::1/128"]')
    assert res.returncode == 1 and res.stderr.splitlines() == [
        "Error: actor 'local': delivery.options.url has a host whose address is refused "
        "(127.0.0.0/8, in HUB_API__PUSH_DENY_NETWORKS)"], res.stderr


def _post(url: str, deny: tuple[Net, ...]) -> int:
    async def run() -> int:
        async with actor_client(None, deny) as client:
            return (await client.post(url, content=b"{}")).status_code

    return asyncio.run(run())


def test_a_name_resolving_to_a_denied_address_is_not_connected_to() -> None:
    with hostile_receiver({"/hook": Mode(200, b"ok")}) as rx:
        url = rx.base.replace("127.0.0.1", "localhost") + "/hook"
        resolved = {ipaddress.ip_address(info[4][0])
                    for info in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)}
        assert ipaddress.ip_address("127.0.0.1") in resolved  # what the receiver listens on
        for deny in (LOOPBACK, LOOPBACK[:1], LOOPBACK[1:]):
            if any(a.version == n.version and a in n for a in resolved for n in deny):
                with pytest.raises(AddressRefused, match=r"^localhost resolves to "):
                    _post(url, deny)
        assert rx.requests == []
        assert _post(url, PRIVATE) == 200  # the same request, its network allowed
        assert _post(url.replace("localhost", "127.0.0.1"), ()) == 200
        assert len(rx.requests) == 2
        with pytest.raises(httpx.ConnectError):  # an unknown name: a transport error
            _post("https://no-such-host.invalid/hook", ())


def test_the_webhook_channel_keeps_the_record_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    outbox = Outbox(engine)
    with hostile_receiver({"/hook?access_token=T": Mode(200, b"ok")}) as rx:
        url = rx.base.replace("127.0.0.1", "localhost") + "/hook?access_token=T"
        actor = Actor(id="erp-local", name="ERP", kind="bailleur", profile="consultant_demande",
                      filters=ActorFilters(communes=["76540"]),
                      delivery=Delivery(channel="webhook", options={"url": url}))  # fmt: skip
        ActorStore(engine).save(actor)
        record = demande_record()
        outbox.add(actor.id, [(0, record["numUnique"], json.dumps(record).encode())])

        def channel(deny: tuple[Net, ...]) -> WebhookDelivery:
            api = ApiSettings(webhook_secret=SecretStr("s"), push_deny_networks=deny)
            settings = HubSettings().model_copy(update={"api": api})
            return WebhookDelivery(settings, outbox, AuditStore(engine))

        async def send(deny: tuple[Net, ...]) -> int:
            async with actor_client(None, deny) as client:
                return await channel(()).send_due(actor, client)

        with caplog.at_level(logging.WARNING):
            assert asyncio.run(send(LOOPBACK)) == 0  # at connection: the name resolved
            # before serving: the URL's host is the loopback by name, refused at once
            assert asyncio.run(channel(LOOPBACK).run_once([actor])) == 0
        assert rx.requests == [] and outbox.undelivered(actor.id) == 1
        lines = [r.getMessage() for r in caplog.records]
        assert any("localhost resolves to 127.0.0.1, refused (127.0.0.0/8, in "
                   "HUB_API__PUSH_DENY_NETWORKS): not connected; retried" in ln
                   for ln in lines) or any("resolves to ::1, refused" in ln
                                           for ln in lines), lines  # fmt: skip
        assert any("actor erp-local not served" in ln and DENIED_ADDRESS in ln for ln in lines)
        assert not any("access_token" in ln for ln in lines)
        head = outbox.head(actor.id)
        assert head is not None
        outbox.failed(head.seq, datetime.now(UTC), "tried again now")
        assert asyncio.run(send(())) == 1  # allowed: delivered
        assert len(rx.requests) == 1


def test_one_denied_address_among_those_of_a_name_refuses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name resolving to an allowed and a denied address is refused: the connection
    could go to either. (The resolver stands in for DNS here.)"""
    import anyio

    from connectors.outbound.guarded_net import GuardedBackend

    answers = {"erp.example": ["203.0.113.7", "169.254.169.254"], "ok.example": ["203.0.113.7",
               "2001:db8::7", "203.0.113.7"], "mapped.example": ["::ffff:10.1.2.3"]}  # fmt: skip

    async def fake(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in answers[host]]  # fmt: skip

    monkeypatch.setattr(anyio, "getaddrinfo", fake)
    backend = GuardedBackend(PRIVATE)
    with pytest.raises(AddressRefused, match=r"erp.example resolves to 169.254.169.254, "
                                             r"refused \(169.254.0.0/16"):  # fmt: skip
        asyncio.run(backend.resolve("erp.example", 443, 5))
    with pytest.raises(AddressRefused, match=r"10.0.0.0/8, in HUB_API__PUSH_DENY_NETWORKS"):
        asyncio.run(backend.resolve("mapped.example", 443, 5))
    got = asyncio.run(backend.resolve("ok.example", 443, 5))
    assert [str(a) for a in got] == ["203.0.113.7", "2001:db8::7"]  # in order, once each
