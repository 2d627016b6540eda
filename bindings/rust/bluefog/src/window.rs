// SPDX-License-Identifier: Apache-2.0
// One-sided windows: Window owns the tensor it exposes (the library reads and writes it from its
// engine thread until bf_win_free), so the memory outlives the window and Rust code only ever
// shares it; its argument builders and their C forms.
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::os::raw::{c_double, c_int};
use std::ptr::{self, NonNull};
use std::sync::Mutex;

use bluefog_sys as sys;

use crate::context::Context;
use crate::element::Element;
use crate::error::{check, Error, Result, Status};
use crate::pending::Pending;
use crate::tensor::SliceTensor;

fn c_count(n: usize) -> Result<c_int> {
    c_int::try_from(n).map_err(|_| Error::invalid(format!("{n} ranks do not fit a C int")))
}

/// Arguments of [`Window::put`], [`Window::accumulate`] and [`Window::get`].
///
/// By default a put or accumulate goes to every out-neighbor of the topology the window was
/// created with, a get comes from every in-neighbor, all with weight 1.0, and no mutex is taken.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WinOpArgs {
    self_weight: Option<f64>,
    peers: Option<(Vec<i32>, Vec<f64>)>,
    require_mutex: bool,
}

impl WinOpArgs {
    /// Every neighbor, weight 1.0, no self weight, no mutex.
    pub fn new() -> WinOpArgs {
        WinOpArgs::default()
    }

    /// Put and accumulate only: after sending, the window's tensor (and, with associated p on,
    /// this rank's associated p) is multiplied by `self_weight`. A get with a self weight fails
    /// with `InvalidArgument`.
    pub fn self_weight(mut self, self_weight: f64) -> WinOpArgs {
        self.self_weight = Some(self_weight);
        self
    }

    /// Only these peers, weight 1.0 each: destinations (a subset of the out-neighbors) for put and
    /// accumulate, sources (a subset of the in-neighbors) for get. An empty list moves nothing.
    pub fn peers(mut self, ranks: &[i32]) -> WinOpArgs {
        self.peers = Some((ranks.to_vec(), vec![1.0; ranks.len()]));
        self
    }

    /// Only these peers, each with its weight: destination d receives `weight * tensor` (put,
    /// accumulate); this rank's buffer for source s becomes `weight * (s's tensor)` (get).
    pub fn weighted_peers(mut self, peers: &[(i32, f64)]) -> WinOpArgs {
        self.peers = Some(peers.iter().copied().unzip());
        self
    }

    /// Holds mutex (peer, this rank) at each peer while transferring to or from it.
    pub fn require_mutex(mut self, require_mutex: bool) -> WinOpArgs {
        self.require_mutex = require_mutex;
        self
    }

    fn prepare(&self) -> Result<PreparedWinOp> {
        let mut raw = Box::new(sys::bf_win_op_args {
            require_mutex: c_int::from(self.require_mutex),
            ..Default::default()
        });
        if let Some(weight) = self.self_weight {
            raw.has_self_weight = 1;
            raw.self_weight = weight;
        }
        let (ranks, weights) = self.peers.clone().unwrap_or_default();
        if self.peers.is_some() {
            raw.has_ranks = 1;
            raw.count = c_count(ranks.len())?;
            raw.ranks = ranks.as_ptr();
            raw.weights = weights.as_ptr();
        }
        Ok(PreparedWinOp { raw, _ranks: ranks, _weights: weights })
    }
}

/// A `bf_win_op_args` with the arrays it points into (their heap buffers never move).
struct PreparedWinOp {
    raw: Box<sys::bf_win_op_args>,
    _ranks: Vec<c_int>,
    _weights: Vec<c_double>,
}

// SAFETY: the raw pointers point into buffers this value owns and nobody mutates.
unsafe impl Send for PreparedWinOp {}

/// Arguments of [`Window::update`] and [`Window::update_into`].
///
/// By default the window's tensor and every in-neighbor's buffer are combined with the
/// topology's weights if it was set weighted, else uniformly with `1/(in-degree+1)`; buffers are
/// kept and no mutex is taken.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WinUpdateArgs {
    weights: Option<(f64, Vec<i32>, Vec<f64>)>,
    reset: bool,
    require_mutex: bool,
}

