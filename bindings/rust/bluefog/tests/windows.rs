// SPDX-License-Identifier: Apache-2.0
// One-sided windows under mpirun (2 and 4 ranks) on the exponential-2 topology, against closed
// forms: the in-neighbors of rank r are r - 2^i, its out-neighbors r + 2^i (mod n, 2^i < n).
// Puts replace, accumulates add, gets fetch, updates combine; versions, associated p, mutexes,
// names, and errors returned as statuses.
mod common;

use bluefog::{Status, Topology, WinOpArgs, WinUpdateArgs, Window};
use common::{assert_close, bf, combine, rank_size, values, wrap};

/// r +/- 2^i (mod n) for 2^i < n, ascending and distinct.
fn neighbors(rank: i32, n: i32, sign: i32) -> Vec<i32> {
    let mut ranks: Vec<i32> =
        (0..).map(|i| 1 << i).take_while(|&d| d < n).map(|d| wrap(rank + sign * d, n)).collect();
    ranks.sort();
    ranks.dedup();
    ranks
}

fn in_neighbors(rank: i32, n: i32) -> Vec<i32> {
    neighbors(rank, n, -1)
}

fn out_neighbors(rank: i32, n: i32) -> Vec<i32> {
    neighbors(rank, n, 1)
}

/// Every source with weight 1 and the given self weight.
fn sum_of_buffers(self_weight: f64, sources: &[i32]) -> WinUpdateArgs {
    let sources: Vec<(i32, f64)> = sources.iter().map(|&s| (s, 1.0)).collect();
    WinUpdateArgs::new().with_weights(self_weight, &sources)
}

fn exponential_two() {
    let (_, n) = rank_size();
    bf().set_topology(&Topology::exponential_two(n).unwrap(), false).unwrap();
}

#[test]
fn accumulate_adds_and_update_then_collect_sums_the_buffers() {
    exponential_two();
    let (rank, n) = rank_size();
    let sources = in_neighbors(rank, n);
    let mut win = Window::create(bf(), "rust.acc", values(rank), true).unwrap();
    win.accumulate(&WinOpArgs::new()).unwrap();
    win.accumulate_async(&WinOpArgs::new()).unwrap().wait().unwrap();
    bf().barrier().unwrap();
    let expected_versions: Vec<(i32, i32)> = sources.iter().map(|&s| (s, 2)).collect();
    assert_eq!(win.versions().unwrap(), expected_versions);

    // Zero-initialized buffers plus two accumulates of each source's tensor.
    let mut terms = vec![(1.0, rank)];
    terms.extend(sources.iter().map(|&s| (2.0, s)));
    let mut out = vec![0.0; 3];
    win.update_into(&mut out, &sum_of_buffers(1.0, &sources)).unwrap();
    assert_close(&out, &combine(&terms), 1e-12);
    assert_eq!(win.data(), &values(rank)[..], "update_into changed the window's tensor");
    assert!(win.versions().unwrap().iter().all(|&(_, v)| v == 0), "versions not reset");

    win.update_then_collect(false).unwrap();
    assert_close(win.data(), &combine(&terms), 1e-12);
    // The buffers were zeroed: a second collect changes nothing.
    win.update_then_collect(true).unwrap();
    assert_close(win.data(), &combine(&terms), 1e-12);
    let data = win.free().unwrap();
    assert_close(&data, &combine(&terms), 1e-12);
}

