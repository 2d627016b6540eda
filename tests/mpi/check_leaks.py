#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""LeakSanitizer over a short soak run (ASan builds only): every leak LSan reports must come from
Open MPI, never from BlueFog.

Open MPI does not free everything it allocates, and some of its components are unloaded at
MPI_Finalize, so their frames print as <unknown module> and no suppression can name them. So the
ranks run with leak detection on but a zero exit code for leaks, each writes its report to a
file, and this script fails if any reported stack has a BlueFog frame (bluefog:: or a file
under src/), or if a rank wrote no report at all.

usage: check_leaks.py MPIRUN RANKS SOAK_TEST SECONDS
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

OPEN_MPI_LIBRARIES = ["libmpi.so", "libopen-pal.so", "libopen-rte.so", "libpmix.so",
                      "libhwloc.so", "libevent", "mca_"]
OURS = re.compile(r"bluefog::|/src/(api|core|ops|backend|topology|window)/")


def main():
    mpirun, ranks, soak, seconds = sys.argv[1:5]
    with tempfile.TemporaryDirectory(prefix="bluefog-lsan-") as work:
        suppressions = os.path.join(work, "lsan.supp")
        with open(suppressions, "w") as out:
            out.writelines(f"leak:{library}\n" for library in OPEN_MPI_LIBRARIES)
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        env["LSAN_OPTIONS"] = (f"suppressions={suppressions}:exitcode=0:print_suppressions=0:"
                               f"log_path={work}/lsan")
        run = subprocess.run([mpirun, "-x", "ASAN_OPTIONS", "-x", "LSAN_OPTIONS", "-np", ranks,
                              soak, "--seconds", seconds,
                              # ASan's quarantine keeps freed blocks: resident memory grows by
                              # design here, so the soak's own growth check is left to -O3 runs.
                              "--max-growth-mib", "1000000"], env=env, check=False)
        if run.returncode != 0:
            print(f"FAIL: the soak run itself failed (exit {run.returncode})")
            return 1
        reports = sorted(glob.glob(os.path.join(work, "lsan.*")))
        ours, total_bytes = [], 0
        for path in reports:
            text = open(path, errors="replace").read()
            total_bytes += sum(int(n) for n in re.findall(r"(\d+) byte\(s\) leaked", text))
            for block in text.split("\n\n"):
                if ("Direct leak" in block or "Indirect leak" in block) and OURS.search(block):
                    ours.append(block.strip())
        print(f"{len(reports)} LeakSanitizer reports, {total_bytes} bytes reported in all "
              f"(Open MPI's, suppressed by library or in unloaded components)")
        if int(ranks) > len(reports):
            # A rank with nothing left to report writes no file; say so, it is not a failure.
            print(f"{int(ranks) - len(reports)} rank(s) reported no leak at all")
        if ours:
            print(f"FAIL: {len(ours)} leak(s) with a BlueFog frame; the first:\n{ours[0]}")
            return 1
        print("no leaked allocation has a BlueFog frame")
        return 0


if __name__ == "__main__":
    sys.exit(main())
