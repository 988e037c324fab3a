"""Load orders and customers into DuckDB: typed, checked, with bad rows set aside.

Every row gets a verdict. A row that cannot be used (no customer id, a date that does not
parse, a negative amount, ...) is *rejected*: it goes to the quarantine file with its
reason and stays out of the evaluation. A usable row with one bad optional field (an
unparseable birthday, a rating of 9) is *kept* with that field set to NULL, and is listed
in the quarantine file too. Nothing disappears silently; the report counts both.

Reading is lazy: `orders` and `customers` are views over the files, so a 10M-row Parquet
file streams through the feature query instead of being copied into memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy

from ..diagnostics import did_you_mean
from ..spreadsheet import cell_sql
from .csvfile import malformed, open_csv, report_malformed
from .sources import ENGINE_TABLE, REQUIRED_ORDER_COLUMNS, DataError, Source
from ..db import first_row, ident, literal, scalar

ORDER_STATUSES = ("paid", "unpaid", "cancelled", "refunded")
# Why an order row is rejected, in the order the checks apply (the first match wins);
# unknown_customer comes last and only when a customers file is given.
ORDER_REJECTIONS = ("missing_customer_id", "bad_customer_id", "missing_date", "bad_date", "implausible_date", "missing_amount", "bad_amount", "negative_amount",
                    "unknown_status", "future_date", "duplicate_order_id")
ORDER_ISSUES = ("bad_delivered_at", "bad_rating", "amount_rounded")
# Orders before this day are data errors (a year 1 or a negative year), not history: no
# shop's order export reaches back past the Unix epoch. Dates of people (birthdays) and
# other profile dates are plausible from PROFILE_DATES_FROM to PROFILE_DATES_TO.
ORDERS_FROM = dt.date(1970, 1, 1)
# Issues whose row keeps the field (changed as said here, and listed in the quarantine).
KEPT_AS_IS = {"amount_rounded": "amount with more decimals than money has, rounded to cents (check the export)"}
PROFILE_DATES_FROM, PROFILE_DATES_TO = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
# A customer id is a key the shop's own systems use: one with a control character (NUL,
# ESC, a line break) cannot be typed, printed or put in an unsubscribe link.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"
STRING_PROFILE = ("name", "phone", "email", "wechat_id", "gender", "city", "tier", "timezone", "locale")
BOOLEAN_PROFILE = ("consent_sms", "consent_email", "consent_wechat", "consent_phone")
DUCK_TYPES = {"integer": "BIGINT", "money": "DECIMAL(18,2)", "number": "DOUBLE", "date": "DATE", "string": "VARCHAR", "boolean": "BOOLEAN", "list": "VARCHAR[]"}
_OFFSET = r"(Z|[+-]\d\d:?\d\d)$"


@dataclass
class LoadReport:
    source: str
    path: Path
    rows: int = 0
    loaded: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    kept_with_issues: dict[str, int] = field(default_factory=dict)
    after_as_of: int = 0
    quarantine_file: Path | None = None
    hints: list[str] = field(default_factory=list)  # how to fix what was rejected or repaired
    max_rejected: float = 0.5
    label: str = ""  # the source as messages name it (Source.label)

    @property
    def too_many_rejected(self) -> bool:
        """More of the rows rejected than the source allows (`max_rejected`)."""
        return self.rows > 0 and sum(self.rejected.values()) > self.max_rejected * self.rows

    def lines(self) -> list[str]:
        out = [f"{self.source}: {self.rows:,} rows read from {self.label}, {self.loaded:,} loaded"]
        if self.rejected:
            out.append("  rejected: " + ", ".join(f"{n:,} {r}" for r, n in sorted(self.rejected.items())))
        nulled = {r: n for r, n in self.kept_with_issues.items() if r not in KEPT_AS_IS}
        if nulled:
            out.append("  kept, field set to NULL: " + ", ".join(f"{n:,} {r}" for r, n in sorted(nulled.items())))
        for issue, what in KEPT_AS_IS.items():
            if self.kept_with_issues.get(issue):
                out.append(f"  kept, {what}: {self.kept_with_issues[issue]:,} {issue}")
        if self.after_as_of:
            out.append(f"  {self.after_as_of:,} orders after the as-of date are ignored")
        out += [f"  {hint}" for hint in self.hints]
        if self.quarantine_file:
            out.append(f"  details: {self.quarantine_file}")
        return out


# The short names every SQL-building module uses (see db.py: sqlglot quotes them).
q = ident
lit = literal


def _raw_select(con: duckdb.DuckDBPyConnection, source: Source) -> str:
    """SQL reading the file as it is, plus `_row`: the 1-based data row number."""
    path = lit(str(source.path))
    if source.format == "parquet":
        return f"SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _row FROM read_parquet({path}, file_row_number = true)"
    if source.format == "jsonl":
        return f"SELECT *, row_number() OVER () AS _row FROM read_json({path}, format = 'newline_delimited')"
    if source.format == ENGINE_TABLE:
        # A table has no row order: number the rows by their values (DuckDB's byte order,
        # whatever the engine's collation), so that ties are settled alike on every run.
        local = q(engine_raw(source))
        order = ", ".join(q(c) for c in _columns(con, engine_raw(source)))
        return f"SELECT *, row_number() OVER (ORDER BY {order}) AS _row FROM {local}"
    if source.format == "duckdb":
        table = source.table or source.name
        return f"SELECT *, row_number() OVER () AS _row FROM {q(_attached(con, source))}.{q(table)}"
    opts = source.csv
    header = bool(opts.get("header", True))
    names = opts.get("names")
    if opts.get("delimiter") == "whitespace":
        # Space-aligned files (CDNOW): split each line on runs of blanks.
        lines = f"SELECT line, row_number() OVER () AS n FROM (SELECT unnest(string_split(replace(content, chr(13), ''), chr(10))) AS line FROM read_text({path}))"
        parts = "regexp_split_to_array(trim(line), '\\s+')"
        if names is None:
            if not header:
                raise DataError(f"{source.path}: a file without a header needs csv.names in huitou.yaml")
            first = first_row(con, f"SELECT {parts} FROM ({lines}) WHERE n = 1")
            names = list(first[0]) if first else []
        cols = ", ".join(f"{parts}[{i + 1}] AS {q(n)}" for i, n in enumerate(names))
        skip = 1 if header else 0
        return f"SELECT {cols}, n - {skip} AS _row FROM ({lines}) WHERE n > {skip} AND trim(line) <> ''"
    return open_csv(con, source)


def engine_raw(source: Source) -> str:
    """The local table an engine's table source is brought into (evaluate.open_data)."""
    return "engine_raw_" + source.name


