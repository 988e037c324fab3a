"""`huitou preview RULE --customer ID`: one customer's message from one rule, when it goes
out and what it says, or why not."""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import ExitCode
from ..i18n import _
from ..words import said as said_word
from ..workspace import DataOptions
from . import build, echo, horizon, opened, preload_plan, refuse
from .explain import NO_SUCH_CUSTOMER


def preview(opts: DataOptions, rule: str, customer: str, paths: list[Path], horizon_text: str) -> int:
    from ..db import scalar

    days = horizon(horizon_text)
    with opened("preview", paths) as ws:
        preload_plan(ws, opts)
        session = ws.load(opts)
        playbook, rule_id = _one_rule(rule, [f"{ctx.name}/{r['id']}" for ctx in ws.playbooks for r in ctx.rules])
        if scalar(session.con, session.features_of().where("customer_id = ?").select("count(*)", append=False), [customer]) == 0:
            raise refuse("preview", _(NO_SUCH_CUSTOMER, customer=customer), ExitCode.PROBLEMS)
        result = build("preview", session, ws.playbooks, days, customer=customer)
        rows = result.messages_of(playbook, rule_id)
    name = f"{playbook}/{rule_id}"
    if not rows:
        said = _(
            "{rule}: no message for {customer} in the {days} days from {start} - the customer is not in the rule's segment "
            "or its timing has no date in the window (see `huitou explain {customer}`)",
            rule=name,
            customer=customer,
            days=days,
            start=session.as_of,
        )
        echo(said)
        return ExitCode.OK
    for row in rows:
        said = _(
            "{rule} -> {customer} via {channel} ({to}), step {step}, scheduled {scheduled}, send at {send_at}: {status}",
            rule=name,
            customer=customer,
            channel=row.channel,
            to=row.to or _("no contact"),
            step=row.step,
            scheduled=row.scheduled_date,
            send_at=row.send_at,
            status=said_word(row.status),
        )
        echo(said)
        if row.reason:
            echo(f"  {said_word(row.reason)}: {row.reason_detail}")
        for key in ("subject", "body", "html"):
            if row.content and row.content.get(key):
                echo(f"  --- {key}")
                for line in str(row.content[key]).splitlines():
                    echo(f"  {line}")
    return ExitCode.OK


def _one_rule(rule: str, known: list[str]) -> tuple[str, str]:
    """The playbook and id of the rule named `rule` (an id, or playbook/id)."""
    from ..diagnostics import did_you_mean

    matches = [k for k in known if k == rule or k.split("/", 1)[1] == rule]
    if len(matches) != 1:
        hint = did_you_mean(rule, [k.split("/", 1)[1] for k in known] + known) or _("rules: {rules}", rules=", ".join(known))
        said = _("no rule '{rule}'", rule=rule) if not matches else _("more than one rule '{rule}'", rule=rule)
        raise refuse("preview", f"{said}; {hint}", ExitCode.PROBLEMS)
    playbook, rule_id = matches[0].split("/", 1)
    return playbook, rule_id
