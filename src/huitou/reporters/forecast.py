"""`huitou forecast` output: the fitted purchase models and their check, as text or JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from ..forecast.check import FitCheck
from ..forecast.fit import Forecast
from ..i18n import N_, _, said_date


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
    head = _("Purchase models")
    said = _(
        "as of {as_of}: {customers:,} customers with a purchase, {again:,} bought again",
        as_of=said_date(fitted.as_of),
        customers=fitted.customers,
        again=fitted.repeat_buyers,
    )
    console.print(f"[bold]{head}[/bold] {said}")
    if fitted.problem:
        note = _("note:")
        console.print(f"[yellow]{note}[/yellow] {fitted.problem}")
        return
    m = fitted.model
    assert m is not None  # fitted: no problem
    console.print(
        "  " + _("BG/NBD (purchase days, time in days): r={r:.4f} alpha={alpha:.4f} a={a:.4f} b={b:.4f}", r=m.r, alpha=m.alpha, a=m.a, b=m.b)
    )
    if fitted.spend:
        s = fitted.spend
        console.print("  " + _("Gamma-Gamma (spend of a repeat purchase day): p={p:.4f} q={q:.4f} v={v:.4f}", p=s.p, q=s.q, v=s.v))
    else:
        console.print("  " + _("Gamma-Gamma: too few repeat buyers with a spend; expected_spend_90d is empty"))
    days = (check.as_of - check.calibrated).days
    if check.forecast.problem:
        said = _("fit check:")
        console.print(f"[yellow]{said}[/yellow] {check.forecast.problem}")
        return
    title = _(
        "fit check: fitted up to {start}, purchase days predicted for the {days} days to {end}, against what customers did",
        start=said_date(check.calibrated),
        days=days,
        end=said_date(check.as_of),
    )
    table = Table(title=title, title_justify="left", show_edge=False)
    for name in (N_("repeat purchases before"), N_("customers"), N_("actual per customer"), N_("predicted per customer")):
        table.add_column(_(name), justify="right")
    for b in check.buckets:
        table.add_row(b.label, f"{b.customers:,}", f"{b.actual:.3f}", f"{b.predicted:.3f}")
    console.print(table)
    error = f" ({check.error:+.1%})" if check.error is not None else ""
    console.print("  " + _("in all: {actual:,} purchase days, {predicted:,.0f} predicted", actual=check.actual, predicted=check.predicted) + error)
