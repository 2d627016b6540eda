# SPDX-License-Identifier: Apache-2.0
# Checks libbluefog's topology generators, schedules and spectral gap (through ctypes) against an
# independent NumPy/networkx re-statement of BlueFog's topology_util.py (reference §6 and §6.2).
import ctypes
import math
import os

import networkx as nx
import numpy as np
import pytest

BF_OK = 0
BF_ERR_INVALID_ARGUMENT = 1
RING_STYLES = (0, 1, 2)  # bidirectional, left, right

# ----------------------------------------------------------------------------------------------
# ctypes bindings


class Topology(ctypes.Structure):
    """Opaque bf_topology."""


TopologyPtr = ctypes.POINTER(Topology)
IntPtr = ctypes.POINTER(ctypes.c_int)
DoublePtr = ctypes.POINTER(ctypes.c_double)


def _load_library() -> ctypes.CDLL:
    lib = ctypes.CDLL(os.environ["BLUEFOG_LIB"])
    out = ctypes.POINTER(TopologyPtr)
    signatures = {
        "bf_topology_exponential": [ctypes.c_int, ctypes.c_int, out],
        "bf_topology_exponential_two": [ctypes.c_int, out],
        "bf_topology_symmetric_exponential": [ctypes.c_int, ctypes.c_int, out],
        "bf_topology_ring": [ctypes.c_int, ctypes.c_int, out],
        "bf_topology_star": [ctypes.c_int, ctypes.c_int, out],
        "bf_topology_mesh_grid_2d": [ctypes.c_int, ctypes.c_int, ctypes.c_int, out],
        "bf_topology_fully_connected": [ctypes.c_int, out],
        "bf_topology_from_matrix": [ctypes.c_int, DoublePtr, out],
        "bf_topology_from_edges": [ctypes.c_int, ctypes.c_int, IntPtr, IntPtr, DoublePtr, out],
        "bf_topology_copy": [TopologyPtr, out],
        "bf_topology_weight": [TopologyPtr, ctypes.c_int, ctypes.c_int, DoublePtr],
        "bf_topology_to_matrix": [TopologyPtr, DoublePtr],
        "bf_topology_in_neighbors": [TopologyPtr, ctypes.c_int, IntPtr, DoublePtr, ctypes.c_int,
                                     IntPtr],
        "bf_topology_out_neighbors": [TopologyPtr, ctypes.c_int, IntPtr, DoublePtr, ctypes.c_int,
                                      IntPtr],
        "bf_topology_spectral_gap": [TopologyPtr, DoublePtr],
        "bf_schedule_one_peer": [TopologyPtr, ctypes.c_int, ctypes.c_int64, IntPtr, IntPtr, IntPtr,
                                 IntPtr, ctypes.c_int],
    }
    for name in ("bf_schedule_exp2_machine", "bf_schedule_inner_outer_ring",
                 "bf_schedule_inner_outer_exp2"):
        signatures[name] = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int64, IntPtr,
                            IntPtr, IntPtr, IntPtr, ctypes.c_int]
    for name, argtypes in signatures.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = ctypes.c_int
    lib.bf_topology_free.argtypes = [TopologyPtr]
    lib.bf_topology_free.restype = None
    lib.bf_topology_size.argtypes = [TopologyPtr]
    lib.bf_topology_size.restype = ctypes.c_int
    lib.bf_last_error.argtypes = []
    lib.bf_last_error.restype = ctypes.c_char_p
    return lib


LIB = _load_library()


def last_error() -> str:
    return LIB.bf_last_error().decode()


class BlueFogError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"status {status}: {message}")
        self.status = status
        self.message = message


def check(status: int) -> None:
    if status != BF_OK:
        raise BlueFogError(status, last_error())


