"""The two versions of a project that `huitou diff` compares.

A version is a directory holding huitou.yaml, the working tree (HEAD's default), or a git
revision. A revision is exported with `git archive` into a temporary directory: the
user's checkout, index and branches are never touched (no checkout, no stash, no
worktree), so a dirty working tree stays exactly as it was.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import HuitouError
from ..i18n import _
from ..project import CONFIG_NAME, find_root


class VersionError(HuitouError):
    """A version that cannot be opened: the message says which and what to do."""


@dataclass(frozen=True)
class Version:
    label: str  # as the user named it: a revision, a directory, "the working tree"
    root: Path  # the project's root in this version
    commit: str | None = None  # the commit id, for a revision


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120, check=False)
    except FileNotFoundError:
        raise VersionError(_("git is not installed: give two project directories instead of revisions")) from None


def working_tree(start: Path) -> Version:
    """The project around `start` as it is on disk."""
    root = find_root(start)
    if root is None:
        raise VersionError(
            _(
                "{dir}: not in a huitou project (no huitou.yaml here or above); run huitou diff inside one, or give two directories",
                dir=start.resolve(),
            )
        )
    return Version(_("the working tree"), root)


def uncommitted(project: Version) -> list[str]:
    """The project's files that differ from the last commit (empty outside a repository)."""
    done = _git(["status", "--porcelain", "--untracked-files=normal", "--", "."], project.root)
    if done.returncode != 0:
        return []
    return [line[3:] for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]


def resolve(spec: str | None, here: Version, scratch: Path) -> Version:
    """The version `spec` names (None: the working tree); revisions are exported under `scratch`."""
    if spec is None:
        return here
    path = Path(spec)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise VersionError(
                _("{spec}: not a huitou project (no {config} in it); give a project directory or a git revision", spec=spec, config=CONFIG_NAME)
            )
        return Version(spec, path.resolve())
    top = _git(["rev-parse", "--show-toplevel"], here.root)
    if top.returncode != 0:
        raise VersionError(_("{spec} is neither a directory nor a revision: {root} is not in a git repository", spec=repr(spec), root=here.root))
    commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{spec}^{{commit}}"], here.root)
    if commit.returncode != 0:
        raise VersionError(
            _(
                "no revision {spec} in the repository at {root} (see git log --oneline, git branch -a)",
                spec=repr(spec),
                root=top.stdout.decode().strip(),
            )
        )
    sha = commit.stdout.decode().strip()
    prefix = _git(["rev-parse", "--show-prefix"], here.root).stdout.decode().strip()
    exported = _git(["archive", "--format=tar", sha, *([prefix] if prefix else [])], here.root)
    if exported.returncode != 0:
        raise VersionError(_("{spec}: the project's directory {dir} does not exist at that revision", spec=spec, dir=prefix or "."))
    target = scratch / sha[:12]
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as archive:
        archive.extractall(target, filter="data")
    root = target / prefix
    if not (root / CONFIG_NAME).is_file():
        raise VersionError(
            _("{spec}: {dir} holds no {config} at that revision", spec=spec, dir=prefix or _("the repository root"), config=CONFIG_NAME)
        )
    return Version(spec, root, sha)
