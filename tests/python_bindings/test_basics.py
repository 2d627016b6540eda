# SPDX-License-Identifier: Apache-2.0
# bluefog basics: process queries, topologies (set/load, generators as networkx graphs, schedules,
# helpers) and the error mapping, checked against independent NumPy/closed-form references.
import json
import math
import os
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

import bluefog as bf
from bluefog import _native
from conftest import WORLD_SIZE, topology_matrix


def test_rank_and_size_match_mpirun():
    assert bf.size() == WORLD_SIZE
    assert bf.rank() == int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    assert bf.is_initialized()


def test_local_and_machine_layout():
    nodes = 2 if WORLD_SIZE % 2 == 0 else WORLD_SIZE  # conftest's init
    assert bf.local_size() == nodes
    assert bf.local_rank() == bf.rank() % nodes
    assert bf.machine_size() == WORLD_SIZE // nodes
    assert bf.machine_rank() == bf.rank() // nodes
    assert bf.is_homogeneous()


def test_version_and_matching_mode():
    lib = _native.lib
    assert bf.version() == f"{lib.BF_VERSION_MAJOR}.{lib.BF_VERSION_MINOR}.{lib.BF_VERSION_PATCH}"
    assert bf.matching_mode() in ("named", "ordered")


def test_queries_before_init_raise_value_error():
    if bf.rank() != 0:
        return
    code = "import bluefog as bf\ntry:\n    bf.size()\nexcept ValueError as e:\n    print(e)\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "BlueFog has not been initialized; use bf.init()."


def test_default_topology_is_exponential_two():
    n, r = bf.size(), bf.rank()
    assert bf.IsTopologyEquivalent(bf.load_topology(), bf.ExponentialGraph(n))
    assert not bf.is_topo_weighted()
    hops = [2 ** i for i in range(max(0, math.ceil(math.log2(n))))] if n > 1 else []
    assert bf.in_neighbor_ranks() == sorted({(r - h) % n for h in hops} - {r})
    assert bf.out_neighbor_ranks() == sorted({(r + h) % n for h in hops} - {r})


def test_set_topology_ring_and_load():
    n, r = bf.size(), bf.rank()
    ring = bf.RingGraph(n)
    assert bf.set_topology(ring, is_weighted=True) is True
    assert bf.load_topology() is ring
    assert bf.is_topo_weighted()
    expected = sorted({(r - 1) % n, (r + 1) % n} - {r})
    assert bf.in_neighbor_ranks() == expected
    assert bf.out_neighbor_ranks() == expected


def test_set_topology_type_errors():
    with pytest.raises(TypeError):
        bf.set_topology(np.eye(bf.size()))
    with pytest.raises(TypeError):
        bf.set_topology(bf.RingGraph(bf.size() + 1))


# ------------------------------------------------------------------------------------------------
# Generators: independent re-statements of BlueFog's definitions.


def circulant(first_row):
    return np.array([np.roll(first_row, i) for i in range(len(first_row))])


def ref_exponential_two(n):
    x = np.array([1.0 if k == 0 or (k & (k - 1)) == 0 else 0.0 for k in range(n)])
    return circulant(x / x.sum())


def ref_ring(n, style):
    if n == 1:
        return np.ones((1, 1))
    if n == 2:
        return np.full((2, 2), 0.5)
    x = np.zeros(n)
    if style == 0:
        x[[0, 1, -1]] = 1 / 3
    elif style == 1:
        x[[0, -1]] = 0.5
    else:
        x[[0, 1]] = 0.5
    return circulant(x)


def ref_star(n, center):
    w = np.zeros((n, n))
    for i in range(n):
        w[i, i] = 1 - 1 / n
        w[center, i] = 1 / n
        w[i, center] = 1 / n
    return w


SIZES = [1, 2, 3, 4, 5, 8, 12]


@pytest.mark.parametrize("n", SIZES)
def test_generators_match_references(n):
    checks = [
        (bf.ExponentialTwoGraph(n), ref_exponential_two(n)),
        (bf.ExponentialGraph(n), ref_exponential_two(n)),
        (bf.RingGraph(n), ref_ring(n, 0)),
        (bf.RingGraph(n, connect_style=1), ref_ring(n, 1)),
        (bf.RingGraph(n, connect_style=2), ref_ring(n, 2)),
        (bf.StarGraph(n), ref_star(n, 0)),
        (bf.StarGraph(n, center_rank=n - 1), ref_star(n, n - 1)),
        (bf.FullyConnectedGraph(n), np.full((n, n), 1 / n)),
    ]
    for graph, expected in checks:
        assert isinstance(graph, nx.DiGraph)
        assert graph.number_of_nodes() == n
        np.testing.assert_allclose(topology_matrix(graph), expected, rtol=0, atol=1e-15)
        # Edges exactly where weights are non-zero, weights as attributes.
        assert {(i, j) for i, j in graph.edges} == set(zip(*np.nonzero(expected)))


