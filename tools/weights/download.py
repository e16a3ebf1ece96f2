"""Downloading a hub model's weights into a directory: plan, disk check, resumable transfer, verification.

`plan_download` asks the hub (`HfApi.model_info(files_metadata=True)`) which files
match the patterns, with sizes and LFS sha256, and what the destination already
holds; `check_disk` refuses a download that cannot fit before any byte moves;
`download_weights` fetches the small files with `snapshot_download(local_dir=...)`
and the LFS files with `fetch.fetch_lfs_file`, which resumes from the partial an
interrupted call left (huggingface_hub 2.4 itself restarts files from zero), then
checks every file's size and hash (sha256 for LFS files, git blob sha1 for the
others), downloads a failing file once more, and fails with one line if it is
still wrong.

The endpoint is the `endpoint` argument, else HF_ENDPOINT read at call time (the
huggingface_hub constant is frozen at import), else huggingface.co. The user's
token (HF_TOKEN or the HF cache) is found and sent by huggingface_hub: nothing
here reads, logs, returns or stores it. Every function blocks; the graph node
runs `download_weights` in `asyncio.to_thread`.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import httpx2
from filelock import Timeout as LockTimeout
from huggingface_hub import HfApi, constants, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub import errors as hf_errors
from huggingface_hub.utils import filter_repo_objects
from huggingface_hub.utils.tqdm import tqdm as hf_tqdm

from modeldeploy.errors import ModelDeployError, UserInputError
from modeldeploy.tools.weights.fetch import (
    PARTIAL_DIR,
    Cancelled,
    SizeMismatch,
    TransferInterrupted,
    fetch_lfs_file,
    partial_path,
    partial_size,
)
from modeldeploy.tools.weights.patterns import allow_patterns_for, is_weight_file
from modeldeploy.tools.weights.schema import DownloadedFile, DownloadPlan, DownloadResult, PlannedFile
from modeldeploy.tools.weights.verify import Stamps, check_file, expected_digest

__all__ = ["DownloadPlan", "DownloadResult", "allow_patterns_for", "check_disk", "download_weights", "plan_download",
           "resolve_endpoint"]

GiB = 1024**3
MiB = 1024**2
API_TIMEOUT_S = 30.0
ProgressFn = Callable[[dict], None]


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The hub to talk to: the argument, else HF_ENDPOINT now, else huggingface_hub's default."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _shown(endpoint: str) -> str:
    """The endpoint without any user:password@ part, for messages and results."""
    parts = urlsplit(endpoint)
    if not (parts.username or parts.password):
        return endpoint
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _human(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _free_bytes(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def _mapped(exc: BaseException, repo_id: str, revision: str | None, endpoint: str, dest: Path | None) -> ModelDeployError | None:
    """The one-line error for a failure of huggingface_hub, the network or the disk (None: not ours to map)."""
    chain = _chain(exc)
    endpoint = _shown(endpoint)

    def find(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    where = f" in {dest}" if dest else ""
    if find(hf_errors.GatedRepoError):
        return ModelDeployError(f"{repo_id} is gated: accept its licence at {endpoint}/{repo_id} and set HF_TOKEN "
                                "to a token of an account that was granted access")
    if find(hf_errors.RepositoryNotFoundError):
        return UserInputError(f"{repo_id}: no such model at {endpoint} (or it is private and HF_TOKEN does not grant access)")
    if find(hf_errors.RevisionNotFoundError):
        return UserInputError(f"{repo_id}: revision {revision or 'main'!r} not found at {endpoint}")
    if find(hf_errors.RemoteEntryNotFoundError):
        return ModelDeployError(f"{repo_id}: a file listed at revision {revision or 'main'!r} is missing on {endpoint}")
    if find(hf_errors.OfflineModeIsEnabled):
        return ModelDeployError(f"HF_HUB_OFFLINE is set: unset it to download {repo_id} from {endpoint}")
    if cut := find(TransferInterrupted):
        assert isinstance(cut, TransferInterrupted)
        return ModelDeployError(f"{repo_id}: connection lost while downloading {cut.name} ({cut.have / MiB:.1f} of "
                                f"{cut.size / MiB:.1f} MiB kept{where}); run again to resume")
    if bad := find(SizeMismatch):
        assert isinstance(bad, SizeMismatch)
        return ModelDeployError(f"{repo_id}: {bad.name} should be {bad.expected} bytes but {endpoint} serves {bad.actual}")
    if find(hf_errors.FileMetadataError):
        return ModelDeployError(f"{endpoint} does not answer like a Hugging Face hub (no X-Repo-Commit/ETag): check HF_ENDPOINT")
    if http := find(hf_errors.HfHubHTTPError):
        assert isinstance(http, hf_errors.HfHubHTTPError)
        status = http.response.status_code if http.response is not None else "?"
        if status == 401:
            return ModelDeployError(f"{endpoint} rejected the credentials for {repo_id} (HTTP 401): check HF_TOKEN")
        return ModelDeployError(f"{repo_id}: request to {endpoint} failed (HTTP {status})")
    if net := find(httpx2.TransportError, hf_errors.LocalEntryNotFoundError, ConnectionError, TimeoutError):
        return ModelDeployError(f"hub unreachable at {endpoint} ({net.__class__.__name__}): check the network, "
                                "or set HF_ENDPOINT to a reachable mirror")
    if find(LockTimeout):
        return ModelDeployError(f"another download into {dest} is running for {repo_id}: wait for it to finish")
    if disk := find(OSError):
        assert isinstance(disk, OSError)
        if disk.errno in (errno.ENOSPC, errno.EDQUOT):
            free = _free_bytes(dest) / GiB if dest else 0.0
            return ModelDeployError(f"disk full while writing {repo_id}{where} ({free:.2f} GiB free); free space and "
                                    "run again to resume")
        if disk.errno is not None:
            return ModelDeployError(f"cannot write the weights{where}: {disk.strerror or disk.__class__.__name__}")
        first = (str(disk).strip().splitlines() or [disk.__class__.__name__])[0]
        return ModelDeployError(f"{repo_id}: download failed ({first})")
    return None


@contextmanager
def _hub_errors(repo_id: str, revision: str | None, endpoint: str, dest: Path | None = None) -> Iterator[None]:
    try:
        yield
    except ModelDeployError:
        raise
    except Exception as exc:
        mapped = _mapped(exc, repo_id, revision, endpoint, dest)
        if mapped is None:
            raise
        raise type(mapped)(_one_line(str(mapped))) from None


def _safe_name(repo_id: str, name: str) -> str:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or any(p in ("", ".") for p in name.split("/")):
        raise ModelDeployError(f"{repo_id}: refusing the unsafe file name {name!r} listed by the hub")
    return name


def _present_bytes(dest: Path, f: PlannedFile) -> int:
    try:
        size = (dest / f.name).stat().st_size
    except OSError:
        size = -1
    if size == f.size:
        return f.size
    if f.lfs and f.sha256:
        part = partial_size(dest, f.name, f.sha256)
        return part if part <= f.size else 0
    return 0


def _with_presence(plan: DownloadPlan, dest: Path) -> DownloadPlan:
    files = [f.model_copy(update={"present_bytes": _present_bytes(dest, f)}) for f in plan.files]
    return plan.model_copy(update={"files": files, "dest_dir": str(dest)})


def plan_download(repo_id: str, revision: str | None, allow: list[str] | None, ignore: list[str] | None,
                  endpoint: str | None = None, *, dest_dir: str | Path | None = None) -> DownloadPlan:
    """The files matching the patterns at the revision, with sizes and LFS sha256, and what `dest_dir` already holds."""
    ep = resolve_endpoint(endpoint)
    with _hub_errors(repo_id, revision, ep):
        info = HfApi(endpoint=ep, library_name="modeldeploy").model_info(
            repo_id, revision=revision, files_metadata=True, timeout=API_TIMEOUT_S)
    if not info.sha:
        raise ModelDeployError(f"{repo_id}: {_shown(ep)} did not say which commit revision {revision or 'main'!r} is")
    siblings = {s.rfilename: s for s in info.siblings or []}
    names = filter_repo_objects(sorted(siblings), allow_patterns=allow or None, ignore_patterns=ignore or None)
    files = []
    for name in names:
        s = siblings[_safe_name(repo_id, name)]
        if s.size is None:
            raise ModelDeployError(f"{repo_id}: {_shown(ep)} returned no size for {name} (files metadata unsupported?)")
        files.append(PlannedFile(name=name, size=s.size, lfs=s.lfs is not None, blob_id=s.blob_id,
                                 sha256=s.lfs.sha256 if s.lfs is not None else None))
    plan = DownloadPlan(repo_id=repo_id, requested_revision=revision, revision=info.sha, endpoint=ep,
                        allow=list(allow or []), ignore=list(ignore or []), files=files)
    return _with_presence(plan, Path(dest_dir).expanduser().resolve()) if dest_dir is not None else plan


def repo_files(repo_id: str, revision: str | None, endpoint: str | None = None) -> list[str]:
    """Every file name in the repo at `revision` (to choose the allow-list from)."""
    ep = resolve_endpoint(endpoint)
    with _hub_errors(repo_id, revision, ep):
        info = HfApi(endpoint=ep, library_name="modeldeploy").model_info(repo_id, revision=revision, timeout=API_TIMEOUT_S)
    return sorted(s.rfilename for s in info.siblings or [])


def check_disk(dest: str | Path, needed_bytes: int) -> None:
    """Raise ModelDeployError when the filesystem holding `dest` has less than `needed_bytes` free."""
    path = Path(dest).expanduser().resolve()
    free = _free_bytes(path)
    if needed_bytes > free:
        raise ModelDeployError(f"not enough disk space for the weights in {path}: {needed_bytes / GiB:.2f} GiB needed, "
                               f"{free / GiB:.2f} GiB free")


class _Progress:
    """Turns byte counts into throttled, serialized progress events for the caller's callback.

    `overall_done` counts the download phase only: bytes already in the destination
    (whole files, partials) plus bytes received, out of the plan's total.
    """

    def __init__(self, callback: ProgressFn | None, plan: DownloadPlan):
        self.callback, self.total = callback, plan.total_bytes
        self._lock = threading.Lock()
        self._done = {("download", f.name): min(f.present_bytes, f.size) for f in plan.files}
        self._shown: dict[tuple[str, str], int] = {}
        self.overall = sum(self._done.values())

    def add(self, f: PlannedFile, n: int, phase: str = "download") -> None:
        with self._lock:
            key = (phase, f.name)
            self._done[key] = self._done.get(key, 0) + n
            if phase == "download":
                self.overall += n
            if self._done[key] - self._shown.get(key, 0) >= max(MiB, f.size // 100):
                self._emit(key, f)

    def finished(self, f: PlannedFile, phase: str = "download") -> None:
        with self._lock:
            key = (phase, f.name)
            if phase == "download":
                self.overall += f.size - self._done.get(key, 0)
            self._done[key] = f.size
            if self._shown.get(key) != f.size:
                self._emit(key, f)

    def _emit(self, key: tuple[str, str], f: PlannedFile) -> None:
        done = self._shown[key] = min(self._done[key], f.size)
        if self.callback is not None:
            self.callback({"phase": key[0], "file": f.name, "bytes_done": done, "bytes_total": f.size,
                           "overall_done": max(0, min(self.overall, self.total)), "overall_total": self.total,
                           "message": f"{key[0]} {f.name}: {_human(done)} of {_human(f.size)}"})


class _QuietTqdm(hf_tqdm):
    """snapshot_download's progress bars, silenced: progress goes to the callback, not to the terminal."""

    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _record_for_huggingface_hub(dest: Path, f: PlannedFile, commit: str) -> None:
    """Write huggingface_hub's local-dir metadata so its own later calls see the file as up to date (best effort)."""
    try:
        from huggingface_hub._local_folder import write_download_metadata
    except ImportError:
        return
    try:
        write_download_metadata(dest, f.name, commit, f.sha256 or f.blob_id or "")
    except (OSError, TypeError, ValueError):
        pass


