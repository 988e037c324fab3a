"""The plan file's contract, shared by the planner that writes plan files and the
delivery that reads them: the columns and their types, what names a row (its idempotency
key: one message per trigger) and the checksum over what delivery uses (docs/plan.md#rows).
"""

from __future__ import annotations

import hashlib

from sqlglot import exp

from .db import tree
from .vocabulary import Status

# The plan file's formats, by the file name's extension: the planner writes them, delivery reads them.
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

# A plan file's columns, in order (docs/plan.md#rows).
COLUMNS = (
    "plan_id",
    "project",
    "plan_rows",
    "as_of",
    "idempotency_key",
    "customer_id",
    "playbook",
    "rule_id",
    "step",
    "intent",
    "channel",
    "priority",
    "scheduled_date",
    "trigger",
    "send_at",
    "timezone",
    "quiet_hours",
    "status",
    "reason",
    "reason_detail",
    "consent_basis",
    "to",
    "locale",
    "template",
    "content",
    "checksum",
)
STATUSES = tuple(Status)

# Every field of a row but its checksum, of every row: delivery takes the send rows'
# (recipient, time, text), and a suppressed or holdout row withdraws a send or records the
# control group, so an edited status, reason or as-of date lies as much as an edited
# text. The checksum lets `huitou send` refuse a plan file edited after planning; the
# idempotency key is recomputed from its parts for the same reason, and `project` and
# `plan_rows` refuse another project's plan and a file cut short.
SIGNED_FIELDS = tuple(c for c in COLUMNS if c not in ("content", "checksum"))
CONTENT_FIELDS = (("subject", "VARCHAR"), ("body", "VARCHAR"), ("html", "VARCHAR"), ("segments", "INTEGER"), ("extra", "JSON"))
CONTENT_TYPE = "STRUCT(" + ", ".join(f"{name} {type_}" for name, type_ in CONTENT_FIELDS) + ")"
# The SQL type of each column as a plan file is read back; the rest are text.
COLUMN_TYPES = {c: "VARCHAR" for c in COLUMNS} | {
    "plan_rows": "BIGINT",
    "step": "INTEGER",
    "priority": "INTEGER",
    "scheduled_date": "DATE",
    "as_of": "DATE",
    "content": CONTENT_TYPE,
}


def project_id(config: dict) -> str:
    """What names a project in its plans: huitou.yaml's `id` (huitou init writes a random
    one), else its `name`. `huitou send` refuses a plan of another project."""
    return str(config.get("id") or config.get("name") or "")


def key(playbook: exp.Expr, rule_id: exp.Expr, customer_id: exp.Expr, trigger: exp.Expr) -> exp.Expr:
    """The idempotency key: one message per playbook, rule, customer and trigger (the
    event or occurrence the message answers), whatever day it is planned on."""
    return tree(
        "left(sha256(:playbook || chr(31) || :rule_id || chr(31) || :customer_id || chr(31) || :trigger), 32)",
        playbook=playbook,
        rule_id=rule_id,
        customer_id=customer_id,
        trigger=trigger,
    )


def key_of(playbook: str, rule_id: str, customer_id: str, trigger: str) -> str:
    """`key` computed in Python, for keys known outside a query (a ledger's rows as today's
    data spells them: data/contacts.respelled)."""
    return hashlib.sha256("\x1f".join((playbook, rule_id, customer_id, trigger)).encode()).hexdigest()[:32]


def key_sql() -> str:
    """The idempotency key over a plan row's own columns, as DuckDB text."""
    return key(*(exp.column(c, quoted=True) for c in ("playbook", "rule_id", "customer_id", "trigger"))).sql("duckdb")


def checksum_sql(content: str = "content") -> str:
    """A row's checksum: SIGNED_FIELDS and the content, as one JSON list."""
    # JSON values are minified first: a JSONL plan holds them as nested values, re-spaced.
    parts = [f'CAST("{f}" AS VARCHAR)' for f in SIGNED_FIELDS] + [
        f"CAST({'json(' + content + '.' + name + ')' if type_ == 'JSON' else content + '.' + name} AS VARCHAR)" for name, type_ in CONTENT_FIELDS
    ]
    return f"left(sha256(CAST(to_json([{', '.join(parts)}]) AS VARCHAR)), 32)"
