#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stage 1 of the mini recipe: synthesise the embedded corpus from real sounds
# (eSpeak NG voices and a General MIDI SoundFont, installed by make -C tools;
# nothing is downloaded). Re-running with the same options and generators does nothing. data/dev gets
# utt2corpus: its five task patterns count as the corpora of the validation
# set (as the unified recipe's five corpora), each weighing the same in valid/loss.
set -euo pipefail

num_train=120   # training mixtures per task
num_train_uss=  # training mixtures of the USS pattern (default: 3 x --num_train): the
                # outputs of one prompt (sfx sfx [sfx]) must break their symmetry, which
                # takes more examples than the other patterns (README.md, "Results")
num_dev=6
num_test=10
seconds=2.0
fs=16000
help_message="Usage: $0 [--num_train N] [--num_train_uss N] [--num_dev N] [--num_test N] [--seconds S] [--fs HZ]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh
num_train_uss=${num_train_uss:-$((3 * num_train))}

marker=data/.mini_tuss.complete
generators=$(cat local/synthesize.py local/sources.py local/soundfont.py local/voices.py | md5sum | cut -c1-12)
opts="num_train=${num_train} num_train_uss=${num_train_uss} num_dev=${num_dev} num_test=${num_test} seconds=${seconds} fs=${fs} generators=${generators}"
if [ -f "${marker}" ] && [ "$(cat "${marker}")" = "${opts}" ]; then
    echo "$0: corpus already synthesised (${opts})"
else
    rm -f "${marker}"
    mkdir -p data "${MINI_TUSS}"
    python3 local/synthesize.py --data_dir data --audio_dir "${MINI_TUSS}" \
        --num_train "${num_train}" --num_train_uss "${num_train_uss}" --num_dev "${num_dev}" --num_test "${num_test}" \
        --seconds "${seconds}" --fs "${fs}"
    echo "${opts}" > "${marker}"
fi
# <utt> <task pattern> for data/dev, from its per-task subsets data/dev_<task>
for task in se ss uss mss cass; do
    awk -v c="${task}" '{print $1, c}' "data/dev_${task}/wav.scp"
done | LC_ALL=C sort > data/dev/.utt2corpus.tmp
mv data/dev/.utt2corpus.tmp data/dev/utt2corpus
