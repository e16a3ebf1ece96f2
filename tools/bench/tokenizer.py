"""The model's tokenizer (Hugging Face `tokenizers`), found without network: a directory, a file, or the HF cache.

Used for exact prompt lengths and, when the server sends no `usage`, for counting output tokens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tokenizer:
    source: str
    impl: object

    def encode(self, text: str) -> list[int]:
        return self.impl.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.impl.decode(ids, skip_special_tokens=True)

    def count(self, text: str) -> int:
        return len(self.encode(text)) if text else 0

    @property
    def vocab_size(self) -> int:
        return self.impl.get_vocab_size(with_added_tokens=False)


def _file_for(name: str) -> Path | None:
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        return path / "tokenizer.json" if (path / "tokenizer.json").is_file() else None
    if "/" in name and not name.startswith(("/", ".")):
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(name, "tokenizer.json", local_files_only=True))
        except Exception:  # not cached, or the hub library refuses: no tokenizer
            return None
    return None


def load_tokenizer(*names: str | None) -> Tokenizer | None:
    """The first of `names` (tokenizer path, model dir, hub id) that yields a tokenizer.json; None if none."""
    try:
        from tokenizers import Tokenizer as HFTokenizer
    except ImportError:
        return None
    for name in names:
        if not name:
            continue
        path = _file_for(name)
        if path is None:
            continue
        try:
            return Tokenizer(source=str(path if path.name != "tokenizer.json" else path.parent), impl=HFTokenizer.from_file(os.fspath(path)))
        except Exception:
            continue
    return None
