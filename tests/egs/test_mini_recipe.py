# SPDX-License-Identifier: Apache-2.0
"""The mini recipe end to end (stages 1-8) with a tiny model and corpus."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT

RECIPE = ROOT / "egs" / "mini_tuss" / "tuss1"
TASKS = ["SE", "SS", "USS", "MSS", "CASS"]
PROMPTS = ["speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg"]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """A run dir linking to the recipe's files, so outputs stay out of the tree."""
    work = tmp_path_factory.mktemp("mini_tuss")
    for name in ("run.sh", "run_add_prompt.sh", "tuss.sh", "path.sh", "cmd.sh", "db.sh", "utils", "conf", "local"):
        os.symlink((RECIPE / name).resolve(), work / name)
    cmd = [
        "./run.sh",
        "--train_config",
        "conf/tuning/train_tuss_debug.yaml",
        "--local_data_opts",
        "--num_train 2 --num_dev 1 --num_test 1 --seconds 1.0",
    ]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return work, r.stdout


def test_lists(recipe):
    work, _ = recipe
    d = work / "dump" / "raw" / "test"
    utts = [l.split()[0] for l in (d / "wav.scp").read_text().splitlines()]
    assert len(utts) == 5
    prompts = dict(l.split(maxsplit=1) for l in (d / "utt2prompts").read_text().splitlines())
    n = {u: len(p.split()) for u, p in prompts.items()}
    for k in range(1, 5):
        listed = {l.split()[0] for l in (d / f"spk{k}.scp").read_text().splitlines()}
        assert listed == {u for u in utts if n[u] >= k}
    for line in (d / "wav.scp").read_text().splitlines():
        u, path = line.split()
        info = sf.info(path)
        assert info.samplerate == 16000 and info.channels == 1
        refs = [sf.read(p)[0] for p in (d / "spk.scp").read_text().split("\n")[utts.index(u)].split()[1:]]
        assert len(refs) == n[u]
        assert np.allclose(np.sum(refs, axis=0), sf.read(path)[0], atol=1e-5)
    assert (work / "data" / "train_se" / "wav.scp").exists()  # specialist subsets


def test_results_tables(recipe):
    work, stdout = recipe
    res = (work / "exp" / "enh_train_tuss_debug" / "RESULTS.md").read_text()
    assert "## Environments" in res and "espnet version" in res
    for section in ("### All outputs", "### Per task pattern", "### Per prompt"):
        assert section in res
    for t in TASKS:
        assert f"|enhanced_test|{t}|" in res
    for p in PROMPTS:
        assert f"|enhanced_test|{p}|" in res
    assert "|model|dataset|SE|SS|USS|MSS|CASS|all|" in (work / "exp" / "RESULTS.md").read_text()
    assert "Stage 8 done" in stdout and "Successfully finished" in stdout
    # stage 6: one spectrogram per task pattern (one test mixture each here), linked
    examples = work / "exp" / "enh_train_tuss_debug" / "images" / "examples" / "enhanced_test"
    figures = sorted(f for f in examples.iterdir() if not f.name.startswith(".tuss"))  # not its manifest
    assert [f.name for f in figures] == sorted(f"{t}_{t.lower()}_test_0000.png" for t in TASKS)
    for f in figures:
        assert f.read_bytes()[:4] == b"\x89PNG"
        assert f"](images/examples/enhanced_test/{f.name})" in res


def test_inference_outputs(recipe):
    work, _ = recipe
    out = work / "exp" / "enh_train_tuss_debug" / "enhanced_test"
    for line in (out / "spk1.scp").read_text().splitlines():
        path = line.split()[1]  # relative to the recipe dir, as in ESPnet
        assert sf.info(str(work / path)).frames == 16000


