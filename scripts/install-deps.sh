#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages BlueFog-C needs to build, test and benchmark. Idempotent:
# about 3 minutes on a fresh machine, about a second when everything is present.
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build
  libopenmpi-dev openmpi-bin
  swig libdlpack-dev libgtest-dev libbenchmark-dev
  python3-dev python3-numpy python3-pytest python3-networkx python3-matplotlib
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