class Graph:
    """Owns one bf_topology handle."""

    def __init__(self, factory, *args):
        handle = TopologyPtr()
        check(factory(*args, ctypes.byref(handle)))
        self.handle = handle

    def __del__(self):
        LIB.bf_topology_free(self.handle)

    @property
    def size(self) -> int:
        return LIB.bf_topology_size(self.handle)

    def matrix(self) -> np.ndarray:
        result = np.empty((self.size, self.size), dtype=np.float64)
        check(LIB.bf_topology_to_matrix(self.handle, result.ctypes.data_as(DoublePtr)))
        return result

    def neighbors(self, rank: int, incoming: bool):
        function = LIB.bf_topology_in_neighbors if incoming else LIB.bf_topology_out_neighbors
        capacity = max(self.size - 1, 1)
        ranks = (ctypes.c_int * capacity)()
        weights = (ctypes.c_double * capacity)()
        count = ctypes.c_int(-1)
        check(function(self.handle, rank, ranks, weights, capacity, ctypes.byref(count)))
        return list(ranks[:count.value]), list(weights[:count.value])

    def spectral_gap(self) -> float:
        rho = ctypes.c_double(-1.0)
        check(LIB.bf_topology_spectral_gap(self.handle, ctypes.byref(rho)))
        return rho.value


def from_matrix(weights: np.ndarray) -> Graph:
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    return Graph(LIB.bf_topology_from_matrix, weights.shape[0], weights.ctypes.data_as(DoublePtr))