impl WinUpdateArgs {
    /// The topology's (or uniform) weights, no reset, no mutex.
    pub fn new() -> WinUpdateArgs {
        WinUpdateArgs::default()
    }

    /// `result = self_weight * tensor + sum weight * buffer[rank]` over these in-neighbors only
    /// (the others' buffers are not read). Integer windows accept only weights of 1.0.
    pub fn with_weights(mut self, self_weight: f64, sources: &[(i32, f64)]) -> WinUpdateArgs {
        let (ranks, weights) = sources.iter().copied().unzip();
        self.weights = Some((self_weight, ranks, weights));
        self
    }

    /// Zeroes the buffers read (and their associated p) after combining.
    pub fn reset(mut self, reset: bool) -> WinUpdateArgs {
        self.reset = reset;
        self
    }

    /// Holds this rank's mutex (this rank, r) for every buffer r it reads.
    pub fn require_mutex(mut self, require_mutex: bool) -> WinUpdateArgs {
        self.require_mutex = require_mutex;
        self
    }

    fn prepare(&self) -> Result<PreparedWinUpdate> {
        let mut raw = Box::new(sys::bf_win_update_args {
            reset: c_int::from(self.reset),
            require_mutex: c_int::from(self.require_mutex),
            ..Default::default()
        });
        let (self_weight, ranks, weights) = self.weights.clone().unwrap_or_default();
        if self.weights.is_some() {
            raw.has_weights = 1;
            raw.self_weight = self_weight;
            raw.count = c_count(ranks.len())?;
            raw.ranks = ranks.as_ptr();
            raw.weights = weights.as_ptr();
        }
        Ok(PreparedWinUpdate { raw, _ranks: ranks, _weights: weights })
    }
}

/// A `bf_win_update_args` with the arrays it points into.
struct PreparedWinUpdate {
    raw: Box<sys::bf_win_update_args>,
    _ranks: Vec<c_int>,
    _weights: Vec<c_double>,
}

/// Who owns the tensor's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not (or no longer) known to the library: Drop releases the memory.
    Unregistered,
    /// Registered: Drop frees the window, then releases the memory.
    Registered,
    /// The library may still reference the memory (freeing failed): it is leaked.
    Leaked,
    /// Handed back by `free`.
    Returned,
}

/// Which transfer to start.
#[derive(Clone, Copy)]
enum Transfer {
    Put,
    Accumulate,
}

/// A one-sided window over a tensor this value owns (BlueFog's `win_create`).
///
/// Every rank keeps one buffer per in-neighbor of the topology at creation: in-neighbor j's
/// [`put`](Self::put)s and [`accumulate`](Self::accumulate)s land in this rank's buffer for j, and
/// this rank's [`get`](Self::get)s from j fill it too; [`update`](Self::update) combines the
/// tensor with those buffers. Transfers are one-sided: the peer's program takes no part, its
/// engine thread serves them. The topology cannot change while any window exists.
///
/// # Ownership and soundness
///
/// The library reads the tensor from its engine thread whenever a peer gets from this rank, and
/// writes it during this rank's own updates (and after a put or accumulate with a self weight),
/// until the window is freed. So the window owns the memory (the `Vec` given to
/// [`create`](Self::create), handed back by [`free`](Self::free)): Rust code reads it through
/// [`data`](Self::data), and every operation that may write it takes `&mut self`. Writing the
/// tensor from Rust races with peers' gets, which the library does not order against this rank's
/// code; hence [`data_mut`](Self::data_mut) is `unsafe`.
///
/// # Freeing is collective
///
/// `bf_win_free` is collective: every rank must free its windows in the same order relative to
/// its other collective calls. Dropping a `Window` frees it (ignoring errors); [`free`](Self::free)
/// reports the status. If freeing fails the tensor stays registered with the library and is
/// leaked rather than released under the engine.
pub struct Window<'c, T: Element> {
    name: CString,
    data: NonNull<T>,
    len: usize,
    capacity: usize,
    state: State,
    /// The handle of a put/accumulate started by `*_async` whose `Pending` was leaked: it may
    /// still write the tensor, so every access waits for it first (see `settle`).
    leaked: Mutex<sys::bf_handle>,
    _context: PhantomData<&'c Context>,
    _owns: PhantomData<T>,
}

