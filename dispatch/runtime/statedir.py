"""Where a worker keeps its local state: faust's data directory, which holds the RocksDB
databases of the dispatch state (one per changelog partition).

::

    <home>/faust/<broker cluster id>/w<web port>/<app id>/v1/tables/demande-state-<p>.db

* the broker's cluster id: the state of a wiped or replaced broker is never reused;
* the web port: one folder per worker of a host (RocksDB locks its files; the port is
  unique on a host), so a restarted worker finds its own state again;
* the app id (``worker.app_id``: the consumer group, and the prefix of the changelog topic
  ``<app id>-demande-state-changelog``): a folder holds the state of one changelog only.
  Without it, a worker started with another app id on the same home and port opened the
  other deployment's databases: faust stopped it at every start (ConsistencyError: the
  persisted offsets above the end of its own changelog), or it read the other
  deployment's states (recipients, recent event ids) as its own.

The app id is written as it is when it is made of letters, digits, ``.``, ``_`` and ``-``
(as Kafka names are); any other character is written ``%XX`` (its UTF-8 bytes), and so is
the first character of a name faust's own folders could have (``v1``) or ``.``/``..``.

**Upgrade from the layout without the app id** (``w<port>/v1/...``, before this module).
That folder does not say whose state it holds. A worker that finds one, and no folder of
its own app id yet, moves it into its app id's folder (a rename: nothing is copied or
rebuilt) when the folder proves to hold that app id's state, by what the broker holds
(:func:`changelog_fits`): in every database, the offset faust persisted (the last
changelog record applied) is a record of the app id's changelog, and the database holds
the values of that record and of the ones just before it (:func:`agrees`). Else the
folder is left where it is (another app id's worker moves it at its own start) and the
worker reads its state from its changelog, as on a new machine. Nothing is ever deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hub.core.errors import ConfigError
from hub.core.settings import HubSettings

log = logging.getLogger(__name__)

#: the dispatch state table (dispatch.runtime.app): its databases' file names, its
#: changelog's name after the app id
STATE_TABLE = "demande-state"
#: what faust names the folders it makes in its data directory (``v<app version>``)
_FAUST_ENTRY = re.compile(r"v[0-9]+")
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
#: faust.stores.rocksdb.Store.offset_key (also dispatch.runtime.tablestore)
_OFFSET_KEY = b"__faust\0offset__"

T = TypeVar("T")
#: is the folder of the former layout (argument) the state of this app id?
Ownership = Callable[[Path], bool]


def app_folder(app_id: str) -> str:
    """The folder name of ``app_id``'s state: one name per app id, never one of faust's
    own folder names, never ``.`` or ``..``."""
    if not app_id:
        raise ConfigError("HUB_WORKER__APP_ID is empty: the workers need an app id")
    name = "".join(c if c in _PLAIN else "".join(f"%{b:02X}" for b in c.encode())
                   for c in app_id)  # fmt: skip
    if name in {".", ".."} or _FAUST_ENTRY.fullmatch(name):
        name = f"%{ord(name[0]):02X}{name[1:]}"
    return name


def legacy_entries(port_dir: Path) -> list[Path]:
    """What the former layout left directly in ``w<port>``: faust's ``v<N>`` folders."""
    if not port_dir.is_dir():
        return []
    return sorted(p for p in port_dir.iterdir() if _FAUST_ENTRY.fullmatch(p.name))


def state_dir(settings: HubSettings, cluster: str | None,
              owns: Ownership | None = None) -> Path:  # fmt: skip
    """The worker's data directory (created owner-only), after moving a folder of the
    former layout into it when it holds this app id's state (module docstring). ``owns``
    decides that (default: :func:`changelog_fits`, which asks the broker); it is asked
    only when such a folder exists and the app id has no folder yet."""
    app_id = settings.worker.app_id
    port_dir = settings.home / "faust" / (cluster or "default") / f"w{settings.worker.web_port}"
    datadir = port_dir / app_folder(app_id)
    legacy = legacy_entries(port_dir)
    if legacy and not datadir.exists():
        decide = owns if owns is not None else functools.partial(changelog_fits, settings)
        if decide(port_dir):
            settings.private_dir(datadir)
            for entry in legacy:
                with contextlib.suppress(FileNotFoundError):  # a worker starting alongside
                    os.rename(entry, datadir / entry.name)
            log.warning("worker state of app id %s moved from %s to %s (one folder per app "
                        "id: docs/operations.md, \"Worker state\")", app_id, port_dir,
                        datadir)  # fmt: skip
        else:
            log.warning("%s holds worker state of the former layout that does not match "
                        "%s: left in place (another app id's?); this worker reads its state "
                        "from its changelog (docs/operations.md, \"Worker state\")",
                        port_dir, changelog_topic(app_id))  # fmt: skip
    elif legacy:
        # said at every start while it remains: it holds demands' snapshots (personal data)
        # that no purge reaches (review I, F4)
        log.warning("%s still holds worker state of the former layout (%s), which this "
                    "worker does not use and no purge reaches: remove it once every worker "
                    "of this host runs this release (docs/operations.md, \"Worker state\")",
                    port_dir, ", ".join(sorted(e.name for e in legacy)))  # fmt: skip
    settings.private_dir(datadir)
    return datadir


def changelog_topic(app_id: str) -> str:
    return f"{app_id}-{STATE_TABLE}-changelog"


