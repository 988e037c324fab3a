"""What the planner needs to know about each rule, gathered once from the playbooks."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from ..calendar import shop_founded
from ..checks.context import PlaybookContext
from ..data.consent import CONSENT_BY_KIND
from ..features import declared_date_fields
from ..quiet import QuietHours, QuietHoursError, resolve
from ..vocabulary import Intent
from .timing import TimeOfDay, time_of_day

INTENT_ORDER = {intent: rank for rank, intent in enumerate(Intent)}  # care before promotion on a tie
CONTACT_BY_KIND = {"sms": "phone", "phone": "phone", "email": "email", "wechat": "wechat_id", "im": "wechat_id", "parcel_insert": None}
_WINDOW = re.compile(r"^(\d+)([hdw])$")


def window_days(text: str) -> int:
    """A cap or care-first window in whole calendar days: 24h -> 1, 7d -> 7, 2w -> 14.

    >>> window_days("24h"), window_days("30d"), window_days("2w")
    (1, 30, 14)
    """
    match = _WINDOW.match(str(text).strip())
    if not match:
        raise ValueError(f"not a window: {text!r}")
    n, unit = int(match.group(1)), match.group(2)
    return max(1, -(-n // 24)) if unit == "h" else n * (7 if unit == "w" else 1)


@dataclass(frozen=True)
class Cap:
    playbook: str
    max: int
    days: int
    channel: str | None
    intent: str | None

    def describe(self) -> str:
        scope = " ".join(x for x in (self.channel, self.intent) if x)
        return f"{self.max} {scope + ' ' if scope else ''}per {self.days}d ({self.playbook})"


@dataclass
class PlannedRule:
    index: int
    ctx: PlaybookContext
    rule: dict[str, Any]
    time: TimeOfDay
    channel_settings: dict[str, Any]

    @property
    def playbook(self) -> str:
        return self.ctx.name

    @property
    def id(self) -> str:
        return str(self.rule["id"])

    @property
    def intent(self) -> Intent:
        return Intent(self.rule["intent"])  # the schema allows these words only

    @property
    def channel(self) -> str:
        return str(self.rule["channel"])

    @property
    def kind(self) -> str:
        return str(self.channel_settings.get("kind") or self.channel)

    @property
    def priority(self) -> int:
        return int(self.rule.get("priority", 0))

    @property
    def basis(self) -> str:
        return str(self.rule.get("lawful_basis", "consent"))

    @property
    def quiet_text(self) -> str | None:
        """The playbook's quiet window as plan rows carry it ('21:00-08:00 defer')."""
        quiet = quiet_hours(self.ctx)
        return quiet.text if quiet else None

    @property
    def timezone(self) -> str:
        return str(self.ctx.data.get("timezone", "Asia/Shanghai"))

    @property
    def contact_column(self) -> str | None:
        return self.channel_settings.get("contact", CONTACT_BY_KIND.get(self.kind))

    @property
    def consent_column(self) -> str | None:
        return self.channel_settings.get("consent", CONSENT_BY_KIND.get(self.kind))

    @property
    def locale(self) -> str:
        return self.ctx.locale

    @property
    def consent_basis(self) -> str:
        """What allows the message, as the plan row says it."""
        if not self.consent_column:
            return "not_required"
        return {"consent": f"consent:{self.consent_column}", "soft_opt_in": "soft_opt_in"}.get(self.basis, "contract")

    @property
    def date_fields(self) -> frozenset[str]:
        """The project's declared customer date fields: anchors of their own."""
        return declared_date_fields(self.ctx.project.catalog)

    @property
    def shop_founded(self) -> dt.date | None:
        return shop_founded(self.ctx.project.config)

    @property
    def holdout(self) -> tuple[float, str]:
        """(share in percent, salt); the salt defaults to the playbook's name."""
        value = (self.ctx.data.get("policies") or {}).get("holdout")
        if value is None:
            return 0.0, self.playbook
        if isinstance(value, dict):
            return float(str(value["share"]).rstrip("%")), str(value.get("salt", self.playbook))
        return float(str(value).rstrip("%")), self.playbook


def policies(ctx: PlaybookContext) -> dict[str, Any]:
    return dict(ctx.data.get("policies") or {})


def quiet_hours(ctx: PlaybookContext) -> QuietHours | None:
    """The playbook's quiet window (a preset resolved); None when it has none, or when it
    widens its preset (validate's HT507 stops such a playbook; the preset holds)."""
    policy = policies(ctx).get("quiet_hours")
    try:
        return resolve(policy)
    except QuietHoursError:  # never wider than the preset (a policy that fails is a mapping with one)
        assert isinstance(policy, dict)
        return resolve({"preset": policy["preset"], "outside": policy.get("outside", "defer")})


def caps_of(ctx: PlaybookContext) -> list[Cap]:
    return [Cap(ctx.name, int(c["max"]), window_days(c["per"]), c.get("channel"), c.get("intent")) for c in policies(ctx).get("frequency_caps") or []]


def care_within(ctx: PlaybookContext) -> int | None:
    care = policies(ctx).get("care_first")
    return window_days(care["within"]) if care else None


def planned_rules(playbooks: list[PlaybookContext]) -> list[PlannedRule]:
    out: list[PlannedRule] = []
    for ctx in playbooks:
        quiet = quiet_hours(ctx)
        channels = ctx.project.channels
        for rule in ctx.rules:
            settings = channels.get(str(rule["channel"]), {"kind": rule["channel"]})
            out.append(PlannedRule(len(out), ctx, rule, time_of_day(rule["when"], quiet), settings))
    return out
