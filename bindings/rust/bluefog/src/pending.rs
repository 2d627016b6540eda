// SPDX-License-Identifier: Apache-2.0
// Pending: an asynchronous operation in flight. It owns everything the engine may still touch
// (buffers, tensor descriptors, argument structs) inside its completion closure, so dropping it
// must wait first; leaking it (mem::forget) leaks those too instead of freeing them under the
// engine, which keeps the safe API sound.
use std::marker::PhantomData;
use std::time::Duration;

use bluefog_sys as sys;

use crate::context::Context;
use crate::error::{check, Error, Result, Status};

/// Produces the result once the operation has completed successfully.
pub(crate) type Finish<'c, R> = Box<dyn FnOnce() -> Result<R> + Send + 'c>;

/// An operation in flight: wait for its result with [`wait`](Pending::wait), check on it with
/// [`poll`](Pending::poll). Dropping it waits for the operation and frees its handle (discarding
/// the result), so buffers are never released under the engine.
#[must_use = "an operation in flight: wait() for its result (dropping it blocks until it completes)"]
pub struct Pending<'c, R> {
    handle: sys::bf_handle,
    finish: Option<Finish<'c, R>>,
    _context: PhantomData<&'c Context>,
}

impl<'c, R> Pending<'c, R> {
    /// Wraps a started operation; `finish` owns what the operation uses.
    pub(crate) fn new(handle: sys::bf_handle, finish: Finish<'c, R>) -> Pending<'c, R> {
        Pending { handle, finish: Some(finish), _context: PhantomData }
    }

    /// The library's handle id (for logging; it is freed by this value).
    pub fn handle(&self) -> sys::bf_handle {
        self.handle
    }

    /// True once the operation has completed (successfully or not).
    pub fn poll(&self) -> Result<bool> {
        let mut done = 0;
        check(unsafe { sys::bf_poll(self.handle, &mut done) })?;
        Ok(done != 0)
    }

    /// Waits up to `timeout`: `Ok(true)` once completed successfully, `Ok(false)` while still in
    /// flight, the operation's error if it failed. Call [`wait`](Self::wait) for the result.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<bool> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        match check(unsafe { sys::bf_wait(self.handle, ms) }) {
            Ok(()) => Ok(true),
            Err(error) if error.status() == Status::Timeout => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Waits for completion and returns the result, or the operation's error (for a collective
    /// mismatch, the same error on every rank involved).
    pub fn wait(mut self) -> Result<R> {
        let status = self.release();
        let finish = self.finish.take().expect("finish taken only here");
        status?;
        finish()
    }

    /// Waits, frees the handle, and returns the operation's status.
    fn release(&mut self) -> Result<()> {
        let handle = std::mem::replace(&mut self.handle, 0);
        if handle == 0 {
            return Err(Error::new(Status::Internal, "handle already released"));
        }
        let status = check(unsafe { sys::bf_wait(handle, -1) });
        // The handle has completed, so freeing cannot report "in progress".
        let freed = check(unsafe { sys::bf_handle_free(handle) });
        status.and(freed)
    }
}

impl<R> Drop for Pending<'_, R> {
    fn drop(&mut self) {
        if self.handle != 0 {
            // Nobody can take the result; what matters is that the engine is done with the
            // buffers before `finish` (which owns them) is dropped right after this.
            let _ = self.release();
        }
    }
}

impl<R> std::fmt::Debug for Pending<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("handle", &self.handle).finish_non_exhaustive()
    }
}
