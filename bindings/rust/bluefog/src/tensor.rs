// SPDX-License-Identifier: Apache-2.0
// DLPack glue: 1-D tensor descriptors over slices, and library-allocated results
// (DLManagedTensor) owned until dropped, viewed as typed slices without copying.
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

use bluefog_sys as sys;

use crate::element::Element;
use crate::error::{Error, Result};

/// A 1-D DLTensor over a slice together with the shape it points to. Boxed, so the shape pointer
/// stays valid while the descriptor travels with an operation in flight.
pub(crate) struct SliceTensor {
    pub(crate) tensor: sys::DLTensor,
    shape: [i64; 1],
}

// SAFETY: the descriptor only carries the address of a buffer that its owner (a borrow held for
// the call, or a Vec kept beside it in a Pending) keeps alive.
unsafe impl Send for SliceTensor {}
unsafe impl Sync for SliceTensor {}

impl SliceTensor {
    pub(crate) fn new<T: Element>(data: *const T, len: usize) -> Box<SliceTensor> {
        let mut boxed = Box::new(SliceTensor {
            tensor: sys::DLTensor {
                data: data as *mut std::os::raw::c_void,
                device: sys::DLDevice { device_type: sys::kDLCPU, device_id: 0 },
                ndim: 1,
                dtype: T::DTYPE,
                shape: std::ptr::null_mut(),
                strides: std::ptr::null_mut(),
                byte_offset: 0,
            },
            shape: [len as i64],
        });
        boxed.tensor.shape = boxed.shape.as_mut_ptr();
        boxed
    }

    pub(crate) fn ptr(&self) -> *const sys::DLTensor {
        &self.tensor
    }

    pub(crate) fn ptr_mut(&mut self) -> *mut sys::DLTensor {
        &mut self.tensor
    }
}

/// A tensor the library allocated and handed over (gather results), freed by its deleter when
/// dropped. Host memory, compact row-major.
pub struct ManagedTensor {
    raw: NonNull<sys::DLManagedTensor>,
}

// SAFETY: the tensor owns its memory exclusively; its deleter may run on any thread.
unsafe impl Send for ManagedTensor {}
unsafe impl Sync for ManagedTensor {}

impl ManagedTensor {
    /// Takes ownership of a `DLManagedTensor`.
    ///
    /// # Safety
    /// `raw` must point to a valid `DLManagedTensor` nobody else will free or mutate; its deleter
    /// (if any) is called once when the value is dropped.
    pub unsafe fn from_raw(raw: NonNull<sys::DLManagedTensor>) -> ManagedTensor {
        ManagedTensor { raw }
    }

    /// Releases ownership; the caller must eventually call the tensor's deleter.
    pub fn into_raw(self) -> NonNull<sys::DLManagedTensor> {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// The DLPack description of the tensor.
    pub fn dl_tensor(&self) -> &sys::DLTensor {
        // SAFETY: self.raw is valid while self lives.
        unsafe { &self.raw.as_ref().dl_tensor }
    }

    /// The extents of the tensor.
    pub fn shape(&self) -> &[i64] {
        let tensor = self.dl_tensor();
        if tensor.ndim == 0 {
            return &[];
        }
        // SAFETY: a DLTensor's shape holds ndim extents, owned by the managed tensor.
        unsafe { std::slice::from_raw_parts(tensor.shape, tensor.ndim as usize) }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().map(|&extent| extent as usize).product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as a slice of `T`: the dtype must be `T`'s and the memory host memory.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        let tensor = self.dl_tensor();
        if tensor.dtype != T::DTYPE {
            return Err(Error::invalid(format!(
                "tensor dtype {:?} is not {}'s {:?}",
                tensor.dtype,
                std::any::type_name::<T>(),
                T::DTYPE
            )));
        }
        if tensor.device.device_type != sys::kDLCPU && tensor.device.device_type != sys::kDLCUDAHost
        {
            return Err(Error::invalid("tensor is not in host memory"));
        }
        let len = self.len();
        if len == 0 {
            return Ok(&[]);
        }
        // SAFETY: the library hands over compact tensors of `len` elements of this dtype;
        // byte_offset is honoured; the memory lives as long as self.
        unsafe {
            let data = (tensor.data as *const u8).add(tensor.byte_offset as usize) as *const T;
            Ok(std::slice::from_raw_parts(data, len))
        }
    }
}

impl Drop for ManagedTensor {
    fn drop(&mut self) {
        // SAFETY: we own the tensor; the deleter frees it exactly once.
        unsafe {
            if let Some(deleter) = self.raw.as_ref().deleter {
                deleter(self.raw.as_ptr());
            }
        }
    }
}

impl std::fmt::Debug for ManagedTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedTensor")
            .field("shape", &self.shape())
            .field("dtype", &self.dl_tensor().dtype)
            .finish()
    }
}

/// A gather result of element type `T`, read as `&[T]` without copying (it derefs to a slice).
pub struct Gathered<T: Element> {
    tensor: ManagedTensor,
    _element: PhantomData<T>,
}

impl<T: Element> Gathered<T> {
    pub(crate) fn new(tensor: ManagedTensor) -> Result<Gathered<T>> {
        tensor.as_slice::<T>()?;
        Ok(Gathered { tensor, _element: PhantomData })
    }

    /// The underlying managed tensor (shape, DLPack view).
    pub fn tensor(&self) -> &ManagedTensor {
        &self.tensor
    }

    /// Gives up the typed view.
    pub fn into_tensor(self) -> ManagedTensor {
        self.tensor
    }
}

impl<T: Element> Deref for Gathered<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.tensor.as_slice::<T>().expect("dtype checked at construction")
    }
}

impl<T: Element + std::fmt::Debug> std::fmt::Debug for Gathered<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
