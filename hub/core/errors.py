"""The hub's one error family.

Every error the hub raises on purpose derives from :class:`HubError`. ``retriable`` says
whether the same call may succeed later unchanged (a broker or database outage) or never
will (bad input, a business rule). Retry loops test this flag and nothing else.
Messages never carry personal data (names, birth dates, NIR): they name fields and codes.
"""

from __future__ import annotations


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    retriable: bool = False
    #: short machine-readable reason, used as DLQ reason and metric label
    code: str = "hub_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InputError(HubError):
    """Input that can never be accepted as it is (bad format, unknown code...)."""

    code = "invalid_input"


class DecodeError(InputError):
    """Bytes that are not a message of one of our schemas."""

    code = "undecodable"


class UnknownCommuneError(InputError):
    """An INSEE commune code absent from the geography table."""

    code = "unknown_commune"


class InvalidNumUniqueError(InputError):
    """A numéro unique that does not match any accepted pattern."""

    code = "invalid_num_unique"


class UnrenderableError(InputError):
    """A record a channel's format cannot hold as it is (a character XML 1.0 cannot
    carry, a date outside its years): that channel closes it with this reason, unsent,
    and goes on with the next record (:mod:`hub.domain.carriable`)."""

    code = "unrenderable"


class NotFoundError(HubError):
    """The named object (actor, demand...) does not exist."""

    code = "not_found"


class ConfigError(HubError):
    """Settings or environment that prevent the hub from running."""

    code = "config"


class TransientError(HubError):
    """A dependency is unavailable for now (broker, database, remote service)."""

    retriable = True
    code = "transient"


class KafkaUnavailableError(TransientError):
    """No Kafka broker answers at ``bootstrap_servers`` (down, wrong address, no start in
    time). The message names no address (it may reach an API client); the CLI tells a
    person where Kafka was looked for and how to start it
    (:func:`hub.core.kafka.client.unavailable_message`)."""

    code = "kafka_unavailable"

    def __init__(self, message: str, *, bootstrap_servers: str = "",
                 code: str | None = None) -> None:  # fmt: skip
        super().__init__(message, code=code)
        self.bootstrap_servers = bootstrap_servers


class ConflictError(HubError):
    """The same id was used before for different content (issue 4)."""

    code = "conflict"


class AuthenticationError(HubError):
    """No valid credentials (missing, unknown, revoked API key)."""

    code = "unauthenticated"


class ForbiddenError(HubError):
    """Valid credentials, but the actor's registration does not allow this."""

    code = "forbidden"


class PublishError(TransientError):
    """Kafka did not acknowledge a publication the hub owes (a broker outage, a refused
    record). Carries the ids the hub drew for what was sent, so the client's retry can
    name them and be the same request rather than a new one: ``event_ids`` (every event of
    the request, in order) and ``decision_id`` (a CAL decision). The API answers 503 with
    them in the body (``eventIds``, ``decisionId``)."""

    def __init__(self, message: str, *, event_ids: tuple[str, ...] = (),
                 decision_id: str | None = None, code: str | None = None) -> None:  # fmt: skip
        super().__init__(message, code=code)
        self.event_ids = event_ids
        self.decision_id = decision_id
