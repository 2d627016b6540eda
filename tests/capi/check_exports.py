#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The shared library exports exactly the functions bluefog.h declares: no bf_* missing, and
nothing else (no leaked C++ or libstdc++ symbols)."""
import re
import subprocess
import sys


def header_functions(header: str) -> set:
    text = open(header).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return set(re.findall(r"BF_API[^;(]*?\b(bf_\w+)\s*\(", text))


def exported_symbols(library: str) -> set:
    out = subprocess.run(["nm", "-D", "--defined-only", library], check=True,
                         capture_output=True, text=True).stdout
    symbols = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] not in ("A",):  # skip the version node (BLUEFOG_0)
            symbols.add(parts[2].split("@")[0])
    return symbols


def main() -> int:
    header, library = sys.argv[1], sys.argv[2]
    declared = header_functions(header)
    exported = exported_symbols(library)
    missing = sorted(declared - exported)
    extra = sorted(exported - declared)
    print(f"{len(declared)} functions declared in bluefog.h, {len(exported)} symbols exported")
    if missing:
        print("declared but not exported:", ", ".join(missing))
    if extra:
        print("exported but not declared:", ", ".join(extra[:50]))
    return 1 if missing or extra or not declared else 0


if __name__ == "__main__":
    sys.exit(main())
