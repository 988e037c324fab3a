"""The floor for delivery: the plan's messages sent straight, without a ledger.

Reads the send rows of one channel from a JSONL plan, builds the same email (multipart,
the same headers) or the same signed JSON body, and sends them in one loop over one
connection (smtplib / httpx), nothing recorded. Prints {"sent": n, "seconds": s}, the
loop's time only.

Usage: python benchmarks/floor_send.py PLAN.jsonl email HOST PORT
       python benchmarks/floor_send.py PLAN.jsonl sms URL SECRET
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP

import httpx


def rows(path: str, channel: str) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["status"] == "send" and row["channel"] == channel:
                out.append(row)
    return out


def send_email(messages: list[dict], host: str, port: int) -> float:
    start = time.perf_counter()
    conn = smtplib.SMTP(host, port)
    conn.starttls(context=ssl.create_default_context())
    conn.login(os.environ["BENCH_USER"], os.environ["BENCH_PASSWORD"])
    for row in messages:
        content = row["content"]
        email = EmailMessage(policy=SMTP)
        email["From"] = "回头小店 <care@shop.example.cn>"
        email["To"] = row["to"]
        email["Subject"] = content["subject"] or ""
        email["Message-ID"] = f"<{row['idempotency_key']}@shop.example.cn>"
        email["List-Unsubscribe"] = "<https://shop.example.cn/unsubscribe?token=x>"
        email.set_content(content["body"] or "")
        if content.get("html"):
            email.add_alternative(content["html"], subtype="html")
        conn.send_message(email)
    conn.quit()
    return time.perf_counter() - start


def send_webhook(messages: list[dict], url: str, secret: str) -> float:
    start = time.perf_counter()
    with httpx.Client() as client:
        for row in messages:
            body = json.dumps({"idempotency_key": row["idempotency_key"], "to": row["to"], "text": row["content"]["body"]}, ensure_ascii=False).encode()
            stamp = str(int(time.time()))
            signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            response = client.post(url, content=body, headers={"Content-Type": "application/json", "Idempotency-Key": row["idempotency_key"],
                                                               "X-Huitou-Timestamp": stamp, "X-Huitou-Signature": f"sha256={signature}"})
            response.raise_for_status()
    return time.perf_counter() - start


if __name__ == "__main__":
    plan, channel, target, extra = sys.argv[1:5]
    messages = rows(plan, channel)
    seconds = send_email(messages, target, int(extra)) if channel == "email" else send_webhook(messages, target, extra)
    print(json.dumps({"sent": len(messages), "seconds": seconds}))
