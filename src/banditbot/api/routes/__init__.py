"""The HTTP API's routes, one router per area: ops (health, metrics), experiments (read),
decide and reward, admin, and the dashboard. ``create_app`` includes them all."""

from . import admin, allocations, dashboard, decide, experiments, ops

__all__ = ["admin", "allocations", "dashboard", "decide", "experiments", "ops"]
