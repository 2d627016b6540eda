# SPDX-License-Identifier: Apache-2.0
"""Time to accuracy: decentralized SGD (one-peer exponential-2) against gradient allreduce.

Both methods train the same network, a wide MLP of about 16 MiB of float32 parameters, on
scikit-learn's handwritten digits (every rank its own shard) for the same number of epochs:

* neighbor_allreduce: DistributedAdaptWithCombineOptimizer, each iteration talking to one peer
  of the dynamic exponential-2 schedule (bf.GetDynamicOnePeerSendRecvRanks);
* gradient_allreduce: DistributedGradientAllreduceOptimizer (Horovod style).

Every --eval-every iterations the clock stops and each rank's own model is evaluated on the test
set; loss and accuracy are the means over the ranks. The clock counts training iterations only
(forward, backward, communication, update), never the evaluations. Rank 0 reports the training
time each method needed to reach --target-loss (first evaluation where the mean of the last
--smooth evaluations is at or below it), their ratio, and the final accuracies, and writes every
evaluation to a CSV and a plot of loss against training time.

    mpirun -np 4 python3 examples/python/train_time_to_accuracy.py --csv tta.csv --plot tta.png
"""
import argparse
import csv
import sys
import time

import torch

import bluefog.torch as bf
from train_digits import load_shard, min_over_ranks  # the demo's shards (same directory)

METHODS = ("neighbor_allreduce", "gradient_allreduce")
LABELS = {"neighbor_allreduce": "decentralized SGD, one-peer exponential-2 (AWC)",
          "gradient_allreduce": "gradient allreduce"}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=2048,
                        help="width of the two hidden layers (2048: 4.35M parameters, 16.6 MiB)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8, help="per rank")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--eval-every", type=int, default=6, help="iterations between evaluations")
    parser.add_argument("--lr-schedule", choices=["linear", "constant"], default="linear",
                        help="linear: decays to 0 at the last iteration")
    parser.add_argument("--target-loss", type=float, default=0.15,
                        help="test loss (mean over ranks) that defines time to accuracy")
    parser.add_argument("--smooth", type=int, default=3,
                        help="time to target is when the mean of the last SMOOTH evaluations "
                             "first reaches the target (1: the first evaluation that does)")
    parser.add_argument("--report-targets", default="0.3,0.2,0.15,0.12,0.1",
                        help="further target losses to report the times for")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--csv", default="", help="where rank 0 writes every evaluation")
    parser.add_argument("--plot", default="", help="where rank 0 saves loss against time")
    parser.add_argument("--max-ratio", type=float, default=None,
                        help="exit status 1 unless time to target (neighbor / allreduce) <= this")
    parser.add_argument("--max-accuracy-gap", type=float, default=None,
                        help="exit status 1 unless the final accuracies differ by <= this "
                             "(fraction, e.g. 0.005)")
    return parser.parse_args()


def make_model(hidden):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, 10))


