"""An email as the bytes SMTP carries: headers and MIME parts written directly.

Why not the email package: `EmailMessage` with policy SMTP took 4.3 ms of CPU a message
here (every header parsed into a tree and folded again), most of a core at 120 messages a
second. And it wrote a List-Unsubscribe longer than 78 characters as RFC 2047 encoded
words, which receivers do not decode in that header (RFC 2369: URLs in angle brackets),
so the one-click unsubscribe did not work there. Here the few header shapes huitou writes
are written by rules a reader can check:

- Header text from templates and customer data (the subject) loses every control
  character, CR and LF included: it is one header, never "…\r\nBcc: …".
- Text that is not ASCII (or has a word too long for a line) is RFC 2047 encoded words
  of whole characters; ASCII is folded at spaces. No header line passes 78 characters
  but the Message-ID and List-Unsubscribe's URL, which have no space to break at.
- Bodies are 7bit when printable ASCII with short lines, base64 otherwise, so no server
  needs 8BITMIME; line ends are CRLF before encoding (RFC 2045's canonical form).
- An address whose domain is not ASCII is sent in its IDNA form; one whose local part is
  not ASCII needs the server's SMTPUTF8 (`Composed.utf8`).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from email.utils import formataddr, getaddresses

LINE = 78  # RFC 5322's recommended line length
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+")  # controls, C1, bidi (inert.py)
_LINE_ENDS = re.compile(r"\r\n|\r|\n")
_NOT_7BIT = re.compile(r"[^\t\r\n\x20-\x7e]")  # 7bit is printable ASCII, tabs and line ends (RFC 2045)
# 36 bytes are 48 base64 characters, an encoded word "=?utf-8?b?…?=" of 60: within RFC
# 2047's 75, and within 78 after a header's name.
_WORD_BYTES = 36


@dataclass(frozen=True)
class Composed:
    data: bytes
    to: str  # the recipient as written (its domain in IDNA form)
    utf8: bool  # the recipient's address is not ASCII: the server must offer SMTPUTF8


def header_text(value: str, room: int) -> str:
    """Unstructured header text (`room`: characters the line has left after the name).

    >>> header_text("Hello\\r\\nBcc: all@evil.example", 60)
    'Hello Bcc: all@evil.example'
    >>> header_text("谢谢您", 60)
    '=?utf-8?b?6LCi6LCi5oKo?='
    """
    text = " ".join(_CONTROLS.sub(" ", value).split())
    if text.isascii() and all(len(word) <= room for word in text.split(" ")):
        return _fold(text.split(" "), room)
    return _fold([_encoded(chunk) for chunk in _chunks(text)], room)


def _fold(words: list[str], room: int) -> str:
    """Words joined by spaces, a new line (CRLF and a space) where one would pass LINE."""
    lines, width = [""], LINE - room
    for word in words:
        if lines[-1] and width + 1 + len(word) > LINE:
            lines.append("")
            width = 0
        lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
        width += len(word) + 1
    return "\r\n ".join(lines)


def _chunks(text: str) -> list[str]:
    """Whole characters, at most _WORD_BYTES of UTF-8 a chunk."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        n = len(char.encode())
        if size + n > _WORD_BYTES:
            out.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += n
    return [*out, "".join(current)]


def _encoded(chunk: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(chunk.encode()).decode()}?="


def mailbox(value: str) -> str:
    """A configured address ("Shop <care@shop.example>") as a header writes it: the
    display name quoted or encoded, the domain in its IDNA form.

    >>> mailbox("回头小店 <care@shop.example.cn>")
    '=?utf-8?b?5Zue5aS05bCP5bqX?= <care@shop.example.cn>'
    """
    try:
        return ", ".join(formataddr((name, address(addr)[0]), charset="utf-8") for name, addr in getaddresses([value]) if addr)
    except ValueError:  # name the whole value, not the piece the parser split off
        raise ValueError(f"{value!r} is not an address") from None


def address(value: str) -> tuple[str, bool]:
    """(the address to write, whether it needs SMTPUTF8); ValueError when it is not one.

    >>> address("a@例子.中国")
    ('a@xn--fsqu00a.xn--fiqs8s', False)
    >>> address("用户@例子.中国")
    ('用户@例子.中国', True)
    """
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or _CONTROLS.search(value) or any(c in value for c in ' <>(),;:"[]\\'):
        raise ValueError(f"{value!r} is not one email address")
    if not local.isascii():
        return value, True
    try:
        return f"{local}@{domain.encode('idna').decode()}", False
    except UnicodeError:
        raise ValueError(f"{value!r}: the domain is not a valid internationalised name") from None


def part(text: str, subtype: str) -> bytes:
    """One text part: its headers and body, CRLF line ends, 7bit or base64."""
    canonical = _LINE_ENDS.sub("\r\n", text)
    if not _NOT_7BIT.search(canonical) and all(len(line) <= 998 for line in canonical.split("\r\n")):
        encoding, body = "7bit", canonical.encode()
    else:
        encoding, body = "base64", base64.encodebytes(canonical.encode()).replace(b"\n", b"\r\n")
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
    return head.encode() + body


def compose(headers: list[tuple[str, str]], text: str, html: str | None) -> bytes:
    """A message: `headers` as given (already written by the functions above), then the
    text, or the text and the HTML as multipart/alternative."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers) + "MIME-Version: 1.0\r\n"
    plain = part(text, "plain")
    if html is None:
        return head.encode() + plain
    rich = part(html, "html")
    boundary = "=_huitou_" + secrets.token_hex(12)
    while boundary.encode() in plain or boundary.encode() in rich:  # 7bit text could hold anything
        boundary = "=_huitou_" + secrets.token_hex(12)
    mark = f"--{boundary}\r\n".encode()
    head += f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
    return head.encode() + mark + plain + b"\r\n" + mark + rich + f"\r\n--{boundary}--\r\n".encode()
