"""The project's layers hold: no import circle inside `conformance/`, and no import climbs back up.

Layers (docs/STYLE, the developers' guide): `bench/`, `reports/` -> `conformance/` -> `clusters/`.
Imports are read from the source with Python's ast (every import, also those inside functions
and `if TYPE_CHECKING:` blocks, since a type-only circle is a circle in the design too);
`from pkg import name` counts as importing `pkg.name` when that is a module, as import-linter does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "reports", "conformance", "clusters", "suites")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
            if ".venv" not in p.parts and "node_modules" not in p.parts}


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules one module imports."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a module a.b.c, or its nearest package
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name, path, project_modules()) for name, path in project_modules().items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_conformance_has_no_import_circle():
    inside = {name: {t for t in targets if t.startswith("conformance.")}
              for name, targets in GRAPH.items() if name.startswith("conformance.")}
    assert circles(inside) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("lower, upper", [("clusters", "conformance"), ("clusters", "bench"), ("clusters", "reports"),
                                          ("conformance", "bench"), ("conformance", "reports"),
                                          ("conformance", "suites"), ("clusters", "suites")])
def test_no_import_climbs_back_up(lower, upper):
    climbing = sorted(f"{name} -> {target}" for name, targets in GRAPH.items()
                      if name.split(".")[0] == lower for target in targets if target.split(".")[0] == upper)
    assert climbing == []


def test_the_kind_provider_uses_the_toolbox_and_nothing_of_the_local_provider():
    borrowed = sorted(f"{name} -> {target}" for name, targets in GRAPH.items()
                      if name.startswith("clusters.kind") for target in targets if target.startswith("clusters.local"))
    assert borrowed == []


def test_the_toolbox_imports_no_provider():
    providers = ("clusters.local", "clusters.kind", "clusters.existing", "clusters.upstream")
    climbing = sorted(f"{name} -> {target}" for name, targets in GRAPH.items()
                      if name.startswith("clusters.toolbox") for target in targets if target.startswith(providers))
    assert climbing == []


def test_the_cluster_packages_import_each_other_in_one_direction():
    """clusters.local, clusters.kind, clusters.toolbox, ...: no package circle (ClusterError once made one)."""
    def package(name: str) -> str:
        return ".".join(name.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        if name.startswith("clusters."):
            packages.setdefault(package(name), set()).update(
                package(t) for t in targets if t.startswith("clusters.") and package(t) != package(name))
    assert circles(packages) == []
