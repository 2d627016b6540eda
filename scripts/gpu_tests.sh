#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The GPU checks, as one script for a machine with NVIDIA GPUs (docs/gpu.md): configures
# build-gpu (CUDA required; NCCL when found), builds, and runs suite 'gpu' (gtest and pytest on
# real device memory: 1 rank on the NCCL path, 2 ranks sharing the GPU on the host-staged path,
# which NCCL does not allow) followed by the emulated-device tests. Logs land in build-gpu/meson-logs/. Arguments go to
# `meson test` (e.g. --verbose).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${BLUEFOG_GPU_BUILD_DIR:-build-gpu}
export PATH=/usr/local/cuda/bin:$PATH

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
  --format=csv,noheader
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" -Dcuda=enabled -Dbench=false || exit 1
fi
meson compile -C "$dir" || exit 1
meson test -C "$dir" --no-rebuild --print-errorlogs --suite gpu "$@"
gpu_status=$?
meson test -C "$dir" --no-rebuild --print-errorlogs "$@" \
  $(meson test -C "$dir" --list 2>/dev/null | sed -n 's|^bluefog:mpi / \(mpi/device_test-.*\)$|\1|p')
emulated_status=$?
echo "gpu suite: exit $gpu_status; emulated device tests: exit $emulated_status"
[ $gpu_status -eq 0 ] && [ $emulated_status -eq 0 ]
