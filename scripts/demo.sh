#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up and runs the main demo: decentralized averaging (consensus) across 4 local ranks, on
# the static exponential-2 graph and then with the one-peer dynamic schedule, launched by bfrun.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

echo "== static exponential-2 graph, 4 ranks"
tools/bfrun -np 4 build/examples/c/consensus --topology exp2 --iterations 20
echo "== one-peer dynamic exponential-2 schedule, 4 ranks"
tools/bfrun -np 4 build/examples/c/consensus --topology exp2 --dynamic --iterations 20 \
  --tolerance 1e-3
