"""The strict loader: YAML 1.1 surprises off, duplicate keys found, positions exact."""

from __future__ import annotations

import pytest

from huitou.loader import load_text


@pytest.mark.parametrize(
    "source, expected",
    [
        ("a: yes", "yes"),
        ("a: no", "no"),
        ("a: on", "on"),
        ("a: off", "off"),
        ("a: y", "y"),
        ("a: true", True),
        ("a: False", False),
        ("a: 2026-11-11", "2026-11-11"),
        ("a: 10:30", "10:30"),
        ("a: 1:30:00", "1:30:00"),
        ("a: 0755", 755),
        ("a: 0x1f", 31),
        ("a: 1.5", 1.5),
        ("a: 1e3", 1000.0),
        ("a: ~", None),
        ("a: 00123", 123),
        ("a: '00123'", "00123"),
    ],
)
def test_scalars_follow_yaml_1_2(source: str, expected: object) -> None:
    doc, problems = load_text(source, "x.yaml")
    assert problems == [] and doc is not None
    assert doc.data["a"] == expected and type(doc.data["a"]) is type(expected)


def test_keys_are_strings() -> None:
    doc, _ = load_text("template: {7: a.j2, 3: b.j2}", "x.yaml")
    assert doc is not None and doc.data == {"template": {"7": "a.j2", "3": "b.j2"}}


def test_duplicate_keys_reported_at_second() -> None:
    _, problems = load_text("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", "x.yaml")
    assert [(p.line, p.column, p.code) for p in problems] == [(4, 3, "HT002"), (5, 1, "HT002")]
    assert "first at line 3" in problems[0].message


def test_merge_keys_are_not_duplicates_and_positions_follow_the_anchor() -> None:
    doc, problems = load_text("base: &b\n  x: 1\n  y: 2\nitem:\n  <<: *b\n  y: 3\n", "x.yaml")
    assert problems == [] and doc is not None
    assert doc.data["item"] == {"x": 1, "y": 3}
    assert doc.position(("item", "y")) == (6, 6)
    assert doc.position(("item", "x")) == (2, 6)  # found through the merge


@pytest.mark.parametrize(
    "source, offset, position",
    [
        ("s: order_count = 1\n", 14, (1, 18)),
        ("s: 'tier = ''gold'' AND x'\n", 18, (1, 25)),
        ('s: "a AND b"\n', 6, (1, 11)),
        ("s: |\n  a AND\n    b = 1\n", 8, (3, 5)),
        ("s: >\n  a AND\n  b = 1\n", 6, (3, 3)),
        ("s: a AND\n  b = 1\n", 6, (2, 3)),
    ],
)
def test_offsets_inside_scalars(source: str, offset: int, position: tuple[int, int]) -> None:
    doc, _ = load_text(source, "x.yaml")
    assert doc is not None
    assert doc.scalar_position(("s",), offset) == position


def test_syntax_error_has_position_and_hint() -> None:
    doc, problems = load_text("a:\n  - b\n c: d\n", "x.yaml")
    assert doc is None
    assert [(p.line, p.column, p.code) for p in problems] == [(3, 2, "HT001")]
    assert problems[0].hint
