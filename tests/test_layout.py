"""The package layout holds: imports run one way, no import cycles, only the store imports
duckdb, and kernels/ imports only numpy, numba and the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cli", "api", "bench", "ledger", "kernels")
# who may import whom (DESIGN section 2): cli -> {api, bench, ledger}; api, bench -> ledger;
# ledger -> kernels; kernels -> nothing of ours
ALLOWED = {
    "cli": {"cli", "api", "bench", "ledger", "kernels"},
    "api": {"api", "ledger", "kernels"},
    "bench": {"bench", "ledger", "kernels", "api"},  # bench.export times the API's encoders
    "ledger": {"ledger", "kernels"},
    "kernels": {"kernels"},
}
KERNEL_IMPORTS = {"numpy", "numba", "__future__"} | set(sys.stdlib_module_names)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, name: str, is_package: bool) -> list[tuple[str, bool]]:
    """(imported module, at run time) for every import; TYPE_CHECKING blocks are not run."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for child in node.body for n in ast.walk(child))
    base = name.split(".") if is_package else name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) not in typing_only) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(base[: len(base) - node.level + 1] + ([module] if module else []))
            out.append((module, id(node) not in typing_only))
            out += [(f"{module}.{a.name}", id(node) not in typing_only) for a in node.names]
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        deps = set()
        for target, runtime in _imports(path, name, path.name == "__init__.py"):
            if runtime and target in modules and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def test_imports_run_one_way():
    bad = []
    for name, path in _modules().items():
        top = name.split(".")[0]
        for target, _ in _imports(path, name, path.name == "__init__.py"):
            other = target.split(".")[0]
            if other in PACKAGES and other not in ALLOWED[top]:
                bad.append(f"{name} imports {target}")
    assert not bad, bad


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep] if dep in stack else [node, dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_only_the_store_imports_duckdb_and_kernels_stay_pure():
    duckdb_users, kernel_imports = [], []
    for name, path in _modules().items():
        for target, _ in _imports(path, name, path.name == "__init__.py"):
            top = target.split(".")[0]
            if top == "duckdb" and not name.startswith(("ledger.store", "bench")):
                duckdb_users.append(name)
            if name.startswith("kernels") and top not in KERNEL_IMPORTS and top != "kernels":
                kernel_imports.append(f"{name}: {target}")
    assert not duckdb_users, duckdb_users
    assert not kernel_imports, kernel_imports


def test_the_layout_test_sees_a_cycle(tmp_path, monkeypatch):
    """The cycle check can fail: two modules importing each other are found."""
    pkg = tmp_path / "ledger"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from ledger import b\n")
    (pkg / "b.py").write_text("import ledger.a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGES", ("ledger",))
    graph = _graph()
    assert "ledger.b" in graph["ledger.a"] and "ledger.a" in graph["ledger.b"]
