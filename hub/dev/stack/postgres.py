"""A throw-away PostgreSQL server for development and tests, from Debian's packages.

``PostgresStack(home, port).up()`` creates a cluster (once), starts it on 127.0.0.1 only,
creates role ``hub`` (password ``hub``) owning database ``hub``, and returns the
SQLAlchemy URL. Every method is idempotent. Layout of the cluster folder::

    data/          the cluster (initdb), its passerelle.conf is rewritten at each start
    run/           the Unix socket, reachable only by the server user (local auth: trust)
    postgres.log   the server log

Where the folder lives: ``<home>/postgres``. PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` OS user, which must own the folder and be able
to traverse every parent. When it cannot (pytest's tmp folders are mode 0700, for one),
the folder falls back to ``/tmp/passerelle-pg-<port>``; ``status().data_dir`` tells which.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hub.core.errors import ConfigError, HubError
from hub.dev.stack.kafka import port_answers

_SERVER_USER = "postgres"
#: Unix socket paths are limited to 107 bytes; keep room for "/.s.PGSQL.<port>"
_MAX_SOCKET_DIR = 90


@dataclass(frozen=True)
class PostgresStatus:
    """What ``status()`` saw. ``pid`` is None when the server is not running."""

    running: bool
    pid: int | None
    url: str
    data_dir: Path
    log_file: Path


def _traversable(path: Path, uid: int, gid: int) -> bool:
    """True when user uid (primary group gid) may traverse every existing folder of path."""
    for folder in [*reversed(path.parents), path]:
        try:
            st = folder.stat()
        except FileNotFoundError:
            break  # folders we create get the default mode 0755
        bit = (
            stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        )
        if not st.st_mode & bit:
            return False
    return True


def _user_exists() -> bool:
    try:
        pwd.getpwnam(_SERVER_USER)
    except KeyError:
        return False
    return True


def _bin_dir(install: bool) -> Path | None:
    """Newest /usr/lib/postgresql/<N>/bin; installs Debian's package when asked and root."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")  # other distributions put it on PATH
    if on_path or not install:
        return Path(on_path).parent if on_path else None
    if os.geteuid() != 0:
        raise ConfigError("PostgreSQL is not installed: as root, apt-get install -y postgresql")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if done.returncode != 0:
            raise ConfigError(f"'{' '.join(cmd)}' failed: {done.stderr.strip()[-200:]}")
    return _bin_dir(install=False)


