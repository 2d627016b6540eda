// SPDX-License-Identifier: Apache-2.0
// Decentralized gradient descent on a least-squares problem: each rank owns a slice of the rows
// of A and b = A x*, takes a gradient step on its own slice, then averages its parameters with its
// neighbors (neighbor_allreduce) — adapt, then combine. The system is consistent, so every rank
// converges to x* itself. Run: mpirun -np 4 target/debug/examples/least_squares [--steps N]
use std::process::ExitCode;

use bluefog::{AllreduceArgs, Context, NeighborArgs, ReduceOp, Topology};

const FEATURES: usize = 8;
const ROWS_PER_RANK: usize = 64;
const LEARNING_RATE: f64 = 0.3;

/// splitmix64: a deterministic value in [-1, 1) for each (row, column), identical on every rank.
fn feature(row: usize, column: usize) -> f64 {
    let mut z = (row * FEATURES + column) as u64 ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn solution() -> Vec<f64> {
    (0..FEATURES).map(|j| if j % 2 == 0 { j as f64 + 1.0 } else { -(j as f64) }).collect()
}

/// This rank's rows of A and b.
fn local_data(rank: usize) -> (Vec<[f64; FEATURES]>, Vec<f64>) {
    let x_star = solution();
    let rows: Vec<[f64; FEATURES]> = (0..ROWS_PER_RANK)
        .map(|i| std::array::from_fn(|j| feature(rank * ROWS_PER_RANK + i, j)))
        .collect();
    let b = rows.iter().map(|a| a.iter().zip(&x_star).map(|(a, x)| a * x).sum()).collect();
    (rows, b)
}

/// Local loss 1/(2m) |A x - b|^2 and its gradient A^T (A x - b) / m.
fn loss_and_gradient(rows: &[[f64; FEATURES]], b: &[f64], x: &[f64]) -> (f64, Vec<f64>) {
    let mut gradient = vec![0.0; FEATURES];
    let mut loss = 0.0;
    for (a, &target) in rows.iter().zip(b) {
        let residual: f64 = a.iter().zip(x).map(|(a, x)| a * x).sum::<f64>() - target;
        loss += residual * residual;
        for (g, a) in gradient.iter_mut().zip(a) {
            *g += residual * a;
        }
    }
    let m = rows.len() as f64;
    gradient.iter_mut().for_each(|g| *g /= m);
    (loss / (2.0 * m), gradient)
}

fn run(steps: usize) -> Result<f64, bluefog::Error> {
    let bf = Context::init()?;
    let (rank, size) = (bf.rank(), bf.size());
    bf.set_topology(&Topology::exponential_two(size)?, true)?;
    let (rows, b) = local_data(rank as usize);

    // Start from different points on each rank; averaging pulls them together.
    let mut x = vec![rank as f64; FEATURES];
    for step in 0..steps {
        let (loss, gradient) = loss_and_gradient(&rows, &b, &x);
        for (x, g) in x.iter_mut().zip(&gradient) {
            *x -= LEARNING_RATE * g;
        }
        bf.neighbor_allreduce_in_place(&mut x, &NeighborArgs::new().named("parameters"))?;
        if step % 100 == 0 || step + 1 == steps {
            let mut global = [loss];
            bf.allreduce_in_place(&mut global, &AllreduceArgs::new().named("loss"))?;
            if rank == 0 {
                println!("step {step:4}: mean loss {:.3e}", global[0]);
            }
        }
    }

    let local_error: f64 =
        x.iter().zip(solution()).map(|(a, s)| (a - s) * (a - s)).sum::<f64>().sqrt();
    let mut total = [local_error];
    bf.allreduce_in_place(&mut total, &AllreduceArgs::new().op(ReduceOp::Sum))?;
    if rank == 0 {
        println!("least squares on {size} ranks: sum over ranks of |x - x*| = {:.3e}", total[0]);
    }
    bf.finalize()?;
    Ok(total[0])
}

fn main() -> ExitCode {
    let mut steps = 500;
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [flag, value] if flag == "--steps" => match value.parse() {
            Ok(value) => steps = value,
            Err(error) => {
                eprintln!("least_squares: --steps: {error}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: least_squares [--steps N]");
            return ExitCode::from(2);
        }
    }
    match run(steps) {
        Ok(error) if error < 1e-6 => ExitCode::SUCCESS,
        Ok(error) => {
            eprintln!("least_squares: did not converge (error {error:.3e})");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("least_squares: {error}");
            ExitCode::FAILURE
        }
    }
}
