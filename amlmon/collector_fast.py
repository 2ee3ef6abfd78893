"""The collector pull's fast path (issue 16: a pull at ≥ 0.8× the bare blob client's throughput): one
folder's JSON lines parsed, exploded and joined by DuckDB into the dataset's Arrow rows, with no Python
object per record.

It gives exactly the rows the reference path (`CollectorPull.folder_rows`, which reads anything) gives,
or it declines (`None`) and the caller takes that path. It declines when the folder holds anything the
two could read differently:
- bytes the screen flags: a carriage return (DuckDB may end a line there), a comma before a closing
  bracket (DuckDB reads trailing commas, the standard library refuses them);
- a line DuckDB refuses (not JSON, not an object, a key twice, bad UTF-8, over 16 MB): the reference
  path counts those lines as malformed;
- a record whose `time` is neither absent nor `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, whose `correlationid`,
  `id` or `source` may not be a string (read as text, a value that looks like a JSON number, boolean,
  array or object), or whose `data` is not an array (payload pointers);
- a row id twice among the folder's inputs in the window, its outputs, or the next folder's outputs.
A row's JSON text is DuckDB's text of the element, the standard library's compact text except for some
numbers and repeated keys: a text holding an exponent, `0.0000`, 16 digits in a row, NaN/Infinity, a
backslash, an integer `-0` or a nested container (where a key may repeat) is encoded again by
amlmon/jsonfast.py from DuckDB's text (the same value). tests/e2e/test_collector_fast.py compares the
two paths on generated folders.

Counted as the reference path counts: records in the window; outputs in the window that no input of the
folder has (whatever its time) are `orphans` (the caller takes out those the folder before answered); when
the next folder is the pull's too, the inputs outside the window that no output here answers are looked
for among its outputs, so that it does not count them as unmatched (amlmon/collector_answers.py).

How: each role's files (the folder's outputs, inputs, the next folder's outputs) become a temp table of
data rows in file and line order (`rowid`), one query joins them, the dataset's columns come out as
Arrow. DuckDB gets 128 MB and spills to the pull's private folder; Ctrl-C inside a query is Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlmon.collector import GENERATION, workspace_of
from amlmon.collector_memory import (
    MEMORY_LIMIT,
    SLICE_ABOVE,
    SLICE_BYTES,
    SLICING_MEMORY_LIMIT,
)
from amlmon.collector_texts import Decline, check_fixes, finished
from amlmon.schema import COLLECTOR_RECORD as R

# What DuckDB reads where the standard library does not: a line ended by a lone carriage return, and
# trailing commas.
_TRAILING_COMMA = re.compile(rb",[ \t]*[}\]]")
# Where one may start: a comma before a bracket or a blank. Compact JSON has no comma before a blank
# outside its strings, and a search for this one pattern runs ~1.4x as fast (one character class after the
# comma, no repeat): the full pattern is searched from the first such comma only.
_COMMA_THEN = re.compile(rb",[}\] \t]")
_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z$"
# A text field DuckDB may have made from another JSON type (the reference path would read that type).
_NOT_TEXT = r"^([\[{]|-?[0-9.]+([eE][-+]?[0-9]+)?$|(?i:true|false|-?nan|-?inf(inity)?)$)"
# Element texts DuckDB may write otherwise than json.dumps(separators=(",", ":"), ensure_ascii=False).
_REENCODE = r".[\[{]|\\|[0-9][eE]|0\.0000|[0-9]{16}|(?i:nan|inf)|-0([,}\]]|$)"  # past the first character


def _quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def plain_bytes(content: bytes, start: int = 0, end: int | None = None) -> bool:
    """Whether the screen finds nothing DuckDB and the standard library read differently in
    `content[start:end]` (~2 GB/s on compact JSON; no copy is made of the range)."""
    end = len(content) if end is None else end
    if content.find(b"\r", start, end) >= 0:
        return False
    suspect = _COMMA_THEN.search(content, start, end)
    return suspect is None or _TRAILING_COMMA.search(content, suspect.start(), end) is None


@dataclass
class Joined:
    """A folder's dataset rows (Arrow, the writer's columns) and what the pull counts of them: one table,
    or for a folder over SLICE_ABOVE, `slices` (tables of about SLICE_BYTES) to be read once, in order."""

    table: Any  # pyarrow.Table, or None when the rows come in slices
    slices: Iterator[Any] | None  # pyarrow.Tables
    rows: int
    records: int  # the outputs' and inputs' records in the window
    without_output: int
    orphans: list[str]  # ids of the outputs in the window no input here took (the folder before may have)
    read_next: bool = False  # the next folder's outputs were read
    answered_next: set[str] = field(default_factory=set)  # next folder's output ids this folder took


@dataclass(frozen=True)
class FolderFiles:
    """One folder as FolderJoin reads it: staged files, the window, whose rows."""

    inputs: list[tuple[Path, str]]  # (file, instance)
    outputs: list[Path]
    next_outputs: Callable[[], list[Path]]  # the next folder's outputs, staged when asked for
    window: tuple[dt.datetime, dt.datetime]  # [start, end)
    names: tuple[str, str]  # (endpoint, deployment)
    # the next folder is the pull's too: which of its outputs the inputs outside the window answer
    # (amlmon.collector.FolderPlan.next_planned)
    next_planned: bool = False


_TEXT_FIELDS = (R.time, R.correlation_id, R.id, R.source)
_COLUMNS = (
    "{" + ", ".join([*(f"{name!r}: 'VARCHAR'" for name in _TEXT_FIELDS), f"{R.data!r}: 'JSON[]'"]) + "}"
)
# Whether a record is outside the fast path's shape (see the module docstring).
_ODD = (
    f"({R.time} IS NOT NULL AND (ts IS NULL OR NOT regexp_full_match({R.time}, {_quote(_TIME)}) "
    f"OR {R.time} < '0001')) OR {R.data} IS NULL OR "
    + " OR ".join(
        f"regexp_matches(coalesce({name}, ''), {_quote(_NOT_TEXT)})" for name in (R.correlation_id, R.id)
    )
)  # `source` is looked at once per distinct value, in FolderJoin._lookups (only the inputs' is used)


# The files' data rows in file and line order, with a row for each record whose `data` is empty (k NULL),
# so that records are counted: the row's index in `data` (k), window, id, element, oddity; for inputs also
# the file's index in the list read (`file`, 1-based), time and source (the answers' tables go without
# them: these columns were half of their size, and made DuckDB spill at 64 MB).
def _rows_sql(source: str, inputs: bool) -> str:
    mine = "list_position($files, filename)::INTEGER AS file, ts, " if inputs else ""
    mine_too = f", coalesce({R.source}, '') AS source" if inputs else ""
    inner = f"filename, {R.source}, " if inputs else ""
    return (
        f"SELECT {mine}k, coalesce(ts >= $start AND ts < $end, false) AS inside, "
        f"coalesce(nullif({R.correlation_id}, ''), nullif({R.id}, ''), '') || '_' || k AS row_id, "
        f"e, odd{mine_too} FROM (SELECT {inner}ts, {R.correlation_id}, {R.id}, "
        f"{_ODD} AS odd, unnest(CASE WHEN len({R.data}) > 0 THEN {R.data} ELSE [NULL] END) AS e, "
        f"CASE WHEN len({R.data}) > 0 THEN generate_subscripts({R.data}, 1) - 1 END AS k "
        f"FROM (SELECT *, try_cast(left({R.time}, -1) AS TIMESTAMP) AS ts FROM {source}))"
    )


_EMPTY = (
    "(SELECT "
    + ", ".join(f"NULL::VARCHAR AS {name}" for name in _TEXT_FIELDS)
    + f", NULL::JSON[] AS {R.data}, NULL::VARCHAR AS filename WHERE false)"
)


def _text(element: str) -> str:
    """SQL: a data row's column text (a string element as the string, as the reference path keeps it).
    An element of a JSON[] column is DuckDB's minified text (JSON null: SQL NULL): its first character
    tells its type."""
    return f"CASE left({element}, 1) WHEN '\"' THEN {element}->>'$' ELSE {element}::VARCHAR END"


def _fix(element: str) -> str:
    """SQL: whether the text must be encoded again: DuckDB may write it otherwise (a repeated key is
    looked for apart: FolderJoin._no_repeated_keys)."""
    return f"coalesce(left({element}, 1) <> '\"' AND regexp_matches({element}, {_quote(_REENCODE)}), false)"


def _joined_sql(with_next: bool) -> str:
    """SQL: the joined rows, the dataset's columns, in the reference path's order: inputs answered in
    this folder (input order), then those answered in the next one (its order), then those without an
    answer (input order). `grp` says which; `with_next`: the next folder's outputs are in n_rows. The
    dataset's constant columns are added after the sort (_DATASET): sorted along, they cost 30 MB."""
    answer = "coalesce(o.e, n.e)" if with_next else "o.e"
    group = "WHEN n.row_id IS NOT NULL THEN 1 " if with_next else ""
    next_join = "LEFT JOIN n_rows n ON o.row_id IS NULL AND n.row_id = i.row_id " if with_next else ""
    next_order = "CASE WHEN grp = 1 THEN n.rowid END, " if with_next else ""
    return (
        "SELECT i.ts AS time, i.row_id AS request_id, m.instance AS container_id, w.workspace, "
        f"{_text('i.e')} AS input, {_text(answer)} AS prediction, {_fix('i.e')} AS input_fix, "
        f"{_fix(answer)} AS prediction_fix, CASE WHEN o.row_id IS NOT NULL THEN 0 {group}ELSE 2 END AS grp "
        f"FROM i_rows i LEFT JOIN o_rows o ON o.row_id = i.row_id {next_join}"
        "JOIN instances m ON m.file = i.file LEFT JOIN workspaces w ON w.source = i.source "
        f"WHERE i.inside AND i.k IS NOT NULL ORDER BY grp, {next_order}i.rowid"
    )


