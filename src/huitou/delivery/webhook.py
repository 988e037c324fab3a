"""Webhook over HTTP(S): SMS gateways, WeChat and IM providers behind a small relay.

POST of one JSON object per message, with
- `Idempotency-Key: <key>`: the same on every retry, so the receiver drops a duplicate;
- `X-Huitou-Timestamp: <unix seconds>` and, when `secret_env` is set,
  `X-Huitou-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>` (the timestamp
  inside the signed text stops replays; see docs/delivery.md for the check).
2xx is delivered (the response's JSON `id` or `message_id`, when given, is recorded);
409 is delivered too (the receiver already holds this Idempotency-Key); 408, 429 and 5xx
are transient (Retry-After honoured), any other status is permanent.

An adapter is one kept-alive connection (the standard library's http.client: a tenth of
the CPU time a request took through httpx, which bounded a channel at 32 in flight); a
channel has one adapter per message in flight (channels.open_adapters).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import math
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..i18n import _
from .channels import ConfigError, Deadline, DeliveryError, Message, secret


def _utc(instant: float) -> str | None:
    """When the run handed the message over, on its clock (a replay's is --now's)."""
    return dt.datetime.fromtimestamp(instant, dt.UTC).isoformat(timespec="seconds") if instant else None


class WebhookAdapter:
    def __init__(self, channel: str, config: Mapping[str, Any]) -> None:
        hook = config["webhook"]
        self.url = str(hook["url"])
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(_("channel '{channel}' webhook: {url} is not an http(s) URL", channel=channel, url=repr(self.url)))
        self.https, self.host, self.port = parts.scheme == "https", parts.hostname, parts.port
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = float(hook.get("timeout", 10))
        self.secret = secret(hook, "secret_env", f"channel '{channel}' webhook")
        # The system's trust store (and SSL_CERT_FILE), like the SMTP adapter.
        self.context = ssl.create_default_context() if self.https else None
        self._conn: http.client.HTTPConnection | None = None

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
            "handed_at": _utc(message.handed_at),
            "text": content.get("body"),
            **{k: content[k] for k in ("subject", "html", "segments") if content.get(k) is not None},
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def headers(self, body: bytes, key: str) -> dict[str, str]:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": key,
            "X-Huitou-Timestamp": stamp,
            "User-Agent": f"huitou/{__version__}",
            "Connection": "keep-alive",
        }
        if self.secret:
            digest = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers["X-Huitou-Signature"] = f"sha256={digest}"
        return headers

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def _post(self, body: bytes, key: str) -> tuple[http.client.HTTPResponse, bytes]:
        """One request; on a kept-alive connection the server has closed meanwhile (it
        answers nothing), once more on a new one: the Idempotency-Key makes that safe."""
        reused = self._conn is not None
        try:
            conn = self._connection()
            conn.request("POST", self.target, body=body, headers=self.headers(body, key))
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if not reused:
                raise
            self.close()
            conn = self._connection()
            conn.request("POST", self.target, body=body, headers=self.headers(body, key))
            response = conn.getresponse()
        return response, response.read()

    def deliver(self, message: Message) -> str | None:
        body = self.payload(message)
        late = DeliveryError(
            f"no whole answer from {self.url} within {self.timeout:g}s (delivery unknown; retried under the same Idempotency-Key)",
            transient=True,
        )
        try:
            # `timeout` bounds the whole request, not each read: a receiver that trickles
            # its answer a byte at a time is cut off at it too.
            with Deadline(self.timeout, lambda: self._conn.sock if self._conn is not None else None) as limit:
                response, answer = self._post(body, message.key)
        except TimeoutError:
            self.close()
            raise late from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, a TLS failure, a malformed answer
            self.close()
            raise (late if limit.expired else DeliveryError(f"{self.url}: {exc or type(exc).__name__}", transient=True)) from None
        if limit.expired:
            self.close()
            raise late
        if response.will_close:
            self.close()
        status = response.status
        if 200 <= status < 300 or status == 409:
            return _provider_id(answer) or ("duplicate: the receiver already had this Idempotency-Key" if status == 409 else None)
        text = answer[:200].decode("utf-8", errors="replace").strip()
        detail = f"HTTP {status} {response.reason}: {text}".rstrip(": ")
        if status in (408, 429) or status >= 500:
            raise DeliveryError(detail, transient=True, retry_after=_retry_after(response.getheader("Retry-After", "")))
        raise DeliveryError(detail, transient=False)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _provider_id(answer: bytes) -> str | None:
    try:
        data = json.loads(answer)
    except ValueError:
        return None
    if isinstance(data, dict):
        for name in ("id", "message_id", "messageId"):
            if data.get(name) is not None:
                return str(data[name])
    return None


def _retry_after(value: str) -> float | None:
    """Seconds from a Retry-After header in seconds form (the HTTP-date form is ignored);
    a value past any wait (1e309, inf) counts as a day, which stops the channel.

    >>> _retry_after("30"), _retry_after("1e309"), _retry_after("nan"), _retry_after("Wed, 21 Oct")
    (30.0, 86400.0, None, None)
    """
    try:
        seconds = float(value)
    except ValueError:
        return None
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), 86400.0)
