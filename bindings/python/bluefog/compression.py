# SPDX-License-Identifier: Apache-2.0
"""Compressed neighbor averaging (docs/compression.md).

``compression=`` on neighbor_allreduce, hierarchical_neighbor_allreduce, the bluefog.torch
optimizers and ``init`` takes ``None`` (the init default), a name — ``"none"``, ``"bf16"``,
``"fp16"``, ``"int8"``, ``"topk"`` — or a :class:`Compression` for the details. Lossy modes keep
error feedback by default: the engine keeps, per (name, neighbor), what the neighbor has of this
rank's tensor and sends only the encoded difference, so repeated averaging still reaches the
exact mean. That state is per name: name the operation (the optimizers do).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ._native import lib

__all__ = ["Compression", "CompressionSpec"]

_KINDS = {
    "none": lib.BF_COMPRESSION_NONE,
    "bf16": lib.BF_COMPRESSION_BFLOAT16,
    "fp16": lib.BF_COMPRESSION_FLOAT16,
    "int8": lib.BF_COMPRESSION_INT8,
    "topk": lib.BF_COMPRESSION_TOPK,
}


@dataclass(frozen=True)
class Compression:
    """How this rank's neighbor messages are encoded.

    Attributes:
        kind: "none", "bf16", "fp16", "int8" (one float32 scale per 256 elements) or "topk".
        ratio: top-k fraction kept, in (0, 1]; 0 takes the init default (0.01).
        error_feedback: None (on for every lossy kind), True or False. Off sends the encoded
            tensor itself, and the ranks' mean drifts.
        consensus_step: the step of compressed averaging in (0, 1]; 0 takes 1, or
            min(1, 2 * ratio) for top-k.
    """

    kind: str = "int8"
    ratio: float = 0.0
    error_feedback: Optional[bool] = None
    consensus_step: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"compression kind must be one of {sorted(_KINDS)}, got {self.kind!r}")
        if not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"compression ratio must be in (0, 1] (or 0 for the default), got "
                             f"{self.ratio!r}")
        if not 0.0 <= self.consensus_step <= 1.0:
            raise ValueError(f"consensus_step must be in (0, 1] (or 0 for the default), got "
                             f"{self.consensus_step!r}")


CompressionSpec = Union[None, str, Compression]


def _as_compression(spec: CompressionSpec) -> Optional[Compression]:
    if spec is None or isinstance(spec, Compression):
        return spec
    if isinstance(spec, str):
        return Compression(kind=spec)
    raise ValueError(f"compression must be None, a name ({', '.join(sorted(_KINDS))}) or a "
                     f"bluefog.Compression, got {spec!r}")


def neighbor_fields(spec: CompressionSpec) -> dict:
    """The bf_neighbor_args fields for `spec` (empty: the init default)."""
    compression = _as_compression(spec)
    if compression is None:
        return {}
    feedback = {None: lib.BF_ERROR_FEEDBACK_DEFAULT, True: lib.BF_ERROR_FEEDBACK_ON,
                False: lib.BF_ERROR_FEEDBACK_OFF}[compression.error_feedback]
    return {"compression": _KINDS[compression.kind], "topk_ratio": float(compression.ratio),
            "error_feedback": feedback, "consensus_step": float(compression.consensus_step)}


def init_fields(spec: CompressionSpec) -> dict:
    """The bf_init_options fields for `spec` (the default of neighbor averaging)."""
    compression = _as_compression(spec)
    if compression is None:
        return {}
    if compression.error_feedback is not None or compression.consensus_step:
        raise ValueError("init(compression=...) sets the kind and top-k ratio only; give "
                         "error_feedback and consensus_step per operation")
    return {"compression": _KINDS[compression.kind], "topk_ratio": float(compression.ratio)}
