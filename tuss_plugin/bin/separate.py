#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Separate audio files with a TUSS model.

    tuss-separate --model exp/enh_tuss_mini --prompts speech sfxbg musicbg \
        [--segment_size 6 --hop_size 3] [--outdir separated] [--spectrogram] IN.wav [IN2.flac ...]

MODEL is an experiment dir, a packed model zip, a model file or a dir written
by ``tuss-import-release``. Any format, rate, bit depth and channel count that
soundfile reads is accepted; each output has the input's rate and channels
and is written to ``OUTDIR/<input stem>/<k>_<prompt>.wav`` (k = position in the
prompt list). With ``--segment_size`` (or its first spelling ``--segment``;
``--hop`` for ``--hop_size``), files are read and written block-wise, so
memory does not grow with the file length (a segment spans at least one STFT
window of the model, the hop at least one frame shift). Outputs are written to
temporary files in the output directory and renamed when complete: they appear
complete or not at all, also after SIGTERM (exit status 143); temporary files
of a killed run are removed by the next run. A re-run removes the outputs of
an earlier prompt list from ``OUTDIR/<input stem>/``: only files listed in the
manifest (``.tuss-separate.manifest``) the earlier run wrote there, never a
file that merely looks like an output; a run finding another one writing
there stops. An input whose stem is empty, ``.`` or ``..`` (``..wav``) and an
``OUTDIR/<input stem>`` that is a symbolic link are refused
(:mod:`tuss_plugin.fileio.output_dirs`).
Problems are reported in one line naming the file, with exit status 1.
With ``--backend onnxruntime``, MODEL is a graph written by
``tuss-export-onnx`` (the ``.onnx`` file, a directory holding ``model.onnx``
or a packed zip carrying it), run on the CPU in float32 without torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np

from tuss_plugin.precision import PRECISIONS
from tuss_plugin.utils.cli import CLIError, add_segment_options, run_main
from tuss_plugin.utils.errors import one_line

