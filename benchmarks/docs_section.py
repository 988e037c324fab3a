"""Replace one `## name` section of docs/benchmarks.md with a new report (or append it)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nNumbers measured on the project's machine; each section says how to rerun it.\n\n"


def write_section(report: str) -> None:
    """`report` starts with its `## name` heading; other sections stay as they are."""
    heading = report.splitlines()[0]
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    if heading in text:
        text = re.sub(re.escape(heading) + r"\n.*?(?=\n## |\Z)", lambda _: report.rstrip("\n") + "\n", text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + report
    DOC.write_text(text, encoding="utf-8")


def publish(lines: list[str], write: bool) -> None:
    """Print a report section; with `write`, also put it into docs/benchmarks.md."""
    report = "\n".join(lines)
    print(report)
    if write:
        write_section(report)
