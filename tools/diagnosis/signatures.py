"""Known failure signatures: load and validate ``catalog/failure_signatures.yaml``, match log lines.

`match_line(line)` runs on every line of logs of a million lines, so it has a
fast path: from each signature's regex the loader derives the literal text
every match must contain (per top-level alternative), and from each literal a
short *gate* that starts with a character rare in server logs. All gates form
one trie-shaped regex; Python's regex engine then skips in C to the few
positions holding a gate's first character, so a line that names no failure
costs one scan. Only lines that contain a gate run the few full signature
regexes that gate belongs to. A signature whose alternatives have no literal
(e.g. a pure character class) is run on every line: correct, just slower.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, Field, field_validator, model_validator

try:  # Python 3.11+
    import re._constants as _sre_constants
    import re._parser as _sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

Category = Literal[
    "oom_or_kv_cache", "max_model_len_too_large", "unsupported_architecture", "trust_remote_code_required",
    "dtype_unsupported", "missing_or_corrupt_weights", "missing_tokenizer", "bad_argument", "port_in_use",
    "unsupported_head_dim_or_kernel", "model_not_found", "gpu_runtime_missing", "driver_too_old",
    "tensor_parallel_mismatch", "nccl_shm", "gated_model", "other",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]

Action = Literal[
    "lower_max_model_len", "raise_tp", "divisor_tp", "raise_gpu_memory_utilization", "lower_max_num_seqs",
    "raise_kv_cache_space", "lower_gpu_layers", "dtype", "enforce_eager", "ipc_host", "trust_remote_code",
    "another_port", "redownload", "drop_flags", "older_image", "newer_image", "another_framework",
    "quantized_variant", "longer_startup_probe",
]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]

Priority = Literal["specific", "generic", "wrapper"]
PRIORITY_RANK = {"specific": 0, "generic": 1, "wrapper": 2}


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{what}: invalid regex {pattern!r}: {exc}") from None


class FixRule(BaseModel):
    """One typed fix: an action with its parameters; rules.py turns it into slot changes."""

    model_config = {"extra": "forbid"}

    action: Action
    value: str | None = Field(default=None, description="Parameter of the action (dtype, variant).")
    if_log: str | None = Field(default=None, description="Applies only when this regex occurs in the log.")

    @field_validator("if_log")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            _compile(v, "if_log")
        return v


class Signature(BaseModel):
    """A known failure: the line that names it, its category, and what fixes it."""

    model_config = {"extra": "forbid"}

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    row: int | None = Field(default=None, description="Row of failure-signatures.md.")
    pattern: str
    exclude: str | None = None
    category: Category
    priority: Priority = "specific"
    frameworks: list[str] = Field(default_factory=list)
    supersedes: list[str] = Field(default_factory=list,
                                  description="Signatures this one explains when both show (it wins even if later).")
    capture: list[str] = Field(default_factory=list)
    fix: list[FixRule] = Field(default_factory=list)
    human_action: str | None = None
    human_action_local: str | None = None   # instead, when the model is a local directory or file

    @field_validator("capture", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> "Signature":
        _compile(self.pattern, f"signature {self.id} pattern")
        if self.exclude:
            _compile(self.exclude, f"signature {self.id} exclude")
        for cap in self.capture:
            if not _compile(cap, f"signature {self.id} capture").groupindex:
                raise ValueError(f"signature {self.id}: capture {cap!r} has no named group")
        if not self.fix and not self.human_action:
            raise ValueError(f"signature {self.id}: needs a fix or a human_action")
        return self

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    @functools.cached_property
    def exclude_regex(self) -> re.Pattern[str] | None:
        return re.compile(self.exclude) if self.exclude else None

    @functools.cached_property
    def capture_regexes(self) -> list[re.Pattern[str]]:
        return [re.compile(c) for c in self.capture]

    @property
    def rank(self) -> int:
        return PRIORITY_RANK[self.priority]

    def matches(self, line: str) -> bool:
        if self.regex.search(line) is None:
            return False
        return self.exclude_regex is None or self.exclude_regex.search(line) is None

    def captures(self, line: str) -> dict[str, str]:
        """Named groups of every capture regex that matches `line` (first match wins per name)."""
        out: dict[str, str] = {}
        for rx in self.capture_regexes:
            m = rx.search(line)
            if m:
                for key, val in m.groupdict().items():
                    if val is not None and key not in out:
                        out[key] = val
        return out


class SignatureCatalog(BaseModel):
    """The whole signature file."""

    model_config = {"extra": "forbid"}

    signatures: list[Signature]
    ready_markers: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> "SignatureCatalog":
        seen: set[str] = set()
        for sig in self.signatures:
            if sig.id in seen:
                raise ValueError(f"duplicate signature id {sig.id!r}")
            seen.add(sig.id)
        for sig in self.signatures:
            unknown = [s for s in sig.supersedes if s not in seen]
            if unknown:
                raise ValueError(f"signature {sig.id}: supersedes unknown signature(s) {unknown}")
        for marker in self.ready_markers:
            _compile(marker, "ready marker")
        return self

    def get(self, signature_id: str) -> Signature:
        for sig in self.signatures:
            if sig.id == signature_id:
                return sig
        raise KeyError(signature_id)


# --- the fast matcher -----------------------------------------------------------------------------

# Characters from most to least frequent in server logs (measured on vLLM/SGLang/TGI/llama.cpp startup,
# failure and serving logs); anything not listed counts as rarest. Only speed depends on it, never results.
_COMMON = " etrs1no0:i2ap.c5u_gld3,h-/m=4\"Pkv7689|OTqISN()FA#bf[]yx<>KERGHw'UW%\\DCVZ{}LzM*`B?YQ+XjJ;"
_FREQ = {ch: len(_COMMON) - i for i, ch in enumerate(_COMMON)}
GATE_LEN = 12
GATE_MIN = 6
MIN_LITERAL = 3
# Ordinary lines of healthy servers: a gate that occurs in one of them would send every such line to the
# signature regexes, so gates are chosen to occur in none (speed only: a miss here costs time, not results).
_ORDINARY = (
    "(APIServer pid=1) INFO 11-25 12:00:00 [loggers.py:123] Engine 000: Avg prompt throughput: 1.0 tokens/s, "
    "Avg generation throughput: 1.0 tokens/s, Running: 1 reqs, Waiting: 0 reqs, GPU KV cache usage: 1.0%, "
    "Prefix cache hit rate: 0.0%",
    '(APIServer pid=1) INFO:     127.0.0.1:40000 - "POST /v1/chat/completions HTTP/1.1" 200 OK',
    "(APIServer pid=1) INFO 11-25 12:00:00 [logger.py:43] Received request chatcmpl-1: prompt: '', params: "
    "SamplingParams(n=1, presence_penalty=0.0, temperature=0.7, top_p=1.0, max_tokens=256), prompt_token_ids: None",
    "(APIServer pid=1) INFO 11-25 12:00:00 [engine.py:331] Added request chatcmpl-1.",
    "(EngineCore_DP0 pid=1) INFO 11-25 12:00:00 [gpu_worker.py:298] Available KV cache memory: 1.00 GiB",
    "(EngineCore_DP0 pid=1) INFO 11-25 12:00:00 [kv_cache_utils.py:1087] GPU KV cache size: 1 tokens",
    "(EngineCore_DP0 pid=1) INFO 11-25 12:00:00 [kv_cache_utils.py:1091] Maximum concurrency for 1 tokens per "
    "request: 1.00x",
    "(EngineCore_DP0 pid=1) INFO 11-25 12:00:00 [gpu_model_runner.py:2653] Model loading took 1.0 GiB and 1.0 seconds",
    "(EngineCore_DP0 pid=1) INFO 11-25 12:00:00 [gpu_model_runner.py:3480] Graph capturing finished in 1 secs, "
    "took 0.50 GiB",
    "(EngineCore_DP0 pid=1) INFO 11-25 12:00:00 [core.py:77] Initializing a V1 LLM engine (v0.11.0) with config: "
    "model='m', tokenizer='m', skip_tokenizer_init=False, tokenizer_mode=auto, trust_remote_code=False, "
    "dtype=torch.bfloat16, max_seq_len=1, download_dir=None, load_format=auto, tensor_parallel_size=1, "
    "disable_custom_all_reduce=False, quantization=None, enforce_eager=False, kv_cache_dtype=auto",
    "[2025-11-25 12:00:00 TP0] Decode batch. #running-req: 1, #token: 1, token usage: 0.01, gen throughput "
    "(token/s): 1.00, #queue-req: 0",
    "[2025-11-25 12:00:00 TP0] Prefill batch. #new-seq: 1, #new-token: 1, #cached-token: 0, token usage: 0.01, "
    "#running-req: 1, #queue-req: 0",
    "[2025-11-25 12:00:00 TP0] Load weight end. type=LlamaForCausalLM, dtype=torch.bfloat16, avail mem=1.00 GB, "
    "mem usage=1.00 GB.",
    "[2025-11-25 12:00:00 TP0] KV Cache is allocated. #tokens: 1, K size: 1.00 GB, V size: 1.00 GB",
    '2025-11-25T12:00:00.000000Z  INFO chat_completions{total_time="1.0s" validation_time="1us" '
    'queue_time="1us" inference_time="1s" time_per_token="1ms" seed="None"}: text_generation_router::server: '
    "router/src/server.rs:622: Success",
    "2025-11-25T12:00:00.000000Z  INFO text_generation_launcher: Using attention flashinfer - Prefix caching true",
    "srv  log_server_r: request: POST /v1/chat/completions 127.0.0.1 200",
    "slot update_slots: id  0 | task 1 | prompt processing progress, n_past = 1, n_tokens = 1, progress = 0.1",
    "slot      release: id  0 | task 1 | stop processing: n_past = 1, truncated = 0",
    "llama_model_loader: loaded meta data with 1 key-value pairs and 1 tensors from m.gguf (version GGUF V3 (latest))",
    "load_tensors: offloaded 33/33 layers to GPU; CUDA0 model buffer size = 1.00 MiB; CPU_Mapped model buffer size",
    "llama_context: CUDA0 compute buffer size = 1.00 MiB; llama_kv_cache_unified: CUDA0 KV buffer size = 1.00 MiB",
    "h:1:1 [0] NCCL INFO cudaDriverVersion 12020; NCCL INFO NCCL version 2.21.5+cuda12.4; Using network Socket",
    "Loading safetensors checkpoint shards: 100% Completed | 2/2 [00:00<00:00, 0.09s/it]",
    'INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit); INFO:     Started server process [1]',
)


def _freq(ch: str) -> int:
    return _FREQ.get(ch, 0)


def _literal_runs(seq) -> list[str]:
    """Maximal runs of literal characters that every match of `seq` contains, in order.

    Only top-level LITERAL ops and the contents of plain groups count; anything optional, repeated or
    alternative ends the current run.
    """
    runs: list[str] = []
    cur: list[str] = []
    for op, av in seq:
        if op is _sre_constants.LITERAL:
            cur.append(chr(av))
            continue
        if op is _sre_constants.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            inner = list(sub)
            if not add_flags and not del_flags and not any(o is _sre_constants.BRANCH for o, _ in inner):
                runs.append("".join(cur))
                cur = []
                runs.extend(_literal_runs(inner))
                continue
        runs.append("".join(cur))
        cur = []
    runs.append("".join(cur))
    return [r for r in runs if r]


def required_literals(pattern: str) -> list[list[str]] | None:
    """Per top-level alternative of `pattern`, the literal runs every match of it contains.

    None when some alternative has no literal of MIN_LITERAL characters (or the pattern ignores case):
    such a pattern cannot be gated and runs on every line.
    """
    parsed = _sre_parse.parse(pattern)
    if parsed.state.flags & re.IGNORECASE:
        return None
    items = list(parsed)
    if len(items) == 1 and items[0][0] is _sre_constants.BRANCH:
        branches = [list(b) for b in items[0][1][1]]
    else:
        branches = [items]
    out = []
    for branch in branches:
        runs = [r for r in _literal_runs(branch) if len(r) >= MIN_LITERAL]
        if not runs:
            return None
        out.append(runs)
    return out


def choose_gate(runs: list[str]) -> str:
    """The gate of one alternative: a substring of one of its literals, GATE_MIN to GATE_LEN characters
    long (the whole literal when shorter), starting at the rarest character; among equals the longest.

    A rare first character keeps the regex engine's C-level skip loop from stopping; a long gate rarely
    occurs in an ordinary line, so ordinary lines never reach the signature regexes.
    """
    options = sorted({literal[i:i + GATE_LEN] for literal in runs
                      for i in range(max(len(literal) - GATE_MIN, 0) + 1)},
                     key=lambda g: (_freq(g[0]), -len(g), g))
    for gate in options:
        if not any(gate in line for line in _ORDINARY):
            return gate
    return max(runs, key=len)  # every substring is ordinary: the longest literal at least matches rarely


def _trie_regex(words: list[str]) -> str:
    """An alternation of `words` shaped as a trie, so that the regex engine never backtracks over them."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        if "" in node:  # a gate ends here: any longer gate through it is redundant for the gate test
            return ""
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items())]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return build(trie)