PROG = "tuss-separate"
# held in OUTDIR/<stem>/ while its outputs are written
LOCK_NAME = ".tuss-separate.lock"
# the files the last run wrote into OUTDIR/<stem>/ (the only ones a re-run removes)
MANIFEST_NAME = ".tuss-separate.manifest"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="IN", help="audio files")
    p.add_argument("-m", "--model", required=True, help="exp dir, packed zip, model file or imported dir")
    p.add_argument("-p", "--prompts", nargs="+", default=None, help="one output per prompt")
    p.add_argument("-o", "--outdir", default="separated", help="output root (default: separated)")
    add_segment_options(p, aliases=True)
    p.add_argument(
        "--spectrogram",
        action="store_true",
        help="also write a PNG of mixture and outputs (reads the whole signals into memory)",
    )
    p.add_argument("--subtype", default="FLOAT", help="WAV subtype of the outputs (FLOAT, PCM_16, PCM_24)")
    p.add_argument("-d", "--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument(
        "--backend",
        choices=("torch", "onnxruntime"),
        default="torch",
        help="torch (default), or onnxruntime on an exported graph (CPU, float32, no torch imported)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (default): bf16 autocast where the device has native bf16 matrix units, else fp32; "
        "bf16 outputs are within about 40-50 dB SNR of fp32 ones (see the README)",
    )
    p.add_argument("--list-prompts", action="store_true", help="print the model's prompts and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def check_input(path: str):
    """soundfile info of an input, or ``CLIError`` (missing, directory, unreadable,
    truncated, empty, NaN/Inf samples)."""
    from tuss_plugin.fileio.audio import check_audio_file

    try:
        return check_audio_file(path, scan_nonfinite=True)
    except ValueError as e:
        raise CLIError(str(e)) from None


def spectrogram_png(path: Path, signals: List[np.ndarray], titles: List[str], fs: int) -> None:
    """The mixture and the outputs, one spectrogram each, top to bottom."""
    from tuss_plugin.scoring.figures import spectrogram_grid

    spectrogram_grid(path, [[(x, t)] for x, t in zip(signals, titles)], fs)


def separate_file(
    sep, path: str, outdir: Path, prompts: List[str], subtype: str, spectrogram: bool, progress: bool
) -> List[Path]:
    """Separate one file into ``outdir/<stem>/<k>_<prompt>.wav`` (streamed, atomic).

    Holds a lock in ``outdir/<stem>/`` meanwhile (``CLIError`` if another run
    holds it), first removes temporary files of killed runs there and at the
    end the outputs of an earlier prompt list.
    """
    from tuss_plugin.fileio.atomic import LockedError, exclusive_lock, sweep_temp_files
    from tuss_plugin.fileio.output_dirs import check_derived_name, check_not_symlink

    try:
        dest = check_not_symlink(outdir / check_derived_name(Path(path).stem, path))
    except ValueError as e:
        raise CLIError(one_line(e)) from None
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(dest / LOCK_NAME):
            sweep_temp_files(dest)
            written = write_outputs(sep, path, dest, prompts, subtype, spectrogram, progress)
            remove_stale_outputs(dest, written)
    except LockedError:
        raise CLIError(
            f"{dest}: another tuss-separate run is writing these outputs now; "
            "wait for it to end or use another --outdir"
        ) from None
    except BaseException:
        if created:
            try:
                dest.rmdir()  # only if empty
            except OSError:
                pass
        raise
    return written


def remove_stale_outputs(dest: Path, written: List[Path]) -> None:
    """Record this run's outputs in the manifest and remove those of an earlier
    run (listed in its manifest) that this run did not write: they belong to
    another prompt list. Files this command did not write are never removed."""
    from tuss_plugin.fileio.output_dirs import Manifest

    Manifest(dest, MANIFEST_NAME).replace(p.name for p in written)


def write_outputs(
    sep, path: str, dest: Path, prompts: List[str], subtype: str, spectrogram: bool, progress: bool
) -> List[Path]:
    """Write ``dest/<k>_<prompt>.wav`` (and ``spectrogram.png``); returns the paths."""
    targets = [dest / f"{k}_{p}.wav" for k, p in enumerate(prompts, 1)]
    sep.separate_file(path, targets, prompts, subtype=subtype, progress=progress)
    written = list(targets)
    if spectrogram:
        import soundfile as sf

        x, fs = sf.read(path, dtype="float32")
        outs = [sf.read(t, dtype="float32")[0] for t in targets]
        png = dest / "spectrogram.png"
        spectrogram_png(png, [x] + outs, ["mixture"] + [f"{k}: {p}" for k, p in enumerate(prompts, 1)], fs)
        written.append(png)
    return written


def check_outdir(outdir: Path) -> None:
    """Create ``outdir`` and prove it writable by creating a file in it (after
    removing temporary files of killed runs)."""
    from tuss_plugin.fileio.atomic import sweep_temp_files, temp_path

    if outdir.exists() and not outdir.is_dir():
        raise CLIError(f"{outdir}: output path exists and is not a directory")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"{outdir}: cannot create output directory ({e.strerror or e})") from None
    try:
        sweep_temp_files(outdir)
        os.unlink(temp_path(outdir / "write-test"))
    except OSError as e:
        raise CLIError(f"{outdir}: output directory is not writable ({e.strerror or e})") from None


def model_prompts(model: str, backend: str = "torch") -> List[str]:
    """The prompts of ``--model`` from its config alone: no torch, no weights
    read (``--list-prompts`` answers in a fraction of a second)."""
    from tuss_plugin.inference.model_files import read_config, resolve_model_files
    from tuss_plugin.prompts import model_vocabulary

    try:
        if backend == "onnxruntime":
            from tuss_plugin.onnx.runtime import OnnxModel, resolve_onnx_file

            return list(OnnxModel(resolve_onnx_file(model)).vocab.names)
        config_file, _ = resolve_model_files(model)
        vocab = model_vocabulary(read_config(config_file))
    except (OSError, ValueError, KeyError) as e:
        raise CLIError(f"cannot load model {model}: {one_line(e)}") from None
    return vocab.names if vocab is not None else []


