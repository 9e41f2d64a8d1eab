"""No URL's query nor userinfo in the logs (independent audit K F9).

A push receiver's URL may carry a token in its query (``?access_token=...``; a secret in
its userinfo is refused at registration: :mod:`hub.core.urls`). The hub's own log lines
name actors and feed offsets, never a push URL; libraries are another matter: httpx logs
every request's full URL at INFO (``HTTP Request: POST https://...?access_token=...``,
what ``hub -v`` shows) and httpcore its connections at DEBUG. So, for every command
(:func:`install`, called by the CLI's logging set-up):

* the loggers of :data:`URL_LOGGERS` stay at WARNING whatever ``-v`` says (their INFO and
  DEBUG lines are per request: no loss for an operator, who has the hub's own lines);
* the handlers the CLI writes with format through :class:`RedactingFormatter`: in the
  whole text of each line (message, arguments and traceback), every ``scheme://`` URL
  loses its userinfo and has its query replaced by ``?***`` (:func:`redact`), whichever
  library logged it and at whatever level.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["URL_LOGGERS", "RedactingFormatter", "install", "redact"]

#: loggers that print request URLs below WARNING
URL_LOGGERS = ("httpx", "httpcore")
#: an absolute URL: scheme, optional userinfo (up to the authority's last ``@``), the rest
#: of the authority and the path, optional query; it ends at a space, a quote or ``<>``
_URL = re.compile(
    r"(?i)\b([a-z][a-z0-9+.\-]*://)"  # scheme
    r"([^\s/?#'\"<>]*@)?"  # userinfo
    r"([^\s?#'\"<>]*)"  # host, port, path
    r"(\?[^\s#'\"<>]*)?"  # query
)


def _hidden(m: re.Match[str]) -> str:
    return m.group(1) + m.group(3) + ("?***" if m.group(4) else "")


def redact(text: str) -> str:
    """``text`` with every URL's userinfo removed and its query replaced by ``?***``."""
    return _URL.sub(_hidden, text) if "://" in text else text


class RedactingFormatter(logging.Formatter):
    """A :class:`logging.Formatter` whose every formatted line goes through
    :func:`redact` (the message with its arguments, and any traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def install(handlers: Iterable[logging.Handler], fmt: str) -> None:
    """Keep :data:`URL_LOGGERS` at WARNING, and format ``handlers`` with ``fmt`` through
    :class:`RedactingFormatter` (module doc). Idempotent."""
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in handlers:
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(fmt))
