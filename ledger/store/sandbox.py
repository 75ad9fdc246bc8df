"""The read-only SQL use case: statement checks, execution, limits.

Defence in layers, each enough on its own for what it covers:

1. **Statement type**, also of the statement under EXPLAIN / EXPLAIN ANALYZE
   (DuckDB types `EXPLAIN ANALYZE X` as EXPLAIN, yet runs X): only SELECT
   (which covers WITH, VALUES, FROM-first, DESCRIBE, SHOW, SUMMARIZE).
2. **The parsed statement**, walked as DuckDB serialises it
   (`json_serialize_sql`): every table function must be on an allowlist
   (catalogue and generator functions; no file, network, checkpoint or
   `query()` function), no scalar function with side effects, and every table
   reference a plain name (a quoted file path would be a replacement scan).
3. **The tokens**, as a second, independent check: a denylist of side-effect
   and file-reading function names anywhere a call could be.
4. **The instance** (`harden`): no external access at all (no allowed
   directories), extensions never installed or loaded, a memory limit, and
   the configuration locked; every statement runs in a READ ONLY transaction
   on its own cursor.

Execution streams Arrow batches into an `AnswerSink` (the encoder) inside the
time limit: a row cap and an answer-size cap in bytes cut the answer at a row
boundary (`truncated`), and an interrupt at any point, or the time running out
while encoding, is a 408 problem. DuckDB types an Arrow client cannot read back
faithfully are cast in DuckDB first (`portable_type`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import duckdb
import pyarrow as pa

from ledger.domain.errors import LedgerError

DEFAULT_SQL_MEMORY_MB = 1024
DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024

# Table functions a read token may call: generators and read-only catalogue views.
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "repeat", "repeat_row", "summary",
    "test_all_types", "test_vector_types", "json_each", "json_tree",
    "histogram", "histogram_values", "pg_timezone_names", "icu_calendar_names",
    "duckdb_columns", "duckdb_constraints", "duckdb_dependencies", "duckdb_functions",
    "duckdb_indexes", "duckdb_keywords", "duckdb_schemas", "duckdb_sequences",
    "duckdb_tables", "duckdb_types", "duckdb_views", "pragma_table_info",
})  # fmt: skip

# Scalar functions with side effects, or that block past the interrupt.
SIDE_EFFECT_SCALARS = frozenset({
    "getenv", "nextval", "currval", "setval", "setseed", "write_log", "pg_sleep", "sleep_ms",
})  # fmt: skip
# Second layer: names never to be called, whatever the allowlist says.
DENIED_FUNCTIONS = SIDE_EFFECT_SCALARS | {
    "checkpoint", "force_checkpoint", "query", "query_table", "json_execute_serialized_sql",
    "glob", "sniff_csv", "copy_database", "import_database", "seq_scan", "which_secret",
    "duckdb_secrets", "duckdb_settings", "duckdb_databases", "duckdb_extensions",
    "duckdb_temporary_files", "duckdb_memory", "pragma_database_size", "pragma_storage_info",
    "pragma_metadata_info", "truncate_duckdb_logs", "python_map_function",
}  # fmt: skip
DENIED_PREFIXES = ("read_", "parquet_", "sniff_", "duckdb_log")
DENIED_PARTS = ("_scan", "checkpoint", "external_resource", "logging", "profiling", "grammar")

PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Leaves cast to VARCHAR for every format: Arrow cannot hold them (UHUGEINT comes out
# wrapped as decimal128, TIMETZ loses its offset, BIGNUM and BIT are DuckDB's bytes).
_ALWAYS_TEXT = {"uhugeint", "bignum", "bit", "varint", "time with time zone"}
# ...and for JSON and CSV also the temporal types, whose infinities and years past 9999
# Python cannot hold: DuckDB's own text form ('infinity', '5881580-07-10').
_TEMPORAL = {
    "date", "time", "time_ns", "timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns",
    "timestamp with time zone", "timestamptz_ns", "geometry",
}  # fmt: skip


@dataclass(frozen=True)
class SqlLimits:
    max_rows: int = 10_000
    max_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    timeout_s: float = 5.0
    batch_rows: int = 2048  # rows per Arrow batch DuckDB hands over (memory per step)


class AnswerSink(Protocol):
    """An encoder fed inside the time limit. `text_values`: temporal values as text."""

    text_values: bool
    slice_rows: int  # rows per write (the encoder's step; the deadline is checked between)

    def start(self, names: list[str], types: list[str], schema: pa.Schema) -> None: ...

    def write(self, batch: pa.RecordBatch, budget_bytes: int) -> int:
        """Encode rows of batch while the encoding fits budget_bytes; return rows taken."""
        ...

    @property
    def size_bytes(self) -> int: ...


def refused(detail: str) -> LedgerError:
    return LedgerError("sql-refused", "Statement not allowed", detail, 403)


# -- statement checks ------------------------------------------------------


def check_statement(sql: str) -> list[str]:
    """Refuse (LedgerError) anything but one SELECT, or EXPLAIN of one; return the
    SELECT texts that were checked (the statement, or what EXPLAIN would run)."""
    statements = _parse(sql)
    if len(statements) != 1:
        raise LedgerError(
            "sql-refused", "Exactly one statement, please",
            f"got {len(statements)} statements", 400,
        )  # fmt: skip
    kind = statements[0].type
    if kind == duckdb.StatementType.SELECT:
        selects = [sql]
    elif kind == duckdb.StatementType.EXPLAIN:
        selects = _explained(sql)
    else:
        raise refused(
            f"{kind.name} is not allowed; only SELECT, WITH, EXPLAIN, DESCRIBE, SUMMARIZE"
        )
    for text in selects:
        check_parsed(text)
    check_tokens(sql)
    return selects


def _parse(sql: str) -> list:
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise LedgerError("sql-error", "SQL does not parse", _first_line(e), 400) from None


def _explained(sql: str) -> list[str]:
    """The statement EXPLAIN [ANALYZE] [(options)] would run, which must be a SELECT.

    `EXPLAIN (...)` is either an option list or a parenthesised query, so both
    readings are tried: every one that parses must be a SELECT, and one must.
    """
    tokens = _tokens(sql)
    words = [text.lower() for text, _ in tokens]
    i = 1  # tokens[0] is EXPLAIN
    if i < len(words) and words[i] in ("analyze", "analyse"):
        i += 1
    starts = [i]
    if i < len(words) and words[i] == "(":
        depth, j = 0, i
        while j < len(words):
            depth += {"(": 1, ")": -1}.get(words[j], 0)
            j += 1
            if depth == 0:
                break
        starts.append(j)
    selects = []
    for start in starts:
        if start >= len(tokens):
            continue
        inner = sql[tokens[start][1] :]
        try:
            statements = duckdb.extract_statements(inner)
        except duckdb.Error:
            continue  # not this reading
        kinds = {s.type for s in statements}
        if len(statements) != 1 or kinds != {duckdb.StatementType.SELECT}:
            names = ", ".join(sorted(k.name for k in kinds)) or "nothing"
            raise refused(f"EXPLAIN of {names} is not allowed; only EXPLAIN of a SELECT")
        selects.append(inner)
    if not selects:
        raise refused("EXPLAIN of this statement is not allowed; only EXPLAIN of a SELECT")
    return selects


_SERIALIZER = threading.local()


def _serialized(sql: str) -> dict:
    """DuckDB's own parse tree of a SELECT, on a private in-memory instance."""
    con = getattr(_SERIALIZER, "con", None)
    if con is None:
        con = duckdb.connect(":memory:", config={"enable_external_access": False})
        _SERIALIZER.con = con
    text = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
    tree = json.loads(text)
    if tree.get("error"):
        raise refused(f"the statement cannot be checked: {tree.get('error_message', '')}")
    return tree


