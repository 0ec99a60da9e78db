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
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
import yaml

from tuss_plugin.audio import resample

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


def _is_pack(path: Path) -> bool:
    """An ESPnet pack (zip with meta.yaml); torch checkpoints are zips too."""
    if not zipfile.is_zipfile(path):
        return False
    if path.suffix == ".zip":
        return True
    with zipfile.ZipFile(path) as zf:
        return "meta.yaml" in zf.namelist()


def resolve_model_files(path: Union[str, Path], cache_dir: Optional[str] = None):
    """Find ``(config.yaml, model file)`` for a model directory, file or packed zip."""
    tag = str(path)
    path = Path(path)
    if not path.exists():
        if tag.count("/") == 1 and not tag.startswith((".", "/")) and not tag.endswith((".zip", ".pth")):
            return _download(tag, cache_dir)
        raise FileNotFoundError(f"{path}: no such model directory or file")
    if path.is_file() and _is_pack(path):
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


def _download(tag: str, cache_dir: Optional[str] = None):
    """A model-zoo / Hugging Face tag (``org/repo``) via espnet_model_zoo."""
    try:
        from espnet_model_zoo.downloader import ModelDownloader
    except ImportError:
        raise FileNotFoundError(f"{tag}: not a local path, and espnet_model_zoo is not installed") from None
    try:
        files = ModelDownloader(cache_dir).download_and_unpack(tag)
    except Exception as e:  # noqa: BLE001 - network or hub errors
        raise FileNotFoundError(f"{tag}: not a local path and could not be downloaded ({e})") from None
    return Path(files["train_config"]), Path(files["model_file"])


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


def _crossfade(length: int, fade_in: int, fade_out: int) -> np.ndarray:
    """Weights of one segment: linear ramps over the overlaps, 1 elsewhere."""
    w = np.ones(length, dtype=np.float32)
    if fade_in > 0:
        w[:fade_in] = np.arange(1, fade_in + 1, dtype=np.float32) / (fade_in + 1)
    if fade_out > 0:
        w[length - fade_out:] = np.minimum(
            w[length - fade_out:], np.arange(fade_out, 0, -1, dtype=np.float32) / (fade_out + 1)
        )
    return w


def segment_starts(n: int, seg: int, hop: int) -> List[int]:
    """Start samples of the segments covering ``n`` samples (the last one ends at n)."""
    if n <= seg:
        return [0]
    starts = list(range(0, n - seg, hop))
    if not starts or starts[-1] != n - seg:
        starts.append(n - seg)
    return starts


