"""One frozen settings object for the whole hub (pydantic-settings).

Environment variables are prefixed ``HUB_`` and nested with ``__``:
``HUB_KAFKA__BOOTSTRAP_SERVERS``, ``HUB_DATABASE__URL``, ``HUB_HOME`` ...
Secrets are :class:`pydantic.SecretStr` so they never print.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    compression_type: str = "lz4"
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
    kafka_heap: str = "1g"


class WorkerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    app_id: str = "passerelle-dispatch"
    #: faust web port for the worker (metrics/health, issue 5)
    web_port: int = 6066
    #: events taken per batch by the dispatch agent
    batch_size: int = 500
    batch_within_s: float = 0.05
    #: consecutive dead letters after which the worker stops instead of dead-lettering all
    max_consecutive_dead_letters: int = 1000


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    #: where the embedded state lives (SQLite file, local stack, faust data)
    home: Path = Field(default=Path(".hub"))
    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    stack: StackSettings = StackSettings()
    worker: WorkerSettings = WorkerSettings()

    @property
    def database_url(self) -> str:
        url = self.database.url.get_secret_value()
        if url:
            return url
        return f"sqlite:///{(self.home / 'hub.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    """The process-wide settings, read once from the environment."""
    return HubSettings()
