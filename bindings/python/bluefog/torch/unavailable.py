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


win_create = _unavailable("win_create", _WINDOWS)
win_free = _unavailable("win_free", _WINDOWS)
win_update = _unavailable("win_update", _WINDOWS)
win_update_then_collect = _unavailable("win_update_then_collect", _WINDOWS)
neighbor_win_put = _unavailable("neighbor_win_put", _WINDOWS)
neighbor_win_put_nonblocking = _unavailable("neighbor_win_put_nonblocking", _WINDOWS)
neighbor_win_get = _unavailable("neighbor_win_get", _WINDOWS)
neighbor_win_get_nonblocking = _unavailable("neighbor_win_get_nonblocking", _WINDOWS)
neighbor_win_accumulate = _unavailable("neighbor_win_accumulate", _WINDOWS)
neighbor_win_accumulate_nonblocking = _unavailable("neighbor_win_accumulate_nonblocking", _WINDOWS)
win_put = _unavailable("win_put", _WINDOWS)
win_put_nonblocking = _unavailable("win_put_nonblocking", _WINDOWS)
win_get = _unavailable("win_get", _WINDOWS)
win_get_nonblocking = _unavailable("win_get_nonblocking", _WINDOWS)
win_accumulate = _unavailable("win_accumulate", _WINDOWS)
win_accumulate_nonblocking = _unavailable("win_accumulate_nonblocking", _WINDOWS)
win_wait = _unavailable("win_wait", _WINDOWS)
win_poll = _unavailable("win_poll", _WINDOWS)
win_mutex = _unavailable("win_mutex", _WINDOWS)
get_win_version = _unavailable("get_win_version", _WINDOWS)
get_current_created_window_names = _unavailable("get_current_created_window_names", _WINDOWS)
win_associated_p = _unavailable("win_associated_p", _WINDOWS)
turn_on_win_ops_with_associated_p = _unavailable("turn_on_win_ops_with_associated_p", _WINDOWS)
turn_off_win_ops_with_associated_p = _unavailable("turn_off_win_ops_with_associated_p", _WINDOWS)
win_lock = _unavailable("win_lock", _WINDOWS)
unified_mpi_window_model_supported = _unavailable("unified_mpi_window_model_supported", _WINDOWS)
mpi_threads_supported = _unavailable(
    "mpi_threads_supported", "a query of the MPI thread level the engine runs with")
suspend = _unavailable("suspend", "a way to pause and resume the engine thread")
resume = _unavailable("resume", "a way to pause and resume the engine thread")