def load_separator(args: argparse.Namespace):
    """The model of ``--model`` on ``--device`` with ``--segment_size/--hop_size`` set (``CLIError`` otherwise)."""
    from tuss_plugin.inference import SeparateAudio
    from tuss_plugin.utils.values import check_device

    device = args.device
    if args.backend == "torch" and device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        if args.backend == "torch":  # the onnxruntime backend runs on the CPU, without torch
            check_device(device)
    except ValueError as e:
        raise CLIError(one_line(e)) from None
    try:
        sep = SeparateAudio.from_pretrained(
            args.model, device=device or "cpu", precision=args.precision, backend=args.backend
        )
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise CLIError(f"cannot load model {args.model}: {one_line(e)}") from None
    try:
        sep.set_segments(args.segment_size, args.hop_size, names=("--segment", "--hop"))
    except ValueError as e:
        raise CLIError(one_line(e)) from None
    return sep


def check_options(args: argparse.Namespace) -> List[str]:
    """Check options and inputs before loading the model; returns the inputs
    to separate (each once)."""
    from tuss_plugin.inference.overlap_add import check_segment_values
    from tuss_plugin.utils.values import check_subtype

    try:
        check_segment_values(args.segment_size, args.hop_size, ("--segment", "--hop"))
        args.subtype = check_subtype(args.subtype)
    except ValueError as e:
        raise CLIError(one_line(e)) from None
    stems = {}
    inputs = []
    from tuss_plugin.fileio.output_dirs import check_derived_name

    for path in args.inputs:
        check_input(path)
        try:
            stem = check_derived_name(Path(path).stem, path)
        except ValueError as e:
            raise CLIError(one_line(e)) from None
        if stem in stems:
            if Path(stems[stem]).resolve() == Path(path).resolve():
                continue  # the same file twice
            raise CLIError(
                f"{path}: same name as {stems[stem]}; outputs would overwrite each other in {Path(args.outdir) / stem}"
            )
        stems[stem] = path
        inputs.append(path)
    return inputs


def run(args: argparse.Namespace) -> int:
    """The command; problems raise ``CLIError``."""
    from tuss_plugin.utils.cpu_memory import retain_freed_memory

    retain_freed_memory()
    inputs = check_options(args)
    if args.list_prompts:
        print(" ".join(model_prompts(args.model, args.backend)))
        return 0
    sep = load_separator(args)
    if not args.prompts:
        raise CLIError("give the prompts to separate with --prompts (see --list-prompts)")
    if not args.inputs:
        raise CLIError("no input files")
    try:
        prompts = sep.validate_prompts(args.prompts)
    except ValueError as e:
        raise CLIError(f"invalid prompt list: {one_line(e)}") from None
    from tuss_plugin.fileio.atomic import disk_full_problem

    outdir = Path(args.outdir)
    check_outdir(outdir)
    for path in inputs:
        try:
            files = separate_file(
                sep, path, outdir, prompts, args.subtype.upper(), args.spectrogram, progress=not args.quiet
            )
        except ValueError as e:
            msg = one_line(e)
            raise CLIError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
        except OSError as e:
            full = disk_full_problem(e, outdir)
            raise CLIError(f"{path}: cannot write outputs to {outdir} ({full or one_line(e)})") from None
        except MemoryError:
            raise CLIError(f"{path}: out of memory; use --segment (e.g. --segment 6 --hop 3)") from None
        except RuntimeError as e:  # libsndfile reports a full disk as "System error."
            full = disk_full_problem(e, outdir)
            if full:
                raise CLIError(f"{path}: cannot write outputs: {full}") from None
            raise CLIError(f"{path}: separation failed ({one_line(e)[:300]})") from None
        print(f"{PROG}: {path} -> {files[0].parent}/ ({len(prompts)} outputs)")
    return 0


def main(cmd: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(cmd)
    return run_main(
        PROG,
        run,
        args,
        sigterm=True,
        interrupted="interrupted (no partial outputs were left)",
        terminated="terminated (no partial outputs were left)",
    )


if __name__ == "__main__":
    sys.exit(main())
