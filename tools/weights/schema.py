"""The download plan (what will be fetched, how big) and the result (what is on disk, verified)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field


class PlannedFile(BaseModel):
    """One repo file to download, with what the hub says about it."""

    name: str = Field(description="Path in the repo, '/'-separated.")
    size: int
    lfs: bool = False
    sha256: str | None = Field(default=None, description="LFS files: sha256 of the content.")
    blob_id: str | None = Field(default=None, description="Git blob sha1 (of the content for non-LFS files).")
    present_bytes: int = Field(default=0, description="Bytes already in the destination (whole file or a partial).")


class DownloadPlan(BaseModel):
    """What `download_weights` would fetch for a repo at a revision."""

    repo_id: str
    requested_revision: str | None = None
    revision: str = Field(description="The commit sha the requested revision resolved to.")
    endpoint: str
    allow: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)
    dest_dir: str | None = Field(default=None, description="The destination present_bytes refer to.")
    files: list[PlannedFile] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def present_bytes(self) -> int:
        return sum(min(f.present_bytes, f.size) for f in self.files)

    @property
    def bytes_needed(self) -> int:
        """Bytes still to fetch: the free disk space the download needs."""
        return self.total_bytes - self.present_bytes


class DownloadedFile(BaseModel):
    """One file in the destination after the download."""

    name: str
    size: int
    sha256: str | None = Field(default=None, description="The verified sha256 (LFS files).")
    verified: bool
    check: Literal["sha256", "git-sha1", "size"] = Field(
        description="sha256 for LFS files, the git blob sha1 for small files, size alone when the hub gave no hash.")
    bytes_downloaded: int = 0
    bytes_reused: int = 0
    refetched: bool = Field(default=False, description="Failed its check once and was downloaded again.")


class DownloadResult(BaseModel):
    """What `download_weights` did. Holds no credentials."""

    repo_id: str
    dest_dir: str
    revision: str = Field(description="The commit sha downloaded.")
    requested_revision: str | None = None
    endpoint: str
    files: list[DownloadedFile]
    bytes_downloaded: int = Field(description="Bytes received from the network by this call.")
    bytes_reused: int = Field(description="Bytes already on disk (whole files, resumed partials) kept by this call.")
    duration_s: float