def test_mesh_grid_is_metropolis_hastings():
    graph = bf.MeshGrid2DGraph(12)  # 3 x 4
    w = topology_matrix(graph)
    adjacency = (w > 0).astype(int)
    degree = adjacency.sum(axis=1)  # includes self
    for i in range(12):
        for j in range(12):
            if i != j and adjacency[i, j]:
                assert w[i, j] == pytest.approx(1 / max(degree[i], degree[j]))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w, w.T)
    assert adjacency[0, 1] and adjacency[0, 4] and not adjacency[3, 4]
    assert bf.MeshGrid2DGraph(6, shape=(1, 6)).number_of_edges() == 6 + 2 * 5


def test_symmetric_exponential():
    w = topology_matrix(bf.SymmetricExponentialGraph(16))
    offsets = sorted(np.nonzero(w[0])[0].tolist())
    assert offsets == [0, 1, 4, 12, 15]
    np.testing.assert_allclose(w[0, offsets], 0.2)


def test_generator_errors_are_value_errors():
    with pytest.raises(ValueError, match="size"):
        bf.ExponentialGraph(0)
    with pytest.raises(ValueError):
        bf.StarGraph(4, center_rank=4)


def test_recv_send_weights_and_predicates():
    graph = bf.StarGraph(4)
    self_w, recv = bf.GetRecvWeights(graph, 0)
    assert self_w == pytest.approx(0.25)
    assert recv == pytest.approx({1: 0.25, 2: 0.25, 3: 0.25})
    self_w, send = bf.GetSendWeights(graph, 2)
    assert self_w == pytest.approx(0.75)
    assert send == pytest.approx({0: 0.25})
    assert bf.IsTopologyEquivalent(bf.RingGraph(5), bf.RingGraph(5))
    assert not bf.IsTopologyEquivalent(bf.RingGraph(5), bf.RingGraph(5, 1))
    assert not bf.IsTopologyEquivalent(None, bf.RingGraph(5))
    assert bf.IsRegularGraph(bf.RingGraph(6))
    assert not bf.IsRegularGraph(bf.StarGraph(6))


def test_spectral_gap_matches_numpy():
    for graph in (bf.RingGraph(7), bf.ExponentialTwoGraph(8), bf.MeshGrid2DGraph(9)):
        eigenvalues = sorted(np.abs(np.linalg.eigvals(topology_matrix(graph))), reverse=True)
        assert bf.spectral_gap(graph) == pytest.approx(eigenvalues[1], abs=1e-9)


# ------------------------------------------------------------------------------------------------
# Dynamic schedules.


def ref_one_peer(w, rank, step):
    n = len(w)

    def targets(r):
        outs = sorted((j for j in range(n) if j != r and w[r, j] != 0), key=lambda j: (j - r) % n)
        return outs

    mine = targets(rank)
    send = [mine[step % len(mine)]] if mine else []
    recv = [r for r in range(n) if r != rank and targets(r)
            and targets(r)[step % len(targets(r))] == rank]
    return send, recv


@pytest.mark.parametrize("graph_fn", [bf.ExponentialTwoGraph, bf.RingGraph,
                                      lambda n: bf.RingGraph(n, 2)])
def test_one_peer_schedule_matches_reference(graph_fn):
    n = 8
    graph = graph_fn(n)
    w = topology_matrix(graph)
    for rank in (0, 3):
        generator = bf.GetDynamicOnePeerSendRecvRanks(graph, rank)
        for step in range(7):
            expected = ref_one_peer(w, rank, step)
            assert next(generator) == expected
            assert bf.schedule_one_peer(graph, rank, step) == expected


def test_one_peer_schedule_examples():
    generator = bf.GetDynamicOnePeerSendRecvRanks(bf.ExponentialTwoGraph(8), 0)
    assert [next(generator) for _ in range(4)] == [([1], [7]), ([2], [6]), ([4], [4]),
                                                   ([1], [7])]