def test_packed_zip_and_model_card(recipe, tmp_path):
    from tuss_plugin.bin import separate
    from tuss_plugin.inference import SeparateAudio

    work, _ = recipe
    exp = work / "exp" / "enh_train_tuss_debug"
    zips = list(exp.glob("*.zip"))
    assert len(zips) == 1
    sep = SeparateAudio.from_pretrained(zips[0], cache_dir=str(tmp_path / "cache"))
    assert sep.fs == 16000
    card = (exp / "model_card" / "README.md").read_text()
    assert "tuss-separate" in card and "|enhanced_test|" in card
    assert (exp / "model_card" / "meta.yaml").exists()
    # the card's links to the spectrograms point into the unpacked experiment dir
    links = re.findall(r"\]\(([^)]*images/examples/[^)]*\.png)\)", card)
    assert len(links) == len(TASKS) and all((exp / "model_card" / link).is_file() for link in links)
    # tuss-separate with the packed model on a generated 44.1 kHz stereo file
    x = np.random.default_rng(0).uniform(-0.2, 0.2, size=(44100, 2)).astype(np.float32)
    sf.write(tmp_path / "mix.wav", x, 44100)
    rc = separate.main(
        ["-m", str(zips[0]), "-p", "speech", "sfxbg", "-o", str(tmp_path / "out"), "--quiet", str(tmp_path / "mix.wav")]
    )
    assert rc == 0
    y, fs = sf.read(tmp_path / "out" / "mix" / "2_sfxbg.wav")
    assert fs == 44100 and y.shape == (44100, 2)


def _rerun(work, *args):
    r = subprocess.run(
        ["./run.sh", "--train_config", "conf/tuning/train_tuss_debug.yaml", *args],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return r


def test_stages_are_idempotent(recipe):
    work, _ = recipe
    r = _rerun(
        work,
        "--stage",
        "1",
        "--stop_stage",
        "4",
        "--local_data_opts",
        "--num_train 2 --num_dev 1 --num_test 1 --seconds 1.0",
    )
    assert "already synthesised" in r.stdout
    assert r.stdout.count("already formatted") == 3
    assert "already collected" in r.stdout and "already trained" in r.stdout


def test_inference_prompts_override(recipe):
    work, _ = recipe
    _rerun(work, "--stage", "5", "--stop_stage", "6", "--inference_prompts", "speech sfxbg")
    out = work / "exp" / "enh_train_tuss_debug" / "enhanced_speech_sfxbg_test"
    assert set(l.split(maxsplit=1)[1] for l in (out / "utt2prompts").read_text().splitlines()) == {"speech sfxbg"}
    assert "|enhanced_speech_sfxbg_test|speech|" in (work / "exp" / "enh_train_tuss_debug" / "RESULTS.md").read_text()


def test_single_evaluation_mode(recipe):
    work, _ = recipe
    r = _rerun(work, "--stage", "5", "--stop_stage", "6", "--eval_modes", "single")  # "all" ran in the fixture
    exp = work / "exp" / "enh_train_tuss_debug"
    assert (exp / "enhanced_single_test" / "scoring" / "scores.tsv").exists()
    table = (exp / "RESULTS.md").read_text().split("### Table III layout (dB)")[1].split("###")[0]
    rows = [l.split("|")[1:4] for l in table.strip().splitlines()[2:]]
    assert ["enh_train_tuss_debug", "enhanced", "all"] in rows
    assert ["enh_train_tuss_debug", "enhanced_single", "single"] in rows
    for t in ("SE SI-SNR (test)", "SS SI-SNR (test)", "USS SI-SNR (test)", "MSS SNR (test)", "CASS SI-SNR (test)"):
        assert t in table
    assert "Table III layout" in r.stdout


def test_add_prompt_workflow(recipe):
    """run_add_prompt.sh on the trained debug model: a prompt for a new category
    (bell), scored before and after training its vector; old outputs unchanged."""
    work, _ = recipe
    cmd = [
        "./run_add_prompt.sh",
        "--base_tag",
        "train_tuss_debug",
        "--num_train",
        "2",
        "--num_dev",
        "1",
        "--num_test",
        "1",
        "--train_args",
        "--max_epoch 1 --batch_size 2",
        "--nj",
        "1",
    ]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = (work / "exp" / "enh_train_tuss_debug_add_bell" / "NEW_PROMPT.md").read_text()
    same = re.search(r"bit-identical \(samples\) between the base and the fine-tuned model: (\d+) of (\d+)", report)
    assert "| bell |" in report and same and same.group(1) == same.group(2) and int(same.group(2)) >= 10
    init = work / "exp" / "enh_train_tuss_debug_add_bell_init"
    assert (init / "model.pth").is_file() and (init / "enhanced_test_bell" / "scoring" / "scores.tsv").is_file()
    assert "bell" in (work / "exp" / "RESULTS.md").read_text()


# ------------------------------------------------------------------ ESPnet's own tools on the packed model


def _packed(work):
    zips = list((work / "exp" / "enh_train_tuss_debug").glob("*.zip"))
    assert len(zips) == 1
    return zips[0]


def _mixture(tmp_path, seconds=1.0, fs=16000):
    t = np.arange(int(seconds * fs)) / fs
    rng = np.random.default_rng(1)
    x = (
        0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size)
    ).astype(np.float32)
    sf.write(tmp_path / "mix.wav", x, fs, subtype="FLOAT")
    return x


