# SPDX-License-Identifier: Apache-2.0
"""Decentralized training on the handwritten digits that ship with scikit-learn.

Every rank trains the same small network on its own shard of the training set. The ranks
combine their models with neighbor_allreduce on a one-peer dynamic exponential graph (each rank
talks to one peer per iteration), and, for comparison, with gradient allreduce (every rank
averages gradients with all others). Rank 0 prints a progress line per epoch, the test accuracy
and time of both, and saves a plot of accuracy against time. With --compression the
neighbor_allreduce run is repeated with compressed messages (error feedback per parameter).

    mpirun -np 4 python3 examples/python/train_digits.py --plot digits.png
    mpirun -np 4 python3 examples/python/train_digits.py --compression int8 --max-gap 0.005
"""
import argparse
import sys
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import bluefog.torch as bf


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--min-accuracy", type=float, default=0.95,
                        help="exit status 1 if a method ends below this test accuracy")
    parser.add_argument("--plot", default="digits.png", help="where rank 0 saves the plot")
    parser.add_argument("--compression", choices=["bf16", "fp16", "int8", "topk"],
                        help="also train with neighbor_allreduce compressed this way")
    parser.add_argument("--max-gap", type=float, default=None,
                        help="exit status 1 if the compressed run ends more than this below the "
                             "uncompressed neighbor_allreduce run (accuracy as a fraction)")
    return parser.parse_args()


def load_shard():
    """This rank's shard of the training set, and the whole test set (the same split
    everywhere)."""
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    shard = slice(bf.rank(), None, bf.size())
    return x_train[shard], y_train[shard], x_test, y_test


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        local = (model(x).argmax(dim=1) == y).float().mean().reshape(1)
    model.train()
    return bf.allreduce(local, name="accuracy").item()  # mean over the ranks' models


def train(method, args, data):
    x_train, y_train, x_test, y_test = data
    model = make_model()
    base = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    if method.startswith("neighbor_allreduce"):
        compression = method.partition("+")[2] or None
        optimizer = bf.DistributedAdaptWithCombineOptimizer(base, model, compression=compression)
        schedule = bf.GetDynamicOnePeerSendRecvRanks(bf.ExponentialGraph(bf.size()), bf.rank())
    else:
        optimizer = bf.DistributedGradientAllreduceOptimizer(base, model)
        schedule = None
    bf.broadcast_parameters(model.state_dict(), root_rank=0)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(bf.rank())
    # Every rank runs the same number of iterations per epoch (shards differ by one sample).
    iterations = min_over_ranks(len(x_train)) // args.batch_size
    history, elapsed = [], 0.0
    for epoch in range(args.epochs):
        bf.barrier()
        start = time.perf_counter()
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(iterations):
            index = order[i * args.batch_size:(i + 1) * args.batch_size]
            if schedule is not None:
                send, recv = next(schedule)
                optimizer.dst_weights = send
                optimizer.src_weights = {r: 1.0 / (len(recv) + 1) for r in recv}
                optimizer.self_weight = 1.0 / (len(recv) + 1)
            optimizer.zero_grad()
            loss_fn(model(x_train[index]), y_train[index]).backward()
            optimizer.step()
        elapsed += time.perf_counter() - start
        history.append((elapsed, accuracy(model, x_test, y_test)))
        if bf.rank() == 0:
            print(f"[{method}] epoch {epoch + 1:3d}  test accuracy {history[-1][1]:.4f}  "
                  f"time {elapsed:6.2f} s", flush=True)
    return history


def min_over_ranks(value):
    counts = bf.allgather(torch.tensor([value], dtype=torch.int64))
    return int(counts.min())


def main():
    args = parse_args()
    bf.init()
    data = load_shard()
    methods = ["neighbor_allreduce", "gradient_allreduce"]
    if args.compression:
        methods.append("neighbor_allreduce+" + args.compression)
    results = {method: train(method, args, data) for method in methods}
    ok = True
    if bf.rank() == 0:
        for method, history in results.items():
            final_time, final_accuracy = history[-1]
            ok = ok and final_accuracy >= args.min_accuracy
            print(f"{method:24s} test accuracy {final_accuracy:.4f} after {final_time:.2f} s "
                  f"of training on {bf.size()} ranks")
        if args.compression and args.max_gap is not None:
            gap = results["neighbor_allreduce"][-1][1] - results[methods[-1]][-1][1]
            print(f"{args.compression} compression costs {100 * gap:+.2f} accuracy points "
                  f"(allowed: {100 * args.max_gap:.2f})")
            ok = ok and gap <= args.max_gap
        if args.plot:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots(figsize=(7, 4.5))
            labels = {"neighbor_allreduce": "neighbor_allreduce, one-peer exponential graph",
                      "gradient_allreduce": "gradient allreduce"}
            if args.compression:
                labels[methods[-1]] = f"the same, {args.compression} with error feedback"
            for method, history in results.items():
                times, accuracies = zip(*history)
                ax.plot(times, accuracies, marker=".", label=labels[method])
            ax.set_xlabel("training time (s)")
            ax.set_ylabel("test accuracy (mean over ranks)")
            ax.set_title(f"Digits, {bf.size()} ranks with one shard each")
            ax.grid(True, alpha=0.3)
            ax.legend(loc="lower right")
            fig.tight_layout()
            fig.savefig(args.plot, dpi=120)
            print(f"plot saved to {args.plot}")
    ok = bf.broadcast(torch.tensor([float(ok)]), root_rank=0).item() == 1.0
    bf.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
