"""What a rule changed, measured the way a shop would: a synthetic experiment run through
the installed console script. A shop of 4,000 customers, one SMS rule with a 50% holdout,
`huitou plan` and `huitou send --live` to an outbox; then orders arrive, with a known
effect for the treated customers and none for the held out; then `huitou report`. Its
estimate must cover the true uplift (and zero when there is none), and equal what
statsmodels says on the same counts, computed here from the ledger and the orders by
independent code."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats import proportion
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from tests.browser import CHROMIUM, Browser
from tests.inprocess import huitou

N = 4000
SEND_DAY = "2026-11-02"
CONFIG = """version: 1
name: experiment
playbooks: [rules]
templates: templates
default_locale: en
timezone: Asia/Shanghai
shop: {name: Test Shop, url: "https://shop.example.com"}
channels:
  sms:
    signature: "Test Shop:"
    opt_out: Reply STOP to opt out
    max_segments: 1
    outbox: out/sms
    cost: {per_segment: 0.05, currency: CNY}
data:
  orders: {path: data/orders.csv}
  customers: {path: data/customers.csv}
"""
PLAYBOOK = """version: 1
name: winback
timezone: Asia/Shanghai
locale: en
policies:
  holdout: 50%
  attribution_window: 14d
rules:
  - id: come-back
    intent: care
    segment: order_count >= 1
    when: {on: "2026-11-02", at: "10:00"}
    channel: sms
    template: sms/hello.j2