class PostgresStack:
    """Create, start and stop the PostgreSQL cluster of one home on one port."""

    def __init__(self, home: Path, port: int = 25432) -> None:
        self.port = port
        self.as_root = os.geteuid() == 0
        root = Path(home).resolve() / "postgres"
        # Before Debian's package is installed the postgres user does not exist: then
        # judge by the "others" bits, which are the ones that will apply to it.
        uid, gid = self._ids() if self.as_root and _user_exists() else (-1, -1)
        if self.as_root and not _traversable(root, uid, gid):
            root = Path(f"/tmp/passerelle-pg-{port}")
        self.root = root
        self.data_dir, self.run_dir = root / "data", root / "run"
        self.log_file = root / "postgres.log"

    def _ids(self) -> tuple[int, int]:
        """uid and gid the server runs as (resolved late: the package creates the user)."""
        user = pwd.getpwnam(_SERVER_USER) if self.as_root else pwd.getpwuid(os.geteuid())
        return user.pw_uid, user.pw_gid

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://hub:hub@127.0.0.1:{self.port}/hub"

    def _run(self, bin_dir: Path, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(bin_dir / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", _SERVER_USER, "--", *cmd]
        # cwd=/ : the server user may not be allowed into the caller's folder
        return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd="/")

    def _check(self, done: subprocess.CompletedProcess[str], what: str) -> None:
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["?"]
            raise ConfigError(f"postgres {what} failed: {lines[-1]} (log: {self.log_file})")

    def _pid(self, bin_dir: Path | None) -> int | None:
        if bin_dir is None or not (self.data_dir / "PG_VERSION").is_file():
            return None
        if self._run(bin_dir, "pg_ctl", "status", "-D", str(self.data_dir)).returncode != 0:
            return None
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def status(self) -> PostgresStatus:
        """Never installs nor creates anything."""
        pid = self._pid(_bin_dir(install=False))
        return PostgresStatus(
            running=pid is not None,
            pid=pid,
            url=self.url,
            data_dir=self.data_dir,
            log_file=self.log_file,
        )

    def _prepare(self, bin_dir: Path) -> None:
        """Create the folders and the cluster, once; write passerelle.conf every time."""
        if len(str(self.run_dir)) > _MAX_SOCKET_DIR:
            raise ConfigError(f"socket folder path too long for Unix sockets: {self.run_dir}")
        uid, gid = self._ids()
        for folder in (self.root, self.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
            os.chown(folder, uid, gid)
            folder.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").is_file():
            self._check(
                self._run(
                    bin_dir,
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                ),
                "initdb",
            )
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write("\ninclude_if_exists = 'passerelle.conf'\n")
        conf_file = self.data_dir / "passerelle.conf"
        conf_file.write_text(
            f"# written by hub/dev/stack/postgres.py at each start\n"
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.run_dir}'\n"
        )
        os.chown(conf_file, uid, gid)

    def up(self, timeout: float = 60) -> str:
        """Start the server (if needed), ensure role and database ``hub``, return the URL."""
        bin_dir = _bin_dir(install=True)
        if bin_dir is None:
            raise ConfigError("PostgreSQL binaries not found (no /usr/lib/postgresql/*/bin)")
        if self._pid(bin_dir) is None:
            if port_answers(self.port):
                raise ConfigError(f"port {self.port} is already used by another process")
            self._prepare(bin_dir)
            self._check(
                self._run(
                    bin_dir,
                    "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                ),
                "start",
            )
        import psycopg  # imported where it runs: `hub` commands load this module

        with psycopg.connect(
            host=str(self.run_dir),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
        ) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'hub'").fetchone() is None:
                conn.execute("CREATE ROLE hub LOGIN PASSWORD 'hub'")
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'hub'").fetchone() is None:
                conn.execute("CREATE DATABASE hub OWNER hub")
        return self.url

    def down(self, timeout: float = 30) -> bool:
        """Fast shutdown (rolls back open sessions). False when nothing was running."""
        bin_dir = _bin_dir(install=False)
        if bin_dir is None or self._pid(bin_dir) is None:
            return False
        self._check(
            self._run(
                bin_dir,
                "pg_ctl",
                "stop",
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(timeout)),
                "-D",
                str(self.data_dir),
            ),
            "stop",
        )
        return True

    def wipe(self) -> None:
        """Stop the server and delete the whole cluster folder (data, socket, log)."""
        self.down()
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m hub.dev.stack.postgres start|stop|status|url``: one line out, exit 0 if ok."""
    from hub.core.settings import get_settings  # only the command line reads the environment

    parser = argparse.ArgumentParser(prog="postgres.sh", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "url"])
    parser.add_argument("--port", type=int, default=25432)
    parser.add_argument("--home", type=Path, default=None, help="default: HUB_HOME (.hub)")
    args = parser.parse_args(argv)
    stack = PostgresStack(args.home or get_settings().home, port=args.port)
    try:
        if args.command == "start":
            print(f"postgres: up at {stack.up()} (data {stack.data_dir})")
        elif args.command == "stop":
            print("postgres: stopped" if stack.down() else "postgres: was not running")
        elif args.command == "url":
            print(stack.url)
        else:
            st = stack.status()
            state = f"running (pid {st.pid}) at {st.url}" if st.running else "stopped"
            print(f"postgres: {state}; data {st.data_dir}")
            return 0 if st.running else 3  # like pg_ctl status
    except HubError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
