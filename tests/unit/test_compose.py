"""docker-compose.yml and deploy/: checked by `docker compose config` when the Docker
client has the compose plugin, and always structurally (PyYAML), against the repository
(mounted files exist, HUB_* variables are real settings, ports agree with settings) and
with promtool for the Prometheus configuration."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.core.settings import HubSettings, WorkerSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SECRETS = {"POSTGRES_PASSWORD": "x", "HUB_API__WEBHOOK_SECRET": "y", "GRAFANA_ADMIN_PASSWORD": "z"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def test_docker_compose_config_when_the_plugin_exists() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("no `docker compose` plugin here: structural checks below cover the file")
    out = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, **SECRETS},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


def test_services_images_health_checks_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "postgres", "worker", "api", "sne-simulator", "prometheus", "grafana"} <= set(
        services
    )
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")  # the official image
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert not any("zookeeper" in name for name in services)
    for name in ("kafka", "postgres", "worker", "api", "sne-simulator", "prometheus", "grafana"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    declared = set(compose["volumes"])
    for name in ("kafka", "postgres", "prometheus", "grafana"):
        named = {
            v.split(":")[0] for v in services[name].get("volumes", []) if not v.startswith(".")
        }
        assert named and named <= declared, name
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["worker"]["command"][0] == "worker"
    # hub services wait for healthy Kafka and PostgreSQL
    for name in ("worker", "api", "sne-simulator"):
        deps = services[name]["depends_on"]
        assert deps["kafka"]["condition"] == deps["postgres"]["condition"] == "service_healthy"


def test_mounted_files_exist_and_monitoring_is_wired(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for svc in services.values():
        for v in svc.get("volumes", []):
            if v.startswith("./"):
                assert (REPO / v.split(":")[0]).exists(), v
    assert (REPO / services["worker"]["build"]["dockerfile"]).is_file()
    prom = "\n".join(services["prometheus"]["volumes"])
    assert "./monitoring/alerts.yml:/etc/prometheus/rules/alerts.yml" in prom
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/alerts.yml"]
    worker_job = next(j for j in config["scrape_configs"] if j["job_name"] == "passerelle-worker")
    assert worker_job["dns_sd_configs"][0]["port"] == WorkerSettings().web_port  # not env
    assert "6066/health" in " ".join(services["worker"]["healthcheck"]["test"])
    grafana = "\n".join(services["grafana"]["volumes"])
    provider = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/dashboards/passerelle.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert f"./monitoring/dashboards:{path}" in grafana
    datasource = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_hub_environment_names_real_settings(compose: dict[str, Any]) -> None:
    """A typo in a HUB_* variable would be silently ignored by pydantic-settings."""
    fields = HubSettings.model_fields
    env = compose["x-hub"]["environment"]
    assert env["HUB_MONITORING__WEB_HOST"] == "0.0.0.0"
    for name in env:
        section, _, key = name.removeprefix("HUB_").lower().partition("__")
        assert section in fields, name
        if key:
            model = fields[section].annotation
            assert key in model.model_fields, name  # type: ignore[union-attr]
    # secrets are required from the environment, never written in the file
    text = COMPOSE.read_text()
    for secret in SECRETS:
        assert re.search(r"\$\{" + secret + r":\?", text), secret


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool not found: install Debian's prometheus package (scripts/bootstrap.sh)"
        )
    text = (REPO / "deploy" / "prometheus.yml").read_text()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        text.replace("/etc/prometheus/rules/alerts.yml", str(REPO / "monitoring/alerts.yml"))
    )
    out = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_audit_recorder_runs_with_the_hub(compose: dict[str, Any]) -> None:
    """``hub audit record`` (Kafka feed deliveries into audit_deliveries) is a service of
    the deployment, built like the other hub services, waiting for Kafka and PostgreSQL."""
    recorder = compose["services"]["audit-recorder"]
    assert recorder["command"] == ["audit", "record", "--metrics-port", "9465"]
    # scraped (PasserelleAuditFeedStopped reads its gauge)
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "passerelle-audit")
    assert job["static_configs"][0]["targets"] == ["audit-recorder:9465"]
    assert recorder["image"] == compose["services"]["worker"]["image"]
    assert recorder["restart"] == "unless-stopped"
    env = recorder["environment"]
    assert env["HUB_DATABASE__URL"].startswith("postgresql+psycopg://")
    assert env["HUB_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    deps = recorder["depends_on"]
    assert deps["kafka"]["condition"] == deps["postgres"]["condition"] == "service_healthy"
    # the command exists in the CLI the image runs
    from click.testing import CliRunner

    from hub.cli import main

    result = CliRunner().invoke(main, [*recorder["command"], "--help"])
    assert result.exit_code == 0 and "hub.feed" in result.output


def test_every_static_scrape_target_is_a_port_its_service_serves_metrics_on(
        compose: dict[str, Any]) -> None:  # fmt: skip
    """A Prometheus target ``service:port`` names a port the service's command serves
    ``/metrics`` on (``--metrics-port``): the API's own port 8080 serves no ``/metrics``,
    so a target there would scrape nothing but 404s."""
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    targets = [t for job in prometheus["scrape_configs"]
               for sc in job.get("static_configs", []) for t in sc["targets"]]  # fmt: skip
    assert targets
    for target in targets:
        service, port = target.rsplit(":", 1)
        command = [str(x) for x in compose["services"][service].get("command", [])]
        assert "--metrics-port" in command, (target, command)
        assert command[command.index("--metrics-port") + 1] == port, (target, command)


def _alerted_families() -> tuple[set[str], set[str]]:
    """The hub metric families the alert rules read, and the job names they name."""
    from monitoring.metrics import PROCESS_METRICS, family_name

    families = {family_name(m) for owned in PROCESS_METRICS.values() for m in owned}
    rules = [r for g in yaml.safe_load((REPO / "monitoring" / "alerts.yml").read_text())["groups"]
             for r in g["rules"]]  # fmt: skip
    read: set[str] = set()
    jobs: set[str] = set()
    for rule in rules:
        for name in re.findall(r"\bpasserelle_[a-z_]+", rule["expr"]):
            family = next((f for f in (name, *(name.removesuffix(s) for s in
                           ("_total", "_bucket", "_count", "_sum"))) if f in families),
                          None)  # fmt: skip
            assert family is not None, (rule["alert"], name)  # a metric nobody declares
            read.add(family)
        jobs |= set(re.findall(r'job="([^"]+)"', rule["expr"]))
    return read, jobs


def _process_of(command: list[str]) -> str | None:
    """The hub process (a key of PROCESS_METRICS) a compose command runs, if any."""
    from monitoring.metrics import PROCESS_METRICS

    words = [str(w) for w in command]
    matches = [p for p in PROCESS_METRICS if words[: len(p.split())] == p.split()]
    return max(matches, key=len, default=None)


def test_every_process_feeding_an_alert_is_scraped(compose: dict[str, Any]) -> None:
    """Each compose service running a hub process whose metrics an alert reads serves
    them (``--metrics-port``, or the worker's web port) and Prometheus scrapes it there;
    every metric an alert reads comes from a scraped service, and every job an alert
    names is a job of the configuration. Before, ``deliver`` and ``sne-poll`` served no
    ``/metrics``: PasserelleWebhookFailing, PasserelleRecordsClosedUndelivered and
    PasserelleSnePollerBehind could never fire (audit L F1)."""
    from monitoring.metrics import PROCESS_METRICS, family_name

    read, jobs = _alerted_families()
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    assert jobs <= {job["job_name"] for job in prometheus["scrape_configs"]}

    def scraped(service: str, port: int) -> bool:
        for job in prometheus["scrape_configs"]:
            for sc in job.get("static_configs", []):
                if f"{service}:{port}" in sc["targets"]:
                    return True
            for sd in job.get("dns_sd_configs", []):
                if service in sd["names"] and sd["port"] == port:
                    return True
        return False

    fed: set[str] = set()
    for name, service in compose["services"].items():
        process = _process_of(service.get("command", []))
        if process is None:
            continue
        feeds = read & {family_name(m) for m in PROCESS_METRICS[process]}
        if not feeds:
            continue
        command = [str(w) for w in service["command"]]
        if process == "worker":
            env = service.get("environment", {})
            port = int(env.get("HUB_WORKER__WEB_PORT", WorkerSettings().web_port))
        else:
            assert "--metrics-port" in command, (
                f"service {name} (hub {process}) feeds {sorted(feeds)} that alerts read, "
                "but serves no /metrics (--metrics-port)")
            port = int(command[command.index("--metrics-port") + 1])
        assert scraped(name, port), (
            f"service {name} (hub {process}) serves {sorted(feeds)} on :{port}, which no "
            "job of deploy/prometheus.yml scrapes")
        fed |= feeds
    assert read - fed == set(), "alerts reading metrics no scraped service exports"


def test_each_worker_replica_has_a_state_folder_of_its_own(compose: dict[str, Any]) -> None:
    """The worker's state folder is ``<HUB_HOME>/faust/<cluster>/w<web port>/<app id>``:
    replicas of one service share the port and the app id, so a named volume at HUB_HOME
    (shared by every replica) gave two workers one RocksDB folder (audit L F7). HUB_HOME
    is an anonymous volume instead: one per replica, kept when compose recreates it."""
    worker = compose["services"]["worker"]
    home = worker.get("environment", compose["x-hub"]["environment"])["HUB_HOME"]
    assert worker["deploy"]["replicas"] >= 2
    mounts = [v if isinstance(v, str) else f"{v.get('source', '')}:{v['target']}"
              for v in worker.get("volumes", [])]  # fmt: skip
    for mount in mounts:
        assert ":" not in mount, f"{mount}: a volume or folder every replica shares"
    assert home in mounts  # its state kept across a container's recreation
