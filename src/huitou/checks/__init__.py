"""Semantic checks, one module per family. Each `run(ctx)` yields Diagnostics.

The codes and their documentation: huitou.diagnostics.CHECKS and docs/checks.md.
"""

from . import care_first, policies, predicates, references, templates

# Order matters only for reading: problems are sorted by place before they are shown.
PLAYBOOK_CHECKS = (predicates.run, references.run, policies.run, templates.run, care_first.run)

__all__ = ["PLAYBOOK_CHECKS", "care_first"]
