# SPDX-License-Identifier: Apache-2.0
"""Alpha-beta scaling model: calibrated on the emulated cluster, projected to 8..1024 ranks.

1. Calibration (MEASURED input). Reads bench/cluster_bench CSVs (one row per repetition:
   ranks, bytes, rep, hop_distance, operation, slowest_ms) taken at several message sizes, takes
   the median of each (ranks, bytes, operation), and fits
     one-peer (MPI_Sendrecv + weighted sum):  t = alpha + beta * S
     ring MPI_Allreduce:                      t = 2 (n - 1) alpha + 2 (n - 1) / n * beta * S
   jointly (alpha, beta shared) and per operation, by least squares on relative error: alpha
   is the intercept of a fit over the small messages, beta the slope of a fit over the large
   ones. One fit of both over every size is printed too, and every residual.
2. Projection (PROJECTED output), time per step = compute + communication, for n = 8..1024:
     ring allreduce     2 (n - 1) (alpha + S / n * beta)
     static exp2        log2(n) alpha + log2(n) S beta   (every neighbor gets the whole tensor)
     one-peer exp2      alpha + S beta                   (mean over the cycle of hop distances)
     hierarchical       local ring allreduce + one-peer exp2 between machines' roots + local
                        broadcast (src/ops/hierarchical.cc)
   in two scenarios: "emulated" (every rank on its own link with the fitted alpha and beta, as
   measured), and "gpu-cluster" (gpus_per_machine ranks share one NIC whose beta is the fitted
   one scaled from calibrated_line_gbit to nic_gbit, with an NVLink-class link inside the
   machine). Scaling efficiency =
   compute / (compute + communication) with no overlap, and compute / max(compute,
   communication) with perfect overlap. Every assumption is in ASSUMPTIONS and is printed.

    python3 bench/model/scaling_model.py bench/model/data/*.csv --table table.md --plot model.png
"""
import argparse
import csv
import math
import statistics
import sys
from collections import defaultdict

import numpy as np

# Assumptions of the projection (not measured here). Published BlueFog figures are quoted in
# docs/performance.md, never used as inputs.
ASSUMPTIONS = {
    "model_parameters": 25.6e6,      # ResNet-50
    "bytes_per_parameter": 4,        # float32 gradients / parameters
    "compute_s": 0.2,                # one step of ResNet-50, batch 64, on a V100-class GPU
    "calibrated_line_gbit": 1.0,     # the emulated links were set to 1 Gbit/s
    "nic_gbit": 25.0,                # gpu-cluster: one NIC per machine
    "gpus_per_machine": 8,           # gpu-cluster
    "local_gbyte_s": 100.0,          # gpu-cluster: NVLink-class bandwidth inside a machine
    "local_alpha_s": 5e-6,           # gpu-cluster: latency of one local transfer
}
RANKS = [8, 16, 32, 64, 128, 256, 512, 1024]
METHODS = ["ring allreduce", "static exp2", "one-peer exp2", "hierarchical"]
FIT_OPERATIONS = {"one_peer_raw", "allreduce_ring"}
LATENCY_BYTES = 65536      # alpha: messages up to this size (within tbf's 128 KB burst)
BANDWIDTH_BYTES = 4 << 20  # beta: messages from this size


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", nargs="+", help="bench/cluster_bench --csv files")
    parser.add_argument("--table", default="", help="write the Markdown tables here")
    parser.add_argument("--plot", default="", help="save the efficiency plot here")
    return parser.parse_args()


def load_medians(paths):
    """{(ranks, bytes, operation): median slowest-rank seconds}. One-peer operations use the
    cycle mean (mean over hop distances of the per-distance medians), the per-step cost of a
    training run that cycles through every distance."""
    samples = defaultdict(list)
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                key = (int(row["ranks"]), int(row["bytes"]), row["operation"])
                samples[key].append((int(row["hop_distance"]), float(row["slowest_ms"]) / 1e3))
    medians = {}
    for key, values in samples.items():
        if key[2].startswith("one_peer"):
            by_hop = defaultdict(list)
            for hop, seconds in values:
                by_hop[hop].append(seconds)
            medians[key] = statistics.mean(statistics.median(v) for v in by_hop.values())
        else:
            medians[key] = statistics.median(seconds for _, seconds in values)
    return medians


