#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds BlueFog-C with ThreadSanitizer into build-tsan/ (set up on first use) and runs the test
# suite 'tsan': the four-threads-per-rank concurrency test at 2 and 4 ranks, and the collective
# and neighbor tests at 4 ranks (tests/mpi/meson.build). The suppressions for Open MPI, which is
# not instrumented, are in tests/tsan.supp; meson passes TSAN_OPTIONS (halt on the first report)
# to every rank. Results: build-tsan/meson-logs/testlog.json. Dependencies as for scripts/test.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ ! -f build-tsan/build.ninja ]; then
  # -Db_lundef=false: the sanitizer runtime is linked into executables, not into libbluefog.so.
  meson setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dbench=false
fi
meson compile -C build-tsan -j "$(nproc)"
meson test -C build-tsan --suite tsan --print-errorlogs "$@"
