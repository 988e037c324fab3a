"""The effect part of `huitou report`: each rule's treated against its holdout, as JSON
and as text."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from ..report.effect import Effect, EffectReport, Measure


def _measure(m: Measure | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "unadjusted": m.unadjusted.as_dict() if m.unadjusted else None,
        "cuped": m.cuped.as_dict() if m.cuped else None,
        "theta": m.theta,
    }


def effect_dict(e: Effect) -> dict[str, Any]:
    c = e.conversion
    revenue, purchases = e.incremental_revenue, e.incremental_purchases
    return {
        "playbook": e.playbook,
        "rule": e.rule,
        "attribution_window_days": e.window_days,
        "messages": {"planned": e.messages.planned, "sent": e.messages.sent, "failed": e.messages.failed, "segments": e.messages.segments},
        "treated": e.treated.as_dict(),
        "holdout": e.holdout.as_dict(),
        "open_window": e.open_window,
        "uplift": {
            "absolute": c.estimate if c else None,
            "relative": e.relative,
            "ci_low": c.ci_low if c else None,
            "ci_high": c.ci_high if c else None,
            "p_value": c.p_value if c else None,
        },
        "purchases_per_customer": _measure(e.purchases),
        "revenue_per_customer": _measure(e.revenue),
        "incremental_purchases": purchases.as_dict() if purchases else None,
        "incremental_revenue": revenue.as_dict() if revenue else None,
        "cost": {
            "currency": e.messages.currency,
            "spend": e.messages.spend,
            "incremental_revenue": revenue.estimate if revenue else None,
            "return_ratio": e.return_ratio,
        }
        if e.messages.spend is not None
        else None,
        "verdict": e.verdict,
        "evidence": e.evidence,
    }


def effects_dict(report: EffectReport) -> dict[str, Any]:
    return {
        "ledger": report.ledger,
        "rules": [effect_dict(e) for e in report.effects if e.rule is not None],
        "playbooks": [effect_dict(e) for e in report.effects if e.rule is None],
        "effect_notes": report.notes,
    }


def _pct(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else (f"{value:+.1%}" if signed else f"{value:.1%}")


def effect_text(console: Console, report: EffectReport) -> None:
    """A table of the rules with a holdout, a sentence each; the playbooks without one in a
    line."""
    shown = [e for e in report.effects if e.holdout.customers or not e.verdict.startswith("no holdout: the playbook sets none")]
    if shown:
        table = Table(
            title="what each rule changed: treated against holdout (conversion within the attribution window)",
            title_justify="left",
            show_edge=False,
        )
        for name in (
            "playbook / rule",
            "window",
            "treated",
            "conv.",
            "holdout",
            "conv.",
            "uplift",
            "95% interval",
            "p",
            "incr. revenue",
            "spend",
            "return",
        ):
            table.add_column(name, justify="left" if name == "playbook / rule" else "right")
        for e in shown:
            c, revenue = e.conversion, e.incremental_revenue
            name = f"{e.playbook}/{e.rule}" if e.rule else f"[bold]{e.playbook}[/bold] (all rules)"
            table.add_row(
                name,
                f"{e.window_days}d",
                f"{e.treated.customers:,}",
                _pct(e.treated.rate),
                f"{e.holdout.customers:,}",
                _pct(e.holdout.rate),
                _pct(c.estimate, True) if c else "-",
                f"{c.ci_low:+.1%} .. {c.ci_high:+.1%}" if c else "-",
                f"{c.p_value:.3f}" if c else "-",
                f"{revenue.estimate:,.2f}" if revenue else "-",
                f"{e.messages.spend:,.2f}" if e.messages.spend is not None else "-",
                f"1:{e.return_ratio:,.1f}" if e.return_ratio is not None else "-",
            )
        console.print(table)
        for e in shown:
            still_open = f" ({e.open_window:,} customers' windows still open, left out)" if e.open_window else ""
            console.print(f"  {e.playbook}/{e.rule or '(all rules)'}: {e.verdict}{still_open}", markup=False)
    without = sorted({e.playbook for e in report.effects} - {e.playbook for e in shown})
    if without:
        console.print(
            f"[yellow]note:[/yellow] no holdout in {', '.join(without)}: what their rules changed cannot be measured "
            "(set policies.holdout, e.g. 10%, in the playbook)"
        )
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
