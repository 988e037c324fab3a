"""URLs as huitou shows or stores them: with their query values hidden.

A gateway URL may carry an app key or a signature in its query string (validate refuses
the usual names, HT504, but not every gateway's). Wherever a URL reaches a report, the
ledger's error column or a log line, its query values are replaced by `***`.

>>> redact_url("https://sms.example/v1/send?appkey=abc123&sign=ffee&to=1")
'https://sms.example/v1/send?appkey=***&sign=***&to=***'
>>> redact_urls("no answer from https://u:pw@im.example/hook?t=1 within 5s")
'no answer from https://***@im.example/hook?t=*** within 5s'
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I)


def redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that could not be parsed>"
    netloc = "***@" + parts.netloc.rsplit("@", 1)[1] if "@" in parts.netloc else parts.netloc
    query = re.sub(r"=[^&;]*", "=***", parts.query)
    fragment = "***" if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_urls(text: str) -> str:
    """Every URL in a message, redacted."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
