"""HTTP session and transport of the SNE client: TLS client certificate, MTOM, safe parsing.

* :func:`session` builds a ``requests`` session: client certificate and key (the key may be
  encrypted: its password is a ``SecretStr``, given to ``ssl`` only), CA bundle to verify
  the SNE, no environment proxies/certificates leaking in (``trust_env`` off).
* :class:`SneTransport` is zeep's transport with an operation timeout, which (1) sends the
  ``fluxXml`` parts as MTOM/XOP attachments when ``mtom`` is on and (2) parses every answer
  with the hub's hardened parser *before* zeep does, so a hostile answer never reaches
  zeep's parser (the house rule: every XML parse goes through ``xmlsafe.parse``).
"""

from __future__ import annotations

import base64
import ssl
import uuid
from typing import Any

import requests
from lxml import etree
from requests.adapters import HTTPAdapter
from zeep.transports import Transport

from connectors.sne.soap import MAX_BODY, MAX_ENVELOPE, XOP, mtom_package
from hub.core import xmlsafe
from hub.core.errors import ConfigError, InputError
from hub.core.settings import SneSettings

MTOM_PARTS = ("fluxXml",)


class _TlsAdapter(HTTPAdapter):
    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


def session(cfg: SneSettings) -> requests.Session:
    """A session carrying the TLS client certificate of ``cfg`` (if any)."""
    s = requests.Session()
    s.trust_env = False
    if cfg.cert_file or cfg.ca_file:
        try:
            ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
            if cfg.cert_file:
                ctx.load_cert_chain(
                    cfg.cert_file, cfg.key_file or None, cfg.key_password.get_secret_value() or None
                )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"SNE TLS settings unusable: {type(exc).__name__}: "
                f"{getattr(exc, 'strerror', None) or exc}"
            ) from None
        s.mount("https://", _TlsAdapter(ctx))
    return s


class SneTransport(Transport):
    """zeep transport: timeouts, optional MTOM requests, hardened parsing of answers."""

    def __init__(self, cfg: SneSettings, *, mtom: bool | None = None) -> None:
        super().__init__(
            session=session(cfg),
            timeout=cfg.timeout_s,  # type: ignore[no-untyped-call]
            operation_timeout=cfg.timeout_s,
        )
        self.mtom = cfg.mtom if mtom is None else mtom

    def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> Any:
        if self.mtom:
            attachments: list[tuple[str, bytes]] = []
            for name in MTOM_PARTS:
                for el in envelope.iter(name):
                    cid = f"{uuid.uuid4().hex}@passerelle"
                    attachments.append((cid, base64.b64decode(el.text or "")))
                    el.text = None
                    etree.SubElement(el, f"{{{XOP}}}Include", nsmap={"xop": XOP}).set(
                        "href", f"cid:{cid}"
                    )
            if attachments:
                ctype = headers.get("Content-Type", "")
                action = (
                    ctype.split('action="', 1)[1].split('"', 1)[0] if 'action="' in ctype else ""
                )
                body, content_type = mtom_package(
                    etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"),
                    attachments,
                    action=action,
                )
                return self._checked(
                    self.post(  # type: ignore[no-untyped-call]
                        address, body, {**headers, "Content-Type": content_type}
                    )
                )
        return self._checked(super().post_xml(address, envelope, headers))  # type: ignore[no-untyped-call]

    def _checked(self, response: requests.Response) -> requests.Response:
        content = response.content
        if len(content) > MAX_BODY:
            raise InputError(f"SNE answer above {MAX_BODY} bytes", code="hostile_xml")
        ctype = response.headers.get("Content-Type", "")
        if ctype.lower().startswith("multipart/related"):
            from requests_toolbelt.multipart.decoder import MultipartDecoder

            content = MultipartDecoder(content, ctype).parts[0].content
        if content.strip():
            try:
                xmlsafe.parse(content, max_bytes=MAX_ENVELOPE)
            except InputError as exc:
                # an HTML error page of a proxy is a transport failure zeep reports as such
                if exc.code == "hostile_xml" or response.status_code == 200:
                    raise
        return response
