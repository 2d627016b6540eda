#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the benchmark suite of issue 9 on this machine and writes a markdown report and plots.

Builds nothing: it takes a build directory configured with -Dbench=true and already compiled.
For each rank count it runs bench/suite_bench (ours/raw pairs, one JSON line per case and size),
bench/fusion_bench and bench/win_bench under mpirun, then writes one markdown file (tables,
targets met or not, with date, host and load average) and PNG plots (matplotlib).

usage: bench/run_suite.py BUILD_DIR [--ranks 2 4 8] [--budget S] [--sizes B,B,...]
                          [--output FILE.md] [--plots-dir DIR] [--jsonl FILE] [--smoke]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    # Ranks beyond the core count must yield when they poll, or they starve the rank they wait
    # for; set at every rank count so all runs share one configuration.
    "OMPI_MCA_mpi_yield_when_idle": "1",
}
CASE_ORDER = ["one_peer_exp2", "static_exp2", "allreduce", "broadcast", "allgather",
              "hierarchical", "overlap", "fusion_100x4k"]
FUSION_UNFUSED_OVER_FUSED = 3.0   # fused must be >= 3x faster than unfused
FUSION_FUSED_OVER_SINGLE = 1.5    # and <= 1.5x one 400 KiB op
WIN_RATIO_TARGET = 0.8


def size_label(nbytes: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale} {unit}"
    return f"{nbytes} B"


def run_mpi(ranks: int, program: Path, args: list[str], timeout_s: float) -> str:
    env = dict(os.environ)
    env.update(MPI_ENV)
    command = ["mpirun", "-np", str(ranks), str(program)] + args
    print("running:", " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout_s)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{program.name} failed at {ranks} ranks (exit {done.returncode})")
    return done.stdout


def parse_suite(stdout: str) -> list[dict]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    for row in rows:
        if not row.get("checked"):
            raise SystemExit(f"unchecked result: {row}")
    return rows


def parse_fusion(stdout: str) -> dict:
    # | ranks | unfused (us) | fused (us) | 1 x 400 KiB (us) | unfused/fused | fused/400 KiB |
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            ranks, unfused, fused, single, speedup, over_single = cells
            return {"ranks": int(ranks), "unfused_us": float(unfused), "fused_us": float(fused),
                    "single_us": float(single), "unfused_over_fused": float(speedup),
                    "fused_over_single": float(over_single)}
    raise SystemExit("fusion_bench printed no result row")


def parse_win(stdout: str, ranks: int) -> list[dict]:
    # | bytes | op | ours GB/s | raw MPI GB/s | ratio raw/ours time (median) |
    rows = []
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            rows.append({"ranks": ranks, "bytes": int(cells[0]), "op": cells[1],
                         "ours_gbps": float(cells[2]), "raw_gbps": float(cells[3]),
                         "ratio": float(cells[4])})
    if not rows:
        raise SystemExit("win_bench printed no result rows")
    return rows


def verdict(met) -> str:
    return {True: "met", False: "**missed**", None: "-"}[met]


def header_lines(argv: list[str], load_before: str) -> list[str]:
    def first_line(command: list[str]) -> str:
        try:
            out = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, check=False).stdout
            return out.splitlines()[0] if out else "?"
        except OSError:
            return "?"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = first_line(["git", "-C", str(Path(__file__).resolve().parent), "log", "-1",
                         "--format=%h %s"])
    return [
        f"- date: {now}",
        f"- host: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"{first_line(['mpirun', '--version'])}",
        f"- commit: {commit}",
        f"- command: `{' '.join(argv)}`",
        f"- load average before the runs: {load_before}",
    ]


