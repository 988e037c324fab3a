"""`huitou forecast`: the purchase models behind p_alive and expected_*_90d, and a check of
their predictions against a holdout period."""

from __future__ import annotations

import sys

from ..diagnostics import ExitCode
from ..workspace import DataOptions
from . import console, horizon, opened


def forecast(opts: DataOptions, holdout: str, format: str) -> int:
    from ..forecast.check import fit_check
    from ..reporters.forecast import forecast_json, forecast_text

    days = horizon(holdout, "forecast", "holdout")
    with opened("forecast", playbooks=False) as ws:
        session = ws.load(opts, forecast=True)
        check = fit_check(session.data.orders, session.as_of, days)
    if format == "json":
        sys.stdout.write(forecast_json(session.forecast, check))
    else:
        forecast_text(console(), session.forecast, check)
    return ExitCode.OK
