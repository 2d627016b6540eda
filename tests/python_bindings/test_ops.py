# SPDX-License-Identifier: Apache-2.0
# Every operation of the generic `bluefog` package on NumPy and PyTorch arrays, blocking and
# nonblocking, in and out of place, against closed-form NumPy references; result types, data
# pointers of in-place results, error types and messages.
import numpy as np
import pytest

import bluefog as bf
from bluefog import _native
from conftest import rank_data, topology_matrix

FLOATS = [np.float32, np.float64]


def all_data(shape=(3, 2), dtype=np.float64):
    return [rank_data(r, shape, dtype) for r in range(bf.size())]


def tolerance(dtype):
    return {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


# ------------------------------------------------------------------------------------------------
# allreduce


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("average", [True, False])
def test_allreduce(kind, dtype, average):
    x = kind.make(rank_data(bf.rank(), dtype=dtype))
    before = kind.numpy(x).copy()
    y = bf.allreduce(x, average=average)
    expected = np.sum(all_data(dtype=np.float64), axis=0)
    if average:
        expected /= bf.size()
    np.testing.assert_allclose(kind.numpy(y), expected, **tolerance(dtype))
    assert kind.numpy(y).dtype == dtype
    np.testing.assert_array_equal(kind.numpy(x), before)  # input untouched


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_allreduce_sum_integers(kind, dtype):
    x = kind.make(np.arange(4, dtype=dtype) * (bf.rank() + 1))
    y = bf.allreduce(x, average=False)
    expected = np.arange(4) * sum(r + 1 for r in range(bf.size()))
    np.testing.assert_array_equal(kind.numpy(y), expected)
    with pytest.raises(ValueError, match="floating"):
        bf.allreduce(x, average=True)


def test_allreduce_inplace_keeps_memory(kind):
    x = kind.make(rank_data(bf.rank()))
    ptr = kind.ptr(x)
    y = bf.allreduce_(x)
    assert y is x
    assert kind.ptr(x) == ptr
    np.testing.assert_allclose(kind.numpy(x), np.mean(all_data(), axis=0))


def test_allreduce_nonblocking_many_in_flight(kind):
    xs = [kind.make(rank_data(bf.rank(), (k + 1,))) for k in range(6)]
    handles = [bf.allreduce_nonblocking(x, average=False, name=f"many.{k}")
               for k, x in enumerate(xs)]
    inplace = [bf.allreduce_nonblocking_(x, name=f"many_inplace.{k}") for k, x in enumerate(xs)]
    for k, handle in enumerate(handles):
        assert isinstance(bf.poll(handle), bool)
        expected = np.sum([rank_data(r, (k + 1,)) for r in range(bf.size())], axis=0)
        np.testing.assert_allclose(kind.numpy(bf.synchronize(handle)), expected)
    for k, handle in enumerate(inplace):
        assert bf.wait(handle) is xs[k]
        expected = np.mean([rank_data(r, (k + 1,)) for r in range(bf.size())], axis=0)
        np.testing.assert_allclose(kind.numpy(xs[k]), expected)


def test_machine_local_allreduce(kind):
    x = kind.make(rank_data(bf.rank()))
    y = bf.allreduce(x, is_hierarchical_local=True)
    local = bf.local_size()
    first = bf.machine_rank() * local
    expected = np.mean([rank_data(r) for r in range(first, first + local)], axis=0)
    np.testing.assert_allclose(kind.numpy(y), expected)


def test_scalar_and_empty_tensors(kind):
    y = bf.allreduce(kind.make(np.float64(bf.rank())), average=False)
    assert kind.numpy(y).shape == ()
    assert float(kind.numpy(y)) == sum(range(bf.size()))
    z = bf.allreduce(kind.make(np.zeros((0, 3))))
    assert kind.numpy(z).shape == (0, 3)


def test_float16():
    x = np.full(5, bf.rank() + 0.5, dtype=np.float16)
    y = bf.allreduce(x)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y, np.mean([r + 0.5 for r in range(bf.size())]), rtol=1e-3)


# ------------------------------------------------------------------------------------------------
# broadcast, allgather


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
def test_broadcast_every_root(kind, dtype):
    for root in range(bf.size()):
        x = kind.make(rank_data(bf.rank(), (2, 3), dtype))
        y = bf.broadcast(x, root)
        np.testing.assert_array_equal(kind.numpy(y), rank_data(root, (2, 3), dtype))
        np.testing.assert_array_equal(kind.numpy(x), rank_data(bf.rank(), (2, 3), dtype))
        ptr = kind.ptr(x)
        handle = bf.broadcast_nonblocking_(x, root)
        assert bf.synchronize(handle) is x and kind.ptr(x) == ptr
        np.testing.assert_array_equal(kind.numpy(x), rank_data(root, (2, 3), dtype))


