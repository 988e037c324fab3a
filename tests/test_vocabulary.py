"""The words of the plan file and the ledger are the enums of huitou/vocabulary.py: SQL
that spells a status, reason, intent or state spells one of them, and the schema, the
plan file's contract and the ledger's table allow exactly them."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from huitou.vocabulary import Intent, OrderStatus, Reason, State, Status

SOURCE = Path(__file__).resolve().parent.parent / "src" / "huitou"
# An order's status and a plan row's share the column name: either vocabulary.
WORDS = {"status": set(Status) | set(OrderStatus), "reason": set(Reason), "early_reason": set(Reason), "intent": set(Intent), "state": set(State)}
# `status = 'send'`, `d.reason <> 'x'`, `state IN ('sent', 'sending')`, `CASE m.state WHEN 'x'`, `THEN 'send' ... AS status`
_COMPARED = re.compile(r"\b(?:\w+\.)?(status|reason|early_reason|intent|state)\s*(?:=|<>|!=)\s*'(\w+)'")
_LISTED = re.compile(r"\b(?:\w+\.)?(status|reason|early_reason|intent|state)\s+(?:NOT\s+)?IN\s*\(((?:\s*'\w+'\s*,?)+)\)", re.IGNORECASE)


def spelled(text: str) -> list[tuple[str, str]]:
    """(column, word) for every word SQL text compares a status, reason, intent or state to.

    >>> spelled("WHERE d.status = 'send' AND state IN ('sent', 'sending') AND x = 'y'")
    [('status', 'send'), ('state', 'sent'), ('state', 'sending')]
    """
    found = [(m.group(1), m.group(2)) for m in _COMPARED.finditer(text)]
    for m in _LISTED.finditer(text):
        found += [(m.group(1), word) for word in re.findall(r"'(\w+)'", m.group(2))]
    return found


def test_sql_spells_only_the_vocabulary() -> None:
    wrong, seen = [], 0
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for column, word in spelled(node.value):
                    seen += 1
                    if word not in WORDS[column]:
                        wrong.append(f"{path.relative_to(SOURCE)}: {column} '{word}'")
    assert not wrong
    assert seen > 40  # the check reads the SQL it is meant to


def test_the_schema_the_contract_and_the_ledger_allow_exactly_the_vocabulary(tmp_path: Path) -> None:
    from huitou.contract import STATUSES
    from huitou.delivery.ledger import Ledger

    schema = json.loads((SOURCE / "schemas" / "playbook.v1.schema.json").read_text(encoding="utf-8"))
    intents = [node["enum"] for node in _walk(schema) if isinstance(node, dict) and node.get("enum") and "promotion" in node["enum"]]
    assert intents and all(set(found) == set(Intent) for found in intents)
    assert set(STATUSES) == set(Status)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    (table,) = ledger.db.execute("SELECT sql FROM sqlite_master WHERE name = 'messages'").fetchone()
    ledger.close()
    assert {word for column, word in spelled(table) if column == "state"} == set(State)


def _walk(node: object) -> list[object]:
    found = [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found += _walk(child)
    return found
