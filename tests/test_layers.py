"""The package's import graph, read from the source with ``ast``: no import circle
between tidehash modules (counting imports inside functions, which only hide one),
and no module reaching into another for a private name."""

from __future__ import annotations

import ast
import pathlib

import tidehash

SRC = pathlib.Path(tidehash.__file__).parent
#: compiled modules: imported, but they import nothing of ours
NATIVE = {"tidehash._native"}


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = ("tidehash",) + path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: pathlib.Path):
    """(imported module, imported name or None) for every import in the module,
    wherever it stands; ``from pkg import sub`` counts as importing pkg.sub."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES or sub in NATIVE:
                    yield sub, None
                else:
                    yield target, alias.name


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _ in _imports(name, path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    graph = _graph()
    assert "tidehash.formats.binary" in graph["tidehash.formats"]
    assert "tidehash.index" in graph["tidehash.match"]
    assert "tidehash.formats.detect" in graph["tidehash.index"]


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_circle():
    assert _cycles(_graph()) == []


def test_no_private_name_imported_across_modules():
    """``from .x import _name`` means a name meant for x alone is used elsewhere:
    such names get a package-internal public name instead."""
    found = []
    for name, path in MODULES.items():
        for target, imported in _imports(name, path):
            if imported and imported.startswith("_") and not imported.startswith("__") \
                    and target.startswith("tidehash") and target != name:
                found.append(f"{name}: from {target} import {imported}")
    assert found == []


def test_moved_names_still_import_from_where_they_were():
    """Names that moved to their own room are still found at their old address."""
    from tidehash import formats, image, pdq, video
    from tidehash.formats import binary, model
    from tidehash.formats import vpdq as vpdq_io
    from tidehash.video import parse_vpdq, vpdq_from_json  # noqa: F401

    for name in ("format_vpdq", "iter_vpdq", "parse_vpdq", "read_vpdq", "vpdq_from_json",
                 "vpdq_to_json", "write_vpdq"):
        assert getattr(video, name) is getattr(vpdq_io, name)
    assert video.VPDQFeature is tidehash.VPDQFeature is tidehash.hashes.VPDQFeature
    assert pdq.check_pixel_array is image.check_pixel_array
    assert pdq.load_pil is image.load_pil
    assert binary.sorted_rows is model.sorted_rows
    assert callable(formats.is_regular_list_file)
    assert not hasattr(video, "no_such_name")


# ----------------------------------------------------------------------------- the registry
#: what the registry's server needs (the ``registry`` extra); the engine and the clients
#: that run on a person's device must not import any of it
SERVER_PACKAGES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "psycopg", "alembic",
                   "pydantic", "httpx")
#: the parts of tidehash.registry that run on a person's or a platform's machine
REGISTRY_CLIENT = ("tidehash.registry", "tidehash.registry.client", "tidehash.registry.pow",
                   "tidehash.registry.wire", "tidehash.registry.listsync",
                   "tidehash.registry.sources", "tidehash.registry.sources.base",
                   "tidehash.registry.sources.ncmec", "tidehash.registry.sources.stopncii",
                   "tidehash.registry.sources.tidehash")
#: the protocols of the lists a platform follows: the standard library and tidehash only
SOURCES = [name for name in REGISTRY_CLIENT if name.startswith("tidehash.registry.sources")]


def _top_level_imports(path: pathlib.Path) -> set[str]:
    """Modules imported at module level (not inside a function)."""
    out = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module)
    return out


#: engine modules that run the registry, importing it only inside their functions: the
#: command line (``serve``, ``submit``, ...) and the registry's benchmark
REGISTRY_USERS = ("tidehash.cli", "tidehash.bench.registry")


def test_the_engine_never_imports_the_registry():
    found = [f"{name} -> {target}" for name, path in MODULES.items()
             if not name.startswith(("tidehash.registry",) + REGISTRY_USERS)
             for target, _ in _imports(name, path) if target.startswith("tidehash.registry")]
    assert found == []


def test_the_command_line_imports_the_registry_only_inside_commands():
    """``tidehash --help``, the engine's commands and ``tidehash bench`` load no server
    dependency."""
    assert "tidehash.bench.registry" in MODULES
    found = [f"{name} -> {target}" for name, path in MODULES.items()
             if name.startswith(REGISTRY_USERS)
             for target in _top_level_imports(path)
             if target.startswith(("tidehash.registry",) + SERVER_PACKAGES)]
    assert found == []


def test_the_registry_clients_need_no_server_dependency():
    assert "tidehash.registry.pow" in MODULES
    found = []
    for name in REGISTRY_CLIENT:
        if name not in MODULES:
            continue
        for target, _ in _imports(name, MODULES[name]):
            if target.split(".")[0] in SERVER_PACKAGES or \
                    target.startswith("tidehash.registry.server"):
                found.append(f"{name} -> {target}")
    assert found == []


def test_the_sources_import_only_the_standard_library_and_tidehash():
    import sys

    # Python 3.9 has no sys.stdlib_module_names: the modules the sources use then
    stdlib = getattr(sys, "stdlib_module_names", None) or {
        "base64", "collections", "dataclasses", "datetime", "hashlib", "http", "json",
        "os", "stat", "time", "urllib", "xml"}
    assert all(name in MODULES for name in SOURCES)
    found = [f"{name} -> {target}" for name in SOURCES
             for target, _ in _imports(name, MODULES[name])
             if not (target.split(".")[0] in stdlib
                     or target == "__future__"
                     or (target.startswith("tidehash")
                         and not target.startswith("tidehash.registry.server")))]
    assert found == []


# ----------------------------------------------------------------------------- the scan
#: what the back-scan needs (the ``scan`` extra): the engine must not import any of it
SCAN_PACKAGES = ("pyarrow", "fsspec", "dask", "distributed")
#: the modules that may import tidehash.scan
SCAN_USERS = ("tidehash.scan", "tidehash.cli.scan", "tidehash.bench.scan")


def test_the_engine_never_imports_the_scan():
    """Only tidehash.scan itself, the command line's scan command (inside its
    functions) and its benchmark import tidehash.scan; nothing else imports the scan
    extra."""
    assert "tidehash.scan.run" in MODULES and "tidehash.cli.scan" in MODULES
    found = [f"{name} -> {target}" for name, path in MODULES.items()
             if not name.startswith(SCAN_USERS)
             for target, _ in _imports(name, path)
             if target.startswith("tidehash.scan") or target.split(".")[0] in SCAN_PACKAGES]
    assert found == []


def test_the_scan_loads_its_extra_only_when_it_runs():
    """``import tidehash.scan`` and ``tidehash --help`` load none of the scan extra
    (each module imports it inside the functions that use it)."""
    found = [f"{name} -> {target}" for name, path in MODULES.items()
             if name.startswith(("tidehash.scan", "tidehash.cli"))
             for target in _module_level_targets(name, path)
             if target.split(".")[0] in SCAN_PACKAGES or
             (name.startswith("tidehash.cli") and target.startswith("tidehash.scan"))]
    assert found == []
    # the check sees relative imports: the scan's own, at module level
    assert "tidehash.scan.run" in _module_level_targets(
        "tidehash.scan.matching", MODULES["tidehash.scan.matching"])


def _module_level_targets(name: str, path: pathlib.Path) -> set[str]:
    """Modules imported at module level, relative imports resolved (``_imports``
    restricted to the module's body)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                out.add(".".join(base + ([node.module] if node.module else [])))
            else:
                out.add(node.module or "")
    return out