def test_espnet_separate_speech_matches_separate_audio(recipe, tmp_path):
    """The packed zip, unpacked by espnet_model_zoo, separates through ESPnet's
    own SeparateSpeech (prompts from the inference config) as SeparateAudio does."""
    import yaml
    from espnet2.bin.enh_inference import SeparateSpeech
    from espnet_model_zoo.downloader import ModelDownloader

    from tuss_plugin.inference import SeparateAudio

    work, _ = recipe
    files = ModelDownloader(tmp_path / "zoo").unpack_local_file(str(_packed(work)))
    (tmp_path / "espnet_inference.yaml").write_text(
        yaml.safe_dump({"separator_conf": {"default_prompts": ["speech", "sfxbg"]}})
    )
    espnet_sep = SeparateSpeech(
        train_config=files["train_config"],
        model_file=files["model_file"],
        inference_config=tmp_path / "espnet_inference.yaml",
    )
    x = _mixture(tmp_path)
    got = np.stack([w[0] for w in espnet_sep(x[None], fs=16000)])  # (2, T)
    ours = SeparateAudio.from_pretrained(_packed(work), cache_dir=str(tmp_path / "cache"))
    want = np.asarray(ours(x, fs=16000, prompts=["speech", "sfxbg"]))  # (2, T)
    assert got.shape == want.shape == (2, x.size)
    assert np.max(np.abs(got - want)) <= 1e-5 * max(1.0, np.max(np.abs(want)))


def test_espnet_enh_inference_command(recipe, tmp_path):
    """python -m tuss_plugin.bin.enh_inference: ESPnet's enh_inference with the
    plugin registered, segment-wise inference included."""
    import yaml

    work, _ = recipe
    exp = work / "exp" / "enh_train_tuss_debug"
    _mixture(tmp_path, seconds=2.0)
    (tmp_path / "wav.scp").write_text(f"utt1 {tmp_path / 'mix.wav'}\n")
    (tmp_path / "inf.yaml").write_text(yaml.safe_dump({"separator_conf": {"default_prompts": ["speech", "sfxbg"]}}))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "tuss_plugin.bin.enh_inference",
        "--train_config",
        str(exp / "config.yaml"),
        "--model_file",
        str(exp / "valid.loss.ave.pth"),
        "--inference_config",
        str(tmp_path / "inf.yaml"),
        "--data_path_and_name_and_type",
        f"{tmp_path / 'wav.scp'},speech_mix,sound",
        "--output_dir",
        str(tmp_path / "out"),
        "--segment_size",
        "1.0",
        "--hop_size",
        "0.5",
        "--fs",
        "16000",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    for k in (1, 2):
        line = (tmp_path / "out" / f"spk{k}.scp").read_text().split()
        assert line[0] == "utt1" and sf.info(line[1]).frames == 32000


