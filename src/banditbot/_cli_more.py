"""CLI commands of the optional entry points (bot, server, simulation, offline)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the optional commands to ``app`` (idempotent)."""
    del app