def databases(folder: Path) -> dict[int, Path]:
    """Partition → database of the state table in the former layout's ``folder``
    (``w<port>``: under its ``v<N>/tables``)."""
    found: dict[int, Path] = {}
    for entry in legacy_entries(folder):
        for db_path in sorted(entry.glob(f"tables/{STATE_TABLE}-*.db")):
            suffix = db_path.name[len(STATE_TABLE) + 1 : -len(".db")]
            if suffix.isdigit():
                found[int(suffix)] = db_path
    return found


def _read(db_path: Path, key: bytes) -> bytes | None:
    """``key``'s value in the database, opened read-only (nothing written, no lock)."""
    from rocksdict import AccessType, Options, Rdict

    db = Rdict(str(db_path), options=Options(raw_mode=True),
               access_type=AccessType.read_only())  # fmt: skip
    try:
        value = db.get(key)
    finally:
        db.close()
    return None if value is None else bytes(value)


def persisted_offsets(dbs: Mapping[int, Path]) -> dict[int, int]:
    """Partition → the offset faust persisted in the partition's database (the last
    changelog record applied), for each database that has one."""
    found: dict[int, int] = {}
    for partition, db_path in dbs.items():
        raw = _read(db_path, _OFFSET_KEY)
        if raw is not None:
            found[partition] = int(raw)
    return found


#: (offset, key, value) of a changelog record
Record = tuple[int, bytes | None, bytes | None]
#: changelog records compared with a database, per partition: those up to its persisted
#: offset (the last ones it applied)
WINDOW = 32


def agrees(persisted: Mapping[int, int], records: Mapping[int, Sequence[Record]] | None,
           value_of: Callable[[int, bytes], bytes | None]) -> bool:  # fmt: skip
    """Whether databases that persisted these offsets hold the state of a changelog whose
    last records up to those offsets are ``records`` (partition → its records at offsets
    ``persisted - WINDOW < offset <= persisted``, in order; ``records`` None: no such
    topic). ``value_of(partition, key)`` reads a database.

    Each persisted offset must be a record of the changelog (faust refuses one past its
    end), and the database must hold, for each key of those records, the last value they
    give it: the last changes it applied. Another app id's database that happens to fit
    the offsets does not hold the same values; a record compacted away, or a later
    change applied but not persisted (a worker killed mid-batch), answers no, and the
    state is read from the changelog instead. Nothing persisted proves nothing."""
    if not persisted or records is None:
        return False
    for partition, offset in persisted.items():
        window = records.get(partition) or ()
        if not window or window[-1][0] != offset:
            return False  # past the end, or compacted away: cannot tell
        last: dict[bytes, bytes | None] = {}
        for _, key, value in window:
            if key is None:
                return False
            last[key] = value
        if any(value_of(partition, key) != value for key, value in last.items()):
            return False
    return True


def changelog_fits(settings: HubSettings, folder: Path) -> bool:
    """:func:`agrees`, for the databases under ``folder`` and the app id's changelog on the
    broker. A folder whose databases cannot be read is not adopted."""
    dbs = databases(folder)
    try:
        persisted = persisted_offsets(dbs)
    except Exception as exc:
        log.warning("worker state under %s unreadable: %s: %s", folder, type(exc).__name__, exc)
        return False
    if not persisted:
        return False
    topic = changelog_topic(settings.worker.app_id)
    records = _run(changelog_records(settings, topic, persisted))
    try:
        return agrees(persisted, records, lambda p, key: _read(dbs[p], key))
    except Exception as exc:
        log.warning("worker state under %s unreadable: %s: %s", folder, type(exc).__name__, exc)
        return False


async def changelog_records(
    settings: HubSettings, topic: str, offsets: Mapping[int, int], timeout_s: float = 10.0
) -> dict[int, list[Record]] | None:
    """Partition → the records of ``topic`` at offsets ``offsets[partition] - WINDOW <
    offset <= offsets[partition]`` (what is left of them), in order; None when the topic
    does not exist. A partition whose end is at or below its offset gets no record."""
    from aiokafka import AIOKafkaConsumer

    from hub.core.kafka.client import client_options, start_client, topic_partitions

    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False,
                                auto_offset_reset="earliest")  # fmt: skip
    await start_client(consumer, settings)
    try:
        partitions = await topic_partitions(consumer, topic)
        if partitions is None:
            return None
        ends = await consumer.end_offsets(partitions)
        found: dict[int, list[Record]] = {p: [] for p in offsets}
        wanted = {tp: offsets[tp.partition] for tp in partitions
                  if tp.partition in offsets and offsets[tp.partition] < ends[tp]}  # fmt: skip
        if not wanted:
            return found
        consumer.assign(list(wanted))
        for tp, offset in wanted.items():
            consumer.seek(tp, max(offset - WINDOW + 1, 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while wanted and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, messages in batches.items():
                if tp not in wanted:
                    continue
                last = wanted[tp]
                found[tp.partition].extend((m.offset, m.key, m.value) for m in messages
                                           if last - WINDOW < m.offset <= last)  # fmt: skip
                if messages and messages[-1].offset >= last:
                    del wanted[tp]
                    consumer.pause(tp)
        return found
    finally:
        await consumer.stop()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, in a thread of its own when this one runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="state-dir-check")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
