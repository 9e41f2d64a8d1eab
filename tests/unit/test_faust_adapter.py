"""faust confined to its adapter, ``dispatch/runtime/`` (issue 18 point 3).

* No module of the product outside ``dispatch/runtime/`` imports ``faust`` or ``mode``
  (read from the AST: lazy imports and ``TYPE_CHECKING`` imports count too). The checker
  is proven on a small tree of its own, so it cannot pass by finding nothing.
* Every private name of faust, mode, aiokafka the adapter relies on is listed in
  ``dispatch.runtime.private_names``, resolves on the installed libraries, and is found
  where the list says it is used; the installed versions are the ones it was checked
  against.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import re
from functools import cache
from pathlib import Path

import pytest

from dispatch.runtime.private_names import CHECKED_AGAINST, PRIVATE_NAMES, PrivateName

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("hub", "schemas", "dispatch", "connectors", "monitoring")
ADAPTER = "dispatch/runtime"
CONFINED = ("faust", "mode")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST, module: str) -> set[str]:
    """Absolute names of every module ``tree`` imports, wherever the import statement is."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                package = module.split(".")[: -node.level] if node.level else []
                base = ".".join([*package, base] if base else package)
            names.add(base)
    return names


def confined_imports(root: Path, packages: tuple[str, ...], adapter: str) -> list[str]:
    """``module -> faust/mode module`` for each import of a confined library by a module of
    ``packages`` under ``root`` outside ``adapter`` (a folder relative to ``root``)."""
    found: list[str] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if path.is_relative_to(root / adapter):
                continue
            module = module_name(root, path)
            for name in sorted(imported(ast.parse(path.read_text(), str(path)), module)):
                if name.split(".")[0] in CONFINED:
                    found.append(f"{module} -> {name}")
    return found


def test_only_the_adapter_imports_faust_or_mode() -> None:
    assert confined_imports(REPO, PRODUCT, ADAPTER) == []


def test_the_checker_finds_what_it_must(tmp_path: Path) -> None:
    files = {
        "app/__init__.py": "",
        "app/plain.py": "import json\nfrom app.other import x\n",
        "app/eager.py": "import faust\n",
        "app/lazy.py": "def f():\n    from mode import Service\n",
        "app/typing_only.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import faust.types\n"
        ),
        "app/modelike.py": "import modes\nimport faustish\n",  # other libraries: allowed
        "app/runtime/__init__.py": "",
        "app/runtime/adapter.py": "import faust\nfrom mode import Service\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert confined_imports(tmp_path, ("app",), "app/runtime") == [
        "app.eager -> faust",
        "app.lazy -> mode",
        "app.typing_only -> faust.types",
    ]


# -- private names -----------------------------------------------------------------------


def resolve(owner: str) -> object:
    module, _, qualname = owner.partition(":")
    obj: object = importlib.import_module(module)
    for part in filter(None, qualname.split(".")):
        obj = getattr(obj, part)
    return obj


def present(entry: PrivateName) -> bool:
    owner = resolve(entry.owner)
    if entry.kind == "attribute":
        return hasattr(owner, entry.name)
    if entry.kind == "value":
        return bool(getattr(owner, entry.name, object()) == entry.expected)
    source = inspect.getsource(getattr(owner, entry.set_in))
    return re.search(rf"\bself\.{re.escape(entry.name)}\s*(:[^=]*)?=", source) is not None


@pytest.mark.parametrize("entry", PRIVATE_NAMES, ids=lambda e: e.qualified)
def test_each_private_name_exists_on_the_installed_library(entry: PrivateName) -> None:
    assert present(entry), (
        f"{entry.qualified} ({entry.kind}) is gone from the installed library: "
        f"{', '.join(entry.where)} rely on it ({entry.why})"
    )


@pytest.mark.parametrize("entry", PRIVATE_NAMES, ids=lambda e: e.qualified)
def test_each_private_name_is_used_where_listed(entry: PrivateName) -> None:
    for path in entry.where:
        assert entry.name in (REPO / path).read_text(), f"{entry.name} not used in {path}"


def test_the_proof_of_presence_fails_on_a_missing_name() -> None:
    missing = [
        PrivateName("faust.transport.consumer:Consumer", "_no_such_method", "attribute",
                    "", (), ""),
        PrivateName("faust.transport.consumer:Consumer", "_no_such_field", "instance",
                    "", (), ""),
        PrivateName("faust.stores.rocksdb:Store", "offset_key", "value", "", (), "",
                    expected=b"other"),
    ]  # fmt: skip
    assert not any(present(e) for e in missing)


