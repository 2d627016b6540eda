// SPDX-License-Identifier: Apache-2.0
// GPU tensors (kDLCUDA) through the raw DLPack entry points. The run 'rust/device-np2-emulated'
// sets BLUEFOG_TEST_EMULATED_GPUS, under which the engine takes kDLCUDA tensors to be host memory
// on emulated devices (docs/gpu.md), so the "device" buffers here are Vecs, and passes
// --include-ignored for the tests that need such a device. In the other runs (no device) the
// first test checks that the same call is refused with BF_ERR_UNSUPPORTED naming CUDA.
mod common;

use bluefog::{sys, AllreduceArgs, NeighborArgs, OpArgs, ReduceOp, Status};
use common::{bf, rank_size, wrap};

/// A 1-D float32 DLTensor on CUDA device 0 over `data` (emulated device memory).
fn device_tensor(data: &mut [f32], shape: &mut [i64; 1]) -> sys::DLTensor {
    shape[0] = data.len() as i64;
    sys::DLTensor {
        data: data.as_mut_ptr().cast(),
        device: sys::DLDevice { device_type: sys::kDLCUDA, device_id: 0 },
        ndim: 1,
        dtype: sys::DLDataType { code: sys::kDLFloat as u8, bits: 32, lanes: 1 },
        shape: shape.as_mut_ptr(),
        strides: std::ptr::null_mut(),
        byte_offset: 0,
    }
}

fn exp2_in_neighbors(rank: i32, size: i32) -> Vec<i32> {
    let mut sources = Vec::new();
    let mut step = 1;
    while step < size {
        let source = wrap(rank - step, size);
        if !sources.contains(&source) {
            sources.push(source);
        }
        step *= 2;
    }
    sources
}

#[test]
fn neighbor_allreduce_and_allreduce_of_device_tensors() {
    let (rank, size) = rank_size();
    let mut input: Vec<f32> = (0..8).map(|i| (rank + 1) as f32 + 0.25 * i as f32).collect();
    let mut output = vec![0f32; 8];
    let (mut in_shape, mut out_shape) = ([0i64; 1], [0i64; 1]);
    let in_tensor = device_tensor(&mut input, &mut in_shape);
    let mut out_tensor = device_tensor(&mut output, &mut out_shape);
    let args = NeighborArgs::new().named("rust.device.nar");
    // SAFETY: both tensors describe live, exclusively borrowed buffers of their shapes.
    let result = unsafe { bf().neighbor_allreduce_raw(&in_tensor, &mut out_tensor, &args) };
    if bluefog::cuda_device_count() == 0 {
        let error = result.unwrap_err();
        assert_eq!(error.status(), Status::Unsupported);
        assert!(error.message().contains("CUDA"), "{}", error.message());
        return;
    }
    result.unwrap();
    let sources = exp2_in_neighbors(rank, size);
    for (i, &value) in output.iter().enumerate() {
        let mut expected = (rank + 1) as f64 + 0.25 * i as f64;
        for &s in &sources {
            expected += (s + 1) as f64 + 0.25 * i as f64;
        }
        expected /= (sources.len() + 1) as f64;
        assert!((value as f64 - expected).abs() < 1e-5, "element {i}: {value} != {expected}");
    }

    let sum = AllreduceArgs::new().named("rust.device.sum").op(ReduceOp::Sum);
    // SAFETY: as above.
    unsafe { bf().allreduce_raw(&in_tensor, &mut out_tensor, &sum) }.unwrap();
    let triangle = (size * (size + 1) / 2) as f32;
    assert_eq!(output[0], triangle);
}

#[test]
#[ignore = "needs emulated devices (BLUEFOG_TEST_EMULATED_GPUS; the rust/device-np2-emulated run)"]
fn allgather_of_a_device_tensor_returns_device_memory() {
    assert!(bluefog::cuda_device_count() > 0, "run with BLUEFOG_TEST_EMULATED_GPUS=1");
    let (rank, size) = rank_size();
    let mut input = vec![rank as f32; 3];
    let mut shape = [0i64; 1];
    let tensor = device_tensor(&mut input, &mut shape);
    // SAFETY: the tensor describes a live buffer of its shape.
    let gathered = unsafe { bf().allgather_raw(&tensor, &OpArgs::new().named("rust.device.ag")) }
        .unwrap();
    let result = gathered.dl_tensor();
    assert_eq!(result.device.device_type, sys::kDLCUDA);
    assert_eq!(gathered.shape(), &[3 * size as i64]);
    // Emulated device memory is host memory, readable here (on a GPU it would need a copy).
    // SAFETY: 3 * size float32 values, owned by `gathered`.
    let values = unsafe { std::slice::from_raw_parts(result.data as *const f32, 3 * size as usize) };
    for r in 0..size as usize {
        assert_eq!(&values[3 * r..3 * r + 3], &[r as f32; 3]);
    }
}

#[test]
#[ignore = "needs emulated devices (BLUEFOG_TEST_EMULATED_GPUS; the rust/device-np2-emulated run)"]
fn mixed_devices_are_refused() {
    assert!(bluefog::cuda_device_count() > 0, "run with BLUEFOG_TEST_EMULATED_GPUS=1");
    let (rank, _) = rank_size();
    let mut input = vec![1f32; 4];
    let mut shape = [0i64; 1];
    let tensor = device_tensor(&mut input, &mut shape);
    let mut host = vec![0f32; 4];
    // SAFETY: `tensor` describes a live buffer; the host output is a slice.
    let error = unsafe {
        let mut host_shape = [4i64];
        let mut host_tensor = device_tensor(&mut host, &mut host_shape);
        host_tensor.device.device_type = sys::kDLCPU;
        bf().neighbor_allreduce_raw(&tensor, &mut host_tensor, &NeighborArgs::new())
    }
    .unwrap_err();
    assert_eq!(error.status(), Status::InvalidArgument);
    assert!(error.message().contains("same device"), "{}", error.message());
    assert!(error.message().contains(&format!("rank {rank}")), "{}", error.message());
}
