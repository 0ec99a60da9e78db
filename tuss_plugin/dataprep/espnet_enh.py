# SPDX-License-Identifier: Apache-2.0
"""An ESPnet enhancement data dir (``egs2/*/enh1``) as a TUSS data dir.

ESPnet's enh1 recipes list the mixtures in ``wav.scp``, the speakers' clean
signals in ``spk1.scp .. spk<N>.scp`` and, where the corpus has them, the
noise in ``noise1.scp`` and dry references in ``dereverb1.scp``; they have no
prompts. TUSS (Saijo et al., "Task-aware Unified Source Separation", ICASSP
2025) separates one source per prompt, so the converter adds ``utt2prompts``:

* ``spk<k>.scp`` (k = 1 .. ``spk_num``) -> prompt ``speech`` each, the
  reference lists kept as they are;
* ``noise1.scp`` -> prompt ``sfxbg`` (the noise mix), reference ``spk<N+1>.scp``,
  only with ``use_noise_ref`` (as enh.sh's ``--use_noise_ref true`` trains
  with the noise reference; without it the noise stays an unprompted part of
  the mixture, as enh.sh leaves it out of the loss);
* ``dereverb*.scp`` -> refused: TUSS's prompts name sources, and a dry copy
  of a reverberant speaker is not one;
* ``segments`` -> refused (stage 2 reads whole files; ESPnet's
  ``format_wav_scp.sh`` writes segmented dirs as whole files first).

``wav.scp``, ``utt2spk``, ``spk2utt`` and any other file are copied; the
output can be the input dir itself (only ``utt2prompts`` and the noise list
are then added).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List, Optional, Union

from tuss_plugin.utils.errors import DataPrepError

PathLike = Union[str, Path]
SPEECH_PROMPT = "speech"
NOISE_PROMPT = "sfxbg"


def _speech_lists(src: Path, spk_num: Optional[int]) -> List[Path]:
    from tuss_plugin.fileio.datadir import ref_list, ref_list_files

    found = list(ref_list_files(src))
    if spk_num is None:
        if not found:
            raise DataPrepError(f"{src}: no spk1.scp (an ESPnet enh data dir lists the speakers' references there)")
        return found
    if spk_num < 1:
        raise DataPrepError(f"--spk_num {spk_num}: expected at least 1")
    if len(found) < spk_num:
        raise DataPrepError(f"{ref_list(src, len(found) + 1)}: missing (--spk_num {spk_num})")
    return found[:spk_num]


def convert(src: PathLike, dst: PathLike, spk_num: Optional[int] = None, use_noise_ref: bool = False) -> List[str]:
    """Write the TUSS data dir ``dst`` from the ESPnet enh data dir ``src``.

    Args:
        src: ESPnet data dir (``wav.scp``, ``spk<k>.scp``, optional ``noise1.scp``).
        dst: output dir (may be ``src``).
        spk_num: speakers (``spk<k>.scp`` lists) to use (default None: all there are).
        use_noise_ref: give ``noise1.scp`` the prompt ``sfxbg`` (default False).

    Returns:
        the prompt list every mixture gets.

    Raises:
        DataPrepError: one line naming the file and the problem.
    """
    from tuss_plugin.fileio.datadir import ref_list
    from tuss_plugin.fileio.kaldi_io import read_scp, write_list

    src, dst = Path(src), Path(dst)
    if not (src / "wav.scp").is_file():
        raise DataPrepError(f"{src / 'wav.scp'}: missing (not a data dir)")
    for bad in sorted(src.glob("dereverb*.scp")) + [p for p in [src / "segments"] if p.exists()]:
        what = "dereverberation references" if bad.name != "segments" else "Kaldi segments"
        raise DataPrepError(f"{bad}: {what} are not supported by the TUSS recipes; remove the file to convert the rest")
    if (src / "utt2prompts").exists():
        raise DataPrepError(f"{src / 'utt2prompts'}: exists already (a TUSS data dir needs no conversion)")
    try:
        mixtures = read_scp(src / "wav.scp")
        lists = [read_scp(p) for p in _speech_lists(src, spk_num)]
        noise = src / "noise1.scp"
        if use_noise_ref:
            if not noise.is_file():
                raise DataPrepError(f"{noise}: missing (--use_noise_ref true)")
            lists.append(read_scp(noise))
    except ValueError as e:
        raise DataPrepError(str(e)) from None
    if dst.resolve() == src.resolve() and ref_list(src, len(lists) - int(use_noise_ref) + 1).exists():
        raise DataPrepError(
            f"{ref_list(src, len(lists) - int(use_noise_ref) + 1)}: would be read as a reference of every "
            "mixture; convert into another directory to use fewer speakers"
        )
    prompts = [SPEECH_PROMPT] * (len(lists) - int(use_noise_ref)) + [NOISE_PROMPT] * int(use_noise_ref)
    for k, lst in enumerate(lists):
        missing = sorted(set(mixtures) - set(lst))
        if missing:
            name = "noise1.scp" if use_noise_ref and k == len(lists) - 1 else f"spk{k + 1}.scp"
            raise DataPrepError(f"{src / name}: no reference for {missing[0]} ({len(missing)} mixtures of wav.scp)")
    dst.mkdir(parents=True, exist_ok=True)
    if dst.resolve() != src.resolve():
        for f in sorted(src.iterdir()):
            if f.is_file() and not f.name.startswith("spk") and f.name != "noise1.scp":
                shutil.copyfile(f, dst / f.name)
    for k, lst in enumerate(lists, 1):
        if dst.resolve() != src.resolve() or k > len(lists) - int(use_noise_ref):
            write_list(ref_list(dst, k), ((u, lst[u]) for u in mixtures))
    write_list(dst / "utt2prompts", ((u, prompts) for u in mixtures))
    return prompts
