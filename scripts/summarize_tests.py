#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reads meson testlog.json files and prints the closing line CI reads:
"N passed, N failed, N skipped". A build step that failed counts as one failure."""
import argparse
import json
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--failed-steps", type=int, default=0)
    args = parser.parse_args()
    passed = failed = skipped = 0
    for path in args.logs:
        if not os.path.exists(path):
            print(f"missing test log {path}: its build did not run tests")
            failed += 1
            continue
        with open(path) as log:
            for line in log:
                result = json.loads(line).get("result")
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    # A failed build or setup step produced no test results of its own.
    if args.failed_steps and failed == 0:
        failed += args.failed_steps
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
