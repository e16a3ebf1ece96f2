"""Turn a downloaded dataset into a pack: `modeldeploy eval import SRC --suite mmlu_pro|aime2025|gsm8k --out PACK`.

SRC is what a download left on disk, in the benchmark's upstream schema:
* a Hugging Face hub cache directory (`datasets--TIGER-Lab--MMLU-Pro`, its newest `snapshots/*` is used) or a
  snapshot / `git clone` of the dataset repository (`data/test-00000-of-00001.parquet`, `main/test-*.parquet`);
* a `datasets` library cache directory (`openai___gsm8k/main/0.0.0/<hash>/gsm8k-test.arrow`);
* one Parquet, Arrow, JSONL or JSON file (the suite's main split; MMLU-Pro's validation split is looked for
  beside it).

The pack is a directory: one `<split>.jsonl` per split the suite reads (MMLU-Pro: test and validation; AIME 2025:
train; GSM8K: test, config `main`), rows unchanged and in source order, and `pack.json` naming the source
files and the sha256 of every file. The written pack is then read back by the suite itself, so an import that
succeeds is a pack that `modeldeploy eval --data PACK` accepts. Parquet and Arrow need pyarrow.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeploy.errors import UserInputError
from modeldeploy.tools.eval.packs import read_rows, sha256_file

SUFFIXES = (".parquet", ".arrow", ".jsonl", ".json")
SHARD = re.compile(r"-(\d{5})-of-(\d{5})$")


@dataclass(frozen=True)
class Layout:
    """Which splits a suite reads, which is the main one, and the config to prefer when a repo holds several."""

    splits: tuple[str, ...]
    config: str | None = None

    @property
    def main(self) -> str:
        return self.splits[0]


LAYOUTS = {"mmlu_pro": Layout(("test", "validation")), "aime2025": Layout(("train",)),
           "gsm8k": Layout(("test",), config="main")}


def _tokens(path: Path) -> list[str]:
    stem = path.name
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return [t for t in re.split(r"[-_.]", SHARD.sub("", stem).lower()) if t]


def _snapshot(root: Path) -> Path:
    """A hub cache entry (`datasets--org--name`) resolves to its newest snapshot."""
    snapshots = root / "snapshots"
    if snapshots.is_dir():
        found = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        if found:
            return found[0]
    return root


def split_files(root: Path, split: str, config: str | None) -> list[Path]:
    """The files of `split` under `root` (shards in order); one-line errors when absent or ambiguous."""
    candidates = [p for p in sorted(root.rglob("*")) if p.is_file() and p.name.lower().endswith(SUFFIXES)
                  and "blobs" not in p.relative_to(root).parts and split in _tokens(p)[-1:]]
    if not candidates:
        return []
    groups: dict[tuple[Path, str], list[Path]] = {}
    for path in candidates:
        groups.setdefault((path.parent, path.suffix.lower()), []).append(path)
    if len(groups) > 1 and config:
        preferred = {k: v for k, v in groups.items() if config in k[0].relative_to(root).parts}
        groups = preferred or groups
    if len(groups) > 1:
        where = ", ".join(str(k[0].relative_to(root) / f"*{k[1]}") for k in groups)
        raise UserInputError(f"{root}: several copies of the {split} split ({where}); pass one of them as SRC")
    return next(iter(groups.values()))


def read_any(path: Path) -> list[dict[str, Any]]:
    if path.name.lower().endswith(".arrow"):
        return _arrow_rows(path)
    return read_rows(path)


def _arrow_rows(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow as pa
    except ImportError:
        raise UserInputError(f"{path}: reading Arrow needs pyarrow (pip install pyarrow)") from None
    for opener in (pa.ipc.open_stream, pa.ipc.open_file):  # the datasets cache writes the stream format
        try:
            with pa.memory_map(str(path)) as source:
                return opener(source).read_all().to_pylist()
        except (pa.ArrowInvalid, OSError):
            continue
    raise UserInputError(f"{path}: not a readable Arrow file")


def locate(src: Path, layout: Layout) -> dict[str, list[Path]]:
    """Source files per split: searched for in a directory, or SRC itself as the main split (+ siblings)."""
    if not src.exists():
        raise UserInputError(f"import source not found: {src}")
    if src.is_file():
        if not src.name.lower().endswith(SUFFIXES):
            raise UserInputError(f"{src}: unsupported file (use {', '.join(SUFFIXES)})")
        found = {layout.main: [src]}
        for split in layout.splits[1:]:
            siblings = split_files(src.parent, split, layout.config)
            if not siblings:
                raise UserInputError(f"{src}: no {split} split beside it; pass the directory holding both splits")
            found[split] = siblings
        return found
    root = _snapshot(src)
    found = {}
    for split in layout.splits:
        files = split_files(root, split, layout.config)
        if not files:
            raise UserInputError(f"{src}: no {split} split found (looked for *{split}*.parquet/.arrow/.jsonl/.json)")
        found[split] = files
    return found


def import_pack(src: Path, suite_name: str, out: Path) -> dict[str, Any]:
    """Write the pack for `suite_name` from `src` into `out` (replacing a previous pack there); its manifest."""
    from modeldeploy.tools.eval.registry import ALIASES, load_suite

    key = ALIASES.get(suite_name.lower(), suite_name.lower())
    if key not in LAYOUTS:
        raise UserInputError(f"eval import knows {', '.join(LAYOUTS)}; got {suite_name!r} (a custom suite's "
                             "JSONL is already a pack)")
    layout = LAYOUTS[key]
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / "pack.json").is_file())):
        raise UserInputError(f"--out {out} exists and is not an empty directory or a pack")
    sources = locate(src, layout)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pack-", dir=out.parent))  # beside --out: the final rename is atomic
    try:
        manifest: dict[str, Any] = {"suite": key, "source": str(src.resolve()), "splits": {}}
        for split, files in sources.items():
            rows = [row for path in files for row in read_any(path)]
            target = work / f"{split}.jsonl"
            with target.open("w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            manifest["splits"][split] = {
                "file": target.name, "rows": len(rows), "sha256": sha256_file(target),
                "sources": [{"path": str(p.resolve()), "sha256": sha256_file(p)} for p in files]}
        try:
            load_suite(key).prepare(work, None)  # the suite's own schema checks: one line naming the first bad row
        except UserInputError as exc:
            message = str(exc)
            for split, files in sources.items():
                message = message.replace(str(work / f"{split}.jsonl"), str(files[0]))
            raise UserInputError(message) from None
        (work / "pack.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest["out"] = str(out)
    return manifest
