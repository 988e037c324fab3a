"""huitou (回头): retention playbooks as code."""

__version__ = "0.1.0"
