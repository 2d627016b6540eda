// SPDX-License-Identifier: Apache-2.0
// Global collectives under mpirun (2 and 4 ranks), checked against closed forms. Every rank runs
// the same tests in the same order (one test thread), so the collectives match.
mod common;

use std::time::Duration;

use bluefog::sys;
use bluefog::{
    AllreduceArgs, Bf16, Context, MatchingMode, OpArgs, ReduceOp, Status, Topology, F16,
};
use common::{assert_close, bf, rank_size};

#[test]
fn ranks_and_sizes_agree_with_mpirun() {
    let (rank, size) = rank_size();
    let expected: i32 = std::env::var("OMPI_COMM_WORLD_SIZE").unwrap().parse().unwrap();
    assert_eq!(size, expected);
    assert!((0..size).contains(&rank));
    assert!(bluefog::is_initialized());
    let bf = bf();
    assert!(bf.local_size() >= 1 && bf.local_rank() < bf.local_size());
    assert!(bf.machine_size() >= 1 && bf.machine_rank() < bf.machine_size());
    assert_eq!(bluefog::version(), (0, 1, 0));
    assert!(matches!(bf.matching_mode(), MatchingMode::Ordered | MatchingMode::Named));
}

// Collective tests never change the topology, so the default is still in place here.
#[test]
fn default_topology_is_unweighted_exponential_two() {
    let (_, n) = rank_size();
    let (topology, weighted) = bf().topology().unwrap();
    assert!(!weighted);
    assert_eq!(
        topology.to_matrix().unwrap(),
        Topology::exponential(n, 2).unwrap().to_matrix().unwrap()
    );
}

/// Sum over ranks of `[r + 1, 2 (r + 1)]` is `[n(n+1)/2, n(n+1)]`, for each element type.
macro_rules! check_sum {
    ($ty:ty, $from:expr, $to:expr) => {{
        let (rank, size) = rank_size();
        let from = $from;
        let to = $to;
        let input: Vec<$ty> = vec![from(rank + 1), from(2 * (rank + 1))];
        let mut output: Vec<$ty> = vec![from(0); 2];
        bf().allreduce(&input, &mut output, &AllreduceArgs::new().op(ReduceOp::Sum)).unwrap();
        let triangle = size * (size + 1) / 2;
        assert_eq!(
            output.iter().map(|&v| to(v)).collect::<Vec<i64>>(),
            vec![triangle as i64, 2 * triangle as i64]
        );
        assert_eq!(input, vec![from(rank + 1), from(2 * (rank + 1))], "input modified");
    }};
}

#[test]
fn allreduce_sum_for_every_element_type() {
    check_sum!(i8, |v: i32| v as i8, |v: i8| v as i64);
    check_sum!(i16, |v: i32| v as i16, |v: i16| v as i64);
    check_sum!(i32, |v: i32| v, |v: i32| v as i64);
    check_sum!(i64, |v: i32| v as i64, |v: i64| v);
    check_sum!(u8, |v: i32| v as u8, |v: u8| v as i64);
    check_sum!(f32, |v: i32| v as f32, |v: f32| v as i64);
    check_sum!(f64, |v: i32| v as f64, |v: f64| v as i64);
    check_sum!(F16, |v: i32| F16::from_f32(v as f32), |v: F16| v.to_f32() as i64);
    check_sum!(Bf16, |v: i32| Bf16::from_f32(v as f32), |v: Bf16| v.to_f32() as i64);
}

#[test]
fn allreduce_average_in_place_and_async() {
    let (rank, size) = rank_size();
    let mut x = vec![rank as f64, 1.0];
    bf().allreduce_in_place(&mut x, &AllreduceArgs::new()).unwrap();
    assert_close(&x, &[(size - 1) as f64 / 2.0, 1.0], 1e-12);

    let pending = bf()
        .allreduce_async(vec![rank as f32; 1000], &AllreduceArgs::new().named("avg.async"))
        .unwrap();
    let y = pending.wait().unwrap();
    assert_eq!(y.len(), 1000);
    assert!(y.iter().all(|&v| (v - (size - 1) as f32 / 2.0).abs() < 1e-6));
}

#[test]
fn allreduce_average_of_integers_is_rejected_on_every_rank() {
    let mut x = vec![1i32; 3];
    let error = bf().allreduce_in_place(&mut x, &AllreduceArgs::new()).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument, "{error}");
    assert!(!error.message().is_empty());
}

#[test]
fn allreduce_checks_output_length_before_the_library() {
    let mut short = vec![0.0f64; 1];
    let error = bf().allreduce(&[1.0, 2.0], &mut short, &AllreduceArgs::new()).unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument);
}

