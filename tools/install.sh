#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Create tools/venv and install tuss_plugin (editable, with the test, mini, onnx
# and bench extras of setup.py: onnx, onnxscript, onnxruntime pinned there) and
# the ESPnet stack that matches the newest Python >= 3.11 on this machine, as
# listed in tools/stacks.txt:
#   Python >= 3.12 -> espnet==202611, torch==2.11.0, torchaudio==2.11.0
#   Python 3.11    -> espnet==202511, torch==2.9.1,  torchaudio==2.9.1
# A second run with nothing changed only reports what is installed.
#
# Options (environment): TUSS_PYTHON=/path/to/python forces the interpreter;
# TUSS_PYTHON_VERSION=3.11 picks the newest installed Python of that minor
# version (PATH or pyenv); TUSS_VENV=DIR installs into another directory
# (default tools/venv). `make -C tools` passes these for each stack.
set -euo pipefail

tools_dir=$(cd "$(dirname "$0")" && pwd)
root_dir=$(dirname "${tools_dir}")
venv="${TUSS_VENV:-${tools_dir}/venv}"
stamp="${venv}/.tuss_install_stamp"

log() { echo "$(basename "$0"): $*"; }

# Print the path of a working interpreter for version $1 (e.g. 3.12), or
# nothing. A pyenv shim only runs when its version is selected, so for shims
# we ask pyenv for the newest installed patch release of that version.
find_python() {
    local ver=$1 exe cand pv
    exe="python${ver}"
    if cand=$(command -v "${exe}" 2>/dev/null) && "${cand}" -c 'import venv' >/dev/null 2>&1; then
        "${cand}" -c 'import sys; print(sys.executable)'
        return 0
    fi
    if command -v pyenv >/dev/null 2>&1; then
        pv=$(pyenv versions --bare 2>/dev/null | grep -E "^${ver//./\\.}\.[0-9]+$" | sort -t. -k3,3n | tail -n 1 || true)
        if [ -n "${pv}" ]; then
            cand="$(pyenv root)/versions/${pv}/bin/${exe}"
            if [ -x "${cand}" ] && "${cand}" -c 'import venv' >/dev/null 2>&1; then
                echo "${cand}"
                return 0
            fi
        fi
    fi
    return 1
}

if [ -n "${TUSS_PYTHON:-}" ]; then
    python=${TUSS_PYTHON}
elif [ -n "${TUSS_PYTHON_VERSION:-}" ]; then
    if ! python=$(find_python "${TUSS_PYTHON_VERSION}"); then
        log "error: no working python${TUSS_PYTHON_VERSION} found on PATH or in pyenv" >&2
        exit 1
    fi
else
    python=""
    for v in 3.13 3.12 3.11; do
        if python=$(find_python "${v}"); then break; fi
        python=""
    done
fi
if [ -z "${python}" ]; then
    log "error: no Python >= 3.11 found (looked for python3.13, python3.12, python3.11 on PATH and in pyenv)" >&2
    exit 1
fi
pyver=$("${python}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# The stack of this Python from stacks.txt (its "3.12+" line serves every
# newer 3.x). pip < 26 on 3.11: espnet 202511 needs ci_sdr, whose metadata (a
# git URL in an extra) pip 26 refuses to read at all.
stack_line() {
    local minor=${pyver#3.}
    awk -v v="${pyver}" -v m="${minor}" '
        /^#/ || NF < 7 { next }
        $1 == v { print; exit }
        $1 ~ /\+$/ { lo = substr($1, 3, length($1) - 3); if (m + 0 >= lo + 0 && m + 0 < 100) { print; exit } }
    ' "${tools_dir}/stacks.txt"
}
line=$(stack_line)
if [ -z "${line}" ]; then
    log "error: Python ${pyver} (${python}) is not supported (see tools/stacks.txt); need >= 3.11" >&2
    exit 1
fi
read -r _ s_espnet s_torch s_torchaudio pip_spec extra s_numpy _ <<< "${line}"
stack="${s_espnet} ${s_torch} ${s_torchaudio} ${s_numpy}"

TINYSOUNDFONT_VERSION=0.3.7
want="tinysoundfont=${TINYSOUNDFONT_VERSION} python=${pyver} stack=${stack} ${pip_spec} ${extra} setup=$(sha1sum "${root_dir}/setup.py" | cut -c1-12) installer=$(sha1sum "$0" | cut -c1-12)"
if [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${want}" ] && [ -x "${venv}/bin/python" ]; then
    log "already installed: ${venv} (Python ${pyver}; ${stack}); nothing to do"
    "${venv}/bin/python" "${tools_dir}/check_install.py" --brief || true
    exit 0
fi

log "using ${python} (Python ${pyver}) -> stack: ${stack}"
start=$(date +%s)
if [ ! -x "${venv}/bin/python" ] || [ "$("${venv}/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "${pyver}" ]; then
    rm -rf "${venv}"
    "${python}" -m venv "${venv}"
fi
rm -f "${stamp}"
"${venv}/bin/python" -m pip install --quiet --upgrade "${pip_spec}" wheel "${extra}"
# one resolve for everything, so pip cannot upgrade torch behind espnet's back
# shellcheck disable=SC2086
"${venv}/bin/python" -m pip install --progress-bar off ${stack} "${extra}" -e "${root_dir}[test,mini,onnx,bench]"
# the mini corpus' SoundFont renderer, without its playback dependency (setup.py's "mini" extra)
"${venv}/bin/python" -m pip install --progress-bar off --no-deps "tinysoundfont==${TINYSOUNDFONT_VERSION}"
"${venv}/bin/python" "${tools_dir}/check_install.py"
echo "${want}" > "${stamp}"
log "done in $(( $(date +%s) - start )) s: ${venv} (Python ${pyver}; ${stack})"
