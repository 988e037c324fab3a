"""The send ledger on a real SQLite file: idempotent enqueue, claims, retries, recovery
after a dead run, opt-outs, and two processes at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from huitou.delivery.ledger import Ledger, LedgerBusy, LedgerError, history

NOW = 1_800_000_000.0


def row(key: str, customer: str = "c1", channel: str = "sms", at: float = NOW - 60, recipient: str | None = None) -> dict:
    return {
        "idempotency_key": key,
        "plan_id": "p1",
        "customer_id": customer,
        "playbook": "pb",
        "rule_id": "r",
        "step": 0,
        "channel": channel,
        "intent": "care",
        "recipient": recipient or f"{customer}@{channel}",
        "send_at": "2027-01-15T10:00:00+08:00",
        "send_at_utc": at,
        "content": json.dumps({"body": "hi"}),
    }


def take(ledger: Ledger, now: float = NOW, until: float | None = None, **kw) -> list[tuple[str, int]]:
    """Start every due row (as a run does) -> [(key, attempt)]."""
    out = []
    for claimed in ledger.due(now, now if until is None else until, limit=100, **kw):
        attempt = ledger.start(claimed.idempotency_key, now)
        if attempt is not None:
            out.append((claimed.idempotency_key, attempt))
    return out


def test_a_key_is_one_row_whatever_plans_repeat_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert ledger.enqueue([row("k1"), row("k2")], NOW) == (2, 0)
    assert ledger.enqueue([row("k2"), row("k3")], NOW) == (1, 0)  # an overlapping plan
    ledger.restrict(["k1", "k2", "k3"])
    assert ledger.start("k1", NOW) == 1
    assert ledger.start("k1", NOW) is None  # in flight: not startable twice
    ledger.sent("k1", NOW, "msg-1")
    assert ledger.enqueue([row("k1")], NOW) == (0, 0)
    assert ledger.state_of("k1") == "sent"
    assert {k for k, _ in take(ledger)} == {"k2", "k3"}
    assert history(tmp_path / "ledger.sqlite") == [("c1", "sms", "care", "2027-01-15T08:00:00+00:00")]


def test_due_rows_only_of_the_run_and_retries_after_backoff(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.enqueue([row("now"), row("later", at=NOW + 3600), row("other-plan")], NOW)
    ledger.restrict(["now", "later"])
    assert take(ledger) == [("now", 1)]
    ledger.failed("now", NOW, "421 try again", retry_at=NOW + 30)
    assert ledger.state_of("now") == "pending" and take(ledger, NOW + 10) == []
    assert ledger.next_due(NOW + 10) == NOW + 30  # its retry time; `later` is past the run's --until
    assert ledger.next_due(NOW + 3600) == NOW + 30
    assert take(ledger, NOW + 31) == [("now", 2)]
    ledger.failed("now", NOW + 31, "550 no such user")
    assert ledger.state_of("now") == "failed" and ledger.failures()[0][::4] == ("now", "550 no such user")
    assert take(ledger, NOW, until=NOW + 3600) == [("later", 1)]  # read up to a later time (a channel that sends ahead)
    assert ledger.state_of("other-plan") == "pending"


def test_rows_left_sending_by_a_dead_run_are_retried_and_marked(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.enqueue([row("k1"), row("k2")], NOW)
    ledger.start("k1", NOW)  # ... and the process dies here
    reopened = Ledger(tmp_path / "ledger.sqlite")
    assert reopened.recover(NOW) == ["k1"]
    reopened.restrict(["k1", "k2"])
    claimed = reopened.due(NOW, NOW, limit=10)
    assert sorted((c.idempotency_key, c.recovered, c.attempts) for c in claimed) == [("k1", True, 1), ("k2", False, 0)]


def test_an_opt_out_skips_rows_already_planned_even_mid_run(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.enqueue([row("a-sms", "a"), row("a-mail", "a", "email"), row("b-sms", "b"), row("b-mail", "b", "email"), row("c-sms", "c")], NOW)
    ledger.record_optout("a", "sms", NOW, "huitou optout")
    ledger.record_optout("b", None, NOW, "optouts.csv")
    assert ledger.skip_opted_out(NOW) == 3
    ledger.restrict(["a-sms", "a-mail", "b-sms", "b-mail", "c-sms"])
    due = [c.idempotency_key for c in ledger.due(NOW, NOW, limit=10)]
    assert sorted(due) == ["a-mail", "c-sms"]
    Ledger(tmp_path / "ledger.sqlite").record_optout("c", "sms", NOW, "huitou optout")  # another process, mid-run
    assert ledger.start("c-sms", NOW) is None and ledger.state_of("c-sms") == "skipped"
    assert ledger.optouts() == [("a", "sms"), ("b", None), ("c", "sms")]


def test_a_witness_the_disk_cannot_take_is_one_line_and_nothing_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from huitou.delivery import witness

    def disk_full(path: Path, data: dict) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    ledger = Ledger(tmp_path / "ledger.sqlite")
    monkeypatch.setattr(witness, "_write", disk_full)
    with pytest.raises(LedgerError, match=r"witness beside .* cannot be written \(No space left on device\)"):
        ledger.vouch()


def test_an_opt_out_reaches_every_customer_id_of_the_same_recipient(tmp_path: Path) -> None:
    """Forty ids of one phone number (a shop that makes a new id per order): one of them
    opts out of SMS, and no id gets an SMS to that number; their email, and another
    number's SMS, still go."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    phone = "+8613812345678"
    ledger.enqueue(
        [row(f"s{i}", f"id{i}", recipient=phone) for i in range(40)]
        + [row("m7", "id7", "email", recipient="x@mail.example"), row("other", "id99", recipient="+8613800000000")],
        NOW,
    )
    ledger.record_optout("id7", "sms", NOW, "huitou optout")
    assert ledger.skip_opted_out(NOW) == 40
    assert [k for k in (f"s{i}" for i in range(40)) if ledger.state_of(k) != "skipped"] == []
    assert ledger.state_of("m7") == ledger.state_of("other") == "pending"


