# SPDX-License-Identifier: Apache-2.0
"""Distributed training (DDP) for real: two CPU ranks with the gloo backend.

The ranks are started the way ESPnet's launcher starts one process per rank
(``--multiprocessing_distributed false --dist_world_size 2 --dist_rank r
--dist_init_method file://...``; ``--ngpu 0 --dist_backend gloo`` on CPUs).
Each rank trains the tiny TUSS a few steps, first on data lists, then on the
fly, and writes its final weights and what it trained on; one plain process
trains the list job with the whole batch for comparison. A hang (e.g. DDP
waiting for a gradient that never comes) fails the test by a timeout.
"""

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tuss_plugin.bin import tuss_train
from tuss_plugin.tasks.tuss import TUSSTask
from tuss_plugin.train.trainer import TUSSTrainer

from conftest import ROOT, TESTS
from datagen import make_data_dir, make_pool

TINY = TESTS / "conf" / "tuss_tiny.yaml"
WORLD = 2
TIMEOUT_S = 300  # the whole two-rank run; normally well under a minute
TRAIN_PROMPTS = [["speech", "sfxbg"], ["sfx", "sfx"], ["speech", "sfx"], ["speech", "speech"]] * 2
VALID_PROMPTS = [["speech", "sfxbg"], ["sfx", "speech"]]


@contextlib.contextmanager
def _recording(name, outdir):
    """Patch the trainer to record a run: per step its start time, utterance
    ids, a checksum of the mixtures and the prompt ids; the model wrapper;
    the weights before and after training (``<name>.rank<r>.json/.pth`` in
    ``outdir``). A distributed run's process group is closed at the end."""
    rec = {"steps": []}
    saved = {k: TUSSTrainer.__dict__[k] for k in ("train_one_epoch", "run")}  # the classmethods
    epoch, run = TUSSTrainer.train_one_epoch, TUSSTrainer.run  # bound to the class

    def recorded(iterator):
        for uids, batch in iterator:
            rec["steps"].append(
                {
                    "t": time.perf_counter(),
                    "uids": list(uids),
                    "mix": float(batch["speech_mix"].double().sum()),
                    "mix_shape": list(batch["speech_mix"].shape),
                    "prompts": batch["prompts"].tolist(),
                }
            )
            yield uids, batch

    def patched_epoch(cls, **kw):
        rec["wrapper"] = type(kw["model"]).__name__
        rec["find_unused_parameters"] = getattr(kw["model"], "find_unused_parameters", None)
        return epoch(**dict(kw, iterator=recorded(kw["iterator"])))

    def patched_run(cls, **kw):
        before = {k: v.clone() for k, v in kw["model"].state_dict().items()}
        run(**kw)
        ddp = torch.distributed.is_initialized()
        rank = torch.distributed.get_rank() if ddp else 0
        torch.save({"before": before, "after": kw["model"].state_dict()}, Path(outdir) / f"{name}.rank{rank}.pth")
        (Path(outdir) / f"{name}.rank{rank}.json").write_text(json.dumps(rec))
        if ddp:
            torch.distributed.destroy_process_group()

    TUSSTrainer.train_one_epoch, TUSSTrainer.run = classmethod(patched_epoch), classmethod(patched_run)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(TUSSTrainer, k, v)


def run_jobs(jobs, outdir) -> int:
    """One rank: tuss_train for each ``[name, args]`` of ``jobs``, recorded."""
    for name, args in jobs:
        with _recording(name, outdir):
            status = tuss_train.main(args)
        if status:
            return status
    return 0


# a rank's process: tests/tasks is on its PYTHONPATH
WORKER = "import json, sys; from test_ddp import run_jobs; sys.exit(run_jobs(json.loads(sys.argv[1]), sys.argv[2]))"


def _data_args(mode, d):
    return [
        f"--{mode}_data_path_and_name_and_type",
        f"{d}/wav.scp,speech_mix,sound",
        f"--{mode}_data_path_and_name_and_type",
        f"{d}/spk.scp,speech_refs,variable_columns_sound",
        f"--{mode}_data_path_and_name_and_type",
        f"{d}/utt2prompts,prompts,text",
        f"--{mode}_shape_file",
        f"{d}/utt2num_samples",
    ]


def _rank_args(rank, init_file, world=WORLD):
    """What ESPnet's launcher adds for one rank of a CPU job."""
    return [
        "--ngpu",
        "0",
        "--multiprocessing_distributed",
        "false",
        "--dist_backend",
        "gloo",
        "--dist_world_size",
        str(world),
        "--dist_rank",
        str(rank),
        "--local_rank",
        "none",
        "--dist_init_method",
        f"file://{init_file}",
    ]


