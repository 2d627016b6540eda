#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up and runs the main demo: decentralized training of a small network on scikit-learn's
# handwritten digits across 4 local ranks (one-peer dynamic exponential graph, compared with
# gradient allreduce), launched by bfrun through `import bluefog.torch as bf`; then the C
# consensus example on the static and the one-peer dynamic exponential-2 graph.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

export PYTHONPATH="$root/build/bindings/python:$root/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
echo "== decentralized training on the digits data set, 4 ranks (plot: build/digits.png)"
tools/bfrun -np 4 /usr/bin/python3 examples/python/train_digits.py --plot build/digits.png

echo "== C consensus on the static exponential-2 graph, 4 ranks"
tools/bfrun -np 4 build/examples/c/consensus --topology exp2 --iterations 20
echo "== C consensus with the one-peer dynamic exponential-2 schedule, 4 ranks"
tools/bfrun -np 4 build/examples/c/consensus --topology exp2 --dynamic --iterations 20 \
  --tolerance 1e-3
