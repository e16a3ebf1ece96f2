"""modeldeploy.api: the HTTP API speaking the LangGraph server protocol (assistants, threads, runs, SSE).

`create_app()` builds the ASGI app; `serve()` runs it with uvicorn. `langgraph_sdk` clients and
`langgraph.pregel.remote.RemoteGraph` talk to it as to a LangGraph server. See docs/http-api.md.
"""

from modeldeploy.api.app import create_app
from modeldeploy.api.config import ApiSettings

__all__ = ["ApiSettings", "create_app"]
