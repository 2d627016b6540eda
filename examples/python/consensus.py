# SPDX-License-Identifier: Apache-2.0
"""Average consensus on several topologies.

Every rank starts from its own vector and repeatedly averages it with its in-neighbors
(neighbor_allreduce); all ranks approach the global mean at a rate set by the topology's
spectral gap. Rank 0 prints the relative error per topology and plots it against the iteration
(log scale), one line per topology.

    mpirun -np 8 python3 examples/python/consensus.py --plot consensus.png
"""
import argparse
import sys

import numpy as np

import bluefog as bf

TOPOLOGIES = {
    "exponential-2": bf.ExponentialGraph,
    "ring": bf.RingGraph,
    "mesh-2d": bf.MeshGrid2DGraph,
    "star": bf.StarGraph,
    "fully-connected": bf.FullyConnectedGraph,
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--length", type=int, default=1024, help="elements per vector")
    parser.add_argument("--topologies", nargs="+", default=list(TOPOLOGIES),
                        choices=list(TOPOLOGIES))
    parser.add_argument("--dynamic", action="store_true",
                        help="also run one peer per step on the exponential-two graph")
    parser.add_argument("--plot", default="consensus.png",
                        help="where rank 0 saves the plot ('' for none)")
    return parser.parse_args()


def relative_error(x, mean):
    """sqrt(sum over ranks |x_r - mean|^2) / sqrt(sum over ranks |x_r|^2), on every rank."""
    sums = bf.allreduce(np.array([np.sum((x - mean) ** 2), np.sum(x ** 2)]), average=False)
    return float(np.sqrt(sums[0] / sums[1]))


def run(x0, mean, iterations, step):
    x = x0.copy()
    errors = [relative_error(x, mean)]
    for k in range(iterations):
        x = step(x, k)
        errors.append(relative_error(x, mean))
    return errors


def main():
    args = parse_args()
    bf.init()
    rng = np.random.default_rng(bf.rank())
    x0 = rng.normal(loc=bf.rank(), size=args.length)
    mean = bf.allreduce(x0)

    curves = {}
    for name in args.topologies:
        graph = TOPOLOGIES[name](bf.size())
        # The generators' own weights are doubly stochastic, so the ranks agree on the average.
        bf.set_topology(graph, is_weighted=True)
        curves[f"{name} (rho {bf.spectral_gap(graph):.2f})"] = run(
            x0, mean, args.iterations, lambda x, k: bf.neighbor_allreduce(x))
    if args.dynamic:
        graph = bf.ExponentialGraph(bf.size())
        bf.set_topology(graph)

        def one_peer(x, k):
            send, recv = bf.schedule_one_peer(graph, bf.rank(), k)
            weight = 1.0 / (len(recv) + 1)
            return bf.neighbor_allreduce(x, self_weight=weight,
                                         src_weights={r: weight for r in recv}, dst_weights=send)

        curves["exponential-2, one peer per step"] = run(x0, mean, args.iterations, one_peer)

    if bf.rank() == 0:
        for label, errors in curves.items():
            print(f"{label:40s} error after {args.iterations} iterations: {errors[-1]:.3e}")
        if args.plot:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for label, errors in curves.items():
                ax.semilogy(np.maximum(errors, 1e-17), label=label)
            ax.set_xlabel("iteration")
            ax.set_ylabel("relative distance to the average")
            ax.set_title(f"Average consensus on {bf.size()} ranks")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
            fig.tight_layout()
            fig.savefig(args.plot, dpi=120)
            print(f"plot saved to {args.plot}")
    # Every connected topology must contract; the fully connected one averages in one step.
    ok = all(errors[-1] < errors[0] for errors in curves.values()) or bf.size() == 1
    bf.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