"""


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    # Emails carry signed unsubscribe links: send --live refuses a plan whose links are unsigned.
    env = {**os.environ, "HUITOU_UNSUBSCRIBE_SECRET": "test-unsubscribe-secret"}
    done = huitou(*args, cwd=root, env=env)
    assert done.returncode == 0, f"huitou {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def shop(root: Path, rng: np.random.Generator, name: str = "Customer {i}") -> np.ndarray:
    """Customers with a purchase history in August-October; returns each one's propensity
    (what drives both their past and their future purchases: the CUPED covariate's use)."""
    (root / "rules").mkdir(parents=True)
    (root / "templates" / "en" / "sms").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "huitou.yaml").write_text(CONFIG, encoding="utf-8")
    (root / "rules" / "winback.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (root / "templates" / "en" / "sms" / "hello.j2").write_text("Hi {{ customer.name or 'there' }}, we miss you.", encoding="utf-8")
    propensity = rng.gamma(2.0, 0.5, N)
    with open(root / "data" / "customers.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "name", "phone", "consent_sms"])
        writer.writerows([f"C{i:05d}", name.format(i=i), f"+86138{i:08d}", "true"] for i in range(N))
    orders = []
    for i in range(N):
        for k in range(1 + rng.poisson(2 * propensity[i])):
            day = 10 + int(rng.integers(0, 80))  # 2026-08-10 .. 2026-10-28
            orders.append(
                [
                    f"P{i:05d}-{k}",
                    f"C{i:05d}",
                    f"2026-{8 + day // 31:02d}-{1 + day % 31 if day % 31 < 28 else 28:02d} 12:00:00",
                    f"{40 + 30 * propensity[i] + rng.normal(0, 5):.2f}",
                    "paid",
                ]
            )
    with open(root / "data" / "orders.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "ordered_at", "amount", "status"])
        writer.writerows(orders)
    return propensity


def groups(root: Path) -> tuple[set[str], set[str]]:
    db = sqlite3.connect(root / ".huitou" / "ledger.sqlite")
    try:
        treated = {c for (c,) in db.execute("SELECT customer_id FROM messages WHERE state = 'sent'")}
        held = {c for (c,) in db.execute("SELECT customer_id FROM holdouts")}
    finally:
        db.close()
    return treated, held


def arrive(root: Path, rng: np.random.Generator, propensity: np.ndarray, treated: set[str], uplift: float) -> None:
    """Orders after the send: a customer buys within the window with probability
    base + uplift (treated) or base (held out); some buy again after the window, which
    must not count; a shop's other customers (never in the ledger) buy too."""
    lines = []
    for i in range(N):
        cid = f"C{i:05d}"
        base = min(0.7, 0.02 + 0.2 * propensity[i])
        if rng.random() < base + (uplift if cid in treated else 0.0):
            lines.append(
                [
                    f"A{i:05d}",
                    cid,
                    f"2026-11-{3 + int(rng.integers(0, 12)):02d} 15:00:00",
                    f"{40 + 30 * propensity[i] + rng.normal(0, 5):.2f}",
                    "paid",
                ]
            )
        if rng.random() < 0.2:
            lines.append([f"L{i:05d}", cid, "2026-11-25 15:00:00", "99.00", "paid"])  # 23 days on: outside the 14-day window
    lines.append(["X00001", "C00001", "2026-11-05 15:00:00", "500.00", "cancelled"])  # not a purchase
    with open(root / "data" / "orders.csv", "a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(lines)


def experiment(
    root: Path, uplift: float, seed: int, *extra: str, name: str = "Customer {i}", start: str = SEND_DAY
) -> tuple[dict, set[str], set[str]]:
    rng = np.random.default_rng(seed)
    propensity = shop(root, rng, name)
    run(root, "plan", "--as-of", "2026-11-01", "--horizon", "7d", "--out", "plan.jsonl")
    sent = run(root, "send", "plan.jsonl", "--live", "--now", f"{SEND_DAY}T00:00", "--until", SEND_DAY)
    assert "held out (the control group" in sent.stdout
    treated, held = groups(root)
    arrive(root, rng, propensity, treated, uplift)
    report = run(root, "report", "--from", start, "--to", SEND_DAY, "--as-of", "2026-11-30", "-f", "json", *extra)
    return json.loads(report.stdout), treated, held


def independent_counts(root: Path, treated: set[str], held: set[str]) -> tuple[dict[str, tuple[int, int]], dict[str, float], dict[str, float]]:
    """(customers, converted) per group: a paid order within 14 days after 10:00 local on
    the send day; and each customer's revenue in that window and in the 90 days before."""
    bought, after, before = set(), dict.fromkeys(treated | held, 0.0), dict.fromkeys(treated | held, 0.0)
    with open(root / "data" / "orders.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["status"] != "paid":
                continue
            if "2026-11-02 10:00:00" < row["ordered_at"] <= "2026-11-16 10:00:00":
                bought.add(row["customer_id"])
                after[row["customer_id"]] += float(row["amount"])
            elif "2026-08-04 10:00:00" < row["ordered_at"] <= "2026-11-02 10:00:00":
                before[row["customer_id"]] += float(row["amount"])
    return {"treated": (len(treated), len(treated & bought)), "holdout": (len(held), len(held & bought))}, after, before


@pytest.mark.parametrize(("uplift", "seed"), [(0.10, 7), (0.0, 8)], ids=["true-uplift-10pp", "no-effect"])
def test_the_report_recovers_a_known_effect(tmp_path: Path, uplift: float, seed: int) -> None:
    result, treated, held = experiment(tmp_path / "shop", uplift, seed)
    # both groups are the whole segment, split by the playbook's 50% draw
    assert len(treated) + len(held) == N and not treated & held
    assert 0.45 < len(held) / N < 0.55
    (rule,) = result["rules"]
    (playbook,) = result["playbooks"]
    assert (rule["playbook"], rule["rule"], rule["attribution_window_days"]) == ("winback", "come-back", 14)
    assert rule["treated"]["customers"] == len(treated) and rule["holdout"]["customers"] == len(held)
    assert rule["messages"] == {"planned": len(treated), "sent": len(treated), "failed": 0, "segments": len(treated)}
    # the counts and the interval equal independent code and statsmodels on the same numbers
    counts, after, before = independent_counts(tmp_path / "shop", treated, held)
    assert (rule["treated"]["customers"], rule["treated"]["converted"]) == counts["treated"]
    assert (rule["holdout"]["customers"], rule["holdout"]["converted"]) == counts["holdout"]
    (n_t, c_t), (n_h, c_h) = counts["treated"], counts["holdout"]
    low, high = proportion.confint_proportions_2indep(c_t, n_t, c_h, n_h, method="agresti-caffo", compare="diff")
    p = proportion.test_proportions_2indep(c_t, n_t, c_h, n_h, method="agresti-caffo", compare="diff").pvalue
    up = rule["uplift"]
    assert up["absolute"] == pytest.approx(c_t / n_t - c_h / n_h)
    assert up["relative"] == pytest.approx((c_t / n_t - c_h / n_h) / (c_h / n_h))
    assert (up["ci_low"], up["ci_high"], up["p_value"]) == pytest.approx((low, high, p))
    # the interval covers the truth; a win only when there is one
    assert up["ci_low"] <= uplift <= up["ci_high"]
    if uplift:
        assert up["ci_low"] > 0 and rule["verdict"] == "raised conversion" and rule["evidence"]
    else:
        assert rule["verdict"].startswith("no evidence of an effect yet") and not rule["evidence"]
    # revenue: CUPED narrows the interval (the past predicts the future) and still covers
    # the true uplift per customer (uplift x the mean order, 40 + 30 x mean propensity 1)
    revenue = rule["revenue_per_customer"]
    width = {k: revenue[k]["ci_high"] - revenue[k]["ci_low"] for k in ("unadjusted", "cuped")}
    assert width["cuped"] < width["unadjusted"] and revenue["theta"] > 0
    # ... and is CUPED as defined: Y - theta (X - mean X), theta = cov(X, Y) / var(X) pooled
    y_t, y_h = (np.array([after[c] for c in sorted(g)]) for g in (treated, held))
    x_t, x_h = (np.array([before[c] for c in sorted(g)]) for g in (treated, held))
    x, y = np.concatenate([x_t, x_h]), np.concatenate([y_t, y_h])
    theta = np.cov(x, y, bias=True)[0, 1] / np.var(x)
    adjusted = CompareMeans(DescrStatsW(y_t - theta * (x_t - x.mean())), DescrStatsW(y_h - theta * (x_h - x.mean())))
    assert revenue["theta"] == pytest.approx(theta)
    assert (revenue["cuped"]["ci_low"], revenue["cuped"]["ci_high"]) == pytest.approx(adjusted.tconfint_diff(usevar="unequal"))
    assert revenue["cuped"]["ci_low"] <= uplift * 70 <= revenue["cuped"]["ci_high"]
    assert rule["incremental_revenue"]["estimate"] == pytest.approx(revenue["cuped"]["estimate"] * len(treated))
    # cost and return: 0.05 CNY an SMS segment
    assert rule["cost"]["spend"] == pytest.approx(0.05 * len(treated)) and rule["cost"]["currency"] == "CNY"
    assert rule["cost"]["return_ratio"] == pytest.approx(rule["incremental_revenue"]["estimate"] / rule["cost"]["spend"])
    # one rule: the playbook as a whole is the same comparison
    assert playbook["rule"] is None and playbook["uplift"] == up


def test_the_dry_run_sizes_each_holdout_before_launch(tmp_path: Path) -> None:
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    root = tmp_path / "shop"
    shop(root, np.random.default_rng(3))
    dry = json.loads(run(root, "plan", "--as-of", "2026-11-01", "--horizon", "7d", "-f", "json").stdout)
    (sizing,) = dry["holdout_sizing"]
    assert (sizing["playbook"], sizing["rule"], sizing["attribution_window_days"]) == ("winback", "come-back", 14)
    assert sizing["treated"] + sizing["holdout"] == N and sizing["treated"] == dry["status"]["send"]
    # the baseline: of the customers who bought before 2026-10-18, those who bought again from then to the as-of date
    firsts, recent = {}, set()
    with open(root / "data" / "orders.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            day = row["ordered_at"][:10]
            firsts[row["customer_id"]] = min(day, firsts.get(row["customer_id"], day))
            if "2026-10-18" <= day < "2026-11-01":
                recent.add(row["customer_id"])
    known = {c for c, day in firsts.items() if day < "2026-10-18"}
    assert sizing["baseline_conversion"] == pytest.approx(len(known & recent) / len(known))
    # the detectable uplift is the one statsmodels gives 80% power at 5%
    p0, mde = sizing["baseline_conversion"], sizing["minimum_detectable_uplift"]
    power = NormalIndPower().power(
        proportion_effectsize(p0 + mde, p0), nobs1=sizing["treated"], alpha=0.05, ratio=sizing["holdout"] / sizing["treated"]
    )
    assert power == pytest.approx(0.8, abs=1e-6)
    assert 0.01 < mde < 0.1  # 2,000 a group detects a few points


def test_bad_input_is_a_sentence_never_an_error(tmp_path: Path) -> None:
    from tests.test_daily import add_orders, outbox_project

    root = outbox_project(tmp_path / "shop")
    args = ("report", "--from", "2026-11-01", "--to", "2026-11-08", "--as-of", "2026-11-30", "-f", "json")
    never = json.loads(run(root, *args).stdout)  # no ledger: the project never sent
    assert never["rules"] == [] and never["ledger"] is None
    assert "has not sent anything yet" in never["effect_notes"][0]
    run(root, "plan", "--as-of", "2026-11-01", "--horizon", "14d", "--out", "plan.jsonl")
    run(root, "send", "plan.jsonl", "--live", "--now", "2026-11-01T00:00", "--until", "2026-11-08")
    reached = set.union(*groups(root)) | {
        c for (c,) in sqlite3.connect(root / ".huitou" / "ledger.sqlite").execute("SELECT customer_id FROM messages")
    }
    outsider = next(f"{i:07d}" for i in range(1, 301) if f"{i:07d}" not in reached)
    add_orders(root, [f'"Z1","{outsider}",2026-11-03 12:00:00.000000,10.00,"paid",,,'])  # a buyer no rule reached
    result = json.loads(run(root, *args).stdout)
    verdicts = {(r["playbook"], r["rule"]): r["verdict"] for r in result["rules"]}
    # the example's lifecycle playbook holds out 10%: 2 customers in the range, too few to say anything
    assert verdicts[("lifecycle", "active-care-note")].startswith("too few customers to tell")
    assert not any(r["evidence"] for r in result["rules"])
    # the service playbook has no holdout at all
    assert verdicts[("service", "unpaid-order-reminder")].startswith("no holdout: the playbook sets none")
    assert any("were in no rule's treated or holdout group" in n for n in result["effect_notes"])
    text = run(root, *args[:-2]).stdout
    assert "no holdout in care-calendar" in text and "Traceback" not in text
    # a range with no message at all
    empty = json.loads(run(root, "report", "--from", "2025-01-01", "--to", "2025-01-31", "-f", "json").stdout)
    assert empty["rules"] == [] and "no message of any rule was scheduled" in empty["effect_notes"][0]


def test_the_html_report_opens_offline_in_chromium(tmp_path: Path) -> None:
    if CHROMIUM is None:  # .ci/run installs it: in CI a missing browser is a failure, not a skip
        assert not os.environ.get("CI"), "chromium is missing: .ci/run should have installed it (apt-get install chromium)"
        pytest.skip("needs chromium (apt-get install chromium)")
    hostile = "<img src=x onerror=alert(1)>{i}"  # customer data is the public's: it must reach the page as text
    page = tmp_path / "report.html"
    # from August: the first-purchase cohorts of the shop's history are in the range
    result, treated, _ = experiment(tmp_path / "shop", 0.10, 7, "--html", str(page), name=hostile, start="2026-08-01")
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        assert browser.problems(page.as_uri()) == []
        # every chart is there, drawn as inline SVG with a size
        for chart in ("repeat-rate", "cohorts", "uplift", "funnel"):
            box = browser.evaluate(
                f"(() => {{ const s = document.querySelector('figure[data-chart=\"{chart}\"] svg'); "
                "if (!s) return null; const r = s.getBoundingClientRect(); return [r.width, r.height]; })()"
            )
            assert box and box[0] > 100 and box[1] > 50, chart
        # the headline numbers shown are the JSON's
        shown = dict(browser.evaluate("[...document.querySelectorAll('.headline [data-metric]')].map(e => [e.dataset.metric, e.textContent.trim()])"))
        rates = result["repeat_purchase"]
        assert shown["repeat_by_customer"] == f"{rates['by_customer']['rate']:.1%}"
        assert shown["repeat_by_transaction"] == f"{rates['by_transaction']['rate']:.1%}"
        uplift = browser.evaluate("document.querySelector('tr[data-rule=\"winback/come-back\"] [data-metric=uplift]').textContent")
        assert uplift == f"{result['rules'][0]['uplift']['absolute'] * 100:+.1f} pp"
        assert browser.evaluate("document.body.innerText").count("raised conversion") == 2  # the rule and its playbook
        # the sample SMS bubble shows the hostile name as text: no element was made of it
        bubble = browser.evaluate("document.querySelector('.sms').textContent")
        assert "<img src=x onerror=alert(1)>" in bubble and browser.evaluate("document.images.length") == 0
        browser.screenshot(tmp_path / "report.png")
        assert (tmp_path / "report.png").stat().st_size > 20_000
    finally:
        browser.close()
    # self-contained: no script, nothing fetched, one file
    text = page.read_text(encoding="utf-8")
    assert not [tag for tag in ("<script", "<link", "<img", "<iframe", "@import") if tag in text.lower()]
    assert all(
        ref.startswith(("#", "data:")) for ref in re.findall(r"url\(([^)]*)\)|href=\"([^\"]*)\"", text) for ref in ref if ref
    )  # only the SVG's own parts and inline images


@pytest.mark.parametrize("baseline", [0.0, 0.001, 0.02, 0.15, 0.5, 0.93])
def test_the_detectable_uplift_is_statsmodels_power_solved_exactly(baseline: float) -> None:
    """The dry run sizes holdouts without importing statsmodels
    (stats.minimum_detectable_uplift). At the uplift it gives, statsmodels' own power
    formula (NormalIndPower.power) is 80% to 1e-12, from tiny groups to large and lopsided
    ones; statsmodels' solve_power lands within 1e-5 of it (its root finder stops early:
    5e-7 off in power at 2,000 a group)."""
    import math

    from statsmodels.stats.power import NormalIndPower

    from huitou.report.stats import minimum_detectable_uplift

    for treated, held in [(2, 2), (3, 40), (50, 50), (400, 21), (2_000, 2_000), (95_000, 5_000), (1_000_000, 10_000)]:
        ours = minimum_detectable_uplift(baseline, treated, held)
        h = NormalIndPower().solve_power(effect_size=None, nobs1=treated, alpha=0.05, power=0.8, ratio=held / treated, alternative="two-sided")
        angle = math.asin(math.sqrt(baseline)) + float(h) / 2
        theirs = None if angle >= math.pi / 2 else math.sin(angle) ** 2 - baseline
        assert (ours is None) == (theirs is None), (treated, held)
        if ours is None:
            continue
        assert abs(ours - theirs) < 1e-5, (treated, held, ours, theirs)
        effect = 2 * math.asin(math.sqrt(baseline + ours)) - 2 * math.asin(math.sqrt(baseline))
        power = NormalIndPower().power(effect, nobs1=treated, alpha=0.05, ratio=held / treated, alternative="two-sided")
        assert abs(power - 0.8) < 1e-12, (treated, held, power)