def test_broadcast_root_out_of_range():
    with pytest.raises(ValueError, match="root_rank"):
        bf.broadcast(np.ones(2), bf.size())


def test_allgather_varying_first_dimension(kind):
    r = bf.rank()
    x = kind.make(np.full((r + 1, 2), float(r)))
    y = bf.allgather(x)
    expected = np.concatenate([np.full((k + 1, 2), float(k)) for k in range(bf.size())])
    np.testing.assert_array_equal(kind.numpy(y), expected)
    handle = bf.allgather_nonblocking(kind.make(np.arange(r + 1, dtype=np.int32)), name="ag")
    y = bf.synchronize(handle)
    expected = np.concatenate([np.arange(k + 1) for k in range(bf.size())])
    np.testing.assert_array_equal(kind.numpy(y), expected)
    assert kind.numpy(y).dtype == np.int32


def test_allgather_result_imports_without_copy(kind):
    # The result's memory is the engine's buffer handed over through DLPack: writable, owned by
    # the returned array, and freed with it (no crash when dropped in any order).
    ys = [bf.allgather(kind.make(np.ones(3) * bf.rank())) for _ in range(3)]
    for y in ys:
        kind.numpy(y)[0] = 42.0
    del ys


# ------------------------------------------------------------------------------------------------
# neighbor_allgather


def test_neighbor_allgather_static_order(kind):
    r = bf.rank()
    x = kind.make(np.full((r + 1, 2), float(r)))
    y = bf.neighbor_allgather(x)
    parts = [np.full((k + 1, 2), float(k)) for k in bf.in_neighbor_ranks()]
    expected = np.concatenate(parts) if parts else np.zeros((0, 2))
    np.testing.assert_array_equal(kind.numpy(y), expected)


def test_neighbor_allgather_dynamic_order(kind):
    n, r = bf.size(), bf.rank()
    if n == 1:
        pytest.skip("needs two ranks")
    rng = np.random.default_rng(7)  # same permutation on every rank
    others = {k: [j for j in rng.permutation(n).tolist() if j != k] for k in range(n)}
    src = others[r]
    dst = [k for k in range(n) if k != r]
    y = bf.neighbor_allgather(kind.make(np.array([float(r)])), src_ranks=src, dst_ranks=dst)
    np.testing.assert_array_equal(kind.numpy(y), np.array(src, dtype=float))


def test_neighbor_allgather_needs_both_lists():
    with pytest.raises(ValueError, match="dst_ranks and src_ranks"):
        bf.neighbor_allgather(np.ones(1), src_ranks=[])


# ------------------------------------------------------------------------------------------------
# neighbor_allreduce


def reference_static(w, data, rank, weighted):
    sources = [j for j in range(len(w)) if j != rank and w[j, rank] != 0]
    if weighted:
        return w[rank, rank] * data[rank] + sum(w[j, rank] * data[j] for j in sources)
    u = 1.0 / (len(sources) + 1)
    return u * data[rank] + sum(u * data[j] for j in sources)


@pytest.mark.parametrize("topology", ["exp2", "ring", "star", "mesh", "full"])
@pytest.mark.parametrize("weighted", [False, True])
def test_neighbor_allreduce_static(kind, topology, weighted):
    n = bf.size()
    graph = {"exp2": bf.ExponentialGraph, "ring": bf.RingGraph, "star": bf.StarGraph,
             "mesh": bf.MeshGrid2DGraph, "full": bf.FullyConnectedGraph}[topology](n)
    assert bf.set_topology(graph, is_weighted=weighted)
    x = kind.make(rank_data(bf.rank()))
    y = bf.neighbor_allreduce(x)
    expected = reference_static(topology_matrix(graph), all_data(), bf.rank(), weighted)
    np.testing.assert_allclose(kind.numpy(y), expected, rtol=1e-12)
    np.testing.assert_array_equal(kind.numpy(x), rank_data(bf.rank()))


def test_neighbor_allreduce_explicit_partial_weights(kind):
    # Static mode with weights for some in-neighbors: each weight pairs with its own rank,
    # the in-neighbors left out weigh 0 (BlueFog mis-paired them).
    r = bf.rank()
    neighbors = bf.in_neighbor_ranks()
    chosen = {j: 0.1 * (k + 1) for k, j in enumerate(neighbors[::2])}
    y = bf.neighbor_allreduce(kind.make(rank_data(r)), self_weight=0.25, src_weights=chosen)
    expected = 0.25 * rank_data(r) + sum(w * rank_data(j) for j, w in chosen.items())
    np.testing.assert_allclose(kind.numpy(y), expected, rtol=1e-12)