// SAFETY: the tensor is plain memory owned by the window; Rust code only reads it through `&self`
// and writes it (through the library or `data_mut`) under `&mut self`; the C API may be called
// from any thread.
unsafe impl<T: Element> Send for Window<'_, T> {}
unsafe impl<T: Element> Sync for Window<'_, T> {}

impl<'c, T: Element> Window<'c, T> {
    /// Creates the window `name` over `data`, collectively: every rank passes the same name, the
    /// same length and the same element type (`Mismatch` on every rank otherwise). Neighbor
    /// buffers start as copies of this rank's tensor, or zeros if `zero_init`. `InvalidArgument`
    /// if a window of that name exists. Element types: `f32`, `f64`, [`F16`](crate::F16), `i32`,
    /// `i64` (others fail in the library).
    pub fn create(
        context: &'c Context,
        name: &str,
        data: Vec<T>,
        zero_init: bool,
    ) -> Result<Window<'c, T>> {
        let c_name = CString::new(name)
            .map_err(|_| Error::invalid(format!("window name {name:?} contains a NUL byte")))?;
        // A failed create must not leave our memory registered; if the name was free before, a
        // window of that name after the failure may be ours (a backend error after registering).
        let taken_before = context.window_names()?.iter().any(|n| n == name);
        let mut data = std::mem::ManuallyDrop::new(data);
        let (len, capacity) = (data.len(), data.capacity());
        // SAFETY: a Vec's pointer is never null (dangling but aligned when empty).
        let pointer = unsafe { NonNull::new_unchecked(data.as_mut_ptr()) };
        let mut window = Window {
            name: c_name,
            data: pointer,
            len,
            capacity,
            state: State::Unregistered,
            leaked: Mutex::new(0),
            _context: PhantomData,
            _owns: PhantomData,
        };
        let mut tensor = SliceTensor::new(pointer.as_ptr() as *const T, len);
        // SAFETY: the tensor describes memory the window owns until it is freed; the library
        // copies the descriptor.
        let created = check(unsafe {
            sys::bf_win_create(tensor.ptr_mut(), window.name.as_ptr(), c_int::from(zero_init))
        });
        match created {
            Ok(()) => {
                window.state = State::Registered;
                Ok(window)
            }
            Err(error) => {
                let registered = !taken_before
                    && context.window_names().map_or(true, |names| names.iter().any(|n| n == name));
                if registered {
                    window.state = State::Leaked; // in doubt, never free memory under the engine
                }
                Err(error)
            }
        }
    }

    /// The window's name.
    pub fn name(&self) -> &str {
        self.name.to_str().expect("created from a &str")
    }

    /// Number of elements of the tensor.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The window's tensor. Peers' gets read it concurrently, which is harmless; nothing writes
    /// it while this borrow lives.
    pub fn data(&self) -> &[T] {
        self.settle();
        // SAFETY: the window owns `len` initialized elements; writers need `&mut self` (the
        // library's own writes happen inside calls that borrow the window mutably, and a leaked
        // asynchronous put has been waited for by `settle`).
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.len) }
    }

    /// The window's tensor, writable.
    ///
    /// # Safety
    /// While the returned slice is used to write, no peer may get from this window: the
    /// library's engine thread copies the tensor to serve a get at any moment, unsynchronized
    /// with this rank's code, which would be a data race. Programs that only put and accumulate
    /// into this window (push-sum), or that separate writes from peers' gets by a barrier or
    /// another collective, meet this.
    pub unsafe fn data_mut(&mut self) -> &mut [T] {
        self.settle();
        std::slice::from_raw_parts_mut(self.data.as_ptr(), self.len)
    }

    /// Waits for an asynchronous put or accumulate whose `Pending` was leaked (`mem::forget`):
    /// the engine may still read or scale the tensor for it.
    fn settle(&self) {
        let mut leaked = self.leaked.lock().unwrap_or_else(|e| e.into_inner());
        if *leaked != 0 {
            // SAFETY: nobody else frees this handle: its Pending was leaked.
            unsafe {
                sys::bf_wait(*leaked, -1);
                sys::bf_handle_free(*leaked);
            }
            *leaked = 0;
        }
    }

    fn start_transfer(&mut self, kind: Transfer, args: &WinOpArgs) -> Result<sys::bf_handle> {
        self.settle();
        let prepared = args.prepare()?;
        let mut tensor = SliceTensor::new(self.data.as_ptr() as *const T, self.len);
        let mut handle = 0;
        // SAFETY: the library copies the descriptor and the arguments before returning; the
        // tensor's memory is the window's own, borrowed mutably until the operation completes
        // (by the Pending, or by `settle` if the Pending is leaked).
        check(unsafe {
            match kind {
                Transfer::Put => sys::bf_win_put_async(
                    tensor.ptr_mut(),
                    self.name.as_ptr(),
                    &*prepared.raw,
                    &mut handle,
                ),
                Transfer::Accumulate => sys::bf_win_accumulate_async(
                    tensor.ptr_mut(),
                    self.name.as_ptr(),
                    &*prepared.raw,
                    &mut handle,
                ),
            }
        })?;
        Ok(handle)
    }

    fn transfer_async(&mut self, kind: Transfer, args: &WinOpArgs) -> Result<Pending<'_, ()>> {
        let handle = self.start_transfer(kind, args)?;
        *self.leaked.get_mut().unwrap_or_else(|e| e.into_inner()) = handle;
        // Cleared when the Pending completes normally (its closure is run or dropped); a leaked
        // Pending leaves the handle for `settle`.
        let clear = ClearOnDrop { window: self };
        Ok(Pending::new(
            handle,
            Box::new(move || {
                drop(clear);
                Ok(())
            }),
        ))
    }

    fn transfer(&mut self, kind: Transfer, args: &WinOpArgs) -> Result<()> {
        self.transfer_async(kind, args)?.wait()
    }

    /// Writes `weight[d] * tensor` into rank d's buffer for this rank, replacing it, for every
    /// destination d (see [`WinOpArgs`]); then scales the tensor by the self weight, if any.
    /// Not collective.
    pub fn put(&mut self, args: &WinOpArgs) -> Result<()> {
        self.transfer(Transfer::Put, args)
    }

    /// Starts a [`put`](Self::put); the window stays borrowed until the `Pending` completes.
    pub fn put_async(&mut self, args: &WinOpArgs) -> Result<Pending<'_, ()>> {
        self.transfer_async(Transfer::Put, args)
    }

    /// Adds `weight[d] * tensor` into rank d's buffer for this rank, for every destination d;
    /// then scales the tensor by the self weight, if any. Not collective.
    pub fn accumulate(&mut self, args: &WinOpArgs) -> Result<()> {
        self.transfer(Transfer::Accumulate, args)
    }

    /// Starts an [`accumulate`](Self::accumulate).
    pub fn accumulate_async(&mut self, args: &WinOpArgs) -> Result<Pending<'_, ()>> {
        self.transfer_async(Transfer::Accumulate, args)
    }

    /// For every source s (see [`WinOpArgs`]): this rank's buffer for s becomes
    /// `weight[s] * (s's tensor)`, as it is when s's engine serves the request. The tensor of this
    /// rank is not touched; read the buffers with [`update`](Self::update). Not collective.
    pub fn get(&self, args: &WinOpArgs) -> Result<()> {
        self.get_async(args)?.wait()
    }

    /// Starts a [`get`](Self::get).
    pub fn get_async(&self, args: &WinOpArgs) -> Result<Pending<'_, ()>> {
        let prepared = args.prepare()?;
        let mut handle = 0;
        // SAFETY: the library copies the arguments; a get writes only the library's buffers, and
        // freeing the window waits for it.
        check(unsafe { sys::bf_win_get_async(self.name.as_ptr(), &*prepared.raw, &mut handle) })?;
        Ok(Pending::new(handle, Box::new(|| Ok(()))))
    }

    /// `tensor = self_weight * tensor + sum_r weight[r] * buffer[r]` (see [`WinUpdateArgs`]), in
    /// the tensor's precision; the versions of the buffers read drop to 0. Local to this rank.
    pub fn update(&mut self, args: &WinUpdateArgs) -> Result<()> {
        self.settle();
        let prepared = args.prepare()?;
        // SAFETY: blocking; the library writes the window's own tensor, borrowed mutably.
        check(unsafe { sys::bf_win_update(self.name.as_ptr(), &*prepared.raw, ptr::null_mut()) })
    }

    /// As [`update`](Self::update), but the result goes to `out` (the tensor's length) and the
    /// window's tensor is untouched (BlueFog's `clone=True`).
    pub fn update_into(&self, out: &mut [T], args: &WinUpdateArgs) -> Result<()> {
        self.settle();
        if out.len() != self.len {
            return Err(Error::invalid(format!(
                "out has {} elements, window '{}' has {}",
                out.len(),
                self.name(),
                self.len
            )));
        }
        let prepared = args.prepare()?;
        let mut tensor = SliceTensor::new(out.as_mut_ptr() as *const T, out.len());
        // SAFETY: blocking; `out` is borrowed mutably for the call.
        check(unsafe { sys::bf_win_update(self.name.as_ptr(), &*prepared.raw, tensor.ptr_mut()) })
    }

    /// The push-sum collect step: `tensor += sum of every buffer`, then the buffers are zeroed.
    /// `require_mutex` holds this rank's mutexes for the buffers while reading them.
    pub fn update_then_collect(&mut self, require_mutex: bool) -> Result<()> {
        self.settle();
        check(unsafe {
            sys::bf_win_update_then_collect(self.name.as_ptr(), c_int::from(require_mutex))
        })
    }

    fn mutex_call(&self, acquire: bool, ranks: Option<&[i32]>, for_self: bool) -> Result<()> {
        let (pointer, count) = match ranks {
            Some(ranks) => (ranks.as_ptr(), c_count(ranks.len())?),
            None => (ptr::null(), 0),
        };
        let f = if acquire { sys::bf_win_mutex_acquire } else { sys::bf_win_mutex_release };
        // SAFETY: `ranks` is borrowed for the blocking call.
        check(unsafe { f(self.name.as_ptr(), pointer, count, c_int::from(for_self)) })
    }

    /// Acquires (blocking) mutexes of this window: `for_self == false`: mutex (r, this rank) at
    /// each rank r, which guards r's buffer for this rank; `for_self == true`: this rank's own
    /// mutexes (this rank, r). `ranks == None`: the out-neighbors. Taken one at a time in
    /// ascending order, so lockers never deadlock each other; but a put or accumulate with
    /// `require_mutex` waits for a mutex this rank already holds forever. Prefer
    /// [`lock`](Self::lock), which releases them when dropped.
    pub fn mutex_acquire(&self, ranks: Option<&[i32]>, for_self: bool) -> Result<()> {
        self.mutex_call(true, ranks, for_self)
    }

    /// Releases mutexes this rank holds, named as for [`mutex_acquire`](Self::mutex_acquire).
    pub fn mutex_release(&self, ranks: Option<&[i32]>, for_self: bool) -> Result<()> {
        self.mutex_call(false, ranks, for_self)
    }

    /// Acquires mutexes as [`mutex_acquire`](Self::mutex_acquire) and returns a guard that gives
    /// access to the window and releases them when dropped (BlueFog's `win_mutex` context).
    pub fn lock(&mut self, ranks: Option<&[i32]>, for_self: bool) -> Result<WindowLock<'_, 'c, T>> {
        self.mutex_acquire(ranks, for_self)?;
        Ok(WindowLock {
            name: self.name.clone(),
            ranks: ranks.map(<[i32]>::to_vec),
            for_self,
            window: self,
        })
    }

    /// Locks this rank's window against its peers (`bf_win_lock`): until the guard is dropped,
    /// their puts, accumulates and gets of it wait, in arrival order, and are served at unlock
    /// (their operations complete later). This rank's own operations are not held back. Returns
    /// once no peer's write is half applied. `InvalidArgument` if already locked.
    pub fn lock_against_peers(&mut self) -> Result<PeerLock<'_, 'c, T>> {
        check(unsafe { sys::bf_win_lock(self.name.as_ptr()) })?;
        Ok(PeerLock { name: self.name.clone(), window: self })
    }

    /// Whether the window is locked against its peers (`bf_win_is_locked`).
    pub fn is_locked_against_peers(&self) -> Result<bool> {
        let mut locked: c_int = 0;
        check(unsafe { sys::bf_win_is_locked(self.name.as_ptr(), &mut locked) })?;
        Ok(locked != 0)
    }

    /// The in-neighbors of the window in ascending order, each with its version: the puts and
    /// accumulates received from it, and gets done from it, since the last update that read its
    /// buffer.
    pub fn versions(&self) -> Result<Vec<(i32, i32)>> {
        let mut count = 0;
        check(unsafe {
            sys::bf_win_versions(
                self.name.as_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
                0,
                &mut count,
            )
        })?;
        // The in-neighbors are fixed at creation, so the count cannot grow between the calls.
        let mut ranks = vec![0; count.max(0) as usize];
        let mut versions = vec![0; ranks.len()];
        check(unsafe {
            sys::bf_win_versions(
                self.name.as_ptr(),
                ranks.as_mut_ptr(),
                versions.as_mut_ptr(),
                count,
                &mut count,
            )
        })?;
        Ok(ranks.into_iter().zip(versions).collect())
    }

    /// This rank's associated p (the push-sum weight, 1.0 at creation); it follows puts,
    /// accumulates and updates while [`Context::set_win_associated_p`] is on.
    pub fn associated_p(&self) -> Result<f64> {
        let mut p = 0.0;
        check(unsafe { sys::bf_win_associated_p(self.name.as_ptr(), &mut p) })?;
        Ok(p)
    }

    /// Frees the window, collectively (see the type's documentation), and gives the tensor back.
    /// Waits first for this rank's own operations on the window. On failure the tensor stays
    /// registered and is leaked.
    pub fn free(mut self) -> Result<Vec<T>> {
        self.settle();
        // From here on Drop gives nothing back: this function decides.
        self.state = State::Leaked;
        check(unsafe { sys::bf_win_free(self.name.as_ptr()) })?;
        self.state = State::Returned;
        // SAFETY: the library no longer references the memory, which came from a Vec with these
        // parts; Drop will not release it again.
        Ok(unsafe { Vec::from_raw_parts(self.data.as_ptr(), self.len, self.capacity) })
    }
}

