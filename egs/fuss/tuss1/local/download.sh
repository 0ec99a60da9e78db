#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Download the dry FUSS data (FUSS_ssdata.tar.gz, Zenodo 3743844, CC BY 4.0)
# into DIR, which then holds ssdata/. Skipped when DIR/ssdata exists; no
# checksum is checked (use Zenodo's listed MD5 by hand if needed).
#
#   local/download.sh DIR     (DIR = $FUSS)
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "Usage: $0 <dir>" >&2
    exit 1
fi
dir=$1
if [ -d "${dir}/ssdata" ]; then
    echo "$0: ${dir}/ssdata already present, not downloaded"
    exit 0
fi
mkdir -p "${dir}"
archive=${dir}/FUSS_ssdata.tar.gz
if [ ! -f "${archive}" ]; then
    wget -c -O "${archive}.part" "https://zenodo.org/records/3743844/files/FUSS_ssdata.tar.gz?download=1"
    mv "${archive}.part" "${archive}"
fi
tmp=${dir}/.unpack_ssdata
rm -rf "${tmp}"
mkdir -p "${tmp}"
tar -xzf "${archive}" -C "${tmp}"
mv "${tmp}/ssdata" "${dir}/ssdata"
rm -rf "${tmp}" "${archive}"
echo "$0: ${dir}/ssdata ready"
