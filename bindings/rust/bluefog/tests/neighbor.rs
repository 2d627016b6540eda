// SPDX-License-Identifier: Apache-2.0
// Neighbor operations under mpirun (2 and 4 ranks), checked against closed forms: static and
// dynamic neighbor_allreduce, neighbor_allgather, pair_gossip, their async and raw forms.
mod common;

use bluefog::schedule;
use bluefog::sys;
use bluefog::{Bf16, NeighborArgs, OpArgs, RingStyle, Status, Topology, F16};
use common::{assert_close, bf, combine, rank_size, values, wrap};

/// Ring where rank i sends to i+1: W[i][i] = W[i][i+1] = 1/2.
fn set_right_ring(weighted: bool) {
    let (_, n) = rank_size();
    let mut edges: Vec<(i32, i32, f64)> = (0..n).map(|i| (i, i, 0.5)).collect();
    edges.extend((0..n).map(|i| (i, (i + 1) % n, 0.5)));
    bf().set_topology(&Topology::from_edges(n, &edges).unwrap(), weighted).unwrap();
}

#[test]
fn static_unweighted_ring_averages_uniformly() {
    let (rank, n) = rank_size();
    bf().set_topology(&Topology::ring(n, RingStyle::Bidirectional).unwrap(), false).unwrap();
    let mut sources = vec![wrap(rank - 1, n), wrap(rank + 1, n)];
    sources.sort();
    sources.dedup();
    let w = 1.0 / (sources.len() as f64 + 1.0);
    let mut terms = vec![(w, rank)];
    terms.extend(sources.iter().map(|&s| (w, s)));

    let input = values(rank);
    let mut output = vec![0.0; 3];
    bf().neighbor_allreduce(&input, &mut output, &NeighborArgs::new()).unwrap();
    assert_close(&output, &combine(&terms), 1e-12);
    assert_eq!(input, values(rank), "input modified");
}

#[test]
fn static_weighted_topology_uses_its_weights() {
    let (rank, n) = rank_size();
    set_right_ring(true);
    let mut x = values(rank);
    bf().neighbor_allreduce_in_place(&mut x, &NeighborArgs::new()).unwrap();
    assert_close(&x, &combine(&[(0.5, rank), (0.5, wrap(rank - 1, n))]), 1e-12);
}

#[test]
fn static_explicit_weights_pair_with_their_ranks() {
    let (rank, n) = rank_size();
    set_right_ring(false);
    let left = wrap(rank - 1, n);
    let args = NeighborArgs::new().with_weights(0.25, &[(left, 0.75)]);
    let mut x = values(rank);
    bf().neighbor_allreduce_in_place(&mut x, &args).unwrap();
    assert_close(&x, &combine(&[(0.25, rank), (0.75, left)]), 1e-12);
}

#[test]
fn dynamic_lists_replace_the_topology() {
    let (rank, n) = rank_size();
    let (left, right) = (wrap(rank - 1, n), wrap(rank + 1, n));
    let args = NeighborArgs::new()
        .with_weights(0.5, &[(left, 0.5)])
        .dynamic(&[right])
        .check_topology(true);
    let mut x = values(rank);
    bf().neighbor_allreduce_in_place(&mut x, &args).unwrap();
    assert_close(&x, &combine(&[(0.5, rank), (0.5, left)]), 1e-12);

    // Destination weights scale the copy at the sender.
    let args =
        NeighborArgs::new().with_weights(0.5, &[(left, 0.5)]).dynamic_scaled(&[(right, 2.0)]);
    let mut x = values(rank);
    bf().neighbor_allreduce_in_place(&mut x, &args).unwrap();
    assert_close(&x, &combine(&[(0.5, rank), (1.0, left)]), 1e-12);
}

#[test]
fn one_peer_schedule_drives_dynamic_averaging() {
    let (rank, n) = rank_size();
    let exp = Topology::exponential_two(n).unwrap();
    let step = schedule::one_peer(&exp, rank, 0).unwrap();
    assert_eq!(step.send, vec![wrap(rank + 1, n)]);
    let mut x = values(rank);
    bf().neighbor_allreduce_in_place(&mut x, &step.neighbor_args()).unwrap();
    assert_close(&x, &combine(&[(0.5, rank), (0.5, wrap(rank - 1, n))]), 1e-12);
}

#[test]
fn inconsistent_dynamic_lists_fail_on_every_rank_when_checked() {
    let (rank, n) = rank_size();
    // Everybody sends to the right, nobody receives.
    let args = NeighborArgs::new()
        .with_weights(1.0, &[])
        .dynamic(&[wrap(rank + 1, n)])
        .check_topology(true);
    let mut x = values(rank);
    let error = bf().neighbor_allreduce_in_place(&mut x, &args).unwrap_err();
    assert!(matches!(error.status(), Status::Mismatch | Status::InvalidArgument), "{error}");
    assert!(!error.message().is_empty());
    assert_eq!(x, values(rank), "output written on failure");
}

