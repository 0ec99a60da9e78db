# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 2 (format_data): target rates, including --fs native; dump
names, reuse of finished utterances, list errors."""

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from tuss_plugin.bin import format_data
from tuss_plugin.fileio.kaldi_io import read_dict, read_scp

from datagen import make_data_dir


def _merge(dst, parts):
    """One data dir holding the utterances of several (renamed: <tag>_<utt>)."""
    dst.mkdir(parents=True)
    for name in ("wav.scp", "utt2prompts", "spk1.scp", "spk2.scp"):
        lines = []
        for tag, d in parts.items():
            if (d / name).exists():
                lines += [f"{tag}_{l}" for l in (d / name).read_text().splitlines() if l.strip()]
        (dst / name).write_text("".join(f"{l}\n" for l in sorted(lines)))
    return dst


def test_native_rate_keeps_each_utterance_rate(tmp_path):
    a = make_data_dir(tmp_path / "a", [["speech", "sfxbg"]], fs=16000, seconds=0.5, seed=1)
    b = make_data_dir(tmp_path / "b", [["drums", "bass"]], fs=44100, seconds=0.5, seed=2)
    src = _merge(tmp_path / "data", {"a": a, "b": b})
    out = tmp_path / "dump"
    assert format_data.main(["--fs", "native", "--mix_from_refs", "--on_error", "stop", str(src), str(out)]) == 0
    rates = {u: int(v[0]) for u, v in read_dict(out / "utt2fs").items()}
    assert rates == {"a_utt000": 16000, "b_utt000": 44100}
    assert (out / "fs").read_text().strip() == "native"
    for u, p in read_scp(out / "wav.scp").items():
        info = sf.info(p)
        assert info.samplerate == rates[u] and info.frames == rates[u] // 2
    # a fixed rate resamples everything to it
    out48 = tmp_path / "dump48"
    assert format_data.main(["--fs", "48k", str(src), str(out48)]) == 0
    assert {sf.info(p).samplerate for p in read_scp(out48 / "wav.scp").values()} == {48000}
    assert (out48 / "fs").read_text().strip() == "48000" and not (out48 / "utt2fs").exists()


def test_invalid_rate_is_one_line_error(tmp_path, capsys):
    src = make_data_dir(tmp_path / "a", [["speech", "sfxbg"]], fs=16000, seconds=0.25)
    assert format_data.main(["--fs", "fast", str(src), str(tmp_path / "out")]) == 1
    assert "invalid sampling rate 'fast'" in capsys.readouterr().err


def _rename(d, old, new):
    """Rename utterance ``old`` to ``new`` in every list of data dir ``d``."""
    for f in d.iterdir():
        if f.is_file():
            f.write_text(
                "".join(
                    f"{new}{line[len(old) :]}" if line.split(maxsplit=1)[:1] == [old] else line
                    for line in f.read_text().splitlines(keepends=True)
                )
            )


def _set_line(path, key, value):
    path.write_text(
        "".join(f"{key} {value}\n" if line.split()[0] == key else f"{line}\n" for line in path.read_text().splitlines())
    )


def _dumped(out):
    """{(utt, role): dumped path}, role 0 = mixture, k = reference k."""
    files = {(u, 0): p for u, p in read_scp(out / "wav.scp").items()}
    for u, refs in read_dict(out / "spk.scp").items():
        files.update({(u, k): p for k, p in enumerate(refs, 1)})
    return files


def test_dump_names_cannot_collide(tmp_path):
    """Utterance x's first reference and utterance x_s1's mixture are two dump files."""
    src = make_data_dir(tmp_path / "data", [["speech", "sfxbg"], ["speech", "sfxbg"]], fs=8000, seconds=0.1)
    _rename(src, "utt000", "x")
    _rename(src, "utt001", "x_s1")
    out = tmp_path / "dump"
    assert format_data.main(["--fs", "8k", "--on_error", "stop", str(src), str(out)]) == 0
    dumped = _dumped(out)
    assert len(dumped) == 6 and len(set(dumped.values())) == 6
    sources = _dumped(src)
    for key, p in dumped.items():
        assert Path(p).is_relative_to(out.resolve())
        np.testing.assert_allclose(sf.read(p)[0], sf.read(sources[key])[0], atol=1e-6, err_msg=str(key))


def test_edited_list_is_redone(tmp_path):
    """Reuse follows the list contents: an utterance now pointing at another file is
    formatted again, the unchanged one is kept."""
    src = make_data_dir(tmp_path / "data", [["speech", "sfxbg"], ["speech", "sfxbg"]], fs=8000, seconds=0.1)
    out = tmp_path / "dump"
    args = ["--fs", "8k", "--on_error", "stop", str(src), str(out)]
    assert format_data.main(args) == 0
    kept = os.stat(read_scp(out / "wav.scp")["utt001"])
    other = read_scp(src / "spk1.scp")["utt001"]
    _set_line(src / "spk1.scp", "utt000", other)
    assert format_data.main(args) == 0
    np.testing.assert_allclose(sf.read(read_scp(out / "spk1.scp")["utt000"])[0], sf.read(other)[0], atol=1e-6)
    assert os.stat(read_scp(out / "wav.scp")["utt001"]).st_ino == kept.st_ino  # not rewritten


def test_duplicate_key_is_one_line(tmp_path, capsys):
    src = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]], seconds=0.05)
    with open(src / "spk2.scp", "a") as f:
        f.write(f"utt000 {src / 'wavs' / 'utt000_s1.wav'}\n")
    assert format_data.main(["--fs", "8k", str(src), str(tmp_path / "dump")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"format_data: error: {src / 'spk2.scp'}:2: duplicate key utt000"
    ]


def test_utt2corpus_is_carried_to_the_dump(tmp_path, capsys):
    """Stage 2 keeps the corpus of each validation item (equal-weight validation reads it)."""
    d = make_data_dir(tmp_path / "d", [["speech", "sfxbg"], ["sfx", "sfx"], ["speech", "sfxbg"]], fs=16000, seconds=0.1)
    (d / "utt2corpus").write_text("utt000 wham\nutt001 fuss\nutt002 vctk_demand\n")
    out = tmp_path / "dump"
    assert format_data.main(["--fs", "16k", str(d), str(out)]) == 0
    assert read_dict(out / "utt2corpus") == {"utt000": ["wham"], "utt001": ["fuss"], "utt002": ["vctk_demand"]}
    # a written utterance without a corpus: one line naming the list
    (d / "utt2corpus").write_text("utt000 wham\nutt001 fuss\n")
    capsys.readouterr()
    assert format_data.main(["--fs", "16k", str(d), str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "utt002" in err[0] and "utt2corpus" in err[0], err
    # no list in the source: no stale list in the dump
    (d / "utt2corpus").unlink()
    assert format_data.main(["--fs", "16k", str(d), str(out)]) == 0
    assert not (out / "utt2corpus").exists()


# ------------------------------------------------------------------ pipe commands and archive offsets
def _to_pcm16(path):
    """Rewrite a float WAV as 16-bit; returns the samples (int16) it now holds."""
    x, fs = sf.read(path, dtype="float32")
    q = np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)
    sf.write(path, q, fs, subtype="PCM_16")
    return q, fs


def _lists(dst, src, lines):
    """A data dir ``dst`` with the utt2prompts (and utt2channel) of ``src`` and
    the given lists: ``{name: {utt: entry}}``."""
    dst.mkdir(parents=True)
    for name in ("utt2prompts", "utt2channel"):
        if (src / name).exists():
            (dst / name).write_text((src / name).read_text())
    for name, entries in lines.items():
        (dst / name).write_text("".join(f"{u} {v}\n" for u, v in sorted(entries.items())))
    return dst


def _same_dumps(a, b):
    da, db = _dumped(a), _dumped(b)
    assert da.keys() == db.keys()
    for key in da:
        xa, fa = sf.read(da[key], dtype="float32")
        xb, fb = sf.read(db[key], dtype="float32")
        assert fa == fb and np.array_equal(xa, xb), key
    assert (a / "utt2num_samples").read_text() == (b / "utt2num_samples").read_text()


def test_pipe_and_archive_entries_dump_like_files(tmp_path, capsys):
    """Stage 2 runs pipe commands and reads archive offsets (as ESPnet's data
    formatting does) and dumps the same audio as from the files themselves."""
    import shlex

    import kaldiio

    plain = make_data_dir(tmp_path / "plain", [["speech", "sfxbg"], ["speech", "sfxbg"]], fs=16000, seconds=0.05)
    wav, spk1, spk2 = (read_scp(plain / n) for n in ("wav.scp", "spk1.scp", "spk2.scp"))
    q, fs = _to_pcm16(spk1["utt001"])  # a soundfile-written archive entry holds 16-bit samples
    _to_pcm16(spk2["utt001"])  # 16-bit WAV from a pipe: kaldiio's reader; float WAV: soundfile
    spec = f"ark,scp:{tmp_path / 'refs.ark'},{tmp_path / 'refs.scp'}"
    with kaldiio.WriteHelper(spec, write_function="soundfile") as w:
        w("utt001", (fs, q))
    entries = _lists(
        tmp_path / "entries",
        plain,
        {
            "wav.scp": {"utt000": f"cat {shlex.quote(wav['utt000'])} |", "utt001": wav["utt001"]},
            "spk1.scp": {"utt000": spk1["utt000"], "utt001": read_scp(tmp_path / "refs.scp")["utt001"]},
            "spk2.scp": {"utt000": spk2["utt000"], "utt001": f"cat {shlex.quote(spk2['utt001'])} |"},
        },
    )
    args = ["--fs", "8k", "--on_error", "stop"]
    assert format_data.main([*args, str(plain), str(tmp_path / "dump_plain")]) == 0
    assert format_data.main([*args, str(entries), str(tmp_path / "dump_entries")]) == 0
    assert capsys.readouterr().err == ""
    _same_dumps(tmp_path / "dump_plain", tmp_path / "dump_entries")
    # the dump lists plain audio files only
    for p in _dumped(tmp_path / "dump_entries").values():
        assert Path(p).is_file() and Path(p).is_relative_to((tmp_path / "dump_entries").resolve())
    # a changed file that a command names is formatted again
    x, _ = sf.read(wav["utt000"], dtype="float32")
    sf.write(wav["utt000"], 0.5 * x, 16000, subtype="FLOAT")
    st = os.stat(wav["utt000"])
    os.utime(wav["utt000"], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert format_data.main([*args, str(entries), str(tmp_path / "dump_entries")]) == 0
    got, _ = sf.read(read_scp(tmp_path / "dump_entries" / "wav.scp")["utt000"], dtype="float32")
    before, _ = sf.read(read_scp(tmp_path / "dump_plain" / "wav.scp")["utt000"], dtype="float32")
    np.testing.assert_allclose(got, 0.5 * before, atol=1e-6)


def test_pipe_entries_keep_channel_selection_and_mix_from_refs(tmp_path):
    """utt2channel picks a channel of piped stereo references; --mix_from_refs
    sums them (the wav.scp command is not run); --fs native keeps their rate."""
    rng = np.random.default_rng(3)
    (tmp_path / "wavs").mkdir()
    refs = []
    for k in (1, 2):
        p = tmp_path / "wavs" / f"s{k}.wav"
        sf.write(p, rng.uniform(-0.3, 0.3, size=(600, 2)).astype(np.float32), 12000, subtype="FLOAT")
        refs.append(str(p))
    marker = tmp_path / "ran"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "utt2prompts").write_text("utt000 speech sfxbg\n")
    (tmp_path / "src" / "utt2channel").write_text("utt000 1\n")
    plain = _lists(
        tmp_path / "plain",
        tmp_path / "src",
        {"wav.scp": {"utt000": refs[0]}, "spk1.scp": {"utt000": refs[0]}, "spk2.scp": {"utt000": refs[1]}},
    )
    piped = _lists(
        tmp_path / "piped",
        tmp_path / "src",
        {
            "wav.scp": {"utt000": f"touch {marker} |"},
            "spk1.scp": {"utt000": f"cat {refs[0]} |"},
            "spk2.scp": {"utt000": f"cat {refs[1]} |"},
        },
    )
    args = ["--fs", "native", "--mix_from_refs", "--on_error", "stop"]
    assert format_data.main([*args, str(plain), str(tmp_path / "dump_plain")]) == 0
    assert format_data.main([*args, str(piped), str(tmp_path / "dump_piped")]) == 0
    assert not marker.exists()
    _same_dumps(tmp_path / "dump_plain", tmp_path / "dump_piped")
    s1, fs = sf.read(read_scp(tmp_path / "dump_piped" / "spk1.scp")["utt000"], dtype="float32")
    assert fs == 12000 and np.array_equal(s1, sf.read(refs[0], dtype="float32")[0][:, 1])


def test_failing_entries_are_one_line_naming_the_utterance(tmp_path, capsys):
    """A command that fails and an archive entry that is not audio: one line each,
    naming the utterance, the list, the entry and the problem."""
    import kaldiio

    src = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]] * 3, seconds=0.05)
    missing = tmp_path / "gone.flac"
    _set_line(src / "wav.scp", "utt001", f"cat {missing} |")
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'f.ark'},{tmp_path / 'f.scp'}") as w:
        w("utt002", np.zeros((4, 2), dtype=np.float32))
    feats = read_scp(tmp_path / "f.scp")["utt002"]
    _set_line(src / "spk2.scp", "utt002", feats)
    out = tmp_path / "dump"
    assert format_data.main(["--fs", "8k", str(src), str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"format_data: skipped: utt001: {src / 'wav.scp'}: 'cat {missing} |': the command failed "
        f"(exit status 1: cat: {missing}: No such file or directory)",
        f"format_data: skipped: utt002: {src / 'spk2.scp'}: {feats!r}: not audio (a Kaldi binary matrix or vector)",
    ], err
    assert list(read_scp(out / "wav.scp")) == ["utt000"]
    assert format_data.main(["--fs", "8k", "--on_error", "stop", str(src), str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("format_data: error: utt001: ") and "exit status 1" in err[0], err
