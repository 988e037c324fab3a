"""`huitou forecast` output: the fitted purchase models and their check, as text or JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from ..forecast.check import FitCheck
from ..forecast.fit import Forecast


def _models(f: Forecast) -> dict[str, Any]:
    return {
        "as_of": f.as_of.isoformat(),
        "customers": f.customers,
        "repeat_buyers": f.repeat_buyers,
        "bg_nbd": dataclasses.asdict(f.model) if f.model else None,
        "gamma_gamma": dataclasses.asdict(f.spend) if f.spend else None,
        "problem": f.problem,
    }


def forecast_dict(fitted: Forecast, check: FitCheck) -> dict[str, Any]:
    return {
        "fit": _models(fitted),
        "check": {
            "calibration_end": check.calibrated.isoformat(),
            "holdout_end": check.as_of.isoformat(),
            "fit": _models(check.forecast),
            "actual": check.actual,
            "predicted": check.predicted,
            "relative_error": check.error,
            "by_repeat_purchases": [dataclasses.asdict(b) for b in check.buckets],
        },
    }


def forecast_json(fitted: Forecast, check: FitCheck) -> str:
    return json.dumps(forecast_dict(fitted, check), ensure_ascii=False, indent=2) + "\n"


def forecast_text(console: Console, fitted: Forecast, check: FitCheck) -> None:
    console.print(
        f"[bold]Purchase models[/bold] as of {fitted.as_of}: {fitted.customers:,} customers with a purchase, {fitted.repeat_buyers:,} bought again"
    )
    if fitted.problem:
        console.print(f"[yellow]note:[/yellow] {fitted.problem}")
        return
    m = fitted.model
    assert m is not None  # fitted: no problem
    console.print(f"  BG/NBD (purchase days, time in days): r={m.r:.4f} alpha={m.alpha:.4f} a={m.a:.4f} b={m.b:.4f}")
    if fitted.spend:
        s = fitted.spend
        console.print(f"  Gamma-Gamma (spend of a repeat purchase day): p={s.p:.4f} q={s.q:.4f} v={s.v:.4f}")
    else:
        console.print("  Gamma-Gamma: too few repeat buyers with a spend; expected_spend_90d is empty")
    days = (check.as_of - check.calibrated).days
    if check.forecast.problem:
        console.print(f"[yellow]fit check:[/yellow] {check.forecast.problem}")
        return
    table = Table(
        title=f"fit check: fitted up to {check.calibrated}, purchase days predicted for the {days} days to {check.as_of}, against what customers did",
        title_justify="left",
        show_edge=False,
    )
    for name in ("repeat purchases before", "customers", "actual per customer", "predicted per customer"):
        table.add_column(name, justify="right")
    for b in check.buckets:
        table.add_row(b.label, f"{b.customers:,}", f"{b.actual:.3f}", f"{b.predicted:.3f}")
    console.print(table)
    error = f" ({check.error:+.1%})" if check.error is not None else ""
    console.print(f"  in all: {check.actual:,} purchase days, {check.predicted:,.0f} predicted{error}")
