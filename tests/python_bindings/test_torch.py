# SPDX-License-Identifier: Apache-2.0
# bluefog.torch as a drop-in for BlueFog's PyTorch API: the exported names, argument checks with
# BlueFog's exception types and messages, deprecated keywords and utilities. Windows:
# test_windows.py; win_lock, suspend/resume and set_skip_negotiate_stage: test_engine_controls.py.
import os
import warnings

import numpy as np
import pytest
import torch

import bluefog
import bluefog.torch as bf
from bluefog.torch import mpi_ops
from conftest import rank_data, topology_matrix

# bluefog-semantics.md §1.1: everything the original `bluefog.torch` exports.
EXPORTS = """
init shutdown size local_size rank local_rank machine_size machine_rank load_topology set_topology
load_machine_topology set_machine_topology in_neighbor_ranks out_neighbor_ranks
in_neighbor_machine_ranks out_neighbor_machine_ranks mpi_threads_supported
unified_mpi_window_model_supported nccl_built is_homogeneous suspend resume
set_skip_negotiate_stage get_skip_negotiate_stage
allreduce allreduce_nonblocking allreduce_ allreduce_nonblocking_ allgather allgather_nonblocking
broadcast broadcast_nonblocking broadcast_ broadcast_nonblocking_ neighbor_allgather
neighbor_allgather_nonblocking neighbor_allreduce neighbor_allreduce_nonblocking
hierarchical_neighbor_allreduce hierarchical_neighbor_allreduce_nonblocking poll synchronize wait
barrier
win_create win_free win_update win_update_then_collect neighbor_win_put
neighbor_win_put_nonblocking neighbor_win_get neighbor_win_get_nonblocking neighbor_win_accumulate
neighbor_win_accumulate_nonblocking win_put win_put_nonblocking win_get win_get_nonblocking
win_accumulate win_accumulate_nonblocking win_wait win_poll win_mutex get_win_version
get_current_created_window_names win_associated_p turn_on_win_ops_with_associated_p
turn_off_win_ops_with_associated_p
timeline_start_activity timeline_end_activity timeline_context
broadcast_optimizer_state broadcast_parameters allreduce_parameters
CommunicationType DistributedAdaptThenCombineOptimizer DistributedAdaptWithCombineOptimizer
DistributedGradientAllreduceOptimizer DistributedWinPutOptimizer DistributedAllreduceOptimizer
DistributedNeighborAllreduceOptimizer DistributedHierarchicalNeighborAllreduceOptimizer
GetRecvWeights GetSendWeights IsRegularGraph IsTopologyEquivalent ExponentialTwoGraph
ExponentialGraph FullyConnectedGraph MeshGrid2DGraph RingGraph StarGraph SymmetricExponentialGraph
GetDynamicOnePeerSendRecvRanks GetExp2DynamicSendRecvMachineRanks
GetInnerOuterRingDynamicSendRecvRanks GetInnerOuterExpo2DynamicSendRecvRanks
InferSourceFromDestinationRanks InferDestinationFromSourceRanks
""".split()


def test_every_bluefog_name_is_exported():
    missing = [name for name in EXPORTS if not hasattr(bf, name)]
    assert missing == []
    for module, name in [("mpi_ops", "pair_gossip"), ("mpi_ops", "pair_gossip_nonblocking"),
                         ("mpi_ops", "win_lock"),
                         ("optimizers", "DistributedPushSumOptimizer"),
                         ("optimizers", "DistributedPullGetOptimizer")]:
        assert hasattr(getattr(bf, module), name)
    from bluefog.common import topology_util  # BlueFog's other import path
    assert topology_util.ExponentialGraph is bf.ExponentialGraph


def test_basics():
    assert bf.nccl_built() is (os.environ.get("BLUEFOG_TEST_NCCL_BUILT") == "1")
    assert bf.get_skip_negotiate_stage() == (bluefog.matching_mode() == "ordered")
    initial = bf.get_skip_negotiate_stage()
    bf.set_skip_negotiate_stage(not initial)  # collective: every rank switches the engine
    assert bf.get_skip_negotiate_stage() is (not initial)
    bf.set_skip_negotiate_stage(initial)
    assert bf.get_skip_negotiate_stage() is initial
    assert bf.is_topo_weighted() is False
    assert bf.set_topology(bf.RingGraph(bf.size()), is_weighted=True)
    assert bf.is_topo_weighted() is True


# ------------------------------------------------------------------------------------------------
# Operations: tensor checks, BlueFog's messages.


