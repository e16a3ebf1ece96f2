"""What to send: random prompts of given token lengths, ShareGPT files, custom JSONL, shared-prefix sets.

A `RequestSpec` is one prompt and the number of output tokens to ask for. Lengths are exact in tokens
when a tokenizer is available (token ids are drawn, decoded, re-encoded and trimmed until the text has
exactly the wanted length); without one, a prompt is that many common English words separated by spaces
(one token each for most tokenizers, exactly one for the simulator's).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from modeldeploy.errors import UserInputError
from modeldeploy.tools.jsonl import jsonl_values
from modeldeploy.tools.bench.schema import WorkloadSpec
from modeldeploy.tools.bench.tokenizer import Tokenizer

_WORDS = ("time person year way day thing man world life hand part child eye woman place work week case point "
          "number group problem fact water room money story month lot right study book job word business issue "
          "side kind head house service friend father power hour game line end member law car city name team "
          "minute idea kid body back parent face others level office door health art war history party result "
          "change morning reason research girl guy moment air teacher force education").split()


@dataclass(frozen=True)
class RequestSpec:
    prompt: str
    input_len: int = 0
    output_len: int = 128


def _lengths(rng: random.Random, mean: int, ratio: float) -> int:
    low, high = max(1, int(mean * (1 - ratio))), max(1, int(mean * (1 + ratio)))
    return rng.randint(low, high) if high > low else low


def _text_of_length(rng: random.Random, length: int, tokenizer: Tokenizer | None) -> str:
    if tokenizer is None:
        return " ".join(rng.choice(_WORDS) for _ in range(length))
    # Words, not arbitrary ids: decoded random ids often re-tokenize to a different count.
    words = [rng.choice(_WORDS) for _ in range(length)]
    ids = tokenizer.encode(" ".join(words))
    for _ in range(8):
        if len(ids) > length:
            ids = ids[:length]
        elif len(ids) < length:
            ids = ids + tokenizer.encode(" " + " ".join(rng.choice(_WORDS) for _ in range(length - len(ids))))
        text = tokenizer.decode(ids)
        ids = tokenizer.encode(text)
        if len(ids) == length:
            return text
    return tokenizer.decode(ids[:length])


def random_specs(spec: WorkloadSpec, count: int, tokenizer: Tokenizer | None) -> list[RequestSpec]:
    rng = random.Random(spec.seed)
    out = []
    for _ in range(count):
        n_in = _lengths(rng, spec.input_len, spec.range_ratio)
        out.append(RequestSpec(_text_of_length(rng, n_in, tokenizer), n_in, _lengths(rng, spec.output_len, spec.range_ratio)))
    return out


def prefix_specs(spec: WorkloadSpec, count: int, tokenizer: Tokenizer | None) -> list[RequestSpec]:
    """`num_prefixes` groups: each prompt is its group's `prefix_len`-token prefix plus `input_len` own tokens."""
    rng = random.Random(spec.seed)
    prefixes = [_text_of_length(rng, spec.prefix_len, tokenizer) for _ in range(spec.num_prefixes)]
    out = []
    for i in range(count):
        n_in = _lengths(rng, spec.input_len, spec.range_ratio)
        prompt = prefixes[i % spec.num_prefixes] + " " + _text_of_length(rng, n_in, tokenizer)
        n = tokenizer.count(prompt) if tokenizer else spec.prefix_len + n_in
        out.append(RequestSpec(prompt, n, _lengths(rng, spec.output_len, spec.range_ratio)))
    return out


def _count(text: str, tokenizer: Tokenizer | None) -> int:
    return tokenizer.count(text) if tokenizer else len(text.split())


