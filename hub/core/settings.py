"""One frozen settings object for the whole hub (pydantic-settings).

Environment variables are prefixed ``HUB_`` and nested with ``__``:
``HUB_KAFKA__BOOTSTRAP_SERVERS``, ``HUB_DATABASE__URL``, ``HUB_HOME`` ...
Secrets are :class:`pydantic.SecretStr` so they never print.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.core.addresses import DEFAULT_DENY
from hub.core.errors import ConfigError
from hub.core.home import describe_home, find_home


class KafkaSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    bootstrap_servers: str = "127.0.0.1:29092"
    #: SASL (issue 7); empty means PLAINTEXT
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    #: partitions of hub.demandes / hub.evenements (the unit of worker scale-out)
    partitions: int = 4
    replication_factor: int = 1
    #: producer settings chosen for no loss: acks=all + idempotence
    linger_ms: int = 5
    #: none by default: the worker's feed batches hold one or two records each (one
    #: topic per actor), where lz4 saves ~24 % of the bytes but costs ~40 % of the
    #: backfill throughput in hub and broker CPU (docs/performance-history.md, "Compression")
    compression_type: Literal["none", "lz4", "gzip", "snappy", "zstd"] = "none"
    request_timeout_ms: int = 30_000


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    #: SQLAlchemy URL. Empty means the embedded SQLite file ``<home>/hub.db``.
    url: SecretStr = SecretStr("")
    echo: bool = False


class StackSettings(BaseModel):
    """The local development stack started by ``hub stack up``."""

    model_config = ConfigDict(frozen=True)

    kafka_version: str = "4.1.1"
    kafka_port: int = 29092
    controller_port: int = 29093
    #: PostgreSQL of the test stack (``hub stack up --with-postgres``)
    postgres_port: int = 25432
    kafka_heap: str = "1g"
    #: Confluent-compatible schema registry (``hub stack up --with-registry``)
    registry_port: int = 28081


class WorkerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    app_id: str = "passerelle-dispatch"
    #: faust web port for the worker (metrics/health, issue 5)
    web_port: int = 6066
    #: events taken per batch by the dispatch agent
    batch_size: int = 500
    #: how long a batch waits to fill. faust's take_events waits this long on every batch
    #: that is not full, and does not fill the next one while a batch is processed, so the
    #: window adds to every event's latency: 10 ms keeps p99 near 100 ms at 500 events/s
    #: (docs/performance.md); bursts still fill batches of hundreds
    batch_within_s: float = 0.01
    #: how long the broker may hold a fetch of the inputs that finds no new record. The
    #: client keeps one fetch in flight per broker, so records arriving on the other
    #: partitions meanwhile wait for it: faust's 1,500 ms made the end of every burst wait
    #: ~0.7 s (docs/performance.md). 100 ms costs an idle worker ten small requests a second
    fetch_max_wait_ms: int = Field(default=100, ge=1, le=30_000)
    #: consecutive dead letters after which the worker stops instead of dead-lettering all
    #: (the process exits non-zero: a supervisor restarts it; docs/operations.md)
    max_consecutive_dead_letters: int = Field(default=1000, ge=1)
    #: index entries a partition's re-dispatch records examine, shared between the chains
    #: in progress in the partition (fixed in each record when it is written: a replay
    #: examines the same); the rest continues behind the events published meanwhile. A
    #: batch holds one link per partition and chain: 125 × the 4 default partitions is the
    #: 500 entries per batch W4 was measured with (dispatch/redispatch.py; docs/performance.md)
    redispatch_chunk: int = Field(default=125, ge=1, le=100_000)
    #: the largest request of the worker's producer (aiokafka ``max_request_size``, as
    #: aiokafka counts a record: its bytes plus their framing): no record the worker
    #: writes may be larger. Below Kafka's default ``message.max.bytes`` (1,048,588), which
    #: a broker or a feed topic must not set lower (docs/limits.md)
    PRODUCER_MAX_REQUEST_BYTES: ClassVar[int] = 1_000_000
    #: what a feed record adds to its input's bytes: the event's envelope, the demand's
    #: scores (a few kB at most)
    FEED_RECORD_ROOM: ClassVar[int] = 64 * 1024
    #: largest input record value accepted; a larger one is dead-lettered (``oversize``).
    #: A fully populated SNE demand encodes in a few kB (docs/limits.md). Bounded so that
    #: its feed records fit the producer's requests: above, an input accepted here could
    #: not be dispatched at all (the worker dead-letters it ``oversize`` anyway)
    max_record_bytes: int = Field(default=256 * 1024, ge=1024,
                                  le=PRODUCER_MAX_REQUEST_BYTES - FEED_RECORD_ROOM)  # fmt: skip
    #: a worker silent this long leaves the group and its partitions move (kill -9
    #: recovery time); heartbeats run in the background every ``heartbeat_interval_s``
    session_timeout_s: float = 15.0
    heartbeat_interval_s: float = 3.0
    #: where the per-demand dispatch state lives: ``rocksdict`` (RocksDB on disk under
    #: ``<home>/faust/<cluster id>``, bounded memory, fast restarts) or ``memory``
    #: (rebuilt from the whole changelog at each start; ~1 kB of RAM per demand)
    store: Literal["rocksdict", "memory"] = "rocksdict"
    #: how long a stopping worker waits for the broker to acknowledge what it sent (each of:
    #: the batch in flight, faust's wait for its inputs, the producer's flush and stop).
    #: Past it the batch is given up: its inputs stay uncommitted and are dispatched again
    #: at restart (same event ids), so a broker gone for good cannot keep SIGTERM waiting
    shutdown_timeout_s: float = 15.0
    #: a gestion partagée event of a demand the worker does not know yet is parked in its
    #: state until the demand's first event, then delivered (dispatch/parking.py): at most
    #: this many per partition (beyond: hub.dlq, reason ``parking_full``; 0 parks none),
    #: each at most this long (then hub.dlq, reason ``unknown_demande``, at a clock tick)
    parked_evenements_max: int = Field(default=10_000, ge=0, le=100_000)
    parked_evenement_ttl_s: float = Field(default=7 * 86_400, gt=0)


class ClockSettings(BaseModel):
    """The demand's clock (issue 20, dispatch/clock.py): renewal notices and the délai
    anormalement long fire on ``DispatchTick`` records, not on wall time read in the
    processor, so tests move the clock (``hub clock tick --now``) and production ticks."""

    model_config = ConfigDict(frozen=True)

    #: the worker writes a DispatchTick (now = wall time) to each partition assigned to it
    #: every this many seconds; 0 (the default): no timer, ticks only from ``hub clock
    #: tick``. Production sets it (60 in deploy/Dockerfile); off by default so that test
    #: and demo workers, whose demands are dated in the past, send no notice unasked
    tick_interval_s: float = Field(default=0.0, ge=0)
    #: renewal notices, in months before the deadline (0: *échéance dépassée* at it)
    notice_months: tuple[int, ...] = (2, 1, 0)
    #: due entries a tick handles per partition; the rest waits for the next tick
    due_chunk: int = Field(default=5000, ge=1)


class ApiSettings(BaseModel):
    """The partners' REST API (``hub api``) and webhook delivery (issue 4)."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = 8080
    #: master secret from which each actor's webhook HMAC key is derived (never stored)
    webhook_secret: SecretStr = SecretStr("")
    #: push delivery (webhook and SOAP): the deadline of one request, from connecting to
    #: the last byte of the answer (connectors/outbound/bounded_http.py); first and
    #: largest retry delay
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    webhook_backoff_initial_s: float = 1.0
    webhook_backoff_max_s: float = 300.0
    #: ``hub deliver`` (webhook and SOAP push, issue 22 point 4): most actors with a
    #: request in flight at once (each push actor has its own task; a slow receiver
    #: holds one slot), outbox rows read and settled per database transaction, and the
    #: bounds of one request of an actor declaring ``batch: true`` (records, body bytes)
    delivery_concurrency: int = Field(default=64, ge=1, le=10_000)
    delivery_batch_rows: int = Field(default=200, ge=1, le=10_000)
    webhook_batch_max_records: int = Field(default=200, ge=1, le=10_000)
    webhook_batch_max_bytes: int = Field(default=4 << 20, ge=1024, le=256 << 20)
    #: most bytes of a push receiver's answer read (webhook and SOAP; the rest is never
    #: read, the connection is closed): a SOAP answer larger is a transport error,
    #: retried (a Fault is a few kB); a webhook's status is its answer (docs/limits.md)
    delivery_answer_max_bytes: int = Field(default=256 << 10, ge=4096, le=1_000_000)
    #: networks no push receiver (webhook, SOAP) may be in, checked on the URL at
    #: registration and on every address its host resolves to at each connection (a JSON
    #: list of CIDRs; hub.core.addresses). Link-local and unspecified addresses are refused
    #: whatever this says; add private or loopback ranges where no receiver lives there
    #: (docs/operations.md, "Push receivers' addresses")
    push_deny_networks: tuple[IPvAnyNetwork, ...] = tuple(
        ipaddress.ip_network(n) for n in DEFAULT_DENY
    )
    #: Kafka publish timeout of an API call before it answers 503
    publish_timeout_s: float = 15.0
    #: seconds between two passes of ``hub api``'s republisher, which publishes the
    #: gestion partagée events stored but not acknowledged by Kafka (also run at startup)
    republish_interval_s: float = Field(default=30.0, gt=0, le=3600)
    #: largest request body in bytes (docs/limits.md, "REST API"): a larger declared
    #: Content-Length is refused before anything is read, a chunked body as soon as the
    #: bytes read pass it (413). 100 fully populated demands (~10 kB of JSON each) fit
    max_body_bytes: int = Field(default=2 << 20, ge=4096, le=64 << 20)
    #: deepest nesting of arrays and objects in a JSON body, checked before parsing (422);
    #: a batch of demand events nests 9 deep at most
    max_json_depth: int = Field(default=32, ge=8, le=500)
    #: most wished communes in one demand snapshot (422). The SNE's InterfaceNuu 02.01
    #: leaves the list unbounded; the national form asks for a handful, the generator
    #: draws 1 to 8: 100 leaves room for a whole EPCI and bounds the dispatch fan-out
    max_wished_communes: int = Field(default=100, ge=1, le=10_000)


