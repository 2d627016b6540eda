// SPDX-License-Identifier: Apache-2.0
// Push-sum consensus over one-sided windows: on a directed graph whose out-degrees differ (a ring
// plus rank 0 sending to everyone), each rank keeps a share 1/(out-degree+1) of its value and
// accumulates an equal share into each out-neighbor's buffer; the associated p (push-sum weight)
// travels alongside, and x/p reaches the global mean although no rank knows the weights of its
// in-edges. Run: mpirun -np 4 target/debug/examples/push_sum [--iterations N] [--tolerance T]
use std::collections::BTreeSet;
use std::process::ExitCode;

use bluefog::{AllreduceArgs, Context, Topology, WinOpArgs, Window};

fn parse_options() -> Result<(usize, f64), String> {
    let (mut iterations, mut tolerance) = (200, 1e-10);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--iterations" => iterations = value.parse().map_err(|e| format!("{arg}: {e}"))?,
            "--tolerance" => tolerance = value.parse().map_err(|e| format!("{arg}: {e}"))?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((iterations, tolerance))
}

fn run(iterations: usize, tolerance: f64) -> Result<bool, bluefog::Error> {
    let bf = Context::init()?;
    let (rank, size) = (bf.rank(), bf.size());
    let mut edges = BTreeSet::new();
    for r in 0..size {
        edges.insert((r, (r + 1) % size));
        edges.insert((0, r));
    }
    let edges: Vec<(i32, i32, f64)> = edges.into_iter().map(|(s, d)| (s, d, 1.0)).collect();
    let topology = Topology::from_edges(size, &edges)?;
    let destinations = topology.out_neighbors(rank)?;
    bf.set_topology(&topology, false)?;
    bf.set_win_associated_p(true)?;

    let x: Vec<f64> = (0..8).map(|k| (rank * rank + k) as f64).collect();
    let mut mean = x.clone();
    bf.allreduce_in_place(&mut mean, &AllreduceArgs::new())?;

    let share = 1.0 / (destinations.len() as f64 + 1.0);
    let weights: Vec<(i32, f64)> = destinations.iter().map(|n| (n.rank, share)).collect();
    let step = WinOpArgs::new().weighted_peers(&weights).self_weight(share);
    let mut window = Window::create(&bf, "push_sum.x", x, true)?;
    for _ in 0..iterations {
        window.accumulate(&step)?;
        // Every share sent this step has arrived before anyone collects (a synchronous variant;
        // without the barrier late shares are collected a step later and mass is still kept).
        bf.barrier()?;
        window.update_then_collect(false)?;
    }
    let p = window.associated_p()?;
    let estimate: Vec<f64> = window.data().iter().map(|v| v / p).collect();
    let deviation = estimate.iter().zip(&mean).map(|(e, m)| (e - m).abs()).fold(0.0, f64::max);
    let converged = deviation <= tolerance;
    println!(
        "rank {rank}: p = {p:.6}, max |x/p - mean| = {deviation:.3e} after {iterations} steps{}",
        if converged { "" } else { " (NOT converged)" }
    );
    bf.barrier()?;
    window.free()?;
    bf.set_win_associated_p(false)?;
    Ok(converged)
}

fn main() -> ExitCode {
    let (iterations, tolerance) = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("push_sum: {message}");
            return ExitCode::from(2);
        }
    };
    match run(iterations, tolerance) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("push_sum: {error}");
            ExitCode::FAILURE
        }
    }
}
