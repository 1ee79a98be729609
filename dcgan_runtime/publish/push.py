"""Publishing an export folder (its model card included) to the Hugging Face Hub with `upload_folder`.

Needs the `[hub]` extra (huggingface_hub). Fetching a published model is the SDK's:
`dcgan_runtime.engine.fetch` (`hf://ORG/NAME`, `Generator.from_pretrained`).

>>> push("runs/faces/export", "acme/faces")   # doctest: +SKIP
'https://huggingface.co/acme/faces/commit/...'
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from dcgan_runtime import __version__, files
from dcgan_runtime.engine.fetch import check_repo_id, check_revision, hub_module, quiet_hub
from dcgan_runtime.errors import ModelError, first_line
from dcgan_runtime.metadata import FILENAMES

log = logging.getLogger(__name__)
CARD, PARITY = "README.md", "parity.json"


def check_export(folder: Path) -> dict[str, Any]:
    """An export folder ready to publish: a model card huggingface_hub parses, generator.onnx, passed parity.

    Returns the card's metadata. Raises ValueError saying what is missing and how to make it.
    """
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is not an export folder (python -m export RUN --outdir FOLDER)")
    missing = [n for n in (CARD, FILENAMES["fp32"], PARITY) if not (folder / n).is_file()]
    if missing:
        raise ValueError(
            f"{str(folder)!r} is not a complete export (no {', '.join(missing)}): export it again with "
            "python -m export RUN --outdir FOLDER --force"
        )
    try:
        parity = files.read_json(folder / PARITY)
    except (OSError, ValueError) as e:
        raise ValueError(f"{str(folder / PARITY)!r} is unusable ({first_line(e)}): export again") from None
    if not isinstance(parity, dict) or parity.get("passed") is not True:
        raise ValueError(f"{str(folder)!r} did not pass its parity check ({PARITY}): it is not fit to publish")
    hf = hub_module()
    try:
        card = hf.ModelCard.load(folder / CARD)
    except Exception as e:  # huggingface_hub raises several types for a malformed card
        raise ValueError(f"{str(folder / CARD)!r} is not a model card huggingface_hub reads: {first_line(e)}") from None
    data: dict[str, Any] = card.data.to_dict()
    return data


def _why(hf: Any, e: Exception) -> str:
    """A failed push in words, with what to do where it is known."""
    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(e, hf.errors.LocalTokenNotFoundError) or status == 401:
        return "no Hub token, or it is not valid: log in with hf auth login, or set HF_TOKEN"
    if status == 403:
        return "this token may not write there: use a token with write access to that namespace"
    return f"{first_line(e)} (check the network, or HF_ENDPOINT)"


def push(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | bool | None = None,
) -> str:
    """Publish a complete export folder to `repo_id` (created if absent); returns the commit's URL.

    >>> push("runs/faces/export", "acme/faces", private=True)   # doctest: +SKIP
    'https://huggingface.co/acme/faces/commit/...'
    """
    folder = Path(folder)
    check_repo_id(repo_id)
    if revision is not None:
        check_revision(revision)
    check_export(folder)
    hf = hub_module()
    try:
        with quiet_hub():
            api = hf.HfApi(token=token, library_name="dcgan", library_version=__version__)
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            if revision is not None:
                api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=str(folder),
                repo_type="model",
                revision=revision,
                commit_message=f"dcgan push {folder.name}",
                ignore_patterns=[".*"],
            )
    except Exception as e:  # huggingface_hub's own types: no token, refused, no network, its HTTP client's errors
        raise ModelError(f"cannot push to {repo_id} on the Hub: {_why(hf, e)}") from None
    url = str(getattr(commit, "commit_url", commit))
    log.info("pushed %s to %s: %s", folder, repo_id, url)
    return url