class FilesSettings(BaseModel):
    """Legacy file exchange (``hub files``, docs/connectors-files.md)."""

    model_config = ConfigDict(frozen=True)

    #: root folder of inboxes, outboxes and their state; None means ``<home>/files``
    root: Path | None = None
    #: inbox sources, one folder ``<root>/inbox/<name>`` each (JSON list in the environment)
    sources: tuple[str, ...] = ()
    #: seconds between two passes of ``hub files watch`` / two polls of the outbox
    poll_interval_s: float = 2.0
    #: an inbox file is taken only once its mtime is this many seconds old
    settle_s: float = 2.0
    #: inbox files published per batch (one awaited Kafka flush per batch)
    batch_size: int = 100
    #: timeout of one batch publish, after which the batch is retried later
    publish_timeout_s: float = 30.0
    #: most feed records in one DIS file
    outbox_batch_max: int = 200
    #: seconds between two reads of the registry for file actors (``hub files outbox``)
    outbox_refresh_s: float = 30.0
    #: largest InterfaceNuu XML file taken, in bytes, by the inbox and by ``hub publish``:
    #: a larger one is refused from its size, never read (docs/limits.md)
    max_file_bytes: int = Field(default=2_000_000, ge=1024, le=64_000_000)

    def root_dir(self, home: Path) -> Path:
        return self.root if self.root is not None else home / "files"