#[test]
fn source_out_of_range_is_invalid_on_every_rank() {
    let (_, n) = rank_size();
    let args = NeighborArgs::new().with_weights(0.5, &[(n, 0.5)]);
    let mut x = vec![1.0f64; 2];
    let error = bf().neighbor_allreduce_in_place(&mut x, &args).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    assert!(error.message().contains("src"), "{error}");
}

#[test]
fn sixteen_bit_and_single_precision_floats() {
    let (rank, n) = rank_size();
    set_right_ring(true);
    let left = wrap(rank - 1, n);
    // Small integers and their halves are exact in every format.
    let expected = 0.5 * (rank as f32 + 1.0) + 0.5 * (left as f32 + 1.0);

    let mut x32 = vec![rank as f32 + 1.0; 7];
    bf().neighbor_allreduce_in_place(&mut x32, &NeighborArgs::new()).unwrap();
    assert!(x32.iter().all(|&v| v == expected), "{x32:?}");

    let mut x16 = vec![F16::from_f32(rank as f32 + 1.0); 7];
    bf().neighbor_allreduce_in_place(&mut x16, &NeighborArgs::new()).unwrap();
    assert!(x16.iter().all(|v| v.to_f32() == expected), "{x16:?}");

    let mut xb = vec![Bf16::from_f32(rank as f32 + 1.0); 7];
    bf().neighbor_allreduce_in_place(&mut xb, &NeighborArgs::new()).unwrap();
    assert!(xb.iter().all(|v| v.to_f32() == expected), "{xb:?}");
}

#[test]
fn neighbor_allgather_static_and_dynamic_order() {
    let (rank, n) = rank_size();
    bf().set_topology(&Topology::ring(n, RingStyle::Bidirectional).unwrap(), false).unwrap();
    let input = vec![rank as i64; rank as usize + 1];
    let contribution = |r: i32| vec![r as i64; r as usize + 1];

    let mut sources = vec![wrap(rank - 1, n), wrap(rank + 1, n)];
    sources.sort();
    sources.dedup();
    let expected: Vec<i64> = sources.iter().flat_map(|&s| contribution(s)).collect();
    let gathered = bf().neighbor_allgather(&input, &NeighborArgs::new()).unwrap();
    assert_eq!(&*gathered, expected.as_slice());

    // Dynamic: receive from the right neighbor first, then the left one (distinct for n > 2).
    let (left, right) = (wrap(rank - 1, n), wrap(rank + 1, n));
    let (sources, destinations) =
        if n > 2 { (vec![right, left], vec![left, right]) } else { (vec![left], vec![right]) };
    let weighted: Vec<(i32, f64)> = sources.iter().map(|&s| (s, 1.0)).collect();
    let args = NeighborArgs::new().with_weights(1.0, &weighted).dynamic(&destinations);
    let expected: Vec<i64> = sources.iter().flat_map(|&s| contribution(s)).collect();
    let gathered = bf().neighbor_allgather_async(input, &args).unwrap().wait().unwrap();
    assert_eq!(&*gathered, expected.as_slice());
}

#[test]
fn pair_gossip_averages_with_the_peer() {
    let (rank, n) = rank_size();
    let peer = rank ^ 1;
    if peer >= n {
        return; // odd size: the last rank has no partner
    }
    let input = values(rank);
    let mut output = vec![0.0; 3];
    bf().pair_gossip(&input, &mut output, peer, 0.5, 0.5, &OpArgs::new()).unwrap();
    assert_close(&output, &combine(&[(0.5, rank), (0.5, peer)]), 1e-12);

    let x = bf()
        .pair_gossip_async(values(rank), peer, 0.25, 0.75, &OpArgs::new())
        .unwrap()
        .wait()
        .unwrap();
    assert_close(&x, &combine(&[(0.25, rank), (0.75, peer)]), 1e-12);
}

#[test]
fn async_neighbor_allreduce_overlaps_and_drop_waits() {
    let (rank, n) = rank_size();
    set_right_ring(true);
    let expected = combine(&[(0.5, rank), (0.5, wrap(rank - 1, n))]);
    let pending = bf().neighbor_allreduce_async(values(rank), &NeighborArgs::new()).unwrap();
    let busy: f64 = (0..10_000).map(|k| (k as f64).sqrt()).sum(); // work while it runs
    assert!(busy > 0.0);
    assert_close(&pending.wait().unwrap(), &expected, 1e-12);

    // Dropping an operation in flight waits for it; the next one still matches.
    drop(bf().neighbor_allreduce_async(values(rank), &NeighborArgs::new()).unwrap());
    let mut x = values(rank);
    bf().neighbor_allreduce_in_place(&mut x, &NeighborArgs::new()).unwrap();
    assert_close(&x, &expected, 1e-12);
}

