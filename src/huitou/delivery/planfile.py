"""Read a plan file for delivery, and refuse one that is not a plan as `huitou plan` wrote it.

Refused, with the file and line of the first offending rows: a column missing or unknown,
rows of more than one plan (two files concatenated), an unknown status, an idempotency key
that does not match its row's playbook, rule, customer and date, a key twice, and a send
row whose checksum does not match what it would deliver (recipient, time, channel, text):
the plan was edited after planning. The checksum is not a signature: whoever can run
`huitou plan` can make a valid plan; it stops the edited, mixed, truncated-and-patched
file, which is the file that goes wrong in practice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from ..contract import COLUMN_TYPES, COLUMNS, CONTENT_FIELDS, CONTENT_TYPE, FORMATS, STATUSES, checksum_sql, key_sql
from ..db import connect, scalar, select_tree, tree
from ..errors import HuitouError
from ..i18n import N_, _
from .ledger import ENQUEUE_COLUMNS, HOLD_COLUMNS

_SHOWN = 5  # offending rows named per problem


class PlanFileError(HuitouError):
    """The plan file cannot be delivered; the message says where and why."""


# The plan's columns for the ledger's ENQUEUE_COLUMNS, in that order.
_LEDGER_SELECT = """idempotency_key, plan_id, strftime(as_of, '%Y-%m-%d'), "trigger", customer_id, playbook, rule_id, step, channel, intent, "to", send_at,
                    epoch(CAST(send_at AS TIMESTAMPTZ)), "timezone", quiet_hours, CAST(to_json(content) AS VARCHAR)"""
BATCH = 10_000


@dataclass
class Due:
    """A due send row, without its content (the ledger holds that)."""

    key: str
    channel: str
    customer_id: str
    send_at_utc: float
    timezone: str | None
    quiet_hours: str | None
    send_at: str


@dataclass
class PlanFile:
    """A checked plan, held in DuckDB rather than in Python objects (a million rows stay
    cheap); close() when done."""

    path: Path
    plan_id: str | None
    rows: int
    sends: int
    con: duckdb.DuckDBPyConnection

    def channels(self) -> list[str]:
        return [c for (c,) in self.con.execute("SELECT DISTINCT channel FROM plan_file WHERE status = 'send' ORDER BY 1").fetchall()]

    def count(self, channel: str | None = None) -> int:
        """Send rows (of one channel)."""
        return scalar(self.con, "SELECT count(*) FROM plan_file WHERE status = 'send' AND channel = coalesce(?, channel)", [channel])

    def due(self, until: float, channel: str | None = None) -> list[Due]:
        """Send rows planned at or before `until` (epoch seconds), in plan order."""
        query = (
            'SELECT idempotency_key, channel, customer_id, epoch(CAST(send_at AS TIMESTAMPTZ)) AS t, "timezone", quiet_hours, send_at '
            "FROM plan_file WHERE status = 'send' AND t <= ?"
        )
        params: list[Any] = [until]
        if channel is not None:
            query, params = query + " AND channel = ?", [*params, channel]
        return [Due(*row) for row in self.con.execute(query + " ORDER BY line", params).fetchall()]

    def count_reason(self, reason: str) -> int:
        """Rows the plan left out for this reason (already_sent, ...)."""
        return scalar(self.con, "SELECT count(*) FROM plan_file WHERE reason = ?", [reason])

    def count_containing(self, channel: str, texts: list[str]) -> int:
        """Send rows of the channel whose body or HTML part contains any of these texts."""
        found = exp.or_(
            *[
                exp.func("contains", exp.func("coalesce", exp.column(part, "content"), exp.Literal.string("")), exp.Literal.string(text))
                for text in texts
                for part in ("body", "html")
            ]
        )
        query = (
            exp.select("count(*)").from_("plan_file").where(exp.and_("status = 'send'", exp.column("channel").eq(exp.Literal.string(channel)), found))
        )
        return scalar(self.con, query.sql("duckdb"))

    @property
    def as_of(self) -> str:
        """The plan's as-of date (YYYY-MM-DD): which of two plans is the newer."""
        return str(scalar(self.con, "SELECT strftime(min(as_of), '%Y-%m-%d') FROM plan_file") or "")

    def ledger_rows(self, keys: list[str] | None = None, channel: str | None = None) -> Iterator[dict[str, Any]]:
        """Send rows as Ledger.enqueue takes them (all, these keys, or one channel's),
        batch by batch."""
        where = "status = 'send' AND channel = coalesce(?, channel)" + (" AND list_contains(?, idempotency_key)" if keys is not None else "")
        cursor = self.con.execute(
            f"SELECT {_LEDGER_SELECT} FROM plan_file WHERE {where} ORDER BY line", [channel, *([keys] if keys is not None else [])]
        )
        while batch := cursor.fetchmany(BATCH):
            yield from (dict(zip(ENQUEUE_COLUMNS, row)) for row in batch)

    def holdouts_due(self, until: float, channel: str | None = None) -> Iterator[dict[str, Any]]:
        """Holdout rows planned at or before `until` (of one channel), as Ledger.hold takes
        them."""
        cursor = self.con.execute(
            """SELECT idempotency_key, plan_id, strftime(as_of, '%Y-%m-%d'), "trigger", customer_id, playbook, rule_id, step, channel, intent, send_at, t
               FROM (SELECT *, epoch(TRY_CAST(send_at AS TIMESTAMPTZ)) AS t FROM plan_file) WHERE status = 'holdout' AND t <= ? AND channel = coalesce(?, channel)
               ORDER BY line""",
            [until, channel],
        )
        while batch := cursor.fetchmany(BATCH):
            yield from (dict(zip(HOLD_COLUMNS, row)) for row in batch)

    def withdrawn(self, channel: str | None = None) -> Iterator[tuple[str, str]]:
        """(key, why) of the rows this plan does not send (of one channel). Not those it
        leaves out as already sent: the ledger has them, sent or in flight when a run died,
        and a message in flight is resent, not withdrawn by a plan made after the crash."""
        cursor = self.con.execute(
            "SELECT idempotency_key, 'plan ' || plan_id || ': ' || status || coalesce(' (' || reason || ')', '') FROM plan_file "
            "WHERE status <> 'send' AND reason IS DISTINCT FROM 'already_sent' AND channel = coalesce(?, channel) ORDER BY line",
            [channel],
        )
        while batch := cursor.fetchmany(BATCH):
            yield from batch

    def close(self) -> None:
        self.con.close()


