# SPDX-License-Identifier: Apache-2.0
# bluefog.torch distributed optimizers: one step of each algorithm against its formula
# (x_{k+1} = W x_k - lr g(x_k) for AWC, W (x_k - lr g(x_k)) for ATC, x_k - lr mean(g) for gradient
# allreduce; W x_k - lr g(x_k) through one-sided windows for win-put, pull-get and push-sum),
# dynamic weights between steps, num_steps_per_communication, warnings, the factories' contracts,
# and convergence on BlueFog's linear-regression problem.
import warnings

import pytest
import torch

import bluefog
import bluefog.torch as bf
from conftest import rank_data

LR = 0.1


def make_model(rank, shared_layer=False):
    if shared_layer:
        layer = torch.nn.Linear(3, 3).double()
        model = torch.nn.Sequential(layer, torch.nn.Tanh(), layer)
    else:
        model = torch.nn.Sequential(torch.nn.Linear(3, 2).double())
    with torch.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(torch.from_numpy(rank_data(rank + k, tuple(p.shape)) * 0.1))
    return model


def batch(rank, step=0):
    return torch.from_numpy(rank_data(rank + 7 * step, (4, 3)) * 0.01)


def loss_of(model, x):
    return (model(x) ** 2).sum()


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def gradient_at(model, x):
    """Gradient of the loss at the model's current parameters, on a private copy."""
    clone = make_model(0, shared_layer=len(list(model.modules())) > 2)
    clone.load_state_dict(model.state_dict())
    loss_of(clone, x).backward()
    return torch.cat([p.grad.reshape(-1) for p in clone.parameters()])


def everyone(vector):
    return bf.allgather(vector.reshape(1, -1))


def uniform_combine(all_values, rank, sources):
    u = 1.0 / (len(sources) + 1)
    return u * all_values[rank] + sum(u * all_values[j] for j in sources)


def one_step(optimizer, model, x):
    optimizer.zero_grad()
    loss_of(model, x).backward()
    optimizer.step()


# ------------------------------------------------------------------------------------------------
# One step of each algorithm.


@pytest.mark.parametrize("communication", ["neighbor_allreduce", "allreduce", "empty"])
def test_adapt_with_combine_step(communication):
    r = bf.rank()
    model = make_model(r)
    x0, g0 = flat(model), gradient_at(model, batch(r))
    all_x0 = everyone(x0)
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model,
        communication_type=bf.CommunicationType[communication])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one_step(optimizer, model, batch(r))
    combined = {"neighbor_allreduce": uniform_combine(all_x0, r, bf.in_neighbor_ranks()),
                "allreduce": all_x0.mean(dim=0), "empty": x0}[communication]
    torch.testing.assert_close(flat(model), combined - LR * g0)


@pytest.mark.parametrize("communication", ["neighbor_allreduce", "allreduce", "empty"])
def test_adapt_then_combine_step(communication):
    r = bf.rank()
    model = make_model(r)
    adapted = flat(model) - LR * gradient_at(model, batch(r))
    all_adapted = everyone(adapted)
    optimizer = bf.DistributedAdaptThenCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model,
        communication_type=bf.CommunicationType[communication])
    one_step(optimizer, model, batch(r))
    combined = {"neighbor_allreduce": uniform_combine(all_adapted, r, bf.in_neighbor_ranks()),
                "allreduce": all_adapted.mean(dim=0), "empty": adapted}[communication]
    torch.testing.assert_close(flat(model), combined)


def test_adapt_then_combine_with_adam_matches_plain_adam_then_average():
    # The per-parameter update is the wrapped optimizer's own rule (here Adam, two steps).
    r = bf.rank()
    model, reference = make_model(r), make_model(r)
    optimizer = bf.DistributedAdaptThenCombineOptimizer(
        torch.optim.Adam(model.parameters(), lr=0.01), model,
        communication_type=bf.CommunicationType.allreduce)
    plain = torch.optim.Adam(reference.parameters(), lr=0.01)
    for step in range(2):
        one_step(optimizer, model, batch(r, step))
        one_step(plain, reference, batch(r, step))
        with torch.no_grad():  # combine the reference by hand
            for p in reference.parameters():
                p.copy_(everyone(p.detach().reshape(-1)).mean(dim=0).reshape(p.shape))
        torch.testing.assert_close(flat(model), flat(reference))


