"""The README's console blocks, and the one normaliser that makes real output comparable across runs.

A console block is a list of steps: a `$ command` line (a trailing `# comment` is the README's, not the
command's) and the output lines under it. In expected output a line `…` stands for any number of
lines, and a line ending in `…` for any line that starts with the text before it.

`python -m tests.readme TRANSCRIPT.json` rewrites the output of every README step that drifted from
the transcript (`python -m amlmon.emulator.demo --transcript TRANSCRIPT.json` writes one).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What changes from run to run, most specific first; each becomes a placeholder.
_VOLATILE = [
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<guid>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?"), "<time>"),
    # an access log's time (gunicorn's common log format): the month is a name
    (re.compile(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}"), "<time>"),
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
        # The first command of a pipeline (`amlmon … | head -3`) is the one the README shows.
        lexer = shlex.shlex(self.command, posix=True, punctuation_chars="|&;")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for word in lexer:
            if word in ("|", "||", "&&", ";", "&", "|&"):
                break
            words.append(word)
        return words


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


def output_of(run: dict[str, Any]) -> str:
    """A transcript entry's output as the README shows it: stderr (progress, warnings, errors) first."""
    return str(run["stderr"]) + str(run["stdout"])


def regenerate(readme: Path, transcript: list[dict[str, Any]], drifted: set[int]) -> str:
    """The README with the output of the steps at lines `drifted` replaced by the transcript's (the first
    run of the same command that README has not used yet), trailing spaces dropped."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    ordered = [step for block in console_blocks(readme) for step in block]
    for number in sorted(drifted, reverse=True):
        step = next(step for step in ordered if step.line == number)
        # The n-th README step of a command gets the n-th run of it (a repeated command: changed, unchanged).
        nth = [other.argv for other in ordered if other.line < number].count(step.argv)
        run = [entry for entry in transcript if entry["args"] == step.argv[1:]][nth]
        real = [line.rstrip() for line in output_of(run).rstrip("\n").splitlines()]
        kept_blank = step.output[-1:] == [""]
        start = number  # the output starts on the line after the command (0-based index = number)
        lines[start : start + len(step.output)] = real + ([""] if kept_blank else [])
    return "\n".join(lines) + "\n"


PARSE_ONLY = "<!-- readme-test: parse-only -->"


def demo_blocks(readme: Path) -> list[list[Step]]:
    """The console blocks to check against the demo: all but those marked parse-only on the line before
    (output from another setting, e.g. no workspace configured)."""
    text = readme.read_text(encoding="utf-8").splitlines()
    fences = [n for n, line in enumerate(text) if line.strip() == "```console"]
    return [
        steps
        for steps, fence in zip(console_blocks(readme), fences, strict=True)
        if not (fence and text[fence - 1].strip() == PARSE_ONLY)
    ]


def runs_of(transcript: list[dict[str, Any]], step: Step) -> list[dict[str, Any]]:
    """The transcript's runs of an `amlmon` step ([] for other commands, or one the demo does not run)."""
    if step.argv[:1] != ["amlmon"]:
        return []
    return [entry for entry in transcript if entry["args"] == step.argv[1:]]


def drifted(steps: list[Step], transcript: list[dict[str, Any]]) -> list[tuple[Step, str]]:
    """The steps of one block whose output no run of their command fits, each with what the demo printed;
    an `echo $?` step must show the exit code of the run its previous step fits."""
    found = []
    previous_exit: int | None = None
    for step in steps:
        if step.argv == ["echo", "$?"]:
            shown = [line.strip() for line in step.output if line.strip()]
            if previous_exit is not None and shown != [str(previous_exit)]:
                found.append((step, f"the exit code was {previous_exit}"))
            continue
        previous_exit = None
        runs = runs_of(transcript, step)
        expected = comparable(step.output)
        fitting = [run for run in runs if matches(expected, comparable(output_of(run).splitlines()))]
        if runs and not fitting:
            found.append((step, "\n".join(output_of(run) for run in runs)))
        elif fitting:
            previous_exit = int(fitting[0]["exit"])
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.readme TRANSCRIPT.json", file=sys.stderr)
        return 2
    readme = Path(__file__).resolve().parent.parent / "README.md"
    transcript = json.loads(Path(argv[0]).read_text())
    lines = {step.line for block in demo_blocks(readme) for step, _ in drifted(block, transcript)}
    readme.write_text(regenerate(readme, transcript, lines), encoding="utf-8")
    print(f"regenerated the output of {len(lines)} README steps: lines {sorted(lines)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
