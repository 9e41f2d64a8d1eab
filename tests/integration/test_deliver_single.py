"""One ``hub deliver`` per database (independent audit H, F-1: two deliverers sent and
audited almost every record twice). Real processes on SQLite and on PostgreSQL (a schema
of its own): a second deliverer stops at once with one line, a ``kill -9``'d holder never
blocks its successor; on PostgreSQL a lock lost with its connection is taken again, or
reported taken by another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hub.core.db import make_engine, migrate
from hub.core.db_lock import ProcessLock
from hub.core.errors import ConfigError
from tests.support.postgres import postgres_url, schema_engine

pytestmark = pytest.mark.kafka

HUB = [sys.executable, "-c", "from hub.cli import main; main()"]


def _env(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(home), HUB_DATABASE__URL=url,
               HUB_KAFKA__BOOTSTRAP_SERVERS=os.environ.get(
                   "HUB_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:29092"),
               HUB_API__WEBHOOK_SECRET="s3cret")  # fmt: skip
    return env


def _held(url: str) -> bool:
    """Whether a deliverer holds the lock now (tried with a lock of our own)."""
    engine = make_engine(url)
    lock = ProcessLock(engine, "deliver", "hub deliver")
    try:
        lock.acquire()
    except ConfigError:
        return True
    finally:
        lock.release()
        engine.dispose()
    return False


def _one_deliverer(home: Path, url: str) -> None:
    env = _env(home, url)
    first = subprocess.Popen([*HUB, "deliver"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _held(url):
            assert first.poll() is None, first.stdout.read() if first.stdout else b""
            assert time.monotonic() < deadline, "the first deliverer never took its lock"
            time.sleep(0.3)
        second = subprocess.run([*HUB, "deliver", "--once"], env=env, capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        assert second.returncode != 0
        lines = [ln for ln in second.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "another hub deliver already runs" in lines[0], second.stderr
        assert "Traceback" not in second.stderr
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        third = subprocess.run([*HUB, "deliver", "--once"], env=env, capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert third.returncode == 0, third.stderr
        assert "record(s) delivered" in third.stdout
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)


def test_one_deliverer_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(make_engine(url))
    _one_deliverer(tmp_path, url)


def test_one_deliverer_on_postgresql(tmp_path: Path) -> None:
    with schema_engine(postgres_url(), "deliverlock") as engine:
        url = engine.url.render_as_string(hide_password=False)
        _one_deliverer(tmp_path, url)


def test_a_lock_lost_with_its_connection_is_taken_again_or_reported(tmp_path: Path) -> None:
    with schema_engine(postgres_url(), "deliverlock") as engine:
        url = engine.url.render_as_string(hide_password=False)
        other_schema = make_url(url).update_query_dict({"options": "-csearch_path=public"})
        mine, theirs = make_engine(url), make_engine(url)
        elsewhere = make_engine(other_schema.render_as_string(hide_password=False))
        a, b = ProcessLock(mine, "deliver", "hub deliver"), ProcessLock(theirs, "deliver", "x")
        a.acquire()
        ProcessLock(elsewhere, "deliver", "hub deliver").acquire()  # another schema: free
        with pytest.raises(ConfigError):
            b.acquire()

        def drop_a() -> None:  # what a database restart does to a's session
            with engine.connect() as conn:
                assert a._conn is not None
                pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
                a._conn.commit()
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})

        drop_a()
        a.check()  # taken again: nobody else wanted it
        drop_a()
        b.acquire()  # another process took it meanwhile
        with pytest.raises(ConfigError, match="another"):
            a.check()
        b.release()
        a.check()  # free again: a takes it back
        a.release()
        for e in (mine, theirs, elsewhere):
            e.dispose()
