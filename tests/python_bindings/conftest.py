# SPDX-License-Identifier: Apache-2.0
# Shared setup of the Python binding tests. Each test file runs as `mpirun -np N python3 -m pytest
# FILE`: every rank is one pytest process running the same tests in the same order, so collective
# calls line up. BlueFog starts once per process; bluefog.init registers shutdown at exit, which
# mpirun needs to report success.
import os

import numpy as np
import pytest

import bluefog as bf

WORLD_SIZE = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))


def pytest_configure(config):
    # Two ranks per "machine" when the world splits evenly, so hierarchical operations have
    # several machines to work with; otherwise machines come from shared memory (one machine).
    nodes = 2 if WORLD_SIZE % 2 == 0 else None
    bf.init(nodes_per_machine=nodes)


@pytest.fixture(autouse=True)
def default_topology():
    """Every test starts from the default topology (exponential-two, unweighted)."""
    bf.set_topology(bf.ExponentialGraph(bf.size()))
    yield


class NumpyKind:
    """Arrays of one framework: make them from NumPy data, read them back, find their memory."""

    name = "numpy"

    @staticmethod
    def make(data):
        return np.array(data)

    @staticmethod
    def numpy(x):
        assert isinstance(x, np.ndarray), type(x)
        return x

    @staticmethod
    def ptr(x):
        return x.__array_interface__["data"][0]


class TorchKind:
    name = "torch"

    @staticmethod
    def make(data):
        import torch
        return torch.from_numpy(np.array(data))

    @staticmethod
    def numpy(x):
        import torch
        assert isinstance(x, torch.Tensor), type(x)
        return x.numpy()

    @staticmethod
    def ptr(x):
        return x.data_ptr()


try:
    import torch  # noqa: F401
    KINDS = [NumpyKind, TorchKind]
except ImportError:  # PyTorch is optional for the framework-agnostic tests
    KINDS = [NumpyKind]


@pytest.fixture(params=KINDS, ids=lambda kind: kind.name)
def kind(request):
    return request.param


def rank_data(rank, shape=(3, 2), dtype=np.float64):
    """Deterministic, rank-dependent test data: value(rank, i) = (rank + 1) * (i + 1) + rank."""
    count = int(np.prod(shape))
    values = (rank + 1) * (np.arange(count) + 1.0) + rank
    return values.reshape(shape).astype(dtype)


def topology_matrix(graph):
    """Dense W of a networkx topology, rows/columns in rank order."""
    import networkx as nx
    return nx.to_numpy_array(graph, nodelist=range(graph.number_of_nodes()))
