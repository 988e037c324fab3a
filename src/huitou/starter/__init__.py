"""`huitou init`: the starter project, shipped as package data.

Files whose name starts with `dot-` are written with a leading `.` (package data tools
skip hidden files). The JSON Schemas are copied in so editors find them offline.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from ..schema import SCHEMAS


def _files(node: Traversable, prefix: str = "") -> list[tuple[str, bytes]]:
    out = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        name = "." + child.name[4:] if child.name.startswith("dot-") else child.name
        if child.is_dir():
            out += _files(child, f"{prefix}{name}/")
        elif not child.name.endswith((".pyc", ".py")):
            out.append((prefix + name, child.read_bytes()))
    return out


def starter_files() -> list[tuple[str, bytes]]:
    package = resources.files("huitou")
    files = _files(package.joinpath("starter").joinpath("files"))
    files += [(f"schemas/{name}", package.joinpath("schemas").joinpath(name).read_bytes()) for name in SCHEMAS.values()]
    return files


def write_starter(directory: Path, *, force: bool = False) -> list[Path]:
    files = starter_files()
    targets = [(directory / rel, data) for rel, data in files]
    existing = [str(p) for p, _ in targets if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{len(existing)} file(s) exist already, e.g. {existing[0]}")
    for path, data in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return [p for p, _ in targets]
