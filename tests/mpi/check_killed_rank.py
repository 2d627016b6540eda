#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs killed_rank under mpirun and checks that the job ends with an error within 60 s.

usage: check_killed_rank.py MPIRUN NP PROGRAM [KILL_AT_STEP]
"""
import subprocess
import sys
import time

LIMIT_S = 60


def main() -> int:
    mpirun, np, program = sys.argv[1:4]
    kill_at = sys.argv[4] if len(sys.argv) > 4 else "20"
    start = time.monotonic()
    try:
        run = subprocess.run([mpirun, "-np", np, program, kill_at], capture_output=True,
                             text=True, timeout=LIMIT_S + 30)
    except subprocess.TimeoutExpired:
        print(f"FAIL: the job was still running after {LIMIT_S + 30} s: a hang")
        return 1
    elapsed = time.monotonic() - start
    output = run.stdout + run.stderr
    print(output[-3000:])
    if "killing myself" not in output:
        print("FAIL: the victim rank never reached its kill step")
        return 1
    if run.returncode == 0:
        print("FAIL: mpirun reported success although a rank was killed")
        return 1
    if elapsed > LIMIT_S:
        print(f"FAIL: the job took {elapsed:.1f} s to end (limit {LIMIT_S} s)")
        return 1
    print(f"OK: the job ended with exit status {run.returncode} after {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
