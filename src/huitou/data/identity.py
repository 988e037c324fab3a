"""One person, one customer: the customer id and the contacts as huitou compares them
(docs/data.md#identity-and-contacts). The normalisers are in data/contacts.py; this
module applies them to a load: the id over every row (SQL, with phone-number ids looked
up in a small table Python filled), and the profile's phone and email over the distinct
values, with what changed and what could not be used counted for the load report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy
from sqlglot import exp

from ..db import create, named, run, select_tree, table_from_columns, tree
from ..i18n import N_, _
from ..templates import mask_filter
from .contacts import (
    Normalised,
    email_text,
    fast_email,
    fast_phone,
    maybe_guarded,
    normalise_emails,
    normalise_phones,
    phone_digits,
    said_problem,
    unguarded,
)
from .raw import mapped
from .sources import Source

# An id written as an international phone number (+86 138...): read as one. Not 0086...:
# a zero-padded numeric id (0012125550) is an id, not a call abroad.
_INTERNATIONAL = r"^\+[0-9][0-9 ().\-]{5,}$"
EXAMPLES = 3  # examples a report line shows


@dataclass(frozen=True)
class Identity:
    """huitou.yaml's `identity` and the region phone numbers are read in."""

    region: str | None  # shop.country, or the default locale's region
    email_ids: bool = True  # an id that is an email address is compared without letter case
    phone_ids: bool = True  # an id written +<country code>... (or from a fallback column) is compared in E.164

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Identity:
        settings = config.get("identity") or {}
        return cls(region(config), settings.get("email_ids", "ignore_case") == "ignore_case", settings.get("phone_ids", "e164") == "e164")


def region(config: dict[str, Any]) -> str | None:
    """The country phone numbers without a country code belong to: shop.country, else the
    region of default_locale (zh-CN: CN), else none (then only +... numbers are read)."""
    country = (config.get("shop") or {}).get("country")
    if country:
        return str(country).upper()
    locale = str(config.get("default_locale", "zh-CN"))
    part = locale.replace("_", "-").split("-")[-1]
    return part.upper() if len(part) == 2 and part.isalpha() and "-" in locale.replace("_", "-") else None


@dataclass
class ContactReport:
    """What the load did to ids and contacts, for the load report."""

    rewritten_ids: int = 0  # ids written otherwise than huitou reads them (a guard, letter case, a phone's form)
    merged_ids: int = 0  # of those, spellings that became another row's id
    order_ids: int = 0  # order rows whose order id lost a spreadsheet guard
    merged_examples: list[tuple[str, str]] = field(default_factory=list)
    changed: dict[str, int] = field(default_factory=dict)  # phone/email -> distinct values rewritten (guards, +86, case)
    unusable: dict[str, dict[str, int]] = field(default_factory=dict)  # phone/email -> problem -> distinct values
    examples: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # phone/email -> (masked value, problem)

    def lines(self) -> list[str]:
        out = []
        if self.rewritten_ids:
            out.append(_("ids: {n:,} read without their spreadsheet guard, letter case or phone number's form", n=self.rewritten_ids))
        if self.order_ids:
            out.append(_('order ids: {n:,} read without their spreadsheet guard (="4012...", a leading \' or tab)', n=self.order_ids))
        if self.merged_ids:
            shown = "; ".join(_("{a} is {b}", a=repr(a), b=repr(b)) for a, b in self.merged_examples)
            out.append(_("ids: {n:,} written otherwise are one customer with another row's id, e.g. {examples}", n=self.merged_ids, examples=shown))
        for kind in ("phone", "email"):
            if self.changed.get(kind):
                said = _("{kind}: {n:,} values rewritten to the form huitou sends to ({form})", kind=kind, n=self.changed[kind], form=_(_FORM[kind]))
                out.append(said)
            if self.unusable.get(kind):
                counts = ", ".join(f"{n:,} {said_problem(problem)}" for problem, n in sorted(self.unusable[kind].items(), key=lambda i: -i[1]))
                shown = ", ".join(f"{v} ({said_problem(p)})" for v, p in self.examples[kind])
                said = _(
                    "{kind}: {n:,} values are not usable and set aside: {counts}; e.g. {examples}",
                    kind=kind,
                    n=sum(self.unusable[kind].values()),
                    counts=counts,
                    examples=shown,
                )
                out.append(said)
        return out


_FORM = {"phone": N_("E.164: +, the country code, the number"), "email": N_("lower case")}


def id_columns(source: Source) -> list[str]:
    """The columns a source's customer id is read from, first present wins."""
    spec = source.columns.get("customer_id", "customer_id")
    return list(spec) if isinstance(spec, (list, tuple)) else [str(spec)]


