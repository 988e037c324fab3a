"""`huitou report` output: the repeat-purchase rates as text (rich tables), JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from ..i18n import N_, _, said_date
from ..report.effect import EffectReport
from ..report.repeat import PeriodRates, Rate, RepeatReport
from .effect import effect_text, effects_dict


def _rates(p: PeriodRates) -> dict[str, Any]:
    return {"by_customer": p.by_customer.as_dict(), "by_transaction": p.by_transaction.as_dict()}


def report_dict(report: RepeatReport, effects: EffectReport | None = None) -> dict[str, Any]:
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "every": report.every,
        "repeat_purchase": {
            **_rates(report.total),
            "periods": [{"period": p.period, "from": p.start.isoformat(), "to": p.end.isoformat(), **_rates(p)} for p in report.periods],
            "stages": [{"period": period, "stage": stage, **_rates(p)} for period, stage, p in report.stages],
            "cohorts": [
                {"cohort": c.month, "customers": c.customers, "again": [{"month": k, **r.as_dict()} for k, r in enumerate(c.again, 1)]}
                for c in report.cohorts
            ],
            "median_purchase_cycle_days": report.median_cycle_days,
        },
        "warnings": report.warnings,
        **(effects_dict(effects) if effects is not None else {}),
    }


def report_json(report: RepeatReport, effects: EffectReport | None = None) -> str:
    return json.dumps(report_dict(report, effects), ensure_ascii=False, indent=2) + "\n"


TEXT_COHORT_MONTHS = 12
CSV_COLUMNS = (
    "period",
    "from",
    "to",
    "buyers",
    "returning_buyers",
    "by_customer_rate",
    "purchases",
    "repeat_purchases",
    "by_transaction_rate",
)


def report_csv(report: RepeatReport) -> str:
    """One row for the whole range, then one per period."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in [report.total, *report.periods]:
        c, t = p.by_customer, p.by_transaction
        writer.writerow([p.period, p.start, p.end, c.denominator, c.numerator, _number(c), t.denominator, t.numerator, _number(t)])
    return out.getvalue()


def _number(rate: Rate) -> str:
    return "" if rate.rate is None else f"{rate.rate:.6f}"


def _percent(rate: Rate) -> str:
    return "-" if rate.rate is None else f"{rate.rate:.1%}"


PER = {"month": N_("per month"), "week": N_("per week"), "quarter": N_("per quarter")}


def report_text(console: Console, report: RepeatReport, effects: EffectReport | None = None) -> None:
    total = report.total
    head = _("Repeat purchase")
    console.print(f"[bold]{head}[/bold] " + _("{start} .. {end} (paid orders)", start=said_date(report.start), end=said_date(report.end)))
    c, t = total.by_customer, total.by_transaction
    console.print(
        "  "
        + _("by customer:    {rate} ({n:,} of {of:,} buyers had bought before, or bought twice)", rate=_percent(c), n=c.numerator, of=c.denominator)
    )
    console.print(
        "  "
        + _(
            "by transaction: {rate} ({n:,} of {of:,} purchases were a customer's second or later in the range)",
            rate=_percent(t),
            n=t.numerator,
            of=t.denominator,
        )
    )
    if report.median_cycle_days is not None:
        console.print("  " + _("median purchase cycle: {days:.0f} days", days=report.median_cycle_days))
    if report.periods:
        table = Table(title=_(PER[report.every]) if report.every in PER else f"per {report.every}", title_justify="left", show_edge=False)
        for i, name in enumerate(
            (N_("period"), N_("buyers"), N_("returning"), N_("by customer"), N_("purchases"), N_("repeat"), N_("by transaction"))
        ):
            table.add_column(_(name), justify="left" if i == 0 else "right")
        for p in report.periods:
            c, t = p.by_customer, p.by_transaction
            table.add_row(p.period, f"{c.denominator:,}", f"{c.numerator:,}", _percent(c), f"{t.denominator:,}", f"{t.numerator:,}", _percent(t))
        console.print(table)
    stages = [(stage, p) for period, stage, p in report.stages if period == "all"]
    if stages:
        table = Table(title=_("buyers by lifecycle stage at the range's start"), title_justify="left", show_edge=False)
        for i, name in enumerate((N_("stage"), N_("buyers"), N_("returning"), N_("purchases"), N_("repeat"), N_("by transaction"))):
            table.add_column(_(name), justify="left" if i == 0 else "right")
        for stage, p in stages:
            c, t = p.by_customer, p.by_transaction
            table.add_row(stage, f"{c.denominator:,}", f"{c.numerator:,}", f"{t.denominator:,}", f"{t.numerator:,}", _percent(t))
        console.print(table)
    if report.cohorts:
        months = max(len(c.again) for c in report.cohorts)
        table = Table(title=_("first-purchase cohorts: share that bought again in month 1, 2, ..."), title_justify="left", show_edge=False)
        months = min(months, TEXT_COHORT_MONTHS)  # the JSON has every month
        table.add_column(_("cohort"), no_wrap=True)
        table.add_column(_("customers"), justify="right", no_wrap=True)
        for k in range(1, months + 1):
            table.add_column(f"+{k}", justify="right", no_wrap=True)
        for cohort in report.cohorts:
            cells = [("-" if r.rate is None else f"{r.rate:.0%}") for r in cohort.again[:months]]
            table.add_row(cohort.month, f"{cohort.customers:,}", *cells, *[""] * (months - len(cells)))
        console.print(table)
    note = _("note:")
    for warning in report.warnings:
        console.print(f"[yellow]{note}[/yellow] {warning}")
    if effects is not None:
        effect_text(console, effects)
