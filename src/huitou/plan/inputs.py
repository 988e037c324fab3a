"""The plan's other inputs: the opt-out list and the message history.

Both are optional files named in huitou.yaml (`data.suppression`, `data.history`), read
with the same options as the orders (path, format, columns, csv). The opt-out list has
`customer_id` and optionally `channel` (blank: every channel). The history has
`customer_id`, `channel`, `intent` and `sent_at`; a time without an offset is local time
in the data's timezone. The send ledger's delivered messages, when there is a ledger, are
history as well. Caps count history in each customer's calendar days: the instant
is turned into a date in the customer's own timezone at arbitration (arbitrate.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy
from sqlglot import exp

from ..data import raw
from ..data.contacts import respelled, spellings
from ..data.identity import region, written_id
from ..data.sources import Source, check_data_file, data_files, source_from_config
from ..data.values import local_timestamp
from ..db import connect, create_temp, drop_table, first_row, run, select_tree, table_from_columns, tree, union_all
from ..i18n import _
from ..inert import shown
from ..project import channels_named
from ..relation import Scratch


def with_inputs(config: dict[str, Any], inputs: dict[str, Path | None]) -> dict[str, Any]:
    """The config with the plan's other inputs replaced: keys `history` and `suppression`
    (data sources) and `ledger`; a None value means none."""
    data = {k: v for k, v in (config.get("data") or {}).items() if k not in inputs}
    data |= {k: {"path": str(v)} for k, v in inputs.items() if k != "ledger" and v is not None}
    out = {**config, "data": data}
    if "ledger" in inputs:
        out["ledger"] = None if inputs["ledger"] is None else {"path": str(inputs["ledger"])}
    return out


def _source(config: dict[str, Any], root: Path, name: str) -> Source | None:
    spec = (config.get("data") or {}).get(name)
    if not spec or not spec.get("path"):
        return None
    source = source_from_config(name, spec, root)
    check_data_file(source.path, f"data.{name}.path")
    return source


def load_optouts(
    con: duckdb.DuckDBPyConnection,
    config: dict[str, Any],
    root: Path,
    optouts: str,
    customers: exp.Table | None,
    notes: list[str] | None = None,
) -> exp.Table | None:
    """CREATE `optouts` (customer_id, channel NULL for all) from the opt-out file and
    the opt-outs recorded in the send ledger (`huitou optout`, unsubscribe tokens); the
    relation, or None when there is neither. An opt-out of a phone or an email reaches each of `customers`
    (the loaded customers; None: ids only) with it. A channel word names the channels it means (SMS, 短信: every
    SMS channel); one that names none here opts out of every channel, said in `notes`."""
    selects: list[exp.Query] = []
    source = _source(config, root, "suppression")
    if source is not None:
        cols = raw.open_raw(con, source)
        cid = _column(source, cols, "customer_id")
        channel = (
            tree("nullif(trim(CAST(:c AS VARCHAR)), '')", c=exp.column(source.column("channel"), quoted=True))
            if source.column("channel") in cols
            else exp.null()
        )
        selects.append(
            select_tree(
                "SELECT CAST(:cid AS VARCHAR) AS customer_id, :channel AS channel FROM :file WHERE :cid IS NOT NULL",
                file=raw.raw_table(source),
                cid=cid,
                channel=channel,
            )
        )
    ledger_path = _ledger_path(config, root)
    ledger = exp.to_table(optouts + "_ledger")
    if ledger_path is not None:
        from ..delivery.ledger import peek

        _table_from_rows(con, ledger.name, {"customer_id": "VARCHAR", "channel": "VARCHAR"}, peek(ledger_path, [])[1])
        selects.append(exp.select("*").from_(ledger.copy()))
    if not selects:
        return None
    given = exp.to_table(optouts + "_given")
    entries = run(con, exp.select("*").distinct().from_(union_all(selects).subquery("o"))).fetchall()
    entries = _scoped(entries, config.get("channels") or {}, notes if notes is not None else [])
    _table_from_rows(con, given.name, {"who": "VARCHAR", "channel": "VARCHAR"}, _every_spelling(entries, region(config)))
    made = create_temp(con, optouts, _resolved(given, customers))
    drop_table(con, ledger)
    drop_table(con, given)
    if source is not None:
        raw.forget(con, source)
    return made


def _scoped(entries: list[tuple[str, str | None]], channels: dict[str, Any], notes: list[str]) -> list[tuple[str, str | None]]:
    """Each opt-out under the configured channel names its channel word means
    (project.channels_named); a word that means none opts out of every channel,
    and is listed: an opt-out is never dropped for a spelling."""
    out: list[tuple[str, str | None]] = []
    unknown: dict[str, int] = {}
    for who, word in entries:
        if word is None or not str(word).strip():
            out.append((who, None))
            continue
        names = channels_named(str(word), channels)
        if not names:
            unknown[str(word)] = unknown.get(str(word), 0) + 1
        out += [(who, name) for name in names] or [(who, None)]
    for word, n in sorted(unknown.items()):
        notes.append(
            _(
                "opt-outs: {n:,} name the channel {word}, which is none of huitou.yaml's ({channels}): "
                "taken as opt-outs of every channel; write a channel's name or kind (sms, email, ...)",
                n=n,
                word=repr(shown(word)),
                channels=", ".join(channels) or _("none"),
            )
        )
    return out


def _every_spelling(entries: list[tuple[str, str | None]], country: str | None) -> list[tuple[str, str | None]]:
    """Each opt-out under every form its person may have in the data (data/contacts.py:
    `SANDRA.JONES@GMAIL.COM` also as `sandra.jones@gmail.com`, `'138 1234 5678` also
    as `+8613812345678`)."""
    return sorted(
        {(form, channel) for who, channel in entries if who is not None for form in spellings(str(who), country)},
        key=lambda r: (r[0], r[1] or ""),
    )


def _resolved(given: exp.Table, customers: exp.Table | None) -> exp.Expr:
    """The opt-outs by customer id: as given, the customers whose phone or email one of
    them names (an opt-out of a phone number stops the person's email too), and every
    customer who shares a phone or an email with one of those: one contact is one person,
    however many ids the shop's data gives them. Equality joins, not ORs: each is a hash
    join at a million customers."""
    selects: list[exp.Query] = [select_tree("SELECT who AS customer_id, channel FROM :given", given=given)]
    if customers is None:
        return exp.select("*").distinct().from_(union_all(selects).subquery("o"))
    selects += [
        exp.select("c.customer_id", "g.channel")
        .from_(exp.alias_(given.copy(), "g", table=True))
        .join(exp.alias_(customers.copy(), "c", table=True), on=exp.column(contact, "c").eq(exp.column("who", "g")))
        for contact in ("phone", "email")
    ]
    direct = exp.select("*").distinct().from_(union_all(selects).subquery("o"))
    shared = [select_tree(_SHARING, contact=exp.to_identifier(contact), customers=customers) for contact in ("phone", "email")]
    return exp.select("*").distinct().from_(union_all([exp.select("*").from_("direct"), *shared]).subquery("o")).with_("direct", as_=direct)


# The customers who share a contact with a customer of `direct` (the contact's column
# stands for :contact), under that customer's opt-out.
_SHARING = """SELECT same.customer_id, d.channel FROM direct AS d JOIN :customers AS c ON c.customer_id = d.customer_id
              JOIN :customers AS same ON same.:contact = c.:contact"""


def _column(source: Source, columns: dict[str, str], canonical: str) -> exp.Column:
    """The file's column for a canonical one (a clear error when it has none)."""
    return raw.need_column(source, columns, canonical)


def read_optout_file(config: dict[str, Any], root: Path) -> list[tuple[str, str | None]]:
    """The project's opt-out file as (customer_id, channel or None) rows (`huitou send`
    records them in the ledger)."""
    if _source(config, root, "suppression") is None:
        return []
    con = connect(data_files(config, root))
    try:
        made = load_optouts(con, {**config, "ledger": None}, root, "optouts", None)
        return run(con, exp.select("customer_id", "channel").from_(made).order_by("customer_id", "channel")).fetchall() if made else []
    finally:
        con.close()


def load_history(
    con: duckdb.DuckDBPyConnection,
    config: dict[str, Any],
    root: Path,
    timezone: str,
    notes: list[str],
    scratch: Scratch,
    customers: exp.Table,
) -> History | None:
    """The history (customer_id, channel, intent, sent_at TIMESTAMPTZ): the messages sent
    before, from the history file and the send ledger's delivered messages; None when
    there is neither.
    A row that names a person by phone or email counts for the one of `customers` (the
    loaded customers) with it.
    Rows of the file without a customer id or a readable sent_at are left out and counted
    in `notes`."""
    source = _source(config, root, "history")
    selects, parts = [], []
    if source is not None:
        cols = raw.open_raw(con, source)
        cid, channel, intent, sent = (_column(source, cols, c) for c in ("customer_id", "channel", "intent", "sent_at"))
        sent_type = cols[source.column("sent_at")].upper()
        instant: exp.Expr = sent
        if "TIME ZONE" not in sent_type:
            # Local times (and text with an offset, which local_timestamp shifts into the
            # data's zone) are instants in the data's timezone.
            local = local_timestamp(sent, sent_type, source, timezone)
            instant = tree("timezone(:zone, :local)", zone=timezone, local=local)
        file = create_temp(
            con,
            scratch.new("history_file").name,
            tree(_HISTORY_FILE, file=raw.raw_table(source), cid=cid, person=written_id(cid), channel=channel, intent=intent, instant=instant),
        )
        counts = tree("SELECT (SELECT count(*) FROM :given), (SELECT count(*) FROM :file)", given=raw.raw_table(source), file=file)
        read, kept = first_row(con, counts.sql("duckdb")) or (
            0,
            0,
        )
        if read != kept:
            notes.append(
                _(
                    "history: {left:,} of {read:,} rows in {file} have no customer_id or no readable sent_at; they are not counted for caps or care-first",
                    left=read - kept,
                    read=read,
                    file=source.path.name,
                )
            )
        selects.append(_by_person(con, file, region(config), customers))
        parts.append(file)
        raw.forget(con, source)
    ledger_path = _ledger_path(config, root)
    if ledger_path is None and config.get("ledger", {}) is not None:
        from ..delivery.ledger import default_path, witness_problem

        if problem := witness_problem(default_path(root, config), None):
            notes.append(_("this plan cannot know what was sent: {problem}", problem=problem))
    if ledger_path is not None:
        from ..delivery.ledger import history as ledger_history

        rows = ledger_history(ledger_path)
        ledger = _table_from_rows(
            con,
            scratch.new("history_ledger").name,
            {"customer_id": "VARCHAR", "channel": "VARCHAR", "intent": "VARCHAR", "sent_at": "TIMESTAMPTZ"},
            rows,
        )
        selects.append(exp.select("*").from_(ledger))
        parts.append(ledger)
    if not selects:
        return None
    history = scratch.new("history")
    view = exp.Create(
        this=history.copy(),
        kind="VIEW",
        replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
        expression=union_all(selects),
    )
    con.execute(view.sql("duckdb"))
    return History(history, parts)


@dataclass(frozen=True)
class History:
    """The messages sent before (load_history), for the caps and care-first."""

    view: exp.Table  # customer_id, channel, intent, sent_at (TIMESTAMPTZ)
    parts: list[exp.Table]  # the tables the view reads: the file's rows, the ledger's


def _by_person(con: duckdb.DuckDBPyConnection, file: exp.Table, country: str | None, customers: exp.Table) -> exp.Select:
    """The history file's rows under their customers' ids: a row that names a customer by
    phone or email (13812345678 for the customer whose phone is +8613812345678, an
    address in another letter case) counts for that customer, as an opt-out does. The
    file's table is rewritten in place."""
    unknown = tree(
        "SELECT DISTINCT customer_id FROM :file WHERE customer_id NOT IN (SELECT customer_id FROM :customers)", file=file, customers=customers
    )
    named_otherwise = [row[0] for row in run(con, unknown).fetchall()]
    if named_otherwise:
        forms = _table_from_rows(
            con,
            file.name + "_forms",
            {"who": "VARCHAR", "form": "VARCHAR"},
            sorted({(who, form) for who in named_otherwise for form in spellings(who, country)}),
        )
        people = union_all(
            [
                exp.select("f.who", "c.customer_id")
                .from_(exp.alias_(forms.copy(), "f", table=True))
                .join(exp.alias_(customers.copy(), "c", table=True), on=exp.column(contact, "c").eq(exp.column("form", "f")))
                for contact in ("phone", "email")
            ]
        )
        run(
            con,
            tree(
                "UPDATE :file AS h SET customer_id = p.customer_id FROM (SELECT who, min(customer_id) AS customer_id FROM :people GROUP BY who) AS p "
                "WHERE p.who = h.customer_id",
                file=file,
                people=people.subquery("x"),
            ),
        )
        drop_table(con, forms)
    return exp.select("*").from_(file)


# The history file's rows with a customer and a readable time, the time as an instant.
_HISTORY_FILE = """
    SELECT CAST(:person AS VARCHAR) AS customer_id, CAST(:channel AS VARCHAR) AS channel, CAST(:intent AS VARCHAR) AS intent, :instant AS sent_at
    FROM :file WHERE :cid IS NOT NULL AND (:instant) IS NOT NULL"""


def load_ledger_done(con: duckdb.DuckDBPyConnection, config: dict[str, Any], root: Path, done: str) -> tuple[exp.Table | None, bool]:
    """CREATE `done` (idempotency_key, playbook, rule_id, customer_id, legacy)
    from the send ledger: the messages it has delivered, or had in flight when a run
    stopped (the next run resends those under the same key). A candidate with one of
    these keys is `already_sent`. Returns (the relation, None when there is no ledger;
    whether it has legacy rows: keys written before keys named triggers)."""
    ledger_path = _ledger_path(config, root)
    if ledger_path is None:
        return None, False
    from ..delivery.ledger import delivered

    rows = delivered(ledger_path)
    types = {"idempotency_key": "VARCHAR", "playbook": "VARCHAR", "rule_id": "VARCHAR", "customer_id": "VARCHAR", "legacy": "BOOLEAN"}
    made = _table_from_rows(con, done, types, [r[:5] for r in rows] + respelled(rows))
    return made, any(r[4] for r in rows)


def _table_from_rows(con: duckdb.DuckDBPyConnection, name: str, types: dict[str, str], rows: list[tuple]) -> exp.Table:
    """CREATE TEMP TABLE `name` from Python rows (the ledger's), typed as given."""
    columns: list[Any] = list(zip(*rows)) if rows else [[] for _ in types]
    return table_from_columns(con, name, {c: numpy.array(values, dtype=object) for c, values in zip(types, columns)}, types)


def _ledger_path(config: dict[str, Any], root: Path) -> Path | None:
    """The send ledger when it exists: its delivered messages are history too."""
    if "ledger" in config and config["ledger"] is None:
        return None  # switched off (huitou test: a test sees only the history it gives)
    from ..delivery.ledger import default_path

    path = default_path(root, config)
    return path if path.is_file() else None
