"""Fetch a hub model's metadata files (never its weights) through huggingface_hub.

The local Hugging Face cache is tried first, so an offline machine with a
cached model plans without the network. The user's own token (env or cache)
is used by huggingface_hub itself; modeldeploy never reads or stores it.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub import errors as hf_errors

from modeldeploy.errors import ModelDeployError, UserInputError
from modeldeploy.tools.weights.download import resolve_endpoint

METADATA_PATTERNS = ["config.json", "*.safetensors.index.json", "pytorch_model.bin.index.json", "README.md",
                     "tokenizer_config.json", "generation_config.json", "params.json"]


def fetch_metadata(repo_id: str, revision: str | None = None) -> Path:
    """A local snapshot directory holding the repo's metadata files."""
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=METADATA_PATTERNS, local_files_only=True))
    except (hf_errors.LocalEntryNotFoundError, FileNotFoundError, hf_errors.CachedRepoTreeNotFoundError):
        pass
    try:
        # the same endpoint as the weights' download (HF_ENDPOINT read now, not at import)
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=METADATA_PATTERNS, etag_timeout=10,
                                      endpoint=resolve_endpoint()))
    except hf_errors.GatedRepoError:
        raise ModelDeployError(f"{repo_id} is gated: accept its licence on the hub and set HF_TOKEN") from None
    except hf_errors.RepositoryNotFoundError:
        raise UserInputError(f"{repo_id}: no such model on the hub (or it is private and no token is set)") from None
    except hf_errors.RevisionNotFoundError:
        raise UserInputError(f"{repo_id}: revision {revision!r} not found") from None
    except hf_errors.LocalEntryNotFoundError:
        raise ModelDeployError(
            f"{repo_id}: not in the local Hugging Face cache and the hub is unreachable "
            "(pass a local directory, or set HF_ENDPOINT to a mirror)"
        ) from None
    except (hf_errors.HfHubHTTPError, OSError) as exc:
        raise ModelDeployError(f"{repo_id}: hub request failed ({exc.__class__.__name__})") from None
