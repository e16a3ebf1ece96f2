"""POST the result document (lm-eval layout) to a collector: `--post URL` or MODELDEPLOY_EVAL_POST_URL.

The document is sent after the local files are written, as `application/json`, with a bearer token from
MODELDEPLOY_EVAL_POST_TOKEN when set. Transport errors, 429 and 5xx are retried (3 attempts, backoff); any 2xx
is success. A failure never loses the result: the caller reports it, and when there is no --out the document is
saved under $MODELDEPLOY_HOME/eval/unposted/ so it can be sent again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

URL_ENV = "MODELDEPLOY_EVAL_POST_URL"
TOKEN_ENV = "MODELDEPLOY_EVAL_POST_TOKEN"
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class PostResult:
    """What the collector said: ok on a 2xx; else the last status or transport error."""

    url: str
    ok: bool
    status: int | None = None
    error: str | None = None
    attempts: int = 0
    saved: str | None = None  # where the unposted document was kept, when there was no --out

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "ok": self.ok, "status": self.status, "error": self.error,
                "attempts": self.attempts, "saved": self.saved}


def post_document(url: str, document: dict[str, Any], token: str | None = None, attempts: int = 3,
                  timeout_s: float = 30.0, backoff_s: float = 0.5) -> PostResult:
    body = json.dumps(document, ensure_ascii=False, default=str).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    result = PostResult(url=url, ok=False)
    with httpx.Client(timeout=timeout_s) as client:
        for attempt in range(1, attempts + 1):
            result.attempts = attempt
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                result.status, result.error = None, f"{exc.__class__.__name__}: {str(exc)[:200]}"
            else:
                result.status = response.status_code
                if 200 <= response.status_code < 300:
                    result.ok, result.error = True, None
                    return result
                result.error = f"HTTP {response.status_code}: {' '.join(response.text[:200].split())}"
                if response.status_code not in RETRY_STATUS:
                    return result
            if attempt < attempts:
                time.sleep(backoff_s * 2 ** (attempt - 1))  # retry backoff, not synchronisation
    return result


def keep_unposted(home: Path, document: dict[str, Any], suite: str) -> Path:
    """Save a document that could not be posted (when no --out holds it); the path written."""
    directory = home / "eval" / "unposted"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"results_{suite}_{time.strftime('%Y%m%dT%H%M%S')}_{time.time_ns() % 1_000_000:06d}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path
