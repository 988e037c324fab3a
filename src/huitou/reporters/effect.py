"""The effect part of `huitou report`: each rule's treated against its holdout, as JSON
and as text."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from ..i18n import N_, _, language, money
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
        "verdict_code": e.verdict_code,
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
    shown = [e for e in report.effects if e.holdout.customers or not e.unmeasurable]
    if shown:
        table = Table(title=_(EFFECT_TITLE), title_justify="left", show_edge=False)
        for i, name in enumerate(EFFECT_COLUMNS):
            table.add_column(_(name), justify="left" if i == 0 else "right")
        for e in shown:
            c, revenue = e.conversion, e.incremental_revenue
            name = f"{e.playbook}/{e.rule}" if e.rule else f"[bold]{e.playbook}[/bold] " + _("(all rules)")
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
                amount(revenue.estimate if revenue else None, e.messages.currency),
                amount(e.messages.spend, e.messages.currency),
                f"1:{e.return_ratio:,.1f}" if e.return_ratio is not None else "-",
            )
        console.print(table)
        for e in shown:
            still_open = still_open_words(e.open_window)
            console.print(f"  {e.playbook}/{e.rule or _('(all rules)')}: {e.verdict}{still_open}", markup=False)
    without = sorted({e.playbook for e in report.effects} - {e.playbook for e in shown})
    note = _("note:")
    if without:
        said = _(
            "no holdout in {names}: what their rules changed cannot be measured (set policies.holdout, e.g. 10%, in the playbook)",
            names=", ".join(without),
        )
        console.print(f"[yellow]{note}[/yellow] {said}")
    for text in report.notes:
        console.print(f"[yellow]{note}[/yellow] {text}")


def amount(value: float | None, currency: str | None) -> str:
    """Money in a table: `1,234.50` in English (the currency is the rule's, said once),
    `¥1,234.50` in Chinese and Japanese."""
    if value is None:
        return "-"
    return f"{value:,.2f}" if language() == "en" else money(value, currency)


def still_open_words(open_window: int) -> str:
    """` (12 customers' windows still open, left out)`, or nothing."""
    return _(" ({n:,} customers' windows still open, left out)", n=open_window) if open_window else ""


# The effect table's title and columns (the text report's and the HTML page's).
EFFECT_TITLE = N_("what each rule changed: treated against holdout (conversion within the attribution window)")
EFFECT_COLUMNS = (
    N_("playbook / rule"),
    N_("window"),
    N_("treated"),
    N_("conv."),
    N_("holdout"),
    N_("conv."),
    N_("uplift"),
    N_("95% interval"),
    N_("p"),
    N_("incr. revenue"),
    N_("spend"),
    N_("return"),
)