def evaluate(model, x, y):
    """(test loss, test accuracy) of this rank's model, each averaged over the ranks."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        local = torch.stack([torch.nn.functional.cross_entropy(logits, y),
                             (logits.argmax(dim=1) == y).float().mean()])
    model.train()
    mean = bf.allreduce(local, name="evaluation")
    return mean[0].item(), mean[1].item()


def train(method, args, data):
    """[(iteration, training seconds, test loss, test accuracy)] at every evaluation."""
    x_train, y_train, x_test, y_test = data
    model = make_model(args.hidden)
    base = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    if method == "neighbor_allreduce":
        optimizer = bf.DistributedAdaptWithCombineOptimizer(base, model)
        schedule = bf.GetDynamicOnePeerSendRecvRanks(bf.ExponentialGraph(bf.size()), bf.rank())
    else:
        optimizer = bf.DistributedGradientAllreduceOptimizer(base, model)
        schedule = None
    bf.broadcast_parameters(model.state_dict(), root_rank=0)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(bf.rank())
    iterations = min_over_ranks(len(x_train)) // args.batch_size  # the same on every rank
    total = args.epochs * iterations
    history = [(0, 0.0) + evaluate(model, x_test, y_test)]
    elapsed, step = 0.0, 0
    bf.barrier()
    start = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(iterations):
            index = order[i * args.batch_size:(i + 1) * args.batch_size]
            if schedule is not None:
                send, recv = next(schedule)
                optimizer.dst_weights = send
                optimizer.src_weights = {r: 1.0 / (len(recv) + 1) for r in recv}
                optimizer.self_weight = 1.0 / (len(recv) + 1)
            if args.lr_schedule == "linear":
                for group in optimizer.param_groups:
                    group["lr"] = args.lr * (1.0 - step / total)
            optimizer.zero_grad()
            loss_fn(model(x_train[index]), y_train[index]).backward()
            optimizer.step()
            step += 1
            if step % args.eval_every == 0 or step == total:
                # The clock stops at the slowest rank's end of this iteration.
                bf.barrier()
                elapsed += time.perf_counter() - start
                history.append((step, elapsed) + evaluate(model, x_test, y_test))
                if bf.rank() == 0 and step % (args.eval_every * 10) == 0:
                    print(f"[{method}] iteration {step:5d}  time {elapsed:7.2f} s  "
                          f"test loss {history[-1][2]:.4f}  accuracy {history[-1][3]:.4f}",
                          flush=True)
                bf.barrier()
                start = time.perf_counter()
    averaged = None
    if method == "neighbor_allreduce":
        # For reference: the test accuracy of the ranks' models averaged once at the end.
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(bf.allreduce(p.data, average=True, name="final_average"))
        averaged = evaluate(model, x_test, y_test)
    return history, averaged


def time_to_target(history, target, smooth):
    """Training seconds at the first evaluation where the mean loss of the last ``smooth``
    evaluations (that one included) is <= target, or None."""
    losses = [loss for _, _, loss, _ in history]
    for i in range(smooth - 1, len(history)):
        if sum(losses[i - smooth + 1:i + 1]) / smooth <= target:
            return history[i][1]
    return None


def report(results, averaged, args):
    """Prints the summary on rank 0; returns whether the optional gates passed."""
    ok = True
    reached = {m: time_to_target(h, args.target_loss, args.smooth) for m, h in results.items()}
    for method, history in results.items():
        step, seconds, loss, acc = history[-1]
        hit = f"{reached[method]:.2f} s" if reached[method] is not None else "not reached"
        print(f"{method:20s} {step} iterations in {seconds:.2f} s "
              f"({1000 * seconds / step:.1f} ms each); time to test loss {args.target_loss} "
              f"(mean of {args.smooth}): {hit}; final test loss {loss:.4f}, "
              f"accuracy {100 * acc:.2f}%")
    if averaged is not None:
        print(f"neighbor_allreduce, models averaged once at the end: test loss {averaged[0]:.4f}, "
              f"accuracy {100 * averaged[1]:.2f}%")
    if len(results) < 2:
        return ok
    ours, allreduce = reached["neighbor_allreduce"], reached["gradient_allreduce"]
    if ours is not None and allreduce is not None:
        ratio = ours / allreduce
        print(f"time to target, neighbor_allreduce / gradient_allreduce: {ratio:.3f}")
        if args.max_ratio is not None:
            ok = ok and ratio <= args.max_ratio
    elif args.max_ratio is not None:
        ok = False
    gap = results["neighbor_allreduce"][-1][3] - results["gradient_allreduce"][-1][3]
    print(f"final accuracy, neighbor_allreduce - gradient_allreduce: {100 * gap:+.2f} points")
    if args.max_accuracy_gap is not None:
        ok = ok and abs(gap) <= args.max_accuracy_gap
    print("time to target (s), neighbor_allreduce / gradient_allreduce / ratio:")
    for target in [float(t) for t in args.report_targets.split(",") if t]:
        for smooth in sorted({1, args.smooth}):
            times = [time_to_target(results[m], target, smooth) for m in METHODS]
            text = " / ".join("-" if t is None else f"{t:.2f}" for t in times)
            ratio = f"{times[0] / times[1]:.3f}" if None not in times else "-"
            print(f"  loss {target:<5} mean of {smooth}: {text} / {ratio}")
    return ok


def write_csv(path, results):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ranks", "method", "iteration", "train_seconds", "test_loss",
                         "test_accuracy"])
        for method, history in results.items():
            for step, seconds, loss, acc in history:
                writer.writerow([bf.size(), method, step, f"{seconds:.4f}", f"{loss:.5f}",
                                 f"{acc:.5f}"])
    print(f"evaluations written to {path}")


def plot(path, results, args, parameters):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, history in results.items():
        _, times, losses, _ = zip(*history)
        ax.plot(times, losses, label=LABELS[method])
        reached = time_to_target(history, args.target_loss, args.smooth)
        if reached is not None:
            ax.axvline(reached, linestyle=":", color=ax.lines[-1].get_color())
    ax.axhline(args.target_loss, color="grey", linestyle="--", linewidth=0.8,
               label=f"target test loss {args.target_loss} (dotted: mean of the last "
                     f"{args.smooth} evaluations reaches it)")
    ax.set_yscale("log")
    ax.set_xlabel("training time (s, evaluations excluded)")
    ax.set_ylabel("test loss (mean over ranks)")
    ax.set_title(f"Digits MLP, {parameters * 4 / 2**20:.1f} MiB of parameters, {bf.size()} ranks")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot saved to {path}")


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    bf.init()
    data = load_shard()
    methods = [m for m in args.methods.split(",") if m]
    if any(m not in METHODS for m in methods):
        raise SystemExit(f"--methods: choose from {','.join(METHODS)}")
    parameters = sum(p.numel() for p in make_model(args.hidden).parameters())
    if bf.rank() == 0:
        print(f"{bf.size()} ranks, {parameters} parameters ({parameters * 4 / 2**20:.2f} MiB), "
              f"batch {args.batch_size} per rank, {args.epochs} epochs", flush=True)
    results, averaged = {}, None
    for method in methods:
        results[method], final_average = train(method, args, data)
        averaged = final_average or averaged
    ok = True
    if bf.rank() == 0:
        ok = report(results, averaged, args)
        if args.csv:
            write_csv(args.csv, results)
        if args.plot:
            plot(args.plot, results, args, parameters)
    ok = bf.broadcast(torch.tensor([float(ok)]), root_rank=0).item() == 1.0
    bf.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
