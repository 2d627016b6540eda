// SPDX-License-Identifier: Apache-2.0
// Shared by the multi-rank test binaries: one context per process, initialized once (libtest may
// call tests from several threads) and finalized at exit, as mpirun requires.
#![allow(dead_code)]

use bluefog::Context;

/// The process-wide context.
pub fn bf() -> &'static Context {
    Context::global().expect("bluefog initialization failed")
}

/// `(rank, size)` of this process.
pub fn rank_size() -> (i32, i32) {
    let bf = bf();
    (bf.rank(), bf.size())
}

/// `a mod n` in 0..n.
pub fn wrap(a: i32, n: i32) -> i32 {
    a.rem_euclid(n)
}

pub fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    for (k, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!((a - e).abs() <= tolerance, "element {k}: {a} != {e} (tolerance {tolerance})");
    }
}

/// x_r = [r + 1, 10 (r + 1), -r]: each rank's test vector.
pub fn values(rank: i32) -> Vec<f64> {
    let r = rank as f64;
    vec![r + 1.0, 10.0 * (r + 1.0), -r]
}

/// sum_k weight_k * x_{rank_k}.
pub fn combine(terms: &[(f64, i32)]) -> Vec<f64> {
    let mut out = vec![0.0; 3];
    for &(weight, rank) in terms {
        for (o, v) in out.iter_mut().zip(values(rank)) {
            *o += weight * v;
        }
    }
    out
}
