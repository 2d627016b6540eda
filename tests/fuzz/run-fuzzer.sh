#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one libFuzzer harness for `meson test` (tests/fuzz/meson.build).
#   run-fuzzer.sh replay HARNESS CORPUS_DIR ARTIFACT_DIR [libFuzzer flags...]
#     runs every committed input once (seeds and regression inputs): a deterministic check.
#   run-fuzzer.sh fuzz HARNESS CORPUS_DIR ARTIFACT_DIR [libFuzzer flags...]
#     fuzzes starting from the corpus; new inputs go to a temporary directory (removed after),
#     never into the committed corpus. A crash, leak, timeout or OOM input is written to
#     ARTIFACT_DIR and fails the test.
set -uo pipefail
mode=$1 harness=$2 corpus=$3 artifacts=$4
shift 4
mkdir -p "$artifacts"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# libFuzzer's own failure status is 77, which meson reads as "skipped": make every failure 1.
common=(-artifact_prefix="$artifacts/" -timeout=10 -print_final_stats=1 -error_exitcode=1
        -timeout_exitcode=1)

case $mode in
  replay)
    shopt -s nullglob
    inputs=("$corpus"/*)
    if [ ${#inputs[@]} -eq 0 ]; then
      echo "no inputs in $corpus"
      exit 1
    fi
    "$harness" "${common[@]}" "$@" "${inputs[@]}"
    status=$?
    ;;
  fuzz)
    work=$(mktemp -d "${TMPDIR:-/tmp}/bluefog-fuzz.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    "$harness" "${common[@]}" "$@" "$work" "$corpus"
    status=$?
    echo "new inputs this run: $(find "$work" -type f | wc -l) (discarded)"
    ;;
  *)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac
if [ $status -eq 77 ]; then status=1; fi  # never let a failure read as a skip
if [ $status -ne 0 ]; then
  echo "FAILED: the input is in $artifacts (crash-*, leak-*, timeout-*, oom-*)." >&2
  echo "Reproduce: $harness <file>; minimize: $harness -minimize_crash=1 -runs=10000 <file>;" \
       "then add it as tests/fuzz/corpus/$(basename "$harness" | sed 's/^fuzz_//')/regress-<what>." >&2
fi
exit $status
