"""HTTP: the ASGI app ``banditbot serve`` runs (Telegram webhook, API, dashboard).

Needs the ``api`` extra: ``pip install 'banditbot[api]'``.
"""

from .._errors import require

require("fastapi", "api")

from ._app import create_app  # noqa: E402

__all__ = ["create_app"]
