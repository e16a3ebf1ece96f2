"""Diagnose a failed server start by rules: the decisive log line, its category, the slot changes that fix it.

`diagnose(log, slots=..., plan=..., hardware=..., attempts=...)` is a pure function (it only reads
`log` when that is a path):

1. Evidence: every line showing a known signature (`signatures.match_line`), found with one C-level
   scan of the text for the signatures' gates; the last "server ready" line; exception lines.
2. The decisive line: the earliest line of the best priority (specific < generic < wrapper; a warning-level
   line loses to an error-level one). When the server became ready, only what follows the last ready line
   counts (the crash happened serving, e.g. on the first request). A wrapper ("Engine core initialization
   failed. See root cause above") never wins over another signature, and when it is the only one, the
   first exception line of the log is reported instead. Nothing known: category `other`, no fix.
3. The fix: the signature's rules in order (catalog/failure_signatures.yaml); the first that applies to
   this deployment (its slots, plan, hardware, model) and was not already tried against the same
   signature (`attempts`) gives concrete slot values. None left: `action_for_human` says what a person
   must do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from pydantic import BaseModel, Field

from modeldeploy.tools.diagnosis.signatures import (Category, FixRule, Signature, load_signatures, match_line,
                                                    matcher)

KV_ROUND = 256
MAX_UTILIZATION = 0.95
STARTUP_MINUTES = 20
AUTO_PORT = "auto"
FIX_KEYS = ("tensor_parallel_size", "gpus", "gpu_layers", "dtype", "max_model_len", "quantization",
            "gpu_memory_utilization", "kv_cache_dtype", "kv_cache_space_gib", "trust_remote_code", "enforce_eager",
            "ipc_host", "max_num_seqs", "extra_flags", "framework", "image", "host_port", "redownload",
            "model_variant", "startup_minutes")
"""Keys a fix may hold: LaunchSlots fields, plus `framework` (switch to that plan candidate), `image`
(another tag of the same framework), `host_port` ("auto": pick a free port), `redownload` (fetch the weights
again, verified), `model_variant` (deploy a quantized/other variant of the model) and `startup_minutes`
(Kubernetes startup probe)."""


class Diagnosis(BaseModel):
    """What the rules concluded about one failed start."""

    category: Category
    signature: str | None = Field(default=None, description="Id of the decisive known signature.")
    fatal: str | None = Field(default=None, description="The decisive log line, verbatim (ANSI codes removed).")
    fatal_line: int | None = Field(default=None, description="1-based line number of `fatal` in the log.")
    fix: dict[str, Any] | None = Field(default=None, description="Slot changes that should fix it; see FIX_KEYS.")
    action: str | None = Field(default=None, description="The signature rule that produced `fix`.")
    needs_approval: bool = Field(default=False, description="The fix runs the model's own code: a person approves.")
    action_for_human: str | None = Field(default=None, description="What a person must do when no flag fixes it.")
    decided_by: Literal["rules"] = "rules"
    reason: str = Field(description="One sentence citing the fatal line.")
    signatures: list[str] = Field(default_factory=list, description="Every known signature seen, decisive first.")
    framework: str | None = Field(default=None, description="The framework the log is from (given or detected).")


# --- reading the log ------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_WARNING = re.compile(r"\bWARN(?:ING)?\b|\bWarning:|UserWarning|FutureWarning|DeprecationWarning")
_EXCEPTION = re.compile(r"(?:\b[A-Za-z_][\w.]*(?:Error|Exception|Fault)|\bError)(?=:\s|:$|$)", re.M)
_EXCEPTION_TAIL = re.compile(r"(?:Error|Exception|Fault)(?=:\s|:$|$)", re.M)
_ERRORISH = re.compile(r"\b(?:ERROR|FATAL|CRITICAL|Fatal|fatal|panic(?:ked)?|error loading|failed to)\b", re.M)
_PREFIX = re.compile(r"^(?:\([\w.]+ pid=\d+\)\s*)?(?:\[[^\]]{8,40}\]\s*)?"
                     r"(?:\d{4}-\d\d-\d\dT[\d:.]+Z\s+)?(?:(?:INFO|WARNING|WARN|ERROR|DEBUG|CRITICAL)\b[:\s]*"
                     r"(?:\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \[[^\]]*\]\s*)?)?")
_FRAMEWORK_HINTS = (
    ("tgi", re.compile(r"text_generation_(?:launcher|router|server)")),
    ("sglang", re.compile(r"sglang|\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d TP\d+\]")),
    ("llama.cpp", re.compile(r"llama_model_load|llama_model_loader|ggml_cuda_init|srv +load_model|main: HTTP server")),
    ("vllm", re.compile(r"vLLM API server version|\((?:APIServer|EngineCore(?:_DP\d+)?) pid=\d+\)|/vllm/|"
                        r"validation error for ModelConfig")),
    ("transformers", re.compile(r"transformers serve|/transformers/")),
)


@dataclass
class _Log:
    """The text examined, with the original line number of each of its lines when it is not the raw log."""

    text: str
    numbers: list[int | None] | None = None
    _mark: tuple[int, int] = (0, 0)  # (offset, line index there): scans move forward, so count from the last one

    def line_index(self, pos: int) -> int:
        at, index = self._mark
        if pos < at:
            at, index = 0, 0
        index += self.text.count("\n", at, pos)
        self._mark = (pos, index)
        return index

    def line_at(self, pos: int) -> tuple[int, str, int, int]:
        start = self.text.rfind("\n", 0, pos) + 1
        end = self.text.find("\n", pos)
        end = len(self.text) if end < 0 else end
        return self.line_index(pos), self.text[start:end], start, end

    def number(self, index: int) -> int | None:
        if self.numbers is None:
            return index + 1
        return self.numbers[index] if index < len(self.numbers) else None

    def lines(self) -> list[str]:
        return self.text.split("\n")


@dataclass
class _Hit:
    index: int
    start: int
    line: str
    sig: Signature
    warning: bool

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.sig.rank, int(self.warning), self.index)


def _normalize(text: str) -> str:
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _read(log: Any) -> _Log:
    if isinstance(log, Path):
        data = log.read_bytes()
        return _Log(_normalize(data.decode("utf-8", errors="replace")))
    if isinstance(log, bytes):
        return _Log(_normalize(log.decode("utf-8", errors="replace")))
    if isinstance(log, str):
        return _Log(_normalize(log))
    if hasattr(log, "fatal") and hasattr(log, "signatures"):
        return _from_digest(log)
    raise TypeError(f"diagnose() takes log text, a Path or a LogDigest, not {type(log).__name__}")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _from_digest(digest: Any) -> _Log:
    """The lines a LogDigest kept, in log order: group examples, the fatal line(s), the tail."""
    inf = float("inf")
    rows: list[tuple[float, int, str]] = []  # (line number or inf, insertion order, text)

    def add(number: Any, text: Any) -> None:
        if not text:
            return
        no = float(number) if isinstance(number, int) else inf
        for part in _normalize(str(text)).split("\n"):
            rows.append((no, len(rows), part))

    for group in _get(digest, "groups", None) or []:
        if _get(group, "kind") in ("overflow",):
            continue
        add(_get(group, "first_line"), _get(group, "example") or _get(group, "template"))
    add(_get(digest, "fatal_line"), _get(digest, "fatal"))
    tail = _get(digest, "tail") or []
    if isinstance(tail, str):
        tail = tail.splitlines()
    meta = list(_get(digest, "tail_meta", None) or [])
    for i, text in enumerate(tail):
        info = meta[i] if i < len(meta) else None
        if info is not None and _get(info, "kind") == "frames":
            continue  # "[45 traceback frame lines ...]": a placeholder, not a log line
        add(_get(info, "first_line") if info is not None else None, text)
    rows.sort(key=lambda r: (r[0], r[1]))
    seen: set[str] = set()
    lines: list[str] = []
    numbers: list[int | None] = []
    for no, _order, text in rows:
        if text in seen:
            continue
        seen.add(text)
        lines.append(text)
        numbers.append(int(no) if no != inf else None)
    return _Log("\n".join(lines), numbers)


def _message(line: str) -> str:
    """The line without its logger prefix (process tag, timestamp, level, source)."""
    return line[_PREFIX.match(line).end():]


def _is_frame(line: str) -> bool:
    msg = _message(line)
    return not msg.strip() or msg.startswith((" ", "\t", "Traceback", "File \"", "raise ", "During handling",
                                              "The above exception"))


def _scan(log: _Log) -> list[_Hit]:
    """Every line that shows a known signature, in log order."""
    m = matcher()
    text = log.text
    hits: list[_Hit] = []
    if m.ungated or m.gate_regex is None:  # some signature cannot be gated: check every line
        pos = 0
        for index, line in enumerate(text.split("\n")):
            for sid in match_line(line):
                hits.append(_Hit(index, pos, line.rstrip(), load_signatures().get(sid), _is_warning(line)))
            pos += len(line) + 1
        return hits
    catalog = load_signatures()
    search = m.gate_regex.search
    known: dict[str, list[str]] = {}  # repeated lines (a crash loop) are matched once
    gm = search(text)
    while gm is not None:
        index, line, start, end = log.line_at(gm.start())
        ids = known.get(line)
        if ids is None:
            ids = known[line] = match_line(line)
        for sid in ids:
            hits.append(_Hit(index, start, line.rstrip(), catalog.get(sid), _is_warning(line)))
        gm = search(text, end + 1)
    return hits


def _is_warning(line: str) -> bool:
    head = line[:160]
    if "WARN" not in head and "Warning" not in head:
        return False
    return _WARNING.search(head) is not None



_ready_cache: list[list[tuple[re.Pattern[str], str | None]]] = []


def _ready_markers() -> list[tuple[re.Pattern[str], str | None]]:
    """Each ready marker's regex with a literal every match contains (for a fast search from the end)."""
    if not _ready_cache:
        from modeldeploy.tools.diagnosis.signatures import required_literals

        out = []
        for marker in load_signatures().ready_markers:
            branches = required_literals(marker)
            literal = max(branches[0], key=len) if branches and len(branches) == 1 else None
            out.append((re.compile(marker, re.M), literal))
        _ready_cache.append(out)
    return _ready_cache[0]


