"""The next purchase, seen coming: BG/NBD and Gamma-Gamma fitted on the shop's history
(btyd.py: the models; fit.py: over the loaded data). The fit runs only when something
uses its features (forecast_named), since it reads every customer's history."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# Kept free of numpy and DuckDB: `huitou validate` reads these names and bounds.
FORECAST_COLUMNS = ("p_alive", "expected_orders_90d", "expected_spend_90d")
# The fewest customers with a purchase, and of them who bought again on another day, the
# models are fitted on (fewer: the features are empty, and HT-checks say so).
MIN_CUSTOMERS = 200
MIN_REPEAT_BUYERS = 50

_NAMES = re.compile(r"\b(" + "|".join(FORECAST_COLUMNS) + r")\b")


def forecast_named(playbooks: list[Any], templates_dir: Path | None) -> frozenset[str]:
    """The purchase models' features a playbook's text or a template names (a name in a
    comment costs a fit, nothing more). p_alive and expected_orders_90d need BG/NBD alone;
    only expected_spend_90d needs Gamma-Gamma as well."""
    names = {name for p in playbooks for name in _NAMES.findall(p.doc.text)}
    if templates_dir is not None and templates_dir.is_dir() and len(names) < len(FORECAST_COLUMNS):
        for path in templates_dir.rglob("*.j2"):
            if path.is_file():
                names.update(_NAMES.findall(path.read_text(encoding="utf-8", errors="replace")))
    return frozenset(names)


def needs_spend(named: frozenset[str]) -> bool:
    """Whether the features named need the spend model (Gamma-Gamma)."""
    return "expected_spend_90d" in named
