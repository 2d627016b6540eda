# SPDX-License-Identifier: Apache-2.0
"""Loads the SWIG extension ``bluefog._bluefog`` and holds the few helpers every module needs."""
from __future__ import annotations

from typing import NoReturn

from . import _bluefog as lib  # noqa: F401  (re-exported for the other modules)

__all__ = ["lib", "raise_status", "status_name"]

_STATUS_NAMES = {
    getattr(lib, name): name for name in dir(lib) if name == "BF_OK" or name.startswith("BF_ERR_")
}


def status_name(status: int) -> str:
    """The constant's name of a bf_status value ("BF_ERR_MISMATCH")."""
    return _STATUS_NAMES.get(status, f"bf_status {status}")


def raise_status(status: int, message: str) -> NoReturn:
    """Raises the exception the extension raises for a failed call: ValueError for
    BF_ERR_INVALID_ARGUMENT and BF_ERR_SUSPENDED, RuntimeError otherwise, with ``.status`` set."""
    value_errors = (lib.BF_ERR_INVALID_ARGUMENT, lib.BF_ERR_SUSPENDED)
    error_type = ValueError if status in value_errors else RuntimeError
    error = error_type(message or status_name(status))
    error.status = status  # type: ignore[attr-defined]
    raise error
