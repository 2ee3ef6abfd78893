"""The telemetry store: one DuckDB file, workspace-schema base tables, classic views, KQL via duckdb-kql.

Base tables (schema `store`) hold every component's rows in the Log Analytics workspace schema
(AppRequests, AppDependencies, AppExceptions, AppTraces, AppEvents) with hidden `_ItemId`,
`_IngestionTime`. A query runs on its own cursor where temporary views expose only what that query may
see: the rows of the components in scope, inside the timespan, already "ingested" (ingestion delay),
under both schemas — workspace names (AppTraces …) and the classic App Insights names (traces,
requests …, with `customDimensions`, `cloud_RoleName`, string `success`).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from amlmon.emulator.endpoint_tables import ENDPOINT_TABLES

STORE_FILE = "telemetry.duckdb"
BULK_END_SECONDS = 10.0  # the most close() waits for an interrupted bulk insert to end
# A query past this fails alone (logs_api answers it as the service's low-memory failure) instead of
# taking the emulator's memory.
MEMORY_LIMIT = "2GB"

COMMON = [
    ("TimeGenerated", "TIMESTAMP_NS"),  # Kusto's datetime has 100 ns ticks: 7 fractional digits
    ("OperationId", "VARCHAR"),
    ("OperationName", "VARCHAR"),
    ("ParentId", "VARCHAR"),
    ("SessionId", "VARCHAR"),
    ("UserId", "VARCHAR"),
    ("AppRoleName", "VARCHAR"),
    ("AppRoleInstance", "VARCHAR"),
    ("AppVersion", "VARCHAR"),
    ("ClientType", "VARCHAR"),
    ("SDKVersion", "VARCHAR"),
    ("Properties", "JSON"),
    ("Measurements", "JSON"),
    ("ItemCount", "INTEGER"),
    ("IKey", "VARCHAR"),
    ("_ResourceId", "VARCHAR"),
    ("_ItemId", "VARCHAR"),
    ("_IngestionTime", "TIMESTAMP"),
]
TABLES: dict[str, list[tuple[str, str]]] = {
    "AppRequests": [
        ("Id", "VARCHAR"),
        ("Name", "VARCHAR"),
        ("Url", "VARCHAR"),
        ("Source", "VARCHAR"),
        ("Success", "BOOLEAN"),
        ("ResultCode", "VARCHAR"),
        ("DurationMs", "DOUBLE"),
        ("PerformanceBucket", "VARCHAR"),
    ],
    "AppDependencies": [
        ("Id", "VARCHAR"),
        ("Name", "VARCHAR"),
        ("Target", "VARCHAR"),
        ("DependencyType", "VARCHAR"),
        ("Data", "VARCHAR"),
        ("Success", "BOOLEAN"),
        ("ResultCode", "VARCHAR"),
        ("DurationMs", "DOUBLE"),
        ("PerformanceBucket", "VARCHAR"),
    ],
    "AppExceptions": [
        ("ProblemId", "VARCHAR"),
        ("ExceptionType", "VARCHAR"),
        ("OuterType", "VARCHAR"),
        ("OuterMessage", "VARCHAR"),
        ("InnermostType", "VARCHAR"),
        ("InnermostMessage", "VARCHAR"),
        ("Message", "VARCHAR"),
        ("SeverityLevel", "INTEGER"),
        ("Details", "JSON"),
    ],
    "AppTraces": [("Message", "VARCHAR"), ("SeverityLevel", "INTEGER")],
    "AppEvents": [("Name", "VARCHAR")],
}
for _columns in TABLES.values():
    _columns[0:0] = COMMON[:1]
    _columns.extend(COMMON[1:])
# A v2 endpoint's resource-log tables (their own columns, not the App* common ones).
TABLES.update({name: list(columns) for name, columns in ENDPOINT_TABLES.items()})

CLASSIC_COMMON = """TimeGenerated AS timestamp, OperationName AS operation_Name, OperationId AS operation_Id,
    ParentId AS operation_ParentId, SessionId AS session_Id, UserId AS user_Id, AppRoleName AS cloud_RoleName,
    AppRoleInstance AS cloud_RoleInstance, AppVersion AS application_Version, ClientType AS client_Type,
    SDKVersion AS sdkVersion, Properties AS customDimensions, Measurements AS customMeasurements,
    ItemCount AS itemCount, IKey AS iKey, _ItemId AS itemId, {app_id} AS appId, {app_name} AS appName,
    _ResourceId, _IngestionTime"""
CLASSIC_VIEWS = {
    "requests": (
        "AppRequests",
        "Id AS id, Source AS source, Name AS name, Url AS url, "
        "CASE WHEN Success THEN 'True' WHEN Success IS NULL THEN NULL ELSE 'False' END AS success, "
        "ResultCode AS resultCode, DurationMs AS duration, PerformanceBucket AS performanceBucket, "
        "'request' AS itemType",
    ),
    "dependencies": (
        "AppDependencies",
        "Id AS id, Target AS target, DependencyType AS type, Name AS name, Data AS data, "
        "CASE WHEN Success THEN 'True' WHEN Success IS NULL THEN NULL ELSE 'False' END AS success, "
        "ResultCode AS resultCode, DurationMs AS duration, PerformanceBucket AS performanceBucket, "
        "'dependency' AS itemType",
    ),
    "exceptions": (
        "AppExceptions",
        "ProblemId AS problemId, ExceptionType AS type, Message AS message, OuterType AS outerType, "
        "OuterMessage AS outerMessage, InnermostType AS innermostType, InnermostMessage AS innermostMessage, "
        "SeverityLevel AS severityLevel, Details AS details, 'exception' AS itemType",
    ),
    "traces": ("AppTraces", "Message AS message, SeverityLevel AS severityLevel, 'trace' AS itemType"),
    "customEvents": ("AppEvents", "Name AS name, 'customEvent' AS itemType"),
}
HIDDEN_COLUMNS = ("_ItemId", "_IngestionTime")
_INGESTION_TIME = re.compile(r"\bingestion_time\s*\(\s*\)")


@dataclass(frozen=True)
class Scope:
    """What one query may see."""

    resource_ids: tuple[str, ...]  # lower-cased component IDs
    start: dt.datetime | None
    end: dt.datetime | None
    classic: bool  # resource-centric on a component: classic names too
    app_ids: dict[str, str] | None = None  # component id -> AppId (for the classic appId column)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class StoreClosing(Exception):
    """The store was closed (the emulator is shutting down) before or while a bulk insert ran."""


class TelemetryStore:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STORE_FILE
        self.lock = threading.Lock()
        # Cursors of bulk inserts in progress: close() interrupts them and waits until they end.
        self._bulk: set[duckdb.DuckDBPyConnection] = set()
        self._bulk_done = threading.Condition(self.lock)
        self._closed = False
        self.con = duckdb.connect(str(self.path))
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        self.con.execute("CREATE SCHEMA IF NOT EXISTS store")
        for table, columns in TABLES.items():
            spec = ", ".join(f'"{name}" {kind}' for name, kind in columns)
            self.con.execute(f"CREATE TABLE IF NOT EXISTS store.{table} ({spec})")
        self._drop_stale_schemas()  # left by a process that was killed mid-query

    def columns(self, table: str) -> list[str]:
        return [name for name, _ in TABLES[table]]

    def insert_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Rows as dicts, inserted as one Arrow batch (DuckDB's executemany is row by row and slow)."""
        if rows:
            self.insert_arrow(
                table,
                arrow_table(table, {name: [row.get(name) for row in rows] for name in self.columns(table)}),
            )

    def insert_arrow(self, table: str, arrow_table: Any) -> None:
        """An Arrow table with exactly the table's columns, under the store's lock."""
        names = ", ".join(f'"{n}"' for n in self.columns(table))
        with self.lock:
            self.con.register("_incoming", arrow_table)
            try:
                self.con.execute(f"INSERT INTO store.{table} SELECT {names} FROM _incoming")
            finally:
                self.con.unregister("_incoming")

    def insert_tables(self, batches: Iterable[tuple[str, Any]]) -> None:
        """Bulk insert (seeding) of (table, Arrow table) batches, each committed on its own (one
        transaction for all would hold every uncommitted row in memory: about 1 GB more per million
        seeded requests), on a cursor of its own that close() interrupts. StoreClosing when close()
        came first: the batch being inserted is rolled back, later ones are not inserted."""
        with self.lock:
            if self._closed:
                raise StoreClosing
            cursor = self.con.cursor()
            self._bulk.add(cursor)
        try:
            for table, arrow_table in batches:
                if self._closed:
                    raise StoreClosing
                names = ", ".join(f'"{n}"' for n in self.columns(table))
                cursor.register("_incoming", arrow_table)
                try:
                    cursor.execute(f"INSERT INTO store.{table} SELECT {names} FROM _incoming")
                finally:
                    cursor.unregister("_incoming")
                del arrow_table  # freed before the next batch is built
        except duckdb.Error:
            if self._closed:
                raise StoreClosing from None
            raise
        finally:
            cursor.close()
            with self.lock:
                self._bulk.discard(cursor)
                self._bulk_done.notify_all()

    def cursor_for(self, scope: Scope) -> tuple[duckdb.DuckDBPyConnection, str]:
        """A cursor whose views show only what `scope` may see, and the schema holding them.

        The views live in a schema of their own, first on the cursor's search path (duckdb-kql resolves
        joins and unions through the catalog, which does not see temporary views by bare name).
        Drop it with `release()`.
        """
        schema = "q_" + uuid.uuid4().hex
        where = [f"_IngestionTime <= TIMESTAMP '{utcnow().isoformat(sep=' ')}'"]
        ids = ", ".join("'" + rid.replace("'", "''") + "'" for rid in scope.resource_ids) or "NULL"
        where.append(f"lower(_ResourceId) IN ({ids})")
        if scope.start is not None:
            where.append(f"TimeGenerated >= TIMESTAMP '{scope.start.isoformat(sep=' ')}'")
        if scope.end is not None:
            where.append(f"TimeGenerated <= TIMESTAMP '{scope.end.isoformat(sep=' ')}'")
        condition = " AND ".join(where)
        statements = [f"CREATE SCHEMA {schema}"]
        for table in TABLES:
            statements.append(
                f"CREATE VIEW {schema}.{table} AS SELECT * FROM store.{table} WHERE {condition}"
            )
        if scope.classic:
            app_id = _case(scope.app_ids or {}, "id")
            app_name = _case({rid: rid.rsplit("/", 1)[-1] for rid in scope.resource_ids}, "name")
            common = CLASSIC_COMMON.format(app_id=app_id, app_name=app_name)
            for view, (table, specific) in CLASSIC_VIEWS.items():
                statements.append(
                    f"CREATE VIEW {schema}.{view} AS SELECT {common}, {specific} FROM {schema}.{table}"
                )
        with self.lock:
            cursor = self.con.cursor()
            for statement in statements:
                cursor.execute(statement)
        cursor.execute("SET TimeZone = 'UTC'")
        cursor.execute(f"SET search_path = '{schema}'")
        return cursor, schema

    def release(self, cursor: duckdb.DuckDBPyConnection, schema: str) -> None:
        with self.lock:
            try:
                self.con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            finally:
                cursor.close()

    def _drop_stale_schemas(self) -> None:
        rows = self.con.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'q\\_%' ESCAPE '\\'"
        ).fetchall()
        for (schema,) in rows:
            self.con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self.lock:
            self._closed = True
            for cursor in self._bulk:
                cursor.interrupt()  # a running INSERT stops at its next chunk and rolls back
            self._bulk_done.wait_for(lambda: not self._bulk, timeout=BULK_END_SECONDS)
            self.con.close()