def test_neighbor_allreduce_dynamic_ring_with_dst_weights(kind):
    n, r = bf.size(), bf.rank()
    if n == 1:
        pytest.skip("needs two ranks")
    right, left = (r + 1) % n, (r - 1) % n
    y = bf.neighbor_allreduce(kind.make(rank_data(r)), self_weight=0.5, src_weights={left: 0.5},
                              dst_weights={right: 2.0})
    np.testing.assert_allclose(kind.numpy(y), 0.5 * rank_data(r) + 0.5 * 2.0 * rank_data(left))
    # List form (no scaling) from a rank outside the static topology's in-neighbors.
    far = (r + n // 2) % n
    src = (r - n // 2) % n
    if far == r:
        return
    y = bf.neighbor_allreduce(kind.make(rank_data(r)), self_weight=0.0, src_weights={src: 1.0},
                              dst_weights=[far])
    np.testing.assert_allclose(kind.numpy(y), rank_data(src))


def test_neighbor_allreduce_empty_send_or_receive(kind):
    # Even ranks only send, odd ranks only receive from the even rank before them.
    n, r = bf.size(), bf.rank()
    x = kind.make(rank_data(r))
    if r % 2 == 0:
        dst = [r + 1] if r + 1 < n else []
        y = bf.neighbor_allreduce(x, self_weight=1.0, src_weights={}, dst_weights=dst)
        np.testing.assert_allclose(kind.numpy(y), rank_data(r))
    else:
        y = bf.neighbor_allreduce(x, self_weight=0.5, src_weights={r - 1: 0.5}, dst_weights=[])
        np.testing.assert_allclose(kind.numpy(y), 0.5 * rank_data(r) + 0.5 * rank_data(r - 1))


def test_neighbor_allreduce_inplace_and_nonblocking(kind):
    x = kind.make(rank_data(bf.rank()))
    ptr = kind.ptr(x)
    handle = bf.neighbor_allreduce_nonblocking_(x)
    assert bf.synchronize(handle) is x and kind.ptr(x) == ptr
    expected = reference_static(topology_matrix(bf.load_topology()), all_data(), bf.rank(), False)
    np.testing.assert_allclose(kind.numpy(x), expected, rtol=1e-12)
    handles = [bf.neighbor_allreduce_nonblocking(kind.make(rank_data(bf.rank(), (k + 2,))),
                                                 name=f"nar.{k}") for k in range(5)]
    for k, handle in enumerate(handles):
        data = [rank_data(j, (k + 2,)) for j in range(bf.size())]
        expected = reference_static(topology_matrix(bf.load_topology()), data, bf.rank(), False)
        np.testing.assert_allclose(kind.numpy(bf.synchronize(handle)), expected, rtol=1e-12)


def test_neighbor_allreduce_dynamic_topology_check():
    n, r = bf.size(), bf.rank()
    if n < 3:
        pytest.skip("needs three ranks to disagree")
    # Everyone sends right but claims to receive from the right as well: inconsistent.
    with pytest.raises(RuntimeError) as info:
        bf.neighbor_allreduce(np.ones(2), self_weight=0.5, src_weights={(r + 1) % n: 0.5},
                              dst_weights=[(r + 1) % n], enable_topo_check=True)
    assert info.value.status == _native.lib.BF_ERR_MISMATCH


def test_neighbor_allreduce_argument_errors():
    x = np.ones(2)
    with pytest.raises(ValueError, match="self_weight and src_weights have to be presented"):
        bf.neighbor_allreduce(x, self_weight=0.5)
    with pytest.raises(ValueError, match="unique ranks"):
        bf.neighbor_allreduce(x, self_weight=0.5, src_weights={}, dst_weights=[0, 0])
    with pytest.raises(ValueError, match="should be presented if enabling dynamic"):
        bf.neighbor_allreduce(x, dst_weights=[])
    with pytest.raises(ValueError, match="dictionary"):
        bf.neighbor_allreduce(x, self_weight=0.5, src_weights=[1])
    with pytest.raises(ValueError, match="floating"):
        bf.neighbor_allreduce(np.ones(2, dtype=np.int32))
    with pytest.raises(ValueError):
        bf.neighbor_allreduce(np.ones((4, 4))[:, ::2])  # not contiguous
    not_neighbor = [k for k in range(bf.size()) if k != bf.rank()
                    and k not in bf.in_neighbor_ranks()]
    if not_neighbor:
        with pytest.raises(ValueError, match="not an in-neighbor"):
            bf.neighbor_allreduce(x, self_weight=0.5, src_weights={not_neighbor[0]: 0.5})


def test_readonly_and_list_inputs():
    x = rank_data(bf.rank())
    x.setflags(write=False)
    np.testing.assert_allclose(bf.allreduce(x), np.mean(all_data(), axis=0))
    with pytest.raises(ValueError, match="read-only"):
        bf.allreduce_(x)
    y = bf.allreduce([1.0, 2.0], average=False)
    np.testing.assert_allclose(y, [bf.size(), 2.0 * bf.size()])


def test_torch_requires_grad_and_bfloat16():
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.full((3,), float(bf.rank())))
    y = bf.allreduce(w)
    assert not y.requires_grad
    assert torch.allclose(y, torch.full((3,), (bf.size() - 1) / 2, dtype=torch.float32))
    z = bf.neighbor_allreduce(torch.full((4,), float(bf.rank()), dtype=torch.bfloat16))
    assert z.dtype == torch.bfloat16
    expected = reference_static(topology_matrix(bf.load_topology()),
                                [np.full(4, float(k)) for k in range(bf.size())], bf.rank(), False)
    np.testing.assert_allclose(z.float().numpy(), expected, rtol=1e-2)


# ------------------------------------------------------------------------------------------------
# hierarchical_neighbor_allreduce, pair_gossip, barrier, handles


def test_hierarchical_neighbor_allreduce(kind):
    machines, local = bf.machine_size(), bf.local_size()
    graph = bf.ExponentialGraph(machines)
    assert bf.set_machine_topology(graph)
    y = bf.hierarchical_neighbor_allreduce(kind.make(rank_data(bf.rank())))
    sums = [np.sum([rank_data(m * local + k) for k in range(local)], axis=0)
            for m in range(machines)]
    m = bf.machine_rank()
    expected = reference_static(topology_matrix(graph), sums, m, False) / local
    np.testing.assert_allclose(kind.numpy(y), expected, rtol=1e-12)
    x = kind.make(rank_data(bf.rank()))
    ptr = kind.ptr(x)
    assert bf.hierarchical_neighbor_allreduce_(x) is x and kind.ptr(x) == ptr
    np.testing.assert_allclose(kind.numpy(x), expected, rtol=1e-12)
    if machines > 1:  # dynamic: machine m listens to m-1 only, with a dst weight of 2
        src, dst = (m - 1) % machines, (m + 1) % machines
        y = bf.hierarchical_neighbor_allreduce(kind.make(rank_data(bf.rank())), self_weight=0.5,
                                               src_machine_weights={src: 0.25},
                                               dst_machine_weights={dst: 2.0})
        np.testing.assert_allclose(kind.numpy(y), (0.5 * sums[m] + 0.5 * sums[src]) / local,
                                   rtol=1e-12)


def test_pair_gossip(kind):
    n, r = bf.size(), bf.rank()
    peer = r ^ 1
    if peer >= n:
        return  # the last rank of an odd world has no partner
    x = kind.make(rank_data(r))
    y = bf.pair_gossip(x, peer)
    np.testing.assert_allclose(kind.numpy(y), (rank_data(r) + rank_data(peer)) / 2)
    ptr = kind.ptr(x)
    bf.pair_gossip_(x, peer, self_weight=0.25, pair_weight=0.75)
    assert kind.ptr(x) == ptr
    np.testing.assert_allclose(kind.numpy(x), 0.25 * rank_data(r) + 0.75 * rank_data(peer))
    with pytest.raises(ValueError, match="at same time"):
        bf.pair_gossip(x, peer, self_weight=0.5)


def test_barrier():
    bf.barrier()
    assert bf.synchronize(bf.barrier_nonblocking()) is None


def test_waiting_releases_the_gil():
    # Rank 0 joins the barrier late; meanwhile the others wait for it on a second thread and the
    # main thread must keep running Python code (the extension releases the GIL in bf_wait).
    import threading
    import time
    handle = bf.barrier_nonblocking()
    if bf.rank() == 0:
        time.sleep(0.3)
    waiter = threading.Thread(target=bf.synchronize, args=(handle,))
    waiter.start()
    count, deadline = 0, time.perf_counter() + 0.2
    while time.perf_counter() < deadline:
        count += 1
    waiter.join()
    assert count > 10000


def test_handle_errors():
    with pytest.raises(ValueError, match="was not created or has been cleared"):
        bf.poll(123456789)
    handle = bf.allreduce_nonblocking(np.ones(1))
    bf.synchronize(handle)
    with pytest.raises(ValueError, match="Cannot find handle"):
        bf.synchronize(handle)


def test_mismatched_shapes_fail_on_every_rank():
    if bf.size() == 1:
        pytest.skip("needs two ranks")
    with pytest.raises(RuntimeError) as info:
        bf.allreduce(np.ones(bf.rank() + 1), name="mismatch")
    assert info.value.status == _native.lib.BF_ERR_MISMATCH
    bf.barrier()  # the engine is usable afterwards
