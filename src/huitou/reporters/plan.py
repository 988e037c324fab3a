"""The dry run on a terminal: sends per rule and day, suppressions by reason, samples."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..inert import shown
from ..plan.output import Summary


def plan_text(console: Console, summary: Summary) -> None:
    console.print(f"[bold]Plan {summary.plan_id}[/]: {summary.days} days from {summary.start} (dry run: nothing is sent)")
    console.print("  " + (", ".join(f"{n:,} {s}" for s, n in summary.status.items()) or "no candidates"))
    if summary.by_rule:
        table = Table(title="Sends per rule (day: count)", title_justify="left", show_edge=False)
        for name in ("rule", "channel", "sends", "days"):
            table.add_column(name, justify="right" if name == "sends" else "left")
        rows: dict[tuple[str, str], dict[str, int]] = {}
        for playbook, rule, channel, day, n in summary.by_rule:
            rows.setdefault((f"{playbook}/{rule}", channel), {})[day] = n
        for (rule, channel), per_day in rows.items():
            table.add_row(rule, channel, f"{sum(per_day.values()):,}", ", ".join(f"{d[5:]}: {n:,}" for d, n in sorted(per_day.items())))
        console.print(table)
    if summary.reasons:
        table = Table(title="Not sent, by reason", title_justify="left", show_edge=False)
        for name in ("reason", "rule", "candidates"):
            table.add_column(name, justify="right" if name == "candidates" else "left")
        for reason, rule, n in summary.reasons:
            table.add_row(reason, rule, f"{n:,}")
        console.print(table)
    if summary.sizing:
        table = Table(
            title="Holdout sizing: the smallest uplift in conversion each rule's holdout can detect (80% power, 5% significance)",
            title_justify="left",
            show_edge=False,
        )
        for name in ("rule", "treated", "held out", "window", "baseline", "detectable uplift"):
            table.add_column(name, justify="left" if name == "rule" else "right")
        for s in summary.sizing:
            mde = f"+{s.mde:.1%} (to {s.baseline + s.mde:.1%})" if s.mde is not None and s.baseline is not None else "- (a group too small)"
            table.add_row(
                f"{s.playbook}/{s.rule}",
                f"{s.treated:,}",
                f"{s.holdout:,}",
                f"{s.window_days}d",
                f"{s.baseline:.1%}" if s.baseline is not None else "-",
                mde,
            )
        console.print(table)
    for sample in summary.samples:
        head = f"{sample['customer_id']} ({sample['channel']} {sample.get('to') or ''}) at {sample['send_at']}"
        console.print(f"\n[bold]{escape(sample['rule'])}[/] -> {escape(shown(head))}", markup=True, highlight=False)
        if sample.get("subject"):
            console.print(f"  Subject: {shown(sample['subject'])}", markup=False)
        for line in str(sample.get("body") or "").splitlines() or [""]:
            console.print(f"  {shown(line)}", markup=False)
