"""What `huitou send` and `huitou ledger` print."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..delivery.run import OUTCOMES, ChannelReport, SendReport
from ..i18n import N_, _
from ..inert import shown
from ..templates import mask_contacts, mask_filter
from ..words import said
from .cells import left, right


def _when(epoch: float, timezone: str) -> str:
    """An instant in the project's timezone, with its offset."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone: dt.tzinfo = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return dt.datetime.fromtimestamp(epoch, zone).isoformat(timespec="seconds")


def send_dict(report: SendReport) -> dict[str, Any]:
    return {
        "plan_id": report.plan.plan_id,
        "plan": str(report.plan.path),
        "live": report.live,
        "until": _when(report.until, report.timezone),
        "not_due": report.not_due,
        "problems": report.problems,
        "notes": report.notes,
        **(
            {"samples": [_sample(r) for r in report.samples]}
            if not report.live
            else {
                "added_to_ledger": report.enqueued,
                "replanned": report.replanned,
                "withdrawn": report.withdrawn,
                "requeued": report.requeued,
                "opted_out": report.opted_out,
                "expired": report.expired,
                "held_out": report.held_out,
                "recovered": len(report.recovered),
                "interrupted": report.interrupted,
                "handed_over": report.handed_over,
            }
        ),
        "channels": [_channel_dict(c, report.live, report.timezone) for c in sorted(report.channels.values(), key=lambda c: c.channel)],
    }


def _sample(row: dict[str, Any]) -> dict[str, Any]:
    """A row that would go out, contact masked, text on one line and cut short."""
    content = json.loads(row["content"] or "{}")
    text = mask_contacts(" ".join(str(content.get("subject") or content.get("body") or "").split()))
    return {
        "send_at": row["send_at"],
        "channel": row["channel"],
        "to": mask_filter(row["recipient"]) if row["recipient"] else None,
        "rule": f"{row['playbook']}/{row['rule_id']}",
        "text": text if len(text) <= 60 else text[:59] + "…",
    }


def _channel_dict(channel: ChannelReport, live: bool, timezone: str) -> dict[str, Any]:
    """A live run's counts; a dry run's due rows by what would become of them."""
    if not live:
        later = _when(channel.next_at, timezone) if channel.next_at is not None else None
        return {"channel": channel.channel, "due": channel.due, "preview": dict(sorted(channel.preview.items())), "next_at": later}
    out = {k: v for k, v in vars(channel).items() if k not in ("preview", "outcome", "next_at")}
    return out | {"outcome": {o: channel.outcome[o] for o in OUTCOMES}}


def send_json(report: SendReport) -> str:
    return json.dumps(send_dict(report), ensure_ascii=False, indent=2)


