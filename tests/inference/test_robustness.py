# SPDX-License-Identifier: Apache-2.0
"""Bad input to tuss-separate / SeparateAudio: a correct result or one clear error line,
never a partial output; streaming equals in-memory separation; safe package unpacking."""

import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from tuss_plugin.bin import separate
from tuss_plugin.fileio.audio import check_audio_file
from tuss_plugin.inference import SeparateAudio
from tuss_plugin.inference.streaming import resampled_length

PROMPTS = ["speech", "sfxbg"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sep(model_dir):
    return SeparateAudio.from_pretrained(model_dir)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUSS_CACHE", str(tmp_path / "cache"))


def _noise(n, ch=1, seed=0, scale=0.3):
    return (np.random.default_rng(seed).uniform(-scale, scale, size=(n, ch))).astype(np.float32)


def _write(path, x, fs=16000, subtype="PCM_16"):
    sf.write(path, x if x.shape[1] > 1 else x[:, 0], fs, subtype=subtype, format="WAV")
    return path


# ------------------------------------------------------------------ bad input files
def _make_input(case, d: Path) -> Path:
    p = d / "in.wav"
    if case == "empty_file":
        p.write_bytes(b"")
    elif case == "zero_samples":
        sf.write(p, np.zeros((0, 1), np.float32), 16000, subtype="PCM_16")
    elif case == "truncated":
        _write(p, _noise(8000))
        p.write_bytes(p.read_bytes()[:5000])
    elif case == "corrupt_header":
        _write(p, _noise(8000))
        b = bytearray(p.read_bytes())
        b[20:24] = b"\xff\xff\xff\xff"  # format tag / channels
        p.write_bytes(bytes(b))
    elif case == "not_audio":
        p.write_text("hello, this is text with a .wav name\n" * 20)
    elif case in ("nan", "inf"):
        x = _noise(8000)
        x[6000, 0] = np.nan if case == "nan" else -np.inf
        _write(p, x, subtype="FLOAT")
    elif case == "directory":
        p = d / "adir.wav"
        p.mkdir()
    elif case == "missing":
        p = d / "missing.wav"
    else:
        raise KeyError(case)
    return p


@pytest.mark.parametrize(
    "case,msg",
    [
        ("empty_file", "not a readable audio file"),
        ("zero_samples", "contains no samples"),
        ("truncated", "truncated audio file"),
        ("corrupt_header", "not a readable audio file"),
        ("not_audio", "not a readable audio file"),
        ("nan", "NaN or Inf samples (first at 0.375 s)"),
        ("inf", "NaN or Inf samples"),
        ("directory", "is a directory"),
        ("missing", "no such file"),
    ],
)
def test_bad_input_file_is_one_line_error(model_dir, tmp_path, capsys, case, msg):
    inp = _make_input(case, tmp_path)
    out = tmp_path / "out"
    rc = separate.main(["-m", str(model_dir), "-p", *PROMPTS, "-o", str(out), "--quiet", str(inp)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("tuss-separate: error: ") and msg in err[0], err
    assert str(inp) in err[0]
    assert not out.exists() or not [f for f in out.rglob("*") if f.is_file()]


def test_nan_late_in_stream_leaves_no_partial_output(sep, tmp_path):
    """NaN found while streaming (the API does not pre-scan): temp files are removed."""
    x = _noise(14400)
    x[-48, 0] = np.nan
    inp = _write(tmp_path / "late.wav", x, fs=48000, subtype="FLOAT")
    outs = [tmp_path / "o" / "1.wav", tmp_path / "o" / "2.wav"]
    outs[0].parent.mkdir()
    seg = SeparateAudio(sep.model, sep.config, segment_size=0.1)
    with pytest.raises(ValueError, match=r"late.wav: contains NaN or Inf samples \(first at 0.299 s\)"):
        seg.separate_file(inp, outs, PROMPTS, blocksize=4096)
    assert list(outs[0].parent.iterdir()) == []


class _Interrupted(SeparateAudio):
    """Interrupted (Ctrl-C) after the first finished block."""

    def iter_separate(self, x, prompts):
        for i, block in enumerate(super().iter_separate(x, prompts)):
            if i == 1:
                raise KeyboardInterrupt
            yield block


def test_interrupt_while_writing_leaves_nothing(sep, tmp_path):
    inp = _write(tmp_path / "long.wav", _noise(9600), fs=48000)
    outs = [tmp_path / "o" / "1.wav", tmp_path / "o" / "2.wav"]
    outs[0].parent.mkdir()
    outs[1].write_bytes(b"an older result stays as it was")
    s = _Interrupted(sep.model, sep.config, segment_size=0.05)
    with pytest.raises(KeyboardInterrupt):
        s.separate_file(inp, outs, PROMPTS, blocksize=1000)
    assert [f.name for f in outs[0].parent.iterdir()] == ["2.wav"]
    assert outs[1].read_bytes() == b"an older result stays as it was"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_outdir(model_dir, tmp_path, capsys):
    inp = _write(tmp_path / "a.wav", _noise(2000))
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        rc = separate.main(["-m", str(model_dir), "-p", "speech", "-o", str(out), "--quiet", str(inp)])
    finally:
        out.chmod(0o700)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "output directory is not writable" in err[0]


# ------------------------------------------------------------------ inputs that work
def _run_ok(model_dir, tmp_path, inp, prompts=PROMPTS, extra=()):
    out = tmp_path / "out"
    rc = separate.main(["-m", str(model_dir), "-p", *prompts, "-o", str(out), "--quiet", *extra, str(inp)])
    assert rc == 0
    d = out / Path(inp).stem
    files = sorted(f for f in d.iterdir() if f.name != separate.MANIFEST_NAME)  # the record of what it wrote
    assert not [f for f in files if f.name.startswith(".")], files  # no temp files left
    return files


@pytest.mark.parametrize("n", [1, 2, 100, 2047])
def test_shorter_than_one_stft_frame(model_dir, tmp_path, n):
    inp = _write(tmp_path / "short.wav", _noise(n), fs=48000, subtype="FLOAT")
    for f in _run_ok(model_dir, tmp_path, inp):
        y, fs = sf.read(f, always_2d=True)
        assert fs == 48000 and y.shape == (n, 1) and np.isfinite(y).all()


def test_all_zero_input_gives_silence(model_dir, tmp_path):
    inp = _write(tmp_path / "zeros.wav", np.zeros((24000, 2), np.float32), fs=48000)
    for f in _run_ok(model_dir, tmp_path, inp, extra=["--segment", "0.2", "--hop", "0.1"]):
        y, _ = sf.read(f, always_2d=True)
        assert y.shape == (24000, 2) and np.isfinite(y).all() and np.abs(y).max() == 0


@pytest.mark.parametrize("level", [1.0, 8.0])
def test_clipping_level_input(model_dir, tmp_path, level):
    x = np.sign(_noise(12000)) * level  # full-scale square-ish noise (8.0: beyond full scale, float file)
    inp = _write(tmp_path / "loud.wav", x, fs=48000, subtype="FLOAT")
    for sub in ("FLOAT", "PCM_16"):
        for f in _run_ok(model_dir, tmp_path / sub, inp, extra=["--subtype", sub]):
            y, _ = sf.read(f, always_2d=True)
            assert np.isfinite(y).all() and y.shape == (12000, 1)
            if sub == "PCM_16":
                assert np.abs(y).max() <= 1.0  # integer outputs clip, never wrap around


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_bit_depths(model_dir, tmp_path, subtype):
    inp = _write(tmp_path / "bits.wav", _noise(4000), fs=16000, subtype=subtype)
    files = _run_ok(model_dir, tmp_path, inp)
    assert [f.name for f in files] == ["1_speech.wav", "2_sfxbg.wav"]
    for f in files:
        info = sf.info(f)
        assert info.samplerate == 16000 and info.frames == 4000 and info.subtype == "FLOAT"


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channel_counts(model_dir, tmp_path, channels):
    inp = _write(tmp_path / "ch.wav", _noise(3000, channels), fs=16000)
    for f in _run_ok(model_dir, tmp_path, inp):
        assert sf.info(f).channels == channels and sf.info(f).frames == 3000


@pytest.mark.parametrize("fs", [8000, 11025, 22050, 44100, 48000, 96000])
def test_sample_rates(model_dir, tmp_path, fs):
    n = fs // 8 + 3
    inp = _write(tmp_path / "rate.wav", _noise(n, 2), fs=fs)
    for f in _run_ok(model_dir, tmp_path, inp, extra=["--segment", "0.05", "--hop", "0.03"]):
        y, yfs = sf.read(f, always_2d=True)
        assert yfs == fs and y.shape == (n, 2) and np.isfinite(y).all()


def test_mixed_case_and_padded_prompts(model_dir, tmp_path):
    inp = _write(tmp_path / "a.wav", _noise(2000), fs=16000)
    files = _run_ok(model_dir, tmp_path, inp, prompts=[" Speech ", "SFX-MIX", "speech"])
    assert [f.name for f in files] == ["1_speech.wav", "2_sfxbg.wav", "3_speech.wav"]


# ------------------------------------------------------------------ bad options / outputs / models
def _bad_zip(path: Path, member: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.yaml", "files: {model_file: m.pth}\nyaml_files: {train_config: c.yaml}\n")
        zf.writestr(member, "gotcha")
    return path


def _make_case(case, model_dir: Path, tmp_path: Path):
    """-> (model, prompts, outdir, extra args, expected message)"""
    out = tmp_path / "out"
    model = str(model_dir)
    prompts = PROMPTS
    extra = []
    if case == "unknown_prompt":
        prompts, msg = ["speech", "noise"], "invalid prompt list: unknown prompt 'noise'"
    elif case == "empty_prompt":
        prompts, msg = [""], "invalid prompt list: unknown prompt ''"
    elif case == "no_prompts":
        prompts, msg = [], "give the prompts"
    elif case == "forbidden_sfx":
        prompts, msg = ["sfx", "speech", "sfxbg"], "cannot be combined"
    elif case == "forbidden_music":
        prompts, msg = ["musicbg", "Drums"], "cannot be combined"
    elif case == "outdir_is_file":
        out.write_text("x")
        msg = "is not a directory"
    elif case == "outdir_under_file":
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "out"
        msg = "cannot create output directory"
    elif case == "bad_subtype":
        extra, msg = ["--subtype", "MP3"], "invalid --subtype"
    elif case == "bad_hop":
        extra, msg = ["--segment", "1", "--hop", "2"], "--hop must be in"
    elif case in (
        "truncated_checkpoint",
        "garbage_checkpoint",
        "mismatched_checkpoint",
        "bad_yaml",
        "bad_config_value",
        "pickled_checkpoint",
    ):
        d = tmp_path / "model"
        d.mkdir()
        (d / "config.yaml").write_bytes((model_dir / "config.yaml").read_bytes())
        ck = (model_dir / "model.pth").read_bytes()
        (d / "model.pth").write_bytes(ck)
        model = str(d)
        if case == "truncated_checkpoint":
            (d / "model.pth").write_bytes(ck[: len(ck) // 3])
            msg = "not a readable checkpoint"
        elif case == "garbage_checkpoint":
            (d / "model.pth").write_bytes(b"\x00garbage" * 100)
            msg = "not a readable checkpoint"
        elif case == "pickled_checkpoint":  # arbitrary objects are refused by weights_only=True
            buf = io.BytesIO()
            torch.save({"model": {"x": torch.zeros(1)}, "obj": Path("x")}, buf)
            (d / "model.pth").write_bytes(buf.getvalue())
            msg = "not a readable checkpoint"
        elif case == "mismatched_checkpoint":
            conf = yaml.safe_load((d / "config.yaml").read_text())
            conf["separator_conf"]["emb_dim"] = 8
            (d / "config.yaml").write_text(yaml.safe_dump(conf))
            msg = "does not match"
        elif case == "bad_yaml":
            (d / "config.yaml").write_text("separator: [tuss\n  : :\n")
            msg = "not a readable YAML config"
        else:
            conf = yaml.safe_load((d / "config.yaml").read_text())
            conf["separator_conf"]["no_such_option"] = 1
            (d / "config.yaml").write_text(yaml.safe_dump(conf))
            msg = "cannot build the model"
    elif case == "corrupt_zip":
        z = tmp_path / "pack.zip"
        z.write_bytes(b"PK\x03\x04 broken")
        model, msg = str(z), "not a valid zip archive"
    elif case == "zip_slip":
        model, msg = str(_bad_zip(tmp_path / "pack.zip", "../../evil.txt")), "outside the target directory"
    elif case == "zip_absolute":
        model, msg = str(_bad_zip(tmp_path / "pack.zip", "/tmp/evil_abs.txt")), "outside the target directory"
    elif case == "missing_model":
        model, msg = str(tmp_path / "nope"), "no such model directory"
    else:
        raise KeyError(case)
    return model, prompts, out, extra, msg


@pytest.mark.parametrize(
    "case",
    [
        "unknown_prompt",
        "empty_prompt",
        "no_prompts",
        "forbidden_sfx",
        "forbidden_music",
        "outdir_is_file",
        "outdir_under_file",
        "bad_subtype",
        "bad_hop",
        "truncated_checkpoint",
        "garbage_checkpoint",
        "pickled_checkpoint",
        "mismatched_checkpoint",
        "bad_yaml",
        "bad_config_value",
        "corrupt_zip",
        "zip_slip",
        "zip_absolute",
        "missing_model",
    ],
)
def test_bad_options_and_models_are_one_line_errors(model_dir, tmp_path, capsys, case):
    inp = _write(tmp_path / "good.wav", _noise(2000), fs=16000)
    model, prompts, out, extra, msg = _make_case(case, model_dir, tmp_path)
    cmd = ["-m", model, "-o", str(out), "--quiet", *extra, str(inp)]
    if prompts:
        cmd += ["-p", *prompts]
    rc = separate.main(cmd)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("tuss-separate: error: ") and msg in err[0], err
    if "checkpoint" in case:
        assert "model.pth" in err[0]
    if case in ("bad_yaml", "bad_config_value"):
        assert "config.yaml" in err[0]
    if case.startswith("zip") or case == "corrupt_zip":
        assert "pack.zip" in err[0]
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil_abs.txt").exists()
    if out.is_dir():
        assert not [f for f in out.rglob("*") if f.is_file()]


def test_same_stem_twice_is_refused(model_dir, tmp_path, capsys):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = _write(tmp_path / "a" / "x.wav", _noise(2000))
    b = _write(tmp_path / "b" / "x.flac", _noise(2000))
    rc = separate.main(["-m", str(model_dir), "-p", "speech", "-o", str(tmp_path / "o"), "--quiet", str(a), str(b)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "outputs would overwrite each other" in err[0]


def test_zip_slip_is_refused_before_anything_is_unpacked(tmp_path):
    z = _bad_zip(tmp_path / "m.zip", "../escaped.txt")
    with pytest.raises(ValueError, match=r"m.zip: member '../escaped.txt' would be written outside"):
        SeparateAudio.from_pretrained(z, cache_dir=str(tmp_path / "cache"))
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "cache" / "escaped.txt").exists()
    cache = tmp_path / "cache"
    assert not cache.exists() or not [f for f in cache.rglob("*") if f.is_file()]


def test_packed_zip_loads(model_dir, tmp_path):
    z = tmp_path / "good.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(
            "meta.yaml", "files: {model_file: exp/m/model.pth}\nyaml_files: {train_config: exp/m/config.yaml}\n"
        )
        zf.write(model_dir / "config.yaml", "exp/m/config.yaml")
        zf.write(model_dir / "model.pth", "exp/m/model.pth")
    sep = SeparateAudio.from_pretrained(z, cache_dir=str(tmp_path / "cache"))
    assert sep(_noise(1000)[:, 0], 16000, ["speech"]).shape == (1, 1000)


# ------------------------------------------------------------------ the SeparateAudio API
@pytest.mark.parametrize(
    "case,msg",
    [
        ("empty", "no samples"),
        ("no_channels", "no channels"),
        ("nan", "NaN or Inf"),
        ("inf", "NaN or Inf"),
        ("int16", "expected float samples"),
        ("3d", "expected (n_samples,)"),
        ("fs0", "invalid sampling rate"),
        ("fs_frac", "invalid sampling rate"),
        ("no_prompts", "needs prompts"),
        ("empty_prompts", "empty prompt list"),
        ("unknown", "unknown prompt 'birds'"),
        ("forbidden", "cannot be combined"),
    ],
)
def test_api_rejects_bad_input(sep, case, msg):
    x, fs, prompts = _noise(1600)[:, 0], 16000, PROMPTS
    if case == "empty":
        x = np.zeros(0, np.float32)
    elif case == "no_channels":
        x = np.zeros((10, 0), np.float32)
    elif case in ("nan", "inf"):
        x = x.copy()
        x[5] = np.nan if case == "nan" else np.inf
    elif case == "int16":
        x = (x * 1000).astype(np.int16)
    elif case == "3d":
        x = x.reshape(1, -1, 1)
    elif case == "fs0":
        fs = 0
    elif case == "fs_frac":
        fs = 44100.5
    elif case == "no_prompts":
        prompts = None
    elif case == "empty_prompts":
        prompts = []
    elif case == "unknown":
        prompts = ["speech", "birds"]
    elif case == "forbidden":
        prompts = ["musicbg", "bass"]
    with pytest.raises(ValueError) as e:
        sep(x, fs, prompts)
    assert msg in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "x",
    [
        np.zeros(1, np.float32),
        np.zeros((3000, 2), np.float32),
        np.full(500, 1.0, np.float32),
        np.full(500, 1e-30, np.float32),
    ],
)
def test_api_edge_signals(sep, x):
    y = sep(x, 16000, [" SPEECH", "sfx_mix"])
    assert y.shape == (2,) + x.shape and np.isfinite(y).all()
    if not x.any():
        assert not y.any()


# ------------------------------------------------------------------ streaming
@pytest.mark.parametrize("fs,ch,seg,hop", [(44100, 2, 0.25, 0.125), (48000, 1, 0.2, 0.15), (16000, 6, None, None)])
def test_streaming_file_equals_in_memory(sep, tmp_path, fs, ch, seg, hop):
    x = _noise(int(fs * 0.7) + 7, ch, scale=0.1)
    inp = _write(tmp_path / "in.wav", x, fs=fs, subtype="FLOAT")
    s = SeparateAudio(sep.model, sep.config, segment_size=seg, hop_size=hop)
    prompts = ["speech", "speech", "sfxbg"]
    ref = s(x if ch > 1 else x[:, 0], fs, prompts)
    outs = [tmp_path / f"o{k}.wav" for k in range(3)]
    s.separate_file(inp, outs, prompts, blocksize=3001)  # blocks not aligned with segments
    got = np.stack([sf.read(o, dtype="float32")[0] for o in outs])
    assert got.shape == ref.shape and np.array_equal(got, ref)


def test_resampled_length_matches_soxr():
    from tuss_plugin.fileio.audio import resample

    for fs_in, fs_out in [(44100, 48000), (96000, 48000), (8000, 44100), (22050, 16000)]:
        for n in (1, 2, 3, 5, 441, 1001):
            assert resample(np.zeros(n, np.float32), fs_in, fs_out).shape[0] == resampled_length(n, fs_in, fs_out)


def test_wav_with_unknown_length_header_is_read(tmp_path):
    p = _write(tmp_path / "stream.wav", _noise(1000))
    b = bytearray(p.read_bytes())
    pos = b.index(b"data")
    b[pos + 4 : pos + 8] = struct.pack("<I", 0xFFFFFFFF)  # written by a recorder that never knew the length
    p.write_bytes(bytes(b))
    assert check_audio_file(p).frames == 1000


# ------------------------------------------------------------------ recipe stage 2 (format_data)
@pytest.mark.parametrize("on_error", ["skip", "stop"])
def test_format_data_reports_every_bad_entry(tmp_path, capsys, on_error):
    from tuss_plugin.bin import format_data

    from datagen import make_data_dir

    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]] * 5, seconds=0.05)
    (data / "wavs" / "utt001_mix.wav").unlink()  # missing mixture
    ref = data / "wavs" / "utt002_s2.wav"
    ref.write_bytes(ref.read_bytes()[:-100])  # truncated reference
    (data / "wavs" / "utt003_s1.wav").write_text("not audio")
    with open(data / "utt2prompts", "a") as f:
        f.write("ghost speech\n")  # listed, but no mixture
    out = tmp_path / "dump"
    rc = format_data.main(["--fs", "8k", "--on_error", on_error, str(data), str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    expected = {
        "utt001": "utt001_mix.wav: no such file",
        "utt002": "utt002_s2.wav: truncated audio file",
        "utt003": "utt003_s1.wav: not a readable audio file",
        "ghost": "not in",
    }
    assert len(err) == 4, err
    for utt, msg in expected.items():
        assert any(
            e.startswith(f"format_data: {'error' if on_error == 'stop' else 'skipped'}: {utt}: ") and msg in e
            for e in err
        ), (utt, err)
    if on_error == "stop":
        assert rc == 1 and not (out / "wav.scp").exists()
    else:
        assert rc == 0
        assert [line.split()[0] for line in (out / "wav.scp").read_text().splitlines()] == ["utt000", "utt004"]
        assert len((out / "format_skipped.txt").read_text().splitlines()) == 4
