# SPDX-License-Identifier: Apache-2.0
"""BlueFog API whose engine support does not exist in BlueFog-C yet.

Every name is present so that scripts import unchanged; calling one raises NotImplementedError
naming the engine feature it waits for. Nothing here is emulated.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["win_lock", "unified_mpi_window_model_supported", "mpi_threads_supported", "suspend",
           "resume"]

_WIN_LOCK = ("an exclusive lock of a window's memory against its neighbors' one-sided accesses "
             "(BlueFog's MPI_Win_lock on the window)")
_WINDOW_MODEL = ("a query of the MPI window memory model (BlueFog-C's windows are served by its "
                 "engine threads, not by MPI windows)")


def _unavailable(name: str, feature: str) -> Callable[..., Any]:
    def function(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"bluefog.torch.{name} needs {feature}, which the BlueFog-C engine does not "
            "provide yet")

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Not available: needs {feature} in the engine."
    return function


win_lock = _unavailable("win_lock", _WIN_LOCK)
unified_mpi_window_model_supported = _unavailable("unified_mpi_window_model_supported",
                                                  _WINDOW_MODEL)
mpi_threads_supported = _unavailable(
    "mpi_threads_supported", "a query of the MPI thread level the engine runs with")
suspend = _unavailable("suspend", "a way to pause and resume the engine thread")
resume = _unavailable("resume", "a way to pause and resume the engine thread")