def test_machine_and_inner_outer_schedules():
    # Exponential-two over machines: machine m sends to m + 2^(t mod (floor(log2(M-1))+1)).
    world, local = 16, 2
    machines = world // local
    generator = bf.GetExp2DynamicSendRecvMachineRanks(world, local, 6, 0)
    for step in range(6):
        d = 2 ** (step % (int(np.log2(machines - 1)) + 1))
        assert next(generator) == ([(3 + d) % machines], [(3 - d) % machines])
    with pytest.raises(AssertionError):
        next(bf.GetExp2DynamicSendRecvMachineRanks(16, 2, 6, 1))
    # Inner/outer ring, world 8, local 4, step 0: 0 <-> 4 cross machines; 1 -> 2 -> 3 -> 1.
    sends = {r: bf.schedule_inner_outer_ring(8, 4, r, 0) for r in range(8)}
    assert sends[0] == ([4], [4])
    assert sends[1] == ([2], [3]) and sends[2] == ([3], [1]) and sends[3] == ([1], [2])
    # Inner/outer exponential-two, world 16, local 4, rank 0 (BlueFog's documented example).
    generator = bf.GetInnerOuterExpo2DynamicSendRecvRanks(16, 4, 0)
    assert [next(generator) for _ in range(5)] == [([4], [12]), ([3], [2]), ([1], [3]),
                                                   ([2], [1]), ([4], [12])]
    generator = bf.GetInnerOuterRingDynamicSendRecvRanks(8, 4, 5)
    assert next(generator) == ([6], [7])
    with pytest.raises(ValueError):
        bf.schedule_inner_outer_ring(8, 2, 0, 0)  # needs local_size > 2


# ------------------------------------------------------------------------------------------------
# Collective helpers.


def test_infer_source_and_destination_ranks():
    n, r = bf.size(), bf.rank()
    if n == 1:
        assert bf.InferSourceFromDestinationRanks([]) == []
        return
    dst = sorted({(r + 1) % n, (r + 2) % n} - {r})
    src = bf.InferSourceFromDestinationRanks(dst)
    assert src == sorted({(r - 1) % n, (r - 2) % n} - {r})
    dst_back, w = bf.InferDestinationFromSourceRanks(src, construct_adjacency_matrix=True)
    assert dst_back == dst
    np.testing.assert_allclose(w.sum(axis=0), 1.0)
    assert w[r, r] > 0 and all(w[r, d] > 0 for d in dst)
    with pytest.raises(ValueError):
        bf.InferSourceFromDestinationRanks([r])
    with pytest.raises(ValueError):
        bf.InferSourceFromDestinationRanks([n])


def test_machine_topology():
    machines = bf.machine_size()
    graph = bf.RingGraph(machines)
    assert bf.set_machine_topology(graph) is True
    assert bf.load_machine_topology() is graph
    assert not bf.is_machine_topo_weighted()
    m = bf.machine_rank()
    expected = sorted({(m - 1) % machines, (m + 1) % machines} - {m})
    assert bf.in_neighbor_machine_ranks() == expected
    assert bf.out_neighbor_machine_ranks() == expected
    with pytest.raises(ValueError):
        bf.set_machine_topology(None)
    with pytest.raises(TypeError):
        bf.set_machine_topology(bf.RingGraph(machines + 1))


def test_timeline_off_returns_false():
    if os.environ.get("BLUEFOG_TIMELINE"):
        pytest.skip("timeline is on")
    assert bf.timeline_start_activity("x", "y") is False
    assert bf.timeline_end_activity("x") is False
    with bf.timeline_context("x", "y"):
        pass


def test_error_mapping_carries_status_and_message():
    with pytest.raises(ValueError) as info:
        bf.neighbor_allreduce(np.ones(2), self_weight=0.5, src_weights={bf.rank(): 0.5})
    assert info.value.status == _native.lib.BF_ERR_INVALID_ARGUMENT
    assert "src_ranks names rank" in str(info.value)
    with pytest.raises(TypeError, match="__dlpack__"):
        bf.allreduce_(object())


