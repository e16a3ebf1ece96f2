"""modeldeploy.api: the HTTP API speaking the LangGraph server protocol (assistants, threads, runs, SSE).

`create_app()` builds the ASGI app; `serve()` runs it with uvicorn. `langgraph_sdk` clients and
`langgraph.pregel.remote.RemoteGraph` talk to it as to a LangGraph server. See docs/http-api.md.
The app is imported on first use: importing `modeldeploy.api.config` (the CLI does) stays cheap.
"""

from typing import Any

__all__ = ["ApiSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from modeldeploy.api.app import create_app

        return create_app
    if name == "ApiSettings":
        from modeldeploy.api.config import ApiSettings

        return ApiSettings
    raise AttributeError(name)
