// SPDX-License-Identifier: Apache-2.0
// Topology and schedule queries against closed forms. No initialization needed: every rank runs
// the same local checks.
use std::f64::consts::PI;

use bluefog::schedule;
use bluefog::{RingStyle, Status, Topology};

fn ranks(neighbors: &[bluefog::Neighbor]) -> Vec<i32> {
    neighbors.iter().map(|n| n.rank).collect()
}

#[test]
fn bidirectional_ring_has_weights_one_third() {
    let ring = Topology::ring(5, RingStyle::Bidirectional).unwrap();
    assert_eq!(ring.size(), 5);
    let inn = ring.in_neighbors(0).unwrap();
    assert_eq!(ranks(&inn), vec![1, 4]);
    for neighbor in &inn {
        assert!((neighbor.weight - 1.0 / 3.0).abs() < 1e-15);
    }
    assert!((ring.weight(0, 0).unwrap() - 1.0 / 3.0).abs() < 1e-15);
    assert_eq!(ring.weight(0, 2).unwrap(), 0.0);
}

#[test]
fn exponential_two_is_the_circulant_with_offsets_0_1_2_4() {
    let n = 8;
    let exp = Topology::exponential_two(n).unwrap();
    let matrix = exp.to_matrix().unwrap();
    for i in 0..n {
        for j in 0..n {
            let offset = (j - i).rem_euclid(n);
            let expected = if [0, 1, 2, 4].contains(&offset) { 0.25 } else { 0.0 };
            assert_eq!(matrix[(i * n + j) as usize], expected, "W[{i}][{j}]");
        }
        let out: Vec<i32> = {
            let mut v: Vec<i32> = [1, 2, 4].iter().map(|o| (i + o) % n).collect();
            v.sort();
            v
        };
        assert_eq!(ranks(&exp.out_neighbors(i).unwrap()), out);
    }
    assert_eq!(Topology::exponential(n, 2).unwrap().to_matrix().unwrap(), matrix);
}

#[test]
fn spectral_gap_of_rings_and_full_graphs_matches_circulant_eigenvalues() {
    for n in [3, 4, 5, 8] {
        // Eigenvalues of the 1/3 circulant ring: (1 + 2 cos(2 pi k / n)) / 3, k = 1..n-1.
        let expected = (1..n)
            .map(|k| ((1.0 + 2.0 * (2.0 * PI * k as f64 / n as f64).cos()) / 3.0).abs())
            .fold(0.0, f64::max);
        let rho = Topology::ring(n, RingStyle::Bidirectional).unwrap().spectral_gap().unwrap();
        assert!((rho - expected).abs() < 1e-9, "n={n}: {rho} != {expected}");
    }
    let full = Topology::fully_connected(6).unwrap();
    assert!(full.spectral_gap().unwrap().abs() < 1e-9);
    assert!((full.weight(2, 3).unwrap() - 1.0 / 6.0).abs() < 1e-15);
}

#[test]
fn star_mesh_and_symmetric_exponential_neighbors() {
    let star = Topology::star(4, 0).unwrap();
    assert_eq!(ranks(&star.in_neighbors(0).unwrap()), vec![1, 2, 3]);
    assert_eq!(ranks(&star.in_neighbors(2).unwrap()), vec![0]);
    let mesh = Topology::mesh_grid_2d(12, Some((2, 6))).unwrap();
    assert_eq!(ranks(&mesh.out_neighbors(0).unwrap()), vec![1, 6]);
    let default_mesh = Topology::mesh_grid_2d(6, None).unwrap(); // 2 x 3
    assert_eq!(ranks(&default_mesh.out_neighbors(0).unwrap()), vec![1, 3]);
    let sym = Topology::symmetric_exponential(5, 4).unwrap(); // offsets 0, 1, 4: 1/3 each
    assert_eq!(ranks(&sym.in_neighbors(0).unwrap()), vec![1, 4]);
    assert!((sym.weight(1, 0).unwrap() - 1.0 / 3.0).abs() < 1e-15);
}

#[test]
fn matrix_and_edge_constructors_round_trip() {
    let weights = vec![0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.5];
    let t = Topology::from_matrix(3, &weights).unwrap();
    assert_eq!(t.to_matrix().unwrap(), weights);
    let edges = [(0, 0, 0.5), (0, 1, 0.5), (1, 1, 0.5), (1, 2, 0.5), (2, 0, 0.5), (2, 2, 0.5)];
    assert_eq!(Topology::from_edges(3, &edges).unwrap().to_matrix().unwrap(), weights);
    let copy = t.clone();
    drop(t);
    assert_eq!(copy.to_matrix().unwrap(), weights);
}

#[test]
fn bad_arguments_give_invalid_argument_with_a_message() {
    let error = Topology::star(8, 9).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument);
    assert!(error.message().contains("center_rank 9"), "{}", error.message());
    assert!(error.to_string().starts_with("BF_ERR_INVALID_ARGUMENT: "), "{error}");
    let duplicate = [(0, 1, 1.0), (0, 1, 1.0)];
    assert_eq!(Topology::from_edges(2, &duplicate).unwrap_err().status(), Status::InvalidArgument);
    assert_eq!(Topology::from_matrix(2, &[1.0]).unwrap_err().status(), Status::InvalidArgument);
    assert_eq!(Topology::exponential(0, 2).unwrap_err().status(), Status::InvalidArgument);
    let ring = Topology::ring(4, RingStyle::Left).unwrap();
    assert_eq!(ring.in_neighbors(7).unwrap_err().status(), Status::InvalidArgument);
}

#[test]
fn one_peer_schedule_cycles_through_powers_of_two() {
    let n = 8;
    let exp = Topology::exponential_two(n).unwrap();
    for step in 0..6 {
        let offset = 1 << (step % 3);
        for rank in 0..n {
            let s = schedule::one_peer(&exp, rank, step as i64).unwrap();
            assert_eq!(s.send, vec![(rank + offset) % n], "rank {rank} step {step}");
            assert_eq!(s.recv, vec![(rank - offset).rem_euclid(n)], "rank {rank} step {step}");
            assert_eq!(s.uniform_weight(), 0.5);
        }
    }
}

/// Every schedule must be consistent: i sends to j exactly when j receives from i.
fn assert_consistent(count: i32, lists: impl Fn(i32) -> schedule::SendRecv) {
    let all: Vec<_> = (0..count).map(&lists).collect();
    for i in 0..count {
        for &j in &all[i as usize].send {
            assert!(all[j as usize].recv.contains(&i), "{i} sends to {j}, which does not receive");
        }
        for &j in &all[i as usize].recv {
            assert!(
                all[j as usize].send.contains(&i),
                "{i} receives from {j}, which does not send"
            );
        }
    }
}

#[test]
fn machine_and_inner_outer_schedules_are_consistent() {
    let (world, local) = (12, 4);
    for step in 0..5 {
        assert_consistent(world, |r| schedule::inner_outer_ring(world, local, r, step).unwrap());
        assert_consistent(world, |r| schedule::inner_outer_exp2(world, local, r, step).unwrap());
        let machines = world / local;
        let by_machine = |m: i32| schedule::exp2_machine(world, local, m * local, step).unwrap();
        assert_consistent(machines, by_machine);
    }
    let error = schedule::inner_outer_ring(8, 2, 0, 0).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument);
}
