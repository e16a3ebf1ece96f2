"""The simulator's container image: its Dockerfile and an in-memory build context.

The image is a bare Python base (default `python:3.11-slim`) with this package
copied to /app/simulator and `python3 -m simulator` as the entrypoint, so that
the container takes the real frameworks' flags as its command:

    docker run --rm -p 8000:8000 -v /models/x:/models/x \\
        -e MODELDEPLOY_SIM_GPU='{"name": "NVIDIA L4", "memory_total_mib": 23034, "compute_capability": "8.9"}' \\
        modeldeploy/simulator:latest --model /models/x --served-model-name x

The environment mirrors the real images where it matters: TGI's image sets PORT=80,
llama.cpp's server image LLAMA_ARG_HOST=0.0.0.0.
"""

from __future__ import annotations

import io
import os
import tarfile
import time

DEFAULT_BASE = "python:3.11-slim"
DEFAULT_TAG = "modeldeploy/simulator:latest"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def dockerfile(base_image: str = DEFAULT_BASE) -> str:
    """The Dockerfile of the simulator image on `base_image` (any image with python3 >= 3.11)."""
    return f"""\
FROM {base_image}
LABEL org.opencontainers.image.title="modeldeploy inference simulator" \\
      org.opencontainers.image.description="OpenAI-compatible stand-in for vLLM, SGLang, TGI and llama.cpp server" \\
      modeldeploy.simulator="1"
ENV PYTHONUNBUFFERED=1 \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PORT=80 \\
    LLAMA_ARG_HOST=0.0.0.0
WORKDIR /app
COPY simulator /app/simulator
EXPOSE 8000
STOPSIGNAL SIGTERM
ENTRYPOINT ["python3", "-m", "simulator"]
"""


def package_files() -> dict[str, bytes]:
    """The package's source files, by path relative to the package directory (no caches)."""
    files: dict[str, bytes] = {}
    for root, dirs, names in os.walk(PACKAGE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                files[os.path.relpath(path, PACKAGE_DIR).replace(os.sep, "/")] = fh.read()
    return files


def build_context(base_image: str = DEFAULT_BASE) -> bytes:
    """A gzip-free tar of `Dockerfile` + `simulator/*.py`, for `docker build -` / `images.build(custom_context=True)`."""
    buffer = io.BytesIO()
    mtime = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        entries = {"Dockerfile": dockerfile(base_image).encode()}
        entries.update({f"simulator/{rel}": data for rel, data in package_files().items()})
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
