# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the corpus preparation modules."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.fileio.datadir import read_ref_lists, write_ref_lists
from tuss_plugin.fileio.kaldi_io import make_id, read_dict, read_scp, utt_id_problem, write_list
from tuss_plugin.utils.cli import run_main
from tuss_plugin.utils.errors import DataPrepError

PathLike = Union[str, Path]


def require_root(variable: str, root: PathLike, must_contain: Iterable[str]) -> Path:
    """Check the corpus root given by ``db.sh``/environment variable ``variable``.

    ``must_contain`` lists entries (relative paths) that the directory the
    corpus unpacks into must hold. Raises :class:`DataPrepError` with a message
    naming the variable, the directory and what is missing.
    """
    need = list(must_contain)
    if root is None or str(root).strip() == "":
        raise DataPrepError(
            f"{variable} is not set: point it (in db.sh or the environment) at the directory "
            f"that holds {', '.join(need)}"
        )
    path = Path(root)
    if not path.is_dir():
        raise DataPrepError(f"{variable}={root}: no such directory (it must hold {', '.join(need)})")
    missing = [m for m in need if not (path / m).exists()]
    if missing:
        raise DataPrepError(
            f"{variable}={root}: missing {', '.join(missing)} (the directory must hold {', '.join(need)})"
        )
    return path


# --------------------------------------------------------------------------
# Evaluation sets (Kaldi-style data dirs)
# --------------------------------------------------------------------------


class Mixture(NamedTuple):
    """One evaluation mixture of a data dir.

    ``refs`` and ``prompts`` are in output order (one prompt per reference);
    ``channel`` selects one channel (0-based) of the mixture and of every
    reference, ``None`` for mono files; ``corpus`` names the corpus the
    mixture comes from (``utt2corpus``: validation weighs corpora equally).
    """

    utt: str
    mix: str
    refs: List[str]
    prompts: List[str]
    channel: Optional[int] = None
    corpus: Optional[str] = None


def check_utt_id(utt: str) -> str:
    """``utt`` if it is a valid id by the one id rule
    (:func:`tuss_plugin.fileio.kaldi_io.utt_id_problem`), else :class:`DataPrepError`."""
    problem = utt_id_problem(utt)
    if problem:
        raise DataPrepError(f"invalid utterance id {utt!r}: {problem} (ids become file names)")
    return utt


def safe_id(*parts: object) -> str:
    """A key made from free-form names (MUSDB track folders hold spaces and
    '&', corpus file names): :func:`tuss_plugin.fileio.kaldi_io.make_id`, the one
    sanitiser of ids, with :class:`DataPrepError` when nothing is left."""
    try:
        return make_id(*parts)
    except ValueError as e:
        raise DataPrepError(f"cannot make an id from {parts!r}: {e}") from None


def write_data_dir(out_dir: PathLike, mixtures: Sequence[Mixture], corpus: Optional[str] = None) -> Path:
    """Write ``wav.scp``, ``spk1..K.scp``, ``utt2prompts``, ``utt2spk``,
    ``spk2utt``, when a mixture selects a channel ``utt2channel``, and when
    mixtures name their corpus ``utt2corpus`` (then every one must).

    ``corpus`` (default None) is the corpus of the mixtures that name none.
    Lists are sorted by key and written atomically; ``spk<k>.scp`` of an earlier
    run beyond K (and a stale ``utt2channel`` or ``utt2corpus``) are removed.
    """
    out = Path(out_dir)
    if not mixtures:
        raise DataPrepError(f"{out}: no mixtures to write")
    if corpus is not None:
        mixtures = [m if m.corpus else m._replace(corpus=corpus) for m in mixtures]
    seen = set()
    for m in mixtures:
        check_utt_id(m.utt)
        if m.utt in seen:
            raise DataPrepError(f"{out}: duplicate utterance id {m.utt}")
        seen.add(m.utt)
        if len(m.refs) != len(m.prompts) or not m.refs:
            raise DataPrepError(f"{out}: {m.utt}: {len(m.refs)} references for {len(m.prompts)} prompts")
    out.mkdir(parents=True, exist_ok=True)
    write_list(out / "wav.scp", ((m.utt, m.mix) for m in mixtures))
    write_ref_lists(out, {m.utt: m.refs for m in mixtures})
    write_list(out / "utt2prompts", ((m.utt, m.prompts) for m in mixtures))
    write_list(out / "utt2spk", ((m.utt, m.utt) for m in mixtures))
    write_list(out / "spk2utt", ((m.utt, m.utt) for m in mixtures))
    channels = [(m.utt, str(m.channel)) for m in mixtures if m.channel is not None]
    if channels:
        write_list(out / "utt2channel", channels)
    elif (out / "utt2channel").exists():
        (out / "utt2channel").unlink()
    corpora = [(m.utt, m.corpus) for m in mixtures if m.corpus]
    if corpora:
        unnamed = [m.utt for m in mixtures if not m.corpus]
        if unnamed:
            raise DataPrepError(f"{out}: {unnamed[0]}: no corpus, while other mixtures name theirs")
        write_list(out / "utt2corpus", corpora)
    elif (out / "utt2corpus").exists():
        (out / "utt2corpus").unlink()
    return out


def is_written(d: PathLike) -> bool:
    """True when an evaluation data dir holds ``wav.scp`` and ``utt2corpus``
    (dirs written before ``utt2corpus`` existed are written again)."""
    return (Path(d) / "wav.scp").is_file() and (Path(d) / "utt2corpus").is_file()


