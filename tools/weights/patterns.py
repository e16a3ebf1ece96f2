"""Which files of a hub repo a deployment needs, as allow/ignore patterns for snapshot_download.

Patterns are matched by huggingface_hub's `filter_repo_objects` (fnmatch on the
whole path, where `*` also matches `/`). One copy of the weights is kept: the
chosen GGUF file, else the safetensors checkpoint, else the PyTorch `.bin` one;
the duplicates repos often carry (`.bin` next to safetensors, Meta's
`original/*`, Mistral's `consolidated*`) are ignored. Custom code (`*.py`) comes
only with trust_remote_code.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from modeldeploy.errors import UserInputError

# Configuration, tokenizer and chat-template files, at the repo root.
CONFIG_PATTERNS = [
    "config.json", "generation_config.json", "params.json",
    "quantize_config.json", "preprocessor_config.json", "processor_config.json",
    "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "vocab.txt", "merges.txt", "spiece.model", "sentencepiece.bpe.model", "tekken.json", "*.tiktoken",
    "chat_template.json", "chat_template.jinja", "additional_chat_templates/*.jinja",
]
CODE_PATTERNS = ["*.py"]
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pth", ".pt")

# Other serializations of the same weights, never needed next to the one we keep.
_OTHER_FORMATS = ["*.h5", "*.msgpack", "*.onnx", "*.onnx_data", "*.ot", "*.tflite", "*.mlmodel", "*.nemo"]
_NOT_WEIGHTS_BIN = ["training_args.bin", "optimizer*.bin", "scheduler*.bin", "rng_state*.pth", "*/training_args.bin"]
_SPLIT_GGUF = re.compile(r"^(?P<stem>.*)-(?P<idx>\d{5})-of-(?P<n>\d{5})\.gguf$")


def _is_duplicate_copy(name: str) -> bool:
    """Meta's `original/` folder and Mistral's `consolidated*` files repeat the HF-format weights."""
    return name.startswith("original/") or PurePosixPath(name).name.startswith("consolidated")


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _gguf_parts(chosen: str, files: list[str]) -> list[str]:
    """The chosen GGUF and, when it is one shard of a split file (`x-00001-of-00003.gguf`), its sibling shards."""
    match = _SPLIT_GGUF.match(chosen)
    if not match:
        return [chosen]
    stem, n = match.group("stem"), match.group("n")
    siblings = [f"{stem}-{i:05d}-of-{n}.gguf" for i in range(1, int(n) + 1)]
    return [s for s in siblings if not files or s in files] or [chosen]


def allow_patterns_for(model_files: list[str], chosen_gguf: str | None, trust_remote_code: bool) -> tuple[list[str], list[str]]:
    """`(allow, ignore)` patterns for downloading what a deployment needs.

    `model_files` is the repo's file list (its weight files at least); when it
    is empty the checkpoint is assumed to be safetensors, the common case, and
    `plan_download` reports a repo where nothing matched.
    """
    files = [f for f in model_files if f]
    code = CODE_PATTERNS if trust_remote_code else []
    no_code = [] if trust_remote_code else CODE_PATTERNS
    if chosen_gguf:
        if files and chosen_gguf not in files:
            raise UserInputError(f"{chosen_gguf}: not a file of this repo")
        if not chosen_gguf.endswith(".gguf"):
            raise UserInputError(f"{chosen_gguf}: not a .gguf file")
        allow = [glob.escape(p) for p in _gguf_parts(chosen_gguf, files)] + CONFIG_PATTERNS + code
        ignore = ["*.safetensors", "*.bin", "*.pth", "*.pt", "original/*", "consolidated*"] + _OTHER_FORMATS + no_code
        return _dedupe(allow), _dedupe(ignore)

    safetensors = [f for f in files if f.endswith(".safetensors")]
    bins = [f for f in files if f.endswith(".bin")]
    pths = [f for f in files if f.endswith((".pth", ".pt"))]
    main_safetensors = [f for f in safetensors if not _is_duplicate_copy(f)]
    main_bins = [f for f in bins if not _is_duplicate_copy(f)]
    if main_safetensors or not files:
        weights = ["*.safetensors", "*.safetensors.index.json"]
        ignore = ["*.bin", "*.bin.index.json", "*.pth", "*.pt", "*.gguf", "original/*", "consolidated*"]
    elif safetensors:
        # Only a native copy exists (e.g. Mistral's consolidated.safetensors with params.json): keep it.
        weights = [glob.escape(f) for f in safetensors] + ["*.safetensors.index.json"]
        ignore = ["*.bin", "*.pth", "*.pt", "*.gguf"]
    elif main_bins:
        weights = ["*.bin", "*.bin.index.json"]
        ignore = ["*.pth", "*.pt", "*.gguf", "original/*", "consolidated*"] + _NOT_WEIGHTS_BIN
    elif pths:
        weights = [glob.escape(f) for f in pths]
        ignore = ["*.bin", "*.gguf"]
    else:
        weights = ["*.safetensors", "*.safetensors.index.json"]
        ignore = ["*.bin", "*.pth", "*.pt", "*.gguf", "original/*", "consolidated*"]
    allow = weights + CONFIG_PATTERNS + code
    return _dedupe(allow), _dedupe(ignore + _OTHER_FORMATS + no_code)


def is_weight_file(name: str) -> bool:
    return name.endswith(WEIGHT_SUFFIXES) and PurePosixPath(name).name not in ("training_args.bin",)
