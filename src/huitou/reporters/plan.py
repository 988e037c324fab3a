"""The dry run on a terminal: sends per rule and day, suppressions by reason, samples."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..i18n import _, said_date
from ..inert import shown
from ..plan.output import Summary
from ..words import counted, said


def plan_text(console: Console, summary: Summary) -> None:
    head = _("Plan {id}", id=summary.plan_id)
    rest = _("{days} days from {start} (dry run: nothing is sent)", days=summary.days, start=said_date(summary.start))
    console.print(f"[bold]{head}[/]" + _(": ") + rest)
    console.print("  " + counted(summary.status))
    if summary.by_rule:
        table = Table(title=_("Sends per rule (day: count)"), title_justify="left", show_edge=False)
        for name, right in ((_("rule"), False), (_("channel"), False), (_("sends"), True), (_("days"), False)):
            table.add_column(name, justify="right" if right else "left")
        rows: dict[tuple[str, str], dict[str, int]] = {}
        for playbook, rule, channel, day, n in summary.by_rule:
            rows.setdefault((f"{playbook}/{rule}", channel), {})[day] = n
        for (rule, channel), per_day in rows.items():
            table.add_row(rule, channel, f"{sum(per_day.values()):,}", ", ".join(f"{d[5:]}: {n:,}" for d, n in sorted(per_day.items())))
        console.print(table)
    if summary.reasons:
        table = Table(title=_("Not sent, by reason"), title_justify="left", show_edge=False)
        for name, right in ((_("reason"), False), (_("rule"), False), (_("candidates"), True)):
            table.add_column(name, justify="right" if right else "left")
        for reason, rule, n in summary.reasons:
            table.add_row(said(reason), rule, f"{n:,}")
        console.print(table)
    if summary.sizing:
        table = Table(
            title=_("Holdout sizing: the smallest uplift in conversion each rule's holdout can detect (80% power, 5% significance)"),
            title_justify="left",
            show_edge=False,
        )
        for name in (_("rule"), _("treated"), _("held out"), _("window"), _("baseline"), _("detectable uplift")):
            table.add_column(name, justify="left" if name == _("rule") else "right")
        for s in summary.sizing:
            if s.mde is not None and s.baseline is not None:
                mde = _("+{uplift:.1%} (to {rate:.1%})", uplift=s.mde, rate=s.baseline + s.mde)
            else:
                mde = _("- (a group too small)")
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
        head = _(
            "{customer} ({channel} {to}) at {send_at}",
            customer=sample["customer_id"],
            channel=sample["channel"],
            to=sample.get("to") or "",
            send_at=sample["send_at"],
        )
        console.print(f"\n[bold]{escape(sample['rule'])}[/] -> {escape(shown(head))}", markup=True, highlight=False)
        if sample.get("subject"):
            console.print("  " + _("Subject: {subject}", subject=shown(sample["subject"])), markup=False)
        for line in str(sample.get("body") or "").splitlines() or [""]:
            console.print(f"  {shown(line)}", markup=False)