def send_text(report: SendReport) -> str:
    plan = report.plan
    lines = [
        _(
            "plan {id}: {rows:,} rows, {sends:,} to send; due by {until}: {due:,} ({later:,} later)",
            id=plan.plan_id or _("(empty)"),
            rows=plan.rows,
            sends=plan.sends,
            until=_when(report.until, report.timezone),
            due=sum(c.due for c in report.channels.values()),
            later=report.not_due,
        )
    ]
    if not report.live:
        lines.append(_("dry run: nothing sent, the ledger untouched (--live delivers)"))
        for c in sorted(report.channels.values(), key=lambda c: c.channel):
            counts = _(", ").join(_("{n:,} {word}", n=n, word=_(what)) for what, n in sorted(c.preview.items()))
            lines.append(f"  {c.channel:<14} " + _("{due:>7,} due: {counts}", due=c.due, counts=counts))
            if c.next_at is not None:
                at = _when(c.next_at, report.timezone)
                lines.append("    " + _("the next that waits goes out at {at}: a live run delivers each row at its time", at=at))
        for row in report.samples:
            sample = _sample(row)
            lines.append("  " + _("e.g. {send_at} {channel} to {to} ({rule}): {text}", **sample))
        lines += [_("problem: {problem}", problem=p) for p in report.problems] + [_("note: {note}", note=n) for n in report.notes]
        return shown("\n".join(lines) + "\n")
    if report.recovered:
        lines.append(
            _(
                "{n:,} row(s) were in flight when an earlier run died: delivery unknown, sent again under the same "
                "idempotency key (Message-ID / Idempotency-Key header; outbox files are checked for the key)",
                n=len(report.recovered),
            )
        )
    for label, n in (
        (N_("added to the ledger"), report.enqueued),
        (N_("replanned (this plan is newer: new time or text)"), report.replanned),
        (N_("withdrawn (this plan no longer sends them)"), report.withdrawn),
        (N_("failed rows retried (--retry-failed)"), report.requeued),
        (N_("skipped: opted out"), report.opted_out),
        (N_("skipped: expired"), report.expired),
        (N_("held out (the control group, recorded for huitou report)"), report.held_out),
    ):
        if n:
            lines.append(_("{label}: {n:,}", label=_(label), n=n))
    for c in sorted(report.channels.values(), key=lambda c: c.channel):
        rate = _(" ({rate:,.1f}/s)", rate=c.sent / c.seconds) if c.seconds > 0 and c.sent else ""
        parts = [_("{n:,} {word}", n=c.outcome[o], word=_(o)) + (rate if o == "sent" else "") for o in OUTCOMES if c.outcome[o] or o == "sent"]
        parts += [
            _("{n:,} {word}", n=n, word=_(label))
            for label, n in (
                (N_("transient failures retried"), c.retried),
                (N_("resent after a crash"), c.resent_after_crash),
                (N_("held to the end of quiet hours"), c.deferred),
                (N_("dropped inside quiet hours"), c.dropped),
            )
            if n
        ]
        lines.append(f"  {c.channel:<14} " + _("{due:>7,} due: {counts}", due=c.due, counts=_(", ").join(parts)))
        lines += ["    " + _("failed {key}: {error}", key=key, error=error) for key, error in c.errors]
        if c.stopped:
            lines.append("    " + _("stopped: {reason}; its rows stay pending for the next run", reason=c.stopped))
    lines += [_("note: {note}", note=n) for n in report.notes]
    if report.interrupted:
        lines.append(_("interrupted: the message in hand was finished and recorded; run again to go on"))
    if report.handed_over:
        lines.append(
            _("handed over: another `huitou send` asked for the ledger; the messages in flight were finished and recorded, it delivers the rest")
        )
    return shown("\n".join(lines) + "\n")  # provider replies and customer text: nothing a terminal obeys


def ledger_text(counts: list[tuple[str, str, str, int]], failures: list[tuple[str, str, str, int, str]], path: str) -> str:
    if not counts:
        return _("{path}: empty (nothing sent yet)", path=path) + "\n"
    totals: dict[str, int] = {}
    for state, _channel, _day, n in counts:
        totals[state] = totals.get(state, 0) + n
    lines = [
        f"{path}: " + _(", ").join(_("{n:,} {word}", n=n, word=said(s)) for s, n in sorted(totals.items())),
        " ".join([left(_("state"), 9), left(_("channel"), 14), left(_("day"), 10), right(_("messages"), 9)]),
    ]
    lines += [f"{left(said(s), 9)} {c:<14} {d:<10} {n:>9,}" for s, c, d, n in counts]
    if failures:
        lines.append(_("failed:"))
        lines += [
            "  "
            + _(
                "{key} {customer} {channel} after {attempts} attempt(s): {error}",
                key=key,
                customer=customer,
                channel=channel,
                attempts=attempts,
                error=error,
            )
            for key, customer, channel, attempts, error in failures
        ]
    return shown("\n".join(lines) + "\n")


def ledger_json(counts: list[tuple[str, str, str, int]], failures: list[tuple[str, str, str, int, str]], path: str) -> str:
    return json.dumps(
        {
            "ledger": path,
            "counts": [{"state": s, "channel": c, "day": d, "messages": n} for s, c, d, n in counts],
            "failed": [{"idempotency_key": k, "customer_id": cu, "channel": ch, "attempts": a, "error": e} for k, cu, ch, a, e in failures],
        },
        ensure_ascii=False,
        indent=2,
    )
