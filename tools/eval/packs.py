"""Offline dataset packs: rows from a local JSONL, JSON or Parquet file (or the Hugging Face hub cache), with the
file's sha256.

Nothing is downloaded. A pack is a file in the benchmark's official schema (the Hugging Face dataset's columns);
a directory is searched for the split's file (`test.jsonl`, `data/test-00000-of-00001.parquet`, ...). Parquet needs
pyarrow, imported only when a Parquet file is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeploy.errors import UserInputError
from modeldeploy.tools.jsonl import jsonl_values

SUFFIXES = (".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class Pack:
    """The rows of one split and where they came from."""

    path: Path
    sha256: str
    rows: list[dict[str, Any]]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl, .json (a list, or {"data": [...]}) or .parquet file; one-line errors for bad files."""
    if not path.is_file():
        raise UserInputError(f"dataset file not found: {path}")
    name = path.name.lower()
    if name.endswith(".parquet"):
        return _parquet_rows(path)
    text = path.read_text(encoding="utf-8")
    if name.endswith(".jsonl"):
        rows = []
        for number, row in jsonl_values(text, str(path)):
            if not isinstance(row, dict):
                raise UserInputError(f"{path}:{number}: expected a JSON object per line")
            rows.append(row)
        return rows
    if name.endswith(".json"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{path}: not JSON ({exc.msg})") from None
        rows = doc.get("data") if isinstance(doc, dict) else doc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise UserInputError(f"{path}: expected a list of objects")
        return rows
    raise UserInputError(f"{path}: unsupported dataset file (use {', '.join(SUFFIXES)})")


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserInputError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow), or convert it to JSONL") from None
    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise UserInputError(f"{path}: not a readable Parquet file ({exc.__class__.__name__})") from None


def find_split(directory: Path, split: str) -> Path | None:
    """The file of `split` in a pack directory (flat, the hub's `data/` or a config's `main/`); None when absent."""
    candidates: list[Path] = []
    subdirs = sorted(p for p in directory.iterdir() if p.is_dir() and p.name != "data") if directory.is_dir() else []
    for base in (directory, directory / "data", *subdirs):
        if base.is_dir():
            candidates += sorted(p for p in base.iterdir() if p.is_file() and p.name.lower().endswith(SUFFIXES)
                                 and p.name.lower().split(".")[0].split("-")[0] == split)
    return candidates[0] if candidates else None


def hf_cache_dir(repo_id: str) -> Path | None:
    """The newest snapshot of a dataset in the Hugging Face hub cache, if it is there."""
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub")
    root = hub / f"datasets--{repo_id.replace('/', '--')}" / "snapshots"
    if not root.is_dir():
        return None
    snapshots = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    return snapshots[0] if snapshots else None


def resolve_split(data: Path | None, split: str, hf_repo: str | None) -> Path:
    """The file for `split`: --data itself when a file, searched for in --data when a directory, else the HF cache."""
    if data is not None:
        if data.is_dir():
            found = find_split(data, split)
            if found is None:
                raise UserInputError(f"no {split} split in {data} (expected {split}.jsonl or data/{split}-*.parquet)")
            return found
        if not data.exists():
            raise UserInputError(f"dataset file not found: {data}")
        return data
    cached = hf_cache_dir(hf_repo) if hf_repo else None
    found = find_split(cached, split) if cached else None
    if found is None:
        where = f" and {hf_repo} is not in the Hugging Face cache" if hf_repo else ""
        raise UserInputError(f"no dataset: pass --data FILE (nothing is downloaded){where}")
    return found


def sibling_split(path: Path, split: str) -> Path | None:
    """For test.jsonl / data/test-00000-of-00001.parquet: the file of another split beside it."""
    if path.parent.is_dir():
        found = find_split(path.parent, split)
        if found is not None:
            return found
        stem = path.name.replace("test", split, 1)
        if stem != path.name and (path.parent / stem).is_file():
            return path.parent / stem
    return None


def load_pack(path: Path) -> Pack:
    return Pack(path=path, sha256=sha256_file(path), rows=read_rows(path))
