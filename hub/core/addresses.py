"""Which network addresses a push receiver may have (independent audit K F10: SSRF).

``hub deliver`` POSTs personal data to the URL the registry holds; a wrong or malicious
entry must not make it POST to a cloud metadata service (``169.254.169.254``) or to
another internal address. Two lists of networks:

* :data:`ALWAYS_DENIED`, whatever the settings say: link-local (``169.254.0.0/16``,
  ``fe80::/10``: cloud metadata services, link-local services, never an ERP) and
  unspecified (``0.0.0.0/8``, ``::``: Linux connects them to the host itself);
* ``api.push_deny_networks`` (``HUB_API__PUSH_DENY_NETWORKS``, a JSON list of CIDRs),
  for the deployment to add private (``10.0.0.0/8``...) or loopback (``127.0.0.0/8``,
  ``::1/128``) ranges. Its default is the link-local ranges only: on-premises ERPs live
  on private networks, and tests and demos use receivers on 127.0.0.1.

An address is denied when it, or the IPv4 address an IPv6 one carries (IPv4-mapped
``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``: :func:`carried`), is in one of them (:func:`denied_by`).

The checks: at registration and again before serving an actor, on the URL's host when it
is an address literal in any spelling the system resolver takes (:func:`literal`:
``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``[::ffff:a9fe:a9fe]``...) and on
``localhost`` (:mod:`hub.core.urls`); at each connection, on every address the host
resolves to, the connection then going to one of the addresses checked
(:mod:`connectors.outbound.guarded_net`: a name resolving to a denied address is refused,
a name re-resolving differently between the check and the connection is not possible).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Iterator
from typing import TypeAlias

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

#: link-local and unspecified: denied whatever ``api.push_deny_networks`` says
ALWAYS_DENIED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128")
)
#: ``api.push_deny_networks``' default: the link-local ranges
DEFAULT_DENY = ("169.254.0.0/16", "fe80::/10")
#: names that are the host itself whatever DNS says (RFC 6761)
_LOOPBACK_NAMES = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
#: what an inet_aton spelling of an IPv4 address is made of (1 to 4 parts, each decimal,
#: octal or hexadecimal)
_NUMERIC_V4 = re.compile(r"[0-9a-fA-FxX.]+")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")


def literal(host: str) -> Address | None:
    """The address ``host`` (a URL's host, IPv6 without brackets) spells, in any form the
    system resolver reads as a number (dotted decimal; ``inet_aton``'s one to four parts
    in decimal, octal or hexadecimal; IPv6 with or without a zone; one trailing dot),
    else None (a DNS name)."""
    text = host[:-1] if host.endswith(".") and not host.endswith("..") else host
    try:
        return ipaddress.ip_address(text.partition("%")[0] if ":" in text else text)
    except ValueError:
        pass
    if _NUMERIC_V4.fullmatch(text) and text[:1].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def name_addresses(host: str) -> tuple[Address, ...]:
    """The addresses ``host`` stands for without asking DNS: its :func:`literal`, or the
    loopback for ``localhost`` and ``*.localhost``; else none."""
    address = literal(host)
    if address is not None:
        return (address,)
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return _LOOPBACK_NAMES
    return ()


def carried(address: Address) -> Iterator[Address]:
    """``address``, then the IPv4 address an IPv6 one carries, if any (module doc)."""
    yield address
    if isinstance(address, ipaddress.IPv4Address):
        return
    v6 = ipaddress.IPv6Address(int(address))  # without its zone
    if v6.ipv4_mapped is not None:
        yield v6.ipv4_mapped
    elif v6.sixtofour is not None:
        yield v6.sixtofour
    elif v6 in _NAT64 or (v6 in _COMPATIBLE and int(v6) > 1):
        yield ipaddress.IPv4Address(int(v6) & 0xFFFFFFFF)


def denied_by(address: Address, deny: Iterable[Network] = ()) -> Network | None:
    """The first network of :data:`ALWAYS_DENIED`, then of ``deny``, holding ``address``
    or the IPv4 address it carries; None when the address may be a push receiver's."""
    networks = (*ALWAYS_DENIED, *deny)
    for a in carried(address):
        for network in networks:
            if a.version == network.version and a in network:
                return network
    return None


def why_denied(network: Network) -> str:
    """Why ``network`` is denied, for a one-line reason (no URL, no host)."""
    if network in ALWAYS_DENIED:
        return f"{network}, link-local or unspecified: never a push receiver"
    return f"{network}, in HUB_API__PUSH_DENY_NETWORKS"
