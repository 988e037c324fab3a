"""Email over SMTP: one connection per run, STARTTLS or SSL, authentication.

Each message is multipart/alternative (text, and HTML when the template made one), with
Message-ID `<idempotency key@sender's domain>` (the same on every retry, so a receiver
can drop a duplicate) and, per RFC 8058, List-Unsubscribe with the recipient's own token
plus List-Unsubscribe-Post for one-click unsubscribe.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from collections.abc import Mapping
from email.errors import HeaderParseError
from email.message import EmailMessage
from email.headerregistry import Address
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from typing import Any

from .channels import ChannelDown, ConfigError, DeliveryError, Message, secret
from ..unsubscribe import make_token, unsubscribe_link

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


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
            raise ConfigError(f"{what}: set both username_env and password_env, or neither")
        sender = str(config.get("from") or "")
        parsed = [a for _, a in getaddresses([sender]) if "@" in a]
        if not parsed:
            raise ConfigError(f"channel '{channel}' needs `from`, the sender's address (e.g. 'Shop <care@shop.example>')")
        self.sender, self.envelope_from = sender, parsed[0]
        self.domain = parsed[0].rsplit("@", 1)[1]
        self.reply_to = config.get("reply_to")
        self.unsubscribe_url = config.get("unsubscribe_url")
        if not self.unsubscribe_url:
            raise ConfigError(f"channel '{channel}' needs `unsubscribe_url`: marketing email must carry a one-click List-Unsubscribe (RFC 8058)")
        self.unsubscribe_secret = secret(config, "unsubscribe_secret_env", f"channel '{channel}'")
        if not self.unsubscribe_secret:
            raise ConfigError(f"channel '{channel}' needs `unsubscribe_secret_env`, the environment variable holding the secret that signs unsubscribe tokens")
        self._conn: smtplib.SMTP | None = None

    def build(self, message: Message) -> EmailMessage:
        content = message.content
        email = EmailMessage(policy=SMTP)
        email["From"] = self.sender
        email["To"] = Address(addr_spec=str(message.to))
        if self.reply_to:
            email["Reply-To"] = str(self.reply_to)
        email["Subject"] = content.get("subject") or ""
        email["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
        email["Message-ID"] = f"<{message.key}@{self.domain}>"
        token = make_token(str(self.unsubscribe_secret), message.customer_id, message.channel)
        email["List-Unsubscribe"] = f"<{unsubscribe_link(str(self.unsubscribe_url), token)}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email.set_content(content.get("body") or "")
        if content.get("html"):
            email.add_alternative(content["html"], subtype="html")
        return email

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        try:
            if self.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    conn.starttls(context=context)
            if self.username:
                conn.login(self.username, str(self.password))
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
        except (ValueError, HeaderParseError) as exc:  # an address the email package cannot write
            raise DeliveryError(f"cannot write this email: {exc}", transient=False) from None
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.send_message(email, from_addr=self.envelope_from, to_addrs=[str(message.to)])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            self._reset()
            raise DeliveryError(f"smtp {code} {_text(text)}", transient=400 <= code < 500) from None
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise DeliveryError(f"smtp {exc.smtp_code} {_text(exc.smtp_error)}", transient=400 <= exc.smtp_code < 500) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise DeliveryError(f"smtp connection lost: {exc or type(exc).__name__} (the server did not confirm; retried under the same Message-ID)", transient=True) from None
        return email["Message-ID"]

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

