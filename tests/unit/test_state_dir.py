"""The worker's local state folder is per app id (independent audit G, G1), and a folder of
the former layout (``w<port>`` without the app id) is moved to its app id at the upgrade,
or left alone when it is not that app id's (dispatch/runtime/statedir.py).

The real runs (two app ids on one home and port, the upgrade on a real broker):
tests/integration/test_state_dir_kafka.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.runtime.statedir import (
    agrees,
    app_folder,
    databases,
    persisted_offsets,
    state_dir,
)
from hub.core.errors import ConfigError
from hub.core.settings import HubSettings, WorkerSettings

OFFSET_KEY = b"__faust\0offset__"


def settings_for(home: Path, app_id: str, port: int = 6066) -> HubSettings:
    return HubSettings(home=home, worker=WorkerSettings(app_id=app_id, web_port=port))


def make_db(path: Path, items: dict[bytes, bytes]) -> None:
    """A RocksDB written as faust's store writes it (rocksdict, raw mode)."""
    from rocksdict import Options, Rdict

    path.parent.mkdir(parents=True, exist_ok=True)
    db = Rdict(str(path), options=Options(raw_mode=True))
    for key, value in items.items():
        db.put(key, value)
    db.close()


def test_two_app_ids_on_one_home_and_port_get_different_state_folders(tmp_path: Path) -> None:
    """The defect: the folder was <home>/faust/<cluster>/w<port> whatever the app id, so a
    worker of app id B opened the RocksDB of app id A (ConsistencyError at every start, or
    A's states read as B's)."""
    from dispatch.runtime.app import create_app

    home = tmp_path / "home"
    a = create_app(settings_for(home, "deployment-a"), cluster="c1")
    b = create_app(settings_for(home, "deployment-b"), cluster="c1")
    dir_a, dir_b = Path(a.conf.datadir), Path(b.conf.datadir)
    assert dir_a != dir_b
    assert dir_a not in dir_b.parents and dir_b not in dir_a.parents
    assert dir_a.is_dir() and dir_b.is_dir()
    # same cluster and port: the app id is what tells them apart
    assert dir_a.parent == dir_b.parent == home / "faust" / "c1" / "w6066"
    # and faust's tables live under each one
    assert Path(a.conf.tabledir).is_relative_to(dir_a)
    assert Path(b.conf.tabledir).is_relative_to(dir_b)


@pytest.mark.parametrize(
    ("app_id", "folder"),
    [
        ("passerelle-dispatch", "passerelle-dispatch"),
        ("a.b_c-1", "a.b_c-1"),
        ("a/b", "a%2Fb"),
        ("..", "%2E."),
        (".", "%2E"),
        ("v1", "%761"),  # faust's own folder name in the former layout
        ("v12", "%7612"),
        ("v", "v"),
        ("é", "%C3%A9"),
        ("a%2Fb", "a%252Fb"),
    ],
)
def test_app_folder_names(app_id: str, folder: str) -> None:
    assert app_folder(app_id) == folder


def test_app_folder_is_one_name_per_app_id() -> None:
    ids = ["a/b", "a%2Fb", "a%252Fb", "v1", "%761", ".", "%2E", "..", "%2E.", "x", "X"]
    assert len({app_folder(i) for i in ids}) == len(ids)


def test_an_empty_app_id_is_refused() -> None:
    with pytest.raises(ConfigError):
        app_folder("")


def _legacy(home: Path, port: int = 6066) -> Path:
    """A folder of the former layout: <home>/faust/c1/w<port>/v1/tables/... with the
    databases of two partitions (persisted offsets 7 and 3)."""
    port_dir = home / "faust" / "c1" / f"w{port}"
    tables = port_dir / "v1" / "tables"
    make_db(tables / "demande-state-0.db", {OFFSET_KEY: b"7", b"0123456789": b"state-0"})
    make_db(tables / "demande-state-2.db", {OFFSET_KEY: b"3", b"9876543210": b"state-2"})
    (tables / "demande-state-backups").mkdir()
    return port_dir


def test_a_former_folder_that_is_the_app_ids_is_moved_not_rebuilt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port_dir = _legacy(home)
    inode = (port_dir / "v1" / "tables" / "demande-state-0.db").stat().st_ino
    asked: list[Path] = []

    def owns(folder: Path) -> bool:
        asked.append(folder)
        return True

    datadir = state_dir(settings_for(home, "passerelle-dispatch"), "c1", owns=owns)
    assert asked == [port_dir]
    assert datadir == port_dir / "passerelle-dispatch"
    moved = datadir / "v1" / "tables" / "demande-state-0.db"
    assert moved.stat().st_ino == inode  # renamed, not copied
    assert not (port_dir / "v1").exists()
    assert persisted_offsets({0: moved}) == {0: 7}
    assert (datadir / "v1" / "tables" / "demande-state-backups").is_dir()
    assert oct(datadir.stat().st_mode & 0o777) == oct(0o700)
    # the next start finds its folder: nothing asked, nothing moved
    assert state_dir(settings_for(home, "passerelle-dispatch"), "c1", owns=owns) == datadir
    assert asked == [port_dir]


