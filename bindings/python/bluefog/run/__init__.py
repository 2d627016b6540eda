# SPDX-License-Identifier: Apache-2.0
"""``python -m bluefog.run``: BlueFog-C's launcher ``bfrun`` (docs/bfrun.md), as BlueFog had it.

bfrun is one standard-library script (tools/bfrun, installed to <prefix>/bin by meson install);
this module finds it and runs it with this interpreter, passing the arguments through.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import List, NoReturn, Optional

__all__ = ["find_bfrun", "main"]


def find_bfrun() -> str:
    """Path of the bfrun script: $BLUEFOG_BFRUN, the source tree's tools/bfrun, then bfrun in
    this interpreter's prefix or on PATH."""
    candidates = [os.environ.get("BLUEFOG_BFRUN"),
                  str(Path(__file__).resolve().parents[4] / "tools" / "bfrun"),
                  str(Path(sys.prefix) / "bin" / "bfrun"),
                  shutil.which("bfrun")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return candidate
    raise SystemExit("bluefog.run: bfrun not found; set BLUEFOG_BFRUN, or install BlueFog-C "
                     "with meson install (it puts bfrun in <prefix>/bin)")


def main(argv: Optional[List[str]] = None) -> NoReturn:
    """Replaces this process with ``bfrun ARGS`` (bfrun execs mpirun in turn)."""
    args = sys.argv[1:] if argv is None else argv
    bfrun = find_bfrun()
    os.execv(sys.executable, [sys.executable, bfrun, *args])
