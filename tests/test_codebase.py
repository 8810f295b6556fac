"""The house rules that hold the code base together, checked on every run of the suite.

- ``lib/asd`` has no import cycle (imports inside functions count): data flows one way.
- No module is longer than :data:`MAX_MODULE_LINES` lines and no function body (its docstring
  aside) longer than :data:`MAX_FUNCTION_LINES`: a module does one job, a function one step.
- ``ruff`` (lint and format, configured in ``pyproject.toml``) passes, where it is installed
  (``make test`` installs it from ``requirements.txt``; ``make lint`` runs it alone).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT_ROOT / "lib" / "asd"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = {base} | {f"{base}.{alias.name}" for alias in node.names}
        else:
            continue
        found |= {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
    return found


def test_no_import_cycles():
    modules = _modules()
    edges = {name: _imported(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(edges[name]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(trail[trail.index(target) :] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[name] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_modules_and_functions_stay_small():
    too_long = []
    for _name, path in _modules().items():
        source = path.read_text(encoding="utf-8")
        if (n := len(source.splitlines())) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(PROJECT_ROOT)}: {n} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and len(body) > 1:
                first = body[1]  # the docstring does not count
            length = node.end_lineno - first.lineno + 1
            if length > MAX_FUNCTION_LINES:
                where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
                too_long.append(f"{where} {node.name}: {length} lines (at most {MAX_FUNCTION_LINES})")
    assert not too_long, "\n".join(too_long)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_passes(command):
    beside = Path(sys.executable).parent / "ruff"  # the virtual environment's, which make installs
    ruff = str(beside) if beside.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed in this environment (requirements.txt installs it)")
    done = subprocess.run([ruff, *command, "."], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
