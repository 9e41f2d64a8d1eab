"""The push channels' connections go to allowed addresses only (independent audit K F10).

A push URL's host is checked at registration when it is an address literal
(:mod:`hub.core.urls`); a DNS name is checked here, when ``hub deliver`` connects:
:class:`GuardedBackend` (the network backend of every actor's HTTP client,
:func:`guarded_transport`) resolves the host itself, refuses the connection when **any**
address it resolves to is denied (:func:`hub.core.addresses.denied_by`: link-local,
unspecified, or in ``api.push_deny_networks``), and else connects to those very
addresses, in the resolver's order, never resolving the name again: a name whose DNS
answer changes between the check and the connection (DNS rebinding) reaches no address
that was not checked. TLS still verifies the certificate against the URL's host name.

A refusal is :class:`AddressRefused`, an ``httpx.ConnectError``: nothing was sent, the
record waits and is tried again after the back-off like any refused connection, and the
channel logs one warning line with the reason (host, address, network: never the URL).

Connections go straight to the receiver: the push clients do not use the environment's
proxies (``HTTPS_PROXY``), which would resolve the name where it cannot be checked.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx

from hub.core.addresses import Address, Network, denied_by, literal, why_denied

__all__ = ["AddressRefused", "GuardedBackend", "guarded_transport"]


class AddressRefused(httpx.ConnectError):
    """The receiver's host resolves to a denied address: not connected (module doc)."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio backend, connecting only to checked addresses (module doc)."""

    def __init__(self, deny: Iterable[Network] = ()) -> None:
        self.deny = tuple(deny)
        self._inner = httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int, timeout: float | None) -> list[Address]:
        """Every address ``host`` resolves to (the resolver's order, no duplicates), or
        :class:`AddressRefused` when one of them is denied."""
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no address for {host} in time") from exc
        except OSError as exc:  # gaierror: an unknown name, no DNS
            raise httpcore.ConnectError(str(exc)) from exc
        found: list[Address] = []
        for info in infos:
            address = literal(str(info[4][0]))
            if address is not None and address not in found:
                found.append(address)
        for address in found:
            network = denied_by(address, self.deny)
            if network is not None:
                raise AddressRefused(
                    f"{host} resolves to {address}, refused ({why_denied(network)}): not connected"
                )
        if not found:
            raise httpcore.ConnectError(f"no address for {host}")
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first of ``host``'s checked addresses that answers."""
        failure: Exception | None = None
        for address in await self.resolve(host, port, timeout):
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolve() returned at least one address
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("push receivers are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(
    ssl_context: ssl.SSLContext | None, limits: httpx.Limits, deny: Iterable[Network] = ()
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through :class:`GuardedBackend`: TLS
    verified with ``ssl_context`` (None: httpx's default), pool bounded by ``limits``."""
    context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
    transport = httpx.AsyncHTTPTransport(verify=context, limits=limits)
    # httpx builds its connection pool without a way to name the network backend: the
    # same pool again, with the backend (tests/unit/test_push_addresses.py fails if an
    # httpx release stops sending through _pool)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(deny),
    )
    return transport
