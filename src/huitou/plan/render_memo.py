"""Messages one plan of a session takes from another instead of rendering them again
(huitou diff plans two versions of a project over the same data).

A message is a function of its rule's rendering (the text of its templates and of every
template they use, the channel's settings, the fixed context, which customer fields the
templates get) and of its row: the customer's fields, last orders, send time and offset,
event. Within one session the data is the same for every plan, so the customer's values
follow from the customer id and the send time: a row is named by its rule's fingerprint,
customer, step, send time, offset and event. Each plan records its messages under those
names; a later plan of the session copies the messages it finds and renders the rest. A
pull request that changes one template renders that template's messages again, not all.

Failures are not recorded: a template that ran out of time once may not the next time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import duckdb
from sqlglot import exp

from ..db import create_temp, run, scalar, tree
from ..engines.base import local_table
from ..templates import TemplateLoader, environment, template_sources
from .render import Renderer, RuleSpec

# A row's name (the fingerprint of its rule, then columns of the decided sends) and what
# is kept of its message (render_worker's columns but the row's own).
_NAME = {
    "fingerprint": "VARCHAR",
    "customer_id": "VARCHAR",
    "step": "INTEGER",
    "send_local": "TIMESTAMP",
    "utc_offset": "INTEGER",
    "event": "VARCHAR",
    "event_date": "DATE",
}
_KEPT = {"template": "VARCHAR", "subject": "VARCHAR", "body": "VARCHAR", "html": "VARCHAR", "segments": "INTEGER", "extra": "JSON"}


class RenderMemo:
    """The messages rendered so far in a session, by name (a table in its DuckDB)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str = "render_memo") -> None:
        self.table = exp.to_table(name)
        self.reused = 0  # messages copied instead of rendered, over every plan
        con.execute(local_table(name, {**_NAME, **_KEPT}))

    def take(self, con: duckdb.DuckDBPyConnection, fingerprints: dict[int, str], tables: dict[str, exp.Table], rest: str) -> int:
        """Copy into tables["rendered"] the known messages of the sends of
        tables["to_render"]; the others go to the new table `rest` (cand_id, send_local).
        `fingerprints`: each rule index's (fingerprint()). Returns how many were copied."""
        on = _named(fingerprints)
        copy = tree(_COPY, same=on, memo=self.table, **tables)
        before = int(scalar(con, tree("SELECT count(*) FROM :rendered", **tables).sql("duckdb")))
        run(con, copy)
        copied = int(scalar(con, tree("SELECT count(*) FROM :rendered", **tables).sql("duckdb"))) - before
        create_temp(con, rest, tree(_REST, **tables))
        self.reused += copied
        return copied

    def keep(self, con: duckdb.DuckDBPyConnection, fingerprints: dict[int, str], tables: dict[str, exp.Table], rendered_now: exp.Table) -> None:
        """Record the messages rendered for the sends of `rendered_now` (those without an error)."""
        name = [exp.column(c, "d").as_(c) for c in _NAME if c != "fingerprint"]
        run(
            con,
            tree(
                _KEEP,
                fingerprint=_fingerprint_of(fingerprints),
                name=exp.Tuple(expressions=name),
                memo=self.table,
                fresh=rendered_now,
                **tables,
            ),
        )


# The sends to render whose message is known: the memo's row of the same name.
_COPY = """
    INSERT INTO :rendered
    SELECT t.cand_id, t.send_local, m.template, m.subject, m.body, m.html, m.segments, m.extra, NULL, NULL
    FROM :to_render AS t JOIN :decided AS d USING (cand_id) JOIN :memo AS m ON :same"""
_REST = """
    SELECT t.cand_id, t.send_local FROM :to_render AS t
    WHERE NOT EXISTS (SELECT 1 FROM :rendered AS x WHERE x.cand_id = t.cand_id AND x.send_local = t.send_local)"""
_KEEP = """
    INSERT INTO :memo
    SELECT :fingerprint, d.customer_id, d.step, d.send_local, d.utc_offset, d.event, d.event_date,
           x.template, x.subject, x.body, x.html, x.segments, x.extra
    FROM :fresh AS t JOIN :decided AS d USING (cand_id) JOIN :rendered AS x ON x.cand_id = t.cand_id AND x.send_local = t.send_local
    WHERE x.error IS NULL"""


def _fingerprint_of(fingerprints: dict[int, str]) -> exp.Expr:
    """The fingerprint of the rule of the decided send `d`."""
    case = exp.Case()
    for index, value in fingerprints.items():
        case.when(exp.column("rule_index", "d").eq(exp.Literal.number(index)), exp.Literal.string(value), copy=False)
    return case


def _named(fingerprints: dict[int, str]) -> exp.Expr:
    """The memo's row `m` has the name of the decided send `d` (NULL equal to NULL)."""
    same: list[exp.Expr] = [exp.column("fingerprint", "m").eq(_fingerprint_of(fingerprints))]
    same += [exp.NullSafeEQ(this=exp.column(c, "m"), expression=exp.column(c, "d")) for c in _NAME if c != "fingerprint"]
    return exp.and_(*same)


def fingerprints(renderer: Renderer, customer_types: dict[str, str]) -> dict[int, str]:
    """Each rule's fingerprint. `customer_types`: the customer struct's fields and types
    (what a rule that may read any field gets)."""
    out = {}
    for index, rendering in renderer.rules.items():
        fields = rendering.customer_fields
        given = customer_types if fields is None else {f: customer_types.get(f, "") for f in fields}
        out[index] = fingerprint(rendering.spec, given)
    return out


def fingerprint(spec: RuleSpec, customer: dict[str, str]) -> str:
    """What a rule renders with, as a digest: its spec but for where its templates are,
    the text of every template it uses (of every template in its directories when one
    is named at run time), and the customer fields it gets. Two versions of a project in
    different directories agree when their rule renders alike."""
    env = environment(TemplateLoader(spec.template_dirs))
    texts = {}
    for step, name in spec.templates.items():
        texts[str(step)] = template_sources(env, name) or _every_template(spec.template_dirs)
    about = {**asdict(spec), "template_dirs": None, "templates": texts, "customer": customer}
    return hashlib.sha256(json.dumps(about, sort_keys=True, default=str).encode()).hexdigest()


def _every_template(directories: list[str]) -> dict[str, str]:
    return {
        f"{i}/{path.relative_to(root).as_posix()}": path.read_text(encoding="utf-8", errors="replace")
        for i, root in enumerate(map(Path, directories))
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
