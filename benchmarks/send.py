"""Benchmark delivery: messages per second from `huitou send --live` to a local SMTP server
(aiosmtpd) and a local HTTP webhook receiver, against the floor measured in the same run.

A generated shop (--customers, each with an email and a phone) and two rules sending to
everyone at once (email over SMTP, sms over a webhook), planned with `huitou plan`. Then,
per channel, each as its own process, median of --repeat runs, a fresh ledger each time:
  (b) huitou - `huitou send plan.jsonl --live --channel C`: the plan file checked, the
               rows added to the ledger, every message claimed and settled in the ledger
               (grouped into fsynced commits), no rate limit. Reported: the channel's
               delivery rate and the whole command's wall time.
  (a) floor  - benchmarks/floor_send.py: the same messages built the same way and sent with
               as many in flight (threads, SMTP connections, HTTP keep-alive), nothing
               recorded.
Two scenarios: servers that answer at once, at huitou's default concurrency; and servers
that take 50 ms a message, as providers do, with 8 SMTP connections and 32 webhook
requests in flight (issue 17's targets: 120/s and 500/s, the ledger under 15%).
The servers are the delivery tests' (tests/servers.py: aiosmtpd with STARTTLS and AUTH, an
HTTP receiver checking each signature), in this process, the same for both; every message
must arrive exactly once, or the run fails.

Usage: python benchmarks/send.py [--customers 5000] [--latency-customers 3000] [--repeat 3] [--only HEADING] [--write]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from docs_section import publish  # noqa: E402

from tests.servers import PASSWORD, USER, LocalCA, SmtpServer, WebhookServer  # noqa: E402  (the delivery tests' servers)

BIN = Path(sys.executable).parent
SECRET = "bench-secret"
PLAYBOOK = """version: 1
name: bench
timezone: Asia/Shanghai
rules:
  - {id: mail, intent: care, segment: order_count >= 1, when: {immediate: true, at: "00:00"}, channel: email, template: email/thanks.j2}
  - {id: text, intent: care, segment: order_count >= 1, when: {immediate: true, at: "00:00"}, channel: sms, template: sms/thanks.j2}
"""
CONFIG = """version: 1
name: bench
default_locale: zh-CN
data: {{orders: {{path: orders.csv}}, customers: {{path: customers.csv}}}}
channels:
  email:
    from: 回头小店 <care@shop.example.cn>
    unsubscribe_url: https://shop.example.cn/unsubscribe
    unsubscribe_secret_env: BENCH_UNSUB
    smtp: {{host: 127.0.0.1, port: {smtp}, security: starttls, username_env: BENCH_USER, password_env: BENCH_PASSWORD}}
  sms:
    signature: 【回头小店】
    webhook: {{url: "{url}", secret_env: BENCH_SECRET}}
