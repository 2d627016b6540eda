#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer harnesses (clang, ASan + UBSan) in build-fuzz and runs `meson test --suite
# fuzz`: every committed input replayed once, then each harness fuzzed from a fixed seed for a
# fixed number of runs (about 15 s each, a minute or so in all). Results land in
# build-fuzz/meson-logs/testlog.json. Extra arguments go to `meson test` (e.g.
# --test-args='-runs=-1 -max_total_time=60 -seed=0'). Fuzzing by hand: docs/reliability.md.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${BLUEFOG_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${BLUEFOG_FUZZ_JOBS:-$(nproc)}

if [ ! -f "$dir/build.ninja" ]; then
  # Only the harnesses and their instrumented core are compiled below, so the rest of the
  # project (bindings, examples) merely configures; tests and benchmarks are not even configured.
  CC=clang CXX=clang++ meson setup "$dir" -Dfuzz=true -Dtests=false -Dbench=false || exit 1
fi
harnesses=(fuzz_tensor fuzz_topology fuzz_config fuzz_args fuzz_compression)
# An existing build dir regenerates first, so harnesses added since it was set up are known.
ninja -C "$dir" build.ninja >/dev/null || exit 1
meson compile -C "$dir" -j "$jobs" "${harnesses[@]}" || exit 1
# --no-rebuild: what the suite needs was just built; a rebuild would compile the whole project.
meson test -C "$dir" --no-rebuild --suite fuzz --print-errorlogs "$@"