def write_report(path: Path, header: list[str], suite: list[dict], fusion: list[dict],
                 win: list[dict], load_after: str) -> None:
    lines = ["# Benchmark suite results", ""] + header
    lines += [f"- load average after the runs: {load_after}", ""]
    lines += ["Ratio = median over pairs of raw_time / our_time (>= 1: ours faster); times are "
              "medians of the slowest rank per repetition; diff = median of ours - raw per pair. "
              "Targets: at 8 B ours <= raw + 10 us; from 1 MiB up raw/ours >= the case's ratio "
              "(fusion_100x4k: at its one size, 400 KiB); sizes between carry no verdict.", ""]
    # Summary: one line per case and rank count, verdicts only.
    lines += ["## Targets", "", "| case | ranks | 8 B latency (ours - raw) | ratios where the "
              "target applies (raw/ours) | met |", "|---|---:|---|---|---|"]
    by_case: dict[str, list[dict]] = {}
    for row in suite:
        by_case.setdefault(row["case"], []).append(row)
    for case in CASE_ORDER:
        for ranks in sorted({r["ranks"] for r in by_case.get(case, [])}):
            rows = [r for r in by_case[case] if r["ranks"] == ranks]
            latency = [f"{r['diff_us']:+.1f} us" for r in rows if r["bytes"] == 8]
            big = [r for r in rows if r["target"].startswith("raw/ours")]
            ratios = ", ".join(f"{size_label(r['bytes'])}: {r['ratio']:.2f}" for r in big)
            target = big[0]["target"] if big else ""
            verdicts = [r["met"] for r in rows if r["met"] is not None]
            met = "all" if verdicts and all(verdicts) else (
                "none" if verdicts and not any(verdicts) else
                f"{sum(verdicts)} of {len(verdicts)}")
            lines.append(f"| {case} | {ranks} | {', '.join(latency) or '-'} | "
                         f"{ratios or '-'} ({target or 'no target'}) | {met} |")
    for f in fusion:
        ok = (f["unfused_over_fused"] >= FUSION_UNFUSED_OVER_FUSED and
              f["fused_over_single"] <= FUSION_FUSED_OVER_SINGLE)
        lines.append(f"| fusion_bench 100 x 4 KiB | {f['ranks']} | - | unfused/fused "
                     f"{f['unfused_over_fused']:.2f} (>= 3), fused/400 KiB "
                     f"{f['fused_over_single']:.2f} (<= 1.5) | {'all' if ok else 'no'} |")
    for ranks in sorted({w["ranks"] for w in win}):
        rows = [w for w in win if w["ranks"] == ranks]
        ok = [w["ratio"] >= WIN_RATIO_TARGET for w in rows]
        ratios = ", ".join(
            f"{op} {min(w['ratio'] for w in rows if w['op'] == op):.2f} to "
            f"{max(w['ratio'] for w in rows if w['op'] == op):.2f}"
            for op in ("put", "accumulate") if any(w["op"] == op for w in rows))
        ratios += f" over {size_label(rows[0]['bytes'])} to {size_label(rows[-1]['bytes'])}"
        lines.append(f"| win_put/accumulate | {ranks} | - | {ratios} (>= 0.8) | "
                     f"{sum(ok)} of {len(ok)} |")
    lines.append("")
    for case in CASE_ORDER:
        rows = by_case.get(case)
        if not rows:
            continue
        lines += [f"## {case} (raw: {rows[0]['reference']})", "",
                  "| ranks | size | pairs | ours (us) | raw (us) | raw/ours | ours - raw (us) | "
                  "ours busbw (GB/s) | raw busbw (GB/s) | target | met |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for r in sorted(rows, key=lambda r: (r["ranks"], r["bytes"])):
            lines.append(
                f"| {r['ranks']} | {size_label(r['bytes'])} | {r['reps']} | {r['ours_us']:.1f} | "
                f"{r['raw_us']:.1f} | {r['ratio']:.2f} | {r['diff_us']:.1f} | "
                f"{r['busbw_ours_gbps']:.3f} | {r['busbw_raw_gbps']:.3f} | {r['target'] or '-'} | "
                f"{verdict(r['met'])} |")
        if case == "overlap":
            lines += ["", "| ranks | size | allreduce alone (us) | compute alone (us) |",
                      "|---:|---:|---:|---:|"]
            for r in sorted(rows, key=lambda r: (r["ranks"], r["bytes"])):
                lines.append(f"| {r['ranks']} | {size_label(r['bytes'])} | "
                             f"{r['op_alone_us']:.1f} | {r['compute_alone_us']:.1f} |")
        lines.append("")
    if fusion:
        lines += ["## fusion (bench/fusion_bench: 1 x 400 KiB is our own neighbor_allreduce)", "",
                  "| ranks | 100 x 4 KiB unfused (us) | fused (us) | 1 x 400 KiB (us) | "
                  "unfused/fused | fused/400 KiB |", "|---:|---:|---:|---:|---:|---:|"]
        for f in fusion:
            lines.append(f"| {f['ranks']} | {f['unfused_us']:.1f} | {f['fused_us']:.1f} | "
                         f"{f['single_us']:.1f} | {f['unfused_over_fused']:.2f} | "
                         f"{f['fused_over_single']:.2f} |")
        lines.append("")
    if win:
        lines += ["## win_put / win_accumulate (bench/win_bench: raw is lock + MPI_Put or "
                  "MPI_Accumulate + unlock per out-neighbor)", "",
                  "| ranks | size | op | ours GB/s | raw GB/s | raw/ours |",
                  "|---:|---:|---|---:|---:|---:|"]
        for w in win:
            lines.append(f"| {w['ranks']} | {size_label(w['bytes'])} | {w['op']} | "
                         f"{w['ours_gbps']:.2f} | {w['raw_gbps']:.2f} | {w['ratio']:.2f} |")
        lines.append("")
    path.write_text("\n".join(lines))


def plot(suite: list[dict], win: list[dict], plots_dir: Path, prefix: str) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in CASE_ORDER if any(r["case"] == c for r in suite)]
    rank_counts = sorted({r["ranks"] for r in suite})
    colors = dict(zip(rank_counts, ["tab:blue", "tab:orange", "tab:green", "tab:red",
                                    "tab:purple"]))
    written = []

    def grid(count: int):
        cols = 4 if count > 4 else count
        rows = (count + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
        for ax in axes.flat[count:]:
            ax.set_visible(False)
        return fig, list(axes.flat)

    # Ratios against size, one panel per case, one line per rank count, the target dashed.
    panels = cases + (["win_put/accumulate"] if win else [])
    fig, axes = grid(len(panels))
    for ax, case in zip(axes, panels):
        if case == "win_put/accumulate":
            for ranks in sorted({w["ranks"] for w in win}):
                for op, style in (("put", "-o"), ("accumulate", "--s")):
                    pts = sorted((w["bytes"], w["ratio"]) for w in win
                                 if w["ranks"] == ranks and w["op"] == op)
                    if pts:
                        ax.plot(*zip(*pts), style, color=colors.get(ranks), ms=3,
                                label=f"{ranks} ranks {op}")
            ax.axhline(WIN_RATIO_TARGET, color="gray", ls=":", lw=1)
        else:
            target = None
            for ranks in rank_counts:
                pts = sorted((r["bytes"], r["ratio"]) for r in suite
                             if r["case"] == case and r["ranks"] == ranks)
                if pts:
                    ax.plot(*zip(*pts), "-o", color=colors[ranks], ms=3, label=f"{ranks} ranks")
                for r in suite:
                    if r["case"] == case and r["target"].startswith("raw/ours"):
                        target = float(r["target"].split(">=")[1])
            largest = max((r["bytes"] for r in suite if r["case"] == case), default=0)
            if target:
                ax.axhline(target, color="gray", ls=":", lw=1)
                if largest >= 1 << 20:
                    ax.axvspan(1 << 20, largest * 1.2, color="gray", alpha=0.08)
        ax.axhline(1.0, color="black", lw=0.5)
        ax.set_xscale("log", base=2)
        ax.set_title(case, fontsize=10)
        ax.set_xlabel("bytes per rank")
        ax.set_ylabel("raw time / our time")
        ax.legend(fontsize=7)
    fig.suptitle("ours vs raw MPI: median of per-pair ratios (dotted: target, shaded: where it "
                 "applies)", fontsize=10)
    fig.tight_layout()
    path = plots_dir / f"{prefix}_ratio.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    written.append(path)

    # Bus bandwidth, ours solid and raw dashed.
    fig, axes = grid(len(cases))
    for ax, case in zip(axes, cases):
        for ranks in rank_counts:
            rows = sorted((r for r in suite if r["case"] == case and r["ranks"] == ranks),
                          key=lambda r: r["bytes"])
            if rows:
                x = [r["bytes"] for r in rows]
                ax.plot(x, [r["busbw_ours_gbps"] for r in rows], "-o", color=colors[ranks],
                        ms=3, label=f"ours {ranks}")
                ax.plot(x, [r["busbw_raw_gbps"] for r in rows], "--", color=colors[ranks],
                        label=f"raw {ranks}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(case, fontsize=10)
        ax.set_xlabel("bytes per rank")
        ax.set_ylabel("bus bandwidth (GB/s)")
        ax.legend(fontsize=6)
    fig.suptitle("bus bandwidth (neighbor ops: bytes x max(in, out degree) / time; "
                 "collectives: nccl-tests factors)", fontsize=10)
    fig.tight_layout()
    path = plots_dir / f"{prefix}_busbw.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    written.append(path)

    # 8-byte latency: ours and raw per case and rank count.
    latency = [r for r in suite if r["bytes"] == 8]
    if latency:
        lat_cases = [c for c in cases if any(r["case"] == c for r in latency)]
        fig, axes = plt.subplots(1, len(rank_counts), figsize=(4.5 * len(rank_counts), 3.6),
                                 squeeze=False)
        for ax, ranks in zip(axes[0], rank_counts):
            ours = [next((r["ours_us"] for r in latency
                          if r["case"] == c and r["ranks"] == ranks), 0) for c in lat_cases]
            raw = [next((r["raw_us"] for r in latency
                         if r["case"] == c and r["ranks"] == ranks), 0) for c in lat_cases]
            xs = range(len(lat_cases))
            ax.bar([x - 0.2 for x in xs], ours, 0.4, label="ours")
            ax.bar([x + 0.2 for x in xs], raw, 0.4, label="raw MPI")
            ax.set_xticks(list(xs))
            ax.set_xticklabels(lat_cases, rotation=45, ha="right", fontsize=7)
            ax.set_ylabel("8-byte time (us)")
            ax.set_title(f"{ranks} ranks", fontsize=10)
            ax.legend(fontsize=7)
        fig.suptitle("8-byte latency (target: ours <= raw + 10 us)", fontsize=10)
        fig.tight_layout()
        path = plots_dir / f"{prefix}_latency.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--budget", type=float, default=0.5,
                        help="seconds per case and size (suite_bench --budget)")
    parser.add_argument("--sizes", default=None, help="comma-separated bytes for suite_bench")
    parser.add_argument("--max-reps", type=int, default=None)
    parser.add_argument("--cases", default=None, help="suite_bench --cases")
    parser.add_argument("--output", type=Path, default=Path("suite_results.md"))
    parser.add_argument("--plots-dir", type=Path, default=None,
                        help="where PNGs go (default: next to --output)")
    parser.add_argument("--plot-prefix", default="suite")
    parser.add_argument("--jsonl", type=Path, default=None, help="also keep every row as JSON")
    parser.add_argument("--no-extra", action="store_true",
                        help="skip fusion_bench and win_bench")
    parser.add_argument("--smoke", action="store_true",
                        help="CI: 2 ranks, tiny sizes and budget (well under two minutes)")
    opts = parser.parse_args()

    bench_dir = opts.build_dir / "bench"
    suite_exe = bench_dir / "suite_bench"
    if not os.access(suite_exe, os.X_OK):
        print(f"{suite_exe} not found; build it first (meson compile -C {opts.build_dir})",
              file=sys.stderr)
        return 1
    suite_args = ["--budget", str(opts.budget)]
    win_args = ["--max-bytes", str(16 << 20), "--reps", "9"]
    timeout_s = 900.0
    if opts.smoke:
        opts.ranks = [2]
        suite_args = ["--budget", "0.02", "--max-reps", "5", "--min-reps", "2",
                      "--sizes", "8,4096,1048576"]
        win_args = ["--max-bytes", "65536", "--reps", "3"]
        timeout_s = 100.0
    if opts.sizes:
        suite_args += ["--sizes", opts.sizes]
    if opts.max_reps:
        suite_args += ["--max-reps", str(opts.max_reps)]
    if opts.cases:
        suite_args += ["--cases", opts.cases]

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    header = header_lines(sys.argv, " ".join(load_before))
    suite, fusion, win = [], [], []
    for ranks in opts.ranks:
        suite += parse_suite(run_mpi(ranks, suite_exe, suite_args, timeout_s))
        if not opts.no_extra:
            fusion.append(parse_fusion(run_mpi(ranks, bench_dir / "fusion_bench", [],
                                               timeout_s)))
            win += parse_win(run_mpi(ranks, bench_dir / "win_bench", win_args, timeout_s),
                             ranks)
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    opts.output.parent.mkdir(parents=True, exist_ok=True)
    write_report(opts.output, header, suite, fusion, win, load_after)
    print(f"wrote {opts.output}", file=sys.stderr)
    if opts.jsonl:
        opts.jsonl.write_text("".join(json.dumps(r) + "\n" for r in suite))
    plots_dir = opts.plots_dir or opts.output.parent
    plots_dir.mkdir(parents=True, exist_ok=True)
    try:
        written = plot(suite, win, plots_dir, opts.plot_prefix)
    except ImportError as error:  # no matplotlib: the report stands on its own
        print(f"plots skipped: {error}", file=sys.stderr)
        return 0 if opts.smoke else 1
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