class PublishSettings(BaseModel):
    """``hub publish`` of JSON lines (docs/limits.md, "Command line")."""

    model_config = ConfigDict(frozen=True)

    #: longest JSON line in bytes, end of line not counted: a longer line is refused
    #: without being held in memory (an encoded DemandeEvent is capped at 1 MiB anyway)
    max_line_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    #: deepest nesting of arrays and objects in a JSON line, checked before parsing (a
    #: DemandeEvent needs about 8); bounded well under Python's recursion limit
    max_json_depth: int = Field(default=64, ge=8, le=500)


class MonitoringSettings(BaseModel):
    """Metrics and health of the workers (issue 5, docs/operations.md)."""

    model_config = ConfigDict(frozen=True)

    #: a partition with input waiting whose committed offset has not moved for this long
    #: is stalled (/health = 503)
    stall_after_s: float = 60.0
    #: the broker unanswered (committed/end offsets not read) for this long: /health = 503
    broker_unreachable_after_s: float = Field(default=20.0, gt=0)
    #: how often a worker refreshes its lag gauges and stall state
    refresh_interval_s: float = 1.0
    #: interface of the worker's web server (/metrics, /health); 0.0.0.0 in containers
    web_host: str = "127.0.0.1"


class SneSettings(BaseModel):
    """The SNE web services (issue 3, docs/connectors-soap.md): client, gateway, poller."""

    model_config = ConfigDict(frozen=True)

    #: base URL of the services (each at ``<url>/<ServiceName>``): the SNE or the simulator
    #: (``hub sne-simulator`` listens at http://127.0.0.1:8790/sne). Empty: no SNE is
    #: configured (:attr:`configured`): the gateway, the poller and the numbering of new
    #: demands refuse to run
    url: str = ""
    #: timeout of one SOAP call (connect and read), seconds
    timeout_s: float = 30.0
    #: retries after a transport error (never after a SOAP Fault or an anomaly list)
    retries: int = 3
    backoff_s: float = 0.5
    backoff_max_s: float = 10.0
    #: send business XML as MTOM/XOP attachments (as the SNE does); False: inline base64
    mtom: bool = True
    #: TLS client certificate (PEM) and its key, CA bundle to verify the SNE; empty: unused
    cert_file: str = ""
    key_file: str = ""
    key_password: SecretStr = SecretStr("")
    ca_file: str = ""
    #: the hub's guichet code (5 characters) in the documents it writes
    guichet: str = "PASSR"
    #: ``hub sne-simulator`` / ``hub soap-gateway`` listening address
    simulator_port: int = 8790
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8791
    #: base URL clients reach the gateway / simulator at, written in the WSDLs they serve
    #: (``<url>/<Service>``; never taken from a request's Host header). Empty:
    #: ``http://<bind host>:<bind port>/sne`` (a wildcard bind host gives the host name)
    gateway_public_url: str = ""
    simulator_public_url: str = ""
    #: seconds between two passes of ``hub soap-gateway``'s republisher, which publishes the
    #: records owed to Kafka for what the SNE accepted (also run at the gateway's start)
    gateway_republish_interval_s: float = Field(default=30.0, gt=0, le=3600)
    #: poller: INSEE communes of the hub's territory, first dépôt date of the first run
    poll_communes: tuple[str, ...] = ()
    poll_since: str = "2011-01-01"
    #: poller: most demands published before that one pass may find unknown to the SNE
    #: (``NUMINCONNU``: deleted there) and publish as ``SUP``; more is taken for a wrong
    #: ``url`` (another SNE, an empty simulator): no ``SUP`` then, the pass says so
    poll_max_deletions: int = Field(default=100, ge=0)

    @property
    def configured(self) -> bool:
        """Whether an SNE (or simulator) is configured: ``url`` is not empty."""
        return bool(self.url.strip())


