#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs check_julia.py with a Python that has tree-sitter and tree-sitter-julia: the venv named by
# BLUEFOG_JULIA_CHECK_VENV (default ~/.cache/bluefog/julia-check-venv, which
# scripts/install-deps.sh creates), else python3 (the check then exits 77, skipped, if the
# modules are missing).
set -euo pipefail
venv=${BLUEFOG_JULIA_CHECK_VENV:-$HOME/.cache/bluefog/julia-check-venv}
python=python3
[ -x "$venv/bin/python" ] && python=$venv/bin/python
exec "$python" "$(dirname "$0")/check_julia.py" "$@"
