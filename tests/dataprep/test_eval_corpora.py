# SPDX-License-Identifier: Apache-2.0
"""The five Table III evaluation recipes on tiny fake corpora in the real layouts.

MUSDB18-HQ (spaces and '&' in paths, stereo) goes through ``./run.sh --stage 1
--stop_stage 2``; the unified recipe's ``local/data.sh`` prepares all five; the
other corpora are checked through their python modules and format_data's
``main()`` in-process (each shell run pays the package import).
"""

import importlib.util
import os
import subprocess
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.bin import format_data
from tuss_plugin.dataprep.eval_sets import dnr, fuss, musdb18hq, vctk_demand, wham
from tuss_plugin.fileio.kaldi_io import read_dict, read_scp
from tuss_plugin.utils.errors import DataPrepError

import fake_eval_corpora as fake
from conftest import ROOT

EGS = ROOT / "egs"
CORPORA = {  # recipe: (db.sh variable, corpus rate, valid set, test set)
    "vctk_demand": ("VCTK_DEMAND", "48k", "dev_vctk_demand", "test_vctk_demand"),
    "wham": ("WHAM", "16k", "dev_wham", "test_wham"),
    "fuss": ("FUSS", "16k", "dev_fuss", "test_fuss"),
    "musdb18hq": ("MUSDB18HQ", "44.1k", "dev_musdb18hq", "test_musdb18hq"),
    "dnr": ("DNR", "44.1k", "dev_dnr", "test_dnr"),
}