def _attached(con: duckdb.DuckDBPyConnection, source: Source) -> str:
    """The name of the attached DuckDB database file of a source, attached read-only once
    per file (orders and customers often share one; DuckDB 1.x refuses a second attach)."""
    found = scalar(con, "SELECT database_name FROM duckdb_databases() WHERE path = ?", [str(source.path)])
    if found is not None:
        return str(found)
    con.execute(f"ATTACH {lit(str(source.path))} AS {q('src_' + source.name)} (READ_ONLY)")
    return "src_" + source.name


def mapped(source: Source, canonical: str, expr: str) -> str:
    """A column with the source's `values:` mapping for it applied (exact match after
    trimming; other values pass unchanged), or the column itself when it has none."""
    mapping = source.values.get(canonical)
    if not mapping:
        return expr
    cases = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in mapping.items())
    return f"(CASE trim(CAST({expr} AS VARCHAR)) {cases} ELSE CAST({expr} AS VARCHAR) END)"


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {name: type_ for name, type_, *_ in con.execute(f"DESCRIBE {q(view)}").fetchall()}


def open_raw(con: duckdb.DuckDBPyConnection, source: Source) -> dict[str, str]:
    """Create the view raw_<name> over the file; its columns and their types."""
    if source.format != ENGINE_TABLE and source.path.is_file() and source.path.stat().st_size == 0:
        raise DataError(f"{source.path}: the file is empty")
    try:
        select = _raw_select(con, source)
        described = {str(name): str(type_) for name, type_, *_ in con.execute(f"DESCRIBE {select}").fetchall()}
        con.execute(f"CREATE OR REPLACE VIEW {q('raw_' + source.name)} AS {_without_nul(select, described, source)}")
        return described  # removing NUL bytes keeps every column's type
    except duckdb.Error as exc:
        text = str(exc).strip()
        hint = "; the file must be UTF-8 text" if "unicode" in text.lower() else ""
        raise DataError(f"{source.path}: cannot read it as {source.format}: {text.splitlines()[0]}{hint}") from None


