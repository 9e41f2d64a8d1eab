"""Feed records as the caller's *current* profile may see them (``GET /feed``).

The cut itself is :func:`hub.domain.recut.recut`, shared with the push and file channels
(connectors/outbound), which serve records later than the dispatcher wrote them too: a
record written for a profile wider than the caller's now comes back cut to it, a narrower
one as it is (never widened).
"""

from __future__ import annotations

from hub.domain.recut import recut

__all__ = ["recut"]
