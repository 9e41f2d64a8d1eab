"""Partners' declarations of cotation criteria (``cotation_declarations``).

Contracts:

* :meth:`DeclarationStore.declare` appends a declaration and returns it with ``True``;
  a retry with a ``declaration_id`` already recorded for the same content returns the
  stored one with ``False`` (nothing written); the same id for other content is a
  :class:`~hub.core.errors.ConflictError` (409). It does not check the grid: the caller does
  (:func:`hub.api.routes_cotation.check_declarable`).
* :meth:`DeclarationStore.in_force` gives, per criterion code, the latest declaration of
  a (demand, EPCI) among those of the demand's life (``created``: the snapshot's
  ``dateCreationDemande``, :func:`hub.domain.cotation.lives.of_life`; audit N, N9) and,
  with ``on``, dated on or before that day (audit N, N10): what
  :func:`hub.domain.cotation.score` takes. A declaration is in force from the day it is
  recorded (``date_declaration``, the Europe/Paris day) until a later one of the same
  criterion replaces it (``valeur=false`` withdraws it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from hub.core.db import write_transaction
from hub.core.errors import ConflictError
from hub.domain.cotation import Declaration
from hub.domain.cotation.lives import of_life
from hub.stores.cotation.tables import cotation_declarations as table


@dataclass(frozen=True, slots=True)
class NewDeclaration:
    num_unique: str
    epci: str
    critere: str
    valeur: bool
    auteur: str
    date_declaration: date
    commentaire: str | None = None
    declaration_id: str | None = None
    #: the life of the demand declared for: its snapshot's ``dateCreationDemande``
    demande_creee: date | None = None

    def same_content(self, row: Any) -> bool:
        return (
            row.num_unique,
            row.epci,
            row.critere,
            bool(row.valeur),
            row.auteur,
            row.commentaire,
        ) == (self.num_unique, self.epci, self.critere, self.valeur, self.auteur, self.commentaire)


def _out(row: Any) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "declarationId": row.declaration_id,
        "numUnique": row.num_unique,
        "epci": row.epci,
        "critere": row.critere,
        "valeur": bool(row.valeur),
        "auteur": row.auteur,
        "dateDeclaration": row.date_declaration.isoformat(),
        "commentaire": row.commentaire,
        "dateCreationDemande": None if row.demande_creee is None else row.demande_creee.isoformat(),
    }


class DeclarationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _by_id(self, declaration_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(table).where(table.c.declaration_id == declaration_id)
            ).first()

    def declare(self, new: NewDeclaration) -> tuple[dict[str, Any], bool]:
        """See the module doc."""
        if new.declaration_id is not None:
            known = self._by_id(new.declaration_id)
            if known is not None:
                return self._replay(new, known)
        values = {
            "declaration_id": new.declaration_id,
            "num_unique": new.num_unique,
            "epci": new.epci,
            "critere": new.critere,
            "valeur": new.valeur,
            "auteur": new.auteur,
            "date_declaration": new.date_declaration,
            "commentaire": new.commentaire,
            "recorded_at": datetime.now(UTC),
            "demande_creee": new.demande_creee,
        }
        try:
            with write_transaction(self.engine) as conn:
                key = conn.execute(table.insert().values(**values)).inserted_primary_key
                assert key is not None
                row = conn.execute(select(table).where(table.c.seq == key[0])).one()
        except IntegrityError:
            # the same id recorded concurrently
            known = self._by_id(new.declaration_id or "")
            if known is None:
                raise
            return self._replay(new, known)
        return _out(row), True

    @staticmethod
    def _replay(new: NewDeclaration, known: Any) -> tuple[dict[str, Any], bool]:
        if not new.same_content(known):
            raise ConflictError(
                f"declarationId {new.declaration_id!r} was used before for another declaration",
                code="declaration_id_reused",
            )
        return _out(known), False

    def in_force(
        self, num_unique: str, epci: str, created: date | None = None, on: date | None = None
    ) -> dict[str, Declaration]:
        """The latest declaration of each criterion of the demand for ``epci``, of the life
        created on ``created``, and dated on or before ``on`` if given (module doc)."""
        q = select(table).where(table.c.num_unique == num_unique, table.c.epci == epci)
        if on is not None:
            q = q.where(table.c.date_declaration <= on)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(table.c.seq)).all()
        return {
            r.critere: Declaration(r.critere, bool(r.valeur), r.auteur, r.date_declaration)
            for r in rows
            if of_life(r.demande_creee, r.date_declaration, created)
        }