def design_row(operation, ranks, size_bytes):
    """Coefficients (of alpha, of beta) of the model of one operation."""
    if operation == "allreduce_ring":
        return 2.0 * (ranks - 1), 2.0 * (ranks - 1) / ranks * size_bytes
    return 1.0, float(size_bytes)  # one-peer: one message each way


def least_squares(medians, keys):
    """(alpha, beta) minimizing the relative error of t = a alpha + b beta over ``keys``."""
    a = np.array([design_row(k[2], k[0], k[1]) for k in keys])
    t = np.array([medians[k] for k in keys])
    (alpha, beta), *_ = np.linalg.lstsq(a / t[:, None], np.ones_like(t), rcond=None)
    return float(alpha), float(beta)


def fit_all_sizes(medians, operations):
    """Both parameters by one least-squares fit over every size."""
    alpha, beta = least_squares(medians, sorted(k for k in medians if k[2] in operations))
    return alpha, beta, None, []


def fit(medians, operations):
    """Two regimes: alpha is the intercept of a fit over the small messages (<= LATENCY_BYTES),
    beta the slope of a fit over the large ones (>= BANDWIDTH_BYTES). Small messages fit in
    tbf's burst and so cross the link faster than its rate; large ones also pay a startup
    (the large fit's intercept, returned as the third value) that a two-parameter model has no
    term for. Returns (alpha_s, beta_s_per_byte, large_intercept_s, [(key, measured, model)])
    with the residuals over every size."""
    keys = sorted(k for k in medians if k[2] in operations)
    alpha, _ = least_squares(medians, [k for k in keys if k[1] <= LATENCY_BYTES])
    intercept, beta = least_squares(medians, [k for k in keys if k[1] >= BANDWIDTH_BYTES])
    rows = [(k, medians[k], float(np.dot(design_row(k[2], k[0], k[1]), (alpha, beta))))
            for k in keys]
    return alpha, beta, intercept, rows


def comm_emulated(method, n, size, alpha, beta):
    """Seconds per step, every rank on its own link (the emulated cluster, flat)."""
    hops = math.log2(n)
    if method == "ring allreduce":
        return 2 * (n - 1) * (alpha + size / n * beta)
    if method == "static exp2":
        return hops * (alpha + size * beta)
    if method == "one-peer exp2":
        return alpha + size * beta
    return None  # hierarchical needs machines: gpu-cluster only


def comm_cluster(method, n, size, alpha, beta, a):
    """Seconds per step with a["gpus_per_machine"] ranks per machine sharing one NIC."""
    g = a["gpus_per_machine"]
    beta_net = beta * a["calibrated_line_gbit"] / a["nic_gbit"]
    alpha_loc, beta_loc = a["local_alpha_s"], 1.0 / (a["local_gbyte_s"] * 1e9)
    machines = n // g
    hops, local_hops = int(math.log2(n)), int(math.log2(g))
    local_ring = 2 * (g - 1) * (alpha_loc + size / g * beta_loc)
    if method == "ring allreduce":
        # Ring ordered by machine: each step's slowest edge crosses a NIC (one stream per NIC).
        if machines == 1:
            return local_ring
        return 2 * (n - 1) * (alpha + size / n * beta_net)
    if method == "static exp2":
        # Every rank sends the tensor to each neighbor at once; a neighbor 2^k >= g away is on
        # another machine, so the NIC carries g copies per remote distance.
        local = local_hops * size * beta_loc
        remote = g * (hops - local_hops) * size * beta_net
        return hops * alpha + max(local, remote)
    if method == "one-peer exp2":
        # Mean over the cycle: local steps over NVLink, remote steps with g streams on the NIC.
        steps = [alpha_loc + size * beta_loc if 2 ** k < g else alpha + g * size * beta_net
                 for k in range(hops)]
        return sum(steps) / len(steps)
    # hierarchical: local allreduce, machine roots exchange one-peer exp2, local broadcast.
    if machines == 1:
        return local_ring
    broadcast = local_hops * alpha_loc + size * beta_loc
    return local_ring + alpha + size * beta_net + broadcast


