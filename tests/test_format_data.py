# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 2 (format_data): target rates, including --fs native."""
import soundfile as sf

from datagen import make_data_dir
from tuss_plugin.bin import format_data
from tuss_plugin.kaldi_io import read_dict, read_scp


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
