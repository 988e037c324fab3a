"""`huitou send`: deliver a plan's due rows through the ledger, exactly once.

A live run: read and check the plan file; open every channel adapter it needs (a missing
secret or way out, an email plan whose unsubscribe links are unsigned, stop the run before
anything is sent); take the ledger's run lock (a run already holding it is asked to hand
over: it finishes the messages in flight and stops); put rows a dead run left in flight
back to pending (marked recovered); record the opt-out file; add the plan's send rows (a
key already there keeps its state) and withdraw the pending rows this plan no longer
sends; skip opted-out and expired rows; then each channel delivers the plan's rows planned
up to `until`, and the rows earlier runs left waiting (a retry, quiet hours), each when its
time comes, with up to `concurrency` messages in flight at the channel's rate, each
claimed in the ledger before it is handed over and its outcome recorded after
(dispatch.py). The run ends when the last is done. A dry run reads the same and writes
nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contract import project_id
from ..i18n import N_, _
from .channels import Adapter, ConfigError, channel_kind, open_adapters, sends_ahead
from .clock import Clock, quiet_until
from .dispatch import MAX_PAUSE, Channel, deliver_channel
from .ledger import (
    Ledger,
    LedgerError,
    default_path,
    ledger_identity,
    peek,
    waiting_channels,
    witness_problem,
    writable_problem,
)
from .pacing import Pacer, RetryPolicy
from .planfile import Due, PlanFile, PlanFileError, read_plan

SAMPLES = 3  # rows a dry run shows


@dataclass
class ChannelReport:
    channel: str
    due: int = 0  # due rows of the plan for this channel, before this run
    sent: int = 0
    failed: int = 0  # permanently, or out of attempts
    retried: int = 0  # transient failures rescheduled
    skipped: int = 0  # opted out while the run went on
    deferred: int = 0  # rows whose turn came inside their quiet hours, held until the window's end
    dropped: int = 0  # rows whose turn came inside their quiet hours, dropped (the rule's `outside: drop`)
    next_at: float | None = None  # dry run: the time of the first row that waits for later
    resent_after_crash: int = 0  # recovered rows delivered again under their idempotency key
    stopped: str | None = None  # why the channel stopped early
    errors: list[tuple[str, str]] = field(default_factory=list)  # (key, error), the first few
    seconds: float = 0.0
    preview: Counter[str] = field(default_factory=Counter)  # dry run: due rows by what would happen
    outcome: Counter[str] = field(default_factory=Counter)  # live run: the due rows by where they stand after it (OUTCOMES)

    @property
    def troubled(self) -> bool:
        """Rows left failed, waiting for a retry or pending, or the channel stopped: the run
        exits 1."""
        return bool(self.stopped or any(self.outcome[o] for o in ("failed", "waiting for retry", "pending", "in flight")))

    def handed_over(self) -> None:
        """A newer run took the rows over: those left pending are its to deliver."""
        for state in ("waiting for retry", "pending", "deferred (quiet hours)"):
            self.outcome["handed over"] += self.outcome.pop(state, 0)


# Where a live run's due rows stand after it, per channel, in the order reports show them.
# "rescheduled": a newer plan moved it past --until; "pending": the channel stopped first.
# "deferred (quiet hours)": the run stopped while it waited for the end of their quiet hours;
# "handed over": a newer run took the ledger over and delivers them.
# What became of a channel's due rows (the keys of the JSON report, in English; the text
# report says them in the chosen language).
OUTCOMES = (
    N_("sent"),
    N_("already sent"),
    N_("opted out"),
    N_("expired"),
    N_("withdrawn"),
    N_("dropped (quiet hours)"),
    N_("failed"),
    N_("waiting for retry"),
    N_("deferred (quiet hours)"),
    N_("rescheduled"),
    N_("pending"),
    N_("in flight"),
    N_("handed over"),
)
# What a dry run says would become of a due row (the keys of its JSON report).
WOULD = {
    "ledger": N_("not sendable (ledger)"),
    "sent": N_("already sent"),
    "failed": N_("already failed"),
    "skipped": N_("already skipped"),
    "opted out": N_("opted out"),
    "expired": N_("expired"),
    "later": N_("would send later, at its time"),
    "drop": N_("would be dropped: inside quiet hours"),
    "wait": N_("would wait: inside quiet hours"),
    "send": N_("would send"),
}


@dataclass
class SendReport:
    plan: PlanFile
    live: bool
    until: float
    expire_after: float
    timezone: str = "UTC"  # the project's: how times are shown
    samples: list[dict[str, Any]] = field(default_factory=list)  # dry run: the first rows that would go out
    enqueued: int = 0
    replanned: int = 0  # rows already in the ledger that this (newer) plan rescheduled or rewrote
    withdrawn: int = 0
    held_out: int = 0  # due holdout rows recorded in the ledger (the control group)
    requeued: int = 0  # failed rows given another chance (--retry-failed)
    opted_out: int = 0
    expired: int = 0
    recovered: list[str] = field(default_factory=list)
    not_due: int = 0
    interrupted: bool = False
    handed_over: bool = False  # a newer run asked for the ledger and goes on with the rows
    replay: bool = False  # --now: the run's clock started at that time
    channels: dict[str, ChannelReport] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # configuration problems (a dry run lists them all)
    notes: list[str] = field(default_factory=list)  # what the channels met that a person should know (an outbox file a person changed)


def send(
    project_root: Path,
    config: dict[str, Any],
    plan_path: Path,
    *,
    live: bool,
    until: float | None = None,
    channel: str | None = None,
    wait: bool = True,
    expire_after_hours: float | None = None,
    optouts: list[tuple[str, str | None]] | None = None,
    retry_failed: bool = False,
    progress: Callable[[dict[str, ChannelReport]], None] | None = None,
    now: float | None = None,
    new_ledger: bool = False,
) -> SendReport:
    """Deliver (live) or preview the due rows of a plan. `optouts`: the project's opt-out
    file, read by the caller; `progress` is called with the channels' counts about five
    times a second during delivery; `now` replaces the clock (see Clock); `new_ledger`
    accepts a ledger that is missing or not the witnessed one (see witness.py). Raises
    PlanFileError, ConfigError, LedgerBusy, LedgerError."""
    clock = Clock(now)
    now = clock()
    with contextlib.closing(read_plan(plan_path, project_id(config))) as plan:
        delivery = config.get("delivery") or {}
        hours = float(expire_after_hours if expire_after_hours is not None else delivery.get("expire_after_hours", 24))
        report = SendReport(plan, live, until if until is not None else now, hours, str(config.get("timezone", "Asia/Shanghai")), replay=clock.replay)
        present = plan.channels()
        if channel is not None and channel not in present:
            raise PlanFileError(
                _(
                    "--channel {channel}: the plan sends nothing on it (its channels: {channels})",
                    channel=channel,
                    channels=", ".join(present) or _("none"),
                )
            )
        due = plan.due(report.until, channel)
        report.not_due = plan.count(channel) - len(due)
        configured = config.get("channels") or {}
        ledger_path = default_path(project_root, config)
        # Rows earlier runs left to go are finished too: their channels' adapters as well.
        try:
            left = waiting_channels(ledger_path, report.until, channel) & set(configured) if live else set()
        except LedgerError:
            left = set()  # the run stops on the ledger below, with the reason
        adapters = _open_adapters(sorted({r.channel for r in due} | left), configured, project_root, report.problems)
        report.notes += [
            _("channel {name} logs in to its SMTP server without TLS (plaintext_auth: true): the password crosses the network in clear", name=name)
            for name in sorted(adapters)
            if ((configured[name] or {}).get("smtp") or {}).get("plaintext_auth") is True
        ]
        try:
            report.problems += _unsigned_unsubscribe(plan, due, configured)
            if report.problems and live:
                raise ConfigError("; ".join(report.problems))
            if not live:
                _preview(report, ledger_path, plan, due, optouts or [], configured, now, new_ledger, _traces(project_root, configured, plan))
                return report
            _deliver(
                report,
                Ledger.for_sending(ledger_path, new_ledger, _traces(project_root, configured, plan)),
                plan,
                due,
                adapters,
                configured,
                delivery,
                optouts or [],
                clock,
                wait,
                retry_failed,
                progress,
                channel,
            )
            return report
        finally:
            for adapter in (a for pool in adapters.values() for a in pool):
                report.notes += getattr(adapter, "notes", [])
                adapter.close()


def _open_adapters(channels: list[str], configured: dict[str, Any], root: Path, problems: list[str]) -> dict[str, list[Adapter]]:
    """The adapters of each channel (one per message in flight); what stops a channel is
    added to `problems` (all of them, so a dry run can list every one)."""
    adapters: dict[str, list[Adapter]] = {}
    for name in channels:
        if name not in configured:
            problems.append(_("channel '{name}' is not in huitou.yaml's channels", name=name))
            continue
        try:
            adapters[name] = open_adapters(name, configured[name], root)
        except ConfigError as exc:
            problems.append(str(exc))
    return adapters


def _unsigned_unsubscribe(plan: PlanFile, due: list[Due], configured: dict[str, Any]) -> list[str]:
    """A promotional email goes out only with a signed unsubscribe link: the plan's
    messages of an email channel whose body carries the unsigned form (the customer id in
    the URL: the plan was made without the channel's unsubscribe secret) stop the run."""
    problems = []
    for name in sorted({r.channel for r in due}):
        settings = configured.get(name) or {}
        url = str(settings.get("unsubscribe_url") or "")
        if channel_kind(name, settings) != "email" or not url:
            continue
        unsigned = plan.count_containing(name, [url + ("&" if "?" in url else "?") + "c="])
        if unsigned:
            secret = settings.get("unsubscribe_secret_env") or "unsubscribe_secret_env"
            said = _(
                "channel '{name}': {n:,} message(s) of the plan carry an unsigned unsubscribe link (the customer id in the URL, which "
                "anyone could change): the plan was made without {secret} set; set it and plan again",
                name=name,
                n=unsigned,
                secret=secret,
            )
            problems.append(said)
    return problems


def _traces(root: Path, configured: dict[str, Any], plan: PlanFile) -> list[str]:
    """What says this project sent before, besides its ledger and witnesses: outbox files
    of its channels, and a plan that found messages already sent (a ledger had them)."""
    found = []
    for name, config in configured.items():
        outbox = (config or {}).get("outbox")
        if outbox:
            folder = Path(str(outbox["path"] if isinstance(outbox, dict) else outbox))
            folder = folder if folder.is_absolute() else root / folder
            files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
            if files:
                found.append(_("channel {name}'s outbox holds {n:,} file(s), e.g. {file}", name=name, n=len(files), file=files[0].name))
    already = plan.count_reason("already_sent")
    if already:
        found.append(_("the plan found {n:,} message(s) already sent", n=already))
    return found


def _preview(
    report: SendReport,
    ledger_path: Path,
    plan: PlanFile,
    due: list[Due],
    optouts: list[tuple[str, str | None]],
    configured: dict[str, Any],
    now: float,
    new_ledger: bool,
    traces: list[str],
) -> None:
    """What a live send would do with each due row, from a read-only look at the ledger
    and the clock: now, later today (at its time), held by quiet hours. A ledger the live
    send would refuse or fail on is the report's problem, and no row is "would send"."""
    try:
        problem = None if new_ledger else witness_problem(ledger_path, ledger_identity(ledger_path), traces)
        problem = problem or writable_problem(ledger_path)
        states, ledger_optouts = peek(ledger_path, [r.key for r in due])
    except LedgerError as exc:
        problem, states, ledger_optouts = str(exc), {}, []
    if problem:
        report.problems.append(_("a live send would stop: {problem}", problem=problem))
    out = {(c, ch or "") for c, ch in [*optouts, *ledger_optouts]}
    oldest = now - report.expire_after * 3600
    samples: list[Any] = []
    for row in due:
        state = states.get(row.key)
        if problem:
            what = WOULD["ledger"]
        elif state in ("sent", "failed", "skipped"):
            what = WOULD[str(state)]
        elif (row.customer_id, "") in out or (row.customer_id, row.channel) in out:
            what = WOULD["opted out"]
        elif row.send_at_utc < oldest:
            what = WOULD["expired"]
        elif row.send_at_utc > now and not sends_ahead(configured.get(row.channel) or {}):
            what = WOULD["later"]
        elif (held := quiet_until(row.quiet_hours, row.timezone, row.send_at, now)) is not None:
            what = WOULD["drop" if held[0].outside == "drop" else "wait"]
        else:
            what = WOULD["send"]
        channel = report.channels.setdefault(row.channel, ChannelReport(row.channel))
        if what == WOULD["later"]:
            channel.next_at = min(channel.next_at or row.send_at_utc, row.send_at_utc)
        channel.due += 1
        channel.preview[what] += 1
        if what == WOULD["send"] and len(samples) < SAMPLES:
            samples.append(row.key)
    report.samples = list(plan.ledger_rows(samples)) if samples else []


def _deliver(
    report: SendReport,
    ledger: Ledger,
    plan: PlanFile,
    due: list[Due],
    adapters: dict[str, list[Adapter]],
    configured: dict[str, Any],
    delivery: dict[str, Any],
    optouts: list[tuple[str, str | None]],
    clock: Clock,
    wait: bool,
    retry_failed: bool,
    progress: Callable[[dict[str, ChannelReport]], None] | None,
    channel: str | None,
) -> None:
    """`channel`: only that channel's rows are added, replanned, withdrawn and expired."""
    ledger_path = ledger.path
    try:
        with ledger.run_lock(wait):
            ledger.vouch()  # before the first message: from now on, losing this ledger is noticed
            now = clock()
            report.recovered = ledger.recover(now)
            if optouts:
                ledger.import_optouts(optouts, now, "opt-out file")
            report.enqueued, report.replanned = ledger.enqueue(plan.ledger_rows(channel=channel), now)
            report.withdrawn = ledger.supersede(plan.withdrawn(channel), plan.as_of, now)
            if retry_failed:
                report.requeued = ledger.requeue_failed((r.key for r in due), now)
            report.opted_out = ledger.skip_opted_out(now)
            report.expired = ledger.expire(now - report.expire_after * 3600, now, channel)
            report.held_out = ledger.hold(plan.holdouts_due(report.until, channel), now - report.expire_after * 3600, now)
            stop = threading.Event()
            policy = RetryPolicy.from_config(delivery.get("retry"))
            by_channel: dict[str, list[str]] = {}
            for row in due:
                by_channel.setdefault(row.channel, []).append(row.key)
            for name, keys in ledger.waiting(report.until, channel).items():  # left to go by earlier runs: finished by this one
                if name in adapters:
                    by_channel.setdefault(name, []).extend(sorted(set(keys) - set(by_channel.get(name, []))))
            workers = []
            for name, keys in by_channel.items():
                channel_report = report.channels.setdefault(name, ChannelReport(name, due=len(keys)))
                own = clock.fork()  # a replay's channels each move their own clock
                way = Channel(
                    channel_kind(name, configured[name]),
                    adapters[name],
                    Pacer.from_config(configured[name].get("rate"), clock=own),
                    policy,
                    ahead=sends_ahead(configured[name]),
                    max_pause=float(configured[name].get("max_pause", MAX_PAUSE)),
                )
                worker = threading.Thread(
                    target=deliver_channel,
                    name=f"send-{name}",
                    args=(ledger_path, keys, way, report.until, stop, channel_report, own),
                    daemon=True,
                )
                workers.append(worker)
            with _stopping_on_signals(stop):
                for worker in workers:
                    worker.start()
                while alive := [worker for worker in workers if worker.is_alive()]:
                    alive[0].join(0.2)
                    if not stop.is_set() and ledger.handover_asked():
                        report.handed_over = True
                        stop.set()
                    if progress is not None:
                        progress(report.channels)
            report.interrupted = stop.is_set() and not report.handed_over
            for name, keys in by_channel.items():
                tally = report.channels[name].outcome
                tally.update(ledger.standing(keys, report.until))
                tally["already sent"] = tally.pop("sent", 0) - report.channels[name].sent
                tally["sent"] = report.channels[name].sent
                if report.handed_over:
                    report.channels[name].handed_over()
            ledger.vouch()
    finally:
        ledger.close()


class _stopping_on_signals:
    """SIGINT/SIGTERM set `stop`: the workers finish the message in hand and return, so an
    interrupted run leaves nothing in flight."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, lambda *_: self.stop.set())

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


AHEAD = re.compile(r"\+(\d{1,4})([mhd])")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def parse_until(text: str | None, tz: str, end_of_day: bool = True, now: float | None = None) -> float | None:
    """--until and --now: an ISO 8601 date or time (naive ones in the project's timezone);
    a date is the end of that day for --until, its start for --now. --until may also be a
    time ahead of the run's clock (`now`): +30m, +24h, +2d.

    >>> parse_until("+24h", "UTC", now=1000.0)
    87400.0
    """
    if text is None:
        return None
    if (ahead := AHEAD.fullmatch(text.strip())) and now is not None:
        return now + int(ahead[1]) * UNIT_SECONDS[ahead[2]]
    from zoneinfo import ZoneInfo

    value = dt.datetime.fromisoformat(text)
    if not CLOCK_YEARS[0] <= value.year <= CLOCK_YEARS[1]:  # ValueError: the caller's "not a date or time"
        raise ValueError(f"{text}: a year outside {CLOCK_YEARS[0]}-{CLOCK_YEARS[1]}")
    if len(text.strip()) == 10 and end_of_day:  # a date: through the end of that day
        value += dt.timedelta(days=1)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.timestamp()


CLOCK_YEARS = (1970, 2199)  # --now and --until: what a shop's clock can say
