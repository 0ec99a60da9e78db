# SPDX-License-Identifier: Apache-2.0
"""On-the-fly training mixtures: pools, mixer, prompt dropout, ESPnet iterator, training."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from espnet2.train.distributed_utils import DistributedOption

from tuss_plugin.bin import tuss_train
from tuss_plugin.onthefly.conf import OnTheFlyOptions, resolve_onthefly_conf
from tuss_plugin.onthefly.iterator import OnTheFlyIterFactory, prompt_dropout
from tuss_plugin.onthefly.mixer import Mixer, SourcePools
from tuss_plugin.onthefly.prompt_sampler import PromptSampler, default_prompt_table
from tuss_plugin.tasks.tuss import TUSSTask

from conftest import TESTS
from datagen import make_data_dir, make_pool

TINY = str(TESTS / "conf" / "tuss_tiny.yaml")
ALL = ["speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg"]


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    """Two pool dirs with all eight prompts, mixed rates, lengths and channel counts."""
    root = tmp_path_factory.mktemp("pools")
    rates = [16000, 22050, 44100]
    a = make_pool(root / "pool_a", [(p, rates[i % 3], (0.4, 1.3)[i % 2], 1 + i % 2) for p in ALL[:4] for i in range(6)])
    b = make_pool(
        root / "pool_b",
        [(p, rates[(i + 1) % 3], (0.4, 1.3)[i % 2], 1 + i % 2) for p in ALL[4:] for i in range(6)],
        seed=1,
    )
    return [str(a), str(b)]


def _mixer(pools, fs=16000, chunk=1.0, **table_overrides):
    table = default_prompt_table()
    for p, v in table_overrides.items():
        table[p].update(v)
    return Mixer(SourcePools(pools), table, fs=fs, chunk_seconds=chunk)


def _conf(pools, **kw):
    base = dict(pools=pools, fs=16000, chunk_seconds=0.5, batch_size=3, steps_per_epoch=4, seed=3)
    base.update(kw)
    return resolve_onthefly_conf(base)


def test_mixture_is_sum_of_references_with_gains(pools):
    mixer = _mixer(pools, fs=16000, chunk=1.0)
    sampler = PromptSampler()
    rng = np.random.default_rng(0)
    for _ in range(25):
        prompts = sampler.sample(sampler.sample_num_prompts(rng), rng)
        mix, refs = mixer.make(prompts, rng)
        assert mix.dtype == np.float32 and refs.dtype == np.float32
        assert refs.shape == (len(prompts), 16000) and mix.shape == (16000,)
        assert np.array_equal(mix, refs.sum(0))
        for p, r in zip(prompts, refs):
            lo, hi = default_prompt_table()[p]["gain"]
            g = 20 * np.log10(np.sqrt(np.mean(r.astype(np.float64) ** 2)))
            assert lo - 1e-3 <= g <= hi + 1e-3, (p, g)


def test_output_rate_and_length_follow_config(pools):
    mixer = _mixer(pools, fs=48000, chunk=0.75)
    mix, refs = mixer.make(["speech", "sfxbg"], np.random.default_rng(1))
    assert refs.shape == (2, 36000)


def test_dynamic_mixing_builds_backgrounds_from_single_sources(pools):
    # sfxbg / musicbg always built from sub-sources; k fixed to 3
    over = {"dynamic_mixing_prob": 1.0, "num_sources_weights": {3: 1.0}}
    mixer = _mixer(pools, sfxbg=over, musicbg=over)
    calls = []
    orig = mixer._load

    def spy(prompt, rng, used):
        calls.append(prompt)
        return orig(prompt, rng, used)

    mixer._load = spy
    rng = np.random.default_rng(2)
    mix, refs = mixer.make(["speech", "musicbg"], rng)
    assert calls[0] == "speech" and len(calls) == 4
    assert len(set(calls[1:])) == 3 and set(calls[1:]) <= {"bass", "drums", "vocals", "other"}
    assert np.array_equal(mix, refs.sum(0)) and np.abs(refs[1]).sum() > 0
    calls.clear()
    mixer.make(["sfxbg", "speech"], rng)
    assert calls[:3] == ["sfx"] * 3


def test_dynamic_mixing_needs_no_premixed_pool(tmp_path, pools):
    only_sfx = make_pool(tmp_path / "sfx_only", [("sfx", 16000, 1.0, 1)] * 5 + [("speech", 16000, 1.0, 1)] * 2)
    table = default_prompt_table()
    table["sfxbg"]["dynamic_mixing_prob"] = 1.0
    mixer = Mixer(SourcePools([str(only_sfx)]), table, fs=16000, chunk_seconds=0.5)
    mixer.check_prompts(["speech", "sfxbg"])
    mix, refs = mixer.make(["speech", "sfxbg"], np.random.default_rng(0))
    assert refs.shape == (2, 8000)
    table["sfxbg"]["dynamic_mixing_prob"] = 0.0
    with pytest.raises(ValueError, match="'sfxbg': no source pool"):
        Mixer(SourcePools([str(only_sfx)]), table, fs=16000).check_prompts(["sfxbg"])


def test_no_file_twice_in_a_mixture(tmp_path):
    pool = make_pool(tmp_path / "p", [("speech", 16000, 0.5, 1)] * 3)
    mixer = Mixer(SourcePools([str(pool)]), fs=16000, chunk_seconds=0.5)
    rng = np.random.default_rng(0)
    for _ in range(10):
        _, refs = mixer.make(["speech"] * 3, rng)
        # the three files differ, so no two references are proportional
        c = np.corrcoef(refs)
        assert np.all(np.abs(c[np.triu_indices(3, 1)]) < 0.999)
    with pytest.raises(ValueError, match="no usable non-silent source"):
        mixer.make(["speech"] * 4, rng)


def test_silent_files_and_bad_files(tmp_path):
    pool = make_pool(tmp_path / "p", [("speech", 16000, 0.5, 1)] * 2)
    silent = tmp_path / "p" / "wav" / "silent.wav"
    sf.write(silent, np.zeros(8000, np.float32), 16000)
    missing = tmp_path / "p" / "wav" / "missing.wav"
    with open(pool / "wav.scp", "a") as f:
        f.write(f"z_silent {silent}\nz_missing {missing}\n")
    for name, line in (("utt2prompt", "speech"), ("utt2fs", "16000"), ("utt2num_samples", "8000")):
        with open(pool / name, "a") as f:
            f.write(f"z_silent {line}\nz_missing {line}\n")
    mixer = Mixer(SourcePools([str(pool)]), fs=16000, chunk_seconds=0.5)
    with pytest.raises(OSError, match="missing.wav: cannot read"):
        for s in range(50):
            mixer.make(["speech"], np.random.default_rng(s))
    skipping = Mixer(SourcePools([str(pool)]), fs=16000, chunk_seconds=0.5, on_bad_file="skip")
    for s in range(30):
        _, refs = skipping.make(["speech"], np.random.default_rng(s))
        assert np.abs(refs).sum() > 0  # the silent file is never used
    assert skipping.num_skipped == 1 and len(skipping.bad) == 1


def test_pool_dir_errors_name_the_file(tmp_path):
    pool = make_pool(tmp_path / "p", [("speech", 16000, 0.5, 1)] * 2)
    (pool / "utt2fs").write_text((pool / "utt2fs").read_text().splitlines()[0] + "\n")
    with pytest.raises(ValueError, match=r"utt2fs: no entry for p_speech_001"):
        SourcePools([str(pool)])
    (pool / "utt2fs").unlink()
    with pytest.raises(ValueError, match="utt2fs: missing"):  # PoolError
        SourcePools([str(pool)])


def test_pools_per_prompt_and_allowed_prompts(pools):
    sp = SourcePools({"speech": [pools[0]], "bass": [pools[1]]})
    assert set(sp.entries) == {"speech", "bass"}
    with pytest.raises(ValueError, match="no source with prompt 'bass'"):
        SourcePools({"bass": [pools[0]]})
    conf = _conf(pools, allowed_prompts=["speech", "sfxbg"])
    assert set(conf["prompts"]) == {"speech", "sfxbg", "sfx"}  # sfx: dynamic mixing of sfxbg
    assert conf["prompts"]["sfx"]["init_prob"] == 0.0
    factory = OnTheFlyIterFactory(conf)
    for step in range(4):
        prompts, _, _ = factory.dataset(1).simulate(step)
        assert all(set(p) <= {"speech", "sfxbg"} for p in prompts)
    with pytest.raises(ValueError, match="unknown key"):
        resolve_onthefly_conf({"pools": pools, "chunk": 1})


@pytest.mark.parametrize(
    "key, value, why",
    [
        ("batch_size", "8", "expected an integer"),
        ("batch_size", 8.5, "expected an integer"),
        ("seed", True, "expected an integer"),
        ("chunk_seconds", "6", "expected a number"),
        ("emit_prompts", "no", "expected true or false"),
        ("on_bad_file", "ignore", r"expected one of \['raise', 'skip'\]"),
        ("allowed_prompts", "speech", "expected a list of names"),
        ("prompt_overrides", ["speech"], "expected a mapping"),
        ("num_prompts_weights", {"two": 1.0}, "expected {number of prompts: weight}"),
        ("fs", "fast", "invalid sampling rate"),
    ],
)
def test_onthefly_options_reject_wrong_types_naming_the_key(key, value, why):
    with pytest.raises(ValueError, match=f"^--onthefly_conf: {key}: {why}"):
        resolve_onthefly_conf({"pools": ["p"], key: value})


def test_onthefly_options_normalise_values():
    conf = resolve_onthefly_conf({"pools": ["p"], "fs": "16k", "chunk_seconds": 2, "num_prompts_weights": {"2": 1}})
    assert conf["fs"] == 16000 and conf["chunk_seconds"] == 2.0 and conf["num_prompts_weights"] == {2: 1.0}
    assert set(conf) == {f.name for f in dataclasses.fields(OnTheFlyOptions)}


def test_determinism_per_seed_epoch_rank_step(pools):
    f = OnTheFlyIterFactory(_conf(pools))

    def batch(epoch=1, step=0, rank=0, seed=3):
        ds = f.dataset(epoch)
        ds.rank, ds.seed = rank, seed
        return ds.simulate(step)

    p1, m1, r1 = batch()
    p2, m2, r2 = batch()
    assert p1 == p2 and all(np.array_equal(a, b) for a, b in zip(m1, m2))
    for kw in (dict(epoch=2), dict(step=1), dict(rank=1), dict(seed=4)):
        _, m, _ = batch(**kw)
        assert not np.array_equal(m[0], m1[0]), kw


def test_dataloader_workers_give_different_reproducible_batches(pools):
    conf = _conf(pools, num_workers=2)
    f = OnTheFlyIterFactory(conf)
    with_workers = [b for b in f.build_iter(1)]
    f.conf["num_workers"] = 0
    without = [b for b in f.build_iter(1)]
    assert len(with_workers) == 4
    for a, b in zip(with_workers, without):
        assert [u for u, _ in a] == [u for u, _ in b]
        assert all(np.array_equal(x[1]["speech_mix"], y[1]["speech_mix"]) for x, y in zip(a, b))
    # steps 0 and 1 were built by different workers: different mixtures
    assert not np.array_equal(with_workers[0][0][1]["speech_mix"], with_workers[1][0][1]["speech_mix"])


def test_prompt_dropout_rules():
    rng = np.random.default_rng(0)
    sampler = PromptSampler()
    dropped_any = False
    for _ in range(400):
        n = sampler.sample_num_prompts(rng)
        prompts = [sampler.sample(n, rng) for _ in range(3)]
        refs = [np.arange(n)[:, None] * np.ones((n, 4)) for _ in prompts]  # row k = k
        new_p, new_r = prompt_dropout([list(p) for p in prompts], refs, 1.0, rng)
        lens = {len(p) for p in new_p}
        assert len(lens) == 1 and 1 <= lens.pop() <= n  # homogeneous, >= 1 prompt left
        for old, new, r in zip(prompts, new_p, new_r):
            dropped_any |= len(new) < n
            kept = [int(k) for k in r[:, 0]]  # which rows survived, in order
            assert [old[k] for k in kept] == new
            for k in set(range(n)) - set(kept):
                assert old.count(old[k]) == 1, (old, new)  # only single-occurrence prompts
    assert dropped_any
    p, r = prompt_dropout([["speech", "sfx"]], [np.ones((2, 4))], 0.0, rng)
    assert p == [["speech", "sfx"]] and r[0].shape == (2, 4)


def test_prompt_dropout_keeps_sources_in_the_mixture(pools):
    f = OnTheFlyIterFactory(_conf(pools, prompt_dropout_prob=1.0, num_prompts_weights={4: 1.0}))
    ds = f.dataset(1)
    dropped = 0
    for step in range(6):
        prompts, mixes, refs = ds.simulate(step)
        assert len({len(p) for p in prompts}) == 1
        for p, m, r in zip(prompts, mixes, refs):
            assert r.shape[0] == len(p) >= 1
            if len(p) < 4:  # the dropped sources stay in the mixture
                dropped += 1
                assert not np.allclose(m, r.sum(0), atol=1e-6)
            else:
                assert np.array_equal(m, r.sum(0))
    assert dropped > 0


def _list_batch(data: Path):
    args = TUSSTask.get_parser().parse_args(
        [
            "--config",
            TINY,
            "--batch_type",
            "unsorted",
            "--batch_size",
            "2",
            "--train_data_path_and_name_and_type",
            f"{data}/wav.scp,speech_mix,sound",
            "--train_data_path_and_name_and_type",
            f"{data}/spk.scp,speech_refs,variable_columns_sound",
            "--train_data_path_and_name_and_type",
            f"{data}/utt2prompts,prompts,text",
            "--train_shape_file",
            f"{data}/utt2num_samples",
        ]
    )
    dist = DistributedOption(distributed=False)
    return next(iter(TUSSTask.build_iter_factory(args, dist, "train").build_iter(1)))


def test_batch_format_matches_list_path(tmp_path, pools):
    data = make_data_dir(tmp_path / "d", [["speech", "sfxbg"], ["sfx", "speech"]], seconds=0.5)
    uids, ref_batch = _list_batch(data)
    args = TUSSTask.get_parser().parse_args(["--config", TINY, "--train_data_source", "onthefly", "--batch_size", "2"])
    args.onthefly_conf = dict(pools=pools, chunk_seconds=0.5, steps_per_epoch=2, num_prompts_weights={2: 1.0})
    dist = DistributedOption(distributed=False)
    factory = TUSSTask.build_iter_factory(args, dist, "train")
    assert isinstance(factory, OnTheFlyIterFactory) and factory.conf["fs"] == 16000
    it = factory.build_iter(1)
    assert len(it) == 2
    otf_uids, batch = next(iter(it))
    assert len(otf_uids) == 2 and all(isinstance(u, str) for u in otf_uids)
    assert set(batch) == set(ref_batch)
    for k, v in ref_batch.items():
        assert batch[k].dtype == v.dtype and batch[k].ndim == v.ndim, k
    assert batch["speech_mix"].shape == (2, 8000) and batch["prompts"].shape == (2, 2)
    assert batch["prompts"].min() >= 1 and (batch["prompts_lengths"] == 2).all()
    torch.testing.assert_close(batch["speech_mix"], batch["speech_ref1"] + batch["speech_ref2"])


def test_training_run_and_collect_stats_on_the_fly(tmp_path, pools):
    valid = make_data_dir(tmp_path / "valid", [["speech", "sfxbg"], ["speech", "sfxbg"], ["sfx", "sfx", "sfx"]])
    conf = yaml.safe_load(open(TINY))
    conf.update(
        train_data_source="onthefly",
        onthefly_conf=dict(
            pools=pools,
            chunk_seconds=0.5,
            steps_per_epoch=2,
            batch_size=2,
            num_prompts_weights={2: 0.5, 3: 0.5},
            prompt_dropout_prob=0.25,
        ),
    )
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump(conf))
    valid_args = [
        "--valid_data_path_and_name_and_type",
        f"{valid}/wav.scp,speech_mix,sound",
        "--valid_data_path_and_name_and_type",
        f"{valid}/spk.scp,speech_refs,variable_columns_sound",
        "--valid_data_path_and_name_and_type",
        f"{valid}/utt2prompts,prompts,text",
        "--valid_shape_file",
        f"{valid}/utt2num_samples",
    ]
    # statistics without training lists: the validation lists stand in
    stats = tmp_path / "stats"
    tuss_train.main(
        [
            "--config",
            str(cfg),
            "--collect_stats",
            "true",
            "--ngpu",
            "0",
            "--batch_type",
            "unsorted",
            "--batch_size",
            "1",
            "--output_dir",
            str(stats),
        ]
        + valid_args
    )
    assert len((stats / "train" / "speech_mix_shape").read_text().splitlines()) == 3
    assert (stats / "valid" / "speech_mix_shape").exists()

    exp = tmp_path / "exp"
    tuss_train.main(
        [
            "--config",
            str(cfg),
            "--output_dir",
            str(exp),
            "--ngpu",
            "0",
            "--max_epoch",
            "1",
            "--fold_length",
            "80000",
            "--seed",
            "0",
        ]
        + valid_args
    )
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["train_data_source"] == "onthefly" and config["train_data_path_and_name_and_type"] == []
    try:
        ckpt = torch.load(exp / "checkpoint.pth", weights_only=True)
    except Exception:  # noqa: BLE001 - espnet 202511 reporter state
        ckpt = torch.load(exp / "checkpoint.pth", weights_only=False)
    stats1 = ckpt["reporter"]["stats"][1]
    assert ckpt["reporter"]["epoch"] == 1
    assert np.isfinite(stats1["train"]["loss"]) and np.isfinite(stats1["valid"]["loss"])
    assert (exp / "valid.loss.best.pth").exists()


def test_sort_prompts(pools):
    f = OnTheFlyIterFactory(
        _conf(
            pools,
            sort_prompts=["musicbg", "sfxbg", "speech"],
            allowed_prompts=["speech", "sfxbg", "musicbg"],
            num_prompts_weights={3: 1.0},
        )
    )
    for step in range(3):
        prompts, mixes, refs = f.dataset(1).simulate(step)
        order = ["musicbg", "sfxbg", "speech"]
        for p, m, r in zip(prompts, mixes, refs):
            idx = [order.index(x) for x in p]
            assert idx == sorted(idx), p
            np.testing.assert_allclose(m, r.sum(0), atol=1e-6)


SHIPPED = sorted((TESTS.parent / "egs").glob("*/tuss1/conf/tuning/*.yaml"))


@pytest.mark.parametrize(
    "path",
    [p for p in SHIPPED if "train_data_source: onthefly" in p.read_text()],
    ids=lambda p: f"{p.parents[3].name}/{p.name}",
)
def test_shipped_onthefly_configs(path):
    """Every on-the-fly recipe config parses, and its sampler only draws lists the model accepts."""
    from tuss_plugin.prompts import DEFAULT_PROMPTS, PromptVocabulary

    args = TUSSTask.get_parser().parse_args(["--config", str(path)])
    conf = resolve_onthefly_conf(args.onthefly_conf, args)
    sampler = PromptSampler(conf["prompts"], conf["num_prompts_weights"])
    vocab = PromptVocabulary(args.separator_conf.get("prompts") or DEFAULT_PROMPTS)
    num_spk = args.separator_conf["num_spk"]
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = sampler.sample_num_prompts(rng)
        vocab.validate(sampler.sample(n, rng))
        assert n <= num_spk
        if args.separator != "tuss" and conf["emit_prompts"]:
            assert n == num_spk  # conventional outputs tied to prompt slots
    pools = conf["pools"]
    for dirs in pools.values() if isinstance(pools, dict) else [pools]:
        assert all(str(d).startswith("data/pool_") for d in dirs), pools
