"""HT504: secrets never live in YAML; they are read from environment variables.

A key named like a secret (password, token, api_key, secret, ...) with a literal value,
or a URL carrying a password or a token in its query string, is an error: YAML files are
committed and reviewed, so whatever is in them is as good as public.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..diagnostics import Diagnostic
from ..i18n import _
from ..loader import Document
from ..schema import SECRET_KEY

_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]+:[^/@\s]+@", re.I)
# A query parameter that names a credential: client_secret, auth_token, access_token,
# appkey, api_key, sign, signature, password, pwd, ...
_URL_TOKEN = re.compile(r"[?&;]([a-z0-9_.-]*(token|secret|passw|pwd|sign|sig|credential|auth|key)[a-z0-9_.-]*)=[^&;#\s]+", re.I)


def run(doc: Document) -> Iterator[Diagnostic]:
    yield from _walk(doc, doc.data, ())


def _walk(doc: Document, value: Any, path: tuple[str | int, ...]) -> Iterator[Diagnostic]:
    if isinstance(value, dict):
        for key, item in value.items():
            sub = (*path, key)
            if SECRET_KEY.search(str(key)) and isinstance(item, (str, int)) and str(item).strip():
                line, col = doc.position(sub)
                yield Diagnostic(
                    doc.path,
                    line,
                    col,
                    "HT504",
                    _("'{key}' holds a secret written into the file", key=key),
                    _("remove it and set `{key}_env: VARIABLE_NAME`; huitou reads the value from that environment variable", key=key),
                )
            else:
                yield from _walk(doc, item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(doc, item, (*path, i))
    elif isinstance(value, str) and (_URL_PASSWORD.match(value) or _URL_TOKEN.search(value)):
        line, col = doc.position(path)
        yield Diagnostic(
            doc.path,
            line,
            col,
            "HT504",
            _("this URL carries a password or token"),
            _("keep credentials out of URLs; use secret_env: VARIABLE_NAME for the signing secret"),
        )