def is_done(marker: PathLike, key: str) -> bool:
    """True when ``marker`` exists and holds ``key`` (a finished run with the same options)."""
    p = Path(marker)
    return p.is_file() and p.read_text(encoding="utf-8").strip() == key.strip()


def mark_done(marker: PathLike, key: str) -> None:
    Path(marker).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, key.strip() + "\n")


def natural_key(name: str) -> Tuple[int, Union[int, str]]:
    """Sort numeric names (DnR folder ids) by value, the others by text."""
    return (0, int(name)) if name.isdigit() else (1, name)


def eval_set_parser(description: str, corpus: str, variable: str) -> argparse.ArgumentParser:
    """Common options of the ``python -m tuss_plugin.dataprep.<corpus>`` commands."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.environ.get(variable, ""), help=f"corpus root (default: ${variable})")
    p.add_argument("--data_dir", default="data", help=f"writes <data_dir>/dev_{corpus} and <data_dir>/test_{corpus}")
    p.add_argument(
        "--sets",
        nargs="+",
        choices=["dev", "test"],
        default=["dev", "test"],
        help="which sets to write (default: dev test)",
    )
    p.add_argument("--force", action="store_true", help="redo even if a finished run is recorded")
    p.add_argument("--hint", default="", help="text appended to a missing-corpus error (e.g. how to download)")
    return p


def write_sets(
    corpus: str,
    data_dir: PathLike,
    sets: Sequence[str],
    key: str,
    force: bool,
    mixtures_of: Callable[[str], Sequence[Mixture]],
) -> Dict[str, Path]:
    """Write ``<data_dir>/<set>_<corpus>`` from ``mixtures_of(set)`` for each of
    ``sets`` (``dev``, ``test``), then record ``key`` (the options, one line) in
    ``<data_dir>/.<corpus>.done``. A run with the same key whose dirs are all
    written is not redone unless ``force``. Returns {set name: dir}."""
    data_dir = Path(data_dir)
    dirs = {f"{s}_{corpus}": data_dir / f"{s}_{corpus}" for s in sets}
    marker = data_dir / f".{corpus}.done"
    if not force and is_done(marker, key) and all(is_written(d) for d in dirs.values()):
        print(f"{corpus}: already prepared ({key})")
        return dirs
    for s in sets:
        write_data_dir(dirs[f"{s}_{corpus}"], mixtures_of(s), corpus=corpus)
    mark_done(marker, key)
    return dirs


def run_eval_cli(prepare: Callable[..., Dict[str, Path]], args: argparse.Namespace, **options: object) -> int:
    """:func:`run_cli` of ``prepare`` with the options of :func:`eval_set_parser`
    (``root``, ``data_dir``, ``sets``, ``force``; ``--hint`` appended to errors)
    and the corpus' own ``options``; prints the mixtures of each data dir written."""

    def main() -> None:
        dirs = prepare(root=args.root, data_dir=args.data_dir, sets=args.sets, force=args.force, **options)
        for name, d in dirs.items():
            n = sum(1 for line in (Path(d) / "wav.scp").read_text(encoding="utf-8").splitlines() if line.strip())
            print(f"{name}: {n} mixtures in {d}")

    return run_cli(main, hint=args.hint)


def run_cli(main: Callable[[], object], hint: str = "") -> int:
    """The one runner of the data-preparation commands (evaluation sets and
    pools): ``main()`` with logging to stderr; what it returns is not an exit
    status. A :class:`DataPrepError` becomes one line ``error: <message>``
    (``; <hint>`` appended) and status 1, Ctrl-C one line and status 130
    (:func:`tuss_plugin.utils.cli.run_main`)."""

    def call() -> None:
        try:
            main()
        except DataPrepError as e:
            if hint:
                raise DataPrepError(f"{e}; {hint}") from None
            raise

    setup_logging()
    return run_main(None, call)


def setup_logging(verbose: bool = True) -> None:
    """INFO (or WARNING) messages of the data preparation to stderr, with time and module."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def read_data_dir(d: PathLike) -> List[Mixture]:
    """The mixtures of a data dir written by :func:`write_data_dir`."""
    d = Path(d)
    try:
        wavs = read_scp(d / "wav.scp")
        prompts = read_dict(d / "utt2prompts")
        channels = read_dict(d / "utt2channel") if (d / "utt2channel").exists() else {}
        corpora = read_dict(d / "utt2corpus") if (d / "utt2corpus").exists() else {}
        refs = read_ref_lists(d)
    except (OSError, ValueError) as e:
        raise DataPrepError(f"{d}: cannot read the data dir ({e})") from None
    out = []
    for utt, mix in wavs.items():
        p = prompts.get(utt)
        if not p or len(p) > len(refs) or any(utt not in refs[k] for k in range(len(p))):
            raise DataPrepError(f"{d}: {utt}: prompts or references missing")
        ch = channels.get(utt)
        corpus = corpora.get(utt)
        out.append(
            Mixture(
                utt,
                mix,
                [refs[k][utt] for k in range(len(p))],
                list(p),
                int(ch[0]) if ch else None,
                corpus[0] if corpus else None,
            )
        )
    return out


def combine_data_dirs(out_dir: PathLike, dirs: Sequence[PathLike]) -> Path:
    """Union of data dirs (utterance ids must differ: the modules prefix them
    with the corpus name), e.g. one validation set for several corpora; each
    mixture keeps its corpus (``utt2corpus``)."""
    mixtures: List[Mixture] = []
    for d in dirs:
        mixtures += read_data_dir(d)
    return write_data_dir(out_dir, mixtures)