/// Clears the window's record of an asynchronous transfer once its `Pending` has waited.
struct ClearOnDrop<'w, 'c, T: Element> {
    window: &'w mut Window<'c, T>,
}

impl<T: Element> Drop for ClearOnDrop<'_, '_, T> {
    fn drop(&mut self) {
        // The Pending has waited and freed the handle before dropping its closure.
        *self.window.leaked.get_mut().unwrap_or_else(|e| e.into_inner()) = 0;
    }
}

impl<T: Element> Drop for Window<'_, T> {
    fn drop(&mut self) {
        match self.state {
            State::Leaked | State::Returned => return,
            State::Unregistered => {}
            State::Registered => {
                self.settle();
                // SAFETY: the collective free of a window this value registered.
                if check(unsafe { sys::bf_win_free(self.name.as_ptr()) }).is_err() {
                    // Still registered: leak the memory rather than free it under the engine.
                    return;
                }
            }
        }
        // SAFETY: the library does not reference the memory, which came from a Vec.
        drop(unsafe { Vec::from_raw_parts(self.data.as_ptr(), self.len, self.capacity) });
    }
}

impl<T: Element> std::fmt::Debug for Window<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window").field("name", &self.name).field("len", &self.len).finish()
    }
}

/// A window locked against its peers' one-sided access, unlocked when dropped; derefs to the
/// window.
#[must_use = "the window is unlocked when this guard is dropped"]
pub struct PeerLock<'w, 'c, T: Element> {
    window: &'w mut Window<'c, T>,
    name: CString,
}

