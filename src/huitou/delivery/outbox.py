"""Outbox files: the channels people act on.

One CSV per channel and planned day, `<outbox>/<channel>-<YYYY-MM-DD>.csv` (the day of
send_at, the customer's local date), UTF-8 with a byte-order mark so spreadsheet programs
show Chinese text, every cell safe to open in one (huitou/spreadsheet.py: a cell that
would start a formula is written as text). Columns by kind: an SMS vendor upload (mobile, content), the phone
call list (phone, name, script, last orders), the parcel insert print list (name,
message, last orders); every file ends with the idempotency key.

Exactly once: a record is appended, flushed and fsynced before the ledger says `sent`.
If a run dies between the two, the retry finds the key already in the file and does not
write it again; a record cut short by the crash (no final line break) is moved aside when
the file is next opened, and a write that fails (a full disk) is taken back at once.

Never destroyed: files are opened without following links (a link is refused), never
truncated but for huitou's own torn record, and a file a person changed since huitou
wrote it (opened and saved in a spreadsheet, edited) is left as it is: the day's next
records go to <channel>-<day>-2.csv, and the send report says so. What huitou wrote into
each file (its length and digest) is kept in <outbox>/.huitou-written/.
"""

from __future__ import annotations

import base64
import csv
import errno
import hashlib
import io
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from ..inert import is_whole_phone
from ..spreadsheet import cell
from .channels import ChannelDown, DeliveryError, Message

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
        return {
            "send_at": message.send_at,
            "customer_id": message.customer_id,
            "name": extra.get("name"),
            "phone": message.to,
            "script": text,
            "last_orders": _orders(extra),
            "rule": rule,
        }
    if kind == "parcel_insert":
        return {"customer_id": message.customer_id, "name": extra.get("name"), "message": text, "last_orders": _orders(extra), "rule": rule}
    return {
        "send_at": message.send_at,
        "customer_id": message.customer_id,
        "to": message.to,
        "subject": content.get("subject"),
        "text": text,
        "rule": rule,
    }


class OutboxAdapter:
    def __init__(self, channel: str, kind: str, directory: Path, ahead: bool = False) -> None:
        self.channel, self.kind, self.directory = channel, kind, directory
        self.ahead = ahead  # records written before their time: each says when (send_at)
        self._days: dict[str, _Day] = {}  # per planned day: its files' keys and the file written
        self.notes: list[str] = []  # what the send report says (a file a person changed)

    def _fields(self, message: Message) -> dict[str, Any]:
        fields = _fields(self.kind, message)
        return fields if "send_at" in fields or not self.ahead else {"send_at": message.send_at, **fields}

    def path_for(self, message: Message) -> Path:
        return self._day(message.send_at[:10]).path

    def _day(self, day: str) -> _Day:
        """The day's files: every key they hold, and the file the next record goes to."""
        if day not in self._days:
            self._days[day] = _Day(self.directory, f"{self.channel}-{day}", self.notes)
        return self._days[day]

    def deliver(self, message: Message) -> str | None:
        try:
            day = self._day(message.send_at[:10])
            if message.key in day.keys:
                return f"{day.path.name} (already in the file)"
            fields = {k: _cell(v) for k, v in self._fields(message).items()}
            fields["idempotency_key"] = message.key
            buffer = io.StringIO(newline="")
            writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator=_NEWLINE)
            if day.written.size == 0:
                writer.writeheader()
            writer.writerow(fields)
            day.append(((_BOM if day.written.size == 0 else "") + buffer.getvalue()).encode())
        except _Refused as exc:
            raise ChannelDown(str(exc)) from None
        except OSError as exc:
            raise DeliveryError(f"outbox {self.directory}: {exc.strerror or exc}", transient=True) from None
        day.keys.add(message.key)
        return day.path.name

    def close(self) -> None:
        for day in self._days.values():
            day.written.close()
        self._days.clear()


class _Refused(Exception):
    """An outbox file huitou will not write: the channel stops (ChannelDown)."""


_KEY = re.compile(rb"\b[0-9a-f]{32}\b")  # an idempotency key, however a person re-saved the file
_STATE = ".huitou-written"  # beside the files: what huitou wrote into each (its length and digest)


