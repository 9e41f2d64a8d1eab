"""A single-node Apache Kafka broker (KRaft, combined broker + controller) on 127.0.0.1.

No Docker and no release tarball: the broker's jars come from Maven Central through the
jar-fetcher POM shipped next to this module (``kafka-jars.pom.xml``), and the JVM runs
detached from the calling process. Layout under ``<home>/kafka/``::

    libs-<version>/     every runtime jar (cached; Maven also caches in ~/.m2)
    server.properties   log4j2.yaml   kafka.pid
    data/               the broker's log.dirs (topics and KRaft metadata)
    logs/               server.log (full), kafka-authorizer.log (authorization denials,
                        rate-limited: hub/dev/stack/log4j2.yaml) and kafka.out (JVM stdout)

Owner-only: ``<home>/kafka`` is 0700 (``<home>`` 0700, 0711 as root: see
:func:`hub.core.private.home_mode`), the JVMs run with umask 077 (every
file Kafka writes is 0600, every folder 0700) and the data and log folders are tightened
to 0700/0600 at each start (data written before this rule; :mod:`hub.core.private`): the
topics hold personal data. Topics exist only as the hub declares them
(``auto.create.topics.enable=false``, :data:`SINGLE_NODE_PROPERTIES`).

Every public method is idempotent, so ``hub stack up`` can be run any number of times.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hub.core.errors import ConfigError
from hub.core.private import home_mode, private_dir, tighten_tree
from hub.dev.stack.detached import JVM_UMASK as JVM_UMASK
from hub.dev.stack.detached import await_port, spawn, stop
from hub.dev.stack.detached import pid_alive as pid_alive
from hub.dev.stack.detached import port_answers as port_answers

_SERVER_PROPERTIES = """\
# Written by hub/dev/stack/kafka.py at each start: edit that file, not this one.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
"""

#: What every single-node stack needs whatever its listeners: replication factor 1 and
#: min ISR 1 for the internal topics (defaults 3/2 break a single node), no initial
#: rebalance delay (3 s per test otherwise), a small log-cleaner buffer (compaction on),
#: and no topic auto-creation: a client writing to or reading a topic the hub did not
#: declare (``hub.core.kafka.admin.ensure_topics``) gets an error instead of a topic with
#: Kafka's defaults (one partition for hub.demandes, issue 19 point 10).
SINGLE_NODE_PROPERTIES = """\
log.dirs={data_dir}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
group.initial.rebalance.delay.ms=0
num.partitions=1
log.cleaner.dedupe.buffer.size=33554432
"""


@dataclass(frozen=True)
class StackStatus:
    """What ``status()`` saw. ``pid`` is None when no broker of this home runs."""

    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    log_file: Path


def require_tool(name: str, hint: str) -> str:
    """Absolute path of executable ``name``, or a one-line :class:`ConfigError`."""
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"'{name}' not found on PATH: {hint}")
    return path


class KafkaStack:
    """Provision, start and stop the broker of one home. Paths are resolved at creation."""

    def __init__(
        self,
        home: Path,
        version: str = "4.1.1",
        port: int = 29092,
        controller_port: int = 29093,
        heap: str = "1g",
    ) -> None:
        self.root = Path(home).resolve() / "kafka"
        self.version, self.port, self.controller_port, self.heap = (
            version,
            port,
            controller_port,
            heap,
        )
        self.libs_dir = self.root / f"libs-{version}"
        self.data_dir = self.root / "data"
        self.logs_dir = self.root / "logs"
        self.config_file = self.root / "server.properties"
        self.log4j_file = self.root / "log4j2.yaml"
        self.pid_file = self.root / "kafka.pid"
        self.out_file = self.logs_dir / "kafka.out"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def has_jars(self) -> bool:
        """True when ``fetch_jars()`` has nothing left to do."""
        return (self.libs_dir / f"kafka_2.13-{self.version}.jar").is_file()

    def fetch_jars(self) -> Path:
        """Resolve every runtime jar into ``libs-<version>/`` (skipped when already there).

        Maven writes into a temporary folder renamed at the end, so an interrupted fetch
        never leaves a half-filled folder that the idempotence check would accept.
        """
        if self.has_jars:
            return self.libs_dir
        require_tool("java", "install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless)")
        mvn = require_tool("mvn", "install Maven 3.8+ (Debian: apt-get install maven)")
        self._private_root()
        # Maven may write next to its POM; copy it out of the (maybe read-only) package.
        pom = self.root / "kafka-jars.pom.xml"
        pom.write_bytes(
            resources.files("hub.dev.stack").joinpath("kafka-jars.pom.xml").read_bytes()
        )
        tmp = self.root / f"libs-{self.version}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
            f"-Dkafka.version={self.version}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = [ln for ln in (done.stdout + done.stderr).splitlines() if "ERROR" in ln]
            detail = lines[0] if lines else f"exit code {done.returncode}"
            raise ConfigError(f"fetching Kafka {self.version} jars with Maven failed: {detail}")
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        tmp.rename(self.libs_dir)
        return self.libs_dir

    def _java(self, main: str, *args: str, level: str = "INFO") -> list[str]:
        return [
            require_tool("java", "install a JDK 17+"),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.logs_dir}",
            f"-Dhub.log.level={level}",
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            "-cp",
            f"{self.libs_dir}/*",
            main,
            *args,
        ]

    def _read_pid(self) -> int | None:
        """The pid of this home's broker, or None (a stale or foreign pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        try:  # pids get reused: check it still is our broker, on this config file
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return pid  # no /proc (not Linux): trust the pid file
        ours = b"kafka.Kafka" in cmdline and str(self.config_file).encode() in cmdline
        return pid if ours else None

    def status(self) -> StackStatus:
        """Running means: our JVM is alive **and** its client port accepts connections."""
        pid = self._read_pid()
        return StackStatus(
            running=pid is not None and port_answers(self.port),
            pid=pid,
            bootstrap=self.bootstrap,
            data_dir=self.data_dir,
            log_file=self.logs_dir / "server.log",
        )

    def _private_root(self) -> None:
        """``<home>/kafka`` owner-only (0700), ``<home>`` set to :func:`home_mode`."""
        private_dir(self.root, base=self.root.parent, base_mode=home_mode())

    def _write_configs(self) -> None:
        self._private_root()
        for folder in (self.data_dir, self.logs_dir):
            private_dir(folder, base=folder)
            tighten_tree(folder)  # data written by a broker started before this rule
        self.config_file.write_text(
            (_SERVER_PROPERTIES + SINGLE_NODE_PROPERTIES).format(
                port=self.port, controller_port=self.controller_port, data_dir=self.data_dir
            )
        )
        self.log4j_file.write_bytes(
            resources.files("hub.dev.stack").joinpath("log4j2.yaml").read_bytes()
        )

    def _format_storage(self) -> None:
        if (self.data_dir / "meta.properties").is_file():
            return  # formatted once already; a new cluster id would orphan the data
        # Kafka's Uuid.randomUuid(): base64url of 16 random bytes, never starting with '-'
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # voters-style quorum: no --standalone (the two are exclusive, see the notes)
        cmd = self._java(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.config_file),
            "--ignore-formatted",
            level="WARN",
        )
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, umask=JVM_UMASK)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            raise ConfigError(f"formatting Kafka storage in {self.data_dir} failed: {detail[0]}")

    def up(self, timeout: float = 60) -> str:
        """Start the broker (if needed) and return its bootstrap string once it answers.

        Raises :class:`ConfigError` when the port belongs to another process or the JVM
        exits during start, :class:`TransientError` when it does not answer in time.
        """
        pid = self._read_pid()
        if pid is None:
            if port_answers(self.port):
                raise ConfigError(
                    f"port {self.port} is already used by another process (the broker of "
                    "another hub home? `hub stack status` from that project says; or set "
                    "HUB_STACK__KAFKA_PORT)"
                )
            self.fetch_jars()
            self._write_configs()
            self._format_storage()
            pid = spawn(self._java("kafka.Kafka", str(self.config_file)), self.out_file,
                        self.root)  # fmt: skip
            self.pid_file.write_text(f"{pid}\n")
        await_port(self.port, pid, timeout, what="Kafka",
                   see=f"{self.out_file} and {self.logs_dir / 'server.log'}",
                   on_exit=lambda: self.pid_file.unlink(missing_ok=True))  # fmt: skip
        return self.bootstrap

    def down(self, timeout: float = 30) -> bool:
        """Stop the broker: SIGTERM (clean shutdown), SIGKILL after ``timeout`` seconds.

        Returns True when a broker was running, False when there was nothing to stop.
        """
        pid = self._read_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        stop(pid, timeout, what="Kafka")
        self.pid_file.unlink(missing_ok=True)
        return True

    def wipe(self) -> None:
        """Stop the broker and delete its data (topics, offsets, cluster id); keeps jars."""
        self.down()
        shutil.rmtree(self.data_dir, ignore_errors=True)