def project(alpha, beta, a):
    """{scenario: {method: [(n, comm_s, eff_no_overlap, eff_overlap)]}}."""
    size = a["model_parameters"] * a["bytes_per_parameter"]
    compute = a["compute_s"]
    out = {"emulated": {}, "gpu-cluster": {}}
    for method in METHODS:
        for scenario in out:
            rows = []
            for n in RANKS:
                if scenario == "emulated":
                    comm = comm_emulated(method, n, size, alpha, beta)
                else:
                    comm = comm_cluster(method, n, size, alpha, beta, a)
                if comm is None:
                    continue
                rows.append((n, comm, compute / (compute + comm), compute / max(compute, comm)))
            if rows:
                out[scenario][method] = rows
    return out


def markdown(alpha, beta, fits, projection, a):
    lines = [f"Fit to the MEASURED medians (alpha: intercept over messages <= {LATENCY_BYTES} "
             f"bytes; beta: slope over messages >= {BANDWIDTH_BYTES} bytes, whose intercept is "
             "the large-message startup):", "",
             "| fit | alpha (us) | beta (ns/byte) | = Gbit/s | large-message startup (ms) |",
             "|---|---:|---:|---:|---:|"]
    for name, (fa, fb, start, _) in fits.items():
        start_text = "-" if start is None else f"{start * 1e3:.2f}"
        lines.append(f"| {name} | {fa * 1e6:.1f} | {fb * 1e9:.3f} | {8 / fb / 1e9:.3f} | "
                     f"{start_text} |")
    lines += ["", "Residuals of the joint fit:", "",
              "| ranks | bytes | operation | measured (ms) | model (ms) | model / measured |",
              "|---:|---:|---|---:|---:|---:|"]
    for (n, size, op), measured, model in fits["joint"][3]:
        lines.append(f"| {n} | {size} | {op} | {measured * 1e3:.2f} | {model * 1e3:.2f} | "
                     f"{model / measured:.2f} |")
    lines += ["", "Assumptions of the projection: " +
              ", ".join(f"{k} = {v:g}" for k, v in a.items()), ""]
    for scenario, methods in projection.items():
        lines += [f"PROJECTED, scenario {scenario} (alpha = {alpha * 1e6:.1f} us, "
                  f"beta = {beta * 1e9:.3f} ns/byte fitted): communication ms per step, "
                  "scaling efficiency without / with perfect overlap", "",
                  "| ranks | " + " | ".join(methods) + " |",
                  "|---:|" + "---|" * len(methods)]
        for i, n in enumerate(RANKS):
            cells = []
            for rows in methods.values():
                _, comm, eff, eff_overlap = rows[i]
                cells.append(f"{comm * 1e3:.0f} ms, {100 * eff:.0f}% / {100 * eff_overlap:.0f}%")
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(path, projection):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, (scenario, methods) in zip(axes, projection.items()):
        for method, rows in methods.items():
            ranks = [r[0] for r in rows]
            line, = ax.plot(ranks, [100 * r[2] for r in rows], marker=".", label=method)
            ax.plot(ranks, [100 * r[3] for r in rows], linestyle=":", color=line.get_color())
        ax.set_xscale("log", base=2)
        ax.set_xlabel("ranks")
        ax.set_title(f"PROJECTED, {scenario}")
        ax.grid(True, alpha=0.3)
    # Published BlueFog figures (ResNet-50, batch 64, 128 GPUs), for comparison only.
    axes[1].plot([128], [95], marker="^", color="black", linestyle="none",
                 label="published: BlueFog, above 95%")
    axes[1].plot([128], [66], marker="v", color="grey", linestyle="none",
                 label="published: Horovod, about 66%")
    axes[0].set_ylabel("scaling efficiency (%)")
    axes[1].legend(loc="lower left", fontsize=8)
    fig.suptitle("Alpha-beta model calibrated on the emulated cluster, ResNet-50-sized step "
                 "(solid: no overlap, dotted: perfect overlap)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    args = parse_args()
    medians = load_medians(args.csv)
    fits = {"joint": fit(medians, FIT_OPERATIONS),
            "one-peer only": fit(medians, {"one_peer_raw"}),
            "ring allreduce only": fit(medians, {"allreduce_ring"}),
            "joint, one fit over every size": fit_all_sizes(medians, FIT_OPERATIONS)}
    alpha, beta, _, _ = fits["joint"]
    projection = project(alpha, beta, ASSUMPTIONS)
    text = markdown(alpha, beta, fits, projection, ASSUMPTIONS)
    print(text)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text + "\n")
    if args.plot:
        plot(args.plot, projection)
        print(f"plot saved to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
