"""`huitou ledger`: the send ledger, messages by state, channel and day, and the failed ones."""

from __future__ import annotations

import sys

from ..diagnostics import ExitCode
from ..workspace import Workspace
from . import refuse


def ledger(failed: int, format: str) -> int:
    import sqlite3

    from ..delivery.ledger import Ledger, LedgerError, default_path, explain
    from ..reporters.send import ledger_json, ledger_text

    shop = Workspace.configured("ledger").project
    path = default_path(shop.root, shop.config)
    counts: list = []
    failures: list = []
    if path.is_file():
        try:
            book = Ledger.reading(path)
            try:
                counts, failures = book.counts(), book.failures(failed)
            finally:
                book.close()
        except sqlite3.Error as exc:
            raise refuse("ledger", str(explain(path, exc))) from None
        except LedgerError as exc:
            raise refuse("ledger", str(exc)) from None
    shown = shop.display(path)
    sys.stdout.write(ledger_json(counts, failures, shown) + "\n" if format == "json" else ledger_text(counts, failures, shown))
    return ExitCode.OK
