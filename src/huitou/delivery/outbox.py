"""Outbox files: the channels people act on.

One CSV per channel and planned day, `<outbox>/<channel>-<YYYY-MM-DD>.csv` (the day of
send_at, the customer's local date), UTF-8 with a byte-order mark so spreadsheet programs
show Chinese text, every cell safe to open in one (huitou/spreadsheet.py: a cell that
would start a formula is written as text). Columns by kind: an SMS vendor upload (mobile, content), the phone
call list (phone, name, script, last orders), the parcel insert print list (name,
message, last orders); every file ends with the idempotency key.

Exactly once: a record is appended, flushed and fsynced before the ledger says `sent`.
If a run dies between the two, the retry finds the key already in the file and does not
write it again; a record cut short by the crash (no final line break) is removed when the
file is next opened.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from ..data.contacts import is_whole_phone
from ..spreadsheet import cell
from .channels import DeliveryError, Message

_NEWLINE = "\r\n"  # the record separator; line breaks inside a field are written as \n
_BOM = "\ufeff"


def _orders(extra: dict[str, Any]) -> str:
    """Last orders as one cell: 'date category amount' per order, newest first."""
    rows = []
    for order in extra.get("last_orders") or []:
        if isinstance(order, dict):
            rows.append(" ".join(str(order[k]) for k in ("ordered_at", "category", "amount") if order.get(k) is not None))
    return "\n".join(rows)


def _fields(kind: str, message: Message) -> dict[str, Any]:
    content = message.content
    extra = content.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra)
    text = content.get("body") or ""
    rule = f"{message.playbook}/{message.rule_id}"
    if kind == "sms":
        return {"mobile": message.to, "content": text, "send_at": message.send_at, "customer_id": message.customer_id}
    if kind == "phone":
        return {"send_at": message.send_at, "customer_id": message.customer_id, "name": extra.get("name"), "phone": message.to,
                "script": text, "last_orders": _orders(extra), "rule": rule}
    if kind == "parcel_insert":
        return {"customer_id": message.customer_id, "name": extra.get("name"), "message": text, "last_orders": _orders(extra), "rule": rule}
    return {"send_at": message.send_at, "customer_id": message.customer_id, "to": message.to, "subject": content.get("subject"), "text": text, "rule": rule}


class OutboxAdapter:
    def __init__(self, channel: str, kind: str, directory: Path, ahead: bool = False) -> None:
        self.channel, self.kind, self.directory = channel, kind, directory
        self.ahead = ahead  # records written before their time: each says when (send_at)
        self._keys: dict[Path, set[str]] = {}  # per open file: the keys it holds

    def _fields(self, message: Message) -> dict[str, Any]:
        fields = _fields(self.kind, message)
        return fields if "send_at" in fields or not self.ahead else {"send_at": message.send_at, **fields}

    def path_for(self, message: Message) -> Path:
        return self.directory / f"{self.channel}-{message.send_at[:10]}.csv"

    def _open(self, path: Path) -> set[str]:
        """The keys already in the file, after cutting off a record a crash left half written."""
        if path in self._keys:
            return self._keys[path]
        keys: set[str] = set()
        if path.exists():
            raw = path.read_bytes()  # bytes: reading text would turn the CRLF separators into LF
            if raw and not raw.endswith(_NEWLINE.encode()):
                end = raw.rfind(_NEWLINE.encode())
                raw = raw[: end + len(_NEWLINE)] if end >= 0 else b""
                with open(path, "r+b") as handle:  # keep the records before the torn one
                    handle.truncate(len(raw))
                    handle.flush()
                    os.fsync(handle.fileno())
            text = raw.decode("utf-8-sig")
            for record in csv.DictReader(io.StringIO(text, newline="")):
                if record.get("idempotency_key"):
                    keys.add(record["idempotency_key"])
        self._keys[path] = keys
        return keys

    def deliver(self, message: Message) -> str | None:
        path = self.path_for(message)
        try:
            keys = self._open(path)
            if message.key in keys:
                return f"{path.name} (already in the file)"
            fields = {k: _cell(v) for k, v in self._fields(message).items()}
            fields["idempotency_key"] = message.key
            buffer = io.StringIO(newline="")
            writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator=_NEWLINE)
            fresh = not path.exists() or path.stat().st_size == 0
            if fresh:
                writer.writeheader()
            writer.writerow(fields)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as handle:
                handle.write(((_BOM if fresh else "") + buffer.getvalue()).encode())
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise DeliveryError(f"outbox {path}: {exc.strerror or exc}", transient=True) from None
        keys.add(message.key)
        return path.name

    def close(self) -> None:
        self._keys.clear()


def _cell(value: object) -> str:
    """Every cell is safe to open in a spreadsheet (customer data could be a formula),
    except a phone number huitou normalised (+8613812345678): it cannot be one, and the
    vendor's import reads it whole, without an apostrophe before it."""
    if value is None:
        return ""
    text = str(value)
    return text if is_whole_phone(text) else cell(text.replace("\r\n", "\n").replace("\r", "\n"))