#[test]
fn raw_neighbor_allreduce_on_a_matrix() {
    let (rank, n) = rank_size();
    set_right_ring(true);
    let mut data: Vec<f64> = (0..6).map(|k| (rank * 10 + k) as f64).collect();
    let mut out = vec![0.0f64; 6];
    let mut shape = [3i64, 2];
    let tensor = |ptr: *mut f64, shape: *mut i64| sys::DLTensor {
        data: ptr.cast(),
        device: sys::DLDevice { device_type: sys::kDLCPU, device_id: 0 },
        ndim: 2,
        dtype: sys::DLDataType { code: sys::kDLFloat, bits: 64, lanes: 1 },
        shape,
        strides: std::ptr::null_mut(),
        byte_offset: 0,
    };
    let input = tensor(data.as_mut_ptr(), shape.as_mut_ptr());
    let mut output = tensor(out.as_mut_ptr(), shape.as_mut_ptr());
    unsafe {
        bf().neighbor_allreduce_raw_async(&input, &mut output, &NeighborArgs::new())
            .unwrap()
            .wait()
            .unwrap()
    };
    let left = wrap(rank - 1, n);
    let expected: Vec<f64> =
        (0..6).map(|k| 0.5 * (rank * 10 + k) as f64 + 0.5 * (left * 10 + k) as f64).collect();
    assert_close(&out, &expected, 1e-12);
}

#[test]
fn timeline_activity_is_unsupported_without_a_timeline() {
    let error = bf().timeline_activity("step", "compute").unwrap_err();
    assert_eq!(error.status(), Status::Unsupported, "{error}");
}

#[test]
fn inferred_topology_from_destinations_or_sources() {
    let (rank, n) = rank_size();
    let right_ring = bf().infer_topology_from_destinations(&[wrap(rank + 1, n)]).unwrap();
    let from_sources = bf().infer_topology_from_sources(&[wrap(rank - 1, n)]).unwrap();
    for topology in [&right_ring, &from_sources] {
        let inn = topology.in_neighbors(rank).unwrap();
        assert_eq!(inn.len(), 1);
        assert_eq!(inn[0].rank, wrap(rank - 1, n));
        assert_eq!(inn[0].weight, 0.5); // 1 / (in-degree + 1)
        assert_eq!(topology.weight(rank, rank).unwrap(), 0.5);
    }
    assert_eq!(right_ring.to_matrix().unwrap(), from_sources.to_matrix().unwrap());
}

#[test]
fn compressed_averaging_with_error_feedback_reaches_the_mean() {
    use bluefog::Compression;
    let (rank, n) = rank_size();
    bf().set_topology(&Topology::exponential(n, 2).unwrap(), false).unwrap();
    let start = |r: i32| -> Vec<f32> {
        (0..500).map(|i| 3.0 + r as f32 + 2.0 * (0.37 * i as f32 + 1.3 * r as f32).sin()).collect()
    };
    let mean: Vec<f64> = (0..500)
        .map(|i| (0..n).map(|r| f64::from(start(r)[i])).sum::<f64>() / f64::from(n))
        .collect();
    for (name, compression) in [
        ("rust.int8", Compression::Int8),
        ("rust.bf16", Compression::BFloat16),
        ("rust.topk", Compression::TopK { ratio: 0.1 }),
    ] {
        let args = NeighborArgs::new().named(name).compression(compression);
        let mut x = start(rank);
        for _ in 0..400 {
            bf().neighbor_allreduce_in_place(&mut x, &args).unwrap();
        }
        let worst = x.iter().zip(&mean).map(|(a, m)| (f64::from(*a) - m).abs() / m.abs());
        let worst = worst.fold(0.0, f64::max);
        assert!(worst < 1e-4, "{name}: relative error {worst}");
    }
    // Error feedback keeps per-name state: an unnamed call must turn it off explicitly.
    let mut x = start(rank);
    let unnamed = NeighborArgs::new().compression(Compression::Int8);
    let error = bf().neighbor_allreduce_in_place(&mut x, &unnamed).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    let no_feedback = unnamed.error_feedback(false);
    bf().neighbor_allreduce_in_place(&mut x, &no_feedback).unwrap();
}
