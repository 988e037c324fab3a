"""`huitou forecast`: the purchase models behind p_alive and expected_*_90d, and a check of
their predictions against a holdout period."""

from __future__ import annotations

import sys

from ..diagnostics import ExitCode
from ..session import DataOptions
from . import console, horizon, open_data


def forecast(opts: DataOptions, holdout: str, format: str) -> int:
    from ..forecast.check import fit_check
    from ..reporters.forecast import forecast_json, forecast_text

    days = horizon(holdout, "forecast", "holdout")
    session, _ = open_data("forecast", None, opts, need_playbooks=False)
    check = fit_check(session.con, session.as_of, days)
    if format == "json":
        sys.stdout.write(forecast_json(session.forecast, check))
    else:
        forecast_text(console(), session.forecast, check)
    return ExitCode.OK
