#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Download VCTK-DEMAND (Valentini-Botinhao et al., Edinburgh DataShare
# 10283/2791, CC BY 4.0) into DIR: the clean/noisy 28-speaker training folders
# and the test folders, one zip each. Folders already in DIR are skipped, so
# an existing corpus costs nothing; no checksums are published with the files.
#
#   local/download.sh DIR     (DIR = $VCTK_DEMAND)
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "Usage: $0 <dir>" >&2
    exit 1
fi
dir=$1
base=https://datashare.ed.ac.uk/bitstream/handle/10283/2791
# <folder>:<DataShare bitstream sequence number>
for spec in clean_testset_wav:1 noisy_testset_wav:5 clean_trainset_28spk_wav:2 noisy_trainset_28spk_wav:6; do
    name=${spec%%:*}
    seq=${spec##*:}
    if [ -d "${dir}/${name}" ]; then
        echo "$0: ${dir}/${name} already present, not downloaded"
        continue
    fi
    mkdir -p "${dir}"
    zip=${dir}/${name}.zip
    if [ ! -f "${zip}" ]; then
        wget -c -O "${zip}.part" "${base}/${name}.zip?sequence=${seq}&isAllowed=y"
        mv "${zip}.part" "${zip}"
    fi
    tmp=${dir}/.unpack_${name}
    rm -rf "${tmp}"
    unzip -q "${zip}" -d "${tmp}"
    if [ -d "${tmp}/${name}" ]; then
        mv "${tmp}/${name}" "${dir}/${name}"
    else
        mv "${tmp}" "${dir}/${name}"
    fi
    rm -rf "${tmp}" "${zip}"
    echo "$0: ${dir}/${name} ready"
done
