#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Source pool of the mini recipe for on-the-fly training
# (conf/tuning/train_tuss_mini_onthefly.yaml): the references of data/train
# (written by local/data.sh) -> data/pool_mini. Re-running does nothing
# unless data/train changed.
set -euo pipefail

. ./path.sh

src=data/train
pool=data/pool_mini
[ -f "${src}/utt2prompts" ] || { echo "$0: ${src}/utt2prompts: missing (run stage 1 first)" >&2; exit 1; }
key=$(cat "${src}"/utt2prompts "${src}"/spk*.scp | md5sum | cut -c1-16)
if [ -f "${pool}/.done" ] && [ "$(cat "${pool}/.done")" = "${key}" ]; then
    echo "$0: ${pool} is up to date"
    exit 0
fi
rm -f "${pool}/.done"
python3 local/make_pool.py "${src}" "${pool}"
echo "${key}" > "${pool}/.done"
