"""The attestation the SNE answers with ``getNumUnique`` (a PDF), as the client keeps it.

Contracts:

* :class:`Attestation` is the pair the SNE answers: ``name`` (``nomAttestation``) and
  ``pdf`` (``attestation``, received as an MTOM/XOP attachment or inline base64).
  :func:`of_parts` builds it from the response parts; a PDF without a name gets
  ``attestation_<numéro>.pdf``; a non-PDF payload (no ``%PDF-`` header) is
  :class:`~connectors.sne.errors.SneProtocolError`.
* :func:`safe_name` keeps the SNE's name but never lets it choose a folder: the last path
  component only, characters outside ``[A-Za-z0-9._-]`` replaced by ``_``, at most 120
  characters, ``.pdf`` appended when missing, never hidden nor empty.
* :meth:`Attestation.save` writes ``<folder>/<safe name>`` owner-only (0600: it carries
  the applicant's name and address), through a temporary file renamed into place, so a
  reader never sees half a PDF; the same name again replaces the file.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.sne.errors import SneProtocolError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_NAME = 120


def safe_name(name: str, fallback: str) -> str:
    """A file name for ``name`` that stays in its folder (module contract)."""
    base = re.split(r"[\\/]", name.strip())[-1]
    base = _UNSAFE.sub("_", base).lstrip(".")
    if not base:
        base = _UNSAFE.sub("_", fallback).lstrip(".") or "attestation.pdf"
    if not base.lower().endswith(".pdf"):
        base = f"{base[: MAX_NAME - 4]}.pdf"
    return base if len(base) <= MAX_NAME else base[: MAX_NAME - 4] + ".pdf"


@dataclass(frozen=True, slots=True)
class Attestation:
    name: str
    pdf: bytes

    def save(self, folder: Path) -> Path:
        """Write the PDF as ``folder/<name>`` (created owner-only if missing); its path."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = folder / safe_name(self.name, "attestation.pdf")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".attestation-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.pdf)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def of_parts(parts: dict[str, Any], num: str | None) -> Attestation | None:
    """The attestation of a ``getNumUnique`` answer's parts, None when it has none."""
    pdf = parts.get("attestation")
    if not pdf:
        return None
    if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF-"):
        raise SneProtocolError("SNE getNumUnique: the attestation is not a PDF")
    name = str(parts.get("nomAttestation") or "").strip()
    return Attestation(safe_name(name, f"attestation_{num or 'sne'}.pdf"), pdf)
