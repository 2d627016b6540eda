#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs a multi-rank test program with BLUEFOG_TIMELINE set and checks every rank's trace: valid
JSON (the array is closed at bf_finalize), balanced B/E events, and the engine's phases (or, with
--require ACTIVITY, that activity; --forbid ACTIVITY: no rank shows it)."""
import json
import os
import subprocess
import sys
import tempfile


def main() -> int:
    args = sys.argv[1:]
    required = {"QUEUE", "COMMUNICATE", "REDUCE", "NEGOTIATE"}
    forbidden = set()
    while args and args[0] in ("--require", "--forbid"):
        if args[0] == "--require":  # phases the run must show on every rank
            required = {args[1]}
        else:
            required = set()
            forbidden.add(args[1])
        args = args[2:]
    mpirun, ranks, program = args[0], args[1], args[2:]
    with tempfile.TemporaryDirectory() as directory:
        prefix = os.path.join(directory, "trace_")
        env = dict(os.environ, BLUEFOG_TIMELINE=prefix)
        subprocess.run([mpirun, "-np", ranks, *program], env=env, check=True)
        for rank in range(int(ranks)):
            with open(f"{prefix}{rank}.json") as trace:
                events = json.load(trace)
            activities = {e.get("name") for e in events if e.get("ph") in ("B", "X")}
            names = {e["args"]["name"] for e in events if e.get("name") == "process_name"}
            for phase in sorted(required):
                if phase not in activities:
                    print(f"rank {rank}: no {phase} event; saw {sorted(activities)}")
                    return 1
            for phase in sorted(forbidden & activities):
                print(f"rank {rank}: a {phase} event, which this run must not have")
                return 1
            opened = {}
            for event in events:
                key = (event.get("pid"), event.get("tid"))
                if event.get("ph") == "B":
                    opened[key] = opened.get(key, 0) + 1
                elif event.get("ph") == "E":
                    opened[key] = opened.get(key, 0) - 1
                    if opened[key] < 0:
                        print(f"rank {rank}: E without B at {key}")
                        return 1
            if any(opened.values()):
                print(f"rank {rank}: unbalanced B/E events {opened}")
                return 1
            print(f"rank {rank}: {len(events)} events, {len(names)} op names, phases ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