def _without_nul(select: str, columns: dict[str, str], source: Source) -> str:
    """The raw rows with NUL bytes (0x00) removed from text values: no engine, file or
    channel downstream carries them (PostgreSQL's text cannot hold one), and removing them
    everywhere keeps every engine's plan the same. The customer id is left as it is: an id
    with a control character is rejected (bad_customer_id), not silently changed into
    another customer's."""
    text = {name for name, type_ in columns.items() if type_.upper() == "VARCHAR" and name != source.column("customer_id")}
    if not text:
        return select
    # Testing first is cheaper than building a new string for every one of 10M values.
    picked = ", ".join(f"CASE WHEN contains({q(name)}, chr(0)) THEN replace({q(name)}, chr(0), '') ELSE {q(name)} END AS {q(name)}" if name in text else q(name)
                       for name in columns)
    return f"SELECT {picked} FROM ({select})"


def need_column(source: Source, columns: dict[str, str], canonical: str) -> str:
    name = source.column(canonical)
    if name not in columns:
        present = [c for c in columns if c != "_row"]
        hint = did_you_mean(name, present) or "map it in huitou.yaml: data." + source.name + ".columns: {" + canonical + ": <your column>}"
        raise DataError(f"{source.path}: no column '{name}' (for {canonical}); the file has {', '.join(present)}; {hint}")
    return q(name)


def local_timestamp(expr: str, type_: str, source: Source, timezone: str) -> str:
    """A local (naive) timestamp in the given timezone; NULL when it does not parse."""
    type_ = type_.upper()
    if type_ == "DATE" or type_.startswith("TIMESTAMP") and "TIME ZONE" not in type_:
        return f"CAST({expr} AS TIMESTAMP)"
    if "TIME ZONE" in type_:
        return f"timezone({lit(timezone)}, {expr})"
    text = f"trim(CAST({expr} AS VARCHAR))"
    if source.csv.get("date_format"):
        return f"TRY_STRPTIME({text}, {lit(str(source.csv['date_format']))})"
    return f"CASE WHEN regexp_matches({text}, {lit(_OFFSET)}) THEN timezone({lit(timezone)}, TRY_CAST({text} AS TIMESTAMPTZ)) ELSE TRY_CAST({text} AS TIMESTAMP) END"


def _blank(expr: str, type_: str = "VARCHAR") -> str:
    """Missing: NULL, or (for text columns only) empty after trimming."""
    if type_.upper() not in ("VARCHAR", "JSON"):
        return f"({expr} IS NULL)"
    return f"({expr} IS NULL OR trim({expr}) = '')"


def _order_profile(source: Source, cols: dict[str, str]) -> list[str]:
    """`"_p:name"` columns: the profile fields declared on the orders, typed."""
    types = profile_types(source.fields)
    out = []
    for name in source.fields:
        column = source.column(name)
        if column not in cols:
            raise DataError(f"{source.path}: no column '{column}' for the profile field {name} (data.orders.fields); map it with data.orders.columns: {{{name}: <your column>}}")
        out.append(f"{_typed(mapped(source, name, q(column)), 'VARCHAR' if name in source.values else cols[column], types[name], source)} AS {q('_p:' + name)}")
    return out


