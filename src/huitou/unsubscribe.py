"""Per-recipient unsubscribe tokens for List-Unsubscribe links.

A token names the customer and channel and carries an HMAC-SHA256 tag under the shop's
secret (`unsubscribe_secret_env`), so the unsubscribe page can trust it without a lookup
and `huitou optout --token` can record it. URL-safe, no padding:
`base64url(customer_id 0x1F channel) "." base64url(first 16 bytes of the tag)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from .i18n import _


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), b"huitou-unsubscribe\x00" + payload, hashlib.sha256).digest()[:16]


def make_token(secret: str, customer_id: str, channel: str) -> str:
    """
    >>> token = make_token("s3cret", "0000014", "email")
    >>> read_token("s3cret", token)
    ('0000014', 'email')
    """
    payload = f"{customer_id}\x1f{channel}".encode()
    return f"{_b64(payload)}.{_b64(_tag(secret, payload))}"


def read_token(secret: str, token: str) -> tuple[str, str]:
    """(customer_id, channel); ValueError when the token is malformed or not ours."""
    try:
        body, tag = token.strip().split(".")
        payload = _unb64(body)
        given = _unb64(tag)
        customer, channel = payload.decode().split("\x1f")
    except (ValueError, UnicodeDecodeError):
        raise ValueError(_("not an unsubscribe token (expected two base64url parts joined by '.')")) from None
    if not hmac.compare_digest(given, _tag(secret, payload)):
        raise ValueError(_("the token's signature does not match this shop's unsubscribe secret"))
    return customer, channel


def unsubscribe_link(base_url: str, token: str) -> str:
    return f"{base_url}{'&' if '?' in base_url else '?'}token={token}"
