"""URLs and secrets as huitou shows or stores them: query values and secrets hidden.

A gateway URL may carry an app key or a signature in its query string (validate refuses
the usual names, HT504, but not every gateway's). Wherever a URL reaches a report, the
ledger's error column or a log line, its query values are replaced by `***`.

>>> redact_url("https://sms.example/v1/send?appkey=abc123&sign=ffee&to=1")
'https://sms.example/v1/send?appkey=***&sign=***&to=***'
>>> redact_urls("no answer from https://u:pw@im.example/hook?t=1 within 5s")
'no answer from https://***@im.example/hook?t=*** within 5s'

Secrets live in environment variables that huitou.yaml names (`*_env`). Every one huitou
reads goes through `secret_env`, which remembers the value and the password inside it (of
a URL, or of a keyword string such as `host=db password=...`); `scrub` replaces them in any
text, and `Scrubbed` does so for everything the command line prints: whatever path an
error takes, the value is not shown.

>>> _ = secret_env("T_DOC_PG", {"T_DOC_PG": "host=db user=shop password='p@ss w0rd'"})
>>> scrub("cannot parse host=db user=shop password='p@ss w0rd', p@ss w0rd")
'cannot parse ***, ***'
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit, urlunsplit

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
    """Every URL in a message redacted, and every secret huitou read (a provider's reply
    can quote the request)."""
    return scrub(_URL.sub(lambda m: redact_url(m.group(0)), text))


_KNOWN: set[str] = set()  # secret values read this process, longest first when replaced
_SHORTEST = 4  # shorter parts are not replaced everywhere (they would garble the output)
_KEYWORD_PASSWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def secret_env(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of the environment variable `name` (None when unset or empty),
    remembered as a secret: `scrub` hides it and the password inside it from now on."""
    value = (os.environ if env is None else env).get(name) or None
    if value:
        remember(value)
    return value


def remember(value: str) -> None:
    """Hide `value` (and a password inside it) from everything huitou prints."""
    parts = {value, value.strip()}
    try:
        password = urlsplit(value.strip()).password
        if password:
            parts |= {password, unquote(password)}
    except ValueError:
        pass
    for found in _KEYWORD_PASSWORD.findall(value):
        parts |= {found, found.strip("'")}
    _KNOWN.update(p for p in parts if len(p) >= _SHORTEST)


@contextlib.contextmanager
def remembering() -> Iterator[None]:
    """A scope (one command run in-process) that starts knowing no secret and forgets
    what it learned when it ends, as a process does: a command scrubs what it read itself,
    never the words another run took for secrets."""
    before = set(_KNOWN)
    _KNOWN.clear()
    try:
        yield
    finally:
        _KNOWN.clear()
        _KNOWN.update(before)


def scrub(text: str) -> str:
    """The text with every remembered secret replaced by ***."""
    for value in sorted((v for v in _KNOWN if v in text), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


class Scrubbed(io.TextIOBase):
    """A text stream that scrubs what is written to it (the command line's stdout and
    stderr): no error path can print a secret huitou read."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(scrub(text) if _KNOWN else text)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