def download_weights(repo_id: str, revision: str | None, dest_dir: str | Path, allow: list[str] | None,
                     ignore: list[str] | None, progress: ProgressFn | None = None, *, plan: DownloadPlan | None = None,
                     endpoint: str | None = None, retries: int = 5, max_workers: int = 4,
                     etag_timeout: float = 10.0) -> DownloadResult:
    """Download the matching files of `repo_id` at `revision` into `dest_dir`, resuming and verifying them.

    `progress` receives dicts `{phase: "download"|"verify"|"repair", file, bytes_done, bytes_total,
    overall_done, overall_total, message}` from worker threads, one call at a time; raising from it
    stops the download (a later call resumes). `plan` (from `plan_download`) skips the metadata call;
    its file list then replaces `allow`/`ignore`.
    `retries` bounds the connection failures in a row per file before giving up (the partial is kept).
    """
    started = time.monotonic()
    dest = Path(dest_dir).expanduser().resolve()
    if plan is None:
        plan = plan_download(repo_id, revision, allow, ignore, endpoint, dest_dir=dest)
    elif plan.repo_id != repo_id:
        raise ValueError(f"the plan is for {plan.repo_id}, not {repo_id}")
    else:
        plan = _with_presence(plan, dest)
    ep = plan.endpoint
    for f in plan.files:
        _safe_name(repo_id, f.name)
    if not any(is_weight_file(f.name) for f in plan.files):
        raise UserInputError(f"{repo_id}: no weight file (.safetensors, .bin, .gguf, .pth) of revision "
                             f"{plan.revision[:12]} matches the download patterns")
    check_disk(dest, plan.bytes_needed)

    reporter = _Progress(progress, plan)
    stats: dict[str, DownloadedFile] = {}
    with _hub_errors(repo_id, plan.requested_revision, ep, dest):
        dest.mkdir(parents=True, exist_ok=True)
        _download_small(plan, dest, reporter, stats, etag_timeout, max_workers)
        _download_large(plan, dest, reporter, stats, retries, etag_timeout, max_workers)
        stamps = Stamps(dest)
        failures = _verify(plan, dest, stamps, reporter, max_workers)
        for f in failures:
            _repair(plan, f, dest, stamps, reporter, stats, retries, etag_timeout)
        _mark_verified(stats)
        for f in plan.files:
            if f.lfs:
                _record_for_huggingface_hub(dest, f, plan.revision)
        stamps.save()
    files = [stats[f.name] for f in plan.files]
    _drop_stale_partials(dest)
    return DownloadResult(repo_id=repo_id, dest_dir=str(dest), revision=plan.revision,
                          requested_revision=plan.requested_revision, endpoint=_shown(ep), files=files,
                          bytes_downloaded=sum(f.bytes_downloaded for f in files),
                          bytes_reused=sum(f.bytes_reused for f in files),
                          duration_s=round(time.monotonic() - started, 3))


