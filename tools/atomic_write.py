"""Replace a small state file whole or not at all: readers never see half of it.

The text goes to a temp file beside the target, named for this process and thread so that two
writers never share one, then `os.replace` swaps it in (atomic on one filesystem).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
