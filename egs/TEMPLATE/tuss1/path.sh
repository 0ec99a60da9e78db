# SPDX-License-Identifier: Apache-2.0
# Environment of a recipe: sourced by run.sh / tuss.sh from egs/<corpus>/tuss1.
# the repository root, found from this file's real location (recipes link to it)
MAIN_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)
export MAIN_ROOT
# the environment: tools/venv, or the one TUSS_VENV names (e.g. the Python 3.11
# stack: TUSS_VENV=$MAIN_ROOT/tools/venv-py311 ./run.sh)
TUSS_VENV=${TUSS_VENV:-${MAIN_ROOT}/tools/venv}
# a fresh clone: the default environment is installed here, once (make -C tools;
# a few minutes; parallel recipes wait for the first one's install)
if [ ! -f "${TUSS_VENV}/bin/activate" ] && [ "${TUSS_VENV}" = "${MAIN_ROOT}/tools/venv" ]; then
    echo "path.sh: ${TUSS_VENV} not found; installing it: make -C ${MAIN_ROOT}/tools" >&2
    if command -v flock > /dev/null; then
        flock "${MAIN_ROOT}/tools/.install.lock" make -C "${MAIN_ROOT}/tools" >&2
    else
        make -C "${MAIN_ROOT}/tools" >&2
    fi || { echo "path.sh: make -C ${MAIN_ROOT}/tools failed (see above)" >&2; return 1 2>/dev/null || exit 1; }
fi
if [ -f "${TUSS_VENV}/bin/activate" ]; then
    # shellcheck disable=SC1091
    . "${TUSS_VENV}/bin/activate"
else
    echo "path.sh: ${TUSS_VENV} not found; run: make -C ${MAIN_ROOT}/tools" >&2
    return 1 2>/dev/null || exit 1
fi
export PATH="${MAIN_ROOT}/utils:${PATH}"
# the plugin of this checkout, also when the environment was installed from another
export PYTHONPATH="${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
export PYTHONIOENCODING=UTF-8
export PYTHONUNBUFFERED=1
# parallel jobs get their thread count from the job runner (--num-threads)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# shellcheck disable=SC1091
[ -f local/path.sh ] && . local/path.sh
true