def test_register_step_function():
    r = bf.rank()
    model = make_model(r)
    x0 = flat(model)
    optimizer = bf.DistributedAdaptThenCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model,
        communication_type=bf.CommunicationType.empty)
    calls = []

    def halve(opt, p, grad, group):
        calls.append(group["lr"])
        p.mul_(0.5)

    optimizer.register_step_function(halve)
    one_step(optimizer, model, batch(r))
    if bf.size() > 1:
        assert calls == [LR] * 2
        torch.testing.assert_close(flat(model), 0.5 * x0)


def test_gradient_allreduce_step():
    r = bf.rank()
    model = make_model(r)
    x0 = flat(model)
    mean_gradient = everyone(gradient_at(model, batch(r))).mean(dim=0)
    optimizer = bf.DistributedGradientAllreduceOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model)
    one_step(optimizer, model, batch(r))
    torch.testing.assert_close(flat(model), x0 - LR * mean_gradient)


def test_dynamic_one_peer_weights_between_steps():
    n, r = bf.size(), bf.rank()
    model = make_model(r)
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.0), model)
    schedule = bf.GetDynamicOnePeerSendRecvRanks(bf.load_topology(), r)
    for step in range(3):
        send, recv = next(schedule)
        optimizer.dst_weights = send
        optimizer.src_weights = {j: 1.0 / (len(recv) + 1) for j in recv}
        optimizer.self_weight = 1.0 / (len(recv) + 1)
        all_x = everyone(flat(model))
        one_step(optimizer, model, batch(r, step))
        torch.testing.assert_close(flat(model), uniform_combine(all_x, r, recv))
        if n > 1:
            assert len(send) == 1


def test_hierarchical_adapt_with_combine_step():
    if bf.local_size() == 1:
        pytest.skip("needs machines with several ranks")
    machines, local, m, r = bf.machine_size(), bf.local_size(), bf.machine_rank(), bf.rank()
    bf.set_machine_topology(bf.ExponentialGraph(machines))
    model = make_model(r)
    x0, g0 = flat(model), gradient_at(model, batch(r))
    all_x0 = everyone(x0)
    sums = [all_x0[k * local:(k + 1) * local].sum(dim=0) for k in range(machines)]
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model,
        communication_type=bf.CommunicationType.hierarchical_neighbor_allreduce)
    one_step(optimizer, model, batch(r))
    expected = uniform_combine(sums, m, bf.in_neighbor_machine_ranks()) / local - LR * g0
    torch.testing.assert_close(flat(model), expected)


# ------------------------------------------------------------------------------------------------
# num_steps_per_communication.


def test_local_sgd_communicates_every_second_step():
    r = bf.rank()
    model = make_model(r)
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model,
        communication_type=bf.CommunicationType.allreduce, num_steps_per_communication=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x0, g0 = flat(model), gradient_at(model, batch(r, 0))
        one_step(optimizer, model, batch(r, 0))  # local step only
        torch.testing.assert_close(flat(model), x0 - LR * g0)
        x1, g1 = flat(model), gradient_at(model, batch(r, 1))
        mean_x1 = everyone(x1).mean(dim=0)
        one_step(optimizer, model, batch(r, 1))  # combine, then step
        torch.testing.assert_close(flat(model), mean_x1 - LR * g1)


def test_gradient_accumulation_then_one_step():
    r = bf.rank()
    model = make_model(r)
    x0 = flat(model)
    total = gradient_at(model, batch(r, 0)) + gradient_at(model, batch(r, 1))
    mean_total = everyone(total).mean(dim=0)
    optimizer = bf.DistributedGradientAllreduceOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model, num_steps_per_communication=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer.zero_grad()
        for step in range(2):
            loss_of(model, batch(r, step)).backward()
        optimizer.step()
    torch.testing.assert_close(flat(model), x0 - LR * mean_total)


