"""The one rule of a push receiver's URL (webhook, SOAP push): checked when an actor is
registered (``hub actors import/add``) and again by ``hub deliver`` before serving one
(a registry written before the rule may hold anything).

A usable URL is an absolute ``https`` URL with a host, that Python's ``urlsplit`` and the
HTTP client (httpx) both read the same way:

* no credentials: no userinfo (``user:password@``, ``user@``, ``:password@``, an empty
  ``@``, percent-encoded or not) before the host. A secret in a URL is kept in clear in
  the registry and its change log, and ends up in logs and error messages; a webhook
  receiver authenticates the hub by the request's HMAC signature instead (its key:
  ``hub actors webhook-key ACTOR``). ``@`` after the host (path, query, fragment) is no
  userinfo and changes nothing;
* no whitespace nor control character anywhere (RFC 3986 has none; httpx would
  percent-encode a space in a host and fail only at connection time, like a receiver
  that is down: silent);
* scheme ``https``; plain ``http`` only on the loopback (tests, local receivers);
* a host of letters, digits, ``-``, ``_`` and ``.`` (internationalised names included),
  or a bracketed IPv6 address; a port, when given, from 1 to 65535;
* no host that stands for a denied address (independent audit K F10,
  :mod:`hub.core.addresses`): an address literal in any spelling the resolver takes
  (``https://2130706433/``, ``https://[::ffff:169.254.169.254]/``...) or ``localhost``
  (the loopback) in a link-local or unspecified network, or in ``deny``
  (``api.push_deny_networks``). A DNS name is checked when ``hub deliver`` connects, on
  each address it resolves to (:mod:`connectors.outbound.guarded_net`).

Reasons name what is wrong, never quote the URL (it may carry a token in its query).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from hub.core.addresses import Network, denied_by, name_addresses, why_denied

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_HOST = re.compile(r"[\w.-]+")
#: whitespace, C0, DEL, C1 (``str.isspace`` misses none of the ASCII ones)
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
#: an authority (RFC 3986: after ``//``, up to the first ``/``, ``?`` or ``#``) with ``@``
_USERINFO = re.compile(r"^[^:/?#]*://[^/?#]*@")
#: the problem of a URL carrying credentials (the registry adds how to give a secret)
CREDENTIALS = (
    "carries credentials (userinfo before '@'), which would be kept in clear in the "
    "registry and in logs"
)


#: the opening of the problem of a URL whose host stands for a denied address
DENIED_ADDRESS = "has a host whose address is refused"


def push_url_problem(url: object, deny: Iterable[Network] = ()) -> str | None:
    """Why ``url`` is no usable push URL (see the module doc; ``deny``: the networks of
    ``api.push_deny_networks``), or None."""
    if not isinstance(url, str) or not url:
        return "is missing (an https URL)"
    if _USERINFO.match(url):  # first: whatever else is wrong, never keep a secret
        return CREDENTIALS
    if _SPACE_OR_CONTROL.search(url):
        return "holds a space or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is no number, or out of range, raises here
    except ValueError as exc:
        return f"does not parse as a URL ({exc})"
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        return "is not an absolute https URL with a host"
    if parts.scheme == "http" and host not in LOOPBACK:
        return "must be https (plain http only on the loopback)"
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    if not (bracketed or _HOST.fullmatch(host)):
        return "has a host that is no DNS name nor IP address"
    if port == 0:
        return "has port 0"
    import httpx  # here: the actor model is imported by processes that never POST

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:  # its message may quote the URL
        return "is refused by the HTTP client"
    if not parsed.host:
        return "is not an absolute https URL with a host"
    return _address_problem((host, parsed.raw_host.decode("ascii", "replace")), tuple(deny))


def _address_problem(hosts: Iterable[str], deny: tuple[Network, ...]) -> str | None:
    """Why one of ``hosts`` (the URL's host as Python and httpx read it) stands for a
    denied address, or None."""
    for host in hosts:
        for address in name_addresses(host):
            network = denied_by(address, deny)
            if network is not None:
                return f"{DENIED_ADDRESS} ({why_denied(network)})"
    return None