def sharegpt_specs(path: Path, spec: WorkloadSpec, count: int, tokenizer: Tokenizer | None,
                   fixed_output: int | None) -> list[RequestSpec]:
    """First human turn as the prompt, the first reply's length as the output length (vLLM's filter:
    prompt and reply of at least 4 tokens, prompt at most 1024, both at most 2048)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserInputError(f"--dataset {path}: not a ShareGPT JSON file ({exc})") from None
    if not isinstance(data, list):
        raise UserInputError(f"--dataset {path}: a ShareGPT file is a JSON list of conversations")
    rng = random.Random(spec.seed)
    rng.shuffle(data)
    out = []
    for item in data:
        turns = item.get("conversations") or item.get("conversation") if isinstance(item, dict) else None
        if not isinstance(turns, list) or len(turns) < 2:
            continue
        prompt, reply = str(turns[0].get("value", "")), str(turns[1].get("value", ""))
        n_in, n_out = _count(prompt, tokenizer), fixed_output or _count(reply, tokenizer)
        if n_in < 4 or n_out < 4 or n_in > 1024 or n_in + n_out > 2048:
            continue
        out.append(RequestSpec(prompt, n_in, n_out))
        if len(out) >= count:
            break
    if not out:
        raise UserInputError(f"--dataset {path}: no usable conversation (need a human turn and a reply)")
    return out


def jsonl_specs(path: Path, spec: WorkloadSpec, count: int, tokenizer: Tokenizer | None,
                fixed_output: int | None) -> list[RequestSpec]:
    """One JSON object per line: `prompt` and `output_len` (or `expected_output_len`, `max_tokens`)."""
    out = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"--dataset {path}: {exc.strerror or exc}") from None
    for number, doc in jsonl_values(text, f"--dataset {path}"):
        if not isinstance(doc, dict) or not isinstance(doc.get("prompt"), str):
            raise UserInputError(f"--dataset {path}:{number}: each line needs a string `prompt`")
        n_out = fixed_output or doc.get("output_len") or doc.get("expected_output_len") or doc.get("max_tokens") \
            or spec.output_len
        if not isinstance(n_out, int) or n_out < 1:
            raise UserInputError(f"--dataset {path}:{number}: output_len must be a positive integer")
        out.append(RequestSpec(doc["prompt"], _count(doc["prompt"], tokenizer), n_out))
    if not out:
        raise UserInputError(f"--dataset {path}: no prompts")
    return out[:count] if count < len(out) else out


def build_specs(spec: WorkloadSpec, count: int, tokenizer: Tokenizer | None,
                fixed_output: int | None = None) -> list[RequestSpec]:
    """`count` specs (datasets may give fewer; the load generator cycles through them)."""
    if spec.kind in ("sharegpt", "jsonl"):
        if not spec.dataset:
            raise UserInputError(f"the {spec.kind} workload needs --dataset FILE")
        path = Path(spec.dataset).expanduser()
        if not path.is_file():
            raise UserInputError(f"--dataset {spec.dataset}: no such file")
        fn = sharegpt_specs if spec.kind == "sharegpt" else jsonl_specs
        return fn(path, spec, count, tokenizer, fixed_output)
    if spec.kind == "prefix":
        return prefix_specs(spec, count, tokenizer)
    return random_specs(spec, count, tokenizer)


def detect_kind(path: str) -> str:
    """`jsonl` for .jsonl files or files whose first line is an object with `prompt`, else `sharegpt`."""
    p = Path(path).expanduser()
    if p.suffix == ".jsonl":
        return "jsonl"
    try:
        with p.open(encoding="utf-8") as handle:
            first = handle.readline().strip()
    except OSError:
        return "sharegpt"
    if first.startswith("{") and '"prompt"' in first:
        return "jsonl"
    return "sharegpt"


def body_for(spec: RequestSpec, model: str, api: str, stream_options: dict | None, ignore_eos: bool) -> dict:
    """The request body for one spec (serialized once, before the run)."""
    doc: dict = {"model": model, "stream": True, "max_tokens": spec.output_len, "temperature": 0.0}
    if api == "chat":
        doc["messages"] = [{"role": "user", "content": spec.prompt}]
    else:
        doc["prompt"] = spec.prompt
    if stream_options:
        doc["stream_options"] = stream_options
    if ignore_eos:
        doc["ignore_eos"] = True
        doc["min_tokens"] = spec.output_len
    return doc
