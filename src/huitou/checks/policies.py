"""HT502, HT503, HT505, HT506, HT507: timezones, quiet hours (and their presets), opt-out text, frequency caps."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator

from ..diagnostics import Diagnostic, did_you_mean
from ..quiet import PRESETS, QuietHoursError, hhmm, minutes, resolve, zone
from ..vocabulary import Intent
from .context import PlaybookContext


def run(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    yield from _timezone(ctx)
    yield from _quiet_hours(ctx)
    yield from _opt_out(ctx)
    yield from _caps(ctx)


def valid_timezone(name: str) -> bool:
    return zone(name) is not None


def _timezone(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    name = ctx.data.get("timezone")
    if isinstance(name, str) and not valid_timezone(name):
        hint = did_you_mean(name, sorted(zoneinfo.available_timezones())) or "use an IANA name such as Asia/Shanghai"
        yield ctx.at(("timezone",), "HT503", f"unknown timezone '{name}'", hint)


def _quiet_hours(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    policy = (ctx.data.get("policies") or {}).get("quiet_hours")
    if not policy:
        return
    try:
        quiet = resolve(policy)
    except QuietHoursError as exc:
        keys = [k for k in ("start", "end") if k in policy]
        yield ctx.at(
            ("policies", "quiet_hours", keys[0]),
            "HT507",
            str(exc),
            f"keep every hour of the {policy['preset']} preset quiet: start at {PRESETS[policy['preset']].start} or earlier, "
            f"end at {PRESETS[policy['preset']].end} or later (or remove start and end)",
        )
        return
    assert quiet is not None
    window, end = f"{hhmm(quiet.start)}-{hhmm(quiet.end)}", hhmm(quiet.end)
    for i, rule in enumerate(ctx.rules):
        at = rule["when"].get("at")
        if at and quiet.contains(minutes(at)):
            if quiet.outside == "drop":
                yield ctx.at(
                    ("rules", i, "when", "at"),
                    "HT502",
                    f"{ctx.rule_label(i)} sends at {at}, inside quiet hours {window}: it will never send (outside: drop)",
                    f"move `at` to {end} or later",
                    severity="error",
                )
            else:
                yield ctx.at(
                    ("rules", i, "when", "at"),
                    "HT502",
                    f"{ctx.rule_label(i)} sends at {at}, inside quiet hours {window}: every send is deferred to {end}",
                    f"set `at` to {end} or later to say what happens",
                )


def _opt_out(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    channels = ctx.project.channels
    for i, rule in enumerate(ctx.rules):
        settings = channels.get(rule["channel"]) or {}
        if settings.get("kind") == "sms" and rule["intent"] == Intent.PROMOTION and not settings.get("opt_out"):
            yield ctx.at(
                ("rules", i, "channel"),
                "HT505",
                f"{ctx.rule_label(i)} sends marketing SMS on '{rule['channel']}', which has no opt-out text",
                f"set channels.{rule['channel']}.opt_out in huitou.yaml (e.g. 回T退订 or 拒收请回复R)",
            )


def _caps(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    caps = (ctx.data.get("policies") or {}).get("frequency_caps")
    promos = [i for i, r in enumerate(ctx.rules) if r["intent"] == Intent.PROMOTION]
    if promos and not caps:
        path = ("policies",) if "policies" in ctx.data else ("rules", promos[0], "intent")
        yield ctx.at(
            path,
            "HT506",
            f"playbook '{ctx.name}' sends promotions but sets no frequency cap",
            "add policies.frequency_caps, e.g. [{max: 2, per: 7d}]",
            at_key=True,
        )