def _drop_stale_partials(dest: Path) -> None:
    """After a complete download, partials left in the destination belong to other revisions: free their space."""
    for leftover in [*(dest / PARTIAL_DIR).rglob("*.incomplete"), *(dest / PARTIAL_DIR).rglob("*.incomplete.lock")]:
        try:
            leftover.unlink()
        except OSError:
            pass


def _entry(f: PlannedFile, downloaded: int, reused: int) -> DownloadedFile:
    kind, digest = expected_digest(f)
    return DownloadedFile(name=f.name, size=f.size, sha256=f.sha256 if kind == "sha256" else None, verified=False,
                          check=kind, bytes_downloaded=downloaded, bytes_reused=reused)


def _download_small(plan: DownloadPlan, dest: Path, reporter: _Progress, stats: dict[str, DownloadedFile],
                    etag_timeout: float, max_workers: int) -> None:
    """Non-LFS files (configs, tokenizers: the hub keeps them under 10 MB) through snapshot_download."""
    small = [f for f in plan.files if not f.lfs]
    if not small:
        return
    before = {f.name: _stat_key(dest / f.name) for f in small}
    snapshot_download(plan.repo_id, revision=plan.revision, local_dir=str(dest), endpoint=plan.endpoint,
                      allow_patterns=[glob.escape(f.name) for f in small], etag_timeout=etag_timeout,
                      max_workers=max_workers, tqdm_class=_QuietTqdm)
    for f in small:
        after = _stat_key(dest / f.name)
        fetched = after is not None and after != before[f.name]
        stats[f.name] = _entry(f, f.size if fetched else 0, 0 if fetched or after is None else f.size)
        reporter.finished(f)