#[test]
fn accumulate_with_self_weight_scales_the_tensor_after_sending() {
    exponential_two();
    let (rank, n) = rank_size();
    let sources = in_neighbors(rank, n);
    let mut win = Window::create(bf(), "rust.acc.self", values(rank), true).unwrap();
    // Destination d receives (d + 1) * x_r; the sender keeps x_r / 2.
    let destinations: Vec<(i32, f64)> =
        out_neighbors(rank, n).iter().map(|&d| (d, d as f64 + 1.0)).collect();
    win.accumulate(&WinOpArgs::new().weighted_peers(&destinations).self_weight(0.5)).unwrap();
    assert_close(win.data(), &combine(&[(0.5, rank)]), 1e-12);
    bf().barrier().unwrap();
    let mut out = vec![0.0; 3];
    win.update_into(&mut out, &sum_of_buffers(0.0, &sources)).unwrap();
    let me = rank as f64 + 1.0;
    let terms: Vec<(f64, i32)> = sources.iter().map(|&s| (me, s)).collect();
    assert_close(&out, &combine(&terms), 1e-12);
    bf().barrier().unwrap();
}

#[test]
fn associated_p_follows_accumulates_and_collects() {
    exponential_two();
    let (rank, n) = rank_size();
    let indegree = in_neighbors(rank, n).len() as f64;
    assert!(!bf().win_associated_p().unwrap(), "associated p is off at initialization");
    bf().set_win_associated_p(true).unwrap();
    assert!(bf().win_associated_p().unwrap());
    let mut win = Window::create(bf(), "rust.p", values(rank), true).unwrap();
    assert_eq!(win.associated_p().unwrap(), 1.0);
    win.accumulate(&WinOpArgs::new().self_weight(0.5)).unwrap();
    assert_eq!(win.associated_p().unwrap(), 0.5);
    bf().barrier().unwrap();
    // Each in-neighbor sent its p (1.0, before its own scaling) with weight 1.
    win.update_then_collect(false).unwrap();
    assert_close(&[win.associated_p().unwrap()], &[0.5 + indegree], 1e-12);
    bf().set_win_associated_p(false).unwrap();
    drop(win);
}

#[test]
fn errors_are_returned_with_their_status() {
    exponential_two();
    let (rank, n) = rank_size();
    let mut win = Window::create(bf(), "rust.err", values(rank), false).unwrap();
    assert_eq!(bf().window_names().unwrap(), vec!["rust.err".to_owned()]);

    // Every rank creates a second window of the same name: refused everywhere, nothing leaks.
    let error = Window::create(bf(), "rust.err", values(rank), false).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    assert_eq!(bf().window_names().unwrap(), vec!["rust.err".to_owned()]);

    let error = win.get(&WinOpArgs::new().self_weight(0.5)).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    let error = win.put(&WinOpArgs::new().peers(&[rank])).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    assert!(error.message().contains("itself"), "{error}");
    let error = win.update(&WinUpdateArgs::new().with_weights(0.5, &[(rank, 0.5)])).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    let error = win.accumulate(&WinOpArgs::new().self_weight(f64::NAN)).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    let error = win.update_into(&mut [0.0; 2], &WinUpdateArgs::new()).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    let error = bf().set_topology(&Topology::fully_connected(n).unwrap(), false).unwrap_err();
    assert_eq!(error.status(), Status::InProgress, "{error}");
    assert_eq!(win.data(), &values(rank)[..], "a failed call changed the tensor");

    // Integer windows take only weights of 1.0.
    let mut ints = Window::create(bf(), "rust.err.int", vec![rank; 4], false).unwrap();
    let error = ints.put(&WinOpArgs::new().self_weight(0.5)).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    assert_eq!(
        bf().window_names().unwrap(),
        vec!["rust.err".to_owned(), "rust.err.int".to_owned()]
    );
    drop(ints);
    win.free().unwrap();
    assert!(bf().window_names().unwrap().is_empty());

    // Ranks disagreeing on the length: a mismatch on every rank, and no window left behind.
    let error =
        Window::create(bf(), "rust.err.len", vec![1.0f32; 2 + rank as usize], false).unwrap_err();
    assert_eq!(error.status(), Status::Mismatch, "{error}");
    assert!(bf().window_names().unwrap().is_empty());
}

