"""The poller's boundary around each SNE call: every failure comes out a :class:`HubError`.

The SNE client turns transport failures into ``SneUnavailable`` (retriable), Faults into
``SneFault`` and answers its parser refuses into ``InputError`` / ``SneProtocolError``.
A few hostile answers still get through as the third-party parsers' own exceptions (an
envelope with an empty ``Body``: ``IndexError`` in zeep; a ``multipart/related`` body that
is not one: ``requests_toolbelt``'s; a body that lies about its ``Content-Encoding``:
``requests.ContentDecodingError``). :func:`guarded` makes those an
:class:`~connectors.sne.errors.SneProtocolError` — an answer the hub cannot read, about
that call only — so that no answer of the SNE, however bad, ends the poller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from connectors.sne.errors import SneProtocolError
from hub.core.errors import HubError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


class SneUnusable(TransientError):
    """The SNE answers, but nothing a pass can use: every search and the radiation
    listing refused or unreadable (a maintenance page, a guichet the SNE refuses). The
    pass fails and is tried again after the back-off, as when the SNE is down."""

    code = "sne_unusable"


def guarded(what: str, call: Callable[[], T]) -> T:
    """``call()``, one SNE call (and the reading of its answer) described by ``what``;
    raises only :class:`HubError` (module doc)."""
    try:
        return call()
    except HubError:
        raise
    except Exception as exc:  # whatever a hostile answer makes a parser raise
        log.debug("SNE %s: answer refused by a parser", what, exc_info=True)
        raise SneProtocolError(
            f"SNE {what}: answer the hub cannot read ({type(exc).__name__})"
        ) from None
