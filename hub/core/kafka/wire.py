"""Kafka admin requests aiokafka has no client for (SCRAM credentials in
:mod:`hub.core.kafka.acl`, client quotas in :mod:`hub.core.kafka.quotas`), declared with
aiokafka's protocol types.

:func:`flexible_request` makes the request class of one flexible version of one API from
its key, version and the two schemas: ``Request(*fields)`` sends the fields in the
request schema's order (its trailing tagged fields are added). :func:`check_errors`
turns the first error code a response reports into a retriable
:class:`~hub.core.errors.TransientError`.
"""

from __future__ import annotations

from typing import Any

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Schema

from hub.core.errors import TransientError


def flexible_request(name: str, api_key: int, api_version: int, *, request: Schema,
                     response: Schema) -> type[Request[Any]]:  # fmt: skip
    """The request class ``name`` (see the module doc)."""
    answer = type(f"{name}Response", (Response,),
                  {"API_KEY": api_key, "API_VERSION": api_version, "SCHEMA": response})  # fmt: skip
    struct = type(f"{name}Struct", (RequestStruct,),
                  {"FLEXIBLE_VERSION": True, "API_KEY": api_key, "API_VERSION": api_version,
                   "RESPONSE_TYPE": answer, "SCHEMA": request})  # fmt: skip

    class _Request(Request[struct]):  # type: ignore[misc]
        API_KEY = api_key

        def __init__(self, *fields: Any) -> None:
            self._fields = fields

        def build(self, request_struct_class: type[RequestStruct]) -> RequestStruct:
            return request_struct_class(*self._fields, {})

    _Request.__name__ = _Request.__qualname__ = name
    return _Request


def check_errors(errors: list[tuple[int, str | None]], what: str) -> None:
    """Raise on the first non-zero ``(error code, message)``: ``<what> refused by Kafka``."""
    bad = [(code, msg) for code, msg in errors if code]
    if bad:
        code, msg = bad[0]
        raise TransientError(f"{what} refused by Kafka (error {code}: {msg or 'no message'})")
