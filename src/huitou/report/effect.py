"""What each rule changed: its treated customers against its holdout, from the ledger.

The groups. For each rule, and for each playbook as a whole (the holdout is drawn per
playbook), over the messages scheduled in the range (by the customer's local date):

- treated: customers with a message handed to delivery (sent, or attempted and failed:
  the comparison is by intention to treat, so a bounced message still counts);
- holdout: customers with a holdout row recorded by a live send (ledger.hold: recorded
  when its message would have gone out, and left out as that message would have been:
  an opt-out, an expiry). A customer in both (the share changed) counts as treated.

The outcome of a customer is what they bought (paid orders) in the attribution window
after their first scheduled time in the range: at least one purchase (conversion), the
purchases, the revenue. The covariate for CUPED is the same measure in the PRE_DAYS
before that time. Customers whose window has not closed by the as-of date are left out
and counted (`open_window`). The statistics are in stats.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlglot import exp

from ..db import date_literal, first_row, register_columns, tree
from ..delivery import ledger
from ..i18n import N_, _, said_date
from ..plan.rules import window_days
from ..relation import Relation
from .stats import MIN_PER_ARM, Difference, cuped, mean_difference, proportion_difference

DEFAULT_WINDOW = "14d"
PRE_DAYS = 90  # the covariate's period before the scheduled time


@dataclass(frozen=True)
class Arm:
    customers: int
    converted: int
    purchases: int
    revenue: float

    @property
    def rate(self) -> float | None:
        return self.converted / self.customers if self.customers else None

    def as_dict(self) -> dict[str, Any]:
        per = (lambda v: v / self.customers) if self.customers else (lambda v: None)
        return {
            "customers": self.customers,
            "converted": self.converted,
            "rate": self.rate,
            "purchases": self.purchases,
            "purchases_per_customer": per(self.purchases),
            "revenue": round(self.revenue, 2),
            "revenue_per_customer": per(self.revenue),
        }


@dataclass
class Measure:
    """A mean per customer (purchases or revenue): the difference unadjusted and CUPED."""

    unadjusted: Difference | None
    cuped: Difference | None
    theta: float = 0.0

    @property
    def best(self) -> Difference | None:
        return self.cuped or self.unadjusted


@dataclass
class Messages:
    planned: int = 0  # handed to the ledger for the range
    sent: int = 0
    failed: int = 0
    segments: int = 0  # SMS segments of the sent messages
    spend: float | None = None  # None: no channel of these messages declares a cost
    currency: str | None = None


@dataclass
class Effect:
    playbook: str
    rule: str | None  # None: the playbook as a whole
    window_days: int
    treated: Arm
    holdout: Arm
    messages: Messages
    conversion: Difference | None = None
    purchases: Measure | None = None
    revenue: Measure | None = None
    open_window: int = 0
    verdict: str = ""  # one sentence, in the chosen language
    verdict_code: str = ""  # what it says, for machines: VERDICTS' keys

    @property
    def relative(self) -> float | None:
        if self.conversion is None or not self.holdout.rate:
            return None
        return self.conversion.estimate / self.holdout.rate

    @property
    def incremental_revenue(self) -> Difference | None:
        return self.revenue.best.scaled(self.treated.customers) if self.revenue and self.revenue.best else None

    @property
    def incremental_purchases(self) -> Difference | None:
        return self.purchases.best.scaled(self.treated.customers) if self.purchases and self.purchases.best else None

    @property
    def return_ratio(self) -> float | None:
        """Incremental revenue per unit spent (the articles' 1:80)."""
        gain = self.incremental_revenue
        return gain.estimate / self.messages.spend if gain and self.messages.spend else None

    @property
    def evidence(self) -> bool:
        return self.verdict_code in ("raised", "lowered")

    @property
    def unmeasurable(self) -> bool:
        """The playbook sets no holdout: nothing of it can be measured, ever."""
        return self.verdict_code == "no_holdout_policy"


@dataclass
class EffectReport:
    ledger: str | None
    effects: list[Effect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def windows(playbooks: list[Any]) -> dict[tuple[str, str | None], int]:
    """(playbook, rule or None) -> attribution window in days, from the playbooks' text."""
    out: dict[tuple[str, str | None], int] = {}
    for playbook in playbooks:
        data = playbook.data
        default = (data.get("policies") or {}).get("attribution_window", DEFAULT_WINDOW)
        out[(str(data.get("name")), None)] = window_days(default)
        for rule in data.get("rules") or []:
            out[(str(data.get("name")), str(rule.get("id")))] = window_days(rule.get("attribution_window", default))
    return out


def holdout_policies(playbooks: list[Any]) -> dict[str, bool]:
    return {str(p.data.get("name")): bool((p.data.get("policies") or {}).get("holdout")) for p in playbooks}


_COLUMNS = ("arm", "playbook", "rule_id", "customer_id", "t_utc")


def read_ledger(path: Path, start: dt.date, end: dt.date) -> tuple[dict[str, np.ndarray], list[tuple]] | str:
    """The two groups' rows of the range as columns (arm, playbook, rule_id, customer_id,
    t_utc), and the message counts per rule and channel; a sentence when there is no
    ledger to read."""
    if not path.exists():
        return _(
            "this project has not sent anything yet (no ledger at {path}): what each rule changed is measured from the messages "
            "`huitou send --live` records, against the holdout it records beside them",
            path=path,
        )
    groups = ledger.arms(path, start, end)
    if groups is None:
        return _(
            "the ledger {path} was written before huitou recorded holdouts: no rule has a control group on record; the next live send records them",
            path=path,
        )
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _COLUMNS}
    counts = []
    for group in groups:
        if group.arm == "t":
            counts.append((group.playbook, group.rule_id, group.channel, group.planned, group.sent, group.failed, group.segments))
        if not group.customers:
            continue
        parts["customer_id"].append(np.array(group.customers, dtype=object))
        parts["t_utc"].append(np.array(group.times, dtype=float))
        for name, value in (("arm", group.arm), ("playbook", group.playbook), ("rule_id", group.rule_id)):
            parts[name].append(np.full(len(group.customers), value, dtype=object))
    columns = {name: np.concatenate(values) if values else np.array([], dtype=float if name == "t_utc" else object) for name, values in parts.items()}
    return columns, counts


# (Sorted by customer too: the sums over customers then add in one order, the same in
# every run; amounts are summed as DECIMAL, exactly.) One row per customer per rule and
# per customer per playbook (rule_id ''), its rule by number (grp, the windows relation's): the group, the
# first scheduled time in the range, and what the customer bought after it and before it.
_UNITS = """
    WITH units AS (
        SELECT playbook, coalesce(rule_id, '') AS rule_id, customer_id,
               bool_or(arm = 't') AS treated,
               bool_or(arm = 'h') AS held,
               coalesce(min(t_utc) FILTER (WHERE arm = 't'), min(t_utc) FILTER (WHERE arm = 'h')) AS t0
        FROM ledger_rows GROUP BY GROUPING SETS ((playbook, rule_id, customer_id), (playbook, customer_id))),
    timed AS (
        SELECT u.customer_id, u.treated, w.grp, w.days, timezone(:tz, to_timestamp(u.t0)) AS start_local
        FROM units u JOIN :windows ON w.playbook = u.playbook AND w.rule_id = u.rule_id
        WHERE u.treated OR u.held)
    SELECT t.grp, t.treated, t.start_local + to_days(CAST(t.days AS INTEGER)) <= :closes AS closed,
           count(o.customer_id) FILTER (WHERE o.ordered_at > t.start_local) AS purchases,
           CAST(coalesce(sum(o.amount) FILTER (WHERE o.ordered_at > t.start_local), 0) AS DOUBLE) AS revenue,
           count(o.customer_id) FILTER (WHERE o.ordered_at <= t.start_local) AS pre_purchases,
           CAST(coalesce(sum(o.amount) FILTER (WHERE o.ordered_at <= t.start_local), 0) AS DOUBLE) AS pre_revenue
    FROM timed t
    LEFT JOIN (SELECT customer_id, ordered_at, amount FROM :orders WHERE status = 'paid' AND ordered_at BETWEEN :earliest AND :closes) o
      ON o.customer_id = t.customer_id
     AND o.ordered_at > t.start_local - to_days(:pre) AND o.ordered_at <= t.start_local + to_days(CAST(t.days AS INTEGER))
    GROUP BY t.grp, t.customer_id, t.treated, t.start_local, t.days
    ORDER BY t.grp, t.customer_id"""


# Buyers of the range who are in no group: (not in the ledger rows, all buyers).
_OUTSIDE = """
    SELECT count(*) FILTER (WHERE l.customer_id IS NULL), count(*)
    FROM (SELECT DISTINCT customer_id FROM :orders WHERE status = 'paid' AND local_date BETWEEN :start AND :end) b
    LEFT JOIN (SELECT DISTINCT customer_id FROM ledger_rows) l USING (customer_id)"""


def _windows_relation(
    known: dict[tuple[str, str | None], int], present: set[tuple[str, str | None]]
) -> tuple[exp.Expr, list[tuple[str, str | None]]]:
    """(grp, playbook, rule_id, days) for every rule and playbook in the ledger rows - the
    playbook's text, else the playbook's window, else the default - and the (playbook,
    rule) of each grp, in order."""
    groups = sorted(present, key=lambda k: (k[0], k[1] or ""))
    rows = []
    for grp, (playbook, rule) in enumerate(groups):
        days = known.get((playbook, rule), known.get((playbook, None), window_days(DEFAULT_WINDOW)))
        rows.append((exp.Literal.number(grp), exp.Literal.string(playbook), exp.Literal.string(rule or ""), exp.Literal.number(days)))
    return exp.values(rows, alias="w", columns=["grp", "playbook", "rule_id", "days"]), groups


def effect_report(
    orders: Relation,
    ledger_path: Path,
    start: dt.date,
    end: dt.date,
    as_of: dt.date,
    timezone: str,
    playbooks: list[Any],
    channels: dict[str, Any],
    read: tuple[dict[str, np.ndarray], list[tuple]] | str | None = None,
) -> EffectReport:
    """Per rule and per playbook: the treated against the holdout, for the messages
    scheduled between start and end (inclusive), outcomes counted up to as_of. `read`:
    read_ledger's result for the same path and range, when the caller read it already
    (the CLI reads it while the data loads). `orders`: the loaded orders."""
    con = orders.con
    report = EffectReport(str(ledger_path))
    read = read_ledger(ledger_path, start, end) if read is None else read
    if isinstance(read, str):
        report.ledger = None if not ledger_path.exists() else report.ledger
        report.notes.append(read)
        return report
    rows, counts = read
    if not len(rows["arm"]):
        report.notes.append(
            _(
                "no message of any rule was scheduled between {start} and {end} in the ledger: there is no effect to measure",
                start=said_date(start),
                end=said_date(end),
            )
        )
        return report
    known = windows(playbooks)
    register_columns(con, "ledger_rows", rows)
    try:
        rules = con.execute("SELECT DISTINCT playbook, rule_id FROM ledger_rows").fetchall()
        present = {(p, r) for p, r in rules} | {(p, None) for p, _ in rules}
        closes = exp.cast(exp.Literal.string(f"{as_of + dt.timedelta(days=1)} 00:00:00"), "TIMESTAMP")
        # No order before the first covariate period counts: the join reads only the span it needs.
        earliest = exp.cast(exp.Literal.string(f"{start - dt.timedelta(days=PRE_DAYS + 2)} 00:00:00"), "TIMESTAMP")
        windows_relation, groups = _windows_relation(known, present)
        sql = tree(
            _UNITS,
            tz=exp.Literal.string(timezone),
            windows=windows_relation,
            closes=closes,
            earliest=earliest,
            pre=exp.Literal.number(PRE_DAYS),
            orders=orders.table,
        ).sql("duckdb")
        units = con.execute(sql).fetchnumpy()
        outside = first_row(con, tree(_OUTSIDE, orders=orders.table, start=date_literal(start), end=date_literal(end)).sql("duckdb"))
    finally:
        con.unregister("ledger_rows")
    messages = _messages(counts, channels)
    policies = holdout_policies(playbooks)
    grp = np.asarray(units["grp"])
    # The units come sorted by rule: each rule's rows are one slice.
    bounds = [0, *(np.flatnonzero(np.diff(grp)) + 1).tolist(), len(grp)]
    for lo, hi in zip(bounds, bounds[1:]):
        if lo == hi:
            continue
        playbook, rule = groups[int(grp[lo])]
        part = {name: values[lo:hi] for name, values in units.items()}
        effect = _effect(
            str(playbook),
            rule,
            known.get((str(playbook), rule), window_days(DEFAULT_WINDOW)),
            part,
            messages.get((str(playbook), rule), Messages()),
        )
        effect.verdict_code, effect.verdict = _verdict(effect, policies.get(str(playbook)))
        report.effects.append(effect)
    if outside and outside[0]:
        report.notes.append(
            _(
                "{outside:,} of the {buyers:,} customers who bought between {start} and {end} were in no rule's treated or "
                "holdout group of the range: they count in the repeat-purchase rates, in no rule's effect",
                outside=outside[0],
                buyers=outside[1],
                start=said_date(start),
                end=said_date(end),
            )
        )
    gone = sorted({p for p, _ in present} - set(policies))
    if gone:
        report.notes.append(
            _(
                "playbook(s) {names} sent in the range but are no longer in the project: measured with the default {window} attribution window",
                names=", ".join(gone),
                window=DEFAULT_WINDOW,
            )
        )
    return report


def _mask(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=bool)


def _effect(playbook: str, rule: str | None, days: int, part: dict[str, np.ndarray], messages: Messages) -> Effect:
    closed = _mask(part["closed"])
    treated = _mask(part["treated"])[closed]
    purchases = np.asarray(part["purchases"], dtype=float)[closed]
    revenue = np.asarray(part["revenue"], dtype=float)[closed]
    pre_purchases = np.asarray(part["pre_purchases"], dtype=float)[closed]
    pre_revenue = np.asarray(part["pre_revenue"], dtype=float)[closed]
    converted = purchases > 0

    def arm(mask: np.ndarray) -> Arm:
        return Arm(int(mask.sum()), int(converted[mask].sum()), int(purchases[mask].sum()), float(revenue[mask].sum()))

    held = ~treated
    effect = Effect(playbook, rule, days, arm(treated), arm(held), messages, open_window=int((~closed).sum()))
    effect.conversion = proportion_difference(effect.treated.converted, effect.treated.customers, effect.holdout.converted, effect.holdout.customers)
    effect.purchases = _measure(purchases, pre_purchases, treated)
    effect.revenue = _measure(revenue, pre_revenue, treated)
    return effect


def _measure(y: np.ndarray, x: np.ndarray, treated: np.ndarray) -> Measure:
    held = ~treated
    y_t, y_h, theta = cuped(y[treated], x[treated], y[held], x[held])
    return Measure(mean_difference(y[treated], y[held]), mean_difference(y_t, y_h), theta)


def _messages(counts: list[tuple], channels: dict[str, Any]) -> dict[tuple[str, str | None], Messages]:
    """Message counts and spend per rule and per playbook, from the ledger's counts per
    rule and channel."""
    out: dict[tuple[str, str | None], Messages] = {}
    for playbook, rule, channel, planned, sent, failed, segments in counts:
        cost = (channels.get(channel) or {}).get("cost") or {}
        spend = float(cost.get("per_message", 0)) * sent + float(cost.get("per_segment", 0)) * segments if cost else None
        for key in ((playbook, rule), (playbook, None)):
            m = out.setdefault(key, Messages())
            m.planned, m.sent, m.failed, m.segments = m.planned + planned, m.sent + sent, m.failed + failed, m.segments + int(segments)
            if spend is not None:
                m.spend = (m.spend or 0.0) + spend
                m.currency = m.currency or cost.get("currency")
    return out


# What a comparison can say: a stable code (JSON's verdict_code) and its sentence.
VERDICTS = {
    "no_holdout_policy": N_(
        "no holdout: the playbook sets none (policies.holdout), so there is nothing to compare with; its effect cannot be measured"
    ),
    "no_holdout_yet": N_("no holdout customer on record in the range: there is nothing to compare with yet"),
    "no_treated": N_("no treated customer whose attribution window has closed: there is nothing to compare yet"),
    "too_few": N_(
        "too few customers to tell ({treated:,} treated, {held:,} held out; at least {least} in each group are needed): no evidence of an effect yet"
    ),
    "no_evidence": N_("no evidence of an effect yet: the 95% interval of the uplift in conversion spans zero"),
    "raised": N_("raised conversion"),
    "lowered": N_("lowered conversion"),
}


def _verdict(effect: Effect, has_holdout_policy: bool | None) -> tuple[str, str]:
    """What the comparison says, as a code and a sentence; never a win the numbers do not carry."""
    t, h = effect.treated.customers, effect.holdout.customers
    code = "raised"
    c = effect.conversion
    if h == 0:
        code = "no_holdout_policy" if has_holdout_policy is False else "no_holdout_yet"
    elif t == 0:
        code = "no_treated"
    elif min(t, h) < MIN_PER_ARM:
        code = "too_few"
    elif c is None or c.spans_zero:
        code = "no_evidence"
    elif c.ci_low <= 0:
        code = "lowered"
    return code, _(VERDICTS[code], treated=t, held=h, least=MIN_PER_ARM)


def sample_messages(ledger_path: Path, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The first message each rule sent in the range, as recorded: playbook, rule, channel
    and content (subject, body, segments); none without a ledger."""
    import json

    if not ledger_path.exists():
        return []
    rows = ledger.first_sent(ledger_path, start, end)
    return [
        {
            "playbook": p,
            "rule": r,
            "channel": c,
            **{k: v for k, v in json.loads(content or "{}").items() if k in ("subject", "body", "segments")},
        }
        for p, r, c, content in rows
    ]
