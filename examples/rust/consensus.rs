// SPDX-License-Identifier: Apache-2.0
// Average consensus: every rank starts from its own vector and repeatedly replaces it by the
// weighted average of its in-neighbors' and its own (neighbor_allreduce), until every rank holds
// the global mean. Run: mpirun -np 4 target/debug/examples/consensus [--topology exp2|ring]
//   [--dynamic] [--iterations N] [--tolerance T]
use std::process::ExitCode;

use bluefog::schedule;
use bluefog::{AllreduceArgs, Context, NeighborArgs, RingStyle, Topology};

struct Options {
    ring: bool,
    dynamic: bool,
    iterations: usize,
    tolerance: f64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options { ring: false, dynamic: false, iterations: 50, tolerance: 1e-10 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--topology" => match value("--topology")?.as_str() {
                "exp2" => options.ring = false,
                "ring" => options.ring = true,
                other => return Err(format!("unknown topology {other:?} (exp2 or ring)")),
            },
            "--dynamic" => options.dynamic = true,
            "--iterations" => {
                options.iterations =
                    value("--iterations")?.parse().map_err(|e| format!("--iterations: {e}"))?
            }
            "--tolerance" => {
                options.tolerance =
                    value("--tolerance")?.parse().map_err(|e| format!("--tolerance: {e}"))?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn run(options: &Options) -> Result<bool, bluefog::Error> {
    let bf = Context::init()?;
    let (rank, size) = (bf.rank(), bf.size());
    let topology = if options.ring {
        Topology::ring(size, RingStyle::Bidirectional)?
    } else {
        Topology::exponential_two(size)?
    };
    bf.set_topology(&topology, true)?;

    let mut x: Vec<f64> = (0..8).map(|k| (rank * rank + k) as f64).collect();
    let mut mean = x.clone();
    bf.allreduce_in_place(&mut mean, &AllreduceArgs::new())?;

    let mut deviation = f64::INFINITY;
    let mut steps = 0;
    while steps < options.iterations {
        let args = if options.dynamic {
            schedule::one_peer(&topology, rank, steps as i64)?.neighbor_args()
        } else {
            NeighborArgs::new()
        };
        bf.neighbor_allreduce_in_place(&mut x, &args)?;
        steps += 1;
        // Global distance to the mean: root of the squared distances summed over ranks.
        let local: f64 = x.iter().zip(&mean).map(|(a, m)| (a - m) * (a - m)).sum();
        let mut total = [local];
        bf.allreduce_in_place(&mut total, &AllreduceArgs::new().op(bluefog::ReduceOp::Sum))?;
        deviation = total[0].sqrt();
        if deviation <= options.tolerance {
            break;
        }
    }
    if rank == 0 {
        println!(
            "consensus on {size} ranks ({}{}): deviation {deviation:.3e} after {steps} steps, rho = {:.4}",
            if options.ring { "ring" } else { "exp2" },
            if options.dynamic { ", one peer" } else { "" },
            topology.spectral_gap()?
        );
    }
    bf.finalize()?;
    Ok(deviation <= options.tolerance)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("consensus: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("consensus: did not converge within {} iterations", options.iterations);
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("consensus: {error}");
            ExitCode::FAILURE
        }
    }
}