def _last_ready(log: _Log) -> tuple[int, int] | None:
    """(line index, end offset) of the last line saying the server is ready."""
    text = log.text
    best = -1
    for rx, literal in _ready_markers():
        if literal is None:  # no literal to look for: scan everything
            for m in rx.finditer(text):
                best = max(best, m.start())
            continue
        pos = len(text)
        while (pos := text.rfind(literal, 0, pos)) > best:
            start = text.rfind("\n", 0, pos) + 1
            end = text.find("\n", pos)
            if rx.search(text, start, len(text) if end < 0 else end):
                best = pos
                break
    if best < 0:
        return None
    index, _line, _start, end = log.line_at(best)
    return index, end


def _first_exception(log: _Log, start: int = 0, end: int | None = None,
                     skip: Callable[[str], bool] | None = None) -> tuple[int, str] | None:
    """The first exception line (`SomethingError: ...`) in text[start:end], else the first error-looking line."""
    end = len(log.text) if end is None else end
    for rx, check in ((_EXCEPTION_TAIL, _EXCEPTION), (_ERRORISH, None)):
        done_until = -1
        for m in rx.finditer(log.text, start, end):
            if m.start() < done_until:
                continue
            index, line, _s, line_end = log.line_at(m.start())
            done_until = line_end
            if check is not None and not check.search(line):
                continue
            if _is_frame(line) or _is_warning(line) or (skip and skip(line)):
                continue
            return index, line.rstrip()
    return None


