"""HT502, HT503, HT505, HT506, HT507: timezones, quiet hours (and their presets), opt-out text, frequency caps."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator

from ..diagnostics import Diagnostic, did_you_mean
from ..i18n import _
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
        hint = did_you_mean(name, sorted(zoneinfo.available_timezones())) or _("use an IANA name such as Asia/Shanghai")
        yield ctx.at(("timezone",), "HT503", _("unknown timezone '{name}'", name=name), hint)


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
            _(
                "keep every hour of the {preset} preset quiet: start at {start} or earlier, end at {end} or later (or remove start and end)",
                preset=policy["preset"],
                start=PRESETS[policy["preset"]].start,
                end=PRESETS[policy["preset"]].end,
            ),
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
                    _(
                        "{rule} sends at {at}, inside quiet hours {window}: it will never send (outside: drop)",
                        rule=ctx.rule_label(i),
                        at=at,
                        window=window,
                    ),
                    _("move `at` to {end} or later", end=end),
                    severity="error",
                )
            else:
                yield ctx.at(
                    ("rules", i, "when", "at"),
                    "HT502",
                    _(
                        "{rule} sends at {at}, inside quiet hours {window}: every send is deferred to {end}",
                        rule=ctx.rule_label(i),
                        at=at,
                        window=window,
                        end=end,
                    ),
                    _("set `at` to {end} or later to say what happens", end=end),
                )


def _opt_out(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    channels = ctx.project.channels
    for i, rule in enumerate(ctx.rules):
        settings = channels.get(rule["channel"]) or {}
        if settings.get("kind") == "sms" and rule["intent"] == Intent.PROMOTION and not settings.get("opt_out"):
            yield ctx.at(
                ("rules", i, "channel"),
                "HT505",
                _("{rule} sends marketing SMS on '{channel}', which has no opt-out text", rule=ctx.rule_label(i), channel=rule["channel"]),
                _("set channels.{channel}.opt_out in huitou.yaml (e.g. 回T退订 or 拒收请回复R)", channel=rule["channel"]),
            )


def _caps(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    caps = (ctx.data.get("policies") or {}).get("frequency_caps")
    promos = [i for i, r in enumerate(ctx.rules) if r["intent"] == Intent.PROMOTION]
    if promos and not caps:
        path = ("policies",) if "policies" in ctx.data else ("rules", promos[0], "intent")
        yield ctx.at(
            path,
            "HT506",
            _("playbook '{name}' sends promotions but sets no frequency cap", name=ctx.name),
            _("add policies.frequency_caps, e.g. [{{max: 2, per: 7d}}]"),
            at_key=True,
        )
