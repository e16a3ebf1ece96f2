"""Bearer-token authentication as ASGI middleware, and the rule that an open API binds to loopback only."""

from __future__ import annotations

import hmac
import ipaddress
import json

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/ok", "/info"})
"""Health and version: answered without a token (load balancers, readiness probes)."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; False for 0.0.0.0, :: and every other address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: tuple[str, ...]) -> str | None:
    """Why the API must not start on `host` with these tokens (None when it may)."""
    if tokens or is_loopback(host):
        return None
    return (f"refusing to listen on {host} without authentication: set MODELDEPLOY_API_TOKENS (comma-separated) "
            "or MODELDEPLOY_API_TOKENS_FILE (one token a line), or bind to 127.0.0.1")


class BearerAuth:
    """401 unless `Authorization: Bearer <token>` carries one of `tokens` (compared in constant time)."""

    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self.app = app
        self.tokens = tuple(t.encode() for t in tokens)

    def _allowed(self, scope: Scope) -> bool:
        if not self.tokens or scope["path"] in OPEN_PATHS:
            return True
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return False
        token = token.strip()
        return any(hmac.compare_digest(token, t) for t in self.tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        has_header = b"authorization" in dict(scope.get("headers") or [])
        detail = "invalid bearer token" if has_header else "missing bearer token (Authorization: Bearer <token>)"
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b'Bearer realm="modeldeploy"')]})
        await send({"type": "http.response.body", "body": body})
