"""HTTP: the ASGI app ``banditbot serve`` runs (the API, the dashboard, metrics and the
Telegram webhook).

Add a route: a function in the router of its area under :mod:`banditbot.api.routes`
(``Service`` and ``Reader``/``Admin`` are the dependencies that give it the engine and the
calling key). Needs the ``api`` extra: ``pip install 'banditbot[api]'``.
"""

from .._errors import require

require("fastapi", "api")

from ._app import create_app  # noqa: E402
from ._envelope import MAX_BODY_BYTES  # noqa: E402
from ._group import GroupCommit  # noqa: E402
from ._metrics import MeteredStore, Metrics  # noqa: E402
from ._problems import status_of  # noqa: E402

__all__ = ["MAX_BODY_BYTES", "GroupCommit", "MeteredStore", "Metrics", "create_app",
           "status_of"]
