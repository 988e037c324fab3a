"""`huitou validate`: check playbooks, templates and the project config, like code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..diagnostics import ExitCode
from . import refuse


def validate(paths: list[Path], format: str | None, strict: bool) -> int:
    from ..reporters import REPORTERS
    from ..validate import UsageError, validate_paths

    chosen = format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    try:
        result = validate_paths(paths)
    except UsageError as exc:
        raise refuse("validate", str(exc)) from None
    color = chosen == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    sys.stdout.write(REPORTERS[chosen](result, color))
    return ExitCode.PROBLEMS if result.failed(strict) else ExitCode.OK
