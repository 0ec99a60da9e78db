# SPDX-License-Identifier: Apache-2.0
"""Add prompts to a trained TUSS model without retraining it.

TUSS (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025)
selects each output with a learnable prompt vector; the paper notes that more
prompts "could of course be added". A new prompt here is one more vector in
the prompt encoder, appended to the vocabulary, so every old prompt keeps its
id and vector, and every old prompt list gives exactly the outputs it gave
before (the new vector only enters the network when it is in the list).

:func:`add_prompts` writes the extended model (``config.yaml`` + ``model.pth``,
loadable wherever a model is) and, given a fine-tuning YAML, a complete
training config that trains only the new vectors (``finetune_prompts``, see
:mod:`tuss_plugin.train.finetune`). The command line is
:mod:`tuss_plugin.bin.add_prompts`.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import yaml

from tuss_plugin.fileio.atomic import atomic_write_bytes, atomic_write_text, current_umask
from tuss_plugin.fileio.textfiles import open_text
from tuss_plugin.prompts import DEFAULT_PROMPTS, PromptVocabulary, check_prompt_name

PathLike = Union[str, Path]

#: keys of a training config that define the model; a fine-tuning YAML may not
#: set them (they come from the base model, extended by the new prompts)
MODEL_KEYS = (
    "encoder",
    "encoder_conf",
    "separator",
    "separator_conf",
    "decoder",
    "decoder_conf",
    "mask_module",
    "mask_module_conf",
    "model",
    "model_conf",
    "preprocessor",
    "preprocessor_conf",
    "fs",
)
#: state-dict key of a prompt vector (``TUSSEnhancementModel`` -> ``TUSSSeparator.prompt_encoder``)
PROMPT_KEY = "separator.prompt_encoder.prompts.{}"
RANDOM = "random"


@dataclass(frozen=True)
class NewPrompt:
    """A prompt to add: its name and the existing prompt whose vector it starts
    from (``None``: a random vector, drawn as the model draws its own, N(0, 1))."""

    name: str
    init: Optional[str] = None


def parse_addition(text: str) -> NewPrompt:
    """``NAME`` or ``NAME=INIT`` (``INIT``: an existing prompt, or ``random``)."""
    name, _, init = str(text).partition("=")
    name = check_prompt_name(name, f"--add {text}")
    init = init.strip().lower()
    return NewPrompt(name, None if init in ("", RANDOM) else init)


def parse_exclusion(text: str) -> Tuple[str, List[str]]:
    """``NAME:OTHER[,OTHER...]`` -> (NAME, [OTHER, ...])."""
    name, sep, others = str(text).partition(":")
    names = [o.strip().lower() for o in others.split(",") if o.strip()]
    if not sep or not name.strip() or not names:
        raise ValueError(f"--exclusive {text}: expected NAME:OTHER[,OTHER...]")
    return name.strip().lower(), names


def vocabulary_conf(config: Mapping) -> Dict:
    """The vocabulary keys of a config (``prompts``, ``prompt_aliases``,
    ``exclusive_prompts``) as the model builds them: the preprocessor's where it
    sets one, else the separator's, else the defaults.

    Raises ``ValueError`` for a config whose separator has no prompts.
    """
    sep = config.get("separator_conf") or {}
    pre = config.get("preprocessor_conf") or {}
    if config.get("separator") != "tuss" and "prompts" not in sep:
        raise ValueError(
            f"separator {config.get('separator')!r} has no prompt vocabulary (a model with fixed "
            "outputs); prompts can be added to a prompt-conditioned separator (tuss)"
        )
    out = {}
    for key, default in (("prompts", DEFAULT_PROMPTS), ("prompt_aliases", None), ("exclusive_prompts", None)):
        value = pre.get(key) if pre.get(key) is not None else sep.get(key)
        out[key] = copy.deepcopy(default if value is None else value)
    return out


def extend_vocabulary(
    vocab_conf: Mapping,
    additions: Sequence[NewPrompt],
    exclusions: Sequence[Tuple[str, List[str]]] = (),
    aliases: Optional[Mapping[str, str]] = None,
) -> Dict:
    """The vocabulary keys with ``additions`` appended (old ids unchanged).

    Raises ``ValueError`` (one line) for no addition, a name that exists (as a
    prompt or an alias) or is added twice, an unknown ``INIT``, an exclusion of
    a prompt that is not added or of an unknown prompt, or an alias clash.
    """
    old = PromptVocabulary(vocab_conf["prompts"], vocab_conf["prompt_aliases"], vocab_conf["exclusive_prompts"])
    if not additions:
        raise ValueError("nothing to add: give at least one --add NAME[=INIT]")
    new_names: List[str] = []
    for a in additions:
        if a.name in old.names:
            raise ValueError(f"--add {a.name}: the model already has prompt {a.name!r}")
        if a.name in old.aliases:
            raise ValueError(f"--add {a.name}: {a.name!r} is an alias of prompt {old.aliases[a.name]!r}")
        if a.name in new_names:
            raise ValueError(f"--add {a.name}: added twice")
        if a.init is not None and a.init not in old.names and a.init not in old.aliases:
            raise ValueError(
                f"--add {a.name}={a.init}: unknown prompt {a.init!r} to start from "
                f"(one of {', '.join(old.names)}, or random)"
            )
        new_names.append(a.name)
    names = list(old.names) + new_names
    rules = {k: list(v) for k, v in old.exclusive_rules().items()}
    for name, others in exclusions:
        if name not in new_names:
            raise ValueError(f"--exclusive {name}:...: {name!r} is not an added prompt ({', '.join(new_names)})")
        unknown = [o for o in others if o not in names and o not in old.aliases]
        if unknown:
            raise ValueError(f"--exclusive {name}:{','.join(others)}: unknown prompt(s) {unknown}")
        rules.setdefault(name, []).extend(old.aliases.get(o, o) for o in others)
    extra_aliases = dict(vocab_conf["prompt_aliases"] or {})
    for alias, target in (aliases or {}).items():
        alias, target = str(alias).strip().lower(), str(target).strip().lower()
        if alias in names or alias in old.aliases or alias in extra_aliases:
            raise ValueError(f"--alias {alias}={target}: {alias!r} is already a prompt or an alias")
        if target not in new_names:
            raise ValueError(f"--alias {alias}={target}: {target!r} is not an added prompt")
        extra_aliases[alias] = target
    out = {"prompts": names, "prompt_aliases": extra_aliases or None, "exclusive_prompts": rules}
    PromptVocabulary(out["prompts"], out["prompt_aliases"], out["exclusive_prompts"])  # checks
    return out


def extended_config(config: Mapping, vocab_conf: Mapping) -> Dict:
    """``config`` with the vocabulary keys replaced (where the preprocessor sets
    its own, there too)."""
    out = copy.deepcopy(dict(config))
    sep = dict(out.get("separator_conf") or {})
    pre = dict(out.get("preprocessor_conf") or {})
    for key, value in vocab_conf.items():
        sep[key] = copy.deepcopy(value)
        if pre.get(key) is not None:
            pre[key] = copy.deepcopy(value)
    out["separator_conf"] = sep
    if pre or "preprocessor_conf" in out:
        out["preprocessor_conf"] = pre
    return out


def extended_state(
    state: Mapping[str, torch.Tensor],
    expected_keys: Sequence[str],
    additions: Sequence[NewPrompt],
    aliases: Mapping[str, str],
    seed: int = 0,
) -> Dict[str, torch.Tensor]:
    """The base weights plus one vector per added prompt, in the key order of
    the extended model. ``aliases``: alias -> prompt of the base vocabulary."""
    gen = torch.Generator().manual_seed(int(seed))
    new: Dict[str, torch.Tensor] = {}
    for a in additions:
        if a.init is not None:
            src = state[PROMPT_KEY.format(aliases.get(a.init, a.init))]
            new[PROMPT_KEY.format(a.name)] = src.detach().clone()
        else:
            like = next(v for k, v in state.items() if k.startswith(PROMPT_KEY.format("")))
            new[PROMPT_KEY.format(a.name)] = torch.randn(like.shape, generator=gen).to(like.dtype)
    out = {}
    for k in expected_keys:
        out[k] = state[k] if k in state else new[k]
    return out


def finetune_config(
    extended: Mapping, finetune: Mapping, added: Sequence[str], init_file: str, where: str = "fine-tuning config"
) -> Dict:
    """A complete training config: the model keys (and, unless given, the
    criterions) of the extended model, the training options of ``finetune``,
    ``finetune_prompts`` = the added prompts unless ``finetune`` names them, and
    ``init_param`` = the extended weights."""
    clash = sorted(k for k in finetune if k in MODEL_KEYS)
    if clash:
        raise ValueError(f"{where}: {', '.join(clash)} define(s) the model and come(s) from the base model; drop them")
    out = {k: copy.deepcopy(extended[k]) for k in MODEL_KEYS if k in extended}
    if "criterions" in extended and "criterions" not in finetune:
        out["criterions"] = copy.deepcopy(extended["criterions"])
    out.update(copy.deepcopy(dict(finetune)))
    out.setdefault("finetune_prompts", list(added))
    out.setdefault("init_param", [init_file])
    return out


def _digest(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _read_yaml(path: PathLike, what: str) -> Dict:
    try:
        with open_text(path) as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: not a readable YAML {what} ({' '.join(str(e).split())[:200]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a {what} must be a YAML mapping")
    return data


# the record of what add_prompts wrote into an outdir (the files --overwrite may replace)
MANIFEST_NAME = ".tuss-add-prompts.manifest"


def _check_outdir(model: PathLike, outdir: Path, overwrite: bool) -> None:
    """``outdir`` is not the model's dir (nor holds it, nor lies in it), and
    it is new, empty, or (with ``overwrite``) a dir add_prompts wrote."""
    from tuss_plugin.fileio.output_dirs import Manifest, check_not_symlink, check_output_dir

    check_not_symlink(outdir, "--outdir")
    check_output_dir(outdir, [("--model", model)])
    if not outdir.exists() or not any(outdir.iterdir()):
        return
    if not overwrite:
        raise ValueError(f"{outdir}: exists and is not empty (choose another --outdir or pass --overwrite)")
    if not Manifest(outdir, MANIFEST_NAME).exists() and not (outdir / "added_prompts.yaml").is_file():
        # (added_prompts.yaml alone: a dir of an earlier version, before the manifest)
        raise ValueError(
            f"{outdir}: not written by add_prompts (no {MANIFEST_NAME}); "
            "--overwrite replaces only what add_prompts wrote: choose another --outdir"
        )


def _install_dir(tmp: Path, outdir: Path) -> None:
    """Move the finished files of ``tmp`` into ``outdir`` (each atomically),
    then remove the files an earlier add_prompts run wrote there and this one
    did not (its manifest); any other file in ``outdir`` stays."""
    from tuss_plugin.fileio.output_dirs import Manifest

    if not outdir.exists():
        os.rename(tmp, outdir)
        Manifest(outdir, MANIFEST_NAME).write(p.name for p in outdir.iterdir() if p.name != MANIFEST_NAME)
        return
    names = [p.name for p in tmp.iterdir()]
    for name in names:
        os.replace(tmp / name, outdir / name)
    Manifest(outdir, MANIFEST_NAME).replace(names)


def add_prompts(
    model: PathLike,
    additions: Sequence[NewPrompt],
    outdir: PathLike,
    exclusions: Sequence[Tuple[str, List[str]]] = (),
    aliases: Optional[Mapping[str, str]] = None,
    seed: int = 0,
    train_config: Optional[PathLike] = None,
    overwrite: bool = False,
) -> Path:
    """Write ``outdir`` with the model extended by ``additions``.

    ``outdir`` gets ``config.yaml``, ``model.pth``, ``added_prompts.yaml``
    (what was added, from what, the base model's digest) and, with
    ``train_config`` (a YAML of training options), ``train.yaml``: the complete
    fine-tuning config (:func:`finetune_config`). Everything is checked first
    (the base loads strictly, the extended weights fit the extended config) and
    written into a temporary directory whose files are moved into ``outdir``
    only at the end, so an error leaves nothing behind. ``outdir`` may not be
    the model's dir (nor contain it or lie in it); an existing, non-empty one
    is used only with ``overwrite`` and only if add_prompts wrote it (its
    manifest, :data:`MANIFEST_NAME`): then only the files of the earlier run
    are replaced or removed, any other file stays.

    Raises ``ValueError`` / ``FileNotFoundError`` with one line naming the problem.
    """
    from tuss_plugin.inference import load_model
    from tuss_plugin.inference.model_files import build_config_model, check_shapes, resolve_model_files

    outdir = Path(outdir)
    _check_outdir(model, outdir, overwrite)
    finetune = _read_yaml(train_config, "fine-tuning config") if train_config is not None else None
    config_file, model_file = resolve_model_files(model)
    base_model, config = load_model(config_file, model_file)
    try:
        vocab_conf = vocabulary_conf(config)
    except ValueError as e:
        raise ValueError(f"{config_file}: {e}") from None
    base_vocab = PromptVocabulary(vocab_conf["prompts"], vocab_conf["prompt_aliases"], vocab_conf["exclusive_prompts"])
    vocab = extend_vocabulary(vocab_conf, additions, exclusions, aliases)
    new_config = extended_config(config, vocab)
    new_model = build_config_model(new_config, config_file, meta=True)  # shapes only
    expected = {k: tuple(v.shape) for k, v in new_model.state_dict().items()}
    state = extended_state(base_model.state_dict(), list(expected), additions, base_vocab.aliases, seed)
    check_shapes(expected, state, config_file, model_file)
    added = [a.name for a in additions]
    ft = None
    if finetune is not None:
        ft = finetune_config(new_config, finetune, added, str(outdir / "model.pth"), where=str(train_config))
        unknown = sorted(set(ft.get("finetune_prompts") or ()) - set(vocab["prompts"]))
        if unknown:
            raise ValueError(f"{train_config}: finetune_prompts names unknown prompts {unknown}")
    record = {
        "base_model": {"config": str(config_file), "model_file": str(model_file), "sha256_16": _digest(model_file)},
        "added": [{"name": a.name, "init": a.init or RANDOM} for a in additions],
        "exclusive_prompts": {n: o for n, o in exclusions},
        "seed": int(seed),
    }
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.tmp.", dir=outdir.parent))
    try:
        atomic_write_text(tmp / "config.yaml", yaml.safe_dump(new_config, sort_keys=False))
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(tmp / "model.pth", buf.getvalue())
        atomic_write_text(tmp / "added_prompts.yaml", yaml.safe_dump(record, sort_keys=False))
        if ft is not None:
            atomic_write_text(tmp / "train.yaml", yaml.safe_dump(ft, sort_keys=False))
        os.chmod(tmp, 0o777 & ~current_umask())
        _install_dir(tmp, outdir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return outdir


__all__ = [
    "MODEL_KEYS",
    "NewPrompt",
    "add_prompts",
    "extend_vocabulary",
    "extended_config",
    "extended_state",
    "finetune_config",
    "parse_addition",
    "parse_exclusion",
    "vocabulary_conf",
]
