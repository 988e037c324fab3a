"""HT106 and HT509: huitou.yaml settings that would expose what they should not.

- HT106 `data-path-not-data`: a data path (`data.*.path`) that is a file of the system
  (/proc, /sys, /dev, /run: /proc/self/environ is the environment), a directory, a pipe,
  a socket or a device. Such a path is refused when data is read; validate says so first.
- HT509 `cleartext-credentials`: an SMTP channel with a username and password and
  `security: none` would send the password in clear (AUTH PLAIN is base64, not
  encryption). `plaintext_auth: true` beside it says the relay is on a trusted network on
  purpose; `huitou send` refuses it otherwise, and its dry run shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..data.sources import DataError, check_data_file, is_system_path
from ..diagnostics import Diagnostic
from ..i18n import _
from ..loader import Document
from ..project import cleartext_auth


def without_system_dirs(config: dict[str, Any], root: Path) -> dict[str, Any]:
    """The configuration without templates or playbooks in a directory of the system
    (HT106 says so): nothing walks /proc/1 looking for templates."""
    out = dict(config)
    if isinstance(out.get("templates"), str) and is_system_path(root / out["templates"]):
        del out["templates"]
    if isinstance(out.get("playbooks"), list):
        out["playbooks"] = [p for p in out["playbooks"] if not (isinstance(p, str) and is_system_path(root / p))]
    return out


def run(doc: Document, root: Path) -> Iterator[Diagnostic]:
    data = doc.data.get("data") if isinstance(doc.data, dict) else None
    for name, spec in data.items() if isinstance(data, dict) else ():
        if isinstance(spec, dict) and isinstance(spec.get("path"), str):
            path = root / spec["path"]
            if not path.exists() and not path.is_symlink():
                continue  # data not there yet: a project is validated in CI without it
            try:
                check_data_file(path, f"data.{name}.path", contents=False)  # validate reads no data
            except DataError as exc:
                line, col = doc.position(("data", name, "path"))
                yield Diagnostic(doc.path, line, col, "HT106", str(exc), _("point it at the exported data file"))
    for key in ("templates", "playbooks"):
        value = doc.data.get(key) if isinstance(doc.data, dict) else None
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, str) and is_system_path(root / item):
                line, col = doc.position((key, i) if isinstance(value, list) else (key,))
                yield Diagnostic(
                    doc.path,
                    line,
                    col,
                    "HT106",
                    _("{key}: {item} is a directory of the system, not the project's {key}", key=key, item=item),
                    _("point it at the project's {key} directory", key=key),
                )
    channels = doc.data.get("channels") if isinstance(doc.data, dict) else None
    for name, channel in channels.items() if isinstance(channels, dict) else ():
        smtp = channel.get("smtp") if isinstance(channel, dict) else None
        if isinstance(smtp, dict) and (problem := cleartext_auth(str(name), smtp)):
            line, col = doc.position(("channels", name, "smtp", "security"))
            yield Diagnostic(
                doc.path,
                line,
                col,
                "HT509",
                problem,
                _("use security: starttls (or ssl); or, for a relay on a trusted network, say so: plaintext_auth: true"),
            )
