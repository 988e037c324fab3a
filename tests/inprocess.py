"""`huitou` run in the test's own process: cli.main(argv) with the working directory, the
environment and the standard streams of a child process, and its result in the shape of
subprocess.run's (returncode, stdout, stderr as text with universal newlines).

A command costs its own work and nothing more: no interpreter start, no imports. What a
process itself does (the installed script, exit on a signal, a crash between two runs,
two sends at once, timing) is still tested through the console script.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from huitou.cli import main


@dataclass
class Ran:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def check_returncode(self) -> None:
        assert self.returncode == 0, f"huitou {' '.join(self.args)} exited {self.returncode}:\n{self.stderr}"


class _Stream(io.TextIOWrapper):
    """A child's pipe: UTF-8 text over bytes, not a terminal."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", newline="\n", write_through=True)

    def text(self) -> str:
        self.flush()
        data = self.buffer.getvalue()  # type: ignore[attr-defined]
        return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None).read()  # as subprocess.run(text=True) reads it


def huitou(
    *args: str | os.PathLike[str],
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = False,
) -> Ran:
    """Run `huitou ARGS` in-process, in `cwd`, with exactly `env` as the environment when
    given (else this process's), and `input` on stdin; `check`: it must exit 0."""
    argv = [str(a) for a in args]
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    out, err = _Stream(), _Stream()
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(input or ""), out, err
        code = main(argv)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        if os.environ != saved_env:
            os.environ.clear()
            os.environ.update(saved_env)
    ran = Ran(argv, code, out.text(), err.text())
    if check:
        ran.check_returncode()
    return ran
