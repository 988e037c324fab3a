"""Print pip constraints that pin every dependency declared in pyproject.toml (the
package's and its extras') to its declared lower bound: `make test-lowest` installs
with them, so the bounds we declare are bounds we have run."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def lowest(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = [*project["dependencies"], *(spec for extra in project.get("optional-dependencies", {}).values() for spec in extra)]
    out = []
    for spec in specs:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(\[[A-Za-z0-9_,\-]+\])?\s*>=\s*([0-9][0-9A-Za-z.]*)\s*(,.*)?", spec)
        if not match:
            sys.exit(f"{pyproject}: '{spec}' has no lower bound (name>=version); declare one")
        out.append(f"{match.group(1)}=={match.group(3)}")
    return list(dict.fromkeys(out))


if __name__ == "__main__":
    print("\n".join(lowest(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))
