"""The modeldeploy HTTP API (LangGraph server protocol): `python server.py [--host H] [--port P]`.

A thin entry: the implementation is the `modeldeploy.api` package. `app` is the ASGI app for any
ASGI server (`uvicorn server:app`). Without tokens (MODELDEPLOY_API_TOKENS / MODELDEPLOY_API_TOKENS_FILE)
it refuses to bind anywhere but loopback.
"""

from __future__ import annotations

import argparse
import sys

from modeldeploy.api import create_app
from modeldeploy.api.config import DEFAULT_HOST, DEFAULT_PORT

app = create_app()


def main(argv: list[str] | None = None) -> int:
    from modeldeploy.api.serve import serve
    from modeldeploy.errors import ModelDeployError

    parser = argparse.ArgumentParser(description="Serve the modeldeploy graphs over the LangGraph server protocol.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be between 1 and 65535")
    try:
        serve(args.host, args.port, log_level=args.log_level)
    except ModelDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
