"""Run the API with uvicorn: the loopback rule for an unauthenticated API, then serve until stopped.

`MODELDEPLOY_API_BLOCKBUSTER=1` activates blockbuster in the server process (what `langgraph dev`
enforces): any blocking call on the event loop fails the request or run that made it. Tests use it.
"""

from __future__ import annotations

import logging
import os
import sys

from modeldeploy.api.auth import check_bind
from modeldeploy.api.config import DEFAULT_HOST, DEFAULT_PORT, ApiSettings
from modeldeploy.errors import UserInputError


def _activate_blockbuster() -> None:
    try:
        from blockbuster import BlockBuster
    except ImportError:
        raise UserInputError("MODELDEPLOY_API_BLOCKBUSTER=1 needs the blockbuster package (the `test` extra)") from None
    blocker = BlockBuster()
    blocker.activate()


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, log_level: str = "info",
          settings: ApiSettings | None = None) -> None:
    """Serve the API on host:port. Raises UserInputError (before binding) when the configuration is unsafe."""
    import uvicorn

    from modeldeploy.api.app import create_app

    settings = settings or ApiSettings()
    refusal = check_bind(host, settings.tokens)
    if refusal:
        raise UserInputError(refusal)
    if not settings.tokens:
        print(f"modeldeploy API: no tokens configured; authentication is OFF (allowed on loopback {host} only)",
              file=sys.stderr)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("modeldeploy.api").setLevel(getattr(logging, log_level.upper(), logging.INFO))
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    if os.environ.get("MODELDEPLOY_API_BLOCKBUSTER") == "1":
        _activate_blockbuster()
    server.run()