FRAMEWORK_WINDOW = 256 * 1024


def _detect_framework(log: _Log) -> str | None:
    """The framework whose log format appears first (banners are at the start; the end for cut logs)."""
    text = log.text
    windows = [text] if len(text) <= 2 * FRAMEWORK_WINDOW else [text[:FRAMEWORK_WINDOW], text[-FRAMEWORK_WINDOW:]]
    for window in windows:
        best: tuple[int, str] | None = None
        for name, rx in _FRAMEWORK_HINTS:
            m = rx.search(window)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), name)
        if best:
            return best[1]
    return None


# --- the context a fix is computed in ---------------------------------------------------------------

def _model(cls: type, value: Any) -> Any:
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls.model_validate(value)
    return value


@dataclass
class _Context:
    log: _Log
    sig: Signature
    caps: dict[str, str]
    slots: Any = None            # LaunchSlots | None
    plan: Any = None             # Plan | None
    hardware: Any = None         # HardwareFacts | None
    model: Any = None            # ModelFacts | None
    framework: str | None = None
    image: str | None = None
    device: str | None = None
    tried: list[dict] = field(default_factory=list)
    tried_frameworks: set[str] = field(default_factory=set)
    region: tuple[int, int] = (0, 0)  # text offsets: after the last ready line, to the end

    def cap_int(self, name: str) -> int | None:
        value = self.caps.get(name)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def log_has(self, pattern: str) -> bool:
        """Whether `pattern` occurs in the failure's region: the log after the last ready line (all of it
        when the server never got ready)."""
        return re.compile(pattern, re.M).search(self.log.text, self.region[0], self.region[1]) is not None

    def spec(self):
        from modeldeploy.catalog import load_catalog

        if not self.framework:
            return None
        try:
            return load_catalog().get(self.framework)
        except KeyError:
            return None

    def slot(self, name: str, default: Any = None) -> Any:
        if self.slots is None:
            return default
        value = getattr(self.slots, name, default)
        return default if value is None else value

    @property
    def on_gpu(self) -> bool | None:
        if self.device:
            return self.device == "cuda"
        if self.slots is not None and getattr(self.slots, "gpus", 0):
            return True
        if self.hardware is not None:
            return bool(self.hardware.gpus)
        return None

    def gpu_count(self) -> int | None:
        if self.hardware is not None and self.hardware.gpus:
            return len(self.hardware.gpus)
        gpus = self.cap_int("gpus")
        return gpus

    def heads(self) -> int | None:
        heads = self.cap_int("heads")
        if heads:
            return heads
        if self.model is not None and self.model.num_attention_heads:
            return int(self.model.num_attention_heads)
        return None

    def compute_capability(self) -> tuple[int, int] | None:
        if self.hardware is not None and self.hardware.gpus:
            return min(g.capability for g in self.hardware.gpus)
        m = re.search(r"compute capability (?:of )?(\d+)\.(\d+)", self.log.text)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def candidates(self, same_framework: bool = True) -> list:
        if self.plan is None:
            return []
        cands = list(self.plan.candidates)
        if same_framework and self.framework:
            cands = [c for c in cands if c.framework == self.framework]
        return cands


