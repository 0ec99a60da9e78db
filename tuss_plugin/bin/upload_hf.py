#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 9: upload a model directory to the Hugging Face hub.

    python -m tuss_plugin.bin.upload_hf --model_dir exp/x/model_card --repo <user>/<repo>
    python -m tuss_plugin.bin.upload_hf --model_dir exp/x/model_card --repo <user>/<repo> --hub_dir /srv/hub

The model directory is what recipe stage 8 writes (``meta.yaml``, the config
and model file it names, ``README.md``: the model card of a TUSS model, Saijo
et al., ICASSP 2025). It is checked first: it must load with
``SeparateAudio.from_pretrained``, so a repository never holds a model its own
usage lines cannot load. Then it is uploaded with ``huggingface_hub``
(the repository is created if it does not exist; the token is the one
``huggingface-cli login`` stored, or ``HF_TOKEN``), or, with ``--hub_dir``,
copied into ``<hub_dir>/<user>/<repo>`` (a local hub: an offline mirror or a
shared directory; the copy replaces the previous one as a whole, as a new
commit of the repository would). Either way the result loads with
``SeparateAudio.from_pretrained("<user>/<repo>")`` (from the hub) or
``SeparateAudio.from_pretrained("<hub_dir>/<user>/<repo>")``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from tuss_plugin.utils.cli import CLIError, run_main

_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", required=True, help="the model directory of recipe stage 8 (model_card)")
    p.add_argument("--repo", required=True, help="the Hugging Face repository, <user>/<repo>")
    p.add_argument("--hub_dir", default=None, help="copy into <hub_dir>/<user>/<repo> instead of uploading")
    p.add_argument("--commit_message", default="Upload a TUSS model", help="(default: %(default)s)")
    return p


def check_repo(repo: str) -> str:
    """``repo`` if it is ``<user>/<repo>`` (letters, digits, ``.``, ``_``, ``-``), else ``CLIError``."""
    if not _REPO.fullmatch(repo) or ".." in repo:
        raise CLIError(f"--repo {repo!r}: expected <user>/<repo> (letters, digits, '.', '_', '-')")
    return repo


def check_model_dir(model_dir: Path) -> None:
    """``CLIError`` unless ``model_dir`` holds a model card and loads as a model."""
    from tuss_plugin.inference import SeparateAudio

    for name in ("meta.yaml", "README.md"):
        if not (model_dir / name).is_file():
            raise CLIError(f"{model_dir}: no {name} (write the model directory with recipe stage 8 first)")
    try:
        SeparateAudio.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise CLIError(f"{model_dir}: does not load as a model ({e})") from None


def copy_to_hub_dir(model_dir: Path, hub_dir: Path, repo: str) -> Path:
    """Replace ``<hub_dir>/<repo>`` by a copy of ``model_dir`` (copied beside it first, then renamed)."""
    target = hub_dir / repo
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        shutil.copytree(model_dir, tmp / "repo", symlinks=False)
        if target.exists():
            shutil.rmtree(target)
        (tmp / "repo").rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def upload(model_dir: Path, repo: str, commit_message: str) -> str:
    """Create ``repo`` if needed and upload ``model_dir`` to it; returns the repository URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    try:
        url = api.create_repo(repo_id=repo, repo_type="model", exist_ok=True)
        api.upload_folder(repo_id=repo, folder_path=str(model_dir), repo_type="model", commit_message=commit_message)
    except (HfHubHTTPError, OSError) as e:
        raise CLIError(f"upload to {repo} failed: {e}") from None
    return str(url)


def run(args: argparse.Namespace) -> int:
    """The command; problems raise ``CLIError``."""
    repo = check_repo(args.repo)
    model_dir = Path(args.model_dir)
    check_model_dir(model_dir)
    if args.hub_dir is not None:
        target = copy_to_hub_dir(model_dir, Path(args.hub_dir), repo)
        print(f"upload_hf: {model_dir} -> {target}")
    else:
        print(f"upload_hf: {model_dir} -> {upload(model_dir, repo, args.commit_message)}")
    return 0


def main(cmd: Optional[List[str]] = None) -> int:
    return run_main("upload_hf", run, get_parser().parse_args(cmd))


if __name__ == "__main__":
    sys.exit(main())
