# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 2 (format_data): target rates, including --fs native; dump
names, reuse of finished utterances, list errors."""

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from tuss_plugin.bin import format_data
from tuss_plugin.kaldi_io import read_dict, read_scp

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