class KafkaSecuritySettings(BaseModel):
    """Per-actor isolation on Kafka (issue 7, docs/reliability.md): when ``enabled``,
    registering an actor creates its SCRAM credentials and its READ-only ACLs. The hub
    itself authenticates with ``kafka.sasl_username`` / ``kafka.sasl_password``."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = False
    #: secret from which each actor's SCRAM password is derived (never stored)
    actor_secret: SecretStr = SecretStr("")
    scram_iterations: int = 8192
    #: CA certificate (PEM) the broker's certificate must chain to; set: every client of
    #: the hub connects over TLS (SASL_SSL with a SASL user, else SSL) and verifies the
    #: broker's name; empty: no TLS (``hub stack up --secure`` writes it in secure.env)
    ssl_cafile: str = ""
    #: a SASL user (``kafka.sasl_username``) without ``ssl_cafile`` is SASL_PLAINTEXT: the
    #: records, personal data, cross the network in clear. Refused at start unless this is
    #: set, for a network the deployment trusts (hub.core.kafka.tls.security_protocol)
    allow_sasl_plaintext: bool = False
    #: client quotas of each actor's SCRAM user, set when its identity is provisioned
    #: (hub.core.kafka.quotas; 0: none): bytes/s it may fetch and produce (actors have no
    #: WRITE ACL: the producer quota bounds what refused attempts cost), and share of the
    #: broker's request threads in percent of one thread
    actor_consumer_byte_rate: int = Field(default=4 * 1024 * 1024, ge=0)
    actor_producer_byte_rate: int = Field(default=64 * 1024, ge=0)
    actor_request_percentage: float = Field(default=25.0, ge=0)


class StatisticsSettings(BaseModel):
    """The statistics fold (``hub stats fold``, docs/statistics.md): a consumer of
    hub.demandes of its own group folding each demand into the facts table."""

    model_config = ConfigDict(frozen=True)

    #: the fold's consumer group (its offsets are its own, apart from the workers')
    group: str = "passerelle-statistics"
    #: most records folded per database transaction
    batch_max_records: int = Field(default=500, ge=1, le=100_000)
    #: back-off after a broker or database outage (hub.core.backoff)
    backoff_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)


class RegistrySettings(BaseModel):
    """The optional Confluent-compatible schema registry of the feeds (docs/consumers.md):
    with ``wire_format="confluent"`` the worker registers FeedRecord at start-up and
    writes every feed record as ``00`` + schema id + Avro body (hub.core.schema_registry)."""

    model_config = ConfigDict(frozen=True)

    #: base URL of its Confluent-compatible API, e.g. Apicurio's
    #: ``http://127.0.0.1:28081/apis/ccompat/v7``; empty: no registry
    url: str = ""
    #: ``single_object`` (the default: C3 01 + fingerprint) or ``confluent``
    wire_format: Literal["single_object", "confluent"] = "single_object"
    #: one HTTP request; and how long the start-up registration keeps retrying
    request_timeout_s: float = Field(default=5.0, gt=0)
    register_timeout_s: float = Field(default=60.0, gt=0)


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    #: where the embedded state lives (SQLite file, local stack, faust data): HUB_HOME, else
    #: the nearest ``.hub`` from the current directory upward, else ``./.hub`` (hub.core.home)
    home: Path = Field(default_factory=find_home)
    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    stack: StackSettings = StackSettings()
    worker: WorkerSettings = WorkerSettings()
    clock: ClockSettings = ClockSettings()
    sne: SneSettings = SneSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    files: FilesSettings = FilesSettings()
    publish: PublishSettings = PublishSettings()
    api: ApiSettings = ApiSettings()
    kafka_security: KafkaSecuritySettings = KafkaSecuritySettings()
    registry: RegistrySettings = RegistrySettings()
    statistics: StatisticsSettings = StatisticsSettings()

    def private_dir(self, path: Path) -> Path:
        """Create folder ``path`` owner-only (0700), and set the folders from ``home`` down
        to ``path`` to 0700 when ``path`` is under ``home``, ``home`` itself to
        :func:`hub.core.private.home_mode` (0700; 0711 as root): the hub's home holds personal
        data (registry, worker state, broker data)."""
        from hub.core.private import home_mode, private_dir

        return private_dir(path, base=self.home, base_mode=home_mode())

    @property
    def database_url(self) -> str:
        url = self.database.url.get_secret_value()
        if url:
            return url
        return f"sqlite:///{(self.home / 'hub.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    """The process-wide settings, read once from the environment (the home they found is
    logged at INFO: ``hub -v``). A value they refuse raises :class:`ConfigError` in one
    line naming the variable, never its value."""
    try:
        settings = HubSettings()
    except ValidationError as exc:
        raise ConfigError(describe_invalid(exc)) from None
    logging.getLogger(__name__).info("home %s", describe_home(settings))
    return settings


def describe_invalid(exc: ValidationError) -> str:
    """One line for refused settings: the first variable and why, and how many more."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    name = "HUB_" + "__".join(str(part) for part in first["loc"]).upper()
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid setting {name}: {first['msg']}{more}"