def test_extra_forward_pass_warns():
    if bf.size() == 1:
        pytest.skip("no communication with one rank")
    r = bf.rank()
    model = make_model(r)
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model, num_steps_per_communication=2)
    optimizer.zero_grad()
    with pytest.warns(UserWarning, match="Unexpected behavior"):
        for step in range(3):  # F F F S with J = 2
            loss_of(model, batch(r, step)).backward()
        optimizer.step()


def test_shared_layer_communicates_once_without_warnings():
    r = bf.rank()
    model = make_model(r, shared_layer=True)
    x0, g0 = flat(model), gradient_at(model, batch(r))
    all_x0 = everyone(x0)
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one_step(optimizer, model, batch(r))
    torch.testing.assert_close(flat(model),
                               uniform_combine(all_x0, r, bf.in_neighbor_ranks()) - LR * g0)


# ------------------------------------------------------------------------------------------------
# Factories.


def test_result_is_the_callers_optimizer_class():
    model = make_model(bf.rank())
    base = torch.optim.Adam(model.parameters(), lr=0.01)
    optimizer = bf.DistributedGradientAllreduceOptimizer(base, model)
    assert isinstance(optimizer, torch.optim.Adam)
    assert type(optimizer).__name__ == "Adam"
    one_step(optimizer, model, batch(bf.rank()))
    state = optimizer.state_dict()
    assert state["param_groups"][0]["lr"] == 0.01 and len(state["state"]) == 2
    if bf.size() > 1:
        loss_of(model, batch(bf.rank())).backward()
        with pytest.raises(AssertionError):
            optimizer.zero_grad()  # gradients are being averaged
        optimizer.step()
    with pytest.raises(ValueError):
        bf.DistributedAdaptWithCombineOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                                make_model(0))  # parameters of another model


@pytest.mark.parametrize("name,communication", [
    ("DistributedAllreduceOptimizer", "allreduce"),
    ("DistributedNeighborAllreduceOptimizer", "neighbor_allreduce"),
])
def test_deprecated_aliases(name, communication):
    model = make_model(bf.rank())
    with pytest.warns(PendingDeprecationWarning):
        optimizer = getattr(bf, name)(torch.optim.SGD(model.parameters(), lr=LR), model)
    assert optimizer.communication_type == bf.CommunicationType[communication]
    one_step(optimizer, model, batch(bf.rank()))


# ------------------------------------------------------------------------------------------------
# Window optimizers: one step against the formula. force_barrier makes every rank's transfers land
# before anyone combines, so the result is exact.


def out_degree(rank):
    graph = bf.load_topology()
    return len(set(graph.successors(rank)) - {rank})


@pytest.mark.parametrize("pull", [False, True])
def test_win_put_and_pull_get_step(pull):
    r = bf.rank()
    model = make_model(r)
    x0, g0 = flat(model), gradient_at(model, batch(r))
    all_x0 = everyone(x0)
    factory = bf.optimizers.DistributedPullGetOptimizer if pull else bf.DistributedWinPutOptimizer
    optimizer = factory(torch.optim.SGD(model.parameters(), lr=LR), model,
                        window_prefix="step.")
    optimizer.force_barrier = True
    try:
        if bf.size() > 1:
            names = sorted("step." + name for name, _ in model.named_parameters())
            assert bf.get_current_created_window_names() == names
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            one_step(optimizer, model, batch(r))
        torch.testing.assert_close(flat(model),
                                   uniform_combine(all_x0, r, bf.in_neighbor_ranks()) - LR * g0)
    finally:
        optimizer.unregister_window()
    assert bf.get_current_created_window_names() == []