def test_the_installed_versions_are_the_ones_checked() -> None:
    installed = {d: importlib.metadata.version(d) for d in CHECKED_AGAINST}
    assert installed == CHECKED_AGAINST, (
        "faust/mode/aiokafka upgraded: check dispatch/runtime/private_names.py and "
        "docs/faust.md against the new versions, then update CHECKED_AGAINST"
    )


#: adapter files scanned for private names of the libraries
ADAPTER_FILES = tuple(sorted(p.relative_to(REPO).as_posix() for p in (REPO / ADAPTER).glob("*.py")))
#: private names of our own that the libraries happen to use too
OWN = {
    "_config",  # BoundedConsumer's RuntimeConfig
    "_queues",  # BoundedConsumer._queues(): reads FlowControlEvent._queues (listed)
    "_send",
    "_sent",
    "_apply",
    "_db",
    "_queued",
    "_inputs",
    "_delivering",
    "_stray",
    "_contiguity",
    "_side_tasks",
    "_background",
    "_report_removed",
    "_watch_queue_clears",
    "_unqueue",
    "_read_again",
    "_seek_back",
    "_acked_within",
    "_settled",
    "_millis",
    "_wire_evenements",
    "_exit_despite_stuck_clients",
    "_ChangelogStore",
    "_OWN",
    "_FAUST_OFFSET_KEY",
    "_TRANSPORT",
    "_FAUST_CONSUMER",
    "_FAUST_AIOKAFKA",
    "_assigned",  # DispatchSensor's last assignment
    "_exit",  # os._exit (documented)
}


@cache
def library_identifiers() -> frozenset[str]:
    """Every ``_name`` identifier in the sources of faust, mode, aiokafka and asyncio."""
    found: set[str] = set()
    for package in ("faust", "mode", "aiokafka", "asyncio"):
        root = Path(importlib.import_module(package).__file__ or "").parent
        for path in root.rglob("*.py"):
            found.update(re.findall(r"\b(_[A-Za-z]\w*)", path.read_text(errors="replace")))
    return frozenset(found)


def private_names_used(path: Path) -> set[str]:
    """``_name`` attributes read or written, and ``_name`` methods defined in classes."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            names.update(n.name for n in node.body
                         if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))  # fmt: skip
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_every_private_name_of_the_libraries_used_is_listed() -> None:
    listed = {e.name for e in PRIVATE_NAMES}
    unlisted = {
        f"{path}: {name}"
        for path in ADAPTER_FILES
        for name in private_names_used(REPO / path)
        if name in library_identifiers() and name not in listed and name not in OWN
    }
    assert not unlisted, (
        f"list these in dispatch/runtime/private_names.py (or, a name of the adapter's own "
        f"that the libraries happen to use too, in OWN above): {sorted(unlisted)}"
    )


# -- settings through the factory ----------------------------------------------------------


def test_the_factory_hands_the_settings_to_the_transport_not_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faust.transport.drivers import TRANSPORTS

    from dispatch.runtime.app import create_app
    from dispatch.runtime.transport import (
        BoundedConsumer,
        IdempotentProducer,
        RuntimeConfig,
        Transport,
    )
    from hub.core import topics
    from hub.core.settings import HubSettings

    monkeypatch.setenv("HUB_HOME", str(tmp_path))
    monkeypatch.setenv("HUB_WORKER__SHUTDOWN_TIMEOUT_S", "7.5")
    monkeypatch.setenv("HUB_WORKER__FETCH_MAX_WAIT_MS", "40")
    app = create_app(HubSettings())
    config = RuntimeConfig(7.5, 40, frozenset({topics.DEMANDES, topics.EVENEMENTS}))
    for transport in (app.transport, app.producer_transport):
        assert isinstance(transport, Transport) and transport.config == config
    assert isinstance(app.consumer, BoundedConsumer)  # built, never started: no broker
    assert isinstance(app.producer, IdempotentProducer)
    assert app.consumer._config == config
    assert [a for a in vars(app) if a.startswith("passerelle")] == []
    assert "passerelle" not in TRANSPORTS.data  # faust's registry left alone
    # a transport faust would build itself, from the broker URL, fails loudly
    with pytest.raises(Exception, match="passerelle"):
        app._new_transport()
