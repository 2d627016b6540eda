#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Soak run by hand: RANKS ranks (default 8) of random mixed operations for SECONDS (default 1800),
# every result checked against a closed form, resident memory compared between the end of the
# warm-up (a quarter of the run) and the end. Uses an existing build (default: build).
#
# usage: scripts/soak.sh [SECONDS] [RANKS] [BUILD_DIR]
set -euo pipefail
seconds=${1:-1800}
ranks=${2:-8}
build=${3:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
exec mpirun -np "$ranks" "$build/tests/mpi/soak_test" --seconds "$seconds"