def check_parsed(sql: str) -> None:
    """Layer 2: table functions on the allowlist, no side-effect scalar, plain table names."""
    for node in _nodes(_serialized(sql)):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            name = _function_name(node.get("function") or {})
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise refused(f"table function {name}() is not allowed in read-only SQL")
        elif node.get("class") == "FUNCTION":
            name = _function_name(node)
            if _denied(name):
                raise refused(f"function {name}() is not allowed in read-only SQL")
        elif kind == "BASE_TABLE":
            name = node.get("table_name", "")
            if not PLAIN_NAME.fullmatch(name):
                raise refused(f"{name!r} is not a table of the ledger (no file access)")


def _nodes(tree):
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _function_name(node: dict) -> str:
    return str(node.get("function_name", "")).lower()


def _denied(name: str) -> bool:
    name = name.strip('"').lower()
    return (
        name in DENIED_FUNCTIONS
        or name.startswith(DENIED_PREFIXES)
        or any(part in name for part in DENIED_PARTS)
    )


def check_tokens(sql: str) -> None:
    """Layer 3: no denied name directly before '(' and no string literal as a table."""
    tokens = _tokens(sql)
    for (text, _), (following, _) in zip(tokens, tokens[1:], strict=False):
        if following == "(" and _denied(text.split(".")[-1]):
            raise refused(f"{text.strip(chr(34))}() is not allowed in read-only SQL")
        if text.lower() in ("from", "join") and following[:1] == "'":
            raise refused("a quoted file name is not a table (no file access)")


