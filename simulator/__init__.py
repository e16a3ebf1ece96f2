"""An OpenAI-compatible inference simulator standing in for vLLM, SGLang, TGI and llama.cpp server.

It accepts the real frameworks' launch arguments, checks them against the model's
`config.json` (or GGUF header) and a declared virtual GPU, fails at startup with
the real frameworks' error text when the real server would, and otherwise serves
`/v1/models`, `/v1/chat/completions`, `/v1/completions` (streaming or not) and
`/metrics` with a configurable latency model.

Constraint: this package uses only the Python standard library and only relative
imports, because it is copied into a bare `python:3.11-slim` image as the
top-level package `simulator` and started as `python3 -m simulator ARGS...`.
It runs unchanged as `python -m modeldeploy.simulator ARGS...`.

Modules:
- `knobs`: the simulator-only settings (environment variables `MODELDEPLOY_SIM_*`).
- `launch`: framework detection and the frameworks' own flags.
- `modelinfo`: config.json / GGUF facts and the parameter count.
- `checks`: memory arithmetic and the choice of a startup failure (pure functions).
- `logtext`: the frameworks' log lines and error tracebacks.
- `textgen`: the tokenizer, the answer rule and the generated text.
- `engine`, `metrics`, `httpserver`, `api`: serving.
- `server`: `main(argv, env)`, the process lifecycle.
- `image`: the Dockerfile and build context of the simulator image.
"""

__version__ = "0.1.0"
