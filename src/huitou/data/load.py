"""Load orders and customers into DuckDB: typed, checked, with bad rows set aside.

Every row gets a verdict. A row that cannot be used (no customer id, a date that does not
parse, a negative amount, ...) is *rejected*: it goes to the quarantine file with its
reason and stays out of the evaluation. A usable row with one bad optional field (an
unparseable birthday, a rating of 9) is *kept* with that field set to NULL, and is listed
in the quarantine file too. Nothing disappears silently; the report counts both.

The views built here read the raw views of data/raw.py, so nothing is copied: a 10M-row
Parquet file streams through the feature query. Every statement is a sqlglot tree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy
from sqlglot import exp

from ..db import copy_out, create, date_literal, first_row, named, quoted, run, scalar, select_tree, tree
from ..features import ORDER_STATUSES
from ..i18n import N_, _, n_
from ..relation import Loaded, Relation
from ..spreadsheet import cell_sql
from .contacts import unguarded
from .csvfile import malformed, report_malformed
from .dates import date_hint
from .identity import ContactReport, Identity, count_ids, customer_id, id_columns, spellings_in
from .profile import ITEM_COLUMNS, ORDER_COLUMNS, profile_types
from .raw import columns_of, mapped, need_column, open_raw
from .sources import REQUIRED_ORDER_COLUMNS, DataError, Source
from .values import blank, local_timestamp, more_than_cents, null_of, trimmed, try_cast, typed

# Why an order row is rejected, in the order the checks apply (the first match wins);
# unknown_customer comes last and only when a customers file is given.
ORDER_REJECTIONS = (
    "missing_customer_id",
    "bad_customer_id",
    "missing_date",
    "bad_date",
    "implausible_date",
    "missing_amount",
    "bad_amount",
    "negative_amount",
    "implausible_amount",
    "unknown_status",
    "future_date",
    "duplicate_order_id",
)
ORDER_ISSUES = ("bad_delivered_at", "bad_rating", "amount_rounded", "bad_refunded_amount")
# A further row of an order (its 2nd, 3rd ... line item): not an order of its own, not
# rejected; its item goes to order_items.
LINE_ITEM = "line_item"
# Orders before this day are data errors (a year 1 or a negative year), not history: no
# shop's order export reaches back past the Unix epoch.
ORDERS_FROM = dt.date(1970, 1, 1)
# No order is worth more: larger amounts are data errors (digits pasted together), and a
# customer's total of such amounts would overflow the money type (DECIMAL(18,2)).
ORDER_AMOUNT_MAX = 1_000_000_000
# Issues whose row keeps the field (changed as said here, and listed in the quarantine).
KEPT_AS_IS = {
    "amount_rounded": N_("amount with more decimals than money has, rounded to cents (check the export)"),
    "bad_refunded_amount": N_("refunded amount unreadable or negative (ignored) or above the amount (net 0)"),
}
# A customer id is a key the shop's own systems use: one with a control character (NUL,
# ESC, a line break) cannot be typed, printed or put in an unsubscribe link.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"


@dataclass
class LoadReport:
    source: str
    path: Path
    rows: int = 0
    loaded: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    kept_with_issues: dict[str, int] = field(default_factory=dict)
    after_as_of: int = 0
    line_items: int = 0  # further rows of orders (their items), neither orders nor rejected
    absent: list[str] = field(default_factory=list)  # standard profile columns the source does not have
    quarantine_file: Path | None = None
    hints: list[str] = field(default_factory=list)  # how to fix what was rejected or repaired
    max_rejected: float = 0.5
    label: str = ""  # the source as messages name it (Source.label)
    date_column: str = "ordered_at"  # the file's column of the order time

    @property
    def too_many_rejected(self) -> bool:
        """More of the rows rejected than the source allows (`max_rejected`); the further
        line items of orders are not rows of their own here."""
        return self.order_rows > 0 and sum(self.rejected.values()) > self.max_rejected * self.order_rows

    @property
    def order_rows(self) -> int:
        """The rows that are orders (or were meant to be): all but further line items."""
        return self.rows - self.line_items

    def lines(self) -> list[str]:
        out = [
            _(
                "{source}: {rows:,} rows read from {label}, {loaded:,} loaded",
                source=self.source,
                rows=self.rows,
                label=self.label,
                loaded=self.loaded,
            )
        ]
        if self.line_items:
            said = n_("{n:,} row is a further line item of orders", "{n:,} rows are further line items of orders", self.line_items)
            out.append("  " + said + _(" (their items kept in order_items; not orders, not rejected)"))
        if self.rejected:
            out.append("  " + _("rejected: {counts}", counts=_counts(self.rejected)))
        nulled = {r: n for r, n in self.kept_with_issues.items() if r not in KEPT_AS_IS}
        if nulled:
            out.append("  " + _("kept, field set to NULL: {counts}", counts=_counts(nulled)))
        for issue, what in KEPT_AS_IS.items():
            if self.kept_with_issues.get(issue):
                out.append("  " + _("kept, {what}: {n:,} {issue}", what=_(what), n=self.kept_with_issues[issue], issue=issue))
        if self.after_as_of:
            out.append("  " + _("{n:,} orders after the as-of date are ignored", n=self.after_as_of))
        out += [f"  {hint}" for hint in self.hints]
        if self.quarantine_file:
            out.append("  " + _("details: {file}", file=self.quarantine_file))
        return out


def _counts(counts: dict[str, int]) -> str:
    """`12 missing_customer_id, 3 bad_amount`: each reason's code (as the quarantine file
    names it) with its count."""
    return _(", ").join(_("{n:,} {word}", n=n, word=reason) for reason, n in sorted(counts.items()))


def _order_profile(source: Source, cols: dict[str, str]) -> list[exp.Expr]:
    """`"_p:name"` columns: the profile fields declared on the orders, typed."""
    types = profile_types(source.fields)
    out = []
    for name in source.fields:
        column = source.column(name)
        if column not in cols:
            said = _(
                "{file}: no column '{column}' for the profile field {name} (data.orders.fields); map it with data.orders.columns: {{{name}: <your column>}}",
                file=source.path,
                column=column,
                name=name,
            )
            raise DataError(said)
        value = typed(mapped(source, name, quoted(column)), "VARCHAR" if name in source.values else cols[column], types[name], source)
        out.append(value.as_("_p:" + name, quoted=True))
    return out


def _typed_orders(raw: dict[str, exp.Expr], ctype: dict[str, str], source: Source, timezone: str, profile: list[exp.Expr]) -> exp.Select:
    """SELECT over raw_orders with the canonical columns in their types (NULL where a value
    does not convert), plus the raw values the checks need to tell missing from bad."""
    amount_raw = raw["amount"]
    amount = money(amount_raw, ctype["amount"])
    # Without an order_id column an order is named by its customer and time, not by its
    # row: the name stays the same in tomorrow's export, so a trigger keyed by the order
    # (timing `per`) does too.
    placed = local_timestamp(raw["ordered_at"], ctype["ordered_at"], source, timezone)
    generated = "coalesce(CAST(:customer AS VARCHAR) || '@' || strftime(:placed, '%Y-%m-%dT%H:%M:%S'), 'row-' || CAST(_row AS VARCHAR))"
    order_id = exp.cast(raw["order_id"], "VARCHAR") if "order_id" in raw else tree(generated, customer=raw["customer_id"], placed=placed)
    status_text = exp.cast(raw["status"], "VARCHAR") if "status" in raw else exp.null()
    # Clean values skip lower()/trim(): those build a new string for every one of 10M rows.
    status = (
        tree(
            "CASE WHEN :known THEN :text ELSE coalesce(nullif(lower(trim(:text)), ''), 'paid') END",
            known=status_text.isin(*ORDER_STATUSES),
            text=status_text,
        )
        if "status" in raw
        else exp.Literal.string("paid")
    )
    delivered = null_of("TIMESTAMP")
    if "delivered_at" in raw:
        delivered = tree(
            "CASE WHEN :at >= :earliest THEN :at END",
            at=local_timestamp(raw["delivered_at"], ctype["delivered_at"], source, timezone),
            earliest=exp.cast(exp.Literal.string(ORDERS_FROM.isoformat()), "TIMESTAMP"),
        )

    def given(column: str) -> exp.Expr:  # the value is present (not blank)
        return exp.not_(blank(raw[column], ctype[column])) if column in raw else exp.false()

    def optional(column: str, value: exp.Expr, type_: str) -> exp.Expr:
        return value if column in raw else null_of(type_)

    # Spend is net of refunds: a refund that does not read or is negative is ignored, one
    # above the amount leaves nothing (both listed as bad_refunded_amount).
    refunded = money(raw["refunded_amount"], ctype["refunded_amount"]) if "refunded_amount" in raw else exp.null()
    refund_ok = tree(":refunded BETWEEN 0 AND :amount", refunded=refunded, amount=amount)
    net = (
        tree(
            "CASE WHEN :ok THEN :amount - :refunded WHEN :refunded > :amount THEN CAST(0 AS DECIMAL(18,2)) ELSE :amount END",
            ok=refund_ok,
            amount=amount,
            refunded=refunded,
        )
        if "refunded_amount" in raw
        else amount
    )
    columns = {
        "customer_id": exp.cast(raw["customer_id"], "VARCHAR"),
        "order_id": order_id,
        "ordered_at": placed,
        "_ordered_raw": raw["ordered_at"],
        "_gross": amount,
        "amount": net,
        "_bad_refund": tree("coalesce(NOT :ok, :given)", ok=refund_ok, given=given("refunded_amount")) if "refunded_amount" in raw else exp.false(),
        "_amount_raw": amount_raw,
        "_amount_rounded": more_than_cents(amount_raw, ctype["amount"]),
        "status": status,
        "_status_raw": status_text,
        "delivered_at": delivered,
        "_has_delivered": given("delivered_at"),
        "category": optional("category", exp.cast(raw.get("category", exp.null()), "VARCHAR"), "VARCHAR"),
        "items": optional("items", try_cast(raw.get("items", exp.null()), "INTEGER"), "INTEGER"),
        "rating": optional("rating", try_cast(raw.get("rating", exp.null()), "INTEGER"), "INTEGER"),
        "_has_rating": given("rating"),
        "referral_code": optional(
            "referral_code", tree("nullif(upper(trim(CAST(:code AS VARCHAR))), '')", code=raw.get("referral_code", exp.null())), "VARCHAR"
        ),
        "sku": optional("sku", tree("nullif(trim(CAST(:v AS VARCHAR)), '')", v=raw.get("sku", exp.null())), "VARCHAR"),
        "product": optional("product", tree("nullif(trim(CAST(:v AS VARCHAR)), '')", v=raw.get("product", exp.null())), "VARCHAR"),
        "quantity": optional("quantity", try_cast(trimmed(raw.get("quantity", exp.null())), "INTEGER"), "INTEGER"),
        "price": optional("price", money(raw.get("price", exp.null()), ctype.get("price", "VARCHAR")), "DECIMAL(18,2)"),
    }
    picked = [exp.column("_row"), *(value.as_(name) for name, value in columns.items()), *profile]
    return exp.select(*picked).from_("raw_orders")


def money(value: exp.Expr, type_: str) -> exp.Expr:
    """An amount as DECIMAL(18,2); NULL where it does not read."""
    return try_cast(trimmed(value) if type_.upper() in ("VARCHAR", "JSON") else value, "DECIMAL(18,2)")


def _cases(tests: dict[str, exp.Expr]) -> exp.Case:
    """CASE WHEN test THEN 'name' ... END: the first name whose test holds."""
    return exp.Case(ifs=[exp.If(this=test.copy(), true=exp.Literal.string(name)) for name, test in tests.items()])


def load_orders(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    timezone: str,
    today: dt.date,
    known_customers: bool,
    identity: Identity,
    contacts: ContactReport,
) -> LoadReport:
    """Create the views `orders_rows` (every row, typed, with `_verdict` and `_issues`),
    `orders_checked` (with the final `_reject`), `orders` (the usable rows) and
    `order_date_bounds` (lo, hi: dates enclosing every local order date). The counts
    come with the per-customer summary (see summary_report)."""
    cols = open_raw(con, source)
    for canonical in REQUIRED_ORDER_COLUMNS:
        need_column(source, cols, canonical)
    _need_id_columns(source, cols)
    raw = {c: mapped(source, c, quoted(source.column(c))) for c in ORDER_COLUMNS if source.column(c) in cols}
    text_ids = "order_id" in raw and ("order_id" in source.values or cols[source.column("order_id")].upper() in ("VARCHAR", "JSON"))
    respelled, guarded = spellings_in(con, source, {cols[c].upper() for c in id_columns(source)}, raw["order_id"] if text_ids else None)
    raw["customer_id"] = _customer_id(con, source, identity, contacts, respelled)
    contacts.order_ids += guarded
    if guarded:
        raw["order_id"] = unguarded(raw["order_id"])  # else read as written: no work on each of 10M rows
    ctype = {c: "VARCHAR" if c in source.values or c == "customer_id" else cols[source.column(c)] for c in raw}
    typed_rows = _typed_orders(raw, ctype, source, timezone, _order_profile(source, cols))
    # Rows sharing an order id are one order, kept from its first row with an amount; a
    # further row is a line item when the file has item columns or it has no amount of its
    # own (Shopify leaves the order's fields empty on them), else a duplicate.
    amount_given = exp.not_(blank(raw["amount"], ctype["amount"]))
    has_duplicates = find_duplicates(con, "orders", exp.cast(raw["order_id"], "VARCHAR") if "order_id" in raw else None, kept=amount_given)
    has_items = any(c in raw for c in ITEM_COLUMNS)
    item_row = tree(
        "d.keep_row IS NOT NULL AND t._row <> d.keep_row AND (:items OR :blank)",
        items=exp.Boolean(this=has_items),
        blank=blank(exp.column("_amount_raw"), ctype["amount"]),
    )
    checks = {
        "missing_customer_id": tree("customer_id IS NULL OR customer_id = '' OR (starts_with(customer_id, ' ') AND trim(customer_id) = '')"),
        # With a customers file, such ids are rejected there and their orders are of an
        # unknown customer: the per-row test (0.4 s on 10M rows) runs only without one.
        "bad_customer_id": exp.false() if known_customers else tree("regexp_matches(customer_id, :control)", control=CONTROL_CHARACTERS),
        "missing_date": blank(exp.column("_ordered_raw"), ctype["ordered_at"]),
        "bad_date": tree("ordered_at IS NULL"),
        "implausible_date": tree("ordered_at < :earliest", earliest=exp.cast(exp.Literal.string(ORDERS_FROM.isoformat()), "TIMESTAMP")),
        "missing_amount": blank(exp.column("_amount_raw"), ctype["amount"]),
        "bad_amount": tree("_gross IS NULL"),
        "negative_amount": tree("_gross < 0"),
        "implausible_amount": tree("_gross > :most", most=exp.Literal.number(ORDER_AMOUNT_MAX)),
        "unknown_status": exp.not_(exp.column("status").isin(*ORDER_STATUSES)),
        "future_date": tree("CAST(ordered_at AS DATE) > :today + 1", today=date_literal(today)),
        "duplicate_order_id": tree("d.keep_row IS NOT NULL AND t._row <> d.keep_row") if has_duplicates else exp.false(),
    }
    assert list(checks) == list(ORDER_REJECTIONS)
    issue_tests = {
        "bad_delivered_at": tree("_has_delivered AND delivered_at IS NULL"),
        "bad_rating": tree("_has_rating AND (rating IS NULL OR rating NOT BETWEEN 1 AND 5)"),
        "amount_rounded": exp.column("_amount_rounded"),
        "bad_refunded_amount": exp.column("_bad_refund"),
    }
    assert list(issue_tests) == list(ORDER_ISSUES)
    # One boolean per issue for counting (cheap on 10M rows); the text only for the quarantine.
    issues = exp.func("concat_ws", exp.Literal.string(", "), *(_cases({name: test}) for name, test in issue_tests.items()), dialect="duckdb")
    flags = [test.as_("_" + name, quoted=True) for name, test in issue_tests.items()]
    verdict = _cases(checks)
    if has_duplicates:
        verdict.set("ifs", [exp.If(this=item_row, true=exp.Literal.string(LINE_ITEM)), *verdict.args["ifs"]])
    rows = exp.select(
        "t.*",
        verdict.as_("_verdict"),
        issues.as_("_issues"),
        *flags,
        "CAST(t.ordered_at AS DATE) AS local_date",
        "CAST(t.delivered_at AS DATE) AS delivered_date",
    ).from_(typed_rows.subquery("t"))
    if has_duplicates:
        rows = rows.join(named("duplicates_orders", alias="d"), on="d.dup_id = t.order_id", join_type="left", copy=False)
    create(con, "orders_rows", rows)
    # Orders of customers missing from the customers file are rejected after the row's own
    # checks. Only the report and the quarantine test for it: the features start from the
    # customers and never reach those orders.
    create(con, "orders_checked", tree(_CHECKED_KNOWN if known_customers else _CHECKED))
    # Bounds enclosing every local order date, for sizing the purchase-day bitmaps. Native
    # date and time columns answer from min/max of the raw column (Parquet answers from its
    # statistics); a day either side covers the shift to local time.
    date_type = ctype["ordered_at"].upper()
    if date_type == "DATE" or date_type.startswith("TIMESTAMP"):
        bounds = select_tree("SELECT CAST(min(:at) AS DATE) - 1 AS lo, CAST(max(:at) AS DATE) + 1 AS hi FROM raw_orders", at=raw["ordered_at"])
    else:
        bounds = select_tree("SELECT min(local_date) AS lo, max(local_date) AS hi FROM orders_rows")
    # Rejected dates (year 1, year 294247) must not size the bitmaps: clamp to what is kept.
    lo = tree("greatest(lo, :earliest)", earliest=date_literal(ORDERS_FROM - dt.timedelta(days=1)))
    hi = tree("least(hi, :latest)", latest=date_literal(today + dt.timedelta(days=2)))
    create(con, "order_date_bounds", exp.select(lo.as_("lo"), hi.as_("hi")).from_(bounds.subquery("bounds")))
    create(con, "orders", tree(_USABLE_ORDERS))
    items = tree(_ORDER_ITEMS) if has_items else select_tree(_ORDER_ITEMS).where("false")
    create(con, "order_items", items)
    return LoadReport("orders", source.path, max_rejected=source.max_rejected, label=source.label, date_column=source.column("ordered_at"))


_CHECKED = "SELECT *, CASE WHEN _verdict <> 'line_item' THEN _verdict END AS _reject FROM orders_rows"
_CHECKED_KNOWN = """
    SELECT *, CASE WHEN _verdict = 'line_item' THEN NULL WHEN _verdict IS NOT NULL THEN _verdict
                   WHEN customer_id NOT IN (SELECT customer_id FROM customers) THEN 'unknown_customer' END AS _reject
    FROM orders_rows"""
_USABLE_ORDERS = """
    SELECT customer_id, order_id, ordered_at, local_date, amount, status, delivered_date, category, items,
           CASE WHEN rating BETWEEN 1 AND 5 THEN rating END AS rating, referral_code, _row
    FROM orders_rows WHERE _verdict IS NULL"""

# Every item of the usable orders: the order's own row and its further line items, each
# with the order's customer and day.
_ORDER_ITEMS = """
    SELECT o.customer_id, o.order_id, o.local_date, o.status, r.sku, r.product, coalesce(r.category, o.category) AS category, r.quantity, r.price, r._row
    FROM orders_rows AS r JOIN orders AS o ON o.order_id = r.order_id
    WHERE (r._verdict IS NULL OR r._verdict = 'line_item') AND (r.sku IS NOT NULL OR r.product IS NOT NULL)"""


def loaded(con: duckdb.DuckDBPyConnection | None) -> Loaded:
    """The tables load_orders, load_customers (or customers_from_orders) and the summary
    (feature_sql.summary_sql) created on `con`, as the relations the stages read."""
    names = {"orders": "orders", "customers": "customers", "order_rows": "orders_rows", "summary": "order_summary", "items": "order_items"}
    return Loaded(**{key: Relation(exp.to_table(name), con) for key, name in names.items()})


def _need_id_columns(source: Source, cols: dict[str, str]) -> None:
    for column in id_columns(source)[1:]:  # the first is checked as `customer_id`
        if column not in cols:
            need_column(source, cols, column)


def _customer_id(con: duckdb.DuckDBPyConnection, source: Source, identity: Identity, contacts: ContactReport, respelled: bool) -> exp.Expr:
    """The normalised customer id over raw_<source> (data/identity.py), its rewrites
    counted; read as written when no id may be spelled otherwise (`respelled`:
    identity.spellings_in)."""
    if not respelled:
        return exp.cast(mapped(source, "customer_id", quoted(source.column("customer_id"))), "VARCHAR")
    value = customer_id(con, source, identity)
    count_ids(con, source, value, contacts)
    return value


def find_duplicates(con: duckdb.DuckDBPyConnection, name: str, key: exp.Expr | None, kept: exp.Expr | None = None) -> bool:
    """Whether `key` repeats in raw_<name>; if so, the table duplicates_<name> holds each
    repeated key with the row that keeps it (the first, or the first where `kept` holds).

    Only the key column is read, as 64-bit hashes that numpy sorts (a radix sort: 0.2 s
    for 10M orders, where DuckDB's sorting window took 1.0-1.3 s and grouping the keys
    1.8 s). Equal neighbours are candidates, confirmed on the key itself, so a hash
    collision is never reported as a duplicate."""
    if key is None:
        return False
    raw = named("raw_" + name)
    hashes = run(con, tree("SELECT hash(:key) AS h FROM :raw WHERE :key IS NOT NULL", key=key, raw=raw)).fetchnumpy()["h"]
    hashes.sort()
    candidates = numpy.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    if not len(candidates):
        return False
    keep_row = tree("coalesce(min(_row) FILTER (WHERE :kept), min(_row))", kept=kept) if kept is not None else exp.func("min", exp.column("_row"))
    repeated = exp.select(key.as_("dup_id"), keep_row.as_("keep_row")).from_(raw).group_by(key.copy()).having("count(*) > 1")
    if len(candidates) < len(hashes) // 20:  # a few: read only their rows (a file of line items has millions, grouped whole)
        con.execute("CREATE OR REPLACE TABLE candidate_hashes AS SELECT unnest(?) AS h", [candidates.tolist()])
        repeated = repeated.where(tree(":key IS NOT NULL AND hash(:key) IN (SELECT h FROM candidate_hashes)", key=key))
    else:
        repeated = repeated.where(tree(":key IS NOT NULL", key=key))
    duplicates = create(con, "duplicates_" + name, repeated, kind="TABLE")
    return scalar(con, exp.select("count(*)").from_(duplicates)) > 0


def summary_report(con: duckdb.DuckDBPyConnection, rep: LoadReport, *, known_customers: bool) -> None:
    """Fill the orders report from the per-customer counts in order_summary (usable rows of
    unknown customers become rejections). Rejected rows are counted per reason by a scan
    of their own, run only when order_summary says there are some."""
    rejected: dict[str, int] = {}
    if scalar(con, "SELECT sum(n_rejected) FROM order_summary"):
        counted = "SELECT _verdict, count(*) FROM orders_rows WHERE _verdict IS NOT NULL AND _verdict <> 'line_item' GROUP BY ALL"
        rejected = {reason: int(n) for reason, n in con.execute(counted).fetchall()}
    kept = ["n_ok", "n_late", "n_items", *(f"i:{i}" for i in ORDER_ISSUES)]
    unknown = tree("c.customer_id IS NULL") if known_customers else exp.false()
    sums = [tree("sum(:kept)", kept=quoted(k, "s")) for k in kept]
    of_unknown_sums = [tree("coalesce(sum(:kept) FILTER (WHERE :unknown), 0)", kept=quoted(k, "s"), unknown=unknown) for k in kept]
    query = exp.select(*sums, *of_unknown_sums).from_("order_summary AS s")
    if known_customers:
        query = query.join("customers AS c", on="c.customer_id = s.customer_id", join_type="left")
    row = first_row(con, query)
    assert row is not None
    values = [int(v or 0) for v in row]
    totals, of_unknown = dict(zip(kept, values[: len(kept)])), dict(zip(kept, values[len(kept) :]))
    rejected["unknown_customer"] = of_unknown["n_ok"] + of_unknown["n_late"]
    report_malformed(con, "orders", rejected, rep.hints)
    rep.rejected = {r: n for r, n in rejected.items() if n}
    rep.loaded = totals["n_ok"] + totals["n_late"] - rejected["unknown_customer"]
    rep.after_as_of = totals["n_late"] - of_unknown["n_late"]
    rep.line_items = totals["n_items"]
    rep.rows = rep.loaded + sum(rep.rejected.values()) + rep.line_items
    issues = {i: totals[f"i:{i}"] - of_unknown[f"i:{i}"] for i in ORDER_ISSUES}
    rep.kept_with_issues = {i: n for i, n in issues.items() if n}
    if rep.rejected.get("bad_date"):
        bad = "SELECT DISTINCT trim(CAST(_ordered_raw AS VARCHAR)) FROM orders_rows WHERE _verdict = 'bad_date' LIMIT 20"
        rep.hints.append(date_hint("orders", rep.date_column, [str(v) for (v,) in con.execute(bad).fetchall()]))
    if rep.rejected.get("unknown_status"):
        rows = exp.Select().from_("orders_rows")
        rep.hints.append(_values_hint(con, rows, "orders", "status", exp.column("_status_raw"), tree("_verdict = 'unknown_status'"), ORDER_STATUSES))


def _values_hint(
    con: duckdb.DuckDBPyConnection,
    rows: exp.Select,
    source: str,
    canonical: str,
    value: exp.Expr,
    where: exp.Expr,
    allowed: tuple[str, ...],
) -> str:
    """Which values of a column were not understood, with their counts, and the setting
    that maps them. `rows` is the FROM (and joins) to read them from."""
    counted = rows.select(exp.cast(value, "VARCHAR"), "count(*) AS n").where(where).group_by("1").order_by("n DESC", "1").limit(8)
    seen = run(con, counted).fetchall()
    listed = ", ".join(f"{v!r} ({n:,})" for v, n in seen)
    example = ", ".join(f"{v}: {likely_word(str(v), allowed)}" for v, _n in seen)
    return _(
        "{column} values not understood: {listed}; huitou reads {allowed}: map yours in huitou.yaml, data.{source}.values.{column}: {{{example}}}",
        column=canonical,
        listed=listed,
        allowed=", ".join(allowed),
        source=source,
        example=example,
    )


# Common words of shop exports, for the example in a values hint (a guess the user checks).
_LIKELY = {
    "paid": (
        "complete",
        "completed",
        "delivered",
        "shipped",
        "success",
        "succeeded",
        "fulfilled",
        "closed",
        "done",
        "已完成",
        "已付款",
        "交易成功",
    ),
    "unpaid": ("pending", "awaiting payment", "unpaid", "open", "new", "待付款", "未付款"),
    "cancelled": ("canceled", "cancelled", "void", "voided", "failed", "已取消", "交易关闭"),
    "refunded": ("returned", "refund", "refunded", "return", "已退款", "退款"),
    "true": ("yes", "y", "是", "opted in", "opt-in", "subscribed", "on", "x"),
    "false": ("no", "n", "否", "opted out", "opt-out", "unsubscribed", "off"),
}


def likely_word(value: str, allowed: tuple[str, ...]) -> str:
    """The allowed value a common export word likely means, else `<a|b|...>`."""
    word = value.strip().lower()
    return next((a for a in allowed if word in _LIKELY.get(a, ())), "<" + "|".join(allowed) + ">")


# The profile fields that are a way to reach the customer: the row a profile is taken
# from has one of them, when any row does.
CONTACT_FIELDS = ("phone", "email", "wechat_id")


def customers_from_orders(as_of: dt.date, order_fields: dict[str, str]) -> exp.Create:
    """Without a customers file, the customers are the buyers known at the as-of date (a
    usable order on or before it). Profile columns declared on the orders
    (`data.orders.fields`) come together from one of each customer's such orders: the
    latest that is not cancelled and has a contact (phone, email, wechat_id), else the
    latest not cancelled, else the latest; never a name from one row and a phone from
    another (a gift sent to someone else). The others are NULL. The statement creating
    the table `customers`."""
    types = profile_types(order_fields)
    contacts = [exp.not_(blank(quoted("_p:" + n), "VARCHAR")) for n in CONTACT_FIELDS if n in order_fields]
    has_contact = exp.or_(*contacts) if contacts else exp.false()
    profile = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(n, quoted=True), expression=quoted("_p:" + n)) for n in order_fields])
    order = tree("(status <> 'cancelled', status <> 'cancelled' AND coalesce(:contact, false), ordered_at, _row)", contact=has_contact)
    chosen = exp.select("customer_id", exp.func("arg_max", profile, order).as_("profile")).from_("orders_rows")
    known = tree("_verdict IS NULL AND local_date <= :as_of", as_of=date_literal(as_of))
    profiles = chosen.where(known).group_by("customer_id")
    columns = [
        exp.Dot(this=exp.column("profile", "p"), expression=exp.to_identifier(n, quoted=True)).as_(n, quoted=True)
        if n in order_fields
        else null_of(t).as_(n, quoted=True)
        for n, t in types.items()
    ]
    query = exp.select("s.customer_id", *columns).from_("order_summary AS s")
    if order_fields:
        query = query.join(profiles.subquery("p"), using=["customer_id"], join_type="left")
    return exp.Create(this=named("customers"), kind="TABLE", replace=True, expression=query.where("s.n_ok > 0"))


def load_customers(con: duckdb.DuckDBPyConnection, source: Source, identity: Identity, contacts: ContactReport) -> LoadReport:
    """Create the views `customers_checked` (every row, with verdicts) and `customers`
    (ids normalised: data/identity.py; rows whose ids normalise to one are duplicates)."""
    cols = open_raw(con, source)
    need_column(source, cols, "customer_id")
    _need_id_columns(source, cols)
    wanted = profile_types(source.fields)
    selects, issues, raw_value = [], [], {}
    for name, target in wanted.items():
        column = source.column(name)
        if column not in cols:
            selects.append(null_of(target).as_(name, quoted=True))
            continue
        value = typed(mapped(source, name, quoted(column)), "VARCHAR" if name in source.values else cols[column], target, source)
        selects.append(value.as_(name, quoted=True))
        raw_value[name] = mapped(source, name, quoted(column, "r"))
        if target != "VARCHAR":
            bad = "CASE WHEN NOT :blank AND :value IS NULL THEN :issue END"
            issues.append(tree(bad, blank=blank(quoted(column), cols[column]), value=value, issue="bad_" + name))
    respelled, _ = spellings_in(con, source, {cols[c].upper() for c in id_columns(source)})
    id_text = _customer_id(con, source, identity, contacts, respelled)
    issue_text = exp.func("concat_ws", exp.Literal.string(", "), *(issues or [exp.null()]), dialect="duckdb")
    # Field issues are judged on the raw values, so they are computed where those are seen.
    typed_rows = exp.select("_row", id_text.as_("customer_id"), *selects, issue_text.as_("_issues")).from_("raw_customers")
    missing = blank(exp.column("customer_id"))
    verdict = tree(
        "CASE WHEN :missing THEN 'missing_customer_id' WHEN regexp_matches(customer_id, :control) THEN 'bad_customer_id' END",
        missing=missing,
        control=CONTROL_CHARACTERS,
    )
    has_duplicates = find_duplicates(con, "customers", id_text)
    duplicate = tree("(d.keep_row IS NOT NULL AND t._row <> d.keep_row)") if has_duplicates else exp.false()

    def over_typed(*picked: exp.Expr | str) -> exp.Select:
        query = exp.select(*picked, dialect="duckdb").from_(typed_rows.subquery("t"), copy=False)
        return (
            query.join(named("duplicates_customers", alias="d"), on="d.dup_id = t.customer_id", join_type="left", copy=False)
            if has_duplicates
            else query
        )

    reject = tree("coalesce(:verdict, CASE WHEN :duplicate THEN 'duplicate_customer_id' END)", verdict=verdict, duplicate=duplicate)
    create(con, "customers_checked", over_typed("t.*", reject.as_("_reject")))
    rep = LoadReport("customers", source.path, max_rejected=source.max_rejected, label=source.label)
    rep.absent = [name for name in wanted if source.column(name) not in cols]
    for rejected, issue_list, count in con.execute("SELECT _reject, _issues, count(*) FROM customers_checked GROUP BY ALL").fetchall():
        rep.rows += count
        if rejected:
            rep.rejected[rejected] = rep.rejected.get(rejected, 0) + count
            continue
        rep.loaded += count
        for issue in filter(None, (issue_list or "").split(", ")):
            rep.kept_with_issues[issue] = rep.kept_with_issues.get(issue, 0) + count
    # The view every later query reads tests ids for control characters only when the
    # report found one: the test costs on every read, and almost no file has one.
    usable = verdict if rep.rejected.get("bad_customer_id") else tree("CASE WHEN :missing THEN 'missing_customer_id' END", missing=missing)
    usable_rows = tree(":usable IS NULL AND NOT :duplicate", usable=usable, duplicate=duplicate)
    create(con, "customers", over_typed("t.* EXCLUDE (_row, _issues)").where(usable_rows, copy=False))
    rep.rows += report_malformed(con, "customers", rep.rejected, rep.hints)
    for name, target in wanted.items():
        if rep.kept_with_issues.get("bad_" + name) and target == "BOOLEAN":
            rows = exp.Select().from_("raw_customers AS r").join("customers_checked AS c", using=["_row"])
            listed = tree("_issues LIKE :pattern", pattern="%bad_" + name + "%")
            rep.hints.append(_values_hint(con, rows, "customers", name, raw_value[name], listed, ("true", "false")))
    return rep


def write_quarantine(con: duckdb.DuckDBPyConnection, rep: LoadReport, quarantine_dir: Path | None) -> None:
    """Write every rejected or repaired row, with its reason, to <quarantine_dir>/<source>.csv."""
    name = rep.source
    if not (rep.rejected or rep.kept_with_issues) or quarantine_dir is None:
        return
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    if malformed(con, name):  # no columns to split them into: the line as it stands
        lines = quarantine_dir / f"{name}.malformed.csv"
        _write_csv(
            con,
            exp.select("line", "error", cell_sql(exp.column("text")).as_("text")).from_(named("malformed_" + name)).order_by("line"),
            lines,
        )
        rep.hints.append(_("malformed rows as they stand: {file}", file=lines))
    if not (set(rep.rejected) - {"malformed_row"} or rep.kept_with_issues):
        return
    target = quarantine_dir / f"{name}.csv"
    raw_cols = [c for c in columns_of(con, named("raw_" + name)) if c != "_row"]
    # People open the quarantine in a spreadsheet: its cells are made safe for one.
    picked = [cell_sql(exp.cast(quoted(c, "r"), "VARCHAR")).as_(c, quoted=True) for c in raw_cols]
    listed = select_tree(
        """
        SELECT c._row AS row, CASE WHEN c._reject IS NOT NULL THEN 'rejected' ELSE 'kept' END AS action, coalesce(c._reject, c._issues) AS reason
        FROM :checked AS c JOIN :raw AS r ON r._row = c._row
        WHERE c._reject IS NOT NULL OR c._issues <> ''
        ORDER BY c._row""",
        checked=named(name + "_checked"),
        raw=named("raw_" + name),
    )
    _write_csv(con, listed.select(*picked), target)
    rep.quarantine_file = target


def _write_csv(con: duckdb.DuckDBPyConnection, query: exp.Select, path: Path) -> None:
    copy_out(con, query, path, "HEADER, DELIMITER ','")