_ARROW_TYPES = {"BOOLEAN": "bool_", "DOUBLE": "float64", "INTEGER": "int32"}
_EPOCH = dt.datetime(1970, 1, 1)


def nanoseconds(value: Any) -> Any:
    """A naive UTC datetime as nanoseconds since 1970 (an int: ingestion's 7-digit times) unchanged."""
    if isinstance(value, dt.datetime):
        return (value - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    return value


def arrow_table(table: str, columns: dict[str, list[Any]], between: Callable[[], None] | None = None) -> Any:
    """An Arrow table with `table`'s columns, in order and typed (JSON columns travel as strings).
    TIMESTAMP_NS values may be datetimes or nanoseconds since 1970. `between` is called before each
    column is converted (a seed stops there when the emulator shuts down)."""
    import pyarrow as pa

    def arrow_type(kind: str) -> Any:
        if kind == "TIMESTAMP":
            return pa.timestamp("us")
        if kind == "TIMESTAMP_NS":
            return pa.timestamp("ns")
        name = _ARROW_TYPES.get(kind)
        return getattr(pa, name)() if name else pa.string()

    def values(name: str, kind: str) -> list[Any]:
        return [nanoseconds(v) for v in columns[name]] if kind == "TIMESTAMP_NS" else columns[name]

    arrays = {}
    for name, kind in TABLES[table]:
        if between is not None:
            between()
        arrays[name] = pa.array(values(name, kind), type=arrow_type(kind))
    return pa.table(arrays)


def _case(values: dict[str, str], what: str) -> str:
    if not values:
        return "NULL"
    arms = " ".join(
        f"WHEN '{rid.replace(chr(39), '')}' THEN '{value.replace(chr(39), '')}'"
        for rid, value in values.items()
    )
    return f"CASE lower(_ResourceId) {arms} END"


# The parts of KQL text that are not code: string literals ('…', "…" with backslash escapes; @'…',
# @"…" verbatim, a doubled quote inside; ```…``` and ~~~…~~~ multi-line) and // comments. An unclosed
# literal runs to the end of its line (the parser then rejects the query, as the service would).
_NOT_CODE = re.compile(
    r"@'[^'\n]*(?:''[^'\n]*)*'?"
    r'|@"[^"\n]*(?:""[^"\n]*)*"?'
    r"|```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)"
    r"|'(?:[^'\\\n]|\\.)*'?"
    r'|"(?:[^"\\\n]|\\.)*"?'
    r"|//[^\n]*",
    re.DOTALL,
)


def code_spans(query: str) -> list[tuple[bool, str]]:
    """`query` cut into (is_code, text) pieces that join back to it; string literals and comments are
    the pieces that are not code."""
    pieces: list[tuple[bool, str]] = []
    at = 0
    for match in _NOT_CODE.finditer(query):
        if match.start() > at:
            pieces.append((True, query[at : match.start()]))
        pieces.append((False, match.group(0)))
        at = match.end()
    if at < len(query):
        pieces.append((True, query[at:]))
    return pieces


def rewrite_kql(query: str) -> str:
    """What duckdb-kql lacks, in terms it has: ingestion_time() is the hidden _IngestionTime column.
    Only code is rewritten: a literal (`print s = "ingestion_time()"`) stays what the user typed."""
    return "".join(
        _INGESTION_TIME.sub("_IngestionTime", text) if is_code else _plain_literal(text)
        for is_code, text in code_spans(query)
    )


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _plain_literal(text: str) -> str:
    """A ```…``` / ~~~…~~~ literal (which duckdb-kql reads as text with the fences) as the "…" literal
    of the same value; anything else as it is."""
    if len(text) >= 6 and text[:3] in ("```", "~~~") and text.endswith(text[:3]):
        return '"' + "".join(_ESCAPES.get(char, char) for char in text[3:-3]) + '"'
    return text
