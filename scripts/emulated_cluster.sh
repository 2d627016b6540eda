#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An emulated cluster on one machine (root only): one network namespace per rank, each on a
# rate-shaped link to a bridge, and mpirun launching through an ssh stand-in so every rank is on
# a "host" of its own. Removes every namespace it made on exit, on Ctrl-C and on SIGTERM.
#
# usage:
#   scripts/emulated_cluster.sh --ranks N [--rate RATE] [--queue TIME] [--mca KEY VALUE]...
#       [--keep] -- PROGRAM [ARGS...]
#   scripts/emulated_cluster.sh --smoke [BUILD_DIR]   # CI check of setup and teardown (< 60 s);
#                                                     # exit 77 (skipped) without root
#   scripts/emulated_cluster.sh --cleanup             # remove a set left by --keep or a kill -9
#
#   --ranks N      ranks, one per namespace (1..200)
#   --rate RATE    tc rate of each rank's link, both directions (default 1gbit; "none": unshaped)
#   --queue TIME   tbf queue limit as a delay at that rate (default 5ms)
#   --mca K V      passed to mpirun as --mca K V (repeatable)
#   --keep         leave the namespaces up after a normal exit (not after a signal)
#
# Layout (see docs/performance.md, "Emulated cluster"):
#   namespace bfc-sw   bridge sw0, one port p<i> per rank
#   namespace bfc-r<i> eth0 = 127.77.0.<i+1>/24 (veth to p<i>); host name bfc-r<i> for its processes
#   tbf on eth0 (rank egress) and on p<i> (rank ingress, like a switch port): burst 128 KB,
#   queue limit --queue
# Only loopback-range addresses are used: each namespace gets route_localnet=1 and loses its
# "local 127.0.0.0/8" route, so 127.77.0.0/24 leaves through eth0 instead of looping back.
set -euo pipefail

readonly prefix=bfc-
readonly switch_ns=${prefix}sw
readonly subnet=127.77.0.0/24
readonly work_dir=${TMPDIR:-/tmp}/bfc-emulated-cluster
readonly lock_file=/run/lock/bfc-emulated-cluster.lock
readonly burst=128kb   # >= 64 KB: a TSO/GSO segment must fit in one bucket

ranks=0
rate=1gbit
# tbf queue depth in time: shallow, like a switch port buffer (5 ms at 1 Gbit/s = 625 KB).
queue_latency=5ms
keep=0
mca_args=()
mpirun_pid=
made_namespaces=0
interrupted=0

die() {
  echo "emulated_cluster: $*" >&2
  exit 1
}