class Matcher:
    """Matches a line against every signature; gated so that ordinary lines cost one C-level scan."""

    def __init__(self, catalog: SignatureCatalog):
        self.catalog = catalog
        self.order = {sig.id: i for i, sig in enumerate(catalog.signatures)}
        gate_sigs: dict[str, set[int]] = {}
        self.ungated: list[Signature] = []
        for index, sig in enumerate(catalog.signatures):
            branches = required_literals(sig.pattern)
            if branches is None:
                self.ungated.append(sig)
                continue
            for runs in branches:
                gate_sigs.setdefault(choose_gate(runs), set()).add(index)
        self.gates = sorted(gate_sigs)
        # The trie regex reports the shortest gate at a position: that gate stands for every gate it prefixes.
        self._by_prefix: dict[str, tuple[Signature, ...]] = {}
        for gate in self.gates:
            idx = set().union(*(gate_sigs[g] for g in self.gates if g.startswith(gate)))
            self._by_prefix[gate] = tuple(catalog.signatures[i] for i in sorted(idx))
        self.gate_regex = re.compile(_trie_regex(self.gates)) if self.gates else None
        self._search = self.gate_regex.search if self.gate_regex is not None else None

    def match(self, line: str) -> list[str]:
        hits: list[Signature] = []
        search = self._search
        m = search(line) if search is not None else None
        if m is not None:
            seen: set[str] = set()
            while m is not None:
                for sig in self._by_prefix[m.group()]:
                    if sig.id not in seen:
                        seen.add(sig.id)
                        if sig.matches(line):
                            hits.append(sig)
                m = search(line, m.start() + 1)
        for sig in self.ungated:
            if sig.matches(line):
                hits.append(sig)
        if len(hits) > 1:
            hits.sort(key=lambda s: self.order[s.id])
        return [s.id for s in hits]