impl<'w, 'c, T: Element> PeerLock<'w, 'c, T> {
    /// Unlocks now and reports the status (dropping does the same, ignoring it).
    pub fn unlock(self) -> Result<()> {
        let result = check(unsafe { sys::bf_win_unlock(self.name.as_ptr()) });
        std::mem::forget(self);
        result
    }
}

impl<'c, T: Element> Deref for PeerLock<'_, 'c, T> {
    type Target = Window<'c, T>;
    fn deref(&self) -> &Window<'c, T> {
        self.window
    }
}

impl<'c, T: Element> DerefMut for PeerLock<'_, 'c, T> {
    fn deref_mut(&mut self) -> &mut Window<'c, T> {
        self.window
    }
}

impl<T: Element> Drop for PeerLock<'_, '_, T> {
    fn drop(&mut self) {
        // SAFETY: the name is a valid C string; an error (window freed) leaves nothing to undo.
        unsafe { sys::bf_win_unlock(self.name.as_ptr()) };
    }
}

/// Mutexes of a window held by this rank, released when dropped; derefs to the window.
#[must_use = "the mutexes are released when this guard is dropped"]
pub struct WindowLock<'w, 'c, T: Element> {
    window: &'w mut Window<'c, T>,
    name: CString,
    ranks: Option<Vec<i32>>,
    for_self: bool,
}

