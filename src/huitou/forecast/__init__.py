"""The next purchase, seen coming: BG/NBD and Gamma-Gamma fitted on the shop's history
(btyd.py: the models; fit.py: over the loaded data). The fit runs only when something
uses its features (uses_forecast), since it reads every customer's history."""

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


def uses_forecast(playbooks: list[Any], templates_dir: Path | None) -> bool:
    """A playbook's text or a template names p_alive, expected_orders_90d or
    expected_spend_90d (a name in a comment costs a fit, nothing more)."""
    if any(_NAMES.search(p.doc.text) for p in playbooks):
        return True
    if templates_dir is None or not templates_dir.is_dir():
        return False
    return any(_NAMES.search(path.read_text(encoding="utf-8", errors="replace")) for path in templates_dir.rglob("*.j2") if path.is_file())
