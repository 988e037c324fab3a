"""Email over SMTP: a connection per message in flight, STARTTLS or SSL, authentication.

Each message (written by mime.py) is text, or multipart/alternative with the HTML when
the template made one, with
Message-ID `<idempotency key@sender's domain>` (the same on every retry, so a receiver
can drop a duplicate) and, per RFC 8058, List-Unsubscribe with the recipient's own token
plus List-Unsubscribe-Post for one-click unsubscribe.
"""

from __future__ import annotations

import datetime as dt
import re
import smtplib
import ssl
from collections.abc import Mapping
from email.utils import format_datetime, getaddresses
from typing import Any

from ..i18n import _
from ..project import cleartext_auth
from ..unsubscribe import make_token, unsubscribe_link
from .channels import ChannelDown, ConfigError, Deadline, DeliveryError, Message, secret
from .mime import LINE, Composed, address, compose, header_text, mailbox

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


def _handed(message: Message) -> dt.datetime:
    """The Date: when the run handed the message over, on its clock (a replay's: --now's)."""
    return dt.datetime.fromtimestamp(message.handed_at, dt.UTC) if message.handed_at else dt.datetime.now(dt.UTC)


class SmtpAdapter:
    def __init__(self, channel: str, config: Mapping[str, Any]) -> None:
        smtp = config["smtp"]
        self.channel = channel
        self.host = str(smtp["host"])
        self.security = str(smtp.get("security", "starttls"))
        self.port = int(smtp.get("port") or DEFAULT_PORTS[self.security])
        self.timeout = float(smtp.get("timeout", 30))
        what = f"channel '{channel}' smtp"
        self.username = secret(smtp, "username_env", what)
        self.password = secret(smtp, "password_env", what)
        if bool(self.username) != bool(self.password):
            raise ConfigError(_("{what}: set both username_env and password_env, or neither", what=what))
        if problem := cleartext_auth(channel, dict(smtp)):
            raise ConfigError(
                _("{problem}; use security: starttls (or ssl), or say plaintext_auth: true for a relay on a trusted network (HT509)", problem=problem)
            )
        sender = str(config.get("from") or "")
        parsed = [a for _, a in getaddresses([sender]) if "@" in a]
        if not parsed:
            raise ConfigError(_("channel '{channel}' needs `from`, the sender's address (e.g. 'Shop <care@shop.example>')", channel=channel))
        try:
            self.envelope_from, self.sender = address(parsed[0])[0], mailbox(sender)
            self.reply_to = mailbox(str(config["reply_to"])) if config.get("reply_to") else None
        except ValueError as exc:
            raise ConfigError(
                _(
                    "channel '{channel}': {reason} (`from` and `reply_to` are addresses such as 'Shop <care@shop.example>')",
                    channel=channel,
                    reason=exc,
                )
            ) from None
        self.domain = self.envelope_from.rsplit("@", 1)[1]
        self.unsubscribe_url = str(config.get("unsubscribe_url") or "")
        if not self.unsubscribe_url:
            raise ConfigError(
                _("channel '{channel}' needs `unsubscribe_url`: marketing email must carry a one-click List-Unsubscribe (RFC 8058)", channel=channel)
            )
        if not re.fullmatch(r"(https?://|mailto:)[!#-;=?-~]+", self.unsubscribe_url):  # printable ASCII but space, quote, < and >
            raise ConfigError(
                _(
                    "channel '{channel}': unsubscribe_url {url} is not an http(s) or mailto URL of printable ASCII "
                    "(percent-encode spaces and other characters, e.g. %20)",
                    channel=channel,
                    url=repr(self.unsubscribe_url),
                )
            )
        self.unsubscribe_secret = secret(config, "unsubscribe_secret_env", f"channel '{channel}'")
        if not self.unsubscribe_secret:
            raise ConfigError(
                _(
                    "channel '{channel}' needs `unsubscribe_secret_env`, the environment variable holding the secret that signs unsubscribe tokens",
                    channel=channel,
                )
            )
        self._conn: smtplib.SMTP | None = None

    def build(self, message: Message) -> Composed:
        """The message's bytes; ValueError when the recipient is not one address."""
        content = message.content
        to, utf8 = address(str(message.to))
        subject = content.get("subject") or ""
        token = make_token(str(self.unsubscribe_secret), message.customer_id, message.channel)
        headers = [
            ("From", self.sender),
            ("To", to),
            *([("Reply-To", self.reply_to)] if self.reply_to else []),
            ("Subject", header_text(subject, LINE - len("Subject: "))),
            ("Date", format_datetime(_handed(message))),
            ("Message-ID", self.message_id(message)),
            ("List-Unsubscribe", f"<{unsubscribe_link(self.unsubscribe_url, token)}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
        return Composed(compose(headers, content.get("body") or "", content.get("html") or None), to, utf8)

    def message_id(self, message: Message) -> str:
        return f"<{message.key}@{self.domain}>"

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        conn: smtplib.SMTP = smtplib.SMTP_SSL(timeout=self.timeout, context=context) if self.security == "ssl" else smtplib.SMTP(timeout=self.timeout)
        conn._host = self.host  # type: ignore[attr-defined]  # STARTTLS checks the certificate against it; connect() below does not set it
        # `timeout` bounds the whole opening (greeting, TLS, login), not each read: a
        # server that trickles its greeting a byte at a time is cut off at it too.
        limit = Deadline(self.timeout, lambda: getattr(conn, "sock", None))
        try:
            with limit:
                conn.connect(self.host, self.port)
                if self.security == "starttls":
                    conn.starttls(context=context)
                if self.username:
                    conn.login(self.username, str(self.password))
        except (OSError, smtplib.SMTPException) if limit.expired else () as exc:  # noqa: B030
            conn.close()
            raise DeliveryError(
                f"smtp {self.host}:{self.port}: no whole answer within {self.timeout:g}s ({type(exc).__name__})", transient=True
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise ChannelDown(f"smtp {self.host}:{self.port}: the server's TLS certificate was rejected ({exc.verify_message})") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelDown(f"smtp {self.host}:{self.port}: authentication refused ({exc.smtp_code} {_text(exc.smtp_error)})") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelDown(f"smtp {self.host}:{self.port}: {exc} (check `security` and the credentials)") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp {self.host}:{self.port}: cannot connect: {exc}", transient=True) from None
        return conn

    def deliver(self, message: Message) -> str | None:
        try:
            email = self.build(message)
        except ValueError as exc:  # planning suppresses such addresses; a plan file may be older
            raise DeliveryError(f"cannot write this email: {exc}", transient=False) from None
        if self._conn is None:
            self._conn = self._connect()
        if email.utf8 and not self._conn.has_extn("smtputf8"):
            raise DeliveryError(f"smtp {self.host}:{self.port} does not offer SMTPUTF8, which the address {message.to!r} needs", transient=False)
        conn = self._conn
        limit = Deadline(self.timeout, lambda: getattr(conn, "sock", None))  # the whole exchange, as in _connect
        try:
            with limit:
                conn.sendmail(self.envelope_from, [email.to], email.data, mail_options=["SMTPUTF8"] if email.utf8 else [])
        except (OSError, smtplib.SMTPException) if limit.expired else ():  # noqa: B030
            self._drop()
            raise DeliveryError(
                f"smtp {self.host}:{self.port}: no whole answer within {self.timeout:g}s (delivery unknown; retried under the same Message-ID)",
                transient=True,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            self._reset()
            raise DeliveryError(f"smtp {code} {_text(text)}", transient=400 <= code < 500) from None
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise DeliveryError(f"smtp {exc.smtp_code} {_text(exc.smtp_error)}", transient=400 <= exc.smtp_code < 500) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise DeliveryError(
                f"smtp connection lost: {exc or type(exc).__name__} (the server did not confirm; retried under the same Message-ID)",
                transient=True,
            ) from None
        return self.message_id(message)

    def _reset(self) -> None:
        """After a refused message the session continues with RSET; a broken one is dropped."""
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()


def _text(value: bytes | str) -> str:
    return (value.decode(errors="replace") if isinstance(value, bytes) else str(value)).replace("\n", " ")
