"""`python -m modeldeploy.mcp_server [--transport stdio|http] [--host H] [--port N]`: run the MCP server."""

from __future__ import annotations

import argparse
import sys

from modeldeploy.errors import ModelDeployError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modeldeploy.mcp_server", description=__doc__)
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (0: a free one, printed on stderr).")
    args = parser.parse_args(argv)
    from modeldeploy.mcp_server.transports import run_http, run_stdio

    try:
        if args.transport == "stdio":
            run_stdio()
        else:
            run_http(args.host, args.port)
    except ModelDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