def _typed_orders(raw: dict[str, str], ctype: dict[str, str], source: Source, timezone: str, profile: list[str] | None = None) -> str:
    """SELECT over raw_orders with the canonical columns in their types (NULL where a value
    does not convert), plus the raw values the checks need to tell missing from bad."""
    amount_raw = raw["amount"]
    amount = f"TRY_CAST(trim(CAST({amount_raw} AS VARCHAR)) AS DECIMAL(18,2))" if ctype["amount"].upper() in ("VARCHAR", "JSON") else f"TRY_CAST({amount_raw} AS DECIMAL(18,2))"
    # Without an order_id column an order is named by its customer and time, not by its
    # row: the name stays the same in tomorrow's export, so a trigger keyed by the order
    # (timing `per`) does too.
    placed = local_timestamp(raw["ordered_at"], ctype["ordered_at"], source, timezone)
    generated = f"coalesce(CAST({raw['customer_id']} AS VARCHAR) || '@' || strftime({placed}, '%Y-%m-%dT%H:%M:%S'), 'row-' || CAST(_row AS VARCHAR))"
    order_id = f"CAST({raw['order_id']} AS VARCHAR)" if "order_id" in raw else generated
    statuses = ", ".join(lit(s) for s in ORDER_STATUSES)
    # Clean values skip lower()/trim(): those build a new string for every one of 10M rows.
    status_text = f"CAST({raw['status']} AS VARCHAR)" if "status" in raw else "NULL"
    status = f"CASE WHEN {status_text} IN ({statuses}) THEN {status_text} ELSE coalesce(nullif(lower(trim({status_text})), ''), 'paid') END" if "status" in raw else "'paid'"
    delivered = local_timestamp(raw["delivered_at"], ctype["delivered_at"], source, timezone) if "delivered_at" in raw else "CAST(NULL AS TIMESTAMP)"
    delivered = f"CASE WHEN {delivered} >= TIMESTAMP {lit(ORDERS_FROM.isoformat())} THEN {delivered} END" if "delivered_at" in raw else delivered
    rating = f"TRY_CAST({raw['rating']} AS INTEGER)" if "rating" in raw else "CAST(NULL AS INTEGER)"
    typed = f"""
        SELECT _row,
               CAST({raw['customer_id']} AS VARCHAR) AS customer_id,
               {order_id} AS order_id,
               {local_timestamp(raw['ordered_at'], ctype['ordered_at'], source, timezone)} AS ordered_at,
               {raw['ordered_at']} AS _ordered_raw,
               {amount} AS amount,
               {amount_raw} AS _amount_raw,
               {_more_than_cents(amount_raw, ctype["amount"])} AS _amount_rounded,
               {status} AS status,
               {status_text} AS _status_raw,
               {delivered} AS delivered_at,
               {f"NOT {_blank(raw['delivered_at'], ctype['delivered_at'])}" if "delivered_at" in raw else "false"} AS _has_delivered,
               {f"CAST({raw['category']} AS VARCHAR)" if "category" in raw else "CAST(NULL AS VARCHAR)"} AS category,
               {f"TRY_CAST({raw['items']} AS INTEGER)" if "items" in raw else "CAST(NULL AS INTEGER)"} AS items,
               {rating} AS rating,
               {f"NOT {_blank(raw['rating'], ctype['rating'])}" if "rating" in raw else "false"} AS _has_rating,
               {f"nullif(upper(trim(CAST({raw['referral_code']} AS VARCHAR))), '')" if "referral_code" in raw else "CAST(NULL AS VARCHAR)"} AS referral_code
               {''.join(', ' + p for p in profile or [])}
        FROM raw_orders"""
    return typed


