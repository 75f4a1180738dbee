"""Offline work on the decision log: export, import, off-policy evaluation, warm start."""

from ._log import LOG_COLUMNS, decision_rows, export_decisions

__all__ = ["LOG_COLUMNS", "decision_rows", "export_decisions"]