def _validate_module():
    spec = importlib.util.spec_from_file_location("_validate_data_dir", ROOT / "utils" / "validate_data_dir.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


validate_data_dir = _validate_module()


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> Dict[str, Path]:
    base = tmp_path_factory.mktemp("corpora")
    out = fake.make_all(base)
    out["WHAM_WHAM"] = fake.make_wham(base / "wham", "wham")  # the WHAM! (not WHAMR!) folder names
    return out


def recipe_copy(tmp: Path, recipe: str) -> Path:
    """A run dir linking to the recipe's files (outputs stay out of the tree)."""
    src = EGS / recipe / "tuss1"
    work = tmp / recipe
    (work / "conf").mkdir(parents=True)
    for name in ("run.sh", "tuss.sh", "path.sh", "cmd.sh", "db.sh", "utils", "local"):
        os.symlink((src / name).resolve(), work / name)
    for f in (src / "conf").glob("*.yaml"):
        os.symlink(f.resolve(), work / "conf" / f.name)
    return work


def run(cmd: List[str], cwd: Path, roots: Dict[str, Path], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, **{k: str(v) for k, v in roots.items()}}  # db.sh takes the roots from the environment
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def read_refs(d: Path) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    k = 1
    while (d / f"spk{k}.scp").exists():
        for u, p in read_scp(d / f"spk{k}.scp").items():
            out.setdefault(u, []).append(p)
        k += 1
    return out


def check_dump(d: Path, fs: int, utts: List[str]) -> None:
    """Dumped lists: keys, prompts = references, mono audio at ``fs``, mixture = sum of references."""
    wavs = read_scp(d / "wav.scp")
    assert sorted(wavs) == sorted(utts)
    prompts = read_dict(d / "utt2prompts")
    refs = read_refs(d)
    for u, mix_path in wavs.items():
        assert len(refs[u]) == len(prompts[u])
        mix, sr = sf.read(mix_path, dtype="float64")
        assert sr == fs and mix.ndim == 1
        srcs = [sf.read(p, dtype="float64") for p in refs[u]]
        assert all(r_fs == fs and r.shape == mix.shape for r, r_fs in srcs)
        np.testing.assert_allclose(np.sum([r for r, _ in srcs], axis=0), mix, atol=1e-5)
    assert validate_data_dir.validate(d, check_audio=True) == []


def prepare_and_format(module, tmp: Path, root: Path, fs: str, **kwargs) -> Dict[str, Path]:
    data = tmp / "data"
    dirs = module.prepare(root, data_dir=data, **kwargs)
    for name, d in dirs.items():
        assert validate_data_dir.validate(d) == [], name
        assert (
            format_data.main(["--fs", fs, "--mix_from_refs", "--on_error", "stop", str(d), str(tmp / "dump" / name)])
            == 0
        )
    return {name: tmp / "dump" / name for name in dirs}


# ------------------------------------------------------------------ recipes


def test_recipe_files():
    for recipe, (var, fs, dev, test) in CORPORA.items():
        d = EGS / recipe / "tuss1"
        run_sh = (d / "run.sh").read_text()
        # the model's rate for training; validation and test sets at the corpus rate
        for s in (
            "--fs 48k",
            "--test_fs native",
            "--valid_fs native",
            "--train_config conf/train.yaml",
            "train_set=onthefly",
            f"valid_set={dev}",
            f"test_sets={test}",
            "--mix_from_refs true",
        ):
            assert s in run_sh, (recipe, s)
        assert f"dataprep.eval_sets.{recipe}" in (d / "local" / "data.sh").read_text()
        assert var in (d / "README.md").read_text()
        for link in ("tuss.sh", "path.sh", "cmd.sh", "db.sh", "utils"):
            assert (d / link).is_symlink() and (d / link).exists(), (recipe, link)
        seg = "segment_size: 6.0" in (d / "conf" / "inference.yaml").read_text()
        assert seg == (recipe in ("musdb18hq", "dnr")), recipe
    unified = (EGS / "unified" / "tuss1" / "run.sh").read_text()
    assert "--fs 48k" in unified and "--train_config conf/train.yaml" in unified and "train_set=onthefly" in unified
    assert "--valid_fs native" in unified
    assert "segment_size: 6.0" in (EGS / "unified" / "tuss1" / "conf" / "inference_segmented.yaml").read_text()


@pytest.fixture(scope="module")
def musdb_run(roots, tmp_path_factory):
    work = recipe_copy(tmp_path_factory.mktemp("recipes"), "musdb18hq")
    r = run(["./run.sh", "--stage", "1", "--stop-stage", "2", "--nj", "1"], work, {"MUSDB18HQ": roots["MUSDB18HQ"]})
    return work, r.stdout


def test_musdb18hq_recipe_stages_1_2(musdb_run, roots):
    work, stdout = musdb_run
    assert "Stage 2" in stdout and "Successfully finished" in stdout
    tracks = {"dev": ["Actions - One Minute Smile", "Johnny Lokke - Promises & Lies"], "test": fake.MUSDB_TEST}
    for s, names in tracks.items():
        d = work / "data" / f"{s}_musdb18hq"
        wavs = read_scp(d / "wav.scp")
        chans = read_dict(d / "utt2channel")
        # two mono utterances per stereo test track; validation: channel 0 only, as the authors
        assert len(wavs) == (1 if s == "dev" else 2) * len(names)
        assert sorted(set(wavs.values())) == sorted(
            str(roots["MUSDB18HQ"] / ("train" if s == "dev" else "test") / n / "mixture.wav") for n in names
        )
        assert {u: c[0] for u, c in chans.items()} == {u: "0" if u.endswith("_CH1") else "1" for u in wavs}
        assert all(p == ["drums", "bass", "vocals", "other"] for p in read_dict(d / "utt2prompts").values())
        # validation and test at the corpus' own rate (--valid_fs native --test_fs native)
        check_dump(work / "dump" / "raw" / f"{s}_musdb18hq", 44100, list(wavs))
    # channel split: CH2's references are channel 1 of the stems; the mixture is their sum, not mixture.wav
    d = work / "data" / "test_musdb18hq"
    utt = sorted(u for u in read_scp(d / "wav.scp") if u.endswith("_CH2"))[0]
    stems = read_refs(d)[utt]
    assert stems[0].endswith("drums.wav")
    assert "&" in read_refs(work / "data" / "dev_musdb18hq")["musdb18hq_Johnny_Lokke_-_Promises_Lies_CH1"][0]
    dumped = read_refs(work / "dump" / "raw" / "test_musdb18hq")[utt]
    for src, out in zip(stems, dumped):
        np.testing.assert_allclose(sf.read(out)[0], sf.read(src)[0][:, 1], atol=1e-6)
    mix = sf.read(read_scp(work / "dump" / "raw" / "test_musdb18hq" / "wav.scp")[utt])[0]
    assert not np.allclose(mix, sf.read(read_scp(d / "wav.scp")[utt])[0][:, 1], atol=1e-4)
    assert not (work / "data" / "onthefly").exists() and not (work / "dump" / "raw" / "onthefly").exists()


@pytest.mark.parametrize(
    "recipe,n_dev,n_test,test_fs",
    [("vctk_demand", 3, 3, 48000), ("wham", 3, 2, 16000), ("fuss", 4, 2, 16000), ("dnr", 3, 2, 44100)],
)
def test_recipe_stages_1_2(roots, tmp_path, recipe, n_dev, n_test, test_fs):
    """./run.sh --stage 1 --stop-stage 2 of each specialist recipe on its fake corpus:
    validation and test sets dumped at the corpus rate (the loss and the scores at that rate)."""
    var, _, dev, test = CORPORA[recipe]
    work = recipe_copy(tmp_path, recipe)
    r = run(["./run.sh", "--stage", "1", "--stop-stage", "2", "--nj", "1"], work, {var: roots[var]})
    assert "Successfully finished" in r.stdout
    for dset, n, fs in ((dev, n_dev, test_fs), (test, n_test, test_fs)):
        utts = list(read_scp(work / "data" / dset / "wav.scp"))
        assert len(utts) == n, dset
        check_dump(work / "dump" / "raw" / dset, fs, utts)
        assert (work / "dump" / "raw" / dset / "utt2fs").is_file()  # the rate of each item


def test_unified_data_sh(roots, tmp_path):
    work = recipe_copy(tmp_path, "unified")
    env = {k: roots[k] for k in ("VCTK_DEMAND", "WHAM", "FUSS", "MUSDB18HQ", "DNR")}
    run(["local/data.sh"], work, env)
    counts = {"vctk_demand": (3, 3), "wham": (3, 2), "fuss": (4, 2), "musdb18hq": (2, 4), "dnr": (3, 2)}
    for c, (n_dev, n_test) in counts.items():
        assert len(read_scp(work / "data" / f"dev_{c}" / "wav.scp")) == n_dev, c
        assert len(read_scp(work / "data" / f"test_{c}" / "wav.scp")) == n_test, c
    dev = work / "data" / "dev"
    assert len(read_scp(dev / "wav.scp")) == sum(n for n, _ in counts.values())
    assert len(read_dict(dev / "utt2channel")) == 2
    assert validate_data_dir.validate(dev) == []
    assert (work / "data" / "local" / "vctk_demand" / "noise_testset_wav").is_dir()


# ------------------------------------------------------------------ corpora


def test_vctk_demand(roots, tmp_path):
    root = roots["VCTK_DEMAND"]
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    dumps = prepare_and_format(vctk_demand, tmp_path, root, "48k")
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written into the corpus
    data = tmp_path / "data"
    dev = read_scp(data / "dev_vctk_demand" / "wav.scp")
    assert sorted(dev) == ["vctk_demand_p226_001", "vctk_demand_p226_002", "vctk_demand_p287_001"]  # no p230
    test = read_scp(data / "test_vctk_demand" / "wav.scp")
    assert sorted(test) == [f"vctk_demand_{n}" for n in fake.VCTK_DEMAND_TEST]
    assert set(map(tuple, read_dict(data / "test_vctk_demand" / "utt2prompts").values())) == {("speech", "sfxbg")}
    refs = read_refs(data / "test_vctk_demand")
    for u, noisy in test.items():
        clean, noise = refs[u]
        assert Path(noise).is_relative_to(tmp_path / "data" / "local" / "vctk_demand")
        assert sf.info(noise).subtype == "FLOAT" and sf.info(noise).samplerate == 48000
        x = sf.read(noisy, dtype="float64")[0]
        assert np.array_equal(sf.read(clean, dtype="float64")[0] + sf.read(noise, dtype="float64")[0], x)  # exact
    check_dump(dumps["test_vctk_demand"], 48000, list(test))
    # resumable: existing noise files are kept; --num_dev caps the validation set
    noise = refs["vctk_demand_p232_001"][1]
    stamp = os.stat(noise).st_mtime_ns
    dirs = vctk_demand.prepare(root, data_dir=tmp_path / "data", num_dev=2, force=True)
    assert os.stat(noise).st_mtime_ns == stamp
    assert len(read_scp(dirs["dev_vctk_demand"] / "wav.scp")) == 2


@pytest.mark.parametrize("scheme", ["WHAM", "WHAM_WHAM"])
def test_wham_both_layouts(roots, tmp_path, scheme):
    dumps = prepare_and_format(wham, tmp_path, roots[scheme], "16k")
    mixdir = "mix_both_anechoic" if scheme == "WHAM" else "mix_both"
    for s, split in (("dev", "cv"), ("test", "tt")):
        d = tmp_path / "data" / f"{s}_wham"
        wavs = read_scp(d / "wav.scp")
        assert sorted(wavs) == [f"wham_{n}" for n in fake.WHAM_NAMES[split]]
        assert all(f"/wav16k/max/{split}/{mixdir}/" in p for p in wavs.values())
        assert all(p == ["speech", "speech", "sfxbg"] for p in read_dict(d / "utt2prompts").values())
        check_dump(dumps[f"{s}_wham"], 16000, list(wavs))


def test_fuss_drops_silent_and_single_source(roots, tmp_path):
    dumps = prepare_and_format(fuss, tmp_path, roots["FUSS"], "16k")
    data = tmp_path / "data"
    n = {u: len(p) for u, p in read_dict(data / "dev_fuss" / "utt2prompts").items()}
    assert n == {"fuss_example0000": 3, "fuss_example0003": 4, "fuss_example0004": 2, "fuss_example0005": 2}
    n = {u: len(p) for u, p in read_dict(data / "test_fuss" / "utt2prompts").items()}
    assert n == {"fuss_example0000": 2, "fuss_example0002": 3}
    refs = read_refs(data / "test_fuss")["fuss_example0000"]  # foreground0 is all zeros
    assert [Path(p).name for p in refs] == ["background0_sound.wav", "foreground1_sound.wav"]
    assert all(p == ["sfx"] * len(p) for p in read_dict(data / "dev_fuss" / "utt2prompts").values())
    for s in ("dev", "test"):
        check_dump(dumps[f"{s}_fuss"], 16000, list(read_scp(data / f"{s}_fuss" / "wav.scp")))
    dirs = fuss.prepare(roots["FUSS"], data_dir=tmp_path / "d2", sets=["dev"], num_dev_per_count=1)
    n = sorted(len(p) for p in read_dict(dirs["dev_fuss"] / "utt2prompts").values())
    assert n == [2, 3, 4]  # one example per source count


def test_dnr(roots, tmp_path):
    dumps = prepare_and_format(dnr, tmp_path, roots["DNR"], "44.1k")
    data = tmp_path / "data"
    assert list(read_scp(data / "dev_dnr" / "wav.scp")) == ["dnr_100", "dnr_2345", "dnr_99999"]  # stray file skipped
    refs = read_refs(data / "test_dnr")["dnr_742"]
    assert [Path(p).name for p in refs] == ["speech.wav", "music.wav", "sfx.wav"]
    assert read_dict(data / "test_dnr" / "utt2prompts")["dnr_742"] == ["speech", "musicbg", "sfxbg"]
    check_dump(dumps["test_dnr"], 44100, ["dnr_31337", "dnr_742"])
    dirs = dnr.prepare(roots["DNR"], data_dir=tmp_path / "d2", num_dev=2)
    assert list(read_scp(dirs["dev_dnr"] / "wav.scp")) == ["dnr_100", "dnr_2345"]  # numeric order


def test_rerun_does_nothing(roots, tmp_path, capsys):
    for var, module in MODULES.items():
        module.prepare(roots[var], data_dir=tmp_path)
        stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
        capsys.readouterr()
        module.prepare(roots[var], data_dir=tmp_path)
        assert "already prepared" in capsys.readouterr().out, var
        assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamps
    # other options: prepared again
    dirs = dnr.prepare(roots["DNR"], data_dir=tmp_path, num_dev=1)
    assert len(read_scp(dirs["dev_dnr"] / "wav.scp")) == 1


def test_musdb18hq_dev_selection(roots, tmp_path):
    dirs = musdb18hq.prepare(roots["MUSDB18HQ"], data_dir=tmp_path, sets=["dev"], num_dev=1)
    assert sorted(read_scp(dirs["dev_musdb18hq"] / "wav.scp")) == ["musdb18hq_Actions_-_One_Minute_Smile_CH1"]


# ------------------------------------------------------------------ errors


MODULES = {"VCTK_DEMAND": vctk_demand, "WHAM": wham, "FUSS": fuss, "MUSDB18HQ": musdb18hq, "DNR": dnr}
NEEDS = {
    "VCTK_DEMAND": ["clean_testset_wav/", "noisy_testset_wav/"],
    "WHAM": ["wav16k/", "mix_both/", "mix_both_anechoic/", "s1_anechoic/"],
    "FUSS": ["ssdata/"],
    "MUSDB18HQ": ["train/", "test/"],
    "DNR": ["tr/", "cv/", "tt/"],
}


@pytest.mark.parametrize("var", list(MODULES))
def test_missing_or_wrong_root(var, roots, tmp_path):
    module = MODULES[var]
    wrong = roots["DNR"] if var != "DNR" else roots["FUSS"]  # another corpus
    for root in ("", tmp_path / "nonexistent", wrong):
        with pytest.raises(DataPrepError) as e:
            module.prepare(root, data_dir=tmp_path / "data")
        msg = str(e.value)
        assert var in msg and "\n" not in msg
        if root != "":
            assert str(root) in msg
        if var != "WHAM" or root == wrong:
            assert all(n in msg for n in NEEDS[var] if var != "WHAM" or n == "wav16k/"), msg
    assert not (tmp_path / "data").exists()


def test_wham_neither_layout(tmp_path):
    (tmp_path / "wav16k" / "max" / "cv" / "mix_clean").mkdir(parents=True)
    (tmp_path / "wav16k" / "max" / "tt").mkdir(parents=True)
    with pytest.raises(DataPrepError) as e:
        wham.prepare(tmp_path, data_dir=tmp_path / "data")
    assert all(n in str(e.value) for n in NEEDS["WHAM"])


def test_cli_error_is_one_line(tmp_path, capsys):
    rc = musdb18hq.main(
        [
            "--root",
            str(tmp_path / "nope"),
            "--data_dir",
            str(tmp_path / "data"),
            "--hint",
            "to download it: --download true",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.count("\n") == 0
    assert err.startswith("error: MUSDB18HQ=") and "train/" in err and err.endswith("to download it: --download true")


def test_download_skipped_when_present(roots, tmp_path):
    """No network: a fake wget records any call."""
    (tmp_path / "bin").mkdir()
    wget = tmp_path / "bin" / "wget"
    wget.write_text(f"#!/bin/sh\ntouch {tmp_path}/wget_called\nexit 1\n")
    wget.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    for recipe, var in (("vctk_demand", "VCTK_DEMAND"), ("fuss", "FUSS"), ("musdb18hq", "MUSDB18HQ"), ("dnr", "DNR")):
        r = subprocess.run(
            [str(EGS / recipe / "tuss1" / "local" / "download.sh"), str(roots[var])],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert r.returncode == 0 and "already present" in r.stdout, (recipe, r.stdout, r.stderr)
    assert not (tmp_path / "wget_called").exists()


# ------------------------------------------------------------------ format_data / validate_data_dir


def test_format_data_channels_and_options(roots, tmp_path):
    data = musdb18hq.prepare(roots["MUSDB18HQ"], data_dir=tmp_path / "data", sets=["test"])["test_musdb18hq"]
    out = tmp_path / "dump"
    # without --mix_from_refs the mixture file's channel is used
    assert format_data.main(["--fs", "22050", "--on_error", "stop", str(data), str(out)]) == 0
    wavs = read_scp(out / "wav.scp")
    u = sorted(wavs)[1]  # a _CH2 utterance
    assert u.endswith("_CH2") and sf.info(wavs[u]).samplerate == 22050
    first = sf.read(wavs[u])[0]
    # other options: every file is redone (not reused from the earlier run)
    assert format_data.main(["--fs", "22050", "--mix_from_refs", str(data), str(out)]) == 0
    again = sf.read(read_scp(out / "wav.scp")[u])[0]
    assert not np.allclose(first, again, atol=1e-4)
    # multi-channel audio without utt2channel is reported and skipped
    (data / "utt2channel").unlink()
    assert format_data.main(["--fs", "44.1k", "--on_error", "stop", str(data), str(tmp_path / "d2")]) == 1
    problems = validate_data_dir.validate(data, check_audio=True)
    assert problems and all("mono expected" in p for p in problems)
    (data / "utt2channel").write_text(f"{u} 2\n")
    assert any("selects channel 2" in p for p in validate_data_dir.validate(data, check_audio=True))
