"""Running the dispatch app: faust's ``Worker`` until the process is stopped."""

from __future__ import annotations

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
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    if not worker.stdout.isatty():
        # faust's start-up spinner writes cursor hide/show codes even to a pipe or a log
        # file (its frames check for a terminal, these two codes do not)
        worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as done:
        _exit_despite_stuck_clients(done)
        raise


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
