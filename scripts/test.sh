#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up and runs every test: installs dependencies, builds (release-ish, ASan+UBSan,
# ThreadSanitizer, and the libFuzzer harnesses with clang), runs `meson test` in each, and prints
# one summary line "N passed, N failed, N skipped".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }

jobs=$(nproc)
failed_steps=0

build_and_test() {  # build_dir, meson setup options, meson test options...
  local dir=$1 setup_options=$2
  shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" $setup_options || return 1
  fi
  meson compile -C "$dir" -j "$jobs" || return 1
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" "$@"
}

echo "== build and test (-O3 -g)"
build_and_test build "" || failed_steps=$((failed_steps + 1))

echo "== build and test (ASan + UBSan)"
# Open MPI's own allocations are not freed at exit, so leak detection is off; every other
# ASan/UBSan finding aborts the test.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  build_and_test build-asan "-Db_sanitize=address,undefined -Db_lundef=false -Dbench=false" \
    --suite unit --suite capi --suite mpi --suite examples \
  || failed_steps=$((failed_steps + 1))

echo "== without CUDA (-Dcuda=disabled): the library, the C API checks, GPU tensors refused"
nocuda() {
  if [ ! -f build-nocuda/build.ninja ]; then
    meson setup build-nocuda -Dcuda=disabled -Dbench=false || return 1
  fi
  # Only what these tests need: the rest was built and tested above with CUDA.
  meson compile -C build-nocuda -j "$jobs" bluefog header_c99 bad_input_test device_test || return 1
  meson test -C build-nocuda --no-rebuild --print-errorlogs capi/header_c99_lifecycle \
    capi/exported_symbols mpi/bad_input_test-np1 mpi/device_test-np2-emulated
}
nocuda || failed_steps=$((failed_steps + 1))

echo "== ThreadSanitizer suite"
bash scripts/tsan.sh || failed_steps=$((failed_steps + 1))

echo "== libFuzzer harnesses (corpus replay, then a fixed-seed run of each)"
bash scripts/fuzz.sh || failed_steps=$((failed_steps + 1))

/usr/bin/python3 scripts/summarize_tests.py build/meson-logs/testlog.json \
  build-asan/meson-logs/testlog.json build-nocuda/meson-logs/testlog.json \
  build-tsan/meson-logs/testlog.json \
  build-fuzz/meson-logs/testlog.json \
  --failed-steps "$failed_steps"