def launch(tmp, jobs, world=WORLD, timeout=TIMEOUT_S):
    """Train ``jobs`` ({name: tuss_train args}) in ``world`` processes (with 1,
    here, in this process); returns {name: [record of each rank]}, each record
    with the weights under ``state`` and the experiment dir under ``exp``."""
    named = {name: args + ["--output_dir", str(tmp / f"exp_{name}")] for name, args in jobs.items()}
    if world == 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as each rank
        try:
            assert run_jobs(list(named.items()), tmp) == 0
        finally:
            torch.set_num_threads(threads)
    else:
        _start_ranks(tmp, named, world, timeout)
    out = {}
    for name in jobs:
        out[name] = []
        for rank in range(world):
            rec = json.loads((tmp / f"{name}.rank{rank}.json").read_text())
            rec["state"] = torch.load(tmp / f"{name}.rank{rank}.pth", weights_only=True)
            rec["exp"] = tmp / f"exp_{name}"
            out[name].append(rec)
    return out


def _start_ranks(tmp, jobs, world, timeout):
    """``world`` rank processes, each running every job; fails on an error or a
    hang (killing what still runs after ``timeout`` seconds)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    paths = [str(ROOT), str(TESTS), str(TESTS / "tasks"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    procs, logs = [], []
    for rank in range(world):
        rank_jobs = [[name, args + _rank_args(rank, tmp / f"init_{name}", world)] for name, args in jobs.items()]
        log = open(tmp / f"rank{rank}.log", "w")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, json.dumps(rank_jobs), str(tmp)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        for p in procs:
            p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        hung = [p for p in procs if p.poll() is None]
        for p in hung:
            p.kill()
            p.wait()
        for log in logs:
            log.close()
    tails = "\n".join((tmp / f"rank{r}.log").read_text()[-2000:] for r in range(world))
    assert not hung, f"training did not finish within {timeout} s (a DDP hang?):\n{tails}"
    assert all(p.returncode == 0 for p in procs), tails


def make_jobs(tmp, train_prompts=TRAIN_PROMPTS, steps_onthefly=3):
    """Data, pool and config of the two jobs: tuss_tiny on lists (``--batch_size 2``)
    and on the fly (``batch_size: 4``), both validated on two list items, with
    ``--resume true`` as the recipe trains (rank 0 checks the checkpoints)."""
    train = make_data_dir(tmp / "train", train_prompts, seconds=0.5)
    valid = make_data_dir(tmp / "valid", VALID_PROMPTS, seconds=0.5, seed=1)
    pool = make_pool(tmp / "pool", [(p, 16000, 0.6, 1) for p in ("speech", "sfx", "sfxbg") for _ in range(4)])
    conf = yaml.safe_load(TINY.read_text())
    conf["onthefly_conf"] = dict(
        pools=[str(pool)],
        allowed_prompts=["speech", "sfx", "sfxbg"],
        chunk_seconds=0.5,
        steps_per_epoch=steps_onthefly,
        batch_size=4,  # over all ranks
        num_prompts_weights={2: 0.5, 3: 0.5},
    )
    cfg = tmp / "train.yaml"
    cfg.write_text(yaml.safe_dump(conf))
    common = ["--config", str(cfg), "--max_epoch", "1", "--seed", "0", "--fold_length", "80000", "--resume", "true"]
    common += ["--log_level", "WARNING", "--num_workers", "0"] + _data_args("valid", valid)
    return {
        "lists": common + ["--batch_size", "2"] + _data_args("train", train),
        "onthefly": common + ["--train_data_source", "onthefly"],
    }


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    """Both jobs trained by two gloo ranks (:func:`launch`)."""
    tmp = tmp_path_factory.mktemp("ddp")
    return launch(tmp, make_jobs(tmp))


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The list job trained by one plain process with the same global batch."""
    tmp = tmp_path_factory.mktemp("single")
    jobs = make_jobs(tmp)
    return launch(tmp, {"lists": jobs["lists"]}, world=1)["lists"][0]


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.mark.parametrize("job", ["lists", "onthefly"])
def test_ranks_end_with_the_same_weights(ddp, job):
    r0, r1 = ddp[job]
    assert r0["wrapper"] == r1["wrapper"] == "DistributedDataParallel"
    assert len(r0["steps"]) == len(r1["steps"]) == {"lists": 4, "onthefly": 3}[job]
    after0, after1 = r0["state"]["after"], r1["state"]["after"]
    assert _max_diff(after0, after1) == 0.0
    assert _max_diff(r0["state"]["before"], r1["state"]["before"]) == 0.0
    assert _max_diff(r0["state"]["before"], after0) > 0  # it trained
    # the model file rank 0 saved holds the weights of every rank
    saved = torch.load(r0["exp"] / "1epoch.pth", map_location="cpu", weights_only=True)
    assert _max_diff(saved, after1) == 0.0


