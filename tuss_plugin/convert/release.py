# SPDX-License-Identifier: Apache-2.0
"""Convert checkpoints released with the TUSS paper into this plugin's format.

The authors' release (Saijo et al., ICASSP 2025) stores ``hparams.yaml`` and a
flat state dict whose keys start with ``model.``. This module maps the
hyper-parameters onto an ESPnet ``config.yaml`` for :class:`TUSSTask` and the
weights onto this plugin's module names.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Dict, Mapping, Tuple

import torch
import yaml

from tuss_plugin.fileio.atomic import atomic_write_bytes, atomic_write_text
from tuss_plugin.fileio.textfiles import load_yaml_mapping
from tuss_plugin.inference.model_files import check_weight_dtypes

# release prefix -> plugin prefix (regexes anchored at the key start)
_KEY_MAP: Tuple[Tuple[str, str], ...] = (
    (r"^model\.separator\.sos_token$", "separator.prompt_encoder.sos_token"),
    (r"^model\.separator\.prompts\.", "separator.prompt_encoder.prompts."),
    (r"^model\.separator\.cross_prompt_module\.", "separator.cross_prompt.blocks."),
    (r"^model\.separator\.cond_tse_module\.", "separator.cond_tse.blocks."),
    (r"^model\.separator\.band_split_module\.band_split_module\.", "separator.encoder.bands."),
    (
        r"^model\.separator\.band_split_module\.bandwise_decoding_module\.",
        "separator.decoder.bands.",
    ),
)


def convert_key(key: str) -> str:
    """Release key -> plugin key; ``KeyError`` for keys this plugin does not know."""
    for pat, repl in _KEY_MAP:
        new, n = re.subn(pat, repl, key)
        if n:
            return new
    raise KeyError(f"unexpected key in the released checkpoint: {key}")


def convert_state_dict(release: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Map a released state dict onto ``TUSSEnhancementModel`` keys."""
    out = {}
    for k, v in release.items():
        new = convert_key(k)
        if new.startswith("separator.prompt_encoder."):
            v = v.reshape(-1)  # (C, 1, 1) -> (C,)
        out[new] = v
    return out


def _module_conf(conf: Mapping, prefix: str) -> Dict:
    ffn = lambda lst: [dict(c.get("conf", c)) for c in lst]  # noqa: E731
    return {
        f"{prefix}_attention_dim": conf["attention_dim"],
        f"{prefix}_n_heads": conf["n_heads"],
        f"{prefix}_freq_ffn": ffn(conf["freq_ffn_config"]),
        f"{prefix}_frame_ffn": ffn(conf["frame_ffn_config"]),
    }


def hparams_to_conf(hparams: Mapping) -> Dict:
    """Release ``hparams.yaml`` -> encoder/separator/decoder/model settings."""
    if hparams.get("model_name", "tuss") != "tuss":
        raise ValueError(f"only TUSS checkpoints are supported, got {hparams.get('model_name')}")
    enc = hparams["encoder_conf"]
    mc = hparams["model_conf"]
    cp, ct = mc["conf_cross_prompt_module"], mc["conf_cond_tse_module"]
    for key in ("emb_dim", "num_groups", "tf_order"):
        if cp[key] != ct[key]:
            raise ValueError(f"{key} differs between the two modules ({cp[key]} vs {ct[key]})")
    if enc.get("window_type", "sqrt_hann") not in ("sqrt_hann", "hann"):
        raise ValueError(f"unsupported window {enc.get('window_type')}")
    if enc.get("normalize") not in (None, False):
        raise ValueError(f"unsupported STFT normalisation {enc.get('normalize')}")
    stft = {
        "n_fft": enc["fft_size"],
        "hop_length": enc["hop_length"],
        "win_length": enc.get("window_length", enc["fft_size"]),
        "window": enc.get("window_type", "sqrt_hann"),
    }
    sep = {
        "fs": mc["sample_rate"],
        "n_fft": mc["stft_size"],
        "emb_dim": cp["emb_dim"],
        "num_groups": cp["num_groups"],
        "tf_order": cp["tf_order"],
        "prompts": list(mc["prompts"]),
        "use_sos_token": mc.get("use_sos_token", True),
        "cross_prompt_blocks": mc["nblocks_cross_prompt_module"],
        "cond_tse_blocks": mc["nblocks_cond_tse_module"],
    }
    sep.update(_module_conf(cp, "cross_prompt"))
    sep.update(_module_conf(ct, "cond_tse"))
    return {
        "fs": int(mc["sample_rate"]),
        "encoder": "tuss_stft",
        "encoder_conf": dict(stft),
        "decoder": "tuss_stft",
        "decoder_conf": dict(stft),
        "separator": "tuss",
        "separator_conf": sep,
        "model_conf": {"normalize_variance": bool(hparams.get("variance_normalization", True))},
    }


def full_config(conf: Mapping) -> Dict:
    """Complete ESPnet config: ``TUSSTask`` defaults updated with ``conf``."""
    from tuss_plugin.tasks.tuss import TUSSTask

    parser = TUSSTask.get_parser()
    args = parser.parse_args(
        [
            "--separator",
            conf.get("separator", "tuss"),
            "--encoder",
            conf.get("encoder", "tuss_stft"),
            "--decoder",
            conf.get("decoder", "tuss_stft"),
        ]
    )
    config = vars(args)
    for key, value in conf.items():
        if key.endswith("_conf") and isinstance(value, dict):
            merged = dict(config.get(key) or {})
            merged.update(value)
            config[key] = merged
        else:
            config[key] = value
    # a fresh parse leaves config=None; ESPnet's own config.yaml has no such key
    config.pop("config", None)
    return config


def load_release_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read a released ``model.pth`` safely (``weights_only=True``)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a flat key -> tensor state dict")
    return obj


def import_release(hparams_path: str, checkpoint_path: str, outdir: str) -> Path:
    """Write ``outdir/config.yaml`` and ``outdir/model.pth`` for a released model.

    The converted weights are loaded strictly into a freshly built model, so a
    missing, unexpected or wrongly shaped tensor is an error.
    """
    from tuss_plugin.fileio.output_dirs import check_output_dir
    from tuss_plugin.tasks.tuss import TUSSTask

    check_output_dir(outdir, [("--hparams", hparams_path), ("--checkpoint", checkpoint_path)])
    hparams = load_yaml_mapping(hparams_path, "the hparams.yaml of a release")
    config = full_config(hparams_to_conf(hparams))
    model = TUSSTask.build_model(argparse.Namespace(**config))
    release = load_release_state_dict(checkpoint_path)
    dtypes = {k: v.dtype for k, v in model.state_dict().items()}
    check_weight_dtypes(
        {k: dtypes[convert_key(k)] for k in release if convert_key(k) in dtypes}, release, checkpoint_path
    )
    state = convert_state_dict(release)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"{checkpoint_path} does not match {hparams_path}: {str(e).splitlines()[0]} "
            f"{' '.join(str(e).split())[:600]}"
        ) from None
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    import io

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    atomic_write_bytes(out / "model.pth", buf.getvalue())
    return out
