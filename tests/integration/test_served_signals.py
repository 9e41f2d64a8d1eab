"""``hub api`` and ``hub soap-gateway`` run their app as a served connector
(connectors.shape.ServedApp) until a signal: the real CLI in a subprocess, stopped by
SIGTERM (a supervisor) or SIGINT (Ctrl-C), must end its requests and exit 0 quickly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from reliability.cluster import REPO, free_port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


WSDL = "/sne/DemandeLogementImplService?wsdl"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize(("command", "path"), [(["api"], "/openapi.json"),
                                               (["soap-gateway"], WSDL)])  # fmt: skip
def test_served_app_stops_cleanly_on_a_signal(tmp_path: Path, sig: signal.Signals,
                                              command: list[str], path: str) -> None:  # fmt: skip
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(tmp_path / "home"), HUB_SNE__URL="http://127.0.0.1:9/sne")
    log = tmp_path / "served.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from hub.cli import main; main()", *command,
             "--port", str(port)],
            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{port}{path}"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not _answers(f"http://127.0.0.1:{port}{path}")
