# SPDX-License-Identifier: Apache-2.0
"""Decentralized linear regression, written against BlueFog's PyTorch API.

Every rank holds its own samples of Y = X A + E and trains the same linear model with a
distributed optimizer; the ranks only talk to their neighbors (or allreduce, for comparison).
Nothing here is specific to BlueFog-C: the script runs unchanged on the original BlueFog.

    mpirun -np 4 python3 examples/python/pytorch_linear_regression.py --optimizer atc
    mpirun -np 4 python3 examples/python/pytorch_linear_regression.py --dynamic-topology

It prints the training and test mean squared errors per epoch on rank 0 and exits with status 1
if the final errors are not close to the noise level.
"""
import argparse
import sys

import torch

import bluefog.torch as bf

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--optimizer", default="awc",
                    choices=["awc", "atc", "gradient_allreduce", "neighbor_allreduce"],
                    help="distributed optimizer (neighbor_allreduce: the deprecated alias)")
parser.add_argument("--communication", default="neighbor_allreduce",
                    choices=["neighbor_allreduce", "allreduce", "empty",
                             "hierarchical_neighbor_allreduce"])
parser.add_argument("--dynamic-topology", action="store_true",
                    help="one peer per iteration on the exponential-two graph")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--mini-batch-size", type=int, default=0,
                    help="accumulate gradients over mini-batches (num_steps_per_communication)")
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--seed", type=int, default=2021)
parser.add_argument("--quiet", action="store_true")
args = parser.parse_args()

bf.init()
if args.communication == "hierarchical_neighbor_allreduce":
    bf.set_machine_topology(bf.ExponentialGraph(bf.machine_size()))
torch.manual_seed(args.seed)  # same model and truth on every rank

# Data: the same A on every rank, different samples per rank.
in_dim, out_dim, noise = 16, 3, 1e-3
true_a = torch.randn(in_dim, out_dim)
generator = torch.Generator().manual_seed(args.seed + 1 + bf.rank())


def make_data(samples):
    x = torch.randn(samples, in_dim, generator=generator)
    y = x @ true_a + noise * torch.randn(samples, out_dim, generator=generator)
    return x, y


train_x, train_y = make_data(1024)
test_x, test_y = make_data(128)

model = torch.nn.Sequential(torch.nn.Linear(in_dim, out_dim))
# Start every rank from a different point; broadcast_parameters makes them equal.
with torch.no_grad():
    for p in model.parameters():
        p.add_(0.1 * bf.rank())
base = torch.optim.Adam(model.parameters(), lr=args.lr * bf.size())

steps = 1
if args.mini_batch_size:
    steps = args.batch_size // args.mini_batch_size
if args.optimizer == "awc":
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        base, model=model, communication_type=bf.CommunicationType[args.communication],
        num_steps_per_communication=steps)
elif args.optimizer == "atc":
    optimizer = bf.DistributedAdaptThenCombineOptimizer(
        base, model=model, communication_type=bf.CommunicationType[args.communication],
        num_steps_per_communication=steps)
elif args.optimizer == "neighbor_allreduce":
    optimizer = bf.DistributedNeighborAllreduceOptimizer(base, model=model,
                                                         num_steps_per_communication=steps)
else:
    optimizer = bf.DistributedGradientAllreduceOptimizer(base, model=model,
                                                         num_steps_per_communication=steps)

bf.broadcast_parameters(model.state_dict(), root_rank=0)
bf.broadcast_optimizer_state(optimizer, root_rank=0)

if args.dynamic_topology:
    peers = bf.GetDynamicOnePeerSendRecvRanks(bf.load_topology(), bf.rank())

loss_fn = torch.nn.MSELoss()
history = []
for epoch in range(args.epochs):
    model.train()
    order = torch.randperm(len(train_x), generator=generator)
    for start in range(0, len(train_x), args.batch_size):
        index = order[start:start + args.batch_size]
        if args.dynamic_topology:
            send, recv = next(peers)
            optimizer.dst_weights = send
            optimizer.src_weights = {r: 1.0 / (len(recv) + 1) for r in recv}
            optimizer.self_weight = 1.0 / (len(recv) + 1)
        optimizer.zero_grad()
        for part in index.split(args.batch_size // steps):
            loss = loss_fn(model(train_x[part]), train_y[part]) / steps
            loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        train_mse = loss_fn(model(train_x), train_y)
        test_mse = loss_fn(model(test_x), test_y)
    # Average the metrics over ranks (a plain allreduce, as BlueFog's examples do).
    train_mse = bf.allreduce(train_mse.reshape(1), name="train_mse").item()
    test_mse = bf.allreduce(test_mse.reshape(1), name="test_mse").item()
    history.append((train_mse, test_mse))
    if bf.rank() == 0 and not args.quiet:
        print(f"epoch {epoch:3d}  train mse {train_mse:.3e}  test mse {test_mse:.3e}", flush=True)

# Converged: the last epochs' errors within a small factor of the noise floor (noise**2).
limit = 3.0 * noise ** 2 * (3 if args.communication == "empty" else 1)
final = history[-3:]
ok = all(train < limit and test < limit for train, test in final)
label = args.optimizer
if args.optimizer in ("awc", "atc"):
    label += f"/{args.communication}" + (" (dynamic)" if args.dynamic_topology else "")
if steps > 1:
    label += f", {steps} mini-batches per step"
if bf.rank() == 0:
    print(f"{label}: final train mse {final[-1][0]:.3e}, test mse {final[-1][1]:.3e}, "
          f"limit {limit:.1e}: {'converged' if ok else 'NOT converged'}")
bf.shutdown()
sys.exit(0 if ok else 1)
