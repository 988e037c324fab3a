"""Random text and random YAML into the loader, the validator and the predicate parser:
only diagnostics come out, never an exception."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huitou.features import CATALOG
from huitou.loader import load_text
from huitou.predicates import PredicateError, check, parse, to_sql
from huitou.validate import validate_paths

WORDS = [
    "order_count",
    "tier",
    "tags",
    "last_order_date",
    "AND",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "IS",
    "NULL",
    "CONTAINS",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<=",
    ">",
    "'gold'",
    "'2026-01-01'",
    "-90d",
    "+3d",
    "today",
    "45",
    "1.5",
    "true",
    "seg",
    "'",
    '"',
    "--",
]
predicate_text = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5000),
    st.text(max_size=12),
    st.sampled_from(["sms", "care", "promotion", "10:30", "7d", "10%", "birthday", "order_count = 1"]),
)
keys = st.sampled_from(
    [
        "version",
        "name",
        "rules",
        "segments",
        "policies",
        "id",
        "intent",
        "segment",
        "when",
        "channel",
        "template",
        "at",
        "days",
        "before",
        "on",
        "every",
        "quiet_hours",
        "frequency_caps",
        "max",
        "per",
        "holdout",
        "x",
        "password",
    ]
)
trees = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=6)), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(predicate_text)
def test_predicate_parser_never_raises(text: str) -> None:
    tree = parse(text)
    if isinstance(tree, PredicateError):
        assert 0 <= tree.offset <= len(text)
        return
    problems = check(tree, CATALOG, {"seg"})
    assert all(0 <= p.offset <= len(text) for p in problems)
    if not problems:
        assert to_sql(tree, {"seg": to_sql(parse("order_count = 1"))}).sql("duckdb")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_loader_never_raises_on_text(text: str) -> None:
    doc, problems = load_text(text, "x.yaml")
    assert doc is not None or problems


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trees, st.booleans())
def test_validator_never_raises_on_random_yaml(tmp_path: Path, data: object, as_playbook: bool) -> None:
    if as_playbook and isinstance(data, dict):
        data = {"version": 1, "name": "fuzz", **data}
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = validate_paths([path])
    assert all(d.line >= 1 and d.column >= 1 for d in result.diagnostics)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.sampled_from(["new AND", "order_count >= 1", "tier = 'x'", "(", ")", "OR", "NOT", "seg"]), max_size=8).map(" ".join),
    st.sampled_from(["plain", "quoted", "block"]),
)
def test_predicate_positions_stay_in_the_file(tmp_path: Path, segment: str, style: str) -> None:
    value = {"plain": segment or "x", "quoted": '"' + segment + '"', "block": "|\n      " + segment}[style]
    text = f"version: 1\nname: p\nsegments:\n  seg: order_count = 1\nrules:\n  - id: r\n    intent: care\n    segment: {value}\n    when: {{immediate: true}}\n    channel: sms\n    template: x.j2\n"
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    for d in validate_paths([path]).diagnostics:
        assert 1 <= d.line <= len(lines) + 1
        if d.code.startswith("HT2") or d.code == "HT301":
            assert d.line >= 8 and d.column <= len(lines[d.line - 1]) + 1