# The dataset's columns of `joined`, in its order (a scan keeps insertion order: preserve_insertion_order)
_DATASET = (
    "SELECT time, $service AS service, $deployment AS deployment, request_id, "
    "NULL::VARCHAR AS client_request_id, container_id, workspace, []::VARCHAR[] AS models, input, "
    "prediction, false AS truncated, $generation AS generation, NULL::VARCHAR AS raw, input_fix, "
    "prediction_fix FROM joined"
)


class FolderJoin:
    """One DuckDB connection reading folder after folder into its temp tables (replaced each time)."""

    def __init__(self, spill: Path) -> None:
        """`spill`: a private folder for what DuckDB moves out of memory (never the user's directory).
        A database of its own: two on one database do not join at the same time (it locks)."""
        import duckdb

        self.declined = ""  # why the last join declined
        self.slice_above, self.slice_bytes = SLICE_ABOVE, SLICE_BYTES  # see SLICE_ABOVE
        self.outside = 0  # data rows outside the window in the files _rows read last
        self.con = duckdb.connect()
        # rows go into tables in file and line order (`rowid`); memory bounded (a pull's budget: 300 MB
        # in all, tests/bench/bench_collector.py), the rest spilled; a folder that still does not fit
        # fails here and is read by the reference path. One thread: the pull's other core downloads,
        # and a second DuckDB thread cost 25% more CPU for the same folder without finishing it sooner
        # (bench_collector's folders, 2 cores).
        settings = ("preserve_insertion_order = true", f"memory_limit = '{MEMORY_LIMIT}'", "threads = 1")
        for setting in settings:
            self.con.execute(f"SET {setting}").fetchall()
        self.con.execute(f"SET temp_directory = {_quote(str(spill))}").fetchall()

    def close(self) -> None:
        self.con.close()

    def join(self, folder: FolderFiles) -> Joined | None:
        """The folder's rows; None when the fast path declines (`declined` says why)."""
        import duckdb

        sliced = False
        try:
            joined = self._join(folder)
            sliced = joined.slices is not None
            return joined
        except Decline as exc:
            self.declined = str(exc)
        except (duckdb.Error, RuntimeError) as exc:
            # Ctrl-C while DuckDB runs ends its query (the relation API says so as a RuntimeError): the
            # pull stops as on any Ctrl-C, with exit 130
            if isinstance(exc, duckdb.InterruptException) or "interrupted" in str(exc).lower():
                raise KeyboardInterrupt from None
            self.declined = f"DuckDB refused it ({type(exc).__name__})"  # its message may quote the data
        finally:
            # nothing kept between folders: a folder's tables would hold DuckDB's memory while the next
            # one is read (with 64 MB, DuckDB then spilled: bench_collector, 2 s more system CPU)
            with contextlib.suppress(duckdb.Error, RuntimeError):
                self._drop("i_rows", "o_rows", "n_rows", "instances", "workspaces")
                if not sliced:  # else the slices drop it once read
                    self._drop("joined")
        return None

    def _join(self, folder: FolderFiles) -> Joined:
        inputs, outputs = folder.inputs, folder.outputs
        start, end = (moment.astimezone(dt.UTC).replace(tzinfo=None) for moment in folder.window)
        self.window = {"start": start, "end": end}
        records = self._rows("o_rows", outputs, windowed=False)
        records += self._rows("i_rows", [path for path, _instance in inputs], windowed=True, inputs=True)
        self._no_repeated_keys("i_rows WHERE inside", "o_rows")
        self._lookups(inputs)
        without_output, answered = self._joined(with_next=False)
        # inputs outside the window that no output here answers: the next folder, read by this pull too,
        # is told which of its outputs they answer (as when its output answers an input in the window)
        outside = self._outside(with_next=False) if folder.next_planned and self.outside else 0
        later = folder.next_outputs() if without_output or outside else []
        if later:  # some inputs may be answered in the next folder: its outputs, then join again
            self._rows("n_rows", later, windowed=False, counted=False)
            self._no_repeated_keys("n_rows")
            if without_output:
                without_output, answered = self._joined(with_next=True)
            if outside:
                answered += self._outside(with_next=True)
        ((fixes, rows, text_bytes),) = self.con.execute(
            "SELECT count(*) FILTER (WHERE input_fix OR prediction_fix), count(*), "
            "coalesce(sum(coalesce(strlen(input), 0) + coalesce(strlen(prediction), 0)), 0) FROM joined"
        ).fetchall()
        endpoint, deployment = folder.names
        names = {"service": endpoint, "deployment": deployment, "generation": GENERATION}
        # an input outside the window answered by it too (its row is another window's)
        orphans = self.con.execute(
            "SELECT row_id FROM o_rows o WHERE inside AND k IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM i_rows i WHERE i.row_id = o.row_id)"
        ).fetchall()
        self._drop(
            "i_rows", "o_rows", "n_rows", "instances", "workspaces"
        )  # DuckDB's memory is the Arrow rows' now
        table, slices = None, None
        if text_bytes > self.slice_above:
            if fixes:  # a text the standard library refuses declines now, not halfway through the slices
                check_fixes(self.con)
            slices = self._slices(names, max(1, rows * self.slice_bytes // text_bytes), bool(fixes))
        else:
            table = finished(self.con.sql(_DATASET, params=names).to_arrow_table(), bool(fixes))
        return Joined(
            table=table,
            slices=slices,
            rows=int(rows),
            records=records,
            without_output=without_output,
            orphans=[row_id for (row_id,) in orphans],
            read_next=bool(later),
            answered_next=set(answered),
        )

    def _slices(self, names: dict[str, str], rows: int, fixes: bool) -> Iterator[Any]:
        """`joined`'s dataset rows, `rows` at a time; `joined` is dropped once they are read (or the reading
        stops)."""
        import duckdb
        import pyarrow as pa

        try:
            self.con.execute(f"SET memory_limit = '{SLICING_MEMORY_LIMIT}'").fetchall()
            for batch in self.con.sql(_DATASET, params=names).to_arrow_reader(rows):
                yield finished(pa.Table.from_batches([batch]), fixes)
        finally:
            with contextlib.suppress(duckdb.Error, RuntimeError):
                self._drop("joined")
                self.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'").fetchall()

    def _joined(self, with_next: bool) -> tuple[int, list[str]]:
        """`joined` (_joined_sql); how many inputs have no answer, and the ids the next folder answered.
        Counted here, not in Arrow: pyarrow.compute costs the pull 40-50 MB once used."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE joined AS {_joined_sql(with_next)}").fetchall()
        ((without_output, answered),) = self.con.execute(
            "SELECT count(*) FILTER (WHERE grp = 2), list(request_id) FILTER (WHERE grp = 1) FROM joined"
        ).fetchall()
        return int(without_output), list(answered or ())

    def _outside(self, with_next: bool) -> Any:
        """The inputs outside the window that no output of the folder answers: how many (not
        `with_next`), or the ids of those an output of the next folder answers (`with_next`)."""
        answered = "AND EXISTS (SELECT 1 FROM n_rows n WHERE n.row_id = i.row_id)" if with_next else ""
        ((found,),) = self.con.execute(
            f"SELECT {'list(DISTINCT i.row_id)' if with_next else 'count(*)'} FROM i_rows i "
            "WHERE NOT i.inside AND i.k IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM o_rows o WHERE o.row_id = i.row_id) {answered}"
        ).fetchall()
        return list(found or ()) if with_next else int(found)

    def _drop(self, *tables: str) -> None:
        """Drop these temp tables (those that exist)."""
        for table in tables:
            self.con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()

    def _rows(
        self, name: str, files: list[Path], windowed: bool, counted: bool = True, inputs: bool = False
    ) -> int:
        """`name`: the files' rows (_rows_sql; `inputs`: with the input's columns), a temp table whose
        `rowid` is their order; their records (`windowed`: those in the window). Declines when a record
        is odd or a row id repeats (among the rows in the window when `windowed`)."""
        listed = [str(path) for path in files]
        if files:
            read = ", ".join(_quote(path) for path in listed)
            source = f"read_json([{read}], format='newline_delimited', columns={_COLUMNS}, filename=true)"
        else:
            source = _EMPTY
        params = {**self.window, "files": listed} if inputs else self.window
        rows = _rows_sql(source, inputs)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {rows}", params).fetchall()
        kept = "inside" if windowed else "true"
        ((odd, repeated, records, outside),) = self.con.execute(
            f"SELECT count(*) FILTER (WHERE odd), count(row_id) FILTER (WHERE {kept} AND k IS NOT NULL) - "
            f"count(DISTINCT row_id) FILTER (WHERE {kept} AND k IS NOT NULL), "
            "count(*) FILTER (WHERE inside AND (k IS NULL OR k = 0)), "
            f"count(*) FILTER (WHERE NOT inside AND k IS NOT NULL) FROM {name}"
        ).fetchall()
        if odd:
            raise Decline("a record outside the fast path's shape")
        if repeated:
            raise Decline("a row id twice")
        self.outside = int(outside)  # data rows outside the window (the inputs': see _join)
        return int(records) if counted else 0

    def _no_repeated_keys(self, *rows: str) -> None:
        """Decline when an object row among `rows` (tables, maybe with a WHERE) repeats a key (its text
        keeps both; the standard library the last). Rows of one folder share a few key lists: each
        distinct list is looked at once."""
        union = " UNION ALL ".join(f"SELECT e FROM {table}" for table in rows)
        lists = self.con.execute(
            f"SELECT DISTINCT json_keys(e) FROM ({union}) WHERE left(e, 1) = '{{'"
        ).fetchall()
        if any(len(set(keys)) != len(keys) for (keys,) in lists):
            raise Decline("a row repeats a key")

    def _lookups(self, inputs: list[tuple[Path, str]]) -> None:
        """The input files' instances, and the workspace each `source` names (amlmon.collector): tables
        made from list parameters (a SQL text of literals, one pair per source, took DuckDB ~1 GB and
        5 s to parse for a folder of 100,000 distinct sources)."""
        sources = [
            str(value) for (value,) in self.con.execute("SELECT DISTINCT source FROM i_rows").fetchall()
        ]
        if any(re.search(_NOT_TEXT, source) for source in sources):
            raise Decline("a record outside the fast path's shape")
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE instances AS SELECT unnest(range(1, len($names::VARCHAR[]) + 1))::INTEGER "
            "AS file, unnest($names::VARCHAR[]) AS instance",
            {"names": [instance for _path, instance in inputs]},
        ).fetchall()
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE workspaces AS SELECT unnest($sources::VARCHAR[]) AS source, "
            "unnest($workspaces::VARCHAR[]) AS workspace",
            {"sources": sources, "workspaces": [workspace_of(source) for source in sources]},
        ).fetchall()