class SeparateAudio:
    """Waveform-in, waveform-out TUSS separation.

    Long recordings can be processed segment-wise (CSS-style): windows of
    ``segment_size`` seconds every ``hop_size`` seconds are separated on their
    own, outputs of repeated prompts are aligned to the previous window on the
    overlap (only within the same prompt, never across prompts), and overlaps
    are cross-faded. Memory then depends on the segment size, not on the length.

    Args:
        model: a ``TUSSEnhancementModel``.
        config: its training config (dict).
        device: torch device.
        segment_size: segment length in seconds (None: whole recording at once).
        hop_size: segment shift in seconds (default: ``segment_size``, no overlap).
    """

    def __init__(
        self,
        model,
        config: dict,
        device: str = "cpu",
        segment_size: Optional[float] = None,
        hop_size: Optional[float] = None,
    ):
        self.model = model
        self.config = config
        self.device = device
        if segment_size is not None and segment_size <= 0:
            raise ValueError(f"segment_size must be > 0, got {segment_size}")
        if hop_size is not None and (segment_size is None or not 0 < hop_size <= segment_size):
            raise ValueError(f"hop_size must be in (0, segment_size], got {hop_size}")
        self.segment_size = segment_size
        self.hop_size = hop_size if hop_size is not None else segment_size
        sep = model.separator
        # the training audio's rate (recipes store it), else the separator's
        fs = config.get("fs") or getattr(sep, "fs", None) or (config.get("separator_conf") or {}).get("fs")
        if fs is None:
            raise ValueError("the model's sampling rate is unknown: its config.yaml has no 'fs'")
        self.fs = int(fs)
        self.vocab = getattr(sep, "vocab", None)

    @classmethod
    def from_pretrained(
        cls,
        path: Union[str, Path],
        device: str = "cpu",
        cache_dir: Optional[str] = None,
        segment_size: Optional[float] = None,
        hop_size: Optional[float] = None,
    ) -> "SeparateAudio":
        """Load an experiment dir (``config.yaml`` + ``.pth``), an imported
        reference dir, a model file, or a packed model zip."""
        config_file, model_file = resolve_model_files(path, cache_dir)
        model, config = load_model(config_file, model_file, device)
        return cls(model, config, device, segment_size=segment_size, hop_size=hop_size)

    @property
    def prompts(self) -> Sequence[str]:
        """Names of the prompts this model knows."""
        return list(self.vocab.names) if self.vocab is not None else []

    def validate_prompts(self, prompts: Sequence[str]) -> list:
        """Canonical prompt names (raises ``ValueError`` for invalid lists)."""
        if self.vocab is None:
            raise ValueError("this model has no prompts")
        return self.vocab.validate(prompts)

    @torch.inference_mode()
    def separate_tensor(self, mix: torch.Tensor, prompts) -> torch.Tensor:
        """Separate at the model's rate: mix (B, L) float -> (B, N, L)."""
        lengths = torch.full((mix.shape[0],), mix.shape[1], dtype=torch.long)
        est, _, _, _ = self.model.separate(mix.to(self.device), lengths.to(self.device), prompts)
        return torch.stack(est, dim=1)  # (B, N, L)

    def _align(self, prev: np.ndarray, new: np.ndarray, groups: List[List[int]]) -> np.ndarray:
        """Reorder outputs of repeated prompts to match the previous segment.

        prev, new: (N, overlap, C) on the same samples; only outputs of the
        same prompt are exchanged.
        """
        from itertools import permutations

        order = list(range(new.shape[0]))
        for idx in groups:
            if len(idx) < 2:
                continue
            best, best_score = None, -np.inf
            for perm in permutations(idx):
                score = sum(float(np.sum(prev[i] * new[j])) for i, j in zip(idx, perm))
                if score > best_score:
                    best, best_score = perm, score
            for i, j in zip(idx, best):
                order[i] = j
        return order

    def iter_separate(self, x: np.ndarray, prompts: Optional[Sequence[str]]) -> Iterator[np.ndarray]:
        """Separate ``x`` (n_samples, C) at the model's rate, yielding finished
        blocks (N, n_block, C) in order; segment-wise when configured."""
        n = x.shape[0]
        if self.segment_size is None:
            mix = torch.from_numpy(np.ascontiguousarray(x.T))  # (C, L)
            yield self.separate_tensor(mix, prompts).cpu().numpy().transpose(1, 2, 0)  # (N, L, C)
            return
        seg = max(1, int(round(self.segment_size * self.fs)))
        hop = max(1, int(round(self.hop_size * self.fs)))
        starts = segment_starts(n, seg, hop)
        groups: List[List[int]] = []
        if prompts is not None:
            pos = {}
            for i, p in enumerate(prompts):
                pos.setdefault(p, []).append(i)
            groups = list(pos.values())
        acc = wsum = None  # pending samples [acc_start, acc_start + len)
        acc_start = 0
        for i, start in enumerate(starts):
            end = min(start + seg, n)
            mix = torch.from_numpy(np.ascontiguousarray(x[start:end].T))  # (C, l)
            y = self.separate_tensor(mix, prompts).cpu().numpy().transpose(1, 2, 0)  # (N, l, C)
            fade_in = (acc_start + acc.shape[1] - start) if acc is not None else 0
            fade_out = (end - starts[i + 1]) if i + 1 < len(starts) else 0
            if acc is not None and fade_in > 0 and groups:
                ov = slice(start - acc_start, acc.shape[1])
                prev = acc[:, ov] / wsum[None, ov, None]
                y = y[self._align(prev, y[:, :fade_in], groups)]
            w = _crossfade(end - start, max(fade_in, 0), max(fade_out, 0))
            if acc is None:
                acc, wsum, acc_start = y * w[None, :, None], w, start
            else:
                keep = start - acc_start  # samples of acc before this segment
                new_len = end - acc_start
                acc2 = np.zeros((y.shape[0], new_len, y.shape[2]), dtype=np.float32)
                w2 = np.zeros(new_len, dtype=np.float32)
                acc2[:, : acc.shape[1]] = acc
                w2[: wsum.shape[0]] = wsum
                acc2[:, keep:] += y * w[None, :, None]
                w2[keep:] += w
                acc, wsum = acc2, w2
            # everything before the next segment's start is final
            final = (starts[i + 1] if i + 1 < len(starts) else n) - acc_start
            if final > 0:
                yield acc[:, :final] / wsum[None, :final, None]
                acc, wsum, acc_start = acc[:, final:], wsum[final:], acc_start + final

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
        xr = resample(x2, int(fs), self.fs)  # (L', C)
        if xr.ndim == 1:
            xr = xr[:, None]
        est = np.concatenate(list(self.iter_separate(xr, names)), axis=1)  # (N, L', C)
        out = np.stack([resample(e, self.fs, int(fs)) for e in est])  # (N, ~L, C)
        if out.ndim == 2:
            out = out[..., None]
        if out.shape[1] < n:
            out = np.pad(out, ((0, 0), (0, n - out.shape[1]), (0, 0)))
        out = out[:, :n].astype(np.float32)
        return out[..., 0] if mono else out