class _Written:
    """What huitou wrote into one file, kept beside it in <outbox>/.huitou-written/<file>.log:
    before each record, one line with the length and SHA-256 of the records completed so
    far and the record about to be appended. So a file a person changed since is told from
    one huitou wrote, and a record a crash left torn (a prefix of the one it was appending)
    from a line a person typed at the end. The last whole line counts (a line cut by a
    crash is ignored). Not fsynced: a process that dies leaves it to the kernel; only a
    power cut can lose a line, and then the file reads as changed and the day goes on in a
    new one, nothing lost. (An fsynced state file per record halved the outbox's speed.)"""

    def __init__(self, path: Path) -> None:
        self.path, self.state = path, path.parent / _STATE / (path.name + ".log")
        self.size, self.digest = 0, hashlib.sha256()
        self._log: Any = None

    def recorded(self) -> tuple[int, str, bytes] | None:
        """(length, digest, the record being appended) as last recorded; None: none."""
        try:
            lines = self.state.read_bytes().split(b"\n")
        except OSError:
            return None
        for line in reversed(lines[:-1]):  # the last line ends without a break: cut, or empty
            try:
                found = json.loads(line)
                return int(found["bytes"]), str(found["sha256"]), base64.b64decode(found["appending"])
            except (ValueError, KeyError, TypeError):
                continue
        return None

    def appending(self, record: bytes) -> None:
        """Record that `record` is about to be appended."""
        if self._log is None:
            self.state.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.state, "ab")  # noqa: SIM115 (open while the day's records are written; closed by close())
            self._log.write(b"\n")  # whatever a crash left cut on the last line ends here
        line = json.dumps({"bytes": self.size, "sha256": self.digest.hexdigest(), "appending": base64.b64encode(record).decode()})
        self._log.write(line.encode() + b"\n")
        self._log.flush()

    def grew(self, data: bytes) -> None:
        self.size += len(data)
        self.digest.update(data)

    def compact(self) -> None:
        """Start the log again from what is known now (one line; replaced whole)."""
        self.state.parent.mkdir(parents=True, exist_ok=True)
        part = self.state.with_suffix(".part")
        part.write_bytes(json.dumps({"bytes": self.size, "sha256": self.digest.hexdigest(), "appending": ""}).encode() + b"\n")
        os.replace(part, self.state)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class _Day:
    """A channel's files of one planned day: <channel>-<day>.csv, then -2, -3, ... when a
    person changed the one before. Nothing in them is ever truncated but a record huitou
    itself left torn, and that is kept aside in .huitou-written/."""

    def __init__(self, directory: Path, stem: str, notes: list[str]) -> None:
        self.keys: set[str] = set()
        number = 1
        while True:
            path = directory / (f"{stem}.csv" if number == 1 else f"{stem}-{number}.csv")
            if path.is_symlink() or (path.exists() and not path.is_file()):
                raise _Refused(f"outbox {path} is a link or not a file: huitou writes only files of its own there; remove it")
            if not path.exists():
                break
            data = path.read_bytes()
            self.keys |= _keys_in(data)
            written = _adopted(path, data)
            follows = directory / f"{stem}-{number + 1}.csv"
            if written is not None and not follows.exists() and not follows.is_symlink():
                self.path, self.written = path, written
                return
            if written is None and not follows.exists():
                notes.append(
                    f"outbox {path.name} was changed since huitou wrote it (opened and saved, edited): left as it is; "
                    f"the next records of that day go to {follows.name}"
                )
            number += 1
        self.path, self.written = path, _Written(path)

    def append(self, data: bytes) -> None:
        """Append one record and fsync it; a write that fails is taken back whole."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _Refused(f"outbox {self.path} is a link: huitou does not write through links; remove it") from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _Refused(f"outbox {self.path} is not a file: remove it")
            self.written.appending(data)
            try:
                if os.write(fd, data) != len(data):
                    raise OSError(errno.ENOSPC, "the disk took only part of the record")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, self.written.size)  # no half record left for the next one to follow
                raise
        finally:
            os.close(fd)
        self.written.grew(data)


def _keys_in(data: bytes) -> set[str]:
    """The idempotency keys a file holds: its key column, and any key-shaped text (a
    person's program may have re-quoted, re-ordered or re-encoded the file)."""
    text = data.decode("utf-8-sig", errors="replace")
    try:
        keys = {r.get("idempotency_key") or "" for r in csv.DictReader(io.StringIO(text, newline=""))}
    except csv.Error:
        keys = set()
    return (keys - {""}) | {k.decode() for k in _KEY.findall(data)}


def _adopted(path: Path, data: bytes) -> _Written | None:
    """What huitou wrote of an existing file, when the file is huitou's: the bytes it
    recorded as written, unchanged, and after them nothing, the record it was appending
    (a crash came before it could say so), or a torn part of that record (set aside, the
    file cut back to the records before it). None: a person changed the file."""
    written = _Written(path)
    recorded = written.recorded()
    if recorded is None:
        # No record of it (written by an older huitou): huitou's when it reads as huitou
        # writes, whole records of CRLF lines after a byte-order mark.
        if data.startswith(_BOM.encode()) and data.endswith(_NEWLINE.encode()) and b"\n" not in data.replace(_NEWLINE.encode(), b""):
            written.grew(data)
            written.compact()
            return written
        return None
    size, digest, appending = recorded
    if len(data) < size or hashlib.sha256(data[:size]).hexdigest() != digest:
        return None
    tail = data[size:]
    if tail and tail != appending and not (appending.startswith(tail) and len(tail) < len(appending)):
        return None  # something else after what huitou wrote: a person's line
    if tail and tail != appending:
        _set_aside(path, tail)
        with open(path, "r+b") as handle:  # keep the records before the torn one
            handle.truncate(size)
            handle.flush()
            os.fsync(handle.fileno())
        tail = b""
    written.grew(data[:size] + tail)
    written.compact()
    return written


def _set_aside(path: Path, torn: bytes) -> None:
    """A torn record, kept (never lost): .huitou-written/<file>.torn-<n>."""
    folder = path.parent / _STATE
    folder.mkdir(parents=True, exist_ok=True)
    number = len(list(folder.glob(path.name + ".torn-*"))) + 1
    (folder / f"{path.name}.torn-{number}").write_bytes(torn)


def _cell(value: object) -> str:
    """Every cell is safe to open in a spreadsheet (customer data could be a formula),
    except a phone number huitou normalised (+8613812345678): it cannot be one, and the
    vendor's import reads it whole, without an apostrophe before it."""
    if value is None:
        return ""
    text = str(value)
    return text if is_whole_phone(text) else cell(text.replace("\r\n", "\n").replace("\r", "\n"))