def bits(matrix: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(matrix, dtype=np.float64).view(np.uint64)


def assert_bit_identical(actual: np.ndarray, expected: np.ndarray, label: str) -> None:
    assert actual.shape == expected.shape, label
    mismatch = np.argwhere(bits(actual) != bits(expected))
    assert mismatch.size == 0, (
        f"{label}: first difference at {tuple(mismatch[0])}: "
        f"{actual[tuple(mismatch[0])]!r} != {expected[tuple(mismatch[0])]!r}")


# ----------------------------------------------------------------------------------------------
# Reference generators: BlueFog's definitions restated with NumPy, keeping NumPy's arithmetic
# (x /= x.sum(), np.roll, the mesh's 2.0 - row.sum()) and deciding powers in integers.


def is_power_of(value: int, base: int) -> bool:
    while value % base == 0:
        value //= base
    return value == 1


def circulant(first_row: np.ndarray) -> np.ndarray:
    size = first_row.shape[0]
    topo = np.empty((size, size))
    for i in range(size):
        topo[i] = np.roll(first_row, i)
    return topo


def as_bluefog_sees_it(topo: np.ndarray) -> np.ndarray:
    """BlueFog hands out nx.DiGraph objects; users read them back with nx.to_numpy_array."""
    return nx.to_numpy_array(nx.from_numpy_array(topo, create_using=nx.DiGraph))


def ref_exponential(size: int, base: int) -> np.ndarray:
    x = np.array([1.0] + [1.0 if is_power_of(k, base) else 0.0 for k in range(1, size)])
    x /= x.sum()
    return circulant(x)


def ref_exponential_two(size: int) -> np.ndarray:
    x = np.array([1.0 if k & (k - 1) == 0 else 0.0 for k in range(size)])
    x /= x.sum()
    return circulant(x)


def ref_symmetric_exponential(size: int, base: int) -> np.ndarray:
    x = [1.0]
    for k in range(1, size):
        distance = k if k <= size // 2 else size - k
        x.append(1.0 if is_power_of(distance, base) else 0.0)
    x = np.array(x)
    x /= x.sum()
    return circulant(x)


def ref_ring(size: int, style: int) -> np.ndarray:
    if size == 1:
        return np.array([[1.0]])
    if size == 2:
        return np.array([[0.5, 0.5], [0.5, 0.5]])
    x = np.zeros(size)
    if style == 0:
        x[0] = x[1] = x[-1] = 1 / 3.0
    elif style == 1:
        x[0] = x[-1] = 0.5
    else:
        x[0] = x[1] = 0.5
    return circulant(x)


def ref_star(size: int, center: int) -> np.ndarray:
    topo = np.zeros((size, size))
    for i in range(size):
        topo[i, i] = 1 - 1 / size
        topo[center, i] = 1 / size
        topo[i, center] = 1 / size
    return topo


def default_mesh_shape(size: int):
    rows = int(np.sqrt(size))
    while size % rows != 0:
        rows -= 1
    return rows, size // rows


def ref_mesh_grid_2d(size: int, shape=None) -> np.ndarray:
    nrow, ncol = shape if shape is not None else default_mesh_shape(size)
    assert nrow * ncol == size
    topo = np.zeros((size, size))
    for i in range(size):
        topo[i][i] = 1.0
        if (i + 1) % ncol != 0:
            topo[i][i + 1] = topo[i + 1][i] = 1.0
        if i + ncol < size:
            topo[i][i + ncol] = topo[i + ncol][i] = 1.0
    neighbors = [np.flatnonzero(topo[i]) for i in range(size)]  # with self, before reweighting
    for i in range(size):
        for j in neighbors[i]:
            if j != i:
                topo[i][j] = 1.0 / max(len(neighbors[i]), len(neighbors[j]))
        topo[i][i] = 2.0 - topo[i].sum()
    return topo


def ref_fully_connected(size: int) -> np.ndarray:
    return circulant(np.array([1 / size] * size))


SIZES = range(1, 65)

# ----------------------------------------------------------------------------------------------
# Generators, bit for bit


@pytest.mark.parametrize("base", [2, 3, 4, 5, 10])
def test_exponential(base):
    for size in SIZES:
        actual = Graph(LIB.bf_topology_exponential, size, base).matrix()
        assert_bit_identical(actual, as_bluefog_sees_it(ref_exponential(size, base)),
                             f"exponential size {size} base {base}")


def test_exponential_two():
    for size in SIZES:
        actual = Graph(LIB.bf_topology_exponential_two, size).matrix()
        assert_bit_identical(actual, ref_exponential_two(size), f"exponential_two size {size}")


@pytest.mark.parametrize("base", [2, 4])
def test_symmetric_exponential(base):
    for size in SIZES:
        actual = Graph(LIB.bf_topology_symmetric_exponential, size, base).matrix()
        assert_bit_identical(actual, ref_symmetric_exponential(size, base),
                             f"symmetric_exponential size {size} base {base}")


@pytest.mark.parametrize("style", RING_STYLES)
def test_ring(style):
    for size in SIZES:
        actual = Graph(LIB.bf_topology_ring, size, style).matrix()
        assert_bit_identical(actual, ref_ring(size, style), f"ring size {size} style {style}")


def test_star():
    for size in SIZES:
        centers = range(size) if size <= 16 else [0]
        for center in centers:
            actual = Graph(LIB.bf_topology_star, size, center).matrix()
            assert_bit_identical(actual, ref_star(size, center),
                                 f"star size {size} center {center}")


def test_mesh_grid_2d_default_shape():
    for size in SIZES:
        actual = Graph(LIB.bf_topology_mesh_grid_2d, size, 0, 0).matrix()
        assert_bit_identical(actual, as_bluefog_sees_it(ref_mesh_grid_2d(size)),
                             f"mesh size {size}")


def test_mesh_grid_2d_rows_longer_than_numpy_sum_block():
    # NumPy's pairwise sum splits rows longer than 128 entries in halves: cover that path too.
    for size in (129, 136, 200, 256, 300, 515):
        actual = Graph(LIB.bf_topology_mesh_grid_2d, size, 0, 0).matrix()
        assert_bit_identical(actual, ref_mesh_grid_2d(size), f"mesh size {size}")


@pytest.mark.parametrize("shape", [(1, 12), (12, 1), (3, 4), (4, 3), (2, 6), (6, 6), (5, 7)])
def test_mesh_grid_2d_explicit_shape(shape):
    size = shape[0] * shape[1]
    actual = Graph(LIB.bf_topology_mesh_grid_2d, size, *shape).matrix()
    assert_bit_identical(actual, ref_mesh_grid_2d(size, shape), f"mesh shape {shape}")


def test_mesh_diagonal_keeps_numpy_rounding():
    """The diagonal is 2 - (pairwise NumPy row sum), not 1 - (sum of the off-diagonal weights);
    check that the two differ somewhere, so the bit comparison above really tests the order."""
    differs = False
    for size in SIZES:
        topo = ref_mesh_grid_2d(size)
        off_diagonal = topo - np.diag(np.diag(topo))
        naive = np.array([1.0 - sum(row) for row in off_diagonal])
        differs |= not np.array_equal(np.diag(topo), naive)
    assert differs


def test_fully_connected():
    for size in SIZES:
        actual = Graph(LIB.bf_topology_fully_connected, size).matrix()
        assert_bit_identical(actual, ref_fully_connected(size), f"fully_connected size {size}")


def test_float_log_quirk_is_fixed():
    # BlueFog decides powers with math.log, which misses 3**5 and 10**3.
    assert 3 ** int(math.log(243, 3)) != 243
    assert 10 ** int(math.log(1000, 10)) != 1000
    base3 = Graph(LIB.bf_topology_exponential, 244, 3).matrix()
    assert base3[0, 243] == 1 / 7
    base10 = Graph(LIB.bf_topology_exponential, 1001, 10)
    assert base10.neighbors(0, incoming=False)[0] == [1, 10, 100, 1000]


# ----------------------------------------------------------------------------------------------
# Custom graphs and queries


def random_digraph(size: int, density: float, rng: np.random.Generator) -> np.ndarray:
    weights = rng.uniform(0.1, 1.0, (size, size)) * (rng.uniform(size=(size, size)) < density)
    return weights


def test_from_matrix_round_trip_and_neighbors_agree_with_networkx():
    rng = np.random.default_rng(7)
    for size in (1, 2, 5, 17):
        weights = random_digraph(size, 0.4, rng)
        weights[0, -1] = -0.25  # negative weights are edges too
        graph = from_matrix(weights)
        assert_bit_identical(graph.matrix(), weights, f"round trip size {size}")
        digraph = nx.from_numpy_array(weights, create_using=nx.DiGraph)
        for rank in range(size):
            ranks, rank_weights = graph.neighbors(rank, incoming=True)
            expected = sorted(r for r in digraph.predecessors(rank) if r != rank)
            assert ranks == expected
            assert rank_weights == [weights[r, rank] for r in expected]
            ranks, rank_weights = graph.neighbors(rank, incoming=False)
            expected = sorted(r for r in digraph.successors(rank) if r != rank)
            assert ranks == expected
            assert rank_weights == [weights[rank, r] for r in expected]


def test_from_edges_matches_from_matrix_and_copy():
    src = (ctypes.c_int * 4)(0, 1, 2, 2)
    dst = (ctypes.c_int * 4)(1, 2, 0, 2)
    weights = (ctypes.c_double * 4)(0.5, 0.25, 2.0, -1.0)
    graph = Graph(LIB.bf_topology_from_edges, 3, 4, src, dst, weights)
    expected = np.zeros((3, 3))
    expected[0, 1], expected[1, 2], expected[2, 0], expected[2, 2] = 0.5, 0.25, 2.0, -1.0
    assert_bit_identical(graph.matrix(), expected, "from_edges")
    copy = Graph(LIB.bf_topology_copy, graph.handle)
    assert_bit_identical(copy.matrix(), expected, "copy")
    unweighted = Graph(LIB.bf_topology_from_edges, 3, 4, src, dst, None)
    assert_bit_identical(unweighted.matrix(), (expected != 0).astype(float), "unweighted")


def expect_invalid(function, *args, fragment: str):
    with pytest.raises(BlueFogError) as error:
        check(function(*args))
    assert error.value.status == BF_ERR_INVALID_ARGUMENT
    assert fragment in error.value.message, error.value.message


def test_argument_errors():
    out = TopologyPtr()
    expect_invalid(LIB.bf_topology_exponential, 0, 2, ctypes.byref(out),
                   fragment="bf_topology_exponential: size 0")
    expect_invalid(LIB.bf_topology_exponential, 8, 1, ctypes.byref(out), fragment="base 1")
    expect_invalid(LIB.bf_topology_symmetric_exponential, 8, -3, ctypes.byref(out),
                   fragment="base -3")
    expect_invalid(LIB.bf_topology_ring, 8, 3, ctypes.byref(out), fragment="style 3")
    expect_invalid(LIB.bf_topology_star, 8, 9, ctypes.byref(out),
                   fragment="bf_topology_star: center_rank 9 is out of range for size 8")
    expect_invalid(LIB.bf_topology_mesh_grid_2d, 8, 3, 3, ctypes.byref(out),
                   fragment="nrows 3 x ncols 3 does not match size 8")
    expect_invalid(LIB.bf_topology_fully_connected, -2, ctypes.byref(out), fragment="size -2")
    expect_invalid(LIB.bf_topology_exponential_two, 8, None, fragment="out is NULL")
    for bad in (math.nan, math.inf, -math.inf):
        weights = np.array([[1.0, bad], [0.0, 1.0]])
        expect_invalid(LIB.bf_topology_from_matrix, 2, weights.ctypes.data_as(DoublePtr),
                       ctypes.byref(out), fragment="weights[0][1]")
    src = (ctypes.c_int * 2)(0, 0)
    dst = (ctypes.c_int * 2)(1, 1)
    expect_invalid(LIB.bf_topology_from_edges, 2, 2, src, dst, None, ctypes.byref(out),
                   fragment="edge 0->1 appears twice")
    nan_weight = (ctypes.c_double * 1)(math.nan)
    expect_invalid(LIB.bf_topology_from_edges, 2, 1, src, dst, nan_weight, ctypes.byref(out),
                   fragment="weights[0] (edge 0->1) is nan")
    assert not out  # never written
    graph = Graph(LIB.bf_topology_exponential, 4, 2)
    weight = ctypes.c_double(-1.0)
    expect_invalid(LIB.bf_topology_weight, graph.handle, 0, 4, ctypes.byref(weight),
                   fragment="to 4 is out of range for size 4")
    assert weight.value == -1.0


# ----------------------------------------------------------------------------------------------
# Dynamic schedules: §6.2's generators restated in Python (steps start at 0)


def ref_one_peer(weights: np.ndarray, self_rank: int):
    """GetDynamicOnePeerSendRecvRanks. BlueFog's degree is out_degree - 1, which is the length of
    the self-free target list when every rank has a self-loop (the only case BlueFog supports);
    using the list's length keeps graphs without self-loops working, with an empty send list for a
    rank that has no targets."""
    digraph = nx.from_numpy_array(weights, create_using=nx.DiGraph)
    size = digraph.number_of_nodes()
    targets = []
    for rank in range(size):
        ordered = sorted(digraph.successors(rank), key=lambda r, rk=rank: (r - rk) % size)
        if ordered and ordered[0] == rank:
            ordered = ordered[1:]
        if digraph.has_edge(rank, rank):
            assert len(ordered) == digraph.out_degree(rank) - 1  # BlueFog's own degree
        targets.append(ordered)
    step = 0
    while True:
        own = targets[self_rank]
        send = [own[step % len(own)]] if own else []
        recv = [other for other in range(size) if other != self_rank and targets[other]
                and targets[other][step % len(targets[other])] == self_rank]
        yield send, recv
        step += 1


def ref_exp2_machine(world_size: int, local_size: int, self_rank: int):
    machine, machines = self_rank // local_size, world_size // local_size
    exponent = int(np.log2(machines - 1))
    step = 0
    while True:
        distance = 2 ** (step % (exponent + 1))
        yield [(machine + distance) % machines], [(machine - distance) % machines]
        step += 1


def ref_inner_outer_ring(world_size: int, local_size: int, self_rank: int):
    """With one machine BlueFog makes the outgoing rank send to itself; the library gives it empty
    lists instead (it has nobody to talk to), so the reference does the same."""
    machines = world_size // local_size
    machine, local = self_rank // local_size, self_rank % local_size
    step = 0
    while True:
        outgoing = step % local_size
        if outgoing == local:
            if machines == 1:
                yield [], []
            else:
                yield ([((machine + 1) % machines) * local_size + local],
                       [((machine - 1) % machines) * local_size + local])
        else:
            target = (local + 1) % local_size
            if target == outgoing:
                target = (target + 1) % local_size
            source = (local - 1) % local_size
            if source == outgoing:
                source = (source - 1) % local_size
            yield [machine * local_size + target], [machine * local_size + source]
        step += 1


def ref_inner_outer_exp2(world_size: int, local_size: int, self_rank: int):
    machines = world_size // local_size
    machine, local = self_rank // local_size, self_rank % local_size
    outer_exponent = int(np.log2(machines - 1))
    inner_exponent = int(np.log2(local_size - 2))
    step = 0
    while True:
        outgoing = step % local_size
        if outgoing == local:
            distance = 2 ** (step % (outer_exponent + 1))
            yield ([((machine + distance) % machines) * local_size + local],
                   [((machine - distance) % machines) * local_size + local])
        else:
            hop = 2 ** (step % (inner_exponent + 1))
            send_hop = hop + 1 if hop >= (outgoing - local) % local_size else hop
            recv_hop = hop + 1 if hop >= (local - outgoing) % local_size else hop
            yield ([machine * local_size + (local + send_hop) % local_size],
                   [machine * local_size + (local - recv_hop) % local_size])
        step += 1


def run_schedule(function, leading_args, steps: int, capacity: int):
    send = (ctypes.c_int * capacity)()
    recv = (ctypes.c_int * capacity)()
    send_count, recv_count = ctypes.c_int(-1), ctypes.c_int(-1)
    result = []
    for step in range(steps):
        check(function(*leading_args, step, send, ctypes.byref(send_count), recv,
                       ctypes.byref(recv_count), capacity))
        result.append((list(send[:send_count.value]), list(recv[:recv_count.value])))
    return result


def take(generator, count: int):
    return [next(generator) for _ in range(count)]


def schedule_graphs():
    rng = np.random.default_rng(11)
    graphs = []
    for size in (2, 3, 5, 8, 12, 16):
        graphs.append((f"exponential({size})", ref_exponential(size, 2)))
        graphs.append((f"ring({size})", ref_ring(size, 0)))
        graphs.append((f"star({size})", ref_star(size, size // 2)))
        graphs.append((f"mesh({size})", ref_mesh_grid_2d(size)))
        graphs.append((f"symmetric_exponential({size})", ref_symmetric_exponential(size, 4)))
    for size in (4, 7, 10):
        no_loops = random_digraph(size, 0.35, rng)
        np.fill_diagonal(no_loops, 0.0)
        no_loops[0, :] = 0.0  # rank 0 sends to nobody
        graphs.append((f"random without self-loops({size})", no_loops))
        with_loops = random_digraph(size, 0.35, rng)
        np.fill_diagonal(with_loops, 1.0)
        graphs.append((f"random with self-loops({size})", with_loops))
        ring_no_loops = np.roll(np.eye(size), 1, axis=1)
        graphs.append((f"right ring without self-loops({size})", ring_no_loops))
    return graphs


@pytest.mark.parametrize("label,weights", schedule_graphs(), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_one_peer_schedule(label, weights):
    size = weights.shape[0]
    graph = from_matrix(weights)
    for rank in range(size):
        actual = run_schedule(LIB.bf_schedule_one_peer, (graph.handle, rank), 2 * size + 1, size)
        expected = take(ref_one_peer(weights, rank), 2 * size + 1)
        assert actual == expected, f"{label} rank {rank}"


def test_one_peer_documented_example():
    graph = Graph(LIB.bf_topology_exponential, 8, 2)
    rank0 = run_schedule(LIB.bf_schedule_one_peer, (graph.handle, 0), 4, 8)
    assert rank0 == [([1], [7]), ([2], [6]), ([4], [4]), ([1], [7])]
    rank3 = run_schedule(LIB.bf_schedule_one_peer, (graph.handle, 3), 3, 8)
    assert rank3 == [([4], [2]), ([5], [1]), ([7], [7])]


MACHINE_LAYOUTS = [(world, local) for local in (1, 2, 3, 4, 5, 8)
                   for world in (local, 2 * local, 3 * local, 4 * local, 5 * local, 9 * local)]


def test_exp2_machine_schedule():
    for world, local in MACHINE_LAYOUTS:
        if world // local < 2:
            continue
        for rank in range(world):
            actual = run_schedule(LIB.bf_schedule_exp2_machine, (world, local, rank), 2 * world + 1,
                                  1)
            expected = take(ref_exp2_machine(world, local, rank), 2 * world + 1)
            assert actual == expected, f"world {world} local {local} rank {rank}"


def test_inner_outer_ring_schedule():
    for world, local in MACHINE_LAYOUTS:
        if local <= 2:
            continue
        for rank in range(world):
            actual = run_schedule(LIB.bf_schedule_inner_outer_ring, (world, local, rank),
                                  2 * world + 1, 1)
            expected = take(ref_inner_outer_ring(world, local, rank), 2 * world + 1)
            assert actual == expected, f"world {world} local {local} rank {rank}"


def test_inner_outer_exp2_schedule():
    for world, local in MACHINE_LAYOUTS:
        if local <= 2 or world // local < 2:
            continue
        for rank in range(world):
            actual = run_schedule(LIB.bf_schedule_inner_outer_exp2, (world, local, rank),
                                  2 * world + 1, 1)
            expected = take(ref_inner_outer_exp2(world, local, rank), 2 * world + 1)
            assert actual == expected, f"world {world} local {local} rank {rank}"


def test_documented_machine_examples():
    ring_step0 = [run_schedule(LIB.bf_schedule_inner_outer_ring, (8, 4, rank), 1, 1)[0]
                  for rank in range(8)]
    assert ring_step0 == [([4], [4]), ([2], [3]), ([3], [1]), ([1], [2]),
                          ([0], [0]), ([6], [7]), ([7], [5]), ([5], [6])]
    exp2 = run_schedule(LIB.bf_schedule_inner_outer_exp2, (16, 4, 0), 5, 1)
    assert exp2 == [([4], [12]), ([3], [2]), ([1], [3]), ([2], [1]), ([4], [12])]


def test_schedule_errors():
    send, recv = (ctypes.c_int * 4)(), (ctypes.c_int * 4)()
    counts = [ctypes.c_int(-1), ctypes.c_int(-1)]
    args = (send, ctypes.byref(counts[0]), recv, ctypes.byref(counts[1]), 4)
    expect_invalid(LIB.bf_schedule_inner_outer_ring, 10, 4, 0, 0, *args,
                   fragment="world_size 10 is not a multiple of local_size 4")
    expect_invalid(LIB.bf_schedule_inner_outer_ring, 8, 2, 0, 0, *args, fragment="local_size > 2")
    expect_invalid(LIB.bf_schedule_inner_outer_exp2, 4, 4, 0, 0, *args,
                   fragment="at least 2 machines")
    expect_invalid(LIB.bf_schedule_exp2_machine, 4, 4, 0, 0, *args, fragment="at least 2 machines")
    expect_invalid(LIB.bf_schedule_exp2_machine, 8, 4, 8, 0, *args, fragment="rank 8")
    expect_invalid(LIB.bf_schedule_exp2_machine, 8, 4, 0, -1, *args, fragment="step -1")
    star = Graph(LIB.bf_topology_star, 6, 0)
    small = args[:4] + (3,)
    expect_invalid(LIB.bf_schedule_one_peer, star.handle, 0, 0, *small,
                   fragment="capacity 3 is too small: recv_ranks needs 5 entries")
    assert counts[0].value == -1 and counts[1].value == -1


# ----------------------------------------------------------------------------------------------
# Spectral gap against numpy.linalg.eigvals


def ref_rho(weights: np.ndarray) -> float:
    """Largest |eigenvalue| once one copy of the trivial eigenvalue 1 is set aside."""
    if weights.shape[0] == 1:
        return 0.0
    eigenvalues = np.linalg.eigvals(weights)
    trivial = np.argmin(np.abs(eigenvalues - 1.0))
    return float(np.max(np.abs(np.delete(eigenvalues, trivial))))


def generator_cases(size: int):
    yield "exponential2", Graph(LIB.bf_topology_exponential, size, 2)
    yield "exponential3", Graph(LIB.bf_topology_exponential, size, 3)
    yield "exponential_two", Graph(LIB.bf_topology_exponential_two, size)
    yield "symmetric_exponential4", Graph(LIB.bf_topology_symmetric_exponential, size, 4)
    yield "symmetric_exponential2", Graph(LIB.bf_topology_symmetric_exponential, size, 2)
    for style in RING_STYLES:
        yield f"ring{style}", Graph(LIB.bf_topology_ring, size, style)
    yield "star", Graph(LIB.bf_topology_star, size, 0)
    yield "star_last", Graph(LIB.bf_topology_star, size, size - 1)
    yield "mesh", Graph(LIB.bf_topology_mesh_grid_2d, size, 0, 0)
    yield "fully_connected", Graph(LIB.bf_topology_fully_connected, size)


def test_spectral_gap_of_generators():
    for size in range(1, 33):
        for label, graph in generator_cases(size):
            expected = ref_rho(graph.matrix())
            assert abs(graph.spectral_gap() - expected) < 1e-9, f"{label} size {size}"


def test_spectral_gap_of_random_stochastic_matrices():
    rng = np.random.default_rng(3)
    for size in range(2, 41):
        for density in (0.2, 0.6, 1.0):
            weights = random_digraph(size, density, rng)
            np.fill_diagonal(weights, 1.0)
            row_stochastic = weights / weights.sum(axis=1, keepdims=True)
            column_stochastic = weights / weights.sum(axis=0, keepdims=True)
            for matrix in (row_stochastic, column_stochastic):
                actual = from_matrix(matrix).spectral_gap()
                assert abs(actual - ref_rho(matrix)) < 1e-9, f"size {size} density {density}"


def test_spectral_gap_of_permutations_and_disconnected_graphs():
    for size in range(2, 30):
        shift = np.roll(np.eye(size), 1, axis=1)
        assert abs(from_matrix(shift).spectral_gap() - 1.0) < 1e-9
        rng = np.random.default_rng(size)
        permutation = np.eye(size)[rng.permutation(size)]
        assert abs(from_matrix(permutation).spectral_gap() - ref_rho(permutation)) < 1e-9
    assert abs(from_matrix(np.eye(4)).spectral_gap() - 1.0) < 1e-12


def test_spectral_gap_rejects_non_stochastic():
    rho = ctypes.c_double(-1.0)
    graph = from_matrix(np.array([[0.5, 0.4], [0.5, 0.5]]))
    expect_invalid(LIB.bf_topology_spectral_gap, graph.handle, ctypes.byref(rho),
                   fragment="row- or column-stochastic")
    assert rho.value == -1.0