# --- loading -------------------------------------------------------------------------------------

def parse_catalog(text: str) -> SignatureCatalog:
    """Validate signature YAML text (raises ValueError with the reason)."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError("failure signatures: the YAML must be a mapping with `signatures`")
    return SignatureCatalog.model_validate(doc)


@functools.cache
def load_signatures() -> SignatureCatalog:
    """The shipped signatures, validated. Cached: read-only data."""
    text = resources.files("modeldeploy.catalog").joinpath("failure_signatures.yaml").read_text(encoding="utf-8")
    return parse_catalog(text)


@functools.cache
def matcher() -> Matcher:
    return Matcher(load_signatures())


_gate_search = None  # the shipped matcher's gate regex search, bound on first use


def match_line(line: str) -> list[str]:
    """Ids of the known signatures `line` shows (catalog order; usually none, rarely more than one).

    Costs one regex scan for a line that holds no gate (about 1-2 microseconds for 100-250 characters).
    """
    global _gate_search
    search = _gate_search
    if search is None:
        m = matcher()
        if m.ungated or m.gate_regex is None:
            return m.match(line)
        search = _gate_search = m.gate_regex.search
    if search(line) is None:
        return []
    return matcher().match(line)


def signature(signature_id: str) -> Signature:
    """The signature with this id (KeyError when unknown)."""
    return load_signatures().get(signature_id)


def all_signatures() -> list[Signature]:
    return list(load_signatures().signatures)


__all__ = ["CATEGORIES", "ACTIONS", "Category", "Action", "FixRule", "Signature", "SignatureCatalog", "Matcher",
           "match_line", "signature", "all_signatures", "load_signatures", "parse_catalog", "required_literals"]
