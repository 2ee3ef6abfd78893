"""Trace events as text: one formatter per `--format`, like aws logs tail's formatters.

`FORMATTERS` maps a format name to the formatter that writes a batch of events as lines. Formats that
print one document (json, yaml, or a whole-result --query) are not formatters: the printer collects
the events and hands them to render.emit at the end, as every other command does.
"""

from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Callable, Sequence
from typing import IO, Any

from amlmon.errors import UsageError
from amlmon.render import apply_query, emit, to_jsonl
from amlmon.render.text import tsv_line, visible
from amlmon.telemetry import TraceEvent
from amlmon.timeparse import iso_utc

FORMATS = ("pretty", "short", "json", "jsonl", "raw")
# --query on the whole result: styles that print one document. jsonl applies it to each event.
WHOLE_RESULT_STYLES = {"json": "json", "yaml": "yaml", "pretty": "table", "tsv": "tsv"}

# Distinct, readable on dark and light terminals (stern's idea: one colour per target).
_PALETTE = ("36", "33", "35", "32", "34", "96", "93", "95", "92", "94")
_SEVERITY_COLOR = {"warning": "33", "error": "31", "critical": "1;31"}


def _iso(event: TraceEvent) -> str:
    return iso_utc(event.timestamp, "milliseconds")


def _compact(value: Any) -> str:
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _shown(value: Any) -> str:
    """A model-data value for a human format: compact JSON (which leaves DEL and C1 raw), made visible."""
    return visible(_compact(value))


# The line breaks and tabs a human trace format lays out itself; every other control character is shown.
_LAID_OUT = "\n\t"


