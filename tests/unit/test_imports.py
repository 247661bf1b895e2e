"""The services import in any order: no module needs another half-imported.

Each import runs in a fresh interpreter, because a cycle can work in one order (the module
that starts it finishes last) and fail in another; within one test run, whatever some earlier
test imported first would hide it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["services.cancel", "services.llm_client", "services.providers", "services.chat"]


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("module", SERVICES)
def test_each_service_imports_first_in_a_fresh_interpreter(module: str) -> None:
    result = run(f"import {module}")
    assert result.returncode == 0, result.stderr


def test_cancel_is_a_leaf() -> None:
    """services.cancel needs nothing of the app and no SDK, so anything may import it."""
    result = run(
        "import sys, services.cancel\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('services', 'config', 'openai', 'httpx2', 'httpcore2')))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['services',", "'services.cancel']"]


def imported_services(path: Path) -> set[str]:
    """Services modules `path` imports anywhere (in functions too), but not for type checks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("services.")}


def test_no_cycle_among_the_services_even_through_imports_inside_functions() -> None:
    """A function-level import hides a cycle from the fresh-interpreter test until it runs."""
    modules = {
        "services." + ".".join(path.relative_to(ROOT / "services").with_suffix("").parts): path
        for path in (ROOT / "services").rglob("*.py")
    }
    graph = {
        name.removesuffix(".__init__"): imported_services(path) & set(modules)
        for name, path in modules.items()
    }

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for target in sorted(graph.get(path[-1], ())):
            if target == start:
                return [*path, target]
            if target not in path:
                found = cycle_from(start, [*path, target])
                if found:
                    return found
        return None

    cycles = [c for name in sorted(graph) if (c := cycle_from(name, [name]))]
    assert cycles == []


def test_services_import_nothing_of_the_web_layers() -> None:
    """Layers point one way: api/ and callbacks/ use services/, never the reverse, so the
    terminal chat and the operator commands run the same services without Flask or Dash."""
    upward = ("api", "callbacks", "components", "extensions", "chat_app", "flask", "dash")
    found = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name.split(".")[0] in upward
            ]
    assert found == []
