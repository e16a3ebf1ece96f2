"""`main(argv, env)`: parse, assess, bind, narrate the startup, fail or serve until SIGTERM.

Exit codes: 0 after SIGTERM/SIGINT, 1 for a startup failure (as the real servers),
2 for an argument error (argparse's code) or a bad MODELDEPLOY_SIM_* value.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Mapping, Sequence

from .api import App
from .checks import DEFAULT_MAX_NUM_SEQS, Assessment, Failure, assess, weights_shards
from .engine import Engine
from .httpserver import REASONS, HttpServer, Request
from .knobs import Knobs, KnobError, knobs_from_env, measured_shm_bytes
from .launch import ArgError, Launch, parse_launch
from .logtext import ERR, Lines, Narrator, narrator_for
from .metrics import Metrics

USAGE = """\
usage: python3 -m simulator [LAUNCHER] FRAMEWORK-FLAGS...

An OpenAI-compatible inference simulator that accepts the launch flags of
vLLM (--model ...), SGLang (--model-path ...), TGI (--model-id ...),
llama.cpp server (-m FILE.gguf ...) and transformers serve (--force-model ...).
A leading launcher (`vllm serve MODEL`, `python3 -m sglang.launch_server`,
`text-generation-launcher`, `llama-server`, `transformers serve`) is accepted.

Simulator settings (environment):
  MODELDEPLOY_SIM_FRAMEWORK   vllm | sglang | tgi | llama.cpp | transformers (default: from the flags)
  MODELDEPLOY_SIM_TTFT_MS     prefill time once a request holds a slot (default 50)
  MODELDEPLOY_SIM_TPOT_MS     time per further output token (default 10)
  MODELDEPLOY_SIM_SLOTS       sequences decoded at once; more wait in a queue (default: --max-num-seqs & co)
  MODELDEPLOY_SIM_CHUNK_TOKENS tokens per streamed chunk after the first (default 1)
  MODELDEPLOY_SIM_STARTUP_S   simulated load time (default 1.0)
  MODELDEPLOY_SIM_GPU         virtual GPU JSON, e.g. {"name": "NVIDIA L4", "memory_total_mib": 23034,
                              "compute_capability": "8.9", "count": 1, "cuda_driver_version": "12.2"}; absent = CPU
  MODELDEPLOY_SIM_IMAGE_CUDA  CUDA version the image was built with (checked against the driver)
  MODELDEPLOY_SIM_FAIL        force the startup failure of this row of failure-signatures.md (1-26)
  MODELDEPLOY_SIM_SHM_BYTES   pretend /dev/shm has this size (default: measured)
  MODELDEPLOY_SIM_STRICT_ARGS 1: unknown flags are an error (exit 2)
