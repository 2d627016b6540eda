// SPDX-License-Identifier: Apache-2.0
// Engine controls under mpirun: the window lock (peers' puts wait until unlock, then land), suspend
// and resume (operations fail with Status::Suspended), the run-time matching-mode switch followed
// by ordered operations, and the transport queries. References are closed forms.
mod common;

use std::time::Duration;

use bluefog::{
    AllreduceArgs, MatchingMode, ReduceOp, Status, Topology, WinOpArgs, WinUpdateArgs, Window,
};
use common::{assert_close, bf, rank_size, values};

fn set_topology(topology: Topology) {
    bf().set_topology(&topology, false).unwrap();
}

/// Sum of ranks 0..n times each rank's own number.
fn rank_sum(n: i32) -> f64 {
    (n * (n - 1)) as f64 / 2.0
}

#[test]
fn queries_report_the_engine() {
    assert!(bf().mpi_threads_supported(), "bf_init asks MPI for MPI_THREAD_MULTIPLE");
    assert!(bf().unified_mpi_window_model_supported());
}

#[test]
fn win_lock_holds_peers_puts_until_unlock() {
    let (rank, n) = rank_size();
    set_topology(Topology::fully_connected(n).unwrap());
    let mut win = Window::create(bf(), "rust.lock", values(rank), true).unwrap();
    bf().barrier().unwrap();
    if rank == 0 {
        let guard = win.lock_against_peers().unwrap();
        assert!(guard.is_locked_against_peers().unwrap());
        bf().barrier().unwrap(); // the others put now
        bf().barrier().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(guard.versions().unwrap().iter().all(|&(_, v)| v == 0), "a held put landed");
        guard.unlock().unwrap();
        assert!(!win.is_locked_against_peers().unwrap());
    } else {
        bf().barrier().unwrap();
        let pending = win.put_async(&WinOpArgs::new().peers(&[0])).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(!pending.poll().unwrap(), "a put completed while its destination was locked");
        bf().barrier().unwrap();
        pending.wait().unwrap();
    }
    bf().barrier().unwrap();
    if rank == 0 {
        let expected: Vec<(i32, i32)> = (1..n).map(|peer| (peer, 1)).collect();
        assert_eq!(win.versions().unwrap(), expected);
        for peer in 1..n {
            let mut out = vec![0.0; 3];
            let args = WinUpdateArgs::new().with_weights(0.0, &[(peer, 1.0)]);
            win.update_into(&mut out, &args).unwrap();
            assert_close(&out, &values(peer), 0.0);
        }
    }
    win.free().unwrap();
    set_topology(Topology::exponential_two(n).unwrap());
}

#[test]
fn suspended_operations_fail_until_resume() {
    let (rank, n) = rank_size();
    bf().suspend().unwrap();
    assert!(bf().is_suspended());
    let error = bf().barrier().unwrap_err();
    assert_eq!(error.status(), Status::Suspended);
    assert!(error.message().contains("suspended on rank"), "{}", error.message());
    bf().resume().unwrap();
    assert!(!bf().is_suspended());
    let mut x = vec![rank as f64; 2];
    bf().allreduce_in_place(&mut x, &AllreduceArgs::new().op(ReduceOp::Sum)).unwrap();
    assert_close(&x, &[rank_sum(n), rank_sum(n)], 0.0);
}

#[test]
fn matching_mode_switches_both_ways() {
    let (rank, n) = rank_size();
    let initial = bf().matching_mode();
    bf().set_matching_mode(MatchingMode::Ordered).unwrap();
    assert_eq!(bf().matching_mode(), MatchingMode::Ordered);
    let mut x = vec![rank as f64; 3];
    bf().allreduce_in_place(&mut x, &AllreduceArgs::new().op(ReduceOp::Sum)).unwrap();
    assert_close(&x, &[rank_sum(n); 3], 0.0);
    bf().set_matching_mode(MatchingMode::Named).unwrap();
    assert_eq!(bf().matching_mode(), MatchingMode::Named);
    let mut y = vec![rank as f64; 3];
    bf().allreduce_in_place(&mut y, &AllreduceArgs::new().op(ReduceOp::Sum)).unwrap();
    assert_close(&y, &[rank_sum(n); 3], 0.0);
    let error = bf().set_matching_mode(MatchingMode::Default).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument);
    bf().set_matching_mode(initial).unwrap();
}