def test_push_sum_step():
    # Rank s keeps 1/(out-degree(s)+1) of (w x, w) and sends that share to each out-neighbor;
    # x becomes the weighted average sum(share_s x_s) / sum(share_s) over itself and in-neighbors.
    r = bf.rank()
    model = make_model(r)
    x0, g0 = flat(model), gradient_at(model, batch(r))
    all_x0 = everyone(x0)
    optimizer = bf.optimizers.DistributedPushSumOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model)
    try:
        one_step(optimizer, model, batch(r))
        sources = [r] + bf.in_neighbor_ranks()
        shares = {s: 1.0 / (out_degree(s) + 1) for s in sources}
        combined = sum(shares[s] * all_x0[s] for s in sources) / sum(shares.values())
        torch.testing.assert_close(flat(model), combined - LR * g0)
        if bf.size() > 1:  # the push-sum weights of all ranks still add up to size()
            weights = [win_weight(name) for name in bf.get_current_created_window_names()]
            total = bf.allreduce(torch.tensor(weights, dtype=torch.float64), average=False)
            torch.testing.assert_close(total, torch.full_like(total, float(bf.size())))
    finally:
        optimizer.unregister_window()


def win_weight(name):
    from bluefog import windows
    return float(windows.window_tensor(name)[-1])


def test_window_optimizer_zero_grad_while_in_flight():
    if bf.size() == 1:
        pytest.skip("no communication with one rank")
    model = make_model(bf.rank())
    optimizer = bf.DistributedWinPutOptimizer(torch.optim.SGD(model.parameters(), lr=LR), model)
    try:
        loss_of(model, batch(bf.rank())).backward()
        with pytest.raises(AssertionError):
            optimizer.zero_grad()  # the puts of this forward pass are in flight
        optimizer.step()
    finally:
        optimizer.unregister_window()


# ------------------------------------------------------------------------------------------------
# Convergence on BlueFog's linear-regression test problem (Y = X A + E, Adam).


@pytest.mark.parametrize("algorithm", ["awc", "atc", "gradient_allreduce", "win_put", "push_sum",
                                       "awc_int8", "atc_topk"])
def test_linear_regression_converges(algorithm):
    r = bf.rank()
    torch.manual_seed(11)
    true_a = torch.randn(16, 3)
    generator = torch.Generator().manual_seed(100 + r)
    x = torch.randn(512, 16, generator=generator)
    noise = 1e-3
    y = x @ true_a + noise * torch.randn(512, 3, generator=generator)
    model = torch.nn.Linear(16, 3)
    base = torch.optim.Adam(model.parameters(), lr=0.05)
    if algorithm == "awc":
        optimizer = bf.DistributedAdaptWithCombineOptimizer(base, model)
    elif algorithm == "atc":
        optimizer = bf.DistributedAdaptThenCombineOptimizer(base, model)
    elif algorithm == "awc_int8":  # compressed messages, error feedback per parameter name
        optimizer = bf.DistributedAdaptWithCombineOptimizer(base, model, compression="int8")
    elif algorithm == "atc_topk":
        optimizer = bf.DistributedAdaptThenCombineOptimizer(
            base, model, compression=bluefog.Compression("topk", ratio=0.25))
    elif algorithm == "win_put":
        optimizer = bf.DistributedWinPutOptimizer(base, model)
        # Without it a rank may run far ahead (more ranks than cores) and average with stale
        # neighbors for many steps: a bias, not a failure to converge, but no fixed tolerance.
        optimizer.force_barrier = True
    elif algorithm == "push_sum":
        optimizer = bf.optimizers.DistributedPushSumOptimizer(base, model)
    else:
        optimizer = bf.DistributedGradientAllreduceOptimizer(base, model)
    bf.broadcast_parameters(model.state_dict(), root_rank=0)
    bf.broadcast_optimizer_state(optimizer, root_rank=0)
    try:
        for _ in range(30):
            for start in range(0, 512, 64):
                optimizer.zero_grad()
                torch.nn.functional.mse_loss(model(x[start:start + 64]),
                                             y[start:start + 64]).backward()
                optimizer.step()
    finally:
        if hasattr(optimizer, "unregister_window"):
            optimizer.unregister_window()
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(model(x), y).reshape(1)
    assert bf.allreduce(mse).item() < 3 * noise ** 2
    spread = everyone(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert (spread - spread.mean(dim=0)).abs().max().item() < 1e-2
