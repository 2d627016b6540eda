# SPDX-License-Identifier: Apache-2.0
"""User activities in the engine's timeline (a Chrome trace per rank, enabled by setting
BLUEFOG_TIMELINE=<prefix> before init; see docs/timeline.md)."""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from ._native import lib

__all__ = ["timeline_start_activity", "timeline_end_activity", "timeline_context"]

logger = logging.getLogger("bluefog")
_reported_off = False


def _record(call, *args: str) -> bool:
    global _reported_off
    try:
        call(*args)
    except RuntimeError as error:
        if getattr(error, "status", None) != lib.BF_ERR_UNSUPPORTED:
            raise
        if not _reported_off:
            logger.error("Timeline is not enabled: set BLUEFOG_TIMELINE=<prefix> before init to "
                         "record activities (%s)", error)
            _reported_off = True
        return False
    return True


def timeline_start_activity(tensor_name: str, activity_name: str) -> bool:
    """Begins ``activity_name`` in the row ``tensor_name`` of this rank's timeline. Returns
    False when the timeline is off (logged once). Begin and end on the same thread."""
    return _record(lib.bf_timeline_start_activity, str(tensor_name), str(activity_name))


def timeline_end_activity(tensor_name: str) -> bool:
    """Ends the innermost activity this thread began under ``tensor_name``."""
    return _record(lib.bf_timeline_end_activity, str(tensor_name))


@contextlib.contextmanager
def timeline_context(tensor_name: str, activity_name: str) -> Iterator[None]:
    """Records the body of the ``with`` statement as an activity."""
    timeline_start_activity(tensor_name, activity_name)
    try:
        yield
    finally:
        timeline_end_activity(tensor_name)
