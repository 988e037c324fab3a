"""Text of the public or of a provider made inert where huitou shows or sends it.

A name, a file's column or a gateway's error body can hold characters a terminal obeys
(ESC sequences that retitle the window or clear the screen, C1 controls such as U+009B,
the 8-bit CSI), characters that reorder what a reader sees (bidi controls: U+202E makes
"txt.exe" read "exe.txt"), or text GitHub turns into a mention or a link in a pull-request
comment. Three uses:

- `shown`: for a terminal or a log: every such character written as its escape, so the
  reader sees that it is there and nothing obeys it.
- `sendable`: for a message (an SMS, a subject, a call list): removed. Bidi controls are
  removed too, a documented choice (docs/security.md): a customer's name in Arabic or
  Hebrew reads right without them; an override inside a message is only a disguise.
- `markdown_inert`: for Markdown meant for GitHub: a zero-width space after `@`, inside
  `://` and `www.`, and after `#` before a digit, so no mention, autolink or issue link.

>>> shown("a\\x1b]0;PWNED\\x07b\\u202ec\\x9b")
'a\\\\x1b]0;PWNED\\\\x07b\\\\u202ec\\\\x9b'
>>> sendable("Ali\\u202ece\\x85 \\x1b[2J")
'Alice [2J'
>>> markdown_inert("@octocat see https://x.example and #12") == "@\\u200boctocat see https:\\u200b//x.example and #\\u200b12"
True
"""

from __future__ import annotations

import re

# C0 controls but tab and line feed, DEL, C1, and the bidi and other invisible format
# characters that change what a reader sees (U+061C, U+200E-F, U+202A-E, U+2066-9).
_FORMAT = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f{_FORMAT}]")
# For messages: tabs and line breaks (CR LF too) are the template's own.
UNSENDABLE = f"[\x00-\x08\x0b\x0c\x0e-\x1f{_FORMAT}]"
_UNSENDABLE = re.compile(UNSENDABLE)
# The same class for DuckDB's regular expressions (RE2), which a SQL text cannot carry raw.
UNSENDABLE_SQL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\x{061c}\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}]"
_ZWSP = "\u200b"
_LINKS = re.compile(r"(@)|(:)(?=//)|(\bwww)(?=\.)|(#)(?=\d)", re.IGNORECASE)


def shown(text: str) -> str:
    """Every control and bidi character as its escape (\\x1b, \\u202e)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def sendable(text: str) -> str:
    """The text without control and bidi characters (tab, CR LF line breaks kept)."""
    return _UNSENDABLE.sub("", text)


def markdown_inert(text: str) -> str:
    """The text with a zero-width space where GitHub would make a mention or a link."""
    return _LINKS.sub(lambda m: m[0] + _ZWSP, text)


_WHOLE_PHONE = re.compile(r"\+[1-9]\d{6,14}")  # E.164, as data/contacts.py's normalise_phones writes it


def is_whole_phone(text: str) -> bool:
    """A value written as a normalised phone: nothing a spreadsheet would run, shown whole."""
    return _WHOLE_PHONE.fullmatch(text) is not None