Proposal = tuple[dict[str, Any], str]
"""(slot changes, why, as a clause for the reason sentence)."""


def _round_down(value: int, unit: int = KV_ROUND) -> int:
    return value // unit * unit


# --- actions: each returns a proposal or None when it does not apply here ---------------------------

def _lower_max_model_len(ctx: _Context, rule: FixRule) -> Proposal | None:
    current = ctx.cap_int("current") or ctx.slot("max_model_len")
    if (tokens := ctx.cap_int("tokens")) is not None:
        target = _round_down(tokens) or tokens // 16 * 16
        why = f"the KV cache holds {tokens} tokens, so max_model_len drops to {target}"
    elif (derived := ctx.cap_int("derived")) is not None:
        target = derived
        why = f"the model's derived maximum context is {derived}, so max_model_len drops to it"
    elif (halve := ctx.cap_int("halve")) is not None:
        target = _round_down(halve // 2) or halve // 2
        why = f"{halve} tokens did not fit, so max_model_len drops to {target}"
    elif current:
        target = _round_down(current // 2) or current // 2
        why = f"the context of {current} tokens did not fit, so max_model_len is halved to {target}"
    else:
        return None
    if target < 16 or (current and target >= current):
        return None
    return {"max_model_len": int(target)}, why


def _raise_tp(ctx: _Context, rule: FixRule) -> Proposal | None:
    spec = ctx.spec()
    if ctx.on_gpu is False or (spec is not None and not spec.tensor_parallel):
        return None
    current = int(ctx.slot("tensor_parallel_size", 0) or ctx.cap_int("tp") or 1)
    heads = ctx.heads()
    gpus = ctx.gpu_count()
    planned = ctx.candidates()
    options = sorted({c.tensor_parallel_size for c in planned if c.tensor_parallel_size > current})
    if options:
        new, source = options[0], "the plan's next tensor-parallel size"
    elif planned:  # the plan knows this framework and has no larger size that fits
        return None
    else:
        new, source = current * 2, "twice the tensor-parallel size"
        if heads is not None and heads % new:
            return None
    if gpus is not None and new > gpus:
        return None
    fix: dict[str, Any] = {"tensor_parallel_size": new, "gpus": new}
    if ctx.slots is not None and not getattr(ctx.slots, "ipc_host", True):
        fix["ipc_host"] = True
    return fix, f"{source} ({new}) spreads the weights over {new} GPUs"


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _divisor_tp(ctx: _Context, rule: FixRule) -> Proposal | None:
    tp = ctx.cap_int("tp") or int(ctx.slot("tensor_parallel_size", 1))
    heads = ctx.heads()
    gpus = ctx.gpu_count()
    limit = gpus if gpus is not None else tp
    planned = ctx.candidates()
    options = [c.tensor_parallel_size for c in planned
               if c.tensor_parallel_size != tp and c.tensor_parallel_size <= limit
               and (heads is None or heads % c.tensor_parallel_size == 0)]
    if options:
        new = options[0]
        why = f"the plan's candidate uses tensor-parallel size {new}"
    elif planned:
        return None
    else:
        pool = _divisors(heads) if heads else [2 ** k for k in range(0, 7)]
        fitting = [d for d in pool if d <= limit and d != tp]
        if not fitting:
            return None
        new = max(fitting)
        why = (f"{new} is the largest tensor-parallel size that divides {heads} attention heads"
               if heads else f"{new} is the largest power of two that fits") + (f" and {gpus} GPUs" if gpus else "")
    fix: dict[str, Any] = {"tensor_parallel_size": new, "gpus": new}
    if new > 1 and ctx.slots is not None and not getattr(ctx.slots, "ipc_host", True):
        fix["ipc_host"] = True
    return fix, why


def _raise_gpu_memory_utilization(ctx: _Context, rule: FixRule) -> Proposal | None:
    if not ctx.on_gpu:
        return None
    spec = ctx.spec()
    current = float(ctx.slot("gpu_memory_utilization", 0) or (spec.memory.utilization if spec else 0.9))
    new = round(min(MAX_UTILIZATION, current + 0.05), 2)
    if new <= current:
        return None
    return {"gpu_memory_utilization": new}, f"GPU memory utilization rises from {current} to {new}"


def _raise_kv_cache_space(ctx: _Context, rule: FixRule) -> Proposal | None:
    if ctx.on_gpu is not False or (ctx.framework and ctx.framework != "vllm"):
        return None
    current = int(ctx.slot("kv_cache_space_gib", 0) or 4)
    new = current * 2
    if ctx.hardware is not None and new * 1024 > ctx.hardware.memory_total_mib * 0.5:
        return None
    return {"kv_cache_space_gib": new}, f"the CPU KV cache grows from {current} to {new} GiB"


def _lower_max_num_seqs(ctx: _Context, rule: FixRule) -> Proposal | None:
    spec = ctx.spec()
    current = int(ctx.slot("max_num_seqs", 0) or (spec.memory.max_num_seqs if spec else 256))
    new = max(1, current // 2)
    if new >= current:
        return None
    return {"max_num_seqs": new}, f"max_num_seqs halves from {current} to {new} (less activation memory)"


def _lower_gpu_layers(ctx: _Context, rule: FixRule) -> Proposal | None:
    layers = None
    if ctx.model is not None and ctx.model.num_layers:
        layers = int(ctx.model.num_layers)
    else:
        m = re.search(r"n_layer\s*=\s*(\d+)", ctx.log.text) or re.search(r"offloaded \d+/(\d+) layers", ctx.log.text)
        if m:
            layers = int(m.group(1))
    current = ctx.slot("gpu_layers")
    if current is None or current < 0 or (layers is not None and current > layers):
        if layers is None:
            return None
        current = layers + 1
    new = int(current) // 2
    if new < 1:
        return None
    return {"gpu_layers": new}, f"only {new} layers go to the GPU (was {current})"


def _dtype(ctx: _Context, rule: FixRule) -> Proposal | None:
    from modeldeploy.catalog import load_catalog

    family = ctx.model.family if ctx.model is not None else None
    refuses = family in load_catalog().families.refuses_fp16 if family else False
    want = rule.value or "float16"
    if want == "bfloat16_or_float32":
        cc = ctx.compute_capability()
        want = "bfloat16" if cc is not None and cc >= (8, 0) else "float32"
        why = f"the model refuses float16; {want} is what this GPU runs"
    elif want == "float16" and refuses:
        want, why = "float32", f"this GPU lacks bfloat16 and {family} refuses float16, so float32"
    else:
        planned = [c.dtype for c in ctx.candidates() if c.dtype and c.dtype != "bfloat16"]
        if want == "float16" and planned and planned[0] != "float16":
            want = planned[0]
        why = f"the GPU lacks bfloat16, so the dtype becomes {want}"
    if ctx.slot("dtype") == want:
        return None
    return {"dtype": want}, why


def _switch(name: str, why: str) -> Callable[[_Context, FixRule], Proposal | None]:
    def action(ctx: _Context, rule: FixRule) -> Proposal | None:
        if ctx.slot(name, False) is True:
            return None
        return {name: True}, why
    return action


def _enforce_eager(ctx: _Context, rule: FixRule) -> Proposal | None:
    if rule.if_log is None and ctx.on_gpu is False and ctx.sig.id != "first_request_crash":
        return None
    spec = ctx.spec()
    if spec is not None and not any(a.slot == "enforce_eager" for a in spec.launch.args):
        return None
    return _switch("enforce_eager", "eager mode skips CUDA graph capture and its memory")(ctx, rule)


def _another_port(ctx: _Context, rule: FixRule) -> Proposal | None:
    port = ctx.caps.get("port")
    why = f"port {port} is taken, so a free host port is chosen" if port else "the port is taken, so a free one is chosen"
    return {"host_port": AUTO_PORT}, why


def _redownload(ctx: _Context, rule: FixRule) -> Proposal | None:
    if _local_model(ctx.model):  # modeldeploy did not download them: nothing to fetch again
        return None
    return {"redownload": True}, "the files are downloaded again (resumed) and verified"


def _local_model(model: Any) -> bool:
    source = getattr(model, "source", None)
    return getattr(source, "kind", None) in ("local_dir", "gguf_file")


def _drop_flags(ctx: _Context, rule: FixRule) -> Proposal | None:
    extra = list(ctx.slot("extra_flags", []) or [])
    bad = {a.split("=", 1)[0] for a in (ctx.caps.get("args") or "").replace(",", " ").split() if a.startswith("-")}
    if not extra or not bad:
        return None
    kept = [f for f in extra if f.split("=", 1)[0] not in bad]
    if len(kept) == len(extra):
        return None
    return {"extra_flags": kept}, f"the image does not know {', '.join(sorted(bad))}, so it is dropped"


def _cuda_of(version: str | None) -> tuple[int, ...] | None:
    from modeldeploy.schemas.hardware import parse_version

    return parse_version(version)


def _current_image(ctx: _Context):
    spec = ctx.spec()
    if spec is None:
        return None, None
    name = ctx.image or next((c.image for c in ctx.candidates() if c.image), None)
    current = next((i for i in spec.images if i.image == name), None)
    return spec, current


def _older_image(ctx: _Context, rule: FixRule) -> Proposal | None:
    spec, current = _current_image(ctx)
    if spec is None:
        return None
    if current is not None and _cuda_of(current.cuda) is None:  # a CPU image: no CUDA to go below
        current = None
    # The driver the log reports is the one really there; the hardware facts may be a plan's assumption.
    driver = ctx.hardware.cuda if ctx.hardware is not None else None
    if found := ctx.cap_int("driver"):
        driver = (found // 1000, found % 1000 // 10)
    needs = _cuda_of(ctx.caps.get("image_cuda"))
    images = spec.images_for("cuda")
    if current is None and needs is None and driver is None:
        return None
    for img in images:  # newest first
        cuda = _cuda_of(img.cuda)
        if cuda is None or (current is not None and (img.image == current.image or cuda >= _cuda_of(current.cuda))):
            continue
        if needs is not None and cuda >= needs:
            continue
        if driver is not None and cuda > driver:
            continue
        if img.image == ctx.image:
            continue
        return {"image": img.image}, f"{img.image} is built for CUDA {img.cuda}, which the driver supports"
    return None


def _newer_image(ctx: _Context, rule: FixRule) -> Proposal | None:
    spec, current = _current_image(ctx)
    if spec is None or current is None:
        return None
    from modeldeploy.schemas.hardware import parse_version

    driver = ctx.hardware.cuda if ctx.hardware is not None else None
    for img in spec.images_for(current.device):  # newest first
        if (parse_version(img.version) or ()) <= (parse_version(current.version) or ()):
            break
        if img.cuda and driver is not None and _cuda_of(img.cuda) > driver:
            continue
        return {"image": img.image}, f"{img.image} is a newer {spec.display_name} that may know the architecture"
    return None


def _another_framework(ctx: _Context, rule: FixRule) -> Proposal | None:
    exclude = set(ctx.tried_frameworks) | ({ctx.framework} if ctx.framework else set())
    for cand in ctx.candidates(same_framework=False):
        if cand.framework not in exclude:
            return ({"framework": cand.framework, "tensor_parallel_size": cand.tensor_parallel_size},
                    f"{cand.framework} (tensor-parallel size {cand.tensor_parallel_size}) is the next feasible "
                    "candidate of the plan")
    if ctx.plan is None and "transformers" not in exclude and ctx.framework != "llama.cpp":
        fmt = ctx.model.format if ctx.model is not None else None
        if fmt != "gguf":
            return {"framework": "transformers"}, "transformers serve runs any architecture with its own kernels"
    return None


def _quantized_variant(ctx: _Context, rule: FixRule) -> Proposal | None:
    value = rule.value or "awq"
    if ctx.model is not None and ctx.model.quantization is not None and ctx.model.quantization.method == value:
        return None
    article = "an" if value[:1].lower() in "aeiou" else "a"
    why = f"{article} {value.upper()} variant of the model needs less memory and other kernels"
    return {"model_variant": value}, why


def _longer_startup_probe(ctx: _Context, rule: FixRule) -> Proposal | None:
    return {"startup_minutes": STARTUP_MINUTES}, f"the startup probe waits {STARTUP_MINUTES} minutes for the weights"


ACTIONS: dict[str, Callable[[_Context, FixRule], Proposal | None]] = {
    "lower_max_model_len": _lower_max_model_len,
    "raise_tp": _raise_tp,
    "divisor_tp": _divisor_tp,
    "raise_gpu_memory_utilization": _raise_gpu_memory_utilization,
    "raise_kv_cache_space": _raise_kv_cache_space,
    "lower_max_num_seqs": _lower_max_num_seqs,
    "lower_gpu_layers": _lower_gpu_layers,
    "dtype": _dtype,
    "enforce_eager": _enforce_eager,
    "ipc_host": _switch("ipc_host", "the container shares the host's IPC namespace (/dev/shm) for NCCL"),
    "trust_remote_code": _switch("trust_remote_code", "the model's own code is allowed to run, once a person approves"),
    "another_port": _another_port,
    "redownload": _redownload,
    "drop_flags": _drop_flags,
    "older_image": _older_image,
    "newer_image": _newer_image,
    "another_framework": _another_framework,
    "quantized_variant": _quantized_variant,
    "longer_startup_probe": _longer_startup_probe,
}


# --- the decision -----------------------------------------------------------------------------------

def _attempt_fields(attempt: Any) -> tuple[str | None, dict | None]:
    sig = _get(attempt, "signature")
    fix = _get(attempt, "fix")
    if fix is not None and not isinstance(fix, dict):
        fix = dict(fix)
    return sig, fix


def _no_op(fix: dict[str, Any], slots: Any) -> bool:
    """The fix sets nothing the slots do not already hold."""
    if slots is None:
        return False
    for key, value in fix.items():
        if not hasattr(slots, key) or getattr(slots, key) != value:
            return False
    return True


def _propose(ctx: _Context) -> tuple[dict[str, Any] | None, str | None, str]:
    """(fix, action, why) from the signature's rules; (None, None, why-not) when none is left."""
    for rule in ctx.sig.fix:
        if rule.if_log and not ctx.log_has(rule.if_log):
            continue
        proposal = ACTIONS[rule.action](ctx, rule)
        if proposal is None:
            continue
        fix, why = proposal
        if fix in ctx.tried or _no_op(fix, ctx.slots):
            continue
        return fix, rule.action, why
    if ctx.tried:
        return None, None, "the fixes the rules know were already tried against this failure"
    return None, None, "no launch setting fixes this"


def _excerpt(line: str, limit: int = 180) -> str:
    msg = _message(line).strip() or line.strip()
    return msg if len(msg) <= limit else msg[:limit - 3].rstrip() + "..."


def _reason(head: str, line: str | None, number: int | None) -> str:
    if not line:
        return head[:1].upper() + head[1:] + "."
    where = f"line {number}" if number else "the log"
    return f"{head[:1].upper() + head[1:]} ({where}: \"{_excerpt(line)}\")."


def _decisive(log: _Log, hits: list[_Hit]) -> tuple[_Hit | None, tuple[int, str] | None, bool, int]:
    """(decisive hit, fatal line override, served, region start): hits after the last ready line count."""
    ready = _last_ready(log)
    region_start = 0
    served = False
    if ready is not None:
        after = [h for h in hits if h.index > ready[0]]
        served = True
        region_start = ready[1]
        hits = after
    if not hits:
        return None, None, served, region_start
    present = {h.sig.id for h in hits}
    explained = {sid for h in hits for sid in h.sig.supersedes if sid in present}
    hits = [h for h in hits if h.sig.id not in explained] or hits
    best = min(hits, key=lambda h: h.key)
    if best.sig.priority == "wrapper":
        exc = _first_exception(log, region_start, skip=lambda line: bool(match_line(line)))
        if exc is not None:
            return best, exc, served, region_start
    if best.sig.priority == "generic":  # "the engine died": the first exception of the region says why
        exc = _first_exception(log, region_start,
                               skip=lambda line: any(load_signatures().get(s).priority != "specific"
                                                     for s in match_line(line)))
        if exc is not None:
            return best, exc, served, region_start
    return best, None, served, region_start


def diagnose(log: str | Path | Any, *, slots: Any = None, plan: Any = None, hardware: Any = None,
             attempts: Iterable[Any] | None = None, model: Any = None, decision: Any = None,
             framework: str | None = None) -> Diagnosis:
    """Diagnose a failed start from its log (text, a Path to read, or a LogDigest).

    slots: the LaunchSlots that failed; plan: the Plan (its candidates bound TP and framework changes);
    hardware: HardwareFacts; attempts: earlier repairs, dicts (or objects) with `signature` and `fix`;
    model: ModelFacts (heads, family); decision: the Decision that failed (framework, image, device, slots);
    framework: the framework, when neither the decision nor the log tells.
    """
    from modeldeploy.schemas.decision import Decision, LaunchSlots
    from modeldeploy.schemas.hardware import HardwareFacts
    from modeldeploy.schemas.model import ModelFacts
    from modeldeploy.schemas.plan import Plan

    decision = _model(Decision, decision)
    slots = _model(LaunchSlots, slots) or (decision.slots if decision is not None else None)
    plan = _model(Plan, plan)
    hardware = _model(HardwareFacts, hardware)
    model = _model(ModelFacts, model)
    text = _read(log)
    hits = _scan(text)
    seen_ids = list(dict.fromkeys(h.sig.id for h in hits))
    fw = framework or (decision.framework if decision is not None else None) or _detect_framework(text) or \
        (plan.candidates[0].framework if plan is not None and plan.candidates else None)

    best, override, served, region_start = _decisive(text, hits)
    if best is None or (best.sig.priority == "wrapper" and override is not None):
        if override is None:
            override = _first_exception(text, region_start)
        fatal_line = override[1] if override else None
        number = text.number(override[0]) if override else None
        if served and fatal_line:
            sig = load_signatures().get("first_request_crash")
            best = _Hit(override[0], max(text.text.find(fatal_line, region_start), 0), fatal_line, sig, False)
            override = None
        else:
            if best is not None:  # only a wrapper: name what it wraps
                head = "the server reports a failed worker and the first error in the log is not a known failure"
                human = best.sig.human_action
            elif served:
                head = "the server became ready and logged no error afterwards"
                human = "Check the request that failed (the smoke test's error) and the server's health."
            else:
                head = "the log shows no known failure"
                human = ("Read the log around the fatal line; the rules know no fix for it"
                         + (" (an LLM diagnosis may)." if fatal_line else "."))
            ids = [s for s in seen_ids if s != "engine_core_wrapper"] + \
                  (["engine_core_wrapper"] if "engine_core_wrapper" in seen_ids else [])
            return Diagnosis(category="other", signature=None, fatal=fatal_line, fatal_line=number, fix=None,
                             action_for_human=human, reason=_reason(head, fatal_line, number), signatures=ids,
                             framework=fw)

    sig = best.sig
    if fw is None and len(sig.frameworks) == 1:  # e.g. llama.cpp's or TGI's own wording
        fw = sig.frameworks[0]
    fatal_index, fatal = (override if override is not None else (best.index, best.line))
    number = text.number(fatal_index)
    caps: dict[str, str] = sig.captures(best.line)
    others = [h for h in hits if h.sig.id == sig.id and h is not best and h.line != best.line]
    for h in others[:50]:  # numbers the decisive line does not carry may sit on another line of the same failure
        for key, val in sig.captures(h.line).items():
            caps.setdefault(key, val)
    tried: list[dict] = []
    tried_fw: set[str] = set()
    for attempt in attempts or []:
        a_sig, a_fix = _attempt_fields(attempt)
        if a_fix and a_fix.get("framework"):
            tried_fw.add(str(a_fix["framework"]))
        if a_sig == sig.id and a_fix:
            tried.append(a_fix)
    device = decision.device if decision is not None else None
    if device is None:
        m = re.search(r"detected platform (\w+)", text.text)
        if m:
            device = "cpu" if m.group(1) == "cpu" else "cuda"
    ctx = _Context(log=text, sig=sig, caps=caps, slots=slots, plan=plan, hardware=hardware, model=model,
                   framework=fw, image=decision.image if decision is not None else None, device=device,
                   tried=tried, tried_frameworks=tried_fw,
                   region=(region_start, len(text.text)))
    fix, action, why = _propose(ctx)
    ids = [sig.id] + [s for s in seen_ids if s != sig.id]
    if fix is not None:
        needs_approval = bool(fix.get("trust_remote_code"))
        head = why
        return Diagnosis(category=sig.category, signature=sig.id, fatal=fatal, fatal_line=number, fix=fix,
                         action=action, needs_approval=needs_approval, action_for_human=None,
                         reason=_reason(head, fatal, number), signatures=ids, framework=fw)
    human = (_local_model(model) and sig.human_action_local) or sig.human_action or "Read the log around the fatal line."
    if _local_model(model) and sig.human_action_local:
        human = human.format(path=model.source.path)
    if tried:
        human = f"{human} (Already tried: {'; '.join(_fix_text(t) for t in tried)}.)"
    return Diagnosis(category=sig.category, signature=sig.id, fatal=fatal, fatal_line=number, fix=None,
                     action_for_human=human, reason=_reason(why, fatal, number), signatures=ids,
                     framework=fw)


def _fix_text(fix: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in fix.items())


__all__ = ["Diagnosis", "diagnose", "ACTIONS", "FIX_KEYS"]