usage() {
  sed -n '7,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

rank_ns() { echo "${prefix}r$1"; }
rank_addr() { echo "127.77.0.$(($1 + 1))"; }

# Our namespaces, and only ours: the prefix is reserved for this script.
our_namespaces() {
  ip netns list | awk '{print $1}' | grep "^${prefix}" || true
}

# Ends what still runs inside our namespaces (processes this script started, by id), then
# deletes the namespaces; deleting bfc-sw and bfc-r<i> destroys the bridge and both veth ends.
remove_namespaces() {
  local ns
  local -a pids
  for ns in $(our_namespaces); do
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
    if ((${#pids[@]})); then
      kill -TERM "${pids[@]}" 2>/dev/null || true
      sleep 0.5
      mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
      ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    ip netns delete "$ns" 2>/dev/null || true
  done
  if [[ -n $(our_namespaces) ]]; then
    echo "emulated_cluster: could not remove: $(our_namespaces | tr '\n' ' ')" >&2
    return 1
  fi
}

stop_mpirun() {
  [[ -n $mpirun_pid ]] || return 0
  if kill -0 "$mpirun_pid" 2>/dev/null; then
    kill -TERM "$mpirun_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 "$mpirun_pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$mpirun_pid" 2>/dev/null || true
  fi
  wait "$mpirun_pid" 2>/dev/null || true
  mpirun_pid=
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_mpirun
  if ((made_namespaces)); then
    if ((keep && !interrupted)); then
      echo "emulated_cluster: kept $(our_namespaces | tr '\n' ' ')(remove: $0 --cleanup)" >&2
    else
      remove_namespaces || rc=1
      rm -rf "$work_dir"
    fi
  fi
  exit "$rc"
}

on_signal() {
  interrupted=1
  echo "emulated_cluster: $1, cleaning up" >&2
  [[ $1 == INT ]] && exit 130
  exit 143
}

take_lock() {
  mkdir -p "$(dirname "$lock_file")"
  exec 9>"$lock_file"
  flock -n 9 || die "another emulated cluster is running (lock $lock_file)"
}

shape() {  # namespace device
  [[ $rate == none ]] && return 0
  ip -n "$1" link set "$2" txqueuelen 1000
  tc -n "$1" qdisc replace dev "$2" root tbf rate "$rate" burst "$burst" latency "$queue_latency"
}

create_cluster() {
  made_namespaces=1
  ip netns add "$switch_ns"
  ip -n "$switch_ns" link set lo up
  ip -n "$switch_ns" link add sw0 type bridge
  ip -n "$switch_ns" link set sw0 up
  local i ns
  for ((i = 0; i < ranks; ++i)); do
    ns=$(rank_ns "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.route_localnet=1 \
      net.ipv4.conf.default.route_localnet=1
    # Without this route every 127/8 address is local and nothing would leave through eth0;
    # 127.0.0.1 keeps its own host route.
    ip -n "$ns" route del local 127.0.0.0/8 dev lo table local
    ip link add eth0 netns "$ns" type veth peer name "p$i" netns "$switch_ns"
    ip -n "$switch_ns" link set "p$i" master sw0 up
    ip -n "$ns" addr add "$(rank_addr "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    shape "$ns" eth0
    shape "$switch_ns" "p$i"
  done
}

# The ssh stand-in mpirun's rsh launcher calls as `AGENT [ssh options] HOST COMMAND...`: it runs
# COMMAND, as a remote shell would, in HOST's namespace under a UTS namespace named HOST, so the
# ranks' session directories and shared-memory names differ per "host".
write_agent() {
  cat >"$work_dir/ssh" <<EOF
#!/bin/sh
# Written by scripts/emulated_cluster.sh; removed with the cluster.
while [ \$# -gt 0 ]; do
  case \$1 in
    -[oplLiFJ]) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
host=\$1
shift
case \$host in
  ${prefix}r[0-9]*) ;;
  *) echo "ssh stand-in: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$host" unshare --uts /bin/sh -c 'hostname "\$1" && exec /bin/sh -c "\$2"' \\
  sh "\$host" "\$*"
EOF
  chmod 755 "$work_dir/ssh"
}

write_hostfile() {
  local i
  for ((i = 0; i < ranks; ++i)); do echo "$(rank_ns "$i") slots=1"; done >"$work_dir/hostfile"
}

run_program() {
  local first
  first=$(rank_ns 0)
  # shellcheck disable=SC2054  # "tcp,self" is one argument
  local -a mpirun_cmd=(
    mpirun --allow-run-as-root -np "$ranks" --hostfile "$work_dir/hostfile"
    --bind-to none
    --mca plm_rsh_agent "$work_dir/ssh" --mca plm_rsh_no_tree_spawn 1
    --mca pml ob1 --mca btl tcp,self
    --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet"
    --mca mpi_yield_when_idle 1
    "${mca_args[@]}" "$@"
  )
  echo "emulated_cluster: $ranks ranks, rate $rate, queue $queue_latency, ${mpirun_cmd[*]}" >&2
  # In the background, so that a signal reaches our trap at once rather than after mpirun.
  # shellcheck disable=SC2016  # $1 and $@ belong to the inner shell
  ip netns exec "$first" unshare --uts /bin/sh -c 'hostname "$1" && shift && exec "$@"' \
    sh "$first" "${mpirun_cmd[@]}" 9>&- &
  mpirun_pid=$!
  local rc=0
  wait "$mpirun_pid" || rc=$?
  mpirun_pid=
  return "$rc"
}

# Setup and teardown on 2 ranks: a short cluster_bench run, then an interrupted run; both must
# leave no namespace behind.
smoke() {
  local build=${1:-build}
  local bench=$build/bench/cluster_bench
  [[ -x $bench ]] || die "smoke: $bench not built (meson setup $build -Dbench=true)"
  local start=$SECONDS
  [[ -z $(our_namespaces) ]] || die "smoke: namespaces already present: $(our_namespaces)"
  # A loose gate (0.25 of the rate): this checks that the links exist and are shaped, not
  # that a busy CI machine keeps up with them.
  "$0" --ranks 2 --rate 1gbit --mca coll_tuned_use_dynamic_rules 1 -- \
    "$bench" --bytes 1048576 --reps 3 --rate-gbit 1 --gate 0.25 ||
    die "smoke: the 2-rank cluster_bench run failed"
  [[ -z $(our_namespaces) ]] || die "smoke: left behind after a normal run: $(our_namespaces)"

  "$0" --ranks 2 --rate 1gbit -- sleep 60 &
  local child=$!
  local waited=0
  while [[ -z $(ip netns pids "$(rank_ns 1)" 2>/dev/null) ]] && ((waited < 100)); do
    sleep 0.2
    waited=$((waited + 1))
  done
  ((waited < 100)) || die "smoke: the interrupted run never started its ranks"
  kill -TERM "$child"
  wait "$child" || true
  [[ -z $(our_namespaces) ]] || die "smoke: left behind after SIGTERM: $(our_namespaces)"
  echo "emulated_cluster smoke: OK ($((SECONDS - start)) s)"
}

# Exit 77 (Meson's "skipped") where the smoke check cannot run at all.
smoke_prerequisites() {
  local tool
  if [[ $(id -u) -ne 0 ]]; then
    echo "emulated_cluster smoke: skipped (needs root for network namespaces)" >&2
    exit 77
  fi
  for tool in ip tc unshare flock mpirun hostname; do
    if ! command -v "$tool" >/dev/null; then
      echo "emulated_cluster smoke: skipped ($tool not found)" >&2
      exit 77
    fi
  done
}

main() {
  [[ $# -gt 0 ]] || usage
  if [[ $1 == --smoke ]]; then
    shift
    smoke_prerequisites
    smoke "$@"
    return
  fi
  [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
  case $1 in
    --cleanup)
      take_lock
      remove_namespaces
      rm -rf "$work_dir"
      return
      ;;
  esac
  while [[ $# -gt 0 ]]; do
    case $1 in
      --ranks) ranks=${2:?}; shift 2 ;;
      --rate) rate=${2:?}; shift 2 ;;
      --queue) queue_latency=${2:?}; shift 2 ;;
      --mca) mca_args+=(--mca "${2:?}" "${3:?}"); shift 3 ;;
      --keep) keep=1; shift ;;
      --) shift; break ;;
      *) usage ;;
    esac
  done
  [[ $# -gt 0 ]] || usage
  if ! [[ $ranks =~ ^[0-9]+$ ]] || ((ranks < 1 || ranks > 200)); then
    die "--ranks: 1..200"
  fi
  [[ $rate == none || $rate =~ ^[0-9]+(\.[0-9]+)?([kmg]?bit)$ ]] ||
    die "--rate: e.g. 1gbit, 500mbit, none"
  [[ $queue_latency =~ ^[0-9]+(\.[0-9]+)?(us|ms)$ ]] || die "--queue: e.g. 5ms"

  take_lock
  trap cleanup EXIT
  trap 'on_signal INT' INT
  trap 'on_signal TERM' TERM
  # We hold the lock, so any namespace with our prefix is left over from a killed run.
  if [[ -n $(our_namespaces) ]]; then
    echo "emulated_cluster: removing a stale set: $(our_namespaces | tr '\n' ' ')" >&2
    made_namespaces=1
    remove_namespaces
  fi
  rm -rf "$work_dir"
  mkdir -p "$work_dir"
  create_cluster
  write_agent
  write_hostfile
  run_program "$@"
}

main "$@"
