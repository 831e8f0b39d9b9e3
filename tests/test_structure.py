"""The shape of harness/: one sub-package per job, imports one way, no plugin named, small files and functions.

Read off the source (AST), every import included: module level, inside functions (lazy) and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"
TOP_LEVEL_FILES = {"__init__.py", "cli.py", "quickstart.py"}
SUB_PACKAGES = {"api", "records", "config", "run", "measure", "report"}
# api <- records <- config <- run <- measure: a package may import its own and those before it
CHAIN = ("api", "records", "config", "run", "measure")
# report renders records: it reads api, records and config, never run or measure
ALLOWED = {name: set(CHAIN[: i + 1]) for i, name in enumerate(CHAIN)} | {
    "report": {"api", "records", "config", "report"}
}
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 52  # "about 50"; measure.timing.measure is 52


def harness_modules() -> list[Path]:
    return sorted(HARNESS.rglob("*.py"))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # "module:function" targets (cli's command table, registry base classes); an entry-point group name
            # ("adaptbench.methods", no colon) names no module to import
            if node.value.startswith("adaptbench.") and ":" in node.value and " " not in node.value:
                found.append((node.lineno, node.value.partition(":")[0]))
    return found


def package_of(path: Path) -> str | None:
    parts = path.relative_to(HARNESS).parts
    return parts[0] if len(parts) > 1 else None


def test_harness_holds_only_the_entry_points_and_sub_packages():
    files = {p.name for p in HARNESS.iterdir() if p.is_file() and p.suffix == ".py"}
    folders = {p.name for p in HARNESS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert files == TOP_LEVEL_FILES
    assert folders == SUB_PACKAGES
    assert all((HARNESS / name / "__init__.py").is_file() for name in SUB_PACKAGES)


@pytest.mark.parametrize("path", harness_modules(), ids=lambda p: str(p.relative_to(HARNESS)))
def test_no_harness_module_imports_a_plugin_package(path):
    named = [
        (line, m)
        for line, m in imported_modules(path)
        if m.startswith(("adaptbench.methods", "adaptbench.tasks"))
    ]
    assert not named, f"{path.name} names plugin code: {named}"


@pytest.mark.parametrize(
    "path", [p for p in harness_modules() if package_of(p)], ids=lambda p: str(p.relative_to(HARNESS))
)
def test_imports_run_one_way(path):
    package = package_of(path)
    wrong = []
    for line, module in imported_modules(path):
        parts = module.split(".")
        if parts[:2] != ["adaptbench", "harness"] or len(parts) < 3:
            continue
        if parts[2] not in ALLOWED[package]:
            wrong.append(f"line {line}: {module}")
    assert not wrong, f"harness/{package} may import only {sorted(ALLOWED[package])}: {wrong}"


def test_the_checker_sees_lazy_and_string_imports(tmp_path):
    """The rule above is only as good as what it reads: imports inside functions and "module:function" strings."""
    source = tmp_path / "probe.py"
    source.write_text(
        "def f():\n    from adaptbench.harness.run.job import run\n"
        'TARGET = "adaptbench.harness.measure.export:main"\n'
    )
    assert [m for _, m in imported_modules(source)] == [
        "adaptbench.harness.run.job",
        "adaptbench.harness.measure.export",
    ]


@pytest.mark.parametrize("path", harness_modules(), ids=lambda p: str(p.relative_to(HARNESS)))
def test_files_and_functions_stay_small(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_FILE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: split {long}"


def test_plugins_import_only_the_api():
    """methods/ and tasks/ reach the harness through adaptbench.harness.api alone."""
    root = HARNESS.parent
    wrong = []
    for path in sorted([*(root / "methods").rglob("*.py"), *(root / "tasks").rglob("*.py")]):
        for line, module in imported_modules(path):
            if module.startswith("adaptbench.harness") and not module.startswith("adaptbench.harness.api"):
                wrong.append(f"{path.relative_to(root)}:{line}: {module}")
    assert not wrong