def read_plan(path: Path, project: str | None = None) -> PlanFile:
    """The checked plan file; PlanFileError when it is not a whole plan as `huitou plan`
    wrote it, or (with `project`, contract.project_id) a plan of another project."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise PlanFileError(_("{path}: a plan is a .jsonl, .csv or .parquet file written by `huitou plan --out`", path=path))
    if not path.is_file():
        raise PlanFileError(_("{path}: no such file", path=path))
    source = path.resolve()  # the path the connection may read, as it was allowed (DuckDB 1.3 compares the text)
    con = connect([source])
    try:
        _load(con, source, fmt, path)
        return _validated(con, path, fmt, project)
    except duckdb.Error as exc:
        con.close()
        raise PlanFileError(_("{path}: not a readable {format} plan: {reason}", path=path, format=fmt, reason=str(exc).splitlines()[0])) from None
    except PlanFileError:
        con.close()
        raise


# How each format is read (the path a literal node), and the content column made from it.
_READERS = {
    "jsonl": "SELECT * FROM read_json(:path, format = 'newline_delimited', columns = :columns)",
    "csv": "SELECT * FROM read_csv(:path, header = true, all_varchar = true)",
    "parquet": "SELECT * FROM read_parquet(:path)",
}
# The columns a file has (JSONL: every line read for them).
_PRESENT = {**_READERS, "jsonl": "SELECT * FROM read_json(:path, format = 'newline_delimited', sample_size = -1)"}


def _load(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, shown: Path) -> None:
    """CREATE TABLE plan_file: the rows as typed columns plus `line` (file line, or row);
    `shown`: the path as messages name it."""
    columns = exp.Struct(
        expressions=[exp.PropertyEQ(this=exp.to_identifier(c, quoted=True), expression=exp.Literal.string(COLUMN_TYPES[c])) for c in COLUMNS]
    )
    _check_columns(shown, list(con.sql(tree(_PRESENT[fmt], path=str(path)).sql("duckdb")).columns))
    source = select_tree(_READERS[fmt], path=str(path), columns=columns)
    content = {
        "jsonl": exp.column("content"),
        "csv": tree("from_json(content, :structure)", structure=_json_structure()),
        "parquet": exp.cast(exp.column("content"), exp.DataType.build(CONTENT_TYPE, dialect="duckdb")),
    }[fmt]
    first_line = 2 if fmt == "csv" else 1  # CSV: the header is line 1
    casts = [
        content.as_("content")
        if c == "content"
        else exp.TryCast(this=exp.column(c, quoted=True), to=exp.DataType.build(COLUMN_TYPES[c], dialect="duckdb")).as_(c, quoted=True)
        for c in COLUMNS
    ]
    line = tree("row_number() OVER () + :offset", offset=first_line - 1).as_("line")
    create = exp.Create(this=exp.to_table("plan_file"), kind="TABLE", expression=exp.select(line, *casts).from_(source.subquery("f")))
    con.execute(create.sql("duckdb"))


def _json_structure() -> str:
    return "{" + ", ".join(f'"{name}": "{type_}"' for name, type_ in CONTENT_FIELDS) + "}"


def _check_columns(path: Path, present: list[str]) -> None:
    missing = [c for c in COLUMNS if c not in present]
    unknown = [c for c in present if c not in COLUMNS]
    if missing or unknown:
        parts = [_("missing column(s) {columns}", columns=", ".join(missing))] if missing else []
        parts += [_("unknown column(s) {columns}", columns=", ".join(unknown))] if unknown else []
        said = _(
            "{path}: {problems}: a plan file has exactly the columns `huitou plan --out` writes ({columns}); plan again rather than editing it",
            path=path,
            problems="; ".join(parts),
            columns=", ".join(COLUMNS),
        )
        raise PlanFileError(said)


def _validated(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, project: str | None) -> PlanFile:
    total = scalar(con, "SELECT count(*) FROM plan_file")
    if total == 0:
        return PlanFile(path, None, 0, 0, con)
    plans = con.execute(
        "SELECT plan_id, count(*), min(line), any_value(project), any_value(plan_rows) FROM plan_file GROUP BY plan_id ORDER BY 3"
    ).fetchall()
    if len(plans) > 1:
        listed = ", ".join(
            _("{id}: {n:,} rows from {where}", id=pid or _("(none)"), n=n, where=_where(fmt, line)) for pid, n, line, *_rest in plans[:_SHOWN]
        )
        raise PlanFileError(_("{path}: rows of {count} plans ({listed}): send each plan file on its own", path=path, count=len(plans), listed=listed))
    _whole(path, fmt, con, project, total)
    checks = [
        (
            N_("unknown status (a plan row is send, suppressed or holdout)"),
            tree("status IS NULL OR status NOT IN :statuses", statuses=exp.Tuple(expressions=[exp.Literal.string(s) for s in STATUSES])).sql(
                "duckdb"
            ),
        ),
        (
            N_("the idempotency key does not match the row's playbook, rule, customer and trigger"),
            f"idempotency_key IS DISTINCT FROM {key_sql()}",
        ),
        (N_("the same idempotency key as an earlier row"), "line > min(line) OVER (PARTITION BY idempotency_key)"),
        (N_("send_at is not an ISO 8601 time with offset"), "status = 'send' AND TRY_CAST(send_at AS TIMESTAMPTZ) IS NULL"),
        (
            N_("the row was changed after planning (its checksum does not match its fields: status, reason, time, recipient, text, ...)"),
            f"checksum IS DISTINCT FROM {checksum_sql()}",
        ),
    ]
    for problem, condition in checks:
        bad = con.execute(f"SELECT line FROM (SELECT line, ({condition}) AS bad FROM plan_file) WHERE bad ORDER BY line").fetchall()
        if bad:
            others = [_where(fmt, line) for (line,) in bad[1:_SHOWN]] + ([_("{n:,} more", n=len(bad) - _SHOWN)] if len(bad) > _SHOWN else [])
            rows = (", ".join(others[:-1]) + _(" and ") if len(others) > 1 else "") + others[-1] if others else ""
            also = _(" (also {rows})", rows=rows) if others else ""
            where = f"{path}:{_where(fmt, bad[0][0], bare=True)}"
            raise PlanFileError(_("{where}: {problem}{also}; plan again rather than editing the file", where=where, problem=_(problem), also=also))
    sends = scalar(con, "SELECT count(*) FROM plan_file WHERE status = 'send'")
    return PlanFile(path, plans[0][0], total, sends, con)


def _whole(path: Path, fmt: str, con: duckdb.DuckDBPyConnection, project: str | None, total: int) -> None:
    """The file is one plan of this project, every row of it: each row names the project
    and the plan's row count (the checksum covers both), so a foreign plan and a file cut
    at a line's end are refused as surely as an edited row."""
    first = con.execute(
        "SELECT line, project, plan_rows FROM plan_file WHERE project IS DISTINCT FROM (SELECT min(project) FROM plan_file) "
        "OR plan_rows IS DISTINCT FROM (SELECT min(plan_rows) FROM plan_file) OR plan_rows IS NULL ORDER BY line LIMIT 1"
    ).fetchall()
    if first:
        where = f"{path}:{_where(fmt, first[0][0], bare=True)}"
        raise PlanFileError(
            _("{where}: the row's project or row count differs from the plan's; plan again rather than editing the file", where=where)
        )
    ((named, rows),) = con.execute("SELECT min(project), min(plan_rows) FROM plan_file").fetchall()
    if project is not None and named != project:
        said = _(
            "{path}: a plan of project {named}, not of this one ({project}: huitou.yaml's id, else its name); send a plan where it was planned, or plan here",
            path=path,
            named=repr(named),
            project=repr(project),
        )
        raise PlanFileError(said)
    if rows != total:
        last = scalar(con, "SELECT max(line) FROM plan_file")
        where = f"{path}:{_where(fmt, last, bare=True)}"
        said = _(
            "{where}: the plan has {rows:,} rows and the file {total:,}: it was cut short or rows were removed (a copy or a disk that filled up); plan again",
            where=where,
            rows=rows,
            total=total,
        )
        raise PlanFileError(said)


def _where(fmt: str, line: int, bare: bool = False) -> str:
    """How to point at a row: CSV and JSONL by line, Parquet by row number."""
    if fmt == "parquet":
        return _("row {line}", line=line)
    return str(line) if bare else _("line {line}", line=line)
