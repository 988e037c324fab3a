"""`huitou explain CUSTOMER`: a customer's features and, for every segment and rule, which
clause held or failed."""

from __future__ import annotations

import sys
from pathlib import Path

from ..diagnostics import ExitCode
from ..i18n import N_, _
from ..workspace import DataOptions
from . import console, opened, refuse

NO_SUCH_CUSTOMER = N_("no customer '{customer}' in the data (ids are compared exactly, leading zeros included)")


def explain(opts: DataOptions, customer: str, paths: list[Path], format: str) -> int:
    from ..evaluate import explain as explain_customer
    from ..reporters.evaluation import explain_json, explain_text

    with opened("explain", paths) as ws:
        session = ws.load(opts, forecast=True)
        found = explain_customer(session, customer, ws.playbooks)
    if found is None:
        raise refuse("explain", _(NO_SUCH_CUSTOMER, customer=customer), ExitCode.PROBLEMS)
    values, items = found
    day = session.as_of.isoformat()
    if format == "json":
        sys.stdout.write(explain_json(customer, day, values, items))
    else:
        explain_text(console(), customer, day, values, items)
    return ExitCode.OK