def test_tensor_type_and_contiguity_checks():
    with pytest.raises(ValueError, match=r"Tensor type torch.BoolTensor is not supported."):
        bf.allreduce(torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"Tensor type torch.IntTensor is not supported."):
        bf.neighbor_allreduce(torch.ones(2, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"Tensor is required to be contiguous."):
        bf.broadcast(torch.ones(4, 4).t(), 0)


@pytest.mark.parametrize("function", ["neighbor_allreduce", "neighbor_allreduce_nonblocking"])
def test_deprecated_keywords(function):
    call = getattr(bf, function)
    with pytest.raises(TypeError, match=f"neighbor_weights is deprecated in {function}: "
                                        "Use src_weights instead"):
        call(torch.ones(1), neighbor_weights={0: 1.0})
    with pytest.raises(TypeError, match=f"send_neighbors is deprecated in {function}: "
                                        "Use dst_weights instead"):
        call(torch.ones(1), send_neighbors=[0])
    hierarchical = getattr(bf, "hierarchical_" + function)
    with pytest.raises(TypeError, match="neighbor_machine_weights is deprecated in hierarchical_"):
        hierarchical(torch.ones(1), neighbor_machine_weights={0: 1.0})
    with pytest.raises(TypeError, match="send_neighbor_machines is deprecated in hierarchical_"):
        hierarchical(torch.ones(1), send_neighbor_machines=[0])


def test_neighbor_allreduce_messages():
    x = torch.ones(3)
    messages = [
        (dict(self_weight=0.5), "Arguments self_weight and src_weights have to be presented at "
                                "the same time"),
        (dict(self_weight=0.5, src_weights={}, dst_weights=[1, 1]),
         "Argument dst_weights should only contain the unique ranks."),
        (dict(dst_weights=[1]), "Arguments self_weight and src_weights should be presented if "
                                "enabling dynamic topology."),
        (dict(self_weight=0.5, src_weights=[1]), "Argument src_weights has to be a dictionary"),
        (dict(self_weight=1, src_weights={}), "Argument self_weight has to be a float for self "
                                              "rank."),
    ]
    outside = [r for r in range(bf.size()) if r not in bf.in_neighbor_ranks()]
    messages.append((dict(self_weight=0.5, src_weights={outside[0]: 0.5}),
                     "The key of weights should only contain the ranks that belong to  "
                     "in-neighbors and self rank."))
    for kwargs, message in messages:
        with pytest.raises(ValueError) as info:
            bf.neighbor_allreduce(x, **kwargs)
        assert str(info.value).startswith(message), (kwargs, str(info.value))
    # np.float64 is a float: accepted, as in BlueFog.
    y = bf.neighbor_allreduce(x, self_weight=np.float64(1.0), src_weights={})
    assert torch.equal(y, x)


def test_neighbor_allreduce_weighted_topology_and_sum():
    n, r = bf.size(), bf.rank()
    graph = bf.StarGraph(n)
    bf.set_topology(graph, is_weighted=True)
    x = torch.from_numpy(rank_data(r))
    w = topology_matrix(graph)
    expected = w[r, r] * rank_data(r) + sum(w[j, r] * rank_data(j)
                                            for j in bf.in_neighbor_ranks())
    np.testing.assert_allclose(bf.neighbor_allreduce(x).numpy(), expected, rtol=1e-12)
    total = bf.neighbor_allreduce(x, self_weight=1.0,
                                  src_weights={j: 1.0 for j in bf.in_neighbor_ranks()})
    expected = rank_data(r) + sum(rank_data(j) for j in bf.in_neighbor_ranks())
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-12)


def test_dynamic_topology_mismatch_is_value_error():
    n, r = bf.size(), bf.rank()
    if n < 3:
        pytest.skip("needs three ranks to disagree")
    with pytest.raises(ValueError):
        bf.neighbor_allreduce(torch.ones(2), self_weight=0.5, src_weights={(r + 1) % n: 0.5},
                              dst_weights=[(r + 1) % n])
    with pytest.raises(ValueError):
        bf.neighbor_allgather(torch.ones(2), src_ranks=[(r + 1) % n], dst_ranks=[(r + 1) % n])


def test_neighbor_allgather_message():
    with pytest.raises(ValueError, match="Argument dst_ranks and src_ranks have to be presented "
                                         "at the same time"):
        bf.neighbor_allgather(torch.ones(1), dst_ranks=[])


def test_collectives_on_tensors():
    n, r = bf.size(), bf.rank()
    x = torch.full((2, 2), float(r))
    assert torch.allclose(bf.allreduce(x), torch.full((2, 2), (n - 1) / 2))
    assert torch.allclose(bf.allreduce(x, average=False), torch.full((2, 2), n * (n - 1) / 2))
    y = x.clone()
    assert bf.allreduce_(y) is y
    z = bf.broadcast(x, n - 1)
    assert torch.equal(z, torch.full((2, 2), float(n - 1))) and torch.equal(x[0, 0], torch.tensor(
        float(r)))
    gathered = bf.allgather(torch.full((r + 1,), r, dtype=torch.int64))
    assert gathered.tolist() == [k for k in range(n) for _ in range(k + 1)]
    handle = bf.neighbor_allgather_nonblocking(torch.tensor([r]))
    assert bf.poll(handle) in (True, False)
    assert bf.wait(handle).tolist() == bf.in_neighbor_ranks()
    bf.barrier()


def test_pair_gossip_from_mpi_ops():
    n, r = bf.size(), bf.rank()
    if (r ^ 1) >= n:
        return
    y = mpi_ops.pair_gossip(torch.full((3,), float(r)), r ^ 1)
    assert torch.allclose(y, torch.full((3,), (r + (r ^ 1)) / 2))


