"""A Confluent-compatible schema registry on 127.0.0.1: Apicurio Registry, in-memory.

No Docker and no download but Maven Central: the Maven project shipped next to this
module (``registry-app.pom.xml``, plus one Java class written here) builds Apicurio
Registry into a runnable Quarkus application, and the JVM runs detached. Its Confluent
API is at ``http://127.0.0.1:<port>/apis/ccompat/v7`` (:attr:`RegistryStack.api_url`,
what ``HUB_REGISTRY__URL`` takes). Storage is H2 in memory: **a restart forgets every
schema** (the worker registers FeedRecord again at its start; ids may change, so read a
feed written before a restart with the same registry process, or with single-object
encoding). Layout under ``<home>/registry/``::

    app-<version>/      the Maven project and its build (target/quarkus-app/)
    registry.pid        logs/registry.out (the JVM's output)

Measured on 2 shared cores: build 17 s with ``~/.m2`` filled (102 s from an empty one:
225 MB fetched from Maven Central);
start 7 s; 190 MB resident.

Every public method is idempotent, as :class:`hub.dev.stack.kafka.KafkaStack`'s.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hub.core.errors import ConfigError
from hub.core.private import home_mode, private_dir
from hub.dev.stack.detached import await_port, pid_alive, port_answers, spawn, stop
from hub.dev.stack.kafka import require_tool

VERSION = "2.4.2.Final"

#: stands in for the build step of apicurio-common-app-components-config-index-deployment
#: (not served by Maven Central): the registry then has no property changeable at run time
_PRODUCER = """\
package fr.passerelle.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/** Written by hub/dev/stack/registry.py: no property is changeable at run time. */
@ApplicationScoped
public class DynamicConfigProducer {
    @Produces
    @ApplicationScoped
    DynamicConfigPropertyList dynamicProperties() {
        return new DynamicConfigPropertyList(List.of());
    }
}
"""

#: Quarkus build-time settings, given to Maven (the app's own are unpacked by the POM)
_BUILD_FLAGS = [
    "-Dquarkus.package.type=fast-jar",
    "-Dquarkus.index-dependency.registry-app.group-id=io.apicurio",
    "-Dquarkus.index-dependency.registry-app.artifact-id=apicurio-registry-app",
]


@dataclass(frozen=True)
class RegistryStatus:
    running: bool
    pid: int | None
    url: str


class RegistryStack:
    """Build, start and stop the schema registry of one home."""

    def __init__(self, home: Path, port: int = 28081, heap: str = "384m") -> None:
        self.root = Path(home).resolve() / "registry"
        self.port, self.heap = port, heap
        self.project_dir = self.root / f"app-{VERSION}"
        self.run_jar = self.project_dir / "target" / "quarkus-app" / "quarkus-run.jar"
        self.pid_file = self.root / "registry.pid"
        self.logs_dir = self.root / "logs"
        self.out_file = self.logs_dir / "registry.out"

    @property
    def api_url(self) -> str:
        """The Confluent-compatible API's base URL (``HUB_REGISTRY__URL``)."""
        return f"http://127.0.0.1:{self.port}/apis/ccompat/v7"

    @property
    def is_built(self) -> bool:
        return self.run_jar.is_file()

    def build(self) -> Path:
        """Build the application with Maven (skipped when built); the run jar."""
        if self.is_built:
            return self.run_jar
        require_tool("java", "install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless)")
        mvn = require_tool("mvn", "install Maven 3.8+ (Debian: apt-get install maven)")
        private_dir(self.root, base=self.root.parent, base_mode=home_mode())
        # built in a side folder renamed at the end: an interrupted build is never taken
        tmp = self.root / f"app-{VERSION}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        src = tmp / "src" / "main" / "java" / "fr" / "passerelle" / "registry"
        src.mkdir(parents=True)
        (src / "DynamicConfigProducer.java").write_text(_PRODUCER)
        pom = resources.files("hub.dev.stack").joinpath("registry-app.pom.xml").read_bytes()
        (tmp / "pom.xml").write_bytes(pom)
        cmd = [mvn, "-q", "-B", "-f", str(tmp / "pom.xml"), "package", *_BUILD_FLAGS]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = [ln for ln in (done.stdout + done.stderr).splitlines() if "ERROR" in ln]
            detail = lines[0][:400] if lines else f"exit code {done.returncode}"
            raise ConfigError(f"building Apicurio Registry {VERSION} with Maven failed: {detail}")
        shutil.rmtree(self.project_dir, ignore_errors=True)
        tmp.rename(self.project_dir)
        return self.run_jar

    def _read_pid(self) -> int | None:
        """The pid of this home's registry, or None (stale or foreign pid files ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        try:  # pids get reused: check it still runs our jar
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return pid
        return pid if str(self.run_jar).encode() in cmdline else None

    def status(self) -> RegistryStatus:
        """Running means: our JVM is alive and its HTTP port accepts connections."""
        pid = self._read_pid()
        return RegistryStatus(pid is not None and port_answers(self.port), pid, self.api_url)

    def up(self, timeout: float = 90) -> str:
        """Start the registry (building it first if needed); its API URL once it answers.

        :class:`ConfigError` when the port is another process's or the JVM exits during
        start, :class:`TransientError` when it does not answer in time."""
        pid = self._read_pid()
        if pid is None:
            if port_answers(self.port):
                raise ConfigError(f"port {self.port} is already used by another process")
            self.build()
            private_dir(self.logs_dir, base=self.logs_dir)
            cmd = [
                require_tool("java", "install a JDK 17+"),
                f"-Xmx{self.heap}",
                "-Djava.awt.headless=true",
                f"-Dquarkus.http.port={self.port}",
                "-Dquarkus.http.host=127.0.0.1",
                "-jar",
                str(self.run_jar),
            ]
            pid = spawn(cmd, self.out_file, self.root)  # output to a file, as Kafka's
            self.pid_file.write_text(f"{pid}\n")
        await_port(self.port, pid, timeout, what="the schema registry", see=str(self.out_file),
                   on_exit=lambda: self.pid_file.unlink(missing_ok=True))  # fmt: skip
        return self.api_url

    def down(self, timeout: float = 30) -> bool:
        """Stop the registry (SIGTERM, SIGKILL after ``timeout``); False if none ran."""
        pid = self._read_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        stop(pid, timeout, what="the schema registry")
        self.pid_file.unlink(missing_ok=True)
        return True