def _download_large(plan: DownloadPlan, dest: Path, reporter: _Progress, stats: dict[str, DownloadedFile],
                    retries: int, etag_timeout: float, max_workers: int) -> None:
    """LFS files through the resumable fetcher, a few at a time."""
    todo = []
    for f in (f for f in plan.files if f.lfs):
        target = dest / f.name
        if target.is_file() and target.stat().st_size == f.size:
            stats[f.name] = _entry(f, 0, f.size)
            reporter.finished(f)
            continue
        target.unlink(missing_ok=True)
        todo.append(f)
    if not todo:
        return
    cancel = threading.Event()

    def one(f: PlannedFile) -> None:
        result = fetch_lfs_file(hf_hub_url(plan.repo_id, f.name, revision=plan.revision, endpoint=plan.endpoint),
                                dest, f.name, f.size, f.sha256 or "", retries=retries, etag_timeout=etag_timeout,
                                cancel=cancel, on_bytes=lambda n: reporter.add(f, n))
        stats[f.name] = _entry(f, result.downloaded, result.reused)
        reporter.finished(f)

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(todo))), thread_name_prefix="weights") as pool:
        futures = [pool.submit(one, f) for f in todo]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:
            cancel.set()
            raise
        if any(fut.exception() is not None for fut in done):
            cancel.set()
    errors = [fut.exception() for fut in futures if fut.exception() is not None]
    first = next((e for e in errors if not isinstance(e, Cancelled)), errors[0] if errors else None)
    if first is not None:
        raise first