def load_orders(con: duckdb.DuckDBPyConnection, source: Source, *, timezone: str, today: dt.date, known_customers: bool) -> LoadReport:
    """Create the views `orders_rows` (every row, typed, with `_verdict` and `_issues`),
    `orders_checked` (with the final `_reject`), `orders` (the usable rows) and
    `order_date_bounds` (lo, hi: dates enclosing every local order date). The counts
    come with the per-customer summary (see summary_report)."""
    cols = open_raw(con, source)
    for canonical in REQUIRED_ORDER_COLUMNS:
        need_column(source, cols, canonical)
    raw = {c: mapped(source, c, q(source.column(c))) for c in ("order_id", "customer_id", "ordered_at", "amount", "status", "delivered_at", "category", "items", "rating",
                                                           "referral_code") if source.column(c) in cols}
    ctype = {c: "VARCHAR" if c in source.values else cols[source.column(c)] for c in raw}
    typed = _typed_orders(raw, ctype, source, timezone, _order_profile(source, cols))
    statuses = ", ".join(lit(s) for s in ORDER_STATUSES)
    has_duplicates = find_duplicates(con, "orders", f"CAST({raw['order_id']} AS VARCHAR)" if "order_id" in raw else None)
    dup_join = "LEFT JOIN duplicates_orders d ON d.dup_id = t.order_id" if has_duplicates else ""
    checks = [
        ("missing_customer_id", "customer_id IS NULL OR customer_id = '' OR (starts_with(customer_id, ' ') AND trim(customer_id) = '')"),
        # With a customers file, such ids are rejected there and their orders are of an
        # unknown customer: the per-row test (0.4 s on 10M rows) runs only without one.
        ("bad_customer_id", "false" if known_customers else f"regexp_matches(customer_id, {lit(CONTROL_CHARACTERS)})"),
        ("missing_date", _blank("_ordered_raw", ctype["ordered_at"])),
        ("bad_date", "ordered_at IS NULL"),
        ("implausible_date", f"ordered_at < TIMESTAMP {lit(ORDERS_FROM.isoformat())}"),
        ("missing_amount", _blank("_amount_raw", ctype["amount"])),
        ("bad_amount", "amount IS NULL"),
        ("negative_amount", "amount < 0"),
        ("unknown_status", f"status NOT IN ({statuses})"),
        ("future_date", f"CAST(ordered_at AS DATE) > DATE {lit(today.isoformat())} + 1"),
        ("duplicate_order_id", "d.keep_row IS NOT NULL AND t._row <> d.keep_row" if has_duplicates else "false"),
    ]
    assert [reason for reason, _ in checks] == list(ORDER_REJECTIONS)
    verdict = "CASE " + " ".join(f"WHEN {cond} THEN {lit(reason)}" for reason, cond in checks) + " END"
    issue_tests = {
        "bad_delivered_at": "_has_delivered AND delivered_at IS NULL",
        "bad_rating": "_has_rating AND (rating IS NULL OR rating NOT BETWEEN 1 AND 5)",
        "amount_rounded": "_amount_rounded",
    }
    assert list(issue_tests) == list(ORDER_ISSUES)
    # One boolean per issue for counting (cheap on 10M rows); the text only for the quarantine.
    issues = "concat_ws(', ', " + ", ".join(f"CASE WHEN {test} THEN {lit(name)} END" for name, test in issue_tests.items()) + ")"
    flags = ", ".join(f"{test} AS {q('_' + name)}" for name, test in issue_tests.items())
    con.execute(f"""
        CREATE OR REPLACE VIEW orders_rows AS
        SELECT t.*, {verdict} AS _verdict, {issues} AS _issues, {flags},
               CAST(t.ordered_at AS DATE) AS local_date, CAST(t.delivered_at AS DATE) AS delivered_date
        FROM ({typed}) t {dup_join}""")
    # Orders of customers missing from the customers file are rejected after the row's own
    # checks. Only the report and the quarantine test for it: the features start from the
    # customers and never reach those orders.
    unknown = "WHEN customer_id NOT IN (SELECT customer_id FROM customers) THEN 'unknown_customer'" if known_customers else ""
    con.execute(f"CREATE OR REPLACE VIEW orders_checked AS SELECT *, CASE WHEN _verdict IS NOT NULL THEN _verdict {unknown} END AS _reject FROM orders_rows")
    # Bounds enclosing every local order date, for sizing the purchase-day bitmaps. Native
    # date and time columns answer from min/max of the raw column (Parquet answers from its
    # statistics); a day either side covers the shift to local time.
    date_type = ctype["ordered_at"].upper()
    if date_type == "DATE" or date_type.startswith("TIMESTAMP"):
        bounds = f"SELECT CAST(min({raw['ordered_at']}) AS DATE) - 1 AS lo, CAST(max({raw['ordered_at']}) AS DATE) + 1 AS hi FROM raw_orders"
    else:
        bounds = "SELECT min(local_date) AS lo, max(local_date) AS hi FROM orders_rows"
    # Rejected dates (year 1, year 294247) must not size the bitmaps: clamp to what is kept.
    earliest, latest = lit((ORDERS_FROM - dt.timedelta(days=1)).isoformat()), lit((today + dt.timedelta(days=2)).isoformat())
    con.execute(f"CREATE OR REPLACE VIEW order_date_bounds AS SELECT greatest(lo, DATE {earliest}) AS lo, least(hi, DATE {latest}) AS hi FROM ({bounds})")
    con.execute("""
        CREATE OR REPLACE VIEW orders AS
        SELECT customer_id, order_id, ordered_at, local_date, amount, status, delivered_date, category, items,
               CASE WHEN rating BETWEEN 1 AND 5 THEN rating END AS rating, referral_code, _row
        FROM orders_rows WHERE _verdict IS NULL""")
    return LoadReport("orders", source.path, max_rejected=source.max_rejected, label=source.label)