def test_model_card_dir_loads_and_holds_the_weights_once(recipe, tmp_path):
    from tuss_plugin.inference import SeparateAudio

    work, _ = recipe
    card = work / "exp" / "enh_train_tuss_debug" / "model_card"
    assert not list(card.rglob("*.zip"))  # the weights once, not also inside a copy of the zip
    assert len(list(card.rglob("*.pth"))) == 1
    sep = SeparateAudio.from_pretrained(card)
    assert sep.fs == 16000 and "speech" in sep.prompts


def test_absolute_expdir_pack_and_upload_to_a_local_hub(recipe, tmp_path):
    """Stages 7-9 with an absolute --expdir: relative names in the zip and
    meta.yaml; stage 9 copies the model dir into a local hub, which loads as
    it is and from a Hugging Face cache of the repository."""
    import zipfile

    import yaml

    from tuss_plugin.inference import SeparateAudio

    work, _ = recipe
    hub = tmp_path / "hub"
    _rerun(work, "--stage", "7", "--stop_stage", "9", "--expdir", str(work / "exp"), "--hf_repo", "someone/tuss-mini",
           "--hf_hub_dir", str(hub))  # fmt: skip
    with zipfile.ZipFile(_packed(work)) as zf:
        names = zf.namelist()
        meta = yaml.safe_load(zf.read("meta.yaml"))
    assert all(n.startswith(("meta.yaml", "exp/enh_train_tuss_debug/")) for n in names), names
    # the training config with the default prompts stage 7 adds (tuss_plugin.bin.pack_config)
    assert meta["yaml_files"]["train_config"] == "exp/enh_train_tuss_debug/packed/config.yaml"
    repo = hub / "someone" / "tuss-mini"
    assert 'SeparateAudio.from_pretrained("someone/tuss-mini")' in (repo / "README.md").read_text()
    assert SeparateAudio.from_pretrained(repo).fs == 16000
    # the repository as huggingface_hub caches a download of it (offline)
    cache = tmp_path / "hf_cache" / "models--someone--tuss-mini"
    snapshot = cache / "snapshots" / ("0" * 40)
    import shutil

    shutil.copytree(repo, snapshot)
    (cache / "refs").mkdir()
    (cache / "refs" / "main").write_text("0" * 40)
    code = (
        "from tuss_plugin.inference import SeparateAudio; print(SeparateAudio.from_pretrained('someone/tuss-mini').fs)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_CACHE=str(tmp_path / "hf_cache"), HF_HUB_OFFLINE="1",
               TUSS_CACHE=str(tmp_path / "tuss_cache"))  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().endswith("16000"), r.stderr[-2000:]


def test_download_model_and_enh_sh_names(recipe):
    """--download_model: stages 5-6 with the packed model, no training; enh.sh's
    option names as aliases; --ref_num and --scoring_protocol checked."""
    work, _ = recipe
    zip_rel = str(_packed(work).relative_to(work))
    r = _rerun(work, "--stage", "5", "--stop_stage", "6", "--download_model", zip_rel, "--ref_num", "4",
               "--scoring_protocol", "SI_SNR SDR")  # fmt: skip
    exp = work / "exp" / f"enh_download_{_packed(work).name}"
    assert "|enhanced_test|" in (exp / "RESULTS.md").read_text()
    assert not list(exp.glob("*.pth"))  # nothing trained
    r = _rerun(work, "--stage", "6", "--stop_stage", "6", "--enh_config", "conf/tuning/train_tuss_debug.yaml")
    assert "Stage 6 done: exp/enh_train_tuss_debug/RESULTS.md" in r.stdout
    for bad, msg in ((["--ref_num", "1"], "--ref_num 1"), (["--scoring_protocol", "FOO"], "--scoring_protocol: 'FOO'")):
        r = subprocess.run(["./run.sh", "--stage", "5", "--stop_stage", "5", "--download_model", zip_rel, *bad],
                           cwd=work, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert r.returncode != 0 and msg in r.stderr, r.stderr[-2000:]
