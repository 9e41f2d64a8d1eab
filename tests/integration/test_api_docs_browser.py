"""The API's documentation pages render in a real browser with no network (issue 21.6).

The hub is served by uvicorn on a loopback port; Debian's headless Chromium opens
``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with every name resolving to nothing but
127.0.0.1 and every non-loopback request sent to a dead proxy: only what the hub itself
serves can load (a control run proves a CDN URL does not). Swagger UI must list every
operation of the OpenAPI document, ReDoc every operation id. With FastAPI's default pages
(scripts from a CDN) both are blank and the test fails.

Chromium is installed by the test (``apt-get install chromium``) when missing and the test
runs as root with apt; otherwise it is skipped, saying why. The screenshot of ``/docs``
(``docs.png``) and its rendered DOM (``docs.html``) are kept in the test's tmp dir; the path
is printed (``pytest -s``) and recorded as the ``docs_screenshot`` property (junit XML).
Measured (call): 6 s on an idle 2-core machine, 13 to 16 s at load 10; about a minute more
when it installs Chromium. Fast enough for the default suite (no marker).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hub.core.db import make_engine
from hub.core.settings import HubSettings
from tests.integration.api_support import serve

#: no DNS but loopback, and every proxied (= non-loopback) request to a closed port
OFFLINE_FLAGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=127.0.0.1:9",
]
BROWSERS = ("chromium", "chromium-browser")


def _find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of a Chromium binary, installed from Debian's package when missing."""
    found = _find_browser()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("Chromium is not installed and cannot be (needs root and apt-get): "
                    "apt-get install chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-qq"]
    for step in (["update"], ["install", "-y", "chromium"]):
        done = subprocess.run([*apt, *step], env=env, capture_output=True, text=True,
                              timeout=900, check=False)
        if done.returncode != 0:
            pytest.skip(f"apt-get {step[0]} failed, Chromium unavailable: "
                        f"{done.stderr.strip()[-300:]}")
    found = _find_browser()
    if not found:
        pytest.skip("apt-get install chromium succeeded but no chromium binary on PATH")
    return found


def _browse(chromium: str, url: str, profile: Path, *extra: str) -> str:
    """The DOM of ``url`` after its scripts ran (virtual-time budget), offline."""
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", f"--user-data-dir={profile}", *OFFLINE_FLAGS,
         "--virtual-time-budget=15000", "--window-size=1280,2000", *extra,
         "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _operations(doc: dict[str, Any]) -> tuple[set[tuple[str, str]], set[str]]:
    ops = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    return ops, ids


@pytest.mark.timeout(1200)  # the first run may install Chromium
def test_docs_pages_render_every_operation_offline(
        chromium: str, tmp_path: Path, record_property: Any) -> None:
    from hub.api.app import create_app

    app = create_app(HubSettings(home=tmp_path / "home"),
                     make_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    ops, ids = _operations(app.openapi())
    assert len(ops) >= 8
    profile, shot = tmp_path / "chromium", tmp_path / "docs.png"
    with serve(app) as (host, port):
        base = f"http://{host}:{port}"
        # control: the same browser reaches nothing outside the machine
        assert _browse(chromium, "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
                       "swagger-ui.css", profile).strip() == "", "the browser is online"
        swagger = _browse(chromium, f"{base}/docs", profile, f"--screenshot={shot}")
        redoc = _browse(chromium, f"{base}/redoc", profile)
    (tmp_path / "docs.html").write_text(swagger, encoding="utf-8")
    print(f"\n/docs screenshot: {shot} (DOM: {tmp_path / 'docs.html'})")
    record_property("docs_screenshot", str(shot))
    assert shot.stat().st_size > 10_000, "no screenshot of /docs"
    blocks = re.findall(r'class="opblock opblock-(\w+)[^"]*".*?data-path="([^"]+)"', swagger)
    listed = {(method.upper(), path.replace("\u200b", "")) for method, path in blocks}
    assert listed == ops, f"Swagger UI lists {sorted(listed)}; the document has {sorted(ops)}"
    shown = set(re.findall(r'operation/([A-Za-z0-9_]+)', redoc))
    assert shown == ids, f"ReDoc shows {sorted(shown)}; the document has {sorted(ids)}"
