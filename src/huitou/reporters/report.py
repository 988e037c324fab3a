"""`huitou report` output: the repeat-purchase rates as text (rich tables), JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table

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


def report_text(console: Console, report: RepeatReport, effects: EffectReport | None = None) -> None:
    total = report.total
    console.print(f"[bold]Repeat purchase[/bold] {report.start} .. {report.end} (paid orders)")
    console.print(
        f"  by customer:    {_percent(total.by_customer)} ({total.by_customer.numerator:,} of {total.by_customer.denominator:,} buyers had bought before, or bought twice)"
    )
    console.print(
        f"  by transaction: {_percent(total.by_transaction)} ({total.by_transaction.numerator:,} of {total.by_transaction.denominator:,} purchases were a customer's second or later in the range)"
    )
    if report.median_cycle_days is not None:
        console.print(f"  median purchase cycle: {report.median_cycle_days:.0f} days")
    if report.periods:
        table = Table(title=f"per {report.every}", title_justify="left", show_edge=False)
        for name in ("period", "buyers", "returning", "by customer", "purchases", "repeat", "by transaction"):
            table.add_column(name, justify="left" if name == "period" else "right")
        for p in report.periods:
            c, t = p.by_customer, p.by_transaction
            table.add_row(p.period, f"{c.denominator:,}", f"{c.numerator:,}", _percent(c), f"{t.denominator:,}", f"{t.numerator:,}", _percent(t))
        console.print(table)
    stages = [(stage, p) for period, stage, p in report.stages if period == "all"]
    if stages:
        table = Table(title="buyers by lifecycle stage at the range's start", title_justify="left", show_edge=False)
        for name in ("stage", "buyers", "returning", "purchases", "repeat", "by transaction"):
            table.add_column(name, justify="left" if name == "stage" else "right")
        for stage, p in stages:
            c, t = p.by_customer, p.by_transaction
            table.add_row(stage, f"{c.denominator:,}", f"{c.numerator:,}", f"{t.denominator:,}", f"{t.numerator:,}", _percent(t))
        console.print(table)
    if report.cohorts:
        months = max(len(c.again) for c in report.cohorts)
        table = Table(title="first-purchase cohorts: share that bought again in month 1, 2, ...", title_justify="left", show_edge=False)
        months = min(months, TEXT_COHORT_MONTHS)  # the JSON has every month
        table.add_column("cohort", no_wrap=True)
        table.add_column("customers", justify="right", no_wrap=True)
        for k in range(1, months + 1):
            table.add_column(f"+{k}", justify="right", no_wrap=True)
        for cohort in report.cohorts:
            cells = [("-" if r.rate is None else f"{r.rate:.0%}") for r in cohort.again[:months]]
            table.add_row(cohort.month, f"{cohort.customers:,}", *cells, *[""] * (months - len(cells)))
        console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]note:[/yellow] {warning}")
    if effects is not None:
        effect_text(console, effects)