"""


def make_shop(root: Path, customers: int, today: dt.date) -> None:
    (root / "rules").mkdir(parents=True)
    (root / "rules" / "bench.yaml").write_text(PLAYBOOK, encoding="utf-8")
    templates = {
        "email/thanks.j2": "{% block subject %}谢谢您，{{ customer.name }}{% endblock %}{% block text %}{{ customer.name }}，东西还好用吗？{% endblock %}"
        "{% block html %}<p>{{ customer.name }}，东西还好用吗？</p>{% endblock %}",
        "sms/thanks.j2": "{{ customer.name }}，东西还好用吗？",
    }
    for name, text in templates.items():
        path = root / "templates" / "zh-CN" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    with open(root / "customers.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "name", "phone", "email", "consent_sms", "consent_email"])
        w.writerows([f"c{i:06d}", f"顾客{i}", f"138{i:08d}", f"c{i:06d}@mail.example.cn", "true", "true"] for i in range(customers))
    with open(root / "orders.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "customer_id", "ordered_at", "amount"])
        w.writerows([f"o{i}", f"c{i:06d}", f"{today - dt.timedelta(days=5)} 10:00:00", "99.00"] for i in range(customers))


# (heading, seconds each server takes per message, concurrency per channel: None is
# huitou's default, customers: the --customers or --latency-customers argument)
SCENARIOS = (
    ("send", 0.0, {"email": None, "sms": None}, "customers"),
    ("send at provider latency", 0.05, {"email": 8, "sms": 32}, "latency_customers"),
)
TARGETS = {"email": 120, "sms": 500}  # messages per second at 50 ms a message (the issue's)
WAYS = {"email": "smtp", "sms": "webhook"}


def run_channel(
    root: Path,
    env: dict[str, str],
    channel: str,
    server: object,
    target: str,
    extra: str,
    concurrency: int,
    until: str,
    n: int,
    repeat: int,
) -> dict[str, float]:
    """(a) and (b) for one channel, `repeat` times each: rates and walls, medians."""
    floor, ours, walls = [], [], []
    received = server.arrivals  # type: ignore[attr-defined]
    for _ in range(repeat):
        received.raw.clear()
        received.delivered.clear()
        out = json.loads(
            subprocess.run(
                [sys.executable, str(HERE / "floor_send.py"), "plan.jsonl", channel, target, extra, str(concurrency)],
                cwd=root,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        assert len(received.raw) == out["sent"] == n and not received.duplicates(), "floor: every message once"
        floor.append(out["sent"] / out["seconds"])
        received.raw.clear()
        received.delivered.clear()
        shutil.rmtree(root / ".huitou", ignore_errors=True)
        start = time.perf_counter()
        # A fresh ledger each run, deliberately: the old one is gone on purpose.
        done = subprocess.run(
            [str(BIN / "huitou"), "send", "plan.jsonl", "--live", "--new-ledger", "--channel", channel, "--until", until, "-f", "json"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        walls.append(time.perf_counter() - start)
        if done.returncode:
            raise SystemExit(f"huitou send failed: {done.stdout}{done.stderr}")
        (report,) = json.loads(done.stdout)["channels"]
        assert report["sent"] == len(received.raw) == n and not received.duplicates(), "huitou: every message once"
        ours.append(report["sent"] / report["seconds"])
    return {
        "floor": statistics.median(floor),
        "huitou": statistics.median(ours),
        "wall": statistics.median(walls),
        "concurrency": concurrency,
    }


def main() -> None:
    from huitou.delivery.channels import DEFAULT_CONCURRENCY

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--latency-customers", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="put the results into docs/benchmarks.md")
    parser.add_argument("--only", choices=[s[0] for s in SCENARIOS], help="run one of the scenarios (default: both)")
    args = parser.parse_args()
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    until = (today + dt.timedelta(days=1)).isoformat()
    for heading, latency, concurrency, size in (s for s in SCENARIOS if args.only in (None, s[0])):
        n = getattr(args, size)
        results: dict[str, dict[str, float]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            ca = LocalCA(Path(tmp))
            with SmtpServer(ca, latency=latency) as smtp, WebhookServer(SECRET, latency=latency) as hook:
                env = {
                    **os.environ,
                    "BENCH_UNSUB": "u",
                    "BENCH_SECRET": SECRET,
                    "BENCH_USER": USER,
                    "BENCH_PASSWORD": PASSWORD,
                    "SSL_CERT_FILE": str(ca.ca_file),
                    "XDG_STATE_HOME": str(Path(tmp) / "state"),
                }  # the ledger witnesses of these runs stay in the run
                root = Path(tmp) / "shop"
                make_shop(root, n, today)
                config = CONFIG.format(smtp=smtp.port, url=hook.url)
                for channel, value in concurrency.items():
                    if value is not None:
                        config = config.replace(f"  {channel}:\n", f"  {channel}:\n    concurrency: {value}\n", 1)
                (root / "huitou.yaml").write_text(config, encoding="utf-8")
                subprocess.run(
                    [str(BIN / "huitou"), "plan", "--as-of", str(today), "--horizon", "1d", "--out", "plan.jsonl"],
                    cwd=root,
                    env=env,
                    check=True,
                    capture_output=True,
                )
                for channel, server, target, extra in (("email", smtp, "127.0.0.1", str(smtp.port)), ("sms", hook, hook.url, SECRET)):
                    places = concurrency[channel] or DEFAULT_CONCURRENCY[WAYS[channel]]
                    results[channel] = run_channel(root, env, channel, server, target, extra, places, until, n, args.repeat)
        command = f"--repeat {args.repeat} --{size.replace('_', '-')} {n}"
        publish(report_lines(heading, latency, results, n, command), args.write)


def report_lines(heading: str, latency: float, results: dict[str, dict[str, float]], n: int, command: str) -> list[str]:
    servers = "aiosmtpd with STARTTLS and AUTH, the delivery tests' HTTP receiver checking each signature"
    lines = [
        f"## {heading}",
        "",
        f"`python benchmarks/send.py {command}` on {platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()}), "
        f"{dt.date.today().isoformat()}. {n:,} messages per channel to servers on this machine ({servers}"
        + (f", each taking {latency * 1000:.0f} ms a message, as a provider does" if latency else "")
        + f"), median of {command.split()[1]} runs, in messages per second (higher is better).",
        "",
        "| channel | in flight | (a) floor: as many in flight, no ledger | (b) huitou send --live | b/a | (b) whole command, wall |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for channel, label in (("email", "email (SMTP)"), ("sms", "sms (webhook)")):
        r = results[channel]
        lines.append(
            f"| {label} | {r['concurrency']:.0f} | {r['floor']:,.0f}/s | {r['huitou']:,.0f}/s | {r['huitou'] / r['floor']:.2f} | {r['wall']:.2f} s |"
        )
    lines += [
        "",
        "(b)'s rate is its channel's: from the first message to the last, each one claimed in the ledger before it is handed over and settled after,",
        "the outcomes that came back and the claims in their places sharing an fsynced commit. The wall time adds start-up, the plan file's checks and adding the rows to the ledger.",
    ]
    if latency:
        verdicts = [
            f"{channel} {results[channel]['huitou']:,.0f}/s against {target}/s: {'met' if results[channel]['huitou'] >= target else 'not met'}"
            for channel, target in TARGETS.items()
        ]
        cost = max(1 - r["huitou"] / r["floor"] for r in results.values())
        verdicts.append(f"the ledger's cost at most {cost:.0%} against 15%: {'met' if cost < 0.15 else 'not met'}")
        lines += ["", "Targets (issue 17): " + "; ".join(verdicts) + "."]
    return [*lines, ""]


if __name__ == "__main__":
    main()
