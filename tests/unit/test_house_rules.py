"""House rules of issue 13, measured: no module under amlmon/ over 400 lines, no function over 60.

A function is measured from its first statement to its last line (docstring included, signature not):
typer commands declare their options in the signature, and those declarations are not logic. A nested
function counts inside its parent and on its own. Exceptions are named below, each with why; an entry
that no longer needs its exception fails too, so the lists only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "amlmon"
MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 400

# (path under the checkout, function name) → why it may be longer.
# None left: the ARM route table too is grouped by resource family now.
LONG_FUNCTIONS: dict[tuple[str, str], str] = {}
# path → why the module may be longer.
LONG_FILES: dict[str, str] = {}


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def function_lengths(source: str) -> list[tuple[str, int, int]]:
    """(name, line of `def`, lines from its first statement to its end) of every function."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            end = node.end_lineno or node.body[-1].lineno
            found.append((node.name, node.lineno, end - node.body[0].lineno + 1))
    return found


def test_the_measure_counts_from_the_first_statement() -> None:
    source = "def f(\n    a: int = 1,\n    b: int = 2,\n) -> int:\n    x = a\n\n    return x + b\n"
    assert function_lengths(source) == [("f", 1, 3)]


def test_no_function_over_the_limit() -> None:
    over = []
    for path in _modules():
        for name, line, length in function_lengths(path.read_text(encoding="utf-8")):
            if length > MAX_FUNCTION_LINES and (_relative(path), name) not in LONG_FUNCTIONS:
                over.append(f"{_relative(path)}:{line} {name}: {length} lines")
    assert not over, "functions over 60 lines (split them, or name the exception and why):\n" + "\n".join(
        over
    )


def test_no_module_over_the_limit() -> None:
    over = []
    for path in _modules():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_FILE_LINES and _relative(path) not in LONG_FILES:
            over.append(f"{_relative(path)}: {lines} lines")
    assert not over, (
        "modules over 400 lines (split them by job, or name the exception and why):\n" + "\n".join(over)
    )


def test_each_long_function_exception_is_still_needed() -> None:
    """One test over the whole list (an empty parametrization would be a skip)."""
    stale = []
    for path, name in sorted(LONG_FUNCTIONS):
        source = (ROOT / path).read_text(encoding="utf-8") if (ROOT / path).exists() else ""
        lengths = [length for found, _line, length in function_lengths(source) if found == name]
        if not any(length > MAX_FUNCTION_LINES for length in lengths):
            stale.append(f"{path} {name}")
    assert not stale, f"drop {stale} from LONG_FUNCTIONS"


def test_each_long_file_exception_is_still_needed() -> None:
    """One test over the whole list (none may be left: an empty parametrization would be a skip)."""
    stale = [
        path
        for path in sorted(LONG_FILES)
        if not (ROOT / path).exists()
        or len((ROOT / path).read_text(encoding="utf-8").splitlines()) <= MAX_FILE_LINES
    ]
    assert not stale, f"drop {stale} from LONG_FILES"