def test_timeline_records_user_activities(tmp_path):
    # A separate single-rank process, since the timeline is chosen at init.
    if bf.rank() != 0:
        return
    prefix = str(tmp_path / "trace-")
    code = (
        "import json, numpy as np, bluefog as bf\n"
        f"bf.init(timeline_prefix={prefix!r})\n"
        "assert bf.timeline_start_activity('my.tensor', 'MY_ACTIVITY')\n"
        "with bf.timeline_context('my.tensor', 'INNER'):\n"
        "    bf.allreduce(np.ones(4), name='traced')\n"
        "assert bf.timeline_end_activity('my.tensor')\n"
        "bf.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    events = json.loads((tmp_path / "trace-0.json").read_text())
    names = {event.get("name") for event in events}
    assert {"MY_ACTIVITY", "INNER"} <= names


def test_python_m_bluefog_run_is_bfrun():
    if bf.rank() != 0:
        return
    out = subprocess.run([sys.executable, "-m", "bluefog.run", "--dry-run", "-np", "3", "prog",
                          "--flag"], capture_output=True, text=True, check=True, timeout=60)
    words = out.stdout.split()
    assert words[0].endswith("mpirun") and words[-2:] == ["prog", "--flag"]
    assert "-np" in words and words[words.index("-np") + 1] == "3"


# ------------------------------------------------------------------------------------------------
# The SWIG layer itself (bluefog._bluefog): typemaps for capsules, lists, out-parameters, structs.


def test_extension_topology_functions():
    lib = _native.lib
    topology = lib.bf_topology_from_edges(3, 3, [0, 1, 2], [1, 2, 0], [0.5, 0.25, 1.0])
    assert lib.bf_topology_size(topology) == 3
    assert lib.bf_topology_weight(topology, 1, 2) == 0.25
    assert lib.bf_topology_weight(topology, 2, 1) == 0.0
    copy = lib.bf_topology_copy(topology)
    del topology  # the capsule frees it; the copy is independent
    assert lib.bf_topology_to_matrix(copy) == [0, 0.5, 0, 0, 0, 0.25, 1.0, 0, 0]
    assert lib.bf_topology_in_neighbors(copy, 0) == ([2], [1.0])
    assert lib.bf_topology_out_neighbors(copy, 0) == ([1], [0.5])
    unweighted = lib.bf_topology_from_edges(2, 1, [0], [1], None)
    assert lib.bf_topology_weight(unweighted, 0, 1) == 1.0
    with pytest.raises(ValueError) as info:
        lib.bf_topology_from_edges(2, 2, [0, 0], [1, 1], None)  # duplicate edge
    assert info.value.status == lib.BF_ERR_INVALID_ARGUMENT
    with pytest.raises(TypeError):
        lib.bf_topology_size(object())
    current, weighted = lib.bf_get_topology()
    assert lib.bf_topology_size(current) == bf.size() and weighted in (0, 1)
    assert lib.bf_status_string(lib.BF_ERR_MISMATCH) == "BF_ERR_MISMATCH"


def test_extension_borrows_capsules_and_fills_slots():
    lib = _native.lib
    x = np.full(3, float(bf.rank()))
    capsule = x.__dlpack__()
    out = np.empty(3)
    lib.bf_allreduce(capsule, out, {"op": lib.BF_REDUCE_SUM, "name": "raw"})
    assert "dltensor" in repr(capsule)  # borrowed, not renamed to used_dltensor
    np.testing.assert_allclose(out, sum(range(bf.size())))
    lib.bf_allreduce(capsule, capsule, None)  # the same capsule as input and output
    np.testing.assert_allclose(x, (bf.size() - 1) / 2)
    slot = lib.managed_slot_new()
    handle = lib.bf_allgather_async(np.arange(2.0), slot, None)
    assert lib.bf_wait(handle, -1) == lib.BF_OK
    lib.bf_handle_free(handle)
    with pytest.raises(ValueError, match="already holds"):
        lib.bf_allgather(np.arange(2.0), slot, None)
    result = lib.managed_slot_take(slot)
    assert lib.managed_slot_take(slot) is None
    assert lib.dltensor_info(result)[1] == (2 * bf.size(),)
    del result  # not imported: the capsule's destructor frees the engine's buffer
    with pytest.raises(TypeError, match="no field"):
        lib.bf_allreduce(x, x, {"nmae": "typo"})
    with pytest.raises(TypeError, match="__dlpack__"):
        lib.bf_allreduce([1.0], out, None)
    with pytest.raises(ValueError, match="src_weights has 1 entries but src_ranks has 0"):
        lib.bf_neighbor_allreduce(x, out, {"src_weights": [1.0]})


def test_gpu_queries_match_the_engine():
    # Python reports exactly what the C API does; without a GPU here, no devices (suite 'gpu'
    # covers machines with one).
    assert bf.cuda_device_count() == _native.lib.bf_cuda_device_count() >= 0
    assert bf.nccl_built() is (os.environ.get("BLUEFOG_TEST_NCCL_BUILT") == "1")
    # The stream crosses as an integer (torch.cuda.Stream.cuda_stream); it is only used, and a bad
    # one reported, when a GPU tensor is passed. (A failed bf_status would raise.)
    assert _native.lib.set_cuda_stream_address(0x1234) is None
    assert _native.lib.set_cuda_stream_address(0) is None
    with pytest.raises(OverflowError):
        _native.lib.set_cuda_stream_address(-1)
