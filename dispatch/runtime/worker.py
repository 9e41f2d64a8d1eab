"""Running the dispatch app: faust's ``Worker`` until the process is stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import faust

log = logging.getLogger(__name__)


def run_worker(app: faust.App, loglevel: str) -> None:
    """Run ``app`` in faust's worker (signals, logging, start and stop) until SIGTERM or
    Ctrl-C; exits the process (``SystemExit``) with faust's exit code."""
    from hub.core.kafka.client import ConnectionNoise

    ConnectionNoise.lift()  # the worker's log says every connection it could not make
    worker = Worker(app, loglevel=loglevel, quiet=True)
    if not worker.stdout.isatty():
        # faust's start-up spinner writes cursor hide/show codes even to a pipe or a log
        # file (its frames check for a terminal, these two codes do not)
        worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as done:
        _exit_despite_stuck_clients(done)
        raise


class Worker(faust.Worker):
    """faust's worker, whose last step before closing the event loop does not sleep a
    second whatever is left to do."""

    async def _sentinel_task(self) -> None:
        """mode runs this last, the service tasks gathered and every task left cancelled,
        so that their endings and the callbacks they scheduled (connections closing) run
        before the loop closes: it sleeps 1 s, which every stop of a worker paid. Wait as
        long at most, for those tasks to end, then one short sleep for their callbacks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        me = asyncio.current_task()
        while loop.time() < deadline and any(t is not me for t in asyncio.all_tasks()):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)


def _exit_despite_stuck_clients(done: SystemExit) -> None:
    """faust has stopped (tables closed, what could be committed committed); a Kafka
    client thread still waiting for a broker that does not answer (its stop given up after
    ``worker.shutdown_timeout_s``) would keep the process alive for its request timeouts:
    exit now. Its inputs were not committed, so they are dispatched again at restart."""
    stuck = [t.name for t in threading.enumerate()
             if t is not threading.main_thread() and t.is_alive() and not t.daemon]  # fmt: skip
    if stuck:
        log.error("stopping: client threads still waiting for the broker (%s): exiting now",
                  ", ".join(stuck))  # fmt: skip
        logging.shutdown()
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        os._exit(code)