impl<'w, 'c, T: Element> WindowLock<'w, 'c, T> {
    /// Releases the mutexes now and reports the status (dropping does the same, ignoring it).
    pub fn unlock(self) -> Result<()> {
        let result = self.release();
        std::mem::forget(self);
        result
    }

    fn release(&self) -> Result<()> {
        let (pointer, count) = match &self.ranks {
            Some(ranks) => (ranks.as_ptr(), c_count(ranks.len())?),
            None => (ptr::null(), 0),
        };
        check(unsafe {
            sys::bf_win_mutex_release(
                self.name.as_ptr(),
                pointer,
                count,
                c_int::from(self.for_self),
            )
        })
    }
}

impl<'c, T: Element> Deref for WindowLock<'_, 'c, T> {
    type Target = Window<'c, T>;
    fn deref(&self) -> &Window<'c, T> {
        self.window
    }
}

impl<'c, T: Element> DerefMut for WindowLock<'_, 'c, T> {
    fn deref_mut(&mut self) -> &mut Window<'c, T> {
        self.window
    }
}

impl<T: Element> Drop for WindowLock<'_, '_, T> {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

impl<T: Element> std::fmt::Debug for WindowLock<'_, '_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowLock")
            .field("window", &self.name)
            .field("ranks", &self.ranks)
            .field("for_self", &self.for_self)
            .finish()
    }
}

