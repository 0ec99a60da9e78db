# SPDX-License-Identifier: Apache-2.0
"""Separate audio with a trained or imported TUSS model.

    from tuss_plugin.inference import SeparateAudio
    sep = SeparateAudio.from_pretrained("exp/tuss_medium")   # or an imported dir / packed zip
    est = sep(mixture, fs=44100, prompts=["speech", "sfxbg", "musicbg"])  # (3, n_samples)

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import zipfile
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
import yaml

# files tried, in order, when a directory is given
MODEL_FILE_CANDIDATES = (
    "model.pth",
    "valid.loss.ave.pth",
    "valid.loss.best.pth",
    "latest.pth",
    "checkpoint.pth",
)


def _safe_extract(zip_path: Path, outdir: Path) -> None:
    """Unpack a zip, refusing members that would land outside ``outdir``."""
    root = outdir.resolve()
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = (root / info.filename).resolve()
            if target != root and root not in target.parents:
                raise ValueError(
                    f"{zip_path}: member {info.filename!r} would be written outside the "
                    "target directory; refusing to unpack"
                )
        zf.extractall(root)


def resolve_model_files(path: Union[str, Path], cache_dir: Optional[str] = None):
    """Find ``(config.yaml, model file)`` for a model directory, file or packed zip."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model directory or file")
    if path.is_file() and zipfile.is_zipfile(path):
        digest = hashlib.md5(str(path.resolve()).encode()).hexdigest()[:16]
        base = Path(cache_dir or os.environ.get("TUSS_CACHE", Path.home() / ".cache" / "tuss"))
        out = base / digest
        marker = out / ".unpacked"
        if not marker.exists() or marker.read_text() != str(path.stat().st_mtime_ns):
            out.mkdir(parents=True, exist_ok=True)
            _safe_extract(path, out)
            marker.write_text(str(path.stat().st_mtime_ns))
        meta_file = out / "meta.yaml"
        if not meta_file.exists():
            raise ValueError(f"{path}: packed model without meta.yaml")
        meta = yaml.safe_load(meta_file.read_text()) or {}
        try:
            config = out / meta["yaml_files"]["train_config"]
            model = out / meta["files"]["model_file"]
        except (KeyError, TypeError):
            raise ValueError(f"{path}: meta.yaml lacks train_config / model_file") from None
        return config, model
    if path.is_file():
        config = path.parent / "config.yaml"
        if not config.exists():
            raise FileNotFoundError(f"{path}: no config.yaml beside the model file")
        return config, path
    config = path / "config.yaml"
    if not config.exists():
        raise FileNotFoundError(f"{path}: no config.yaml in the model directory")
    for name in MODEL_FILE_CANDIDATES:
        if (path / name).exists():
            return config, path / name
    epochs = sorted(path.glob("*epoch.pth"), key=lambda p: int(p.name.split("epoch")[0] or 0))
    if epochs:
        return config, epochs[-1]
    raise FileNotFoundError(
        f"{path}: no model file ({', '.join(MODEL_FILE_CANDIDATES)} or <N>epoch.pth)"
    )