def test_two_ranks_train_as_one_process_with_the_whole_batch(ddp, single):
    """Each rank trains on half of every batch and DDP averages the gradients,
    so the weights are those of one process given the whole batch, up to
    float rounding (measured: 3e-5, while training moves them by 1e-2)."""
    r0 = ddp["lists"][0]
    assert [sorted(s["uids"]) for s in single["steps"]] == [
        sorted(s0["uids"] + s1["uids"]) for s0, s1 in zip(r0["steps"], ddp["lists"][1]["steps"])
    ]
    assert single["wrapper"] == "TUSSEnhancementModel"
    moved = _max_diff(single["state"]["before"], single["state"]["after"])
    assert _max_diff(single["state"]["before"], r0["state"]["before"]) == 0.0
    assert _max_diff(single["state"]["after"], r0["state"]["after"]) < moved / 20


def test_lists_are_shared_out_between_ranks(ddp):
    r0, r1 = ddp["lists"]
    seen = []
    for s0, s1 in zip(r0["steps"], r1["steps"]):
        assert len(s0["uids"]) == len(s1["uids"]) == 1  # --batch_size 2 over two ranks
        assert set(s0["uids"]).isdisjoint(s1["uids"])
        seen += s0["uids"] + s1["uids"]
    assert sorted(seen) == [f"utt{i:03d}" for i in range(len(TRAIN_PROMPTS))]


def test_onthefly_ranks_draw_their_own_mixtures(ddp):
    r0, r1 = ddp["onthefly"]
    for step, (s0, s1) in enumerate(zip(r0["steps"], r1["steps"])):
        assert s0["mix_shape"] == s1["mix_shape"] == [2, 8000]  # batch_size 4 over two ranks
        assert s0["mix"] != s1["mix"]
        assert all(f"_r0_s{step}_" in u for u in s0["uids"]) and all(f"_r1_s{step}_" in u for u in s1["uids"])
        # the number of prompts of a step is shared; the prompts themselves are not
        assert len(s0["prompts"][0]) == len(s1["prompts"][0])


def test_prompts_absent_from_a_step_do_not_stall_ddp(ddp):
    """Steps where a rank uses prompts the other does not (and no rank uses
    most of the vocabulary) complete, with unused-parameter detection on
    although the config does not ask for it."""
    differ = 0
    for job in ("lists", "onthefly"):
        r0, r1 = ddp[job]
        assert r0["find_unused_parameters"] is True and r1["find_unused_parameters"] is True
        assert yaml.safe_load((r0["exp"] / "config.yaml").read_text())["unused_parameters"] is True
        for s0, s1 in zip(r0["steps"], r1["steps"]):
            used = {i for row in s0["prompts"] + s1["prompts"] for i in row}
            assert len(used) <= 3 < 8  # speech, sfx, sfxbg of the eight prompt vectors
            differ += {i for row in s0["prompts"] for i in row} != {i for row in s1["prompts"] for i in row}
    assert differ > 0


def test_absent_prompts_get_zero_gradients():
    """Every trainable parameter gets a gradient in every step: the prompt
    vectors a batch does not use get zeros (the prompt table is looked up as
    a whole), so DDP never waits for a gradient, with or without detection."""
    args = TUSSTask.get_parser().parse_args(["--config", str(TINY)])
    assert args.unused_parameters is True  # TUSSTask's default
    model = TUSSTask.build_model(args)
    n = 4000
    rng = np.random.default_rng(0)
    refs = {f"speech_ref{k}": torch.from_numpy(rng.standard_normal((1, n)).astype(np.float32)) for k in (1, 2)}
    loss = model(
        speech_mix=refs["speech_ref1"] + refs["speech_ref2"],
        speech_mix_lengths=torch.tensor([n]),
        prompts=torch.tensor([[1, 3]]),  # speech, sfxbg
        prompts_lengths=torch.tensor([2]),
        **refs,
    )[0]
    loss.backward()
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert [name for name, p in trainable.items() if p.grad is None] == []
    prompt_grads = {name.rsplit(".", 1)[1]: p.grad for name, p in trainable.items() if ".prompts." in name}
    assert prompt_grads["speech"].abs().sum() > 0 and prompt_grads["sfxbg"].abs().sum() > 0
    assert all(float(g.abs().sum()) == 0 for p, g in prompt_grads.items() if p not in ("speech", "sfxbg"))
