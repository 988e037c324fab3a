"""Webhook over HTTP(S): SMS gateways, WeChat and IM providers behind a small relay.

POST of one JSON object per message, with
- `Idempotency-Key: <key>`: the same on every retry, so the receiver drops a duplicate;
- `X-Huitou-Timestamp: <unix seconds>` and, when `secret_env` is set,
  `X-Huitou-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>` (the timestamp
  inside the signed text stops replays; see docs/delivery.md for the check).
2xx is delivered (the response's JSON `id` or `message_id`, when given, is recorded);
409 is delivered too (the receiver already holds this Idempotency-Key); 408, 429 and 5xx
are transient (Retry-After honoured), any other status is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Mapping
from typing import Any

import httpx

from .. import __version__
from .channels import DeliveryError, Message, secret


class WebhookAdapter:
    def __init__(self, channel: str, config: Mapping[str, Any]) -> None:
        hook = config["webhook"]
        self.url = str(hook["url"])
        self.timeout = float(hook.get("timeout", 10))
        self.secret = secret(hook, "secret_env", f"channel '{channel}' webhook")
        # The system's trust store (and SSL_CERT_FILE), like the SMTP adapter.
        self.client = httpx.Client(timeout=self.timeout, verify=ssl.create_default_context(), headers={"User-Agent": f"huitou/{__version__}"})

    def payload(self, message: Message) -> bytes:
        content = message.content
        body = {
            "idempotency_key": message.key,
            "channel": message.channel,
            "kind": message.kind,
            "to": message.to,
            "customer_id": message.customer_id,
            "playbook": message.playbook,
            "rule_id": message.rule_id,
            "intent": message.intent,
            "send_at": message.send_at,
            "text": content.get("body"),
            **{k: content[k] for k in ("subject", "html", "segments") if content.get(k) is not None},
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def headers(self, body: bytes, key: str) -> dict[str, str]:
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key, "X-Huitou-Timestamp": stamp}
        if self.secret:
            digest = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers["X-Huitou-Signature"] = f"sha256={digest}"
        return headers

    def deliver(self, message: Message) -> str | None:
        body = self.payload(message)
        try:
            response = self.client.post(self.url, content=body, headers=self.headers(body, message.key))
        except httpx.TimeoutException:
            raise DeliveryError(f"no answer from {self.url} within {self.timeout:g}s (delivery unknown; retried under the same Idempotency-Key)", transient=True) from None
        except httpx.TransportError as exc:
            raise DeliveryError(f"{self.url}: {exc or type(exc).__name__}", transient=True) from None
        status = response.status_code
        if 200 <= status < 300 or status == 409:
            return _provider_id(response) or ("duplicate: the receiver already had this Idempotency-Key" if status == 409 else None)
        detail = f"HTTP {status} {response.reason_phrase}: {response.text[:200].strip()}".rstrip(": ")
        if status in (408, 429) or status >= 500:
            raise DeliveryError(detail, transient=True, retry_after=_retry_after(response))
        raise DeliveryError(detail, transient=False)

    def close(self) -> None:
        self.client.close()


def _provider_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for name in ("id", "message_id", "messageId"):
            if data.get(name) is not None:
                return str(data[name])
    return None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header in seconds form (the HTTP-date form is ignored)."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