#[test]
fn broadcast_copies_the_root_values() {
    let (rank, size) = rank_size();
    let root = size - 1;
    let input: Vec<i64> = (0..5).map(|k| 100 * rank as i64 + k).collect();
    let mut output = vec![0i64; 5];
    bf().broadcast(&input, &mut output, root, &OpArgs::new()).unwrap();
    assert_eq!(output, (0..5).map(|k| 100 * root as i64 + k).collect::<Vec<_>>());

    let mut data = vec![rank as f32; 3];
    bf().broadcast_in_place(&mut data, 0, &OpArgs::new().named("bcast.inplace")).unwrap();
    assert_eq!(data, vec![0.0; 3]);

    let data =
        bf().broadcast_async(vec![rank as u8 + 7; 4], 0, &OpArgs::new()).unwrap().wait().unwrap();
    assert_eq!(data, vec![7u8; 4]);
}

#[test]
fn allgather_concatenates_varying_lengths_in_rank_order() {
    let (rank, size) = rank_size();
    let input = vec![rank; rank as usize + 1];
    let expected: Vec<i32> = (0..size).flat_map(|r| vec![r; r as usize + 1]).collect();
    let gathered = bf().allgather(&input, &OpArgs::new()).unwrap();
    assert_eq!(&*gathered, expected.as_slice());
    assert_eq!(gathered.tensor().shape(), &[expected.len() as i64]);

    let pending =
        bf().allgather_async(input.clone(), &OpArgs::new().named("gather.async")).unwrap();
    assert_eq!(&*pending.wait().unwrap(), expected.as_slice());
}

#[test]
fn barriers_complete() {
    bf().barrier().unwrap();
    let mut pending = bf().barrier_async().unwrap();
    while !pending.wait_timeout(Duration::from_millis(10)).unwrap() {}
    assert!(pending.poll().unwrap());
    pending.wait().unwrap();
}

#[test]
fn mismatched_shapes_fail_on_every_rank() {
    let (rank, _) = rank_size();
    // Same name, but rank 0 posts two elements and the others three.
    let mut x = vec![1.0f64; if rank == 0 { 2 } else { 3 }];
    let error = bf()
        .allreduce_in_place(&mut x, &AllreduceArgs::new().named("mismatched.shape"))
        .unwrap_err();
    assert_eq!(error.status(), Status::Mismatch, "{error}");
    assert!(!error.message().is_empty());
    // The engine is still usable afterwards.
    bf().allreduce_in_place(&mut x[..2], &AllreduceArgs::new()).unwrap();
}

/// A 2-D row-major DLTensor over `data`.
fn matrix_tensor(data: &mut [f32], shape: &mut [i64; 2]) -> sys::DLTensor {
    sys::DLTensor {
        data: data.as_mut_ptr().cast(),
        device: sys::DLDevice { device_type: sys::kDLCPU, device_id: 0 },
        ndim: 2,
        dtype: sys::DLDataType { code: sys::kDLFloat, bits: 32, lanes: 1 },
        shape: shape.as_mut_ptr(),
        strides: std::ptr::null_mut(),
        byte_offset: 0,
    }
}

#[test]
fn raw_dlpack_tensors_allreduce_and_allgather() {
    let (rank, size) = rank_size();
    let mut data: Vec<f32> = (0..6).map(|k| (rank * 6 + k) as f32).collect();
    let mut shape = [2i64, 3];
    let mut tensor = matrix_tensor(&mut data, &mut shape);
    let sum = AllreduceArgs::new().op(ReduceOp::Sum);
    unsafe { bf().allreduce_raw(&tensor, &mut tensor, &sum).unwrap() };
    // sum over r of (6r + k) = 6 n(n-1)/2 + n k
    let expected: Vec<f32> = (0..6).map(|k| (3 * size * (size - 1) + size * k) as f32).collect();
    assert_eq!(data, expected);

    // Rank r contributes r + 1 rows of 2 columns, all equal to r.
    let rows = rank as usize + 1;
    let mut data = vec![rank as f32; rows * 2];
    let mut shape = [rows as i64, 2];
    let tensor = matrix_tensor(&mut data, &mut shape);
    let gathered = unsafe { bf().allgather_raw(&tensor, &OpArgs::new()).unwrap() };
    let total = (size * (size + 1) / 2) as i64;
    assert_eq!(gathered.shape(), &[total, 2]);
    let expected: Vec<f32> = (0..size).flat_map(|r| vec![r as f32; 2 * (r as usize + 1)]).collect();
    assert_eq!(gathered.as_slice::<f32>().unwrap(), expected.as_slice());
    assert_eq!(gathered.as_slice::<f64>().unwrap_err().status(), Status::InvalidArgument);
}

#[test]
fn a_second_context_is_refused() {
    bf();
    let error = Context::init().unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument);
}
