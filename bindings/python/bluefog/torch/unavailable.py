# SPDX-License-Identifier: Apache-2.0
"""BlueFog API whose engine support does not exist in BlueFog-C yet.

Every name is present so that scripts import unchanged; calling one raises NotImplementedError
naming the engine feature it waits for. Nothing here is emulated.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = [
    "win_create", "win_free", "win_update", "win_update_then_collect", "neighbor_win_put",
    "neighbor_win_put_nonblocking", "neighbor_win_get", "neighbor_win_get_nonblocking",
    "neighbor_win_accumulate", "neighbor_win_accumulate_nonblocking", "win_put",
    "win_put_nonblocking", "win_get", "win_get_nonblocking", "win_accumulate",
    "win_accumulate_nonblocking", "win_wait", "win_poll", "win_mutex", "get_win_version",
    "get_current_created_window_names", "win_associated_p", "turn_on_win_ops_with_associated_p",
    "turn_off_win_ops_with_associated_p", "win_lock", "unified_mpi_window_model_supported",
    "mpi_threads_supported",
    "suspend", "resume",
]

_WINDOWS = ("one-sided window operations (bf_win_create, bf_win_put, bf_win_get, "
            "bf_win_accumulate, bf_win_update, window mutexes and versions)")


def _unavailable(name: str, feature: str) -> Callable[..., Any]:
    def function(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"bluefog.torch.{name} needs {feature}, which the BlueFog-C engine does not "
            "provide yet")

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Not available: needs {feature} in the engine."
    return function


for _name in __all__[:26]:
    globals()[_name] = _unavailable(_name, _WINDOWS)
mpi_threads_supported = _unavailable(
    "mpi_threads_supported", "a query of the MPI thread level the engine runs with")
suspend = _unavailable("suspend", "a way to pause and resume the engine thread")
resume = _unavailable("resume", "a way to pause and resume the engine thread")
del _name