#[test]
fn get_fetches_weighted_tensors_of_the_sources() {
    exponential_two();
    let (rank, n) = rank_size();
    let sources = in_neighbors(rank, n);
    let win = Window::create(bf(), "rust.get", values(rank), true).unwrap();
    win.get(&WinOpArgs::new()).unwrap();
    let expected_versions: Vec<(i32, i32)> = sources.iter().map(|&s| (s, 1)).collect();
    assert_eq!(win.versions().unwrap(), expected_versions);
    let mut out = vec![0.0; 3];
    let mut terms = vec![(0.5, rank)];
    terms.extend(sources.iter().map(|&s| (1.0, s)));
    win.update_into(&mut out, &sum_of_buffers(0.5, &sources)).unwrap();
    assert_close(&out, &combine(&terms), 1e-12);

    // The first source only, weighted 3: its buffer is replaced, the others are kept.
    let first = sources[0];
    win.get_async(&WinOpArgs::new().weighted_peers(&[(first, 3.0)])).unwrap().wait().unwrap();
    terms[1] = (3.0, first);
    win.update_into(&mut out, &sum_of_buffers(0.5, &sources)).unwrap();
    assert_close(&out, &combine(&terms), 1e-12);
    assert_eq!(win.data(), &values(rank)[..]);
    // Peers may still be getting this tensor until everyone is past this point.
    bf().barrier().unwrap();
}

#[test]
fn integer_windows_move_exact_values() {
    exponential_two();
    let (rank, n) = rank_size();
    let sources = in_neighbors(rank, n);
    let x = |r: i32| vec![r as i64 + 1, -(r as i64) * 1_000_000_007, 3];
    let mut win = Window::create(bf(), "rust.int", x(rank), true).unwrap();
    win.put_async(&WinOpArgs::new()).unwrap().wait().unwrap();
    win.accumulate(&WinOpArgs::new()).unwrap();
    bf().barrier().unwrap();
    win.update(&WinUpdateArgs::new()).unwrap_err(); // uniform weights are not 1
    win.update_then_collect(false).unwrap();
    let mut expected = x(rank);
    for &s in &sources {
        for (e, v) in expected.iter_mut().zip(x(s)) {
            *e += 2 * v;
        }
    }
    assert_eq!(win.data(), &expected[..]);
    bf().barrier().unwrap();
}

#[test]
fn mutexes_lock_and_release() {
    exponential_two();
    let (rank, n) = rank_size();
    let sources = in_neighbors(rank, n);
    let mut win = Window::create(bf(), "rust.mutex", values(rank), true).unwrap();
    {
        // Own mutexes for every buffer this rank reads, while updating in place.
        let mut guard = win.lock(Some(&sources), true).unwrap();
        guard.update(&WinUpdateArgs::new().with_weights(1.0, &[])).unwrap();
    }
    {
        let guard = win.lock(None, false).unwrap();
        guard.unlock().unwrap();
    }
    win.mutex_acquire(None, false).unwrap();
    win.mutex_release(None, false).unwrap();
    // Transfers that take the peers' mutexes, racing other ranks' explicit locks.
    win.put(&WinOpArgs::new().require_mutex(true)).unwrap();
    win.mutex_acquire(Some(&sources), true).unwrap();
    win.mutex_release(Some(&sources), true).unwrap();
    bf().barrier().unwrap();
    let mut out = vec![0.0; 3];
    win.update_into(&mut out, &sum_of_buffers(0.0, &sources).require_mutex(true)).unwrap();
    let terms: Vec<(f64, i32)> = sources.iter().map(|&s| (1.0, s)).collect();
    assert_close(&out, &combine(&terms), 1e-12);
    let error = win.mutex_acquire(Some(&[n]), false).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    bf().barrier().unwrap();
}

