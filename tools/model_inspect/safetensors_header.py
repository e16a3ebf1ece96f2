"""Read tensor shapes and dtypes from safetensors headers without loading the weights.

The format is an 8-byte little-endian header length followed by a JSON header;
only that header is read, so this is cheap on a 100 GB checkpoint.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

from modeldeploy.errors import UserInputError

_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
                "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1}
_MAX_HEADER = 100 * 1024 * 1024


@dataclass
class HeaderSummary:
    tensors: int = 0
    numel: int = 0
    bytes: int = 0
    dtypes: dict[str, int] = field(default_factory=dict)
    """dtype -> number of elements."""

    def add(self, other: "HeaderSummary") -> None:
        self.tensors += other.tensors
        self.numel += other.numel
        self.bytes += other.bytes
        for k, v in other.dtypes.items():
            self.dtypes[k] = self.dtypes.get(k, 0) + v


def read_header(path: Path) -> HeaderSummary:
    """Summarise one safetensors file; a truncated or corrupt header raises UserInputError."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        prefix = fh.read(8)
        if len(prefix) < 8:
            raise UserInputError(f"{path.name}: truncated safetensors file")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(_MAX_HEADER, size - 8):
            raise UserInputError(f"{path.name}: corrupt safetensors header (claims {length} bytes)")
        try:
            header = json.loads(fh.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise UserInputError(f"{path.name}: corrupt safetensors header ({exc.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise UserInputError(f"{path.name}: corrupt safetensors header (not a JSON object)")
    summary = HeaderSummary()
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        dtype = str(info.get("dtype"))
        shape, offsets = info.get("shape", []), info.get("data_offsets", [0, 0])
        if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
                and isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise UserInputError(f"{path.name}: corrupt safetensors header (tensor {str(name)[:60]!r})")
        numel = math.prod(shape)
        summary.tensors += 1
        summary.numel += numel
        summary.bytes += offsets[1] - offsets[0] if offsets[1] else numel * _DTYPE_BYTES.get(dtype, 2)
        summary.dtypes[dtype] = summary.dtypes.get(dtype, 0) + numel
    return summary


def read_headers(paths: list[Path]) -> HeaderSummary:
    total = HeaderSummary()
    for p in paths:
        total.add(read_header(p))
    return total