def _tokens(sql: str) -> list[tuple[str, int]]:
    """(text, offset) of each token, comments dropped."""
    raw = duckdb.tokenize(sql)
    out = []
    for k, (offset, kind) in enumerate(raw):
        end = raw[k + 1][0] if k + 1 < len(raw) else len(sql)
        if kind != duckdb.token_type.comment:
            out.append((sql[offset:end].strip(), offset))
    return out


# -- execution ---------------------------------------------------------------


def harden(con: duckdb.DuckDBPyConnection, memory_limit_mb: int) -> None:
    """Instance settings for user SQL; then the configuration is locked for good."""
    con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def run(con: duckdb.DuckDBPyConnection, sql: str, limits: SqlLimits, sink: AnswerSink) -> bool:
    """Run one checked statement into sink; returns whether the answer was cut."""
    check_statement(sql)
    cur = con.cursor()  # its own cursor: an interrupt reaches this statement only
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        cur.interrupt()

    timer = threading.Timer(limits.timeout_s, interrupt)
    deadline = time.monotonic() + limits.timeout_s
    try:
        cur.execute("BEGIN TRANSACTION READ ONLY")
        timer.start()
        rel = cur.sql(sql)  # EXPLAIN ANALYZE runs here
        names, types = list(rel.columns), [str(t) for t in rel.types]
        rel = _portable(rel, sink.text_values)
        reader = rel.to_arrow_reader(limits.batch_rows)
        sink.start(names, types, reader.schema)
        return _drain(reader, sink, limits, deadline)
    except (duckdb.Error, pa.ArrowException, OSError) as e:
        if fired.is_set() or isinstance(e, duckdb.InterruptException):
            raise _timeout(limits) from None
        raise _sql_error(e) from None
    finally:
        timer.cancel()
        cur.close()


def _drain(reader, sink: AnswerSink, limits: SqlLimits, deadline: float) -> bool:
    rows = 0
    for batch in reader:
        for start in range(0, batch.num_rows, sink.slice_rows):
            if time.monotonic() > deadline:
                raise _timeout(limits)
            piece = batch.slice(start, sink.slice_rows)
            if rows == limits.max_rows:
                return True  # a row past the cap exists
            wanted = piece.slice(0, limits.max_rows - rows)
            taken = sink.write(wanted, limits.max_bytes - sink.size_bytes)
            rows += taken
            if taken < piece.num_rows:
                return True  # cut by the answer-size cap or the row cap
    return False


