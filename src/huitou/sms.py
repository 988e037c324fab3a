"""SMS length rules: GSM-7 (160 / 153 per part) and UCS-2 (70 / 67 per part).

A single character outside the GSM-7 alphabet (any Chinese character, an emoji, a curly
quote) switches the whole message to UCS-2. GSM-7 extension characters count twice.
UCS-2 counts UTF-16 code units, so an emoji outside the basic plane counts twice.

>>> measure("Hello").encoding, measure("Hello").segments
('gsm7', 1)
>>> m = measure("【回头小店】亲，您的包裹已签收，用得还好吗？回T退订")
>>> (m.encoding, m.units, m.segments)
('ucs2', 26, 1)
>>> measure("a" * 161).segments
2
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = set("^{}\\[~]|€\f")

LIMITS = {"gsm7": (160, 153), "ucs2": (70, 67)}


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # gsm7 | ucs2
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int

    @property
    def single_limit(self) -> int:
        return LIMITS[self.encoding][0]


def measure(text: str) -> SmsLength:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        encoding = "gsm7"
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    else:
        encoding = "ucs2"
        units = len(text.encode("utf-16-le")) // 2
    single, part = LIMITS[encoding]
    segments = 0 if units == 0 else 1 if units <= single else -(-units // part)
    return SmsLength(encoding, units, segments)


def compose(body: str, signature: str = "", opt_out: str = "") -> str:
    """The text the phone receives: signature first (as China's gateways do), opt-out last,
    each joined as its script wants: nothing between Chinese or Japanese text ("...领取回T退订"),
    a space between words of alphabetic scripts ("...20% off. Reply STOP").

    >>> compose("Your order shipped. 20% off your next one.", "[Shop]", "Reply STOP")
    '[Shop] Your order shipped. 20% off your next one. Reply STOP'
    >>> compose("新品已到，欢迎选购。", "【回头小店】", "回T退订")
    '【回头小店】新品已到，欢迎选购。回T退订'
    """
    return _join(_join(signature, body.strip()), opt_out)


def _join(left: str, right: str) -> str:
    if not left or not right or left[-1].isspace() or right[0].isspace() or _wide(left[-1]) or _wide(right[0]):
        return left + right
    return f"{left} {right}"


def _wide(ch: str) -> bool:
    """A character of a script written without spaces (CJK, full-width punctuation)."""
    return unicodedata.east_asian_width(ch) in ("W", "F")
