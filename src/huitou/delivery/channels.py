"""Channel adapters: what delivers a ledger row, chosen from huitou.yaml.

A channel's config names one way out: `smtp` (email), `webhook` (SMS gateways, WeChat and
IM providers) or `outbox` (files people act on: an SMS vendor upload, the call list, the
parcel insert print list). Secrets come from environment variables named in the config,
never from the file. Every adapter hands the row's idempotency key to the receiver
(Message-ID, Idempotency-Key header, a column of the outbox file), so a retry after a
crash can be recognised there.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import HuitouError
from ..i18n import _
from ..project import CHANNEL_KINDS, channel_kind
from ..redact import redact_urls, secret_env
from ..unsubscribe import read_token
from ..vocabulary import Intent
from .ledger import DueMessage

KINDS = CHANNEL_KINDS  # the channel kinds huitou.yaml knows (project.py)


class DeliveryError(Exception):
    """One message was not delivered. `transient`: worth retrying (SMTP 4xx, HTTP 429/5xx,
    timeouts, dropped connections); otherwise permanent (SMTP 5xx, HTTP 4xx)."""

    def __init__(self, detail: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(redact_urls(detail))  # it is shown and stored in the ledger: no query secrets
        self.transient = transient
        self.retry_after = retry_after


class ChannelDown(Exception):
    """The channel cannot deliver anything (authentication refused, TLS certificate
    rejected): the run stops that channel and leaves its rows pending."""

    def __init__(self, detail: str) -> None:
        super().__init__(redact_urls(detail))


class ConfigError(HuitouError):
    """The channel's configuration cannot work; found before anything is sent."""


@dataclass(frozen=True)
class Message:
    """A row handed to an adapter."""

    key: str
    customer_id: str
    channel: str
    kind: str
    to: str | None
    playbook: str
    rule_id: str
    intent: Intent
    send_at: str
    content: dict[str, Any]
    recovered: bool  # a retry after a run died with this row in flight
    handed_at: float = 0.0  # the run's clock when it was handed over (a replay's --now clock): the Date it carries
    timezone: str | None = None  # the customer's zone and the rule's quiet window: a retry is never set inside it
    quiet_hours: str | None = None

    @classmethod
    def from_row(cls, row: DueMessage, kind: str, handed_at: float) -> Message:
        return cls(
            row.idempotency_key,
            row.customer_id,
            row.channel,
            kind,
            row.recipient,
            row.playbook,
            row.rule_id,
            row.intent,
            row.send_at,
            json.loads(row.content or "{}"),
            row.recovered,
            handed_at,
            row.timezone,
            row.quiet_hours,
        )


class Adapter(Protocol):
    def deliver(self, message: Message) -> str | None:
        """Deliver or raise DeliveryError / ChannelDown; returns the receiver's id."""

    def close(self) -> None: ...


class Deadline:
    """A whole exchange with a receiver (connect, greeting, request, every byte of the
    answer) bounded in time: a socket timeout bounds each read, and a server that trickles
    a byte a second never trips it. Past `seconds`, the socket `sock()` returns is shut
    down, the blocked read ends in an error, and `expired` says why.

    >>> import socket, time
    >>> a, b = socket.socketpair()
    >>> with Deadline(0.2, lambda: a) as limit:
    ...     a.recv(1)  # nothing ever comes
    b''
    >>> limit.expired
    True
    """

    def __init__(self, seconds: float, sock: Callable[[], Any]) -> None:
        self.seconds, self.sock, self.expired = seconds, sock, False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        found = self.sock()
        if found is not None:
            try:
                found.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def secret(config: Mapping[str, Any], key: str, what: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of the environment variable named by config[key]; ConfigError when the
    config names one that is not set."""
    name = config.get(key)
    if not name:
        return None
    value = secret_env(str(name), env)
    if not value:
        raise ConfigError(_("{what}: the environment variable {name} (named by {key}) is not set", what=what, name=name, key=key))
    return value


def token_owner(channels: Mapping[str, Mapping[str, Any]], token: str) -> tuple[str, str]:
    """(customer_id, channel) of an unsubscribe token, checked against the secret of each
    channel that has one. ConfigError: no secret to check with; ValueError: not ours."""
    signing = [(name, config) for name, config in channels.items() if config.get("unsubscribe_secret_env")]
    if not signing:
        raise ConfigError(_("no channel in huitou.yaml has unsubscribe_secret_env: there is no secret to check the token with"))
    problem = ""
    for name, config in signing:
        try:
            return read_token(str(secret(config, "unsubscribe_secret_env", f"channel '{name}'")), token)
        except ValueError as exc:
            problem = str(exc)
    raise ValueError(problem)


# Messages in flight at once when huitou.yaml does not say (`concurrency`): SMTP servers
# take a few connections from one sender; HTTP gateways many requests. An outbox is one
# file, written one message at a time.
DEFAULT_CONCURRENCY = {"smtp": 4, "webhook": 8, "outbox": 1}


def open_adapters(name: str, config: Mapping[str, Any], root: Path) -> list[Adapter]:
    """The channel's adapters, one per message in flight (`concurrency`), each with a
    connection of its own (SMTP, HTTP keep-alive); an outbox has one."""
    first = open_adapter(name, config, root)
    way = next(w for w in ("smtp", "webhook", "outbox") if config.get(w))
    wanted = int(config.get("concurrency") or DEFAULT_CONCURRENCY[way])
    if way == "outbox" and wanted > 1:
        first.close()
        raise ConfigError(
            _("channel '{name}': an outbox is one file, written one message at a time; remove `concurrency` ({wanted})", name=name, wanted=wanted)
        )
    return [first, *(open_adapter(name, config, root) for _ in range(wanted - 1))]


def open_adapter(name: str, config: Mapping[str, Any], root: Path) -> Adapter:
    """The adapter for channel `name`; ConfigError when it has no way out or a missing secret."""
    kind = channel_kind(name, config)
    ways = [w for w in ("smtp", "webhook", "outbox") if config.get(w)]
    if len(ways) != 1:
        found = _("both {ways}", ways=_(" and ").join(ways)) if ways else _("none of them")
        raise ConfigError(
            _("channel '{name}' in huitou.yaml needs exactly one of smtp, webhook or outbox to deliver ({found} set)", name=name, found=found)
        )
    if ways[0] == "smtp":
        if kind != "email":
            said = _(
                "channel '{name}' is a {kind}: smtp delivers email only; use webhook or outbox", name=name, kind=kind or _("channel of unknown kind")
            )
            raise ConfigError(said)
        from .email import SmtpAdapter

        return SmtpAdapter(name, config)
    if ways[0] == "webhook":
        from .webhook import WebhookAdapter

        return WebhookAdapter(name, config)
    from .outbox import OutboxAdapter

    outbox = config["outbox"]
    path = Path(str(outbox["path"] if isinstance(outbox, Mapping) else outbox))
    return OutboxAdapter(name, kind, path if path.is_absolute() else root / path, sends_ahead(config))


def sends_ahead(config: Mapping[str, Any]) -> bool:
    """Whether the channel hands rows over before their time: only an outbox that says so
    (`outbox: {path, ahead: true}`), a file whose receiver schedules by its send_at
    column. Every other way out delivers a row when its send_at comes."""
    outbox = config.get("outbox")
    return isinstance(outbox, Mapping) and bool(outbox.get("ahead"))
