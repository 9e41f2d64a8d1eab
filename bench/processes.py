"""The processes under test: the hub worker (``hub worker``) and the baselines.

The hub runs as a real ``hub worker`` subprocess rather than in-process: its CPU time and
peak RSS are then read from its own ``/proc`` entry, apart from the harness's, and it runs
the very code path (faust app, agent, producer settings) that production runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.broker import free_port
from hub.core.errors import HubError, TransientError

#: the repository root, so that ``python -m bench.baseline`` resolves in a child process
_ROOT = str(Path(__file__).resolve().parent.parent)


def worker_env(pairs: list[str]) -> dict[str, str]:
    """``--worker-env`` values (``HUB_NAME=value``) as a dict; :class:`HubError` otherwise."""
    env = dict(p.split("=", 1) for p in pairs if "=" in p)
    bad = [p for p in pairs if "=" not in p or not p.startswith("HUB_")]
    if bad:
        raise HubError(f"--worker-env takes HUB_NAME=value, not {bad[0]!r}")
    return env


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


class Proc:
    """A child process with its log file; :meth:`stop` sends SIGTERM, then SIGKILL."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, pipe: bool) -> None:
        self.log = log
        #: a hub worker's HTTP port (/metrics), None for other processes
        self.web_port: int | None = None
        self._fh = log.open("ab")
        # stdout is piped only for a child that announces readiness there; otherwise to the
        # log (a pipe nobody reads would eventually block the child)
        self.popen = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE if pipe else self._fh,
            stderr=self._fh,
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_line(self, text: str, timeout: float) -> None:
        """Block until the child prints a line containing ``text`` on stdout."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if not line and not self.alive():
                raise TransientError(f"process {self.pid} exited early; see {self.log}")
            if text.encode() in line:
                return
        raise TransientError(f"process {self.pid} not ready in {timeout:g}s; see {self.log}")

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._fh.close()


def start_worker(bootstrap: str, home: Path, extra_env: dict[str, str] | None = None) -> Proc:
    """A ``hub worker`` on the private broker, with its own home and consumer group."""
    home.mkdir(parents=True, exist_ok=True)
    env = _env(
        {
            "HUB_HOME": str(home),
            "HUB_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "HUB_WORKER__APP_ID": f"bench-{uuid.uuid4().hex[:8]}",
            "HUB_WORKER__WEB_PORT": str(free_port()),
            **(extra_env or {}),
        }
    )
    argv = [
        sys.executable,
        "-c",
        "from hub.cli import main; main()",
        "worker",
        "--loglevel",
        "warning",
    ]
    proc = Proc(argv, env, home / "worker.log", pipe=False)
    proc.web_port = int(env["HUB_WORKER__WEB_PORT"])
    return proc


def batch_inputs(proc: Proc) -> tuple[float, float] | None:
    """(inputs, batches) so far from the worker's ``passerelle_dispatch_batch_inputs``
    histogram (its /metrics), or None when unreadable."""
    import httpx

    if proc.web_port is None:
        return None
    try:
        text = httpx.get(f"http://127.0.0.1:{proc.web_port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    values = {}
    for line in text.splitlines():
        for suffix in ("_sum", "_count"):
            if line.startswith(f"passerelle_dispatch_batch_inputs{suffix} "):
                values[suffix] = float(line.split()[1])
    if len(values) != 2:
        return None
    return values["_sum"], values["_count"]


def start_baseline(
    bootstrap: str,
    log: Path,
    mode: str,
    input_topic: str,
    *,
    n: int = 1,
    departement: str = "76",
    prefix: str = "fan",
    national: tuple[int, int, int] | None = None,
    env: dict[str, str] | None = None,
) -> Proc:
    """A raw-client baseline (``python -m bench.baseline``), positioned at its input's end.
    ``national``: (seed, guichets, landlords) of the W1 actors, for mode c over them;
    ``env``: the tuning run's ``HUB_*`` settings, as the measured worker gets them."""
    argv = [
        sys.executable,
        "-m",
        "bench.baseline",
        "--bootstrap",
        bootstrap,
        "--mode",
        mode,
        "--input",
        input_topic,
        "--group",
        f"bench-{mode}-{uuid.uuid4().hex[:6]}",
        "--n",
        str(n),
        "--departement",
        departement,
        "--prefix",
        prefix,
    ]
    if national is not None:
        seed, guichets, landlords = national
        argv += [
            "--national-seed",
            str(seed),
            "--guichets",
            str(guichets),
            "--landlords",
            str(landlords),
        ]
    proc = Proc(argv, _env(env or {}), log, pipe=True)
    proc.wait_line("ready", timeout=60)
    return proc
