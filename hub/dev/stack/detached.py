"""Servers of the local stack started as detached processes (the Kafka broker's JVM, the
schema registry's): started in a session of their own, output to a file, watched until
their port answers, stopped with SIGTERM then SIGKILL.

Contracts: :func:`spawn` returns the new process's pid; :func:`await_port` returns once
``port`` accepts connections and raises :class:`~hub.core.errors.ConfigError` when the
process exits first (after ``on_exit``), :class:`~hub.core.errors.TransientError` after
``timeout``; :func:`stop` returns once the process is gone and raises
:class:`~hub.core.errors.TransientError` if it survives SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from hub.core.errors import ConfigError, TransientError

#: umask of the stack's JVMs: Kafka creates its segments, indexes and checkpoints with
#: the process umask, so 077 makes them 0600 (folders 0700)
JVM_UMASK = 0o077


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when a TCP connect to host:port succeeds (someone listens there)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie: reaped here if it is our child, and a
    zombie of another process of ours (a test that started it) counts as dead too."""
    try:
        # A server we started from this process becomes a zombie when it exits: reap it,
        # or os.kill(pid, 0) would go on reporting it alive.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: its parent (or init) reaps it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): trust the signal
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def spawn(cmd: Sequence[str], out_file: Path, cwd: Path) -> int:
    """Start ``cmd`` in its own session (it survives the CLI, and a Ctrl-C aimed at the
    caller's terminal does not reach it), output appended to ``out_file`` (0600; a pipe
    nobody reads would eventually block the JVM); its pid."""
    out_fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with open(out_fd, "ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            umask=JVM_UMASK,
        )
    return proc.pid


def await_port(port: int, pid: int, timeout: float, *, what: str, see: str,
               on_exit: Callable[[], None]) -> None:  # fmt: skip
    """Wait until ``port`` answers while ``pid`` lives (module doc); ``what`` names the
    server and ``see`` where its output is, in the errors."""
    deadline = time.monotonic() + timeout
    while not port_answers(port):
        if not pid_alive(pid):
            on_exit()
            raise ConfigError(f"{what} exited during start; see {see}")
        if time.monotonic() > deadline:
            raise TransientError(
                f"{what} (pid {pid}) did not answer on port {port} within {timeout:g}s; see {see}"
            )
        time.sleep(0.2)


def stop(pid: int, timeout: float, *, what: str) -> None:
    """SIGTERM (clean shutdown), SIGKILL after ``timeout`` seconds (module doc)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):  # it may exit on its own
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not pid_alive(pid):
            return
    raise TransientError(f"{what} (pid {pid}) survived SIGKILL; is it stuck in the kernel?")