def load_model(config_file: Union[str, Path], model_file: Union[str, Path], device: str = "cpu"):
    """Build a ``TUSSTask`` model from ``config.yaml`` and load weights safely and strictly."""
    from tuss_plugin.tasks.tuss import TUSSTask

    with open(config_file, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    if not isinstance(config, dict) or "separator" not in config:
        raise ValueError(f"{config_file}: not an ESPnet enhancement config")
    model = TUSSTask.build_model(argparse.Namespace(**config))
    try:
        state = torch.load(model_file, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - corrupt or unsafe files
        raise ValueError(f"{model_file}: not a readable checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # ESPnet's checkpoint.pth
    if not isinstance(state, dict):
        raise ValueError(f"{model_file}: not a state dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())
        raise ValueError(f"{model_file} does not match {config_file}: {msg[:500]}") from None
    return model.to(device).eval(), config


class SeparateAudio:
    """Waveform-in, waveform-out TUSS separation.

    Args:
        model: a ``TUSSEnhancementModel``.
        config: its training config (dict).
        device: torch device.
    """

    def __init__(self, model, config: dict, device: str = "cpu"):
        self.model = model
        self.config = config
        self.device = device
        sep = model.separator
        self.fs = int(getattr(sep, "fs", config.get("separator_conf", {}).get("fs", 48000)))
        self.vocab = getattr(sep, "vocab", None)

    @classmethod
    def from_pretrained(
        cls, path: Union[str, Path], device: str = "cpu", cache_dir: Optional[str] = None
    ) -> "SeparateAudio":
        """Load an experiment dir (``config.yaml`` + ``.pth``), an imported
        reference dir, a model file, or a packed model zip."""
        config_file, model_file = resolve_model_files(path, cache_dir)
        model, config = load_model(config_file, model_file, device)
        return cls(model, config, device)

    @property
    def prompts(self) -> Sequence[str]:
        """Names of the prompts this model knows."""
        return list(self.vocab.names) if self.vocab is not None else []

    def validate_prompts(self, prompts: Sequence[str]) -> list:
        """Canonical prompt names (raises ``ValueError`` for invalid lists)."""
        if self.vocab is None:
            raise ValueError("this model has no prompts")
        return self.vocab.validate(prompts)

    def _resample(self, x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
        if fs_in == fs_out:
            return x
        import soxr

        return soxr.resample(x, fs_in, fs_out, quality="HQ").astype(np.float32)

    @torch.inference_mode()
    def separate_tensor(self, mix: torch.Tensor, prompts) -> torch.Tensor:
        """Separate at the model's rate: mix (B, L) float -> (B, N, L)."""
        lengths = torch.full((mix.shape[0],), mix.shape[1], dtype=torch.long)
        est, _, _, _ = self.model.separate(mix.to(self.device), lengths.to(self.device), prompts)
        return torch.stack(est, dim=1)  # (B, N, L)

    def __call__(self, mixture: np.ndarray, fs: int, prompts: Optional[Sequence[str]] = None) -> np.ndarray:
        """Separate one recording.

        Args:
            mixture: (n_samples,) or (n_samples, n_channels); channels are
                separated independently.
            fs: its sampling rate (resampled to the model's rate and back).
            prompts: prompt names, one output per prompt (None for separators
                without prompts).

        Returns:
            float32 (n_src, n_samples) or (n_src, n_samples, n_channels), in the
            input's scale and length.
        """
        x = np.asarray(mixture)
        if x.ndim not in (1, 2):
            raise ValueError(f"expected (n_samples,) or (n_samples, n_channels), got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError("the mixture has no samples")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"expected float samples, got {x.dtype}")
        if not np.isfinite(x).all():
            raise ValueError("the mixture contains NaN or Inf samples")
        names = self.validate_prompts(prompts) if prompts is not None else None
        mono = x.ndim == 1
        x2 = (x[:, None] if mono else x).astype(np.float32)  # (L, C)
        n = x2.shape[0]
        xr = self._resample(x2, int(fs), self.fs)  # (L', C)
        if xr.ndim == 1:
            xr = xr[:, None]
        mix = torch.from_numpy(np.ascontiguousarray(xr.T))  # (C, L')
        est = self.separate_tensor(mix, names).cpu().numpy()  # (C, N, L')
        est = est.transpose(1, 2, 0)  # (N, L', C)
        out = np.stack([self._resample(e, self.fs, int(fs)) for e in est])  # (N, ~L, C)
        if out.ndim == 2:
            out = out[..., None]
        if out.shape[1] < n:
            out = np.pad(out, ((0, 0), (0, n - out.shape[1]), (0, 0)))
        out = out[:, :n].astype(np.float32)
        return out[..., 0] if mono else out
