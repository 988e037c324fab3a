"""The docs are the truth: every check, feature and schema key is documented."""

from __future__ import annotations

import re

from huitou.calendar import CUSTOMER_DATES, HOLIDAYS
from huitou.diagnostics import CHECKS
from huitou.features import CATALOG
from huitou.schema import load_schema
from huitou.templates import FILTERS, VARIABLES

from .conftest import ROOT

DOCS = ROOT / "docs"


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_every_check_is_documented() -> None:
    text = _text("checks.md")
    for check in CHECKS.values():
        assert f"## {check.code} {check.name}" in text
        assert f"| {check.name} | {check.severity} |" in text


def test_every_feature_is_documented_with_its_type() -> None:
    text = _text("features.md")
    for feature in CATALOG.values():
        assert re.search(rf"^\| `{feature.name}` \| {feature.type} \|", text, re.M), feature.name


def _keys(schema: dict, root: dict) -> set[str]:
    out: set[str] = set()
    if "$ref" in schema:
        return _keys(root["definitions"][schema["$ref"].split("/")[-1]], root)
    for key, sub in schema.get("properties", {}).items():
        out.add(key)
        out |= _keys(sub, root)
    for combo in ("oneOf", "anyOf"):
        for sub in schema.get(combo, []):
            out |= _keys(sub, root)
    for sub in (schema.get("items"), schema.get("additionalProperties")):
        if isinstance(sub, dict):
            out |= _keys(sub, root)
    return out


def test_every_schema_key_is_documented() -> None:
    text = _text("playbook.md")
    for kind in ("playbook", "project"):
        schema = load_schema(kind)
        for key in _keys(schema, schema):
            assert re.search(rf"`([\w.]*\.)?{re.escape(key)}[`.[:]", text), f"{kind} key '{key}' is not in docs/playbook.md"


def test_anchors_variables_and_filters_are_documented() -> None:
    text = _text("playbook.md")
    for name in [*CUSTOMER_DATES, *HOLIDAYS, *VARIABLES, *FILTERS]:
        assert f"`{name}`" in text, name


def test_readme_quick_start_is_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    assert block.strip().splitlines() == ["make demo", "make test"]


def test_every_data_check_reason_is_documented() -> None:
    source = (ROOT / "src" / "huitou" / "data" / "load.py").read_text(encoding="utf-8")
    reasons = set(re.findall(r"['\"]((?:missing|bad|negative|unknown|future|duplicate)_[a-z_]+)['\"]", source))
    assert {"bad_date", "duplicate_order_id", "unknown_customer", "duplicate_customer_id"} <= reasons
    text = _text("data.md")
    for reason in reasons:
        assert f"`{reason}`" in text, reason


def test_every_export_preset_is_documented() -> None:
    from huitou.exports import presets

    text = _text("exports.md")
    for preset in presets():
        assert f"## {preset.title} (`{preset.platform}`)" in text
        for column in preset.columns.values():
            for name in column if isinstance(column, list) else [column]:
                assert f"`{name}`" in text, (preset.platform, name)