def _verify(plan: DownloadPlan, dest: Path, stamps: Stamps, reporter: _Progress, max_workers: int) -> list[PlannedFile]:
    """The planned files that fail their size or hash check."""

    def one(f: PlannedFile) -> tuple[PlannedFile, str | None]:
        reason = check_file(f, dest / f.name, stamps, on_bytes=lambda n: reporter.add(f, n, "verify"))
        reporter.finished(f, "verify")
        return f, reason

    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="weights-verify") as pool:
        checked = list(pool.map(one, plan.files))
    return [f for f, reason in checked if reason is not None]


def _repair(plan: DownloadPlan, f: PlannedFile, dest: Path, stamps: Stamps, reporter: _Progress,
            stats: dict[str, DownloadedFile], retries: int, etag_timeout: float) -> None:
    """Download a file that failed its check once more (from scratch); fail with one line if it stays wrong."""
    target = dest / f.name
    stamps.forget(f.name)
    target.unlink(missing_ok=True)
    previous = stats.get(f.name) or _entry(f, 0, 0)
    if f.lfs:
        result = fetch_lfs_file(hf_hub_url(plan.repo_id, f.name, revision=plan.revision, endpoint=plan.endpoint),
                                dest, f.name, f.size, f.sha256 or "", retries=retries, etag_timeout=etag_timeout,
                                restart=True, on_bytes=lambda n: reporter.add(f, n, "repair"))
        again = result.downloaded
    else:
        hf_hub_download(plan.repo_id, f.name, revision=plan.revision, local_dir=str(dest), endpoint=plan.endpoint,
                        force_download=True, etag_timeout=etag_timeout, tqdm_class=_QuietTqdm)
        again = f.size
    reporter.finished(f, "repair")
    stats[f.name] = previous.model_copy(update={"bytes_downloaded": previous.bytes_downloaded + again,
                                                "bytes_reused": 0, "refetched": True})
    reason = check_file(f, target, stamps)
    if reason is not None:
        target.unlink(missing_ok=True)
        if f.sha256:
            partial_path(dest, f.name, f.sha256).unlink(missing_ok=True)
        raise ModelDeployError(f"{plan.repo_id}: {f.name} failed its check twice ({reason}): {_shown(plan.endpoint)} or a "
                               "proxy on the way serves corrupt data; the file was removed")


def _mark_verified(stats: dict[str, DownloadedFile]) -> None:
    for name, entry in stats.items():
        stats[name] = entry.model_copy(update={"verified": True})