def test_a_later_plan_that_no_longer_sends_a_row_skips_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.enqueue([row("k1"), row("k2")], NOW)
    ledger.restrict(["k2"])
    take(ledger)
    ledger.sent("k2", NOW)
    assert ledger.supersede([("k1", "plan p2: frequency_cap"), ("k2", "plan p2: care_first")], "2026-11-02", NOW) == 1
    assert ledger.state_of("k1") == "skipped" and ledger.state_of("k2") == "sent"


def planned(key: str, as_of: str, at: float, body: str = "hi") -> dict:
    return {**row(key, at=at), "plan_as_of": as_of, "content": json.dumps({"body": body})}


def test_the_newest_plan_decides_a_row_still_pending(tmp_path: Path) -> None:
    """A newer plan reschedules and rewrites a pending row, an older one changes nothing and
    cannot withdraw what a newer one decided; a row withdrawn by a plan comes back when a
    plan at least as new sends it again; a sent row is never touched."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert ledger.enqueue([planned("k", "2026-11-01", NOW)], NOW) == (1, 0)
    assert ledger.enqueue([planned("k", "2026-11-01", NOW)], NOW) == (0, 0)  # the same plan again
    assert ledger.enqueue([planned("k", "2026-11-02", NOW + 86400, "It has been 9 days")], NOW) == (0, 1)
    assert ledger.enqueue([planned("k", "2026-11-01", NOW)], NOW) == (0, 0)  # older: ignored
    ledger.restrict(["k"])
    (due,) = ledger.due(NOW + 86400, NOW + 86400, limit=5)
    assert json.loads(due.content or "{}")["body"] == "It has been 9 days" and not ledger.due(NOW, NOW, limit=5)
    assert ledger.supersede([("k", "plan p1: suppressed (frequency_cap)")], "2026-11-01", NOW) == 0  # older plan
    assert ledger.supersede([("k", "plan p3: suppressed (frequency_cap)")], "2026-11-03", NOW) == 1
    assert ledger.enqueue([planned("k", "2026-11-02", NOW)], NOW) == (0, 0)  # older than the withdrawal
    assert ledger.enqueue([planned("k", "2026-11-03", NOW)], NOW) == (0, 1)  # the same day's plan changed its mind
    assert ledger.state_of("k") == "pending"
    ledger.start("k", NOW)
    ledger.sent("k", NOW)
    assert ledger.enqueue([planned("k", "2026-11-09", NOW, "again")], NOW) == (0, 0)
    assert ledger.supersede([("k", "plan p9: suppressed")], "2026-11-09", NOW) == 0 and ledger.state_of("k") == "sent"


def test_an_expired_row_comes_back_only_with_a_newer_plan(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.enqueue([planned("k", "2026-11-01", NOW - 90000)], NOW)
    assert ledger.expire(NOW - 86400, NOW) == 1 and ledger.state_of("k") == "skipped"
    assert ledger.enqueue([planned("k", "2026-11-01", NOW - 90000)], NOW) == (0, 0)  # the same plan sent again
    assert ledger.enqueue([planned("k", "2026-11-02", NOW)], NOW) == (0, 1)  # an immediate trigger planned for today
    assert ledger.state_of("k") == "pending"
    ledger.record_optout("c1", None, NOW, "huitou optout")
    ledger.skip_opted_out(NOW)
    assert ledger.enqueue([planned("k", "2026-11-03", NOW)], NOW) == (0, 0) and ledger.state_of("k") == "skipped"  # opted out stays out


HOLD = """
import sys, time
from pathlib import Path
from huitou.delivery.ledger import Ledger
with Ledger(Path(sys.argv[1])).run_lock():
    print("locked", flush=True)
    time.sleep(60)