def _more_than_cents(expr: str, type_: str) -> str:
    """True where an amount has more decimals than money has (12.345, 1e-5): it is kept,
    rounded to cents, and listed. Float noise (29.990000000000002) is not more decimals."""
    type_ = type_.upper()
    if any(type_.startswith(t) for t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")):
        return "false"
    if type_.startswith("DECIMAL") and type_.replace(" ", "").endswith((",0)", ",1)", ",2)")):
        return "false"
    value = f"TRY_CAST(trim(CAST({expr} AS VARCHAR)) AS DOUBLE)" if type_ in ("VARCHAR", "JSON") else f"TRY_CAST({expr} AS DOUBLE)"
    return f"coalesce(abs({value} * 100 - round({value} * 100)) > 1e-6, false)"


def find_duplicates(con: duckdb.DuckDBPyConnection, name: str, key: str | None) -> bool:
    """Whether `key` repeats in raw_<name>; if so, the table duplicates_<name> holds each
    repeated key with the row that keeps it (the first).

    Only the key column is read, as 64-bit hashes that numpy sorts (a radix sort: 0.2 s
    for 10M orders, where DuckDB's sorting window took 1.0-1.3 s and grouping the keys
    1.8 s). Equal neighbours are candidates, confirmed on the key itself, so a hash
    collision is never reported as a duplicate."""
    if key is None:
        return False
    hashes = con.execute(f"SELECT hash({key}) AS h FROM raw_{name} WHERE {key} IS NOT NULL").fetchnumpy()["h"]
    hashes.sort()
    candidates = numpy.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    if not len(candidates):
        return False
    con.execute("CREATE OR REPLACE TABLE candidate_hashes AS SELECT unnest(?) AS h", [candidates.tolist()])
    con.execute(f"""
        CREATE OR REPLACE TABLE {q('duplicates_' + name)} AS
        SELECT {key} AS dup_id, min(_row) AS keep_row FROM raw_{name}
        WHERE {key} IS NOT NULL AND hash({key}) IN (SELECT h FROM candidate_hashes) GROUP BY ALL HAVING count(*) > 1""")
    return scalar(con, f"SELECT count(*) FROM {q('duplicates_' + name)}") > 0


def summary_report(con: duckdb.DuckDBPyConnection, rep: LoadReport, *, known_customers: bool) -> None:
    """Fill the orders report from the per-customer counts in order_summary (usable rows of
    unknown customers become rejections). Rejected rows are counted per reason by a scan
    of their own, run only when order_summary says there are some."""
    rejected: dict[str, int] = {}
    if scalar(con, "SELECT sum(n_rejected) FROM order_summary"):
        rejected = {reason: int(n) for reason, n in con.execute("SELECT _verdict, count(*) FROM orders_rows WHERE _verdict IS NOT NULL GROUP BY ALL").fetchall()}
    unknown = "c.customer_id IS NULL" if known_customers else "false"
    join = "LEFT JOIN customers c ON c.customer_id = s.customer_id" if known_customers else ""
    kept = ["n_ok", "n_late", *(f'"i:{i}"' for i in ORDER_ISSUES)]
    columns = [f"sum(s.{k})" for k in kept] + [f"coalesce(sum(s.{k}) FILTER (WHERE {unknown}), 0)" for k in kept]
    row = first_row(con, f"SELECT {', '.join(columns)} FROM order_summary s {join}")
    assert row is not None
    values = [int(v or 0) for v in row]
    totals, of_unknown = dict(zip(kept, values[: len(kept)])), dict(zip(kept, values[len(kept) :]))
    rejected["unknown_customer"] = of_unknown["n_ok"] + of_unknown["n_late"]
    report_malformed(con, "orders", rejected, rep.hints)
    rep.rejected = {r: n for r, n in rejected.items() if n}
    rep.loaded = totals["n_ok"] + totals["n_late"] - rejected["unknown_customer"]
    rep.after_as_of = totals["n_late"] - of_unknown["n_late"]
    rep.rows = rep.loaded + sum(rep.rejected.values())
    issues = {i: totals[f'"i:{i}"'] - of_unknown[f'"i:{i}"'] for i in ORDER_ISSUES}
    rep.kept_with_issues = {i: n for i, n in issues.items() if n}
    if rep.rejected.get("unknown_status"):
        rep.hints.append(_values_hint(con, "orders", "status", "_status_raw", "_verdict = 'unknown_status'", ORDER_STATUSES))


def _values_hint(con: duckdb.DuckDBPyConnection, source: str, canonical: str, column: str, where: str, allowed: tuple[str, ...], rows: str | None = None) -> str:
    """Which values of a column were not understood, with their counts, and the setting
    that maps them."""
    seen = con.execute(f"SELECT CAST({column} AS VARCHAR), count(*) AS n FROM {rows or source + '_rows'} WHERE {where} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 8").fetchall()
    listed = ", ".join(f"{v!r} ({n:,})" for v, n in seen)
    example = ", ".join(f"{v}: {_guess(str(v), allowed)}" for v, _ in seen[:4])
    return (f"{canonical} values not understood: {listed}; huitou reads {', '.join(allowed)}: map yours in huitou.yaml, "
            f"data.{source}.values.{canonical}: {{{example}}}")


# Common words of shop exports, for the example in a values hint (a guess the user checks).
_LIKELY = {
    "paid": ("complete", "completed", "delivered", "shipped", "success", "succeeded", "fulfilled", "closed", "done", "已完成", "已付款", "交易成功"),
    "unpaid": ("pending", "awaiting payment", "unpaid", "open", "new", "待付款", "未付款"),
    "cancelled": ("canceled", "cancelled", "void", "voided", "failed", "已取消", "交易关闭"),
    "refunded": ("returned", "refund", "refunded", "return", "已退款", "退款"),
    "true": ("yes", "y", "是", "opted in", "opt-in", "subscribed", "on", "x"),
    "false": ("no", "n", "否", "opted out", "opt-out", "unsubscribed", "off"),
}


def _guess(value: str, allowed: tuple[str, ...]) -> str:
    word = value.strip().lower()
    return next((a for a in allowed if word in _LIKELY.get(a, ())), "<" + "|".join(allowed) + ">")


def _bool(expr: str, type_: str) -> str:
    if type_.upper() == "BOOLEAN":
        return expr
    text = f"lower(trim(CAST({expr} AS VARCHAR)))"
    return f"CASE WHEN {text} IN ('true', 't', '1', 'yes', 'y') THEN true WHEN {text} IN ('false', 'f', '0', 'no', 'n') THEN false END"


def _typed(expr: str, type_: str, target: str, source: Source) -> str:
    if target == "BOOLEAN":
        return _bool(expr, type_)
    if target == "VARCHAR[]":
        return expr if type_.upper().endswith("[]") else f"regexp_extract_all(CAST({expr} AS VARCHAR), '[^|]+')"
    if target == "DATE" and type_.upper() in ("VARCHAR", "JSON") and source.csv.get("date_format"):
        value = f"CAST(TRY_STRPTIME(trim({expr}), {lit(str(source.csv['date_format']))}) AS DATE)"
    elif type_.upper() in ("VARCHAR", "JSON") and target != "VARCHAR":
        value = f"TRY_CAST(trim(CAST({expr} AS VARCHAR)) AS {target})"
    else:
        value = f"TRY_CAST({expr} AS {target})"
    if target == "DATE":  # a birthday in year 1 or -2026 is as bad as one that does not parse
        return f"CASE WHEN {value} BETWEEN DATE {lit(PROFILE_DATES_FROM.isoformat())} AND DATE {lit(PROFILE_DATES_TO.isoformat())} THEN {value} END"
    return value


def profile_types(fields: dict[str, str]) -> dict[str, str]:
    """Every profile column with its DuckDB type: the standard ones, then `fields` (a
    declared field with a standard name keeps the standard type)."""
    types = {name: "VARCHAR" for name in STRING_PROFILE} | {"birthday": "DATE", "points": "BIGINT", "tags": "VARCHAR[]"}
    types |= {name: "BOOLEAN" for name in BOOLEAN_PROFILE}
    return types | {name: DUCK_TYPES[t] for name, t in fields.items() if name not in types}


def customers_from_orders_sql(as_of: dt.date, order_fields: dict[str, str]) -> str:
    """Without a customers file, the customers are the buyers known at the as-of date (a
    usable order on or before it). Profile columns declared on the orders
    (`data.orders.fields`) come from each customer's latest such order; the others are
    NULL."""
    types = profile_types(order_fields)
    latest = f"""
        SELECT customer_id, {', '.join(f'arg_max({q("_p:" + n)}, (ordered_at, _row)) AS {q(n)}' for n in order_fields)}
        FROM orders_rows WHERE _verdict IS NULL AND local_date <= DATE {lit(as_of.isoformat())} GROUP BY customer_id"""
    columns = [f"p.{q(n)}" if n in order_fields else f"CAST(NULL AS {t}) AS {q(n)}" for n, t in types.items()]
    join = f"LEFT JOIN ({latest}) p USING (customer_id)" if order_fields else ""
    return f"CREATE OR REPLACE TABLE customers AS SELECT s.customer_id, {', '.join(columns)} FROM order_summary s {join} WHERE s.n_ok > 0"


def load_customers(con: duckdb.DuckDBPyConnection, source: Source) -> LoadReport:
    """Create the views `customers_checked` (every row, with verdicts) and `customers`."""
    cols = open_raw(con, source)
    id_col = need_column(source, cols, "customer_id")
    wanted = profile_types(source.fields)
    selects, issues, raw_value = [], [], {}
    for name, target in wanted.items():
        column = source.column(name)
        if column not in cols:
            selects.append(f"CAST(NULL AS {target}) AS {q(name)}")
            continue
        value = _typed(mapped(source, name, q(column)), "VARCHAR" if name in source.values else cols[column], target, source)
        selects.append(f"{value} AS {q(name)}")
        raw_value[name] = mapped(source, name, "r." + q(column))
        if target != "VARCHAR":
            issues.append(f"CASE WHEN NOT {_blank(q(column), cols[column])} AND {value} IS NULL THEN {lit('bad_' + name)} END")
    id_text = f"CAST({id_col} AS VARCHAR)"
    issue_sql = f"concat_ws(', ', {', '.join(issues) if issues else 'NULL'})"
    # Field issues are judged on the raw values, so they are computed where those are seen.
    typed = f"SELECT _row, {id_text} AS customer_id, {', '.join(selects)}, {id_col} AS _id_raw, {issue_sql} AS _issues FROM raw_customers"
    missing = _blank('_id_raw', cols[source.column('customer_id')])
    verdict = f"CASE WHEN {missing} THEN 'missing_customer_id' WHEN regexp_matches(customer_id, {lit(CONTROL_CHARACTERS)}) THEN 'bad_customer_id' END"
    has_duplicates = find_duplicates(con, "customers", id_text)
    dup_join = "LEFT JOIN duplicates_customers d ON d.dup_id = t.customer_id" if has_duplicates else ""
    dup_test = "d.keep_row IS NOT NULL AND t._row <> d.keep_row" if has_duplicates else "false"
    con.execute(f"""
        CREATE OR REPLACE VIEW customers_checked AS
        SELECT t.* EXCLUDE (_id_raw), coalesce({verdict}, CASE WHEN {dup_test} THEN 'duplicate_customer_id' END) AS _reject
        FROM ({typed}) t {dup_join}""")
    rep = LoadReport("customers", source.path, max_rejected=source.max_rejected, label=source.label)
    for reject, issue_text, count in con.execute("SELECT _reject, _issues, count(*) FROM customers_checked GROUP BY ALL").fetchall():
        rep.rows += count
        if reject:
            rep.rejected[reject] = rep.rejected.get(reject, 0) + count
            continue
        rep.loaded += count
        for issue in filter(None, (issue_text or "").split(", ")):
            rep.kept_with_issues[issue] = rep.kept_with_issues.get(issue, 0) + count
    # The view every later query reads tests ids for control characters only when the
    # report found one: the test costs on every read, and almost no file has one.
    usable = verdict if rep.rejected.get("bad_customer_id") else f"CASE WHEN {missing} THEN 'missing_customer_id' END"
    con.execute(f"""
        CREATE OR REPLACE VIEW customers AS
        SELECT t.* EXCLUDE (_row, _id_raw, _issues) FROM ({typed}) t {dup_join} WHERE ({usable}) IS NULL AND NOT ({dup_test})""")
    rep.rows += report_malformed(con, "customers", rep.rejected, rep.hints)
    for name, target in wanted.items():
        if rep.kept_with_issues.get("bad_" + name) and target == "BOOLEAN":
            bad = f"_issues LIKE {lit('%bad_' + name + '%')}"
            rep.hints.append(_values_hint(con, "customers", name, raw_value[name], bad, ("true", "false"), "raw_customers r JOIN customers_checked c USING (_row)"))
    return rep


def write_quarantine(con: duckdb.DuckDBPyConnection, rep: LoadReport, quarantine_dir: Path | None) -> None:
    """Write every rejected or repaired row, with its reason, to <quarantine_dir>/<source>.csv."""
    name = rep.source
    if not (rep.rejected or rep.kept_with_issues) or quarantine_dir is None:
        return
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    if malformed(con, name):  # no columns to split them into: the line as it stands
        lines = quarantine_dir / f"{name}.malformed.csv"
        con.execute(f"COPY (SELECT line, error, {cell_sql('text')} AS text FROM {q('malformed_' + name)} ORDER BY line) TO {lit(str(lines))} (HEADER, DELIMITER ',')")
        rep.hints.append(f"malformed rows as they stand: {lines}")
    if not (set(rep.rejected) - {"malformed_row"} or rep.kept_with_issues):
        return
    target = quarantine_dir / f"{name}.csv"
    raw_cols = [c for c in _columns(con, "raw_" + name) if c != "_row"]
    # People open the quarantine in a spreadsheet: its cells are made safe for one.
    picked = ", ".join(f"{cell_sql(f'CAST(r.{q(c)} AS VARCHAR)')} AS {q(c)}" for c in raw_cols)
    con.execute(f"""
        COPY (
          SELECT c._row AS row, CASE WHEN c._reject IS NOT NULL THEN 'rejected' ELSE 'kept' END AS action,
                 coalesce(c._reject, c._issues) AS reason, {picked}
          FROM {q(name + '_checked')} c JOIN {q('raw_' + name)} r ON r._row = c._row
          WHERE c._reject IS NOT NULL OR c._issues <> ''
          ORDER BY c._row
        ) TO {lit(str(target))} (HEADER, DELIMITER ',')""")
    rep.quarantine_file = target