def spellings_in(con: duckdb.DuckDBPyConnection, source: Source, id_types: set[str], order_id: exp.Expr | None = None) -> tuple[bool, int]:
    """One pass over raw_<source>, by byte tests: whether any id may read otherwise than
    written (a guard, an email address, an international phone number), and how many
    order ids (`order_id`, text) carry a spreadsheet guard. Clean ids and order ids
    (almost every export's) are then read as they are, with no work on each row."""
    if len(id_columns(source)) > 1:
        ids: exp.Expr = exp.true()  # a fallback column: a guest's phone, read as a phone number
    elif id_types & {"VARCHAR", "JSON"} or "customer_id" in source.values:
        text = exp.cast(mapped(source, "customer_id", exp.column(id_columns(source)[0], quoted=True)), "VARCHAR")
        ids = tree("(:guarded OR contains(:t, '@') OR ord(:t) = 43)", guarded=maybe_guarded(text), t=text)  # 43: +
    else:
        ids = exp.false()  # numbers: read as they are
    guarded: exp.Expr = exp.false()
    if order_id is not None:
        text = exp.cast(order_id, "VARCHAR")
        guarded = exp.and_(maybe_guarded(text), exp.NEQ(this=text.copy(), expression=unguarded(text)))
    counts = exp.select(tree("count(*) FILTER (WHERE :ids)", ids=ids), tree("count(*) FILTER (WHERE :guarded)", guarded=guarded)).from_(
        named("raw_" + source.name)
    )
    some, guarded_rows = run(con, counts).fetchone()  # type: ignore[misc]
    return bool(some), int(guarded_rows)


def customer_id(con: duckdb.DuckDBPyConnection, source: Source, identity: Identity) -> exp.Expr:
    """The normalised customer id over raw_<source>'s columns: unguarded, from the first
    id column that has one; an email address in lower case, a phone number (written
    +<country code>..., or from a fallback column) in E.164. Phone-number ids are looked up
    in a table filled here (Python's phonenumbers over their distinct values)."""
    parts = [tree("nullif(:v, '')", v=unguarded(mapped(source, "customer_id", exp.column(c, quoted=True)))) for c in id_columns(source)]
    text = exp.func("coalesce", *parts) if len(parts) > 1 else parts[0]
    value: exp.Expr = text
    if identity.phone_ids:
        looks = tree("left(:t, 1) = '+' AND regexp_matches(:t, :international)", t=text, international=_INTERNATIONAL)
        if len(parts) > 1:  # a fallback column (a guest's phone): read as a phone number
            looks = exp.or_(looks, tree(":first IS NULL", first=parts[0]))
        value = _phone_ids(con, source, text, looks, identity.region) or text
    if identity.email_ids:
        value = tree("CASE WHEN contains(:t, '@') THEN lower(:t) ELSE :v END", t=text, v=value)
    return value


def written_id(value: exp.Expr) -> exp.Expr:
    """SQL: an id given in another file (the message history) as the data's ids are
    read: unguarded, an email address in lower case. (An id in a phone number's form is
    not looked up here: history rows name customers by the id the shop keys them by.)"""
    text = unguarded(value)
    return tree("CASE WHEN contains(:t, '@') THEN lower(:t) ELSE :t END", t=text)


def _phone_ids(con: duckdb.DuckDBPyConnection, source: Source, text: exp.Expr, looks: exp.Expr, region: str | None) -> exp.Expr | None:
    """`text` in E.164 where `looks` and it is a valid number, else as written; None when
    no id looks like a phone number."""
    query = (
        exp.select(text.copy().as_("t"))
        .distinct()
        .from_(named("raw_" + source.name))
        .where(exp.and_(looks.copy(), text.copy().is_(exp.null()).not_()))
    )
    seen = [row[0] for row in run(con, query).fetchall()]
    forms = {raw: n.value for raw, n in normalise_phones(seen, region).items() if n.value and n.value != raw}
    if not forms:
        return None
    table = "id_phones_" + source.name
    table_from_columns(
        con,
        table,
        {"raw": numpy.array(list(forms), dtype=object), "e164": numpy.array(list(forms.values()), dtype=object)},
        {"raw": "VARCHAR", "e164": "VARCHAR"},
    )
    lookup = tree("(SELECT p.e164 FROM :table AS p WHERE p.raw = :t)", table=named(table), t=text)
    return tree("CASE WHEN :looks THEN coalesce(:lookup, :t) ELSE :t END", looks=looks, lookup=lookup, t=text)


def normalise_contacts(con: duckdb.DuckDBPyConnection, identity: Identity, report: ContactReport) -> None:
    """Replace the relation `customers` by one whose phone and email are normalised (NULL
    where a value is not one), counting in `report` what changed and what was set aside.
    Each distinct value is normalised once: in SQL when it is in the plain form
    (contacts.fast_phone, fast_email), else in Python by phonenumbers or email-validator."""
    run(
        con,
        tree("ALTER VIEW customers RENAME TO customers_as_read")
        if _is_view(con, "customers")
        else tree("ALTER TABLE customers RENAME TO customers_as_read"),
    )
    columns: list[exp.Expr] = []
    query = exp.select().from_("customers_as_read AS c")
    for kind in ("phone", "email"):
        table, alias = "contact_" + kind, kind[0] + "n"
        _normalised_values(con, kind, identity, table)
        columns.append(exp.column("value", alias).as_(kind, quoted=True))
        query = query.join(
            named(table, alias=alias),
            on=tree(":raw = CAST(:c AS VARCHAR)", raw=exp.column("raw", alias), c=exp.column(kind, "c", quoted=True)),
            join_type="left",
        )
        _count(con, kind, table, report)
    every = exp.Column(this=exp.Star(replace=columns), table=exp.to_identifier("c"))  # c.* REPLACE (pn.value AS phone, en.value AS email)
    create(con, "customers", query.select(every), kind="TABLE")  # once: the checks and the plan read the customers several times