"""


def test_one_run_at_a_time_and_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        ledger = Ledger(path)
        with pytest.raises(LedgerBusy):
            with ledger.run_lock(wait=False):
                pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        with ledger.run_lock(wait=False):  # free at once: the kernel released it
            pass
    finally:
        holder.kill()


STARTER = """
import sys, time
from pathlib import Path
from huitou.delivery.ledger import Ledger
ledger = Ledger(Path(sys.argv[1]))
ledger.restrict(f"k{i:04d}" for i in range(600))
print("ready", flush=True)
while not Path(sys.argv[2]).exists():  # start together
    time.sleep(0.005)
mine = []
while batch := ledger.due(1_800_000_000.0, 1_800_000_000.0, limit=7):
    for c in batch:
        if ledger.start(c.idempotency_key, 1_800_000_000.0) is None:
            continue  # the other process took it
        time.sleep(0.002)  # delivering, outside any transaction
        ledger.sent(c.idempotency_key, 1_800_000_000.0)
        mine.append(c.idempotency_key)
print("\\n".join(mine))
"""


def test_two_processes_starting_rows_at_once_never_take_the_same_row(tmp_path: Path) -> None:
    """Even without the run lock (which keeps a second `huitou send` out), a row is
    started by one process only."""
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    ledger.enqueue([row(f"k{i:04d}", f"c{i}") for i in range(600)], NOW)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, str(path), str(go)], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    assert all(p.stdout is not None and p.stdout.readline().strip() == "ready" for p in procs)
    go.touch()
    taken = [set(p.communicate(timeout=120)[0].split()) for p in procs]
    assert taken[0].isdisjoint(taken[1])
    assert taken[0] | taken[1] == {f"k{i:04d}" for i in range(600)}
    assert all(taken), "both processes should have sent some rows"
    assert {s for s, *_ in ledger.counts()} == {"sent"}


def held(key: str, customer: str, at: float, channel: str = "sms") -> dict:
    return {
        "idempotency_key": key,
        "plan_id": "p1",
        "plan_as_of": "2026-11-01",
        "trigger": "t",
        "customer_id": customer,
        "playbook": "pb",
        "rule_id": "r",
        "step": 0,
        "channel": channel,
        "intent": "care",
        "send_at": "2026-11-02T10:00:00+08:00",
        "send_at_utc": at,
    }


def test_the_control_group_is_recorded_as_its_messages_would_have_gone_out(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.import_optouts([("gone", None), ("no-sms", "sms")], NOW, "test")
    rows = [
        held("k1", "c1", NOW - 60),
        held("k2", "gone", NOW - 60),
        held("k3", "no-sms", NOW - 60),
        held("k4", "no-sms", NOW - 60, "email"),
        held("k5", "late", NOW - 30 * 3600),
    ]
    # opted out of every channel or of this one, or too late (it would have expired): not in the group
    assert ledger.hold(rows, oldest=NOW - 24 * 3600, now=NOW) == 2
    assert ledger.hold(rows, oldest=NOW - 24 * 3600, now=NOW + 1) == 0  # a key is recorded once, whatever plans repeat it
    recorded = ledger.db.execute("SELECT idempotency_key, customer_id, recorded_at FROM holdouts ORDER BY 1").fetchall()
    assert recorded == [("k1", "c1", NOW), ("k4", "no-sms", NOW)]
    assert ledger.db.execute("SELECT count(*) FROM messages").fetchone() == (0,)  # nothing to send


def test_only_the_delivery_modules_read_the_ledgers_tables() -> None:
    """The send ledger's SQLite tables (messages, holdouts) are read through delivery/ledger.py
    (the effect report takes ledger.arms and ledger.first_sent): a change to them is one
    module's."""
    import re

    source = Path(__file__).resolve().parent.parent / "src" / "huitou"
    pattern = re.compile(r"\b(FROM|JOIN|INTO|UPDATE)\s+(messages|holdouts)\b", re.I)
    readers = sorted(str(p.relative_to(source)) for p in source.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8")))
    assert readers == ["delivery/ledger.py"], readers