impl Context {
    /// Turns the associated-p bookkeeping of window operations on or off (off at
    /// initialization); each operation reads it when it is issued.
    pub fn set_win_associated_p(&self, enabled: bool) -> Result<()> {
        check(unsafe { sys::bf_set_win_associated_p(c_int::from(enabled)) })
    }

    /// Whether associated p is on.
    pub fn win_associated_p(&self) -> Result<bool> {
        let mut enabled = 0;
        check(unsafe { sys::bf_get_win_associated_p(&mut enabled) })?;
        Ok(enabled != 0)
    }

    /// The names of the windows that exist in this process, sorted.
    pub fn window_names(&self) -> Result<Vec<String>> {
        let mut needed = 0usize;
        check(unsafe { sys::bf_win_names(ptr::null_mut(), 0, &mut needed) })?;
        loop {
            let mut buffer = vec![0u8; needed.max(1)];
            let capacity = buffer.len();
            check(unsafe { sys::bf_win_names(buffer.as_mut_ptr().cast(), capacity, &mut needed) })?;
            if needed <= capacity {
                let text = CStr::from_bytes_until_nul(&buffer)
                    .map_err(|_| Error::new(Status::Internal, "bf_win_names wrote no NUL"))?;
                return Ok(text.to_string_lossy().lines().map(str::to_owned).collect());
            }
            // A window was created by another thread in between: try again with the new size.
        }
    }
}
