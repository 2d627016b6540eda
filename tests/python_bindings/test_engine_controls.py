# SPDX-License-Identifier: Apache-2.0
# Engine controls from Python, generic `bluefog` and `bluefog.torch`: the MPI thread-level and
# window-model queries, win_lock (a neighbor's put is not visible until unlock, then is),
# suspend/resume (ValueError naming the suspension) and the run-time matching-mode switch
# (set_matching_mode / set_skip_negotiate_stage) followed by ordered-mode operations, checked
# against closed-form NumPy values.
import time

import numpy as np
import pytest

import bluefog as bf
from bluefog._native import lib
from conftest import WORLD_SIZE


@pytest.fixture(autouse=True)
def clean_state():
    yield
    if bf.is_suspended():
        bf.resume()
    if bf.get_current_created_window_names():
        bf.win_free()


def rank_sum():
    return bf.size() * (bf.size() - 1) / 2.0


def test_queries():
    # bf.init initializes MPI asking for MPI_THREAD_MULTIPLE, which Open MPI grants.
    assert bf.mpi_threads_supported() == 1
    assert isinstance(bf.mpi_threads_supported(), int)
    assert bf.unified_mpi_window_model_supported() is True


def test_win_lock_holds_a_neighbor_put_until_unlock(kind):
    bf.set_topology(bf.FullyConnectedGraph(bf.size()))
    me = bf.rank()
    x = kind.make(np.full(3, float(me)))
    assert bf.win_create(x, "ctl.lock", zero_init=True)
    bf.barrier()
    if me == 0:
        with bf.win_lock("ctl.lock"):
            assert lib.bf_win_is_locked("ctl.lock") == 1
            bf.barrier()  # the others put now
            bf.barrier()
            time.sleep(0.2)  # their puts have arrived, and wait
            assert set(bf.get_win_version("ctl.lock").values()) <= {0}
            for peer in range(1, bf.size()):
                held = bf.win_update("ctl.lock", self_weight=0.0, neighbor_weights={peer: 1.0},
                                     clone=True)
                np.testing.assert_array_equal(kind.numpy(held), np.zeros(3))
        assert lib.bf_win_is_locked("ctl.lock") == 0
    else:
        bf.barrier()
        handle = bf.win_put_nonblocking(kind.make(np.full(3, 100.0 + me)), "ctl.lock",
                                        dst_weights={0: 1.0})
        time.sleep(0.3)
        assert not bf.win_poll(handle), "a put completed while its destination was locked"
        bf.barrier()
        assert bf.win_wait(handle)
    bf.barrier()
    if me == 0:
        assert bf.get_win_version("ctl.lock") == {peer: 1 for peer in range(1, bf.size())}
        for peer in range(1, bf.size()):
            landed = bf.win_update("ctl.lock", self_weight=0.0, neighbor_weights={peer: 1.0},
                                   clone=True)
            np.testing.assert_array_equal(kind.numpy(landed), np.full(3, 100.0 + peer))
    assert bf.win_free("ctl.lock")


def test_win_lock_errors():
    x = np.zeros(3)
    assert bf.win_create(x, "ctl.errors")
    with pytest.raises(ValueError, match=f"no window named 'ctl.nowhere' on rank {bf.rank()}"):
        with bf.win_lock("ctl.nowhere"):
            pass
    with bf.win_lock("ctl.errors"):
        with pytest.raises(ValueError, match="already locked"):
            with bf.win_lock("ctl.errors"):
                pass
    with pytest.raises(ValueError, match=f"'ctl.errors' on rank {bf.rank()} is not locked"):
        lib.bf_win_unlock("ctl.errors")


def test_suspend_refuses_operations_until_resume():
    bf.suspend()
    assert bf.is_suspended()
    with pytest.raises(ValueError, match=f"BlueFog is suspended on rank {bf.rank()}"):
        bf.allreduce(np.ones(2))
    with pytest.raises(ValueError, match="call bf_resume first"):
        bf.barrier()
    bf.resume()
    assert not bf.is_suspended()
    total = bf.allreduce(np.full(2, float(bf.rank())), average=False)
    np.testing.assert_array_equal(total, np.full(2, rank_sum()))


def test_matching_mode_switch_then_ordered_operations():
    initial = bf.matching_mode()
    with pytest.raises(ValueError, match="'named' or 'ordered'"):
        bf.set_matching_mode("sometimes")
    bf.set_matching_mode("ordered")
    assert bf.matching_mode() == "ordered"
    total = bf.allreduce(np.full(4, float(bf.rank())), average=False)
    np.testing.assert_array_equal(total, np.full(4, rank_sum()))
    if WORLD_SIZE % 2 == 0:
        peer = bf.rank() ^ 1
        mixed = bf.pair_gossip(np.full(3, float(bf.rank())), peer, self_weight=0.25,
                               pair_weight=0.75)
        np.testing.assert_allclose(mixed, np.full(3, 0.25 * bf.rank() + 0.75 * peer))
    bf.set_matching_mode("named")
    assert bf.matching_mode() == "named"
    total = bf.allreduce(np.full(4, float(bf.rank())), average=False, name="ctl.named")
    np.testing.assert_array_equal(total, np.full(4, rank_sum()))
    bf.set_matching_mode(initial)
    assert bf.matching_mode() == initial


def test_torch_names():
    torch = pytest.importorskip("torch")
    import bluefog.torch as bft
    from bluefog.torch import mpi_ops
    assert bft.mpi_threads_supported() == 1
    assert bft.unified_mpi_window_model_supported() is True
    assert mpi_ops.win_lock is bf.win_lock and bft.win_lock is bf.win_lock

    bft.suspend()
    with pytest.raises(ValueError, match="suspended"):
        bft.allreduce(torch.ones(2))
    bft.resume()
    assert torch.equal(bft.allreduce(torch.ones(2)), torch.ones(2))

    initial = bft.get_skip_negotiate_stage()
    bft.set_skip_negotiate_stage(True)
    assert bft.get_skip_negotiate_stage() is True
    total = bft.allreduce(torch.full((3,), float(bft.rank())), average=False)
    assert torch.equal(total, torch.full((3,), rank_sum()))
    bft.set_skip_negotiate_stage(False)
    assert bft.get_skip_negotiate_stage() is False
    total = bft.allreduce(torch.full((3,), float(bft.rank())), average=False, name="ctl.torch")
    assert torch.equal(total, torch.full((3,), rank_sum()))
    bft.set_skip_negotiate_stage(initial)
