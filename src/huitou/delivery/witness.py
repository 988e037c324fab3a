"""What a project's ledger held, remembered outside the ledger.

The ledger is what keeps a message from going out twice and an opted-out customer from
hearing from the shop again. If it is deleted (a cleanup of .huitou/, a new server, a
restore that forgot it), an empty one must not silently take its place: everything
planned would go out again. So each time `huitou send` or `huitou optout` uses a ledger,
its identity (a random id stored in the ledger) and counts are written twice: beside
the ledger (`ledger.witness.json`: not matched by `rm ledger.sqlite*`) and in the user's state directory
($XDG_STATE_HOME/huitou/witness/, keyed by the ledger's absolute path), so that deleting
either the ledger alone or the whole .huitou/ directory is still noticed. A ledger that
is missing, or is not the one witnessed, is refused until `huitou send --new-ledger`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..i18n import N_, _


@dataclass(frozen=True)
class Witness:
    ledger_id: str
    sent: int
    optouts: int
    updated: str  # ISO 8601 UTC

    def what(self) -> str:
        held = [_("{n:,} {word}", n=n, word=_(what)) for n, what in ((self.sent, N_("sent messages")), (self.optouts, N_("opt-outs"))) if n]
        said = _(" and ").join(held) or _("the sends of this project")
        return _("held {what} (last used {when} UTC)", what=said, when=self.updated[:16].replace("T", " "))


def _state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "huitou" / "witness"


def places(ledger: Path) -> list[Path]:
    """Where the witness of this ledger is written: beside it, and in the state directory."""
    absolute = ledger.absolute()
    digest = hashlib.sha256(str(absolute).encode()).hexdigest()[:24]
    return [absolute.with_name(absolute.stem + ".witness.json"), _state_dir() / f"{digest}.json"]


def recall(ledger: Path) -> Witness | None:
    """The most recent witness of this ledger, if any was written."""
    found = []
    for place in places(ledger):
        try:
            data = json.loads(place.read_text(encoding="utf-8"))
            found.append(Witness(str(data["ledger_id"]), int(data["sent"]), int(data["optouts"]), str(data["updated"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return max(found, key=lambda w: w.updated) if found else None


def record(ledger: Path, ledger_id: str, sent: int, optouts: int) -> None:
    """Write the witness. Beside the ledger it must succeed (the directory is the ledger's,
    which was just written); the state directory may be read-only (a container's home):
    then that copy is skipped."""
    data = {
        "ledger": str(ledger.absolute()),
        "ledger_id": ledger_id,
        "sent": sent,
        "optouts": optouts,
        "updated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    beside, state = places(ledger)
    _write(beside, data)
    try:
        _write(state, data)
    except OSError:
        pass


def _write(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)
