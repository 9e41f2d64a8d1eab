"""Bounded waits of a stopping worker: a broker gone for good must not keep SIGTERM
waiting. What is given up was not acknowledged, so its inputs stay uncommitted and are
dispatched again at restart (same event ids: consumers drop the duplicates)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

log = logging.getLogger(__name__)


async def bounded(what: str, step: Awaitable[object], timeout: float) -> bool:
    """``await step`` for at most ``timeout`` s; past it, cancel it, log and return False."""
    try:
        await asyncio.wait_for(step, timeout)
    except TimeoutError:
        log.error("stopping: %s not done within %g s; given up (uncommitted inputs are "
                  "dispatched again at restart)", what, timeout)  # fmt: skip
        return False
    return True
