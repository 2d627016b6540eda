#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one cargo command of the Rust bindings with its test/example binaries under
# `mpirun -np RANKS` (Meson's rust suite calls this). Usage: cargo-run.sh RANKS SUBCOMMAND [ARGS...]
# Environment: CARGO (default: cargo), CARGO_TARGET_DIR, BLUEFOG_LIB_DIR (directory of
# libbluefog.so; default: found through pkg-config).
set -euo pipefail
ranks=$1
subcommand=$2
shift 2
cd "$(dirname "$0")"
cargo=${CARGO:-cargo}
rustc=$(dirname "$cargo")/rustc
[ -x "$rustc" ] || rustc=rustc
# A triple-specific runner set in the environment takes precedence over .cargo/config.toml's.
host=$("$rustc" -vV | sed -n 's/^host: //p')
runner_var="CARGO_TARGET_$(printf '%s' "$host" | tr 'a-z.-' 'A-Z__')_RUNNER"
export "$runner_var=mpirun --oversubscribe -np $ranks"
exec "$cargo" "$subcommand" --offline "$@"