def _clip(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


class LineFormatter:
    """One line per event; `text` gives the lines of a batch."""

    def __init__(self, *, color: bool, width: int) -> None:
        self.color, self.width = color, width

    def line(self, event: TraceEvent) -> str:
        raise NotImplementedError

    def text(self, events: Sequence[TraceEvent]) -> str:
        return "".join(self.line(event) + "\n" for event in events)


class PrettyFormatter(LineFormatter):
    """Time, target (a colour each, aligned), severity, message; model data as `in=… → out=…`."""

    def __init__(self, *, color: bool, width: int) -> None:
        super().__init__(color=color, width=width)
        self.target_width = 0

    def text(self, events: Sequence[TraceEvent]) -> str:
        self.target_width = max(self.target_width, *(len(visible(event.target)) for event in events))
        return super().text(events)

    def _paint(self, text: str, code: str | None) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code else text

    def line(self, event: TraceEvent) -> str:
        colour = _PALETTE[zlib.crc32(event.target.encode()) % len(_PALETTE)]
        target = self._paint(visible(event.target).ljust(self.target_width), colour)
        stamp = _iso(event)
        if event.model_data is not None:
            return f"{stamp} {target} {self._model_data(event, len(stamp) + self.target_width + 2)}"
        severity = self._paint(event.severity.upper()[:4].ljust(4), _SEVERITY_COLOR.get(event.severity))
        indent = "\n" + " " * (len(stamp) + self.target_width + 7)
        message = visible(event.message.rstrip(), _LAID_OUT)
        return f"{stamp} {target} {severity} {message.replace(chr(10), indent)}"

    def _model_data(self, event: TraceEvent, used: int) -> str:
        md = event.model_data
        assert md is not None
        request = f"req={visible((md.request_id or '?')[:8])}"
        if md.truncated:
            # Name exactly what the cut took: a 1.4.x Input cut on its own leaves the prediction whole.
            lost = " and ".join(md.cut) if md.cut else "the record"
            note = f"[{lost} cut by App Insights at 8192 characters]"
            if md.prediction is not None:
                return (
                    f"{request} {note} → out={_clip(_shown(md.prediction), max(self.width - used - 60, 20))}"
                )
            return f"{request} {note}"
        room = max(self.width - used - len(request) - 12, 20)
        shown_input = _clip(_shown(md.input), room * 3 // 5)
        shown_prediction = _clip(_shown(md.prediction), room - len(shown_input))
        return f"{request} in={shown_input} → out={shown_prediction}"


class ShortFormatter(LineFormatter):
    def line(self, event: TraceEvent) -> str:
        stamp = event.timestamp.strftime("%H:%M:%S")
        if event.model_data is not None:
            md = event.model_data
            return f"{stamp} {visible(event.target)} {_shown(md.input)} -> {_shown(md.prediction)}"
        return f"{stamp} {visible(event.target)} {visible(event.message, _LAID_OUT)}"


class RawFormatter(LineFormatter):
    def line(self, event: TraceEvent) -> str:
        if event.model_data is not None:
            md = event.model_data
            return visible(md.raw or "", _LAID_OUT) if md.truncated else _shown(md.input)
        return visible(event.message, _LAID_OUT)


class TsvFormatter(LineFormatter):
    def line(self, event: TraceEvent) -> str:
        md = event.model_data
        if md is not None:
            truncated = "truncated" if md.truncated else ""
            cells = [
                _iso(event),
                event.target,
                md.request_id or "",
                _compact(md.input),
                _compact(md.prediction),
                truncated,
            ]
        else:
            cells = [_iso(event), event.target, event.severity, event.message]
        return tsv_line(cells)  # the escapes of every -o tsv (render.text), so a field never spills


class JsonlFormatter(LineFormatter):
    """One JSON object per event; with --query, what the expression selects from each event."""

    def __init__(self, *, color: bool, width: int, jmespath: str | None = None) -> None:
        super().__init__(color=color, width=width)
        self.jmespath = jmespath
        self.events = 0  # with --query: events seen, and those it gave a value for
        self.answered = 0

    def text(self, events: Sequence[TraceEvent]) -> str:
        if not self.jmespath:
            return to_jsonl([event.to_dict() for event in events])
        # An event the expression selects nothing from prints no line (a filter such as
        # `severity=='error' && message`), never a line of null.
        answers = [apply_query(event.to_dict(), self.jmespath) for event in events]
        items = [answer for answer in answers if answer is not None]
        self.events += len(answers)
        self.answered += len(items)
        return to_jsonl(items)


FORMATTERS: dict[str, type[LineFormatter]] = {
    "pretty": PrettyFormatter,
    "short": ShortFormatter,
    "raw": RawFormatter,
    "tsv": TsvFormatter,
    "jsonl": JsonlFormatter,
}


def style_for(fmt: str | None, output: str | None, follow: bool) -> str:
    """The printer's style: --format wins, then -o, then pretty."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(
                f"--format {fmt!r} is not one of {', '.join(FORMATS)}", hint="e.g. --format jsonl"
            )
        style = fmt
    else:
        style = {None: "pretty", "table": "pretty", "jsonc": "json"}.get(output, output or "pretty")
    if follow and style == "json":
        return "jsonl"  # a stream cannot be one JSON array
    if follow and style == "yaml":
        raise UsageError("-o yaml cannot stream", hint="use --format jsonl with --follow")
    return style


def check_query_style(style: str, follow: bool, query: str | None, fmt: str | None = None) -> None:
    """--query applies to the whole result (json, yaml, table, tsv) or to each event (jsonl); a style
    it cannot apply to is refused rather than ignored."""
    if not query:
        return
    if fmt in ("pretty", "short", "raw"):
        # Formats of lines of events, like short and raw: a query's answer is not events (an explicit
        # --format pretty printed an empty line). -o table still queries the whole list.
        raise UsageError(
            f"--query does not apply to --format {fmt}",
            hint="use -o json, yaml, table or tsv (query over the whole list) or --format jsonl (query per event)",
        )
    if follow and style != "jsonl":
        raise UsageError(
            "--query with --follow applies to each event as it arrives: it needs --format jsonl",
            hint="e.g. amlmon traces --follow --format jsonl --query message",
        )
    if style not in WHOLE_RESULT_STYLES and style not in ("jsonl", "none"):
        raise UsageError(
            f"--query does not apply to --format {style}",
            hint="use -o json, yaml, table or tsv (query over the whole list) or jsonl (query per event)",
        )


class TracePrinter:
    """Writes batches of events in one style; `finish` writes a one-document format."""

    def __init__(
        self,
        style: str,
        stream: IO[str],
        *,
        color: bool,
        jmespath: str | None = None,
        warn: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.style, self.stream, self.color, self.jmespath, self.warn = style, stream, color, jmespath, warn
        # json / yaml, or a whole-result --query: one document at the end.
        self.whole_result = style in ("json", "yaml") or (bool(jmespath) and style in WHOLE_RESULT_STYLES)
        self._buffer: list[dict[str, Any]] = []
        self.width = shutil.get_terminal_size((160, 24)).columns
        self.formatter: LineFormatter | None = None  # made at the first batch, for the width then

    def _formatter(self) -> LineFormatter:
        if self.formatter is None:
            if self.style == "jsonl":
                self.formatter = JsonlFormatter(color=self.color, width=self.width, jmespath=self.jmespath)
            else:
                self.formatter = FORMATTERS[self.style](color=self.color, width=self.width)
        return self.formatter

    def print_batch(self, events: Sequence[TraceEvent]) -> None:
        if not events or self.style == "none":
            return
        if self.whole_result:
            self._buffer.extend(event.to_dict() for event in events)
            return
        self.stream.write(self._formatter().text(events))
        self.stream.flush()

    def print_container_logs(self, found: Sequence[Any]) -> None:
        """getLogs tails (v2_logs.ContainerLog) in place of events: json/yaml/jsonl as records, else the text."""
        records = [
            {"target": log.target, "container": log.container, "tail": log.tail, "content": log.content}
            for log in found
        ]
        if self.style in ("json", "yaml"):
            emit(records, output=self.style, query=self.jmespath, stream=self.stream, no_color=True)
        elif self.style == "jsonl":
            self.stream.write(to_jsonl(records))
        else:
            for log in found:
                self.stream.write(
                    log.content if not log.content or log.content.endswith("\n") else log.content + "\n"
                )

    def finish(self) -> None:
        if self.whole_result:
            output = WHOLE_RESULT_STYLES.get(self.style, self.style)
            emit(
                self._buffer, output=output, query=self.jmespath, stream=self.stream, no_color=not self.color
            )
            return
        formatter = self.formatter
        if (
            isinstance(formatter, JsonlFormatter)
            and self.jmespath
            and formatter.events
            and not formatter.answered
        ):
            self.warn(
                f"--query {self.jmespath!r} gave nothing for any of {formatter.events} events: with jsonl it "
                "applies to each event (e.g. --query message); -o json applies it to the list"
            )
