#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages BlueFog-C needs to build, test and benchmark. Idempotent:
# about 3 minutes on a fresh machine, about a second when everything is present.
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build
  libopenmpi-dev openmpi-bin
  swig libdlpack-dev libgtest-dev libbenchmark-dev
  python3-dev python3-numpy python3-pytest python3-networkx python3-matplotlib python3-venv
  python3-torch python3-sklearn
  clang libclang-rt-14-dev  # libFuzzer harnesses (scripts/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tree-sitter-julia checks BlueFog.jl's syntax and ccalls (no Julia runtime exists here).
julia_venv=${BLUEFOG_JULIA_CHECK_VENV:-$HOME/.cache/bluefog/julia-check-venv}
if ! "$julia_venv/bin/python" -c 'import tree_sitter, tree_sitter_julia' 2>/dev/null; then
  /usr/bin/python3 -m venv "$julia_venv"
  "$julia_venv/bin/pip" install --quiet tree-sitter==0.26.1 tree-sitter-julia==0.23.1
fi

# JAX for the Python bindings' JAX tests, in a venv that keeps Debian's NumPy 1.24 and SciPy.
root=$(cd "$(dirname "$0")/.." && pwd)
if ! "$root/.venv-jax/bin/python" -c 'import jax' 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$root/.venv-jax"
  "$root/.venv-jax/bin/pip" install --quiet jax==0.4.30 jaxlib==0.4.30 \
    -c "$root/bindings/python/jax-constraints.txt"
fi
