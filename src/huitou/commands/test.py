"""`huitou test`: the playbooks' tests, given rows and a date, the plan must hold the
expected sends and suppressions."""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import ExitCode
from ..errors import Found
from ..i18n import _
from . import echo, refuse


def test(paths: list[Path], select: str | None) -> int:
    from ..reporters import REPORTERS
    from ..rule_tests import run_tests
    from ..validate import UsageError, validate_paths

    try:
        result = validate_paths([])
        wanted = [p.resolve() for p in paths]
        for path in wanted:
            if not path.exists():
                raise UsageError(_("no such file or directory: {path}", path=path))
    except UsageError as exc:
        raise refuse("test", str(exc)) from None
    if result.errors:
        raise Found(None, report=REPORTERS["text"](result, False))
    tests = [doc for path, doc in result.tests if not wanted or any(path == w or w in path.parents for w in wanted)]
    if not tests:
        raise refuse("test", _("no tests: put them beside the playbooks as NAME.test.yaml (docs/testing.md)"), ExitCode.PROBLEMS)
    outcomes = run_tests(result.playbooks, tests, select)
    for outcome in outcomes:
        if outcome.passed:
            echo(f"PASS {outcome.file}:{outcome.line}: {outcome.name}")
        elif outcome.error:
            echo(f"ERROR {outcome.file}:{outcome.line}:{outcome.column}: {outcome.name}: {outcome.error}")
        for failure in outcome.failures:
            echo(f"FAIL {outcome.file}:{failure.line}:{failure.column}: {outcome.name}: {failure.message}")
    failed = sum(not o.passed for o in outcomes)
    echo(_("{tests} tests, {passed} passed, {failed} failed", tests=len(outcomes), passed=len(outcomes) - failed, failed=failed))
    if not outcomes:
        raise refuse("test", _("no test name contains {text}", text=repr(select)), ExitCode.PROBLEMS)
    return ExitCode.PROBLEMS if failed else ExitCode.OK
