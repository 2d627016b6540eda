#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs bench/neighbor_bench (already built) on 2, 4 and 8 ranks of this machine and collects the
# tables into one markdown file. Builds nothing.
#
# usage: bench/run_neighbor_bench.sh BUILD_DIR [OUTPUT.md] [-- extra neighbor_bench arguments]
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [OUTPUT.md] [-- extra neighbor_bench arguments]" >&2
  exit 2
fi
build_dir=$1
shift
output=neighbor_bench.md
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  output=$1
  shift
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift

bench="$build_dir/bench/neighbor_bench"
if [ ! -x "$bench" ]; then
  echo "$0: $bench not found; build it first (ninja -C $build_dir)" >&2
  exit 1
fi

{
  echo "# neighbor_bench results"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- host: $(nproc) cores, $(uname -sr), $(mpirun --version 2>/dev/null | head -n 1)"
  echo "- load average before the runs: $(cut -d ' ' -f 1-3 /proc/loadavg)"
  echo "- extra arguments: ${*:-none}"
  echo
} >"$output"

for ranks in 2 4 8; do
  # Ranks beyond the core count must yield when they poll, or they starve the rank they wait for.
  extra_mca=""
  if [ "$ranks" -gt 4 ]; then
    extra_mca="--mca mpi_yield_when_idle 1"
  fi
  echo "running $ranks ranks..." >&2
  # shellcheck disable=SC2086  # extra_mca is a list of words on purpose
  mpirun --allow-run-as-root --oversubscribe $extra_mca -np "$ranks" "$bench" "$@" >>"$output"
done
echo "wrote $output" >&2
