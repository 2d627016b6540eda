# SPDX-License-Identifier: Apache-2.0
# One-sided windows of the generic `bluefog` package and of `bluefog.torch`, on NumPy and PyTorch
# arrays: create/free/names, put/accumulate/get with weights against closed-form NumPy values,
# every win_update variant, versions, associated p, mutexes (that they really exclude), the
# nonblocking forms, data pointers of window tensors, and the errors.
#
# Puts and gets are one-sided: a barrier separates one rank's transfers from the reads of their
# targets. Each test frees its windows (the topology cannot change while one exists).
import time

import numpy as np
import pytest

import bluefog as bf
from conftest import rank_data

FLOATS = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def free_windows():
    yield
    if bf.get_current_created_window_names():
        bf.win_free()
    bf.turn_off_win_ops_with_associated_p()


def tolerance(dtype):
    return {"rtol": 1e-6, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


def data(rank, dtype=np.float64):
    return rank_data(rank, (3, 2), dtype)


def ins():
    return bf.in_neighbor_ranks()


def outs():
    return bf.out_neighbor_ranks()


# ------------------------------------------------------------------------------------------------
# create, free, names


def test_create_free_names(kind):
    x = kind.make(data(bf.rank()))
    assert bf.get_current_created_window_names() == []
    assert bf.win_create(x, "win.b") is True
    assert bf.win_create(x, "win.b") is False  # the name exists: False, as BlueFog
    assert bf.win_create(kind.make(data(bf.rank())), "win.a", zero_init=True) is True
    assert bf.get_current_created_window_names() == ["win.a", "win.b"]
    assert bf.win_free("win.b") is True
    assert bf.get_current_created_window_names() == ["win.a"]
    with pytest.raises(KeyError):
        bf.win_free("win.b")
    assert bf.win_free() is True
    assert bf.get_current_created_window_names() == []


def test_topology_cannot_change_while_a_window_exists(kind):
    assert bf.win_create(kind.make(data(bf.rank())), "win.topo")
    assert bf.set_topology(bf.RingGraph(bf.size())) is False
    assert set(bf.in_neighbor_ranks()) == set(bf.ExponentialGraph(bf.size()).predecessors(
        bf.rank())) - {bf.rank()}
    bf.win_free("win.topo")
    assert bf.set_topology(bf.RingGraph(bf.size())) is True


# ------------------------------------------------------------------------------------------------
# put, accumulate, get: exact values through win_update


def combine(name, weights, clone=True):
    """sum_s weights[s] * buffer[s], through win_update with self_weight 0."""
    return bf.win_update(name, self_weight=0.0, neighbor_weights=weights, clone=clone)


@pytest.mark.parametrize("dtype", FLOATS)
def test_put_with_destination_weights(kind, dtype):
    r = bf.rank()
    x = kind.make(data(r, dtype))
    assert bf.win_create(x, "win.put")
    bf.barrier()
    # Rank s puts (0.5 + d) * x_s into d's buffer for s.
    assert bf.win_put(x, "win.put", dst_weights={d: 0.5 + d for d in outs()}) is True
    bf.barrier()
    assert bf.get_win_version("win.put") == {s: 1 for s in ins()}
    coefficients = {s: 1.0 + s for s in ins()}
    result = combine("win.put", coefficients)
    expected = sum((1.0 + s) * (0.5 + r) * data(s) for s in ins()) + 0 * data(r)
    np.testing.assert_allclose(kind.numpy(result), expected, **tolerance(dtype))
    np.testing.assert_array_equal(kind.numpy(x), data(r, dtype))  # clone: window untouched
    assert bf.get_win_version("win.put") == {s: 0 for s in ins()}  # read buffers: consumed


def test_put_list_of_ranks_replaces_buffer(kind):
    r = bf.rank()
    x = kind.make(data(r))
    assert bf.win_create(x, "win.list")
    bf.barrier()
    bf.win_put(kind.make(100 * data(r)), "win.list", dst_weights=outs())  # weight 1.0 each
    bf.win_put(x, "win.list", dst_weights=outs())  # replaces, does not add
    bf.barrier()
    result = combine("win.list", {s: 1.0 for s in ins()})
    np.testing.assert_allclose(kind.numpy(result), sum(data(s) for s in ins()) + 0 * data(r))
    assert bf.get_win_version("win.list") == {s: 0 for s in ins()}
    bf.barrier()


def test_put_self_weight_scales_the_tensor_in_place(kind):
    r = bf.rank()
    x = kind.make(data(r))
    ptr = kind.ptr(x)
    assert bf.win_create(x, "win.self")
    bf.barrier()
    bf.win_put(x, "win.self", self_weight=0.25)
    np.testing.assert_allclose(kind.numpy(x), 0.25 * data(r))  # after sending
    assert kind.ptr(x) == ptr
    other = kind.make(2 * data(r))  # any tensor of the window's shape and dtype
    bf.win_put(other, "win.self", self_weight=0.5, dst_weights=outs())
    np.testing.assert_allclose(kind.numpy(other), data(r))
    bf.barrier()
    result = combine("win.self", {s: 1.0 for s in ins()})
    np.testing.assert_allclose(kind.numpy(result), sum(2 * data(s) for s in ins()) + 0 * data(r))
    bf.barrier()


@pytest.mark.parametrize("dtype", FLOATS)
def test_accumulate_adds(kind, dtype):
    r = bf.rank()
    x = kind.make(data(r, dtype))
    assert bf.win_create(x, "win.acc", zero_init=True)
    bf.barrier()
    bf.win_accumulate(x, "win.acc")  # every out-neighbor, weight 1
    bf.win_accumulate(x, "win.acc", dst_weights={d: 0.5 * d for d in outs()})
    bf.barrier()
    assert bf.get_win_version("win.acc") == {s: 2 for s in ins()}
    result = combine("win.acc", {s: 1.0 for s in ins()})
    expected = sum((1.0 + 0.5 * r) * data(s) for s in ins()) + 0 * data(r)
    np.testing.assert_allclose(kind.numpy(result), expected, **tolerance(dtype))
    bf.barrier()


def test_zero_init_and_initial_buffers_copy_the_local_tensor(kind):
    r = bf.rank()
    x, z = kind.make(data(r)), kind.make(data(r))
    assert bf.win_create(x, "win.copy")
    assert bf.win_create(z, "win.zero", zero_init=True)
    ones = {s: 1.0 for s in ins()}
    np.testing.assert_allclose(kind.numpy(combine("win.copy", ones)), len(ins()) * data(r))
    np.testing.assert_array_equal(kind.numpy(combine("win.zero", ones)), 0 * data(r))


def test_get_with_source_weights(kind):
    r = bf.rank()
    x = kind.make(data(r))
    assert bf.win_create(x, "win.get", zero_init=True)
    bf.barrier()
    assert bf.win_get("win.get", src_weights={s: 1.0 / (s + 1) for s in ins()}) is True
    assert bf.get_win_version("win.get") == {s: 1 for s in ins()}
    result = combine("win.get", {s: 1.0 for s in ins()})
    np.testing.assert_allclose(kind.numpy(result),
                               sum(data(s) / (s + 1) for s in ins()) + 0 * data(r))
    handle = bf.win_get_nonblocking("win.get")  # default: every in-neighbor, weight 1
    assert bf.win_wait(handle) is True
    result = combine("win.get", {s: 1.0 for s in ins()})
    np.testing.assert_allclose(kind.numpy(result), sum(data(s) for s in ins()) + 0 * data(r))
    bf.barrier()


# ------------------------------------------------------------------------------------------------
# win_update


def test_update_default_is_uniform_average_in_place(kind):
    r = bf.rank()
    x = kind.make(data(r))
    ptr = kind.ptr(x)
    assert bf.win_create(x, "win.avg")
    # Buffers start as copies of x: the default update leaves x as it is.
    y = bf.win_update("win.avg")
    assert y is x and kind.ptr(y) == ptr
    np.testing.assert_allclose(kind.numpy(x), data(r))
    bf.barrier()
    bf.win_put(x, "win.avg")
    bf.barrier()
    clone = bf.win_update("win.avg", clone=True)
    expected = (data(r) + sum(data(s) for s in ins())) / (len(ins()) + 1)
    np.testing.assert_allclose(kind.numpy(clone), expected)
    assert kind.ptr(clone) != ptr
    np.testing.assert_allclose(kind.numpy(x), data(r))
    y = bf.win_update("win.avg")
    assert y is x and kind.ptr(x) == ptr
    np.testing.assert_allclose(kind.numpy(x), expected)
    bf.barrier()


def test_update_weighted_topology_default(kind):
    n, r = bf.size(), bf.rank()
    assert bf.set_topology(bf.RingGraph(n), is_weighted=True)
    graph = bf.load_topology()
    self_weight, neighbor_weights = bf.GetRecvWeights(graph, r)
    x = kind.make(data(r))
    assert bf.win_create(x, "win.weighted")
    bf.barrier()
    bf.win_put(x, "win.weighted")
    bf.barrier()
    y = bf.win_update("win.weighted")
    expected = self_weight * data(r) + sum(w * data(s) for s, w in neighbor_weights.items())
    np.testing.assert_allclose(kind.numpy(y), expected)
    bf.barrier()
    bf.win_free()


def test_update_weights_partial_reset_and_versions(kind):
    r = bf.rank()
    x = kind.make(data(r))
    assert bf.win_create(x, "win.reset")
    bf.barrier()
    bf.win_put(x, "win.reset")
    bf.barrier()
    first = ins()[:1]
    y = bf.win_update("win.reset", self_weight=0.5, neighbor_weights={s: 0.25 for s in first},
                      reset=True)
    np.testing.assert_allclose(kind.numpy(y), 0.5 * data(r) + sum(0.25 * data(s) for s in first))
    # Only the buffers read are consumed and reset.
    assert bf.get_win_version("win.reset") == {s: 0 if s in first else 1 for s in ins()}
    after = combine("win.reset", {s: 1.0 for s in ins()})
    np.testing.assert_allclose(kind.numpy(after),
                               sum(data(s) for s in ins() if s not in first) + 0 * data(r))
    bf.barrier()


def test_update_then_collect(kind):
    r = bf.rank()
    x = kind.make(data(r))
    assert bf.win_create(x, "win.collect", zero_init=True)
    bf.barrier()
    bf.win_accumulate(x, "win.collect", dst_weights={d: 0.5 for d in outs()}, require_mutex=True)
    bf.barrier()
    y = bf.win_update_then_collect("win.collect")
    assert y is x
    np.testing.assert_allclose(kind.numpy(x), data(r) + sum(0.5 * data(s) for s in ins()))
    # The buffers were emptied.
    np.testing.assert_array_equal(kind.numpy(combine("win.collect", {s: 1.0 for s in ins()})),
                                  0 * data(r))
    bf.barrier()


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_window(kind, dtype):
    r = bf.rank()
    x = kind.make(np.arange(4, dtype=dtype) * (r + 1))
    assert bf.win_create(x, "win.int", zero_init=True)
    bf.barrier()
    bf.win_accumulate(x, "win.int")
    bf.barrier()
    bf.win_update_then_collect("win.int")
    expected = np.arange(4) * ((r + 1) + sum(s + 1 for s in ins()))
    np.testing.assert_array_equal(kind.numpy(x), expected)
    assert kind.numpy(x).dtype == dtype
    bf.barrier()


def test_update_argument_errors(kind):
    assert bf.win_create(kind.make(data(bf.rank())), "win.err")
    with pytest.raises(ValueError, match="same time"):
        bf.win_update("win.err", self_weight=0.5)
    with pytest.raises(ValueError, match="same time"):
        bf.win_update("win.err", neighbor_weights={s: 0.5 for s in ins()})
    with pytest.raises(ValueError, match="dictionary"):
        bf.win_update("win.err", self_weight=0.5, neighbor_weights=ins())
    with pytest.raises(KeyError):
        bf.win_update("win.missing")
    with pytest.raises(ValueError):  # not an in-neighbor
        bf.win_update("win.err", self_weight=0.5, neighbor_weights={bf.rank(): 0.5})


# ------------------------------------------------------------------------------------------------
# errors, nonblocking forms


def test_operation_errors(kind):
    r = bf.rank()
    x = kind.make(data(r))
    assert bf.win_create(x, "win.bad")
    with pytest.raises(ValueError):  # this rank is not its own out-neighbor
        bf.win_put(x, "win.bad", dst_weights={r: 1.0})
    with pytest.raises(ValueError):
        bf.win_accumulate(x, "win.bad", dst_weights=[r])
    with pytest.raises(ValueError):
        bf.win_get("win.bad", src_weights={r: 1.0})
    with pytest.raises(ValueError):
        bf.win_put(x, "win.bad", dst_weights=outs() + outs()[:1] if outs() else [r, r])
    with pytest.raises(ValueError):  # another shape
        bf.win_put(kind.make(np.zeros(5)), "win.bad")
    with pytest.raises(ValueError):  # another dtype
        bf.win_put(kind.make(data(r, np.float32)), "win.bad")
    with pytest.raises(ValueError):  # no such window
        bf.win_put(x, "win.none")
    with pytest.raises(ValueError):
        bf.win_get("win.none")
    with pytest.raises(TypeError):
        bf.win_create([1.0, 2.0], "win.list")
    bf.barrier()


def test_nonblocking_put_wait_and_poll(kind):
    r = bf.rank()
    x = kind.make(data(r))
    assert bf.win_create(x, "win.nb", zero_init=True)
    bf.barrier()
    handle = bf.win_put_nonblocking(x, "win.nb", dst_weights={d: 2.0 for d in outs()})
    polled = bf.win_poll(handle)
    waited = bf.win_wait(handle)
    handle2 = bf.win_accumulate_nonblocking(kind.make(data(r)), "win.nb")
    waited2 = bf.win_wait(handle2)
    with pytest.warns(UserWarning, match="cleared"):
        waited_again = bf.win_wait(handle)
    bf.barrier()
    result = combine("win.nb", {s: 1.0 for s in ins()})
    bf.barrier()
    assert isinstance(polled, bool) and waited is True and waited2 is True
    assert waited_again is False
    np.testing.assert_allclose(kind.numpy(result), sum(3 * data(s) for s in ins()) + 0 * data(r))


def test_put_then_accumulate_apply_in_issue_order(kind):
    # Without mutexes, one rank's transfers to one peer are applied in the order issued.
    r = bf.rank()
    x = kind.make(data(r))
    assert bf.win_create(x, "win.order", zero_init=True)
    results = []
    for _ in range(10):
        bf.barrier()
        handles = [bf.win_put_nonblocking(x, "win.order", dst_weights={d: 2.0 for d in outs()}),
                   bf.win_accumulate_nonblocking(kind.make(data(r)), "win.order")]
        for handle in handles:
            bf.win_wait(handle)
        bf.barrier()
        results.append(kind.numpy(combine("win.order", {s: 1.0 for s in ins()})).copy())
    bf.barrier()
    for result in results:  # asserted after the last collective call: no rank is left waiting
        np.testing.assert_allclose(result, sum(3 * data(s) for s in ins()) + 0 * data(r))


# ------------------------------------------------------------------------------------------------
# associated p, mutexes


def test_associated_p(kind):
    r = bf.rank()
    bf.turn_on_win_ops_with_associated_p()
    x = kind.make(data(r))
    assert bf.win_create(x, "win.p", zero_init=True)
    assert bf.win_associated_p("win.p") == 1.0
    bf.barrier()
    # Sends p = 1.0 * 0.5 to each out-neighbor, then keeps p * 0.25.
    bf.win_accumulate(x, "win.p", self_weight=0.25, dst_weights={d: 0.5 for d in outs()})
    assert bf.win_associated_p("win.p") == pytest.approx(0.25)
    bf.barrier()
    bf.win_update_then_collect("win.p")
    assert bf.win_associated_p("win.p") == pytest.approx(0.25 + 0.5 * len(ins()))
    np.testing.assert_allclose(kind.numpy(x), 0.25 * data(r) + sum(0.5 * data(s) for s in ins()))
    bf.turn_off_win_ops_with_associated_p()
    bf.barrier()
    bf.win_accumulate(x, "win.p", self_weight=0.5)
    assert bf.win_associated_p("win.p") == pytest.approx(0.25 + 0.5 * len(ins()))
    bf.barrier()


def test_mutex_excludes_neighbors_puts(kind):
    if bf.size() == 1:
        pytest.skip("no neighbors")
    x = kind.make(data(bf.rank()))
    assert bf.win_create(x, "win.mutex")
    hold_s = 0.6
    # Each rank holds the mutexes of its own buffers; its in-neighbors' puts that require the
    # mutex must wait until it lets go.
    with bf.win_mutex("win.mutex", for_self=True, ranks=ins()):
        bf.barrier()
        start = time.monotonic()
        handle = bf.win_put_nonblocking(x, "win.mutex", require_mutex=True)
        time.sleep(hold_s)
    bf.win_wait(handle)
    assert time.monotonic() - start > 0.5 * hold_s
    bf.barrier()
    # The other side: the mutexes at the out-neighbors for this rank's buffers (default ranks).
    with bf.win_mutex("win.mutex"):
        pass
    bf.win_update("win.mutex", require_mutex=True)
    bf.barrier()


# ------------------------------------------------------------------------------------------------
# bluefog.torch: BlueFog's names and checks, window tensors that are parameters


def test_torch_window_api():
    torch = pytest.importorskip("torch")
    import bluefog.torch as bft
    r = bft.rank()
    p = torch.nn.Parameter(torch.from_numpy(data(r)))
    ptr = p.data_ptr()
    assert bft.win_create(p.data, "win.torch")
    assert bft.get_current_created_window_names() == ["win.torch"]
    bft.barrier()
    assert bft.neighbor_win_put(p.data, "win.torch", dst_weights={d: 1.0 for d in outs()})
    bft.barrier()
    assert bft.get_win_version("win.torch") == {s: 1 for s in ins()}
    with torch.no_grad():
        y = bft.win_update("win.torch")
    expected = (data(r) + sum(data(s) for s in ins())) / (len(ins()) + 1)
    np.testing.assert_allclose(p.detach().numpy(), expected)  # the parameter itself
    assert p.data_ptr() == ptr and y.data_ptr() == ptr
    bft.barrier()
    with pytest.raises(ValueError, match="out-neighbor"):
        bft.neighbor_win_put(p.data, "win.torch", dst_weights={r: 1.0})
    with pytest.raises(ValueError, match="in-neighbor"):
        bft.neighbor_win_get("win.torch", src_weights={r: 1.0})
    with pytest.raises(ValueError, match="float"):
        bft.win_update("win.torch", self_weight=1, neighbor_weights={})
    with pytest.raises(ValueError, match="in-neighbors"):
        bft.win_update("win.torch", self_weight=1.0, neighbor_weights={r: 1.0})
    with pytest.raises(ValueError, match="not supported"):
        bft.win_create(torch.zeros(3, dtype=torch.uint8), "win.u8")
    with pytest.raises(ValueError, match="contiguous"):
        bft.win_create(torch.zeros(3, 4).t(), "win.t")
    assert bft.win_put is bft.neighbor_win_put  # BlueFog's older names
    handle = bft.neighbor_win_accumulate_nonblocking(p.data, "win.torch", self_weight=0.5)
    assert bft.win_wait(handle)
    np.testing.assert_allclose(p.detach().numpy(), 0.5 * expected)
    bft.barrier()
    assert bft.win_free("win.torch")
