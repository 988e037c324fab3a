"""`huitou init`: a starter project that validates clean and plans at once, over sample
data or over the shop's own export (--from)."""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import ExitCode
from ..i18n import _
from ..inert import shown
from . import echo, refuse


def init(directory: Path, force: bool, locale: str | None, timezone: str | None, from_: Path | None) -> int:
    from ..data.sources import DataError, check_data_file
    from ..starter import StarterError, write_starter

    data, lines = None, []
    try:
        if from_ is not None:
            from ..exports.propose import data_section, propose, summary

            check_data_file(from_, "--from")
            proposal = propose(from_, directory, locale or "")
            locale = locale or proposal.locale or "zh-CN"
            data, lines = data_section(proposal, from_), summary(proposal, from_)
        written = write_starter(directory, force=force, locale=locale or "zh-CN", timezone=timezone, data=data)
    except FileExistsError as exc:
        raise refuse("init", _("{reason}; use --force to overwrite", reason=exc)) from None
    except (StarterError, DataError) as exc:
        raise refuse("init", str(exc)) from None
    for path in written:
        echo(_("created {file}", file=path))
    for line in lines:
        echo(shown(line))  # column names and values of the shop's file
    if from_ is not None:
        _load_once(directory)
    echo("\n" + _("next: cd {dir} && huitou validate && huitou segments && huitou plan", dir=directory))
    return ExitCode.OK


def _load_once(directory: Path) -> None:
    """Load the new project's data as every command will, saying what loading found."""
    from ..validate import validate_paths
    from ..workspace import DataOptions, OpenError, Workspace

    result = validate_paths([directory])
    if result.errors or not result.playbooks:
        raise refuse("init", _("the project written in {dir} does not validate: run huitou validate there", dir=directory))
    try:
        with Workspace(result.playbooks[0].project, result.playbooks) as ws:
            ws.load(DataOptions(), features=False, forecast=False)
    except OpenError as exc:
        raise refuse("init", _("{reason}; the project is written: fix data.orders in {file}", reason=exc, file=directory / "huitou.yaml")) from None
