"""The floor for delivery: the plan's messages sent straight, without a ledger.

Reads the send rows of one channel from a JSONL plan, builds the same email (huitou's
mime.py, the same headers) or the same signed JSON body, and sends them from CONCURRENCY
threads, each a loop over its share over a connection of its own (smtplib; http.client with
keep-alive, as huitou's webhook adapter), nothing recorded. Prints {"sent": n, "seconds": s},
the sending time only.

Usage: python benchmarks/floor_send.py PLAN.jsonl email HOST PORT [CONCURRENCY]
       python benchmarks/floor_send.py PLAN.jsonl sms URL SECRET [CONCURRENCY]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import smtplib
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import format_datetime
from urllib.parse import urlsplit

from huitou.delivery.mime import LINE, compose, header_text, mailbox  # the message written as huitou writes it


def rows(path: str, channel: str) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["status"] == "send" and row["channel"] == channel:
                out.append(row)
    return out


def send_email(messages: list[dict], host: str, port: int) -> None:
    conn = smtplib.SMTP(host, port)
    conn.starttls(context=ssl.create_default_context())
    conn.login(os.environ["BENCH_USER"], os.environ["BENCH_PASSWORD"])
    sender = mailbox("回头小店 <care@shop.example.cn>")
    for row in messages:
        content = row["content"]
        headers = [
            ("From", sender),
            ("To", row["to"]),
            ("Subject", header_text(content["subject"] or "", LINE - 9)),
            ("Date", format_datetime(dt.datetime.now(dt.UTC))),
            ("Message-ID", f"<{row['idempotency_key']}@shop.example.cn>"),
            ("List-Unsubscribe", "<https://shop.example.cn/unsubscribe?token=x>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
        conn.sendmail("care@shop.example.cn", [row["to"]], compose(headers, content["body"] or "", content.get("html") or None))
    conn.quit()


def send_webhook(messages: list[dict], url: str, secret: str) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    for row in messages:
        body = json.dumps({"idempotency_key": row["idempotency_key"], "to": row["to"], "text": row["content"]["body"]}, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        conn.request(
            "POST",
            parts.path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": row["idempotency_key"],
                "X-Huitou-Timestamp": stamp,
                "X-Huitou-Signature": f"sha256={signature}",
            },
        )
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    conn.close()


if __name__ == "__main__":
    plan, channel, target, extra = sys.argv[1:5]
    concurrency = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    messages = rows(plan, channel)
    shares = [messages[i::concurrency] for i in range(concurrency)]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        if channel == "email":
            done = list(pool.map(lambda share: send_email(share, target, int(extra)), shares))
        else:
            done = list(pool.map(lambda share: send_webhook(share, target, extra), shares))
    seconds = time.perf_counter() - start
    print(json.dumps({"sent": len(messages), "seconds": seconds}))