def _normalised_values(con: duckdb.DuckDBPyConnection, kind: str, identity: Identity, table: str) -> None:
    """CREATE `table` (raw, value, problem): each distinct value of the customers' `kind`."""
    prepared = (
        phone_digits(exp.column("raw"), identity.region) if kind == "phone" else email_text(exp.column("raw"))
    )  # once, not in every test of the fast path
    fast = fast_phone(exp.column("p"), identity.region) if kind == "phone" else fast_email(exp.column("p"))
    distinct = select_tree("SELECT DISTINCT CAST(:c AS VARCHAR) AS raw FROM customers_as_read WHERE :c IS NOT NULL", c=exp.column(kind, quoted=True))
    values = exp.select("raw", prepared.as_("p")).from_(distinct.subquery("d"))
    quick = create(con, table + "_quick", exp.select("raw", (fast or exp.null()).as_("value")).from_(values.subquery("v")), kind="TABLE")
    rest = [row[0] for row in run(con, exp.select("raw").from_(quick).where("value IS NULL")).fetchall()]
    forms: dict[str, Normalised] = normalise_phones(rest, identity.region) if kind == "phone" else normalise_emails(rest)
    slow = table_from_columns(
        con,
        table + "_slow",
        {
            "raw": numpy.array(list(forms), dtype=object),
            "value": numpy.array([n.value for n in forms.values()], dtype=object),
            "problem": numpy.array([n.problem for n in forms.values()], dtype=object),
        },
        {"raw": "VARCHAR", "value": "VARCHAR", "problem": "VARCHAR"},
    )
    both = tree(
        "SELECT raw, value, CAST(NULL AS VARCHAR) AS problem FROM :quick WHERE value IS NOT NULL UNION ALL SELECT * FROM :slow",
        quick=quick,
        slow=slow,
    )
    create(con, table, both, kind="TABLE")


def _count(con: duckdb.DuckDBPyConnection, kind: str, table: str, report: ContactReport) -> None:
    """The distinct values rewritten, and those not usable (by problem, with masked
    examples): counted over the values, not joined back to the customers (a second
    pass over a million)."""
    counted = tree(
        """SELECT problem, count(*) FILTER (WHERE value IS DISTINCT FROM raw), count(*), min(raw)
                      FROM :table GROUP BY problem ORDER BY 3 DESC, 1""",
        table=named(table),
    )
    for problem, changed, customers, example in run(con, counted).fetchall():
        if problem is None:
            report.changed[kind] = int(changed)
            continue
        report.unusable.setdefault(kind, {})[problem] = int(customers)
        if len(report.examples.setdefault(kind, [])) < EXAMPLES:
            report.examples[kind].append((_visible(mask_filter(example)), problem))


def _visible(text: str) -> str:
    """A value from the data as a report prints it: control characters (an escape
    sequence a terminal would obey) written as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _is_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(run(con, tree("SELECT count(*) FROM duckdb_views() WHERE view_name = :name AND NOT internal", name=name)).fetchone()[0])  # type: ignore[index]


def count_ids(con: duckdb.DuckDBPyConnection, source: Source, id_value: exp.Expr, report: ContactReport) -> None:
    """Count, over raw_<source>, the ids written otherwise than huitou reads them and the
    spellings that became one customer with another row's id (with examples)."""
    written = exp.func("coalesce", *(exp.cast(exp.column(c, quoted=True), "VARCHAR") for c in id_columns(source)))
    pairs = exp.select(written.as_("written"), id_value.copy().as_("id")).from_(named("raw_" + source.name))
    query = tree(
        """
        WITH pairs AS (SELECT DISTINCT written, id FROM :pairs AS p WHERE id IS NOT NULL),
             spelled AS (SELECT id, count(*) AS n, max(written) FILTER (WHERE written IS DISTINCT FROM id) AS other FROM pairs GROUP BY id HAVING count(*) > 1)
        SELECT (SELECT count(*) FROM pairs WHERE written IS DISTINCT FROM id), (SELECT coalesce(sum(n - 1), 0) FROM spelled),
               (SELECT list([other, id] ORDER BY id) FROM (SELECT * FROM spelled ORDER BY id LIMIT :examples))""",
        pairs=pairs.subquery(),
        examples=EXAMPLES,
    )
    rewritten, merged, examples = run(con, query).fetchone() or (0, 0, None)
    report.rewritten_ids += int(rewritten)
    report.merged_ids += int(merged)
    report.merged_examples += [(a, b) for a, b in examples or []][: EXAMPLES - len(report.merged_examples)]