"""


class Simulator:
    def __init__(self, launch: Launch, knobs: Knobs, env: Mapping[str, str]):
        self.launch = launch
        self.knobs = knobs
        self.env = env
        self.stop = asyncio.Event()
        self.http: HttpServer | None = None

    def emit(self, lines: Lines) -> None:
        out, err = sys.stdout, sys.stderr
        for stream, line in lines:
            target = err if stream == ERR else out
            try:
                target.write(line + "\n")
            except (OSError, ValueError):
                pass
        for target in (out, err):
            try:
                target.flush()
            except (OSError, ValueError):
                pass

    def _signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stop.set)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
                pass

    async def run(self) -> int:
        self._signals()
        launch, knobs = self.launch, self.knobs
        shm = knobs.shm_bytes if knobs.shm_bytes is not None else measured_shm_bytes()
        assessment = assess(launch, knobs, self.env, shm)
        narrator = narrator_for(launch, knobs, assessment)
        failure = assessment.failure
        if failure is not None and failure.where == "none" and failure.stage == "platform":
            self.emit([(ERR, line) for line in failure.error.splitlines()])
            return 1
        self.emit(narrator.banner())
        if launch.unknown:
            self.emit(narrator.unknown_args(launch.unknown))
        if failure is not None and failure.stage == "bind":
            self.emit(narrator.bind_error(failure.error))
            return 1

        metrics = Metrics(launch.served_name)
        slots = knobs.slots or launch.max_num_seqs or DEFAULT_MAX_NUM_SEQS[launch.framework]
        capacity = assessment.kv_tokens or assessment.max_model_len * slots
        engine = Engine(slots, knobs.ttft_s, knobs.tpot_s, metrics, capacity)
        app = App(launch, assessment, engine, metrics, chunk_tokens=knobs.chunk_tokens)

        def access(request: Request, status: int) -> None:
            self.emit(narrator.access(request.peer, request.method, request.target, request.version, status,
                                      REASONS.get(status, "")))

        def served(request: Request, status: int, seconds: float) -> None:
            route = app.route(request)
            if route is not None:
                metrics.http.observe(route, request.method, status, seconds)

        server_header = {"tgi": "text-generation-router", "llama.cpp": "llama.cpp"}.get(launch.framework, "uvicorn")
        self.http = HttpServer(app.handle, access, server_header, served)
        try:
            await self.http.start(launch.host or "0.0.0.0", launch.port)
        except OSError as exc:
            text = exc.strerror or str(exc)
            if not text.startswith("error while attempting to bind"):
                text = f"error while attempting to bind on address ('{launch.display_host}', {launch.port}): {text.lower()}"
            self.emit(narrator.bind_error(f"[Errno {exc.errno}] {text}"))
            return 1

        startup = asyncio.create_task(self._startup(narrator, assessment, app))
        stopper = asyncio.create_task(self.stop.wait())
        done, _ = await asyncio.wait({startup, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            startup.cancel()
            await asyncio.gather(startup, return_exceptions=True)
            self.emit(narrator.shutdown())
            await self.http.close()
            return 0
        stopper.cancel()
        code = startup.result()
        if code:
            await self.http.close()
            return code
        stats = asyncio.create_task(self._stats(narrator, engine))
        await self.stop.wait()
        stats.cancel()
        self.emit(narrator.shutdown())
        await self.http.close()
        return 0

    async def _startup(self, narrator: Narrator, assessment: Assessment, app: App) -> int:
        """Log the load like the real server; return 1 at the failing stage, 0 once ready."""
        failure = assessment.failure
        budget = self.knobs.startup_s

        def fails(stage: str) -> bool:
            return failure is not None and failure.stage == stage

        def fail(f: Failure) -> int:
            self.emit(narrator.failure(f))
            return 1

        for note in assessment.notes:
            self.emit(narrator.note(note))
        if fails("config") or fails("platform"):
            return fail(failure)
        self.emit(narrator.after_config())
        await asyncio.sleep(0.1 * budget)
        self.emit(narrator.engine_start())
        if fails("engine"):
            return fail(failure)
        self.emit(narrator.load_start())
        if fails("load"):
            return fail(failure)
        total = weights_shards(assessment.info, assessment.plan)
        started = time.monotonic()
        self.emit(narrator.shard(0, total, 0.0))
        if fails("hang"):  # row 24: loading never finishes
            while True:
                await asyncio.sleep(max(budget, 1.0))
                self.emit(narrator.shard(0, total, time.monotonic() - started))
        for index in range(total):
            await asyncio.sleep(0.6 * budget / total)
            if fails("weights") and min(failure.shard, total - 1) <= index:
                return fail(failure)
            self.emit(narrator.shard(index + 1, total, time.monotonic() - started))
        self.emit(narrator.load_done(time.monotonic() - started))
        await asyncio.sleep(0.3 * budget)
        if fails("profile") or fails("warmup"):
            return fail(failure)
        self.emit(narrator.profile_done())
        app.ready = True
        self.emit(narrator.ready())
        return 0

    async def _stats(self, narrator: Narrator, engine: Engine, every: float = 10.0) -> None:
        while True:
            await asyncio.sleep(every)
            busy = engine.running or engine.waiting or engine.window_prompt or engine.window_generated
            if busy:
                self.emit(narrator.stats(engine.window_prompt / every, engine.window_generated / every,
                                         engine.running, engine.waiting, engine.metrics.cache_usage))
            engine.window_prompt = engine.window_generated = 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the simulator with the frameworks' argv; MODELDEPLOY_SIM_* settings come from `env`."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ) if env is None else dict(env)
    if any(a in ("-h", "--help") for a in args) or args[:1] == ["help"]:
        sys.stdout.write(USAGE)
        return 0
    try:
        knobs = knobs_from_env(env)
    except KnobError as exc:
        sys.stderr.write(f"simulator: {exc}\n")
        return 2
    try:
        launch = parse_launch(args, env, framework=knobs.framework, strict=knobs.strict_args)
    except ArgError as exc:
        sys.stderr.write(exc.message.rstrip("\n") + "\n")
        return exc.exit_code
    try:
        return asyncio.run(Simulator(launch, knobs, env).run())
    except KeyboardInterrupt:
        return 0
