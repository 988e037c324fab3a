"""Print pip constraints that pin every dependency declared in pyproject.toml (the
package's and its test extra's) to its declared lower bound: `make test-lowest` installs
with them, so the bounds we declare are bounds we have run."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def lowest(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = [*project["dependencies"], *project.get("optional-dependencies", {}).get("test", [])]
    out = []
    for spec in specs:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*(,.*)?", spec)
        if not match:
            sys.exit(f"{pyproject}: '{spec}' has no lower bound (name>=version); declare one")
        out.append(f"{match.group(1)}=={match.group(2)}")
    return out


if __name__ == "__main__":
    print("\n".join(lowest(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))
