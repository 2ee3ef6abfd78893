"""The product and the emulator stay apart: product code never imports the emulator (only the CLI's
`emulator` command group is its door), and the emulator never imports the product — it answers as
Azure does, not as amlmon assumes. The walk reads every import statement (top level and inside
functions) with ast, so a lazy import counts too."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "amlmon"

# Product modules allowed to import amlmon.emulator, with the reason.
PRODUCT_DOORS = {
    "amlmon.cli.emulator": "the `amlmon emulator …` command group starts, seeds and drives the emulator",
}
# Product modules the emulator may import, with the reason. Empty: the emulator copies the few lines it
# needs (e.g. Azure's naming rules in emulator/admin.py) instead of sharing the product's assumptions.
SHARED_LEAVES: dict[str, str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str) -> set[str]:
    """Every module an import statement in `source` names (relative imports resolved against `module`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from amlmon import emulator`
    return found


def _is_emulator(name: str) -> bool:
    return name == "amlmon.emulator" or name.startswith("amlmon.emulator.")


def boundary_violations(modules: dict[str, str]) -> list[str]:
    """`module imports name` for every import that crosses the product/emulator line without leave."""
    problems = []
    for module, source in sorted(modules.items()):
        for name in sorted(imported_modules(source, module)):
            if not (name == "amlmon" or name.startswith("amlmon.")) or name == "amlmon":
                continue
            if _is_emulator(module) and not _is_emulator(name) and name not in SHARED_LEAVES:
                problems.append(f"{module} imports {name} (the emulator must not import the product)")
            elif not _is_emulator(module) and _is_emulator(name) and module not in PRODUCT_DOORS:
                problems.append(f"{module} imports {name} (only {', '.join(PRODUCT_DOORS)} may)")
    return problems


def test_product_and_emulator_do_not_import_each_other() -> None:
    modules = {_module_name(path): path.read_text() for path in PACKAGE.rglob("*.py")}
    assert "amlmon.emulator.server" in modules and "amlmon.cli.app" in modules, "positive control: it walked"
    assert boundary_violations(modules) == []


def test_the_walk_sees_lazy_relative_and_package_imports() -> None:
    """Positive control: each way of crossing the line is caught."""
    modules = {
        "amlmon.traces": "def f():\n    from amlmon.emulator.faults import KINDS\n",
        "amlmon.render.table": "from amlmon import emulator\n",
        "amlmon.emulator.admin": "from ..azure import paths\n",
        "amlmon.emulator.mms": "import amlmon.errors\nfrom amlmon.emulator import http\n",
        "amlmon.cli.emulator": "from amlmon.emulator.client import stop\n",
    }
    found = boundary_violations(modules)
    assert {line.split(" imports ")[0] for line in found} == {
        "amlmon.traces",
        "amlmon.render.table",
        "amlmon.emulator.admin",
        "amlmon.emulator.mms",
    }, found


def composition_root_imports(modules: dict[str, str]) -> list[str]:
    """`module imports name` for every amlmon.azure module that imports the context or the CLI: the
    Azure layer takes a session, a client or a callable and never reaches back into the composition root."""
    return [
        f"{module} imports {name}"
        for module, source in sorted(modules.items())
        if module == "amlmon.azure" or module.startswith("amlmon.azure.")
        for name in sorted(imported_modules(source, module))
        if name == "amlmon.context" or name.startswith(("amlmon.context.", "amlmon.cli"))
    ]


def test_azure_layer_does_not_import_the_context() -> None:
    modules = {_module_name(path): path.read_text() for path in PACKAGE.rglob("*.py")}
    assert "amlmon.azure.logs" in modules, "positive control: it walked"
    assert composition_root_imports(modules) == []
    # Positive control: a TYPE_CHECKING import counts too (it is an ImportFrom all the same).
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from amlmon.context import AppContext\n"
    assert composition_root_imports({"amlmon.azure.logs": typed, "amlmon.stats": typed}) == [
        "amlmon.azure.logs imports amlmon.context",
        "amlmon.azure.logs imports amlmon.context.AppContext",
    ]


def cli_imports_outside_the_cli(modules: dict[str, str]) -> list[str]:
    """`module imports name` for every module outside amlmon.cli (but the `python -m amlmon` entry
    point) that imports the CLI: data flows CLI → domain → azure/, never back up."""
    return [
        f"{module} imports {name}"
        for module, source in sorted(modules.items())
        if not module.startswith("amlmon.cli") and module != "amlmon.__main__"
        for name in sorted(imported_modules(source, module))
        if name == "amlmon.cli" or name.startswith("amlmon.cli.")
    ]


def test_only_the_cli_imports_the_cli() -> None:
    modules = {_module_name(path): path.read_text() for path in PACKAGE.rglob("*.py")}
    assert "amlmon.drift.windows" in modules, "positive control: it walked"
    assert cli_imports_outside_the_cli(modules) == []
    # Positive control: a lazy import inside a function counts.
    lazy = "def f():\n    from amlmon.cli.common import app_context\n"
    assert cli_imports_outside_the_cli({"amlmon.drift.windows": lazy, "amlmon.cli.data": lazy}) == [
        "amlmon.drift.windows imports amlmon.cli.common",
        "amlmon.drift.windows imports amlmon.cli.common.app_context",
    ]
