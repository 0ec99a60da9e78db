# SPDX-License-Identifier: Apache-2.0
"""Build the training source pools of on-the-fly TUSS training (``local/pools.sh``).

    python -m tuss_plugin.dataprep.pools.build_pools --pools vctk,demand [--nj 4] [--force]

One registry, :data:`BUILDERS`: pool name -> the db.sh variable of its corpus
root, what the root must hold, and the corpus module's builder called with
one signature (:class:`BuildContext`). Corpus roots come from the
environment (db.sh); every needed root is checked before anything is built.
Pools are written by :func:`tuss_plugin.dataprep.pools.pool.write_pool` (TUSS,
Saijo et al., ICASSP 2025, trains on mixtures simulated from such pools).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

from tuss_plugin.dataprep.common import run_cli
from tuss_plugin.dataprep.pools import (
    demand,
    fma,
    fsd50k,
    librivox,
    moisesdb,
    musdb_sad,
    vctk,
    wham_noise,
    wsj0,
)
from tuss_plugin.fileio.pools import PoolEntry
from tuss_plugin.utils.errors import DataPrepError

PathLike = Union[str, Path]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildContext:
    """What every builder gets: the corpus root, where the pool and derived
    audio go, the environment (optional extra inputs), processes, rebuild."""

    root: str
    pool_dir: Path
    local_dir: Path
    env: Mapping[str, str]
    nj: int = 1
    force: bool = False


@dataclass(frozen=True)
class Builder:
    """One pool: the db.sh variable of its root, what the root holds, its builder."""

    var: str
    what: str
    build: Callable[[BuildContext], List[PoolEntry]]


BUILDERS: Dict[str, Builder] = {
    "vctk": Builder(
        "VCTK",
        "VCTK 0.92: wav48_silence_trimmed/",
        lambda c: vctk.build(c.root, c.pool_dir, nj=c.nj, force=c.force),
    ),
    "wsj0": Builder(
        "WSJ0",
        "LDC93S6A CD folders <disc>/wsj0/si_tr_s/ (or a converted copy)",
        lambda c: wsj0.build(
            c.root,
            c.env.get("WSJ0_2MIX_TR") or str(Path(c.root) / "mix_2_spk_tr.txt"),
            c.pool_dir,
            c.local_dir,
            nj=c.nj,
            force=c.force,
        ),
    ),
    "librivox": Builder(
        "LIBRIVOX_URGENT",
        "dns5_fullband/ and the URGENT json.gz lists",
        lambda c: librivox.build(c.root, c.pool_dir, c.local_dir, nj=c.nj, force=c.force),
    ),
    "fsd50k": Builder(
        "FSD50K",
        "FSD50K.dev_audio/, FSD50K.ground_truth/, FSD50K.metadata/, ontology.json",
        lambda c: fsd50k.build(c.root, c.pool_dir, c.env.get("FSD50K_ONTOLOGY") or None, nj=c.nj, force=c.force),
    ),
    "wham_noise": Builder(
        "WHAM_NOISE",
        "high_res_wham/{audio/,high_res_metadata.csv}",
        lambda c: wham_noise.build(c.root, c.pool_dir, c.local_dir, nj=c.nj, force=c.force),
    ),
    "demand": Builder(
        "DEMAND",
        "<ENV>/ch01.wav (48 kHz)",
        lambda c: demand.build(c.root, c.pool_dir, c.local_dir, nj=c.nj, force=c.force),
    ),
    "musdb_sad": Builder(
        "MUSDB18HQ",
        "train/<track>/{drums,bass,vocals,other}.wav",
        lambda c: musdb_sad.build(c.root, c.pool_dir, c.local_dir, nj=c.nj, force=c.force),
    ),
    "moisesdb_sad": Builder(
        "MOISESDB",
        "moisesdb_v0.1/<track>/data.json and splits.csv",
        lambda c: moisesdb.build(
            c.root, c.env.get("MOISESDB_SPLITS") or None, c.pool_dir, c.local_dir, nj=c.nj, force=c.force
        ),
    ),
    "fma": Builder(
        "FMA",
        "fma_medium/ and fma_metadata/tracks.csv",
        lambda c: fma.build(c.root, c.pool_dir, nj=c.nj, force=c.force),
    ),
}
#: pool names (``data/pool_<name>``) used by the recipes
POOL_NAMES = tuple(BUILDERS)
#: pool name -> (db.sh variable, what its root holds)
POOL_CORPORA = {name: (b.var, b.what) for name, b in BUILDERS.items()}


def build_pools(
    names: Sequence[str],
    env: Mapping[str, str],
    data_dir: PathLike = "data",
    local_dir: PathLike = "data/local",
    nj: int = 1,
    force: bool = False,
) -> Dict[str, List[PoolEntry]]:
    """Build ``<data_dir>/pool_<name>`` for each name, roots taken from ``env`` (db.sh variables).

    Every needed root is checked before anything is built, so a missing corpus
    fails at once with the variable to set. Extra inputs: ``WSJ0_2MIX_TR``
    (default ``$WSJ0/mix_2_spk_tr.txt``), ``FSD50K_ONTOLOGY`` (default
    ``$FSD50K/ontology.json``), ``MOISESDB_SPLITS`` (default ``$MOISESDB/splits.csv``).
    Derived audio goes to ``<local_dir>/<name>``.
    """
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise DataPrepError(f"unknown pool(s) {', '.join(unknown)} (known: {', '.join(BUILDERS)})")
    problems = []
    for n in names:
        b = BUILDERS[n]
        val = env.get(b.var, "")
        if not val or not Path(val).is_dir():
            problems.append(f"{b.var}={val!r} is not a directory (pool_{n} needs {b.what})")
    if problems:
        raise DataPrepError("; ".join(problems) + "; set the variable(s) in db.sh or the environment")
    data_dir, local_dir = Path(data_dir), Path(local_dir)
    out: Dict[str, List[PoolEntry]] = {}
    for n in names:
        b = BUILDERS[n]
        ctx = BuildContext(env[b.var], data_dir / f"pool_{n}", local_dir / n, env, nj=nj, force=force)
        log.info("building %s from %s=%s", ctx.pool_dir, b.var, ctx.root)
        out[n] = b.build(ctx)
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m tuss_plugin.dataprep.pools.build_pools --pools vctk,demand`` (roots from the environment)."""
    parser = argparse.ArgumentParser(
        description="Build the training source pools named by --pools; corpus roots come from the "
        "environment variables of db.sh (" + ", ".join(sorted({b.var for b in BUILDERS.values()})) + ")."
    )
    parser.add_argument("--pools", required=True, help="comma/space separated: " + ", ".join(POOL_NAMES))
    parser.add_argument("--data_dir", default="data", help="pools go to <data_dir>/pool_<name> (default: %(default)s)")
    parser.add_argument(
        "--local_dir", default="data/local", help="derived audio under <local_dir>/<name> (default: %(default)s)"
    )
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="rebuild pools that are up to date")
    args = parser.parse_args(argv)
    names = [n for n in re.split(r"[,\s]+", args.pools) if n]
    build_pools(names, dict(os.environ), args.data_dir, args.local_dir, nj=args.nj, force=args.force)


if __name__ == "__main__":
    sys.exit(run_cli(main))