def _timeout(limits: SqlLimits) -> LedgerError:
    return LedgerError(
        "sql-timeout", "Query took too long",
        f"interrupted after {limits.timeout_s:g} s; narrow it or aggregate", 408,
    )  # fmt: skip


def _sql_error(e: Exception) -> LedgerError:
    message = _first_line(e)
    lower = message.lower()
    if "out of memory" in lower:
        return LedgerError("sql-memory", "Query needs too much memory", message, 422)
    status = 403 if "read-only" in lower or "disabled" in lower or "permission" in lower else 400
    return LedgerError("sql-error", "SQL failed", message, status)


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [""])[0]


# -- portable types ----------------------------------------------------------


def _portable(rel, text_values: bool):
    """rel with the columns an answer format cannot carry faithfully cast in DuckDB."""
    targets = [portable_type(t, text_values) for t in rel.types]
    if all(t is None for t in targets):
        return rel
    exprs = [
        f"#{i + 1} AS c{i}" if t is None else f"CAST(#{i + 1} AS {t}) AS c{i}"
        for i, t in enumerate(targets)
    ]
    return rel.project(", ".join(exprs))


def portable_type(t, text_values: bool) -> str | None:
    """The DuckDB type to cast a column of type t to, or None to keep it."""
    kind = t.id
    if kind in _ALWAYS_TEXT or (text_values and kind in _TEMPORAL):
        return "VARCHAR"
    if kind not in ("struct", "list", "array", "map", "union", "tuple"):
        return None
    children = t.children
    changed = [portable_type(c, text_values) for _, c in _typed_children(kind, children)]
    if all(c is None for c in changed):
        return None
    inner = [
        c or str(orig)
        for c, (_, orig) in zip(changed, _typed_children(kind, children), strict=True)
    ]
    if kind == "list":
        return f"{inner[0]}[]"
    if kind == "array":
        return f"{inner[0]}[{int(children[1][1])}]"
    if kind == "map":
        return f"MAP({inner[0]}, {inner[1]})"
    names = [n for n, _ in children]
    if kind == "struct" and all(names):
        fields = ", ".join(
            f'"{n.replace(chr(34), chr(34) * 2)}" {c}' for n, c in zip(names, inner, strict=True)
        )
        return f"STRUCT({fields})"
    return "VARCHAR"  # unions and tuples: their text form


def _typed_children(kind: str, children) -> list:
    if kind == "array":
        return children[:1]  # [('child', T), ('size', n)]
    if kind == "union":
        return children[1:]  # the tag first
    return children


class TableSink:
    """Collects the answer as one Arrow table (the library's and the CLI's form)."""

    text_values = False
    slice_rows = 65_536

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []
        self._size = 0
        self.schema = pa.schema([])

    @property
    def size_bytes(self) -> int:
        return self._size

    def start(self, names: list[str], types: list[str], schema: pa.Schema) -> None:
        self.schema = pa.schema([f.with_name(n) for f, n in zip(schema, names, strict=True)])

    def write(self, batch: pa.RecordBatch, budget_bytes: int) -> int:
        rows = batch.num_rows
        while rows and batch.slice(0, rows).nbytes > budget_bytes:
            rows //= 2
        if rows:
            piece = pa.RecordBatch.from_arrays(batch.slice(0, rows).columns, schema=self.schema)
            self.batches.append(piece)
            self._size += piece.nbytes
        return rows

    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, self.schema)


def to_table(con: duckdb.DuckDBPyConnection, sql: str, limits: SqlLimits) -> tuple[pa.Table, bool]:
    """`run` into one Arrow table: (the rows, whether more were cut)."""
    sink = TableSink()
    truncated = run(con, sql, limits, sink)
    return sink.table(), truncated