#[test]
fn put_replaces_buffers_and_update_averages() {
    exponential_two();
    let (rank, n) = rank_size();
    let sources = in_neighbors(rank, n);
    let k = sources.len() as f64;

    // Buffers start as copies of this rank's own tensor: the default update is the identity.
    let mut win = Window::create(bf(), "rust.put", values(rank), false).unwrap();
    win.update(&WinUpdateArgs::new()).unwrap();
    assert_close(win.data(), &values(rank), 1e-12);
    // Nobody puts before every rank has checked its untouched buffers.
    bf().barrier().unwrap();

    // Destination d receives (d + 1) * x_r, twice: the second put replaces the first.
    let destinations: Vec<(i32, f64)> =
        out_neighbors(rank, n).iter().map(|&d| (d, d as f64 + 1.0)).collect();
    win.put(&WinOpArgs::new().weighted_peers(&destinations)).unwrap();
    win.put(&WinOpArgs::new().weighted_peers(&destinations)).unwrap();
    bf().barrier().unwrap();
    let expected_versions: Vec<(i32, i32)> = sources.iter().map(|&s| (s, 2)).collect();
    assert_eq!(win.versions().unwrap(), expected_versions);
    let me = rank as f64 + 1.0;
    let mut out = vec![0.0; 3];
    win.update_into(&mut out, &sum_of_buffers(0.0, &sources)).unwrap();
    let terms: Vec<(f64, i32)> = sources.iter().map(|&s| (me, s)).collect();
    assert_close(&out, &combine(&terms), 1e-12);

    // Unweighted put, then the default update: uniform 1/(in-degree + 1) on an unweighted
    // topology, in place.
    bf().barrier().unwrap();
    win.put(&WinOpArgs::new()).unwrap();
    bf().barrier().unwrap();
    win.update(&WinUpdateArgs::new()).unwrap();
    let mut terms = vec![(1.0 / (k + 1.0), rank)];
    terms.extend(sources.iter().map(|&s| (1.0 / (k + 1.0), s)));
    assert_close(win.data(), &combine(&terms), 1e-12);

    // reset zeroes the buffers read (also into `out`): the next update sees only the tensor.
    let averaged = win.data().to_vec();
    win.update_into(&mut out, &WinUpdateArgs::new().reset(true)).unwrap();
    win.update(&sum_of_buffers(1.0, &sources)).unwrap();
    assert_close(win.data(), &averaged, 1e-12);

    // Only some destinations: just the first out-neighbor hears from this rank.
    bf().barrier().unwrap();
    let first = out_neighbors(rank, n)[0];
    win.put(&WinOpArgs::new().peers(&[first])).unwrap();
    bf().barrier().unwrap();
    win.update_into(&mut out, &sum_of_buffers(0.0, &sources)).unwrap();
    let senders: Vec<i32> =
        sources.iter().copied().filter(|&s| out_neighbors(s, n)[0] == rank).collect();
    // Each sender put its averaged tensor; the other buffers stayed zero after the reset.
    let mut terms = Vec::new();
    for &s in &senders {
        terms.push((1.0 / (k + 1.0), s));
        terms.extend(in_neighbors(s, n).iter().map(|&q| (1.0 / (k + 1.0), q)));
    }
    assert_close(&out, &combine(&terms), 1e-12);
    let data = win.free().unwrap();
    assert_eq!(data.len(), 3);
}

#[test]
fn windows_free_on_drop_and_leaked_transfers_are_waited_for() {
    exponential_two();
    let (rank, _) = rank_size();
    {
        let mut win = Window::create(bf(), "rust.drop", values(rank), true).unwrap();
        let pending = win.accumulate_async(&WinOpArgs::new().self_weight(2.0)).unwrap();
        std::mem::forget(pending);
        // The leaked transfer is waited for before the tensor is read.
        assert_close(win.data(), &combine(&[(2.0, rank)]), 1e-12);
        assert_eq!(bf().window_names().unwrap(), vec!["rust.drop".to_owned()]);
    }
    assert!(bf().window_names().unwrap().is_empty());
    // The topology may change again once every window is gone.
    exponential_two();
}
