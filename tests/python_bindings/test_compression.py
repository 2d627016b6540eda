# SPDX-License-Identifier: Apache-2.0
"""Compressed neighbor averaging from Python: the ``compression=`` keyword (names and
bluefog.Compression) on NumPy and torch arrays, error feedback reaching the exact mean, the bias
without it, and the errors BlueFog users get."""
import math

import numpy as np
import pytest

import bluefog as bf
from bluefog.compression import init_fields, neighbor_fields

ELEMENTS = 600


def start(rank):
    i = np.arange(ELEMENTS)
    return 3.0 + rank + 2.0 * np.sin(0.37 * i + 1.3 * rank)


def mean():
    return sum(start(r) for r in range(bf.size())) / bf.size()


def worst_relative_error(x):
    local = np.max(np.abs(np.asarray(x, dtype=np.float64) - mean())) / np.max(np.abs(mean()))
    return float(bf.allreduce(np.array([local]), average=False)[0])  # sum over ranks >= max


@pytest.mark.parametrize("spec, steps", [
    ("int8", 150), ("bf16", 150), ("fp16", 150),
    (bf.Compression("topk", ratio=0.1), 500),
    (bf.Compression("int8", consensus_step=0.5), 300),
])
def test_error_feedback_reaches_the_exact_mean(spec, steps):
    x = start(bf.rank()).astype(np.float32)
    name = f"py.consensus.{spec}"
    for _ in range(steps):
        bf.neighbor_allreduce_(x, name=name, compression=spec)
    assert worst_relative_error(x) < 1e-4 * bf.size()


def test_without_error_feedback_the_mean_drifts():
    if bf.size() < 2:
        pytest.skip("needs neighbors")
    x = start(bf.rank()).astype(np.float32)
    biased = bf.Compression("int8", error_feedback=False)
    for _ in range(150):
        x = bf.neighbor_allreduce(x, compression=biased)  # unnamed is fine without feedback
    assert worst_relative_error(x) > 1e-3


def test_one_peer_dynamic_with_compression():
    r, n = bf.rank(), bf.size()
    if n < 2:
        pytest.skip("needs neighbors")
    x = start(r)  # float64
    distances = [2 ** k for k in range(int(math.log2(n - 1)) + 1) if 2 ** k < n]
    for step in range(200):
        d = distances[step % len(distances)]
        bf.neighbor_allreduce_(x, self_weight=0.5, src_weights={(r - d) % n: 0.5},
                               dst_weights=[(r + d) % n], name="py.one_peer",
                               compression="int8")
    assert worst_relative_error(x) < 1e-4 * n


def test_torch_tensors_and_nonblocking():
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(start(bf.rank()).astype(np.float32))
    for _ in range(150):
        handle = bf.neighbor_allreduce_nonblocking_(x, name="py.torch", compression="bf16")
        bf.synchronize(handle)
    assert worst_relative_error(x.numpy()) < 1e-4 * bf.size()


def test_errors():
    x = start(bf.rank()).astype(np.float32)
    with pytest.raises(ValueError, match="name"):  # error feedback needs a name
        bf.neighbor_allreduce(x, compression="int8")
    with pytest.raises(ValueError, match="compression kind"):
        bf.neighbor_allreduce(x, name="py.bad", compression="zip")
    with pytest.raises(ValueError, match="ratio"):
        bf.Compression("topk", ratio=2.0)
    with pytest.raises(ValueError, match="compression must be"):
        bf.neighbor_allreduce(x, name="py.bad", compression=8)
    with pytest.raises(ValueError, match="integer|float"):
        bf.neighbor_allreduce(np.arange(10, dtype=np.int32), name="py.ints", compression="int8")
    with pytest.raises(ValueError, match="per operation"):
        init_fields(bf.Compression("int8", error_feedback=True))


def test_fields():
    assert neighbor_fields(None) == {}
    fields = neighbor_fields(bf.Compression("topk", ratio=0.05, error_feedback=False))
    assert fields["topk_ratio"] == 0.05
    assert init_fields("bf16") == {"compression": neighbor_fields("bf16")["compression"],
                                   "topk_ratio": 0.0}
