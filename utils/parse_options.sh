#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Command-line options for recipe scripts. Source it after setting defaults:
#
#   stage=1; fs=16k; inference_prompts=""
#   help_message="Usage: $0 [options]"
#   . utils/parse_options.sh
#
# Every leading "--name value" or "--name=value" sets the shell variable
# "name" (dashes become underscores, so --stop-stage == --stop_stage). The
# variable must already exist as an option of the script: a lower-case name,
# not exported (so --PATH, --HOME or --BASH_ENV never reach the environment).
# A variable whose default is true/false only takes true/false, and one whose
# default is a whole number (--stage, --nj) only takes a whole number. An
# unknown option is refused; if the recipe sets option_pointers (lines
# "<name> <what to use instead>"), the refusal for such a name says what to use
# instead. "--config FILE" sources FILE (assignments). "--help" / "-h"
# prints $help_message. Parsing stops at the first word not starting with "--";
# the remaining words stay in "$@".

while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h)
            echo "${help_message:-$0: no help available}"
            exit 0 ;;
        --*=*)
            __opt=${1%%=*}; __val=${1#*=}; shift ;;
        --*)
            __opt=$1
            if [ $# -lt 2 ]; then
                echo "$0: option $1 needs a value" >&2
                exit 1
            fi
            __val=$2; shift 2 ;;
        *)
            break ;;
    esac
    __name=${__opt#--}
    __name=${__name//-/_}
    if [ "${__name}" = config ]; then
        if [ ! -f "${__val}" ]; then
            echo "$0: config file ${__val} not found" >&2
            exit 1
        fi
        # shellcheck disable=SC1090
        . "${__val}"
        continue
    fi
    __flags=$(declare -p "${__name}" 2>/dev/null || true); __flags=${__flags#declare -}; __flags=${__flags%% *}
    if ! [[ "${__name}" =~ ^[a-z][a-z0-9_]*$ ]] || [ -z "${!__name+set}" ] || [[ "${__flags}" == *x* ]]; then
        # a recipe's option_pointers ("<name> <what to use instead>" lines) names our equivalent
        __hint=$(printf '%s\n' "${option_pointers:-}" | awk -v n="${__name}" '$1 == n { sub(/^[^ ]+ +/, ""); print; exit }')
        if [ -n "${__hint}" ]; then
            echo "$0: option ${__opt} is not supported here: ${__hint}" >&2
        else
            echo "$0: invalid option ${__opt} (no such option; see --help)" >&2
        fi
        exit 1
    fi
    if [[ "${!__name}" =~ ^-?[0-9]+$ ]] && ! [[ "${__val}" =~ ^-?[0-9]+$ ]]; then
        echo "$0: option ${__opt} takes a whole number, got '${__val}'" >&2
        exit 1
    fi
    if { [ "${!__name}" = true ] || [ "${!__name}" = false ]; } \
        && [ "${__val}" != true ] && [ "${__val}" != false ]; then
        echo "$0: option ${__opt} takes true or false, got '${__val}'" >&2
        exit 1
    fi
    printf -v "${__name}" '%s' "${__val}"
done
unset __opt __val __name __flags __hint
true
