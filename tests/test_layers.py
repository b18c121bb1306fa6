"""The import structure of the library: layers only import downwards, and no module cycle.

Every import is read from the source (AST), function-level and ``TYPE_CHECKING`` imports
included. Layers, bottom to top (a module may import its own layer and the layers below):

    base (sciml, errors, progress, config, executors, fingerprint, locks) -> data -> simulators -> surrogates
    -> uq -> bo -> viz -> studies -> workflows -> bench, cli, testing
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sciml"

#: layers bottom to top; a module belongs to the first layer with a matching prefix
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("sciml.errors", "sciml.progress", "sciml.config", "sciml.executors", "sciml.fingerprint",
              "sciml.locks")),
    ("data", ("sciml.data",)),
    ("simulators", ("sciml.simulators",)),
    ("surrogates", ("sciml.surrogates",)),
    ("uq", ("sciml.uq",)),
    ("bo", ("sciml.bo",)),
    ("viz", ("sciml.viz",)),
    ("studies", ("sciml.studies",)),
    ("workflows", ("sciml.workflows",)),
    ("top", ("sciml.bench", "sciml.cli", "sciml.testing")),
)

#: imports against the layer order still to be removed (issue 14); the list only shrinks
KNOWN_UPWARD: set[tuple[str, str]] = set()
#: module cycles still to be broken (issue 14); each entry is the sorted members of a cycle
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that ``name`` imports anywhere in its source."""
    found: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            candidates = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            # "import sciml.a.b" also runs sciml.a: keep the longest known module name
            parts = candidate.split(".")
            for n in range(len(parts), 0, -1):
                if ".".join(parts[:n]) in known:
                    found.add(".".join(parts[:n]))
                    break
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {name: imported_modules(name, path, known) for name, path in files.items()}


def layer_of(module: str) -> int:
    if module == "sciml":
        return 0
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    found.append(tuple(sorted(members)))
    return found


def without_package_reexports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop the edges between a package's ``__init__`` and its own submodules (re-exports)."""
    files = module_files()

    def is_package(m: str) -> bool:
        return files[m].name == "__init__.py"

    return {m: {d for d in deps
                if not (is_package(m) and d.startswith(m + "."))
                and not (is_package(d) and m.startswith(d + "."))}
            for m, deps in graph.items()}


def test_every_module_belongs_to_a_layer():
    for module in module_files():
        layer_of(module)


def test_imports_follow_the_layer_order():
    upward = {(m, d) for m, deps in import_graph().items() for d in deps if layer_of(d) > layer_of(m)}
    new = sorted(upward - KNOWN_UPWARD)
    assert not new, "imports against the layer order (module -> imported):\n" + "\n".join(
        f"  {m} ({LAYERS[layer_of(m)][0]}) -> {d} ({LAYERS[layer_of(d)][0]})" for m, d in new)
    gone = sorted(KNOWN_UPWARD - upward)
    assert not gone, f"remove these fixed entries from KNOWN_UPWARD: {gone}"


def test_no_import_cycle_between_modules():
    found = set(cycles(without_package_reexports(import_graph())))
    new = sorted(found - KNOWN_CYCLES)
    assert not new, "import cycles:\n" + "\n".join("  " + " <-> ".join(c) for c in new)
    gone = sorted(KNOWN_CYCLES - found)
    assert not gone, f"remove these broken cycles from KNOWN_CYCLES: {gone}"


def test_the_checker_sees_function_level_imports_cycles_and_upward_imports(tmp_path):
    pkg = tmp_path / "sciml"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "a.py").write_text("def f():\n    from sciml.data import b\n")
    (pkg / "data" / "b.py").write_text("from .a import f\nimport sciml.bo.loop\n")
    files = {"sciml.data.a": pkg / "data" / "a.py", "sciml.data.b": pkg / "data" / "b.py"}
    known = {"sciml", "sciml.data", "sciml.data.a", "sciml.data.b", "sciml.bo", "sciml.bo.loop"}
    graph = {m: imported_modules(m, p, known) for m, p in files.items()}
    assert graph == {"sciml.data.a": {"sciml.data", "sciml.data.b"}, "sciml.data.b": {"sciml.data.a", "sciml.bo.loop"}}
    assert cycles({**graph, "sciml.data": set(), "sciml.bo.loop": set()}) == [("sciml.data.a", "sciml.data.b")]
    assert layer_of("sciml.bo.loop") > layer_of("sciml.data.b")


@pytest.mark.parametrize("module", ["sciml.data.schema", "sciml.workflows.runner", "sciml.bench.report"])
def test_layer_of_known_modules(module):
    assert LAYERS[layer_of(module)][0] == module.split(".")[1].replace("bench", "top")
