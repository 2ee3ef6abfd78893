"""The README's console blocks, and the one normaliser that makes real output comparable across runs.

A console block is a list of steps: a `$ command` line (a trailing `# comment` is the README's, not the
command's) and the output lines under it. In expected output a line `…` stands for any number of
lines, and a line ending in `…` for any line that starts with the text before it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

# What changes from run to run, most specific first; each becomes a placeholder.
_VOLATILE = [
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<guid>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r"https://127\.0\.0\.1:\d+"), "https://127.0.0.1:<port>"),
    (re.compile(r"\S*/amlmon-demo-[^/\s]+"), "<data>"),  # the demo's temporary directory
    (re.compile(r"\b[0-9a-f]{8,}\b"), "<hex>"),  # request IDs, operation IDs
    (re.compile(r"\b\d+(\.\d+)?\s?(ms|s|min)\b"), "<duration>"),
    (re.compile(r"[▁▂▃▄▅▆▇█]+"), "<spark>"),
    (re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?"), "<n>"),  # counts, rates, predictions
    (re.compile(r"─+"), "─"),  # a table's rule is as wide as its columns
    (re.compile(r"\s+"), " "),  # …and so is the padding between them
]
# Progress lines ("target: waiting for operation …") of operations running side by side come in any order.
_PROGRESS = re.compile(r"^[\w./-]+: ")


def normalise(line: str) -> str:
    """One output line with what changes between runs replaced: GUIDs, times, ports, the demo's temporary
    directory, hex IDs, durations, sparklines, numbers, and column padding. Words, names, symbols and
    the order of fields stay."""
    for pattern, placeholder in _VOLATILE:
        line = pattern.sub(placeholder, line)
    return line.strip()


def comparable(lines: list[str]) -> list[str]:
    """Normalised lines, blank ones dropped, each run of progress lines sorted."""
    out: list[str] = []
    run: list[str] = []
    for line in [normalise(raw) for raw in lines if raw.strip()] + [""]:
        if line and _PROGRESS.match(line) and not line.startswith(("error:", "hint:", "warning:")):
            run.append(line)
            continue
        out.extend(sorted(run))
        run = []
        if line:
            out.append(line)
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether real output lines `actual` fit the README's `expected` (both from `comparable`), with `…`
    standing for any lines and `text…` for any line starting with `text`."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "…":
        return any(matches(rest, actual[skip:]) for skip in range(len(actual) + 1))
    if not actual:
        return False
    fits = actual[0].startswith(head[:-1].rstrip()) if head.endswith("…") else actual[0] == head
    return fits and matches(rest, actual[1:])


@dataclass
class Step:
    line: int  # README line of the `$` command
    command: str  # as written, without the comment
    output: list[str] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command, comments=True)


def console_blocks(readme: Path) -> list[list[Step]]:
    """Every ```console block of the README as its steps (a `\\` at a line's end continues the command)."""
    blocks: list[list[Step]] = []
    steps: list[Step] | None = None
    continued = False
    for number, text in enumerate(readme.read_text(encoding="utf-8").splitlines(), start=1):
        if steps is None:
            if text.strip() == "```console":
                steps = []
            continue
        if text.strip() == "```":
            blocks.append(steps)
            steps, continued = None, False
        elif continued and steps:
            steps[-1].command += " " + text.strip().rstrip("\\").strip()
            continued = text.rstrip().endswith("\\")
        elif text.startswith("$ "):
            steps.append(Step(number, text[2:].rstrip().rstrip("\\").strip()))
            continued = text.rstrip().endswith("\\")
        elif steps:
            steps[-1].output.append(text)
    return blocks
