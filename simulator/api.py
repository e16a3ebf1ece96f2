"""The HTTP routes: OpenAI-compatible API, health, metrics, and a few framework-native endpoints.

| route | answer |
|---|---|
| GET /health | 200 once the HTTP server is up, also while loading (llama.cpp: 503 "Loading model" until loaded) |
| GET /v1/models | 503 while loading; then the served model with `max_model_len` |
| POST /v1/chat/completions, /v1/completions | OpenAI-compatible, `stream` true/false |
| GET /metrics | Prometheus text (llama.cpp needs --metrics, SGLang --enable-metrics, as the real ones) |
| GET /version (vLLM), /info (TGI), /get_model_info (SGLang), /props (llama.cpp) | framework facts |

Streaming chat sends the role-only chunk (`{"role": "assistant", "content": ""}`) as soon as
the request is accepted, before it is queued or prefilled: a client that counts it as the
first token measures a TTFT that is too short (vllm#3759), as it would against a busy server.
With MODELDEPLOY_SIM_CHUNK_TOKENS=k the first token is sent alone and the rest k per chunk
(vLLM's --stream-interval), so a client's token-level ITL can be checked against chunk-level ITL.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import TYPE_CHECKING, AsyncIterator

from .engine import Engine, RequestTiming
from .httpserver import Request, Response, StreamResponse
from .textgen import GenerationParams, chat_prompt_text, chat_prompt_tokens, count_tokens, generate, last_user_text

if TYPE_CHECKING:  # pragma: no cover
    from .checks import Assessment
    from .launch import Launch
    from .metrics import Metrics

OWNED_BY = {"vllm": "vllm", "sglang": "sglang", "tgi": "tgi", "llama.cpp": "llamacpp", "transformers": "transformers"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, err_type: str = "BadRequestError", param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type
        self.param = param

    def response(self) -> Response:
        return Response.json({"error": {"message": self.message, "type": self.err_type, "param": self.param,
                                        "code": self.status}}, self.status)


def _sse(doc: dict) -> bytes:
    return b"data: " + json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


class App:
    """Routes requests; `ready` flips when the simulated load finishes."""

    def __init__(self, launch: "Launch", assessment: "Assessment", engine: Engine, metrics: "Metrics",
                 started: float | None = None, chunk_tokens: int = 1):
        self.launch = launch
        self.assessment = assessment
        self.engine = engine
        self.metrics = metrics
        self.ready = False
        self.chunk_tokens = max(1, chunk_tokens)
        self.created = int(started or time.time())

    # --- routing ---------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response | StreamResponse:
        try:
            return await self._route(request)
        except ApiError as exc:
            return exc.response()

    ROUTES = {"/health": ("GET", "health"), "/v1/models": ("GET", "models"), "/metrics": ("GET", "metrics_"),
              "/v1/chat/completions": ("POST", "chat"), "/v1/completions": ("POST", "completions"),
              "/version": ("GET", "version"), "/info": ("GET", "info"), "/get_model_info": ("GET", "model_info"),
              "/props": ("GET", "props"), "/ping": ("GET", "health")}

    def route(self, request: Request) -> str | None:
        """The route a request's path names (trailing slash ignored), None for an unknown path."""
        path = request.path.rstrip("/") or "/"
        return path if path in self.ROUTES else None

    async def _route(self, request: Request) -> Response | StreamResponse:
        path, method = self.route(request), request.method
        fw = self.launch.framework
        if path is None:
            return Response.json({"detail": "Not Found"}, 404)
        want, name = self.ROUTES[path]
        handler = getattr(self, name)
        if method == "HEAD" and want == "GET":
            method = "GET"
        if method != want:
            return Response.json({"detail": "Method Not Allowed"}, 405)
        if self.launch.api_key and path.startswith("/v1/"):
            if request.header("authorization") != f"Bearer {self.launch.api_key}":
                if fw == "llama.cpp":
                    return Response.json({"error": {"code": 401, "message": "Invalid API Key",
                                                    "type": "authentication_error"}}, 401)
                return Response.json({"error": "Unauthorized"}, 401)
        return await handler(request)

    def _not_ready(self) -> Response:
        if self.launch.framework == "llama.cpp":
            return Response.json({"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}, 503)
        return Response.json({"error": {"message": "The model is still loading.", "type": "ServiceUnavailableError",
                                        "param": None, "code": 503}}, 503)

    # --- simple endpoints ------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        if self.launch.framework == "llama.cpp":
            return Response.json({"status": "ok"}) if self.ready else self._not_ready()
        return Response(status=200, body=b"", content_type="application/json")

    async def models(self, request: Request) -> Response:
        if not self.ready:
            return self._not_ready()
        data = []
        for name in self.launch.served_model_names:
            data.append({
                "id": name, "object": "model", "created": self.created, "owned_by": OWNED_BY[self.launch.framework],
                "root": self.launch.model, "parent": None, "max_model_len": self.assessment.max_model_len,
                "permission": [{"id": f"modelperm-{uuid.uuid4().hex}", "object": "model_permission",
                                "created": self.created, "allow_create_engine": False, "allow_sampling": True,
                                "allow_logprobs": True, "allow_search_indices": False, "allow_view": True,
                                "allow_fine_tuning": False, "organization": "*", "group": None, "is_blocking": False}],
            })
        return Response.json({"object": "list", "data": data})

    async def metrics_(self, request: Request) -> Response:
        fw = self.launch.framework
        if fw == "llama.cpp" and not self.launch.metrics_enabled:
            return Response.json({"error": {"code": 501, "message": "This server does not support metrics endpoint. "
                                            "Start it with `--metrics`", "type": "not_supported_error"}}, 501)
        if fw == "sglang" and not self.launch.metrics_enabled:
            return Response.json({"detail": "Not Found"}, 404)
        return Response.text(self.metrics.render(fw), content_type="text/plain; version=0.0.4; charset=utf-8")

    async def version(self, request: Request) -> Response:
        from .logtext import VERSIONS

        return Response.json({"version": VERSIONS.get(self.launch.framework, "0")})

    async def info(self, request: Request) -> Response:
        return Response.json({"model_id": self.launch.model, "model_sha": None, "model_pipeline_tag": "text-generation",
                              "max_concurrent_requests": self.launch.max_num_seqs or 128,
                              "max_total_tokens": self.assessment.max_model_len,
                              "max_input_tokens": max(self.assessment.max_model_len - 1, 1),
                              "version": "3.3.6", "router": "text-generation-router"})

    async def model_info(self, request: Request) -> Response:
        return Response.json({"model_path": self.launch.model, "tokenizer_path": self.launch.model,
                              "is_generation": True, "preferred_sampling_params": None})

    async def props(self, request: Request) -> Response:
        return Response.json({"default_generation_settings": {"n_ctx": self.assessment.max_model_len},
                              "total_slots": self.launch.max_num_seqs or 4, "model_path": self.launch.model,
                              "chat_template": "chatml", "build_info": "b6000-0a5a3b5c"})

    # --- generation ------------------------------------------------------------------------------

    def _body(self, request: Request) -> dict:
        try:
            body = json.loads(request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"JSON decode error: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body

    def _model(self, body: dict) -> str:
        name = body.get("model")
        served = self.launch.served_model_names
        if self.launch.framework in ("vllm", "sglang") and name not in (None, "") and name not in served:
            raise ApiError(404, f"The model `{name}` does not exist.", "NotFoundError")
        return name if isinstance(name, str) and name else served[0]

    def _params(self, body: dict, prompt_tokens: int, chat: bool) -> GenerationParams:
        limit = self.assessment.max_model_len
        if prompt_tokens >= limit:
            raise ApiError(400, f"This model's maximum context length is {limit} tokens. However, your request has "
                                f"{prompt_tokens} input tokens. Please reduce the length of the input messages.")
        raw_max = body.get("max_completion_tokens") if chat and body.get("max_completion_tokens") is not None \
            else body.get("max_tokens")
        if raw_max is None:
            max_tokens = limit - prompt_tokens if chat or self.launch.framework != "vllm" else 16
        else:
            max_tokens = _int(raw_max, "max_tokens")
            if max_tokens < 1:
                raise ApiError(400, f"max_tokens must be at least 1, got {max_tokens}.", param="max_tokens")
            if prompt_tokens + max_tokens > limit:
                raise ApiError(400, f"This model's maximum context length is {limit} tokens. However, you requested "
                                    f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, "
                                    f"{max_tokens} in the completion). Please reduce the length of the messages or "
                                    "completion.")
        min_tokens = _int(body.get("min_tokens", 0) or 0, "min_tokens")
        if min_tokens < 0:
            raise ApiError(400, f"min_tokens must be greater than or equal to 0, got {min_tokens}.", param="min_tokens")
        if min_tokens > max_tokens:
            raise ApiError(400, f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {min_tokens}.",
                           param="min_tokens")
        temperature = body.get("temperature")
        temperature = 1.0 if temperature is None else _float(temperature, "temperature")
        if temperature < 0:
            raise ApiError(400, f"temperature must be non-negative, got {temperature}.", param="temperature")
        top_p = body.get("top_p")
        if top_p is not None and not 0 < _float(top_p, "top_p") <= 1:
            raise ApiError(400, f"top_p must be in (0, 1], got {top_p}.", param="top_p")
        n = body.get("n")
        if n is not None and _int(n, "n") != 1:
            raise ApiError(400, "n must be 1: the simulator generates a single choice.", param="n")
        stop = body.get("stop")
        if stop is None:
            stops: tuple[str, ...] = ()
        elif isinstance(stop, str):
            stops = (stop,)
        elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
            stops = tuple(stop)
        else:
            raise ApiError(400, "stop must be a string or a list of strings.", param="stop")
        seed = body.get("seed")
        seed = None if seed is None else _int(seed, "seed")
        options = body.get("stream_options")
        if options is not None and not body.get("stream"):
            raise ApiError(400, "Stream options can only be defined when `stream=True`.", param="stream_options")
        return GenerationParams(max_tokens=max_tokens, min_tokens=min_tokens, ignore_eos=bool(body.get("ignore_eos")),
                                temperature=temperature, seed=seed, stop=stops,
                                include_stop_str_in_output=bool(body.get("include_stop_str_in_output")))

    async def chat(self, request: Request) -> Response | StreamResponse:
        if not self.ready:
            return self._not_ready()
        body = self._body(request)
        model = self._model(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise ApiError(400, "messages must be a non-empty list of message objects.", param="messages")
        for m in messages:
            if m.get("role") not in ("system", "user", "assistant", "tool", "developer", "function"):
                raise ApiError(400, f"Invalid role in messages: {m.get('role')!r}.", param="messages")
        prompt_tokens = chat_prompt_tokens(messages)
        params = self._params(body, prompt_tokens, chat=True)
        steps = generate(chat_prompt_text(messages), last_user_text(messages), params)
        return await self._respond(body, model, prompt_tokens, steps, chat=True)

    async def completions(self, request: Request) -> Response | StreamResponse:
        if not self.ready:
            return self._not_ready()
        body = self._body(request)
        model = self._model(body)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
            prompt = prompt[0]
        if isinstance(prompt, str):
            text, prompt_tokens = prompt, count_tokens(prompt)
        elif isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
            text, prompt_tokens = " ".join(str(t) for t in prompt), len(prompt)
        elif isinstance(prompt, list) and len(prompt) > 1:
            raise ApiError(400, "Only one prompt per request: the simulator generates a single choice.",
                           param="prompt")
        else:
            raise ApiError(400, "prompt must be a string, a list with one string, or a list of token ids.",
                           param="prompt")
        if prompt_tokens == 0:
            prompt_tokens = 1  # the BOS token
        params = self._params(body, prompt_tokens, chat=False)
        steps = generate(text, text if isinstance(prompt, str) else "", params)
        echo = text if body.get("echo") and isinstance(prompt, str) else ""
        return await self._respond(body, model, prompt_tokens, steps, chat=False, echo=echo)

    async def _respond(self, body: dict, model: str, prompt_tokens: int, steps, chat: bool,
                       echo: str = "") -> Response | StreamResponse:
        rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        created = int(time.time())
        timing = RequestTiming()
        if body.get("stream"):
            options = body.get("stream_options") or {}
            return StreamResponse(self._stream(rid, created, model, prompt_tokens, steps, timing, chat, echo,
                                               bool(options.get("include_usage")),
                                               bool(options.get("continuous_usage_stats"))))
        text, reason, produced = [echo], "length", 0
        run = self.engine.run(steps, prompt_tokens, timing)
        async with contextlib.aclosing(run):
            async for step in run:
                produced += 1
                text.append(step.text)
                if step.finish_reason:
                    reason = step.finish_reason
        usage = _usage(prompt_tokens, produced)
        content = "".join(text)
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": content, "refusal": None,
                                              "annotations": None, "audio": None, "function_call": None,
                                              "tool_calls": [], "reasoning_content": None},
                      "logprobs": None, "finish_reason": reason, "stop_reason": None}
            doc = {"id": rid, "object": "chat.completion", "created": created, "model": model, "choices": [choice],
                   "service_tier": None, "system_fingerprint": None, "usage": usage, "prompt_logprobs": None,
                   "kv_transfer_params": None}
        else:
            choice = {"index": 0, "text": content, "logprobs": None, "finish_reason": reason, "stop_reason": None,
                      "prompt_logprobs": None}
            doc = {"id": rid, "object": "text_completion", "created": created, "model": model, "choices": [choice],
                   "service_tier": None, "system_fingerprint": None, "usage": usage, "kv_transfer_params": None}
        return Response.json(doc)

    async def _stream(self, rid: str, created: int, model: str, prompt_tokens: int, steps, timing: RequestTiming,
                      chat: bool, echo: str, include_usage: bool, continuous: bool) -> AsyncIterator[bytes]:
        kind = "chat.completion.chunk" if chat else "text_completion"
        produced = 0

        def chunk(choice: dict | None, usage: dict | None = None) -> bytes:
            doc = {"id": rid, "object": kind, "created": created, "model": model,
                   "choices": [choice] if choice is not None else []}
            if usage is not None:
                doc["usage"] = usage
            return _sse(doc)

        def choice(text: str | None, reason: str | None) -> dict:
            if chat:
                delta = {"content": text} if text is not None else {}
                out = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            else:
                out = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": reason}
            if reason is not None:
                out["stop_reason"] = None
            return out

        if chat:
            yield chunk({"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                         "finish_reason": None}, _usage(prompt_tokens, 0) if continuous and include_usage else None)
        elif echo:
            yield chunk(choice(echo, None))
        run = self.engine.run(steps, prompt_tokens, timing)
        pending, held = "", 0  # tokens produced but not yet sent (chunk_tokens > 1)
        async with contextlib.aclosing(run):
            async for step in run:
                produced += 1
                pending += step.text
                held += 1
                usage = _usage(prompt_tokens, produced) if continuous and include_usage else None
                if step.finish_reason:
                    yield chunk(choice(pending if pending else ("" if not chat else None), step.finish_reason),
                                usage)
                    pending, held = "", 0
                elif produced == 1 or held >= self.chunk_tokens:
                    if pending:
                        yield chunk(choice(pending, None), usage)
                    pending, held = "", 0
        if include_usage:
            yield chunk(None, _usage(prompt_tokens, produced))
        yield b"data: [DONE]\n\n"


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "total_tokens": prompt + completion, "completion_tokens": completion,
            "prompt_tokens_details": None}


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ApiError(400, f"{name} must be an integer, got {value!r}.", param=name)
    return int(value)


def _float(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"{name} must be a number, got {value!r}.", param=name)
    return float(value)