def test_hierarchical_neighbor_allreduce_checks_and_result():
    if bf.local_size() == 1:
        with pytest.raises(AssertionError, match="If local size is 1"):
            bf.hierarchical_neighbor_allreduce(torch.ones(1))
        return
    if bf.load_machine_topology() is None:
        with pytest.raises(RuntimeError, match="Machine topology must be set before"):
            bf.hierarchical_neighbor_allreduce(torch.ones(1))
    machines, local, m = bf.machine_size(), bf.local_size(), bf.machine_rank()
    bf.set_machine_topology(bf.RingGraph(machines))
    with pytest.raises(ValueError, match="Arguments self_weight, src_machine_weights, "
                                         "dst_machine_weights have to be presented at the same"):
        bf.hierarchical_neighbor_allreduce(torch.ones(1), self_weight=0.5,
                                           src_machine_weights={})
    x = torch.from_numpy(rank_data(bf.rank()))
    y = bf.hierarchical_neighbor_allreduce(x)
    sums = [sum(rank_data(k * local + i) for i in range(local)) for k in range(machines)]
    neighbors = sorted({(m - 1) % machines, (m + 1) % machines} - {m})
    expected = (sums[m] + sum(sums[k] for k in neighbors)) / (len(neighbors) + 1) / local
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    local_mean = bf.allreduce(x, is_hierarchical_local=True)
    np.testing.assert_allclose(local_mean.numpy(), sums[m] / local, rtol=1e-12)


def test_timeline_names_exist_and_report_off():
    assert bf.timeline_start_activity("tensor", "activity") in (True, False)
    assert bf.timeline_end_activity("tensor") in (True, False)


# ------------------------------------------------------------------------------------------------
# Utilities.


def make_model():
    torch.manual_seed(bf.rank())  # different on every rank
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


def gathered(tensor):
    return bf.allgather(tensor.detach().reshape(1, -1))


def test_broadcast_parameters_every_form():
    for root in {0, bf.size() - 1}:
        for form in ("state_dict", "named_parameters", "parameters"):
            model = make_model()
            params = {"state_dict": model.state_dict, "named_parameters": model.named_parameters,
                      "parameters": model.parameters}[form]()
            bf.broadcast_parameters(params, root_rank=root)
            for p in model.parameters():
                everyone = gathered(p)
                assert torch.equal(everyone, everyone[root].expand_as(everyone))
    with pytest.raises(ValueError, match="invalid params of type"):
        bf.broadcast_parameters(42, root_rank=0)


def test_allreduce_parameters():
    model = make_model()
    before = [gathered(p) for p in model.parameters()]
    bf.allreduce_parameters(model.state_dict())
    for p, all_before in zip(model.parameters(), before):
        assert torch.allclose(p.detach().reshape(-1), all_before.mean(dim=0), atol=1e-6)


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.Adam(p, lr=0.01 * (1 + bf.rank()), betas=(0.8, 0.9), amsgrad=True),
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5 + 0.1 * bf.rank(), nesterov=True),
    lambda p: torch.optim.RMSprop(p, lr=0.01, centered=True),
    lambda p: torch.optim.Adagrad(p, lr=0.01 + bf.rank()),
], ids=["adam", "sgd", "rmsprop", "adagrad"])
def test_broadcast_optimizer_state(make_optimizer):
    model = make_model()
    optimizer = make_optimizer(model.parameters())  # torch 1.13: options such as foreach=None
    # A few local steps so that the state differs between ranks.
    for _ in range(bf.rank() + 1):
        optimizer.zero_grad()
        model(torch.randn(8, 4)).sum().backward()
        optimizer.step()
    root = bf.size() - 1
    bf.broadcast_optimizer_state(optimizer, root_rank=root)
    for key, value in optimizer.param_groups[0].items():
        if key == "params" or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        everyone = gathered(torch.tensor([float(value)], dtype=torch.float64))
        assert torch.equal(everyone, everyone[root].expand_as(everyone)), key
    for p in model.parameters():
        for key, value in optimizer.state[p].items():
            if torch.is_tensor(value):
                everyone = gathered(value.to(torch.float64))
                assert torch.equal(everyone, everyone[root].expand_as(everyone)), key


def test_broadcast_optimizer_state_creates_missing_state():
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters())
    bf.broadcast_optimizer_state(optimizer, root_rank=0)
    assert all("exp_avg" in optimizer.state[p] for p in model.parameters())
    with pytest.raises(ValueError, match="LBFGS"):
        bf.broadcast_optimizer_state(torch.optim.LBFGS(model.parameters()), root_rank=0)


def test_infer_ranks():
    n, r = bf.size(), bf.rank()
    dst = [] if n == 1 else [(r + 1) % n]
    assert bf.InferSourceFromDestinationRanks(dst) == ([] if n == 1 else [(r - 1) % n])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bf.InferDestinationFromSourceRanks([] if n == 1 else [(r - 1) % n]) == dst