def test_a_former_folder_of_another_app_id_is_left_in_place(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port_dir = _legacy(home)
    datadir = state_dir(settings_for(home, "other-app"), "c1", owns=lambda _: False)
    assert datadir == port_dir / "other-app"
    assert datadir.is_dir() and not any(datadir.iterdir())  # its state: from its changelog
    assert persisted_offsets(databases(port_dir)) == {0: 7, 2: 3}  # untouched
    # its own app id moves it later
    mine = state_dir(settings_for(home, "passerelle-dispatch"), "c1", owns=lambda _: True)
    assert persisted_offsets(databases(mine)) == {0: 7, 2: 3}  # same layout below the app id
    assert legacy_left(port_dir) == []


def legacy_left(port_dir: Path) -> list[str]:
    return sorted(p.name for p in port_dir.iterdir() if p.name.startswith("v"))


def test_an_app_id_with_its_folder_never_takes_a_former_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port_dir = _legacy(home)
    (port_dir / "passerelle-dispatch").mkdir()

    def owns(folder: Path) -> bool:
        raise AssertionError("not asked")

    state_dir(settings_for(home, "passerelle-dispatch"), "c1", owns=owns)
    assert legacy_left(port_dir) == ["v1"]


def test_no_former_folder_nothing_asked(tmp_path: Path) -> None:
    def owns(folder: Path) -> bool:
        raise AssertionError("not asked")

    datadir = state_dir(settings_for(tmp_path / "home", "x", port=7001), None, owns=owns)
    assert datadir == tmp_path / "home" / "faust" / "default" / "w7001" / "x"
    assert datadir.is_dir()


def test_persisted_offsets_are_read_without_changing_the_databases(tmp_path: Path) -> None:
    port_dir = _legacy(tmp_path / "home")

    def files() -> dict[Path, tuple[bytes, int]]:
        return {p: (p.read_bytes(), p.stat().st_mode) for p in port_dir.rglob("*") if p.is_file()}

    before = files()
    assert sorted(databases(port_dir)) == [0, 2]
    assert persisted_offsets(databases(port_dir)) == {0: 7, 2: 3}
    assert files() == before  # (rocksdict rewrites its config file as it was)


# -- whose state is it: what the broker holds -------------------------------------------
DB = {0: {b"K0": b"v0", b"K1": b"w1"}, 2: {b"K2": b"v2"}}
MINE = {0: [(5, b"K1", b"v1"), (6, b"K1", b"w1"), (7, b"K0", b"v0")], 2: [(3, b"K2", b"v2")]}


def value_of(partition: int, key: bytes) -> bytes | None:
    return DB[partition].get(key)


def test_agrees_when_the_database_holds_the_last_values_of_its_changelog() -> None:
    assert agrees({0: 7, 2: 3}, MINE, value_of)


@pytest.mark.parametrize(
    ("records", "why"),
    [
        (None, "no changelog topic: the app id never ran on this broker"),
        ({0: [], 2: MINE[2]}, "offset 7 past the end of partition 0 (faust's crash)"),
        ({0: MINE[0][:2], 2: MINE[2]}, "offset 7 compacted away: cannot tell"),
        ({0: [*MINE[0][:2], (7, b"K0", b"other")], 2: MINE[2]}, "another changelog's value"),
        ({0: [(6, b"K1", b"v1"), (7, b"K0", b"v0")], 2: MINE[2]},
         "the record before differs: another changelog that ends the same"),
        ({0: [*MINE[0][:2], (7, b"K5", b"v0")], 2: MINE[2]}, "a key the database lacks"),
        ({2: MINE[2]}, "partition 0 not in the topic"),
    ],
)  # fmt: skip
def test_does_not_agree(records: dict[int, list[tuple[int, bytes, bytes]]] | None,
                        why: str) -> None:  # fmt: skip
    assert not agrees({0: 7, 2: 3}, records, value_of), why


def test_a_tombstone_agrees_with_an_absent_key() -> None:
    assert agrees({0: 7}, {0: [(6, b"K0", b"v0"), (7, b"K0", None)]},
                  lambda p, key: None)  # fmt: skip


def test_nothing_persisted_proves_nothing() -> None:
    assert not agrees({}, MINE, value_of)


# -- the series alerts need, from the worker's start (G2, G3) ---------------------------
def test_a_new_sensor_exports_the_series_the_alerts_need() -> None:
    """A worker's labelled counters had no series before their first increment (increase()
    never counts a series' first value), and its last-event gauge none before its first
    record (PasserelleNoProgress could not fire for a worker that never finished one)."""
    from dispatch.runtime.sensor import DispatchSensor
    from monitoring import metrics as m
    from monitoring.recorder import DEAD_LETTER_REASONS

    DispatchSensor(group="g", agents={"hub.demandes": "dispatch-state-dir-test"},
                   stall_after_s=6)  # fmt: skip
    value = m.REGISTRY.get_sample_value
    for topic in ("hub.demandes", "hub.evenements"):
        assert value("passerelle_input_records_removed_total", {"topic": topic}) is not None
    for reason in DEAD_LETTER_REASONS:
        assert value("passerelle_dead_letters_total", {"reason": reason}) is not None
    started = value("process_start_time_seconds")
    assert started is not None
    assert (
        value("passerelle_agent_last_event_timestamp_seconds", {"agent": "dispatch-state-dir-test"})
        == started
    )


def test_a_former_folder_left_is_said_at_every_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """Review I, F4: a former-layout folder no app id took holds demands' snapshots no
    purge reaches: said at every start, not only the first."""
    home = tmp_path / "home"
    port_dir = _legacy(home)
    for _ in range(3):
        caplog.clear()
        with caplog.at_level("WARNING", logger="dispatch.runtime.statedir"):
            state_dir(settings_for(home, "other-app"), "c1", owns=lambda _: False)
        assert any(str(port_dir) in r.getMessage() for r in caplog.records), caplog.text
    assert legacy_left(port_dir) == ["v1"]
