// SPDX-License-Identifier: Apache-2.0
// Errors: the library's status plus the sentence bf_last_error() gave for it.
use std::ffi::CStr;
use std::fmt;

use bluefog_sys as sys;

/// What went wrong, one variant per `bf_status` failure code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// An argument is malformed or names something that does not exist.
    InvalidArgument,
    /// Called before initialization or after finalization.
    NotInitialized,
    /// Ranks posted incompatible collectives; reported on every rank involved.
    Mismatch,
    /// MPI (or NCCL / CUDA) failed; the message carries their text.
    Backend,
    /// A wait timed out; the operation is still in flight.
    Timeout,
    /// A valid request this build or this device cannot serve.
    Unsupported,
    /// The engine shut down before the operation could run.
    Shutdown,
    /// The object is still in use by an operation in flight.
    InProgress,
    /// An allocation failed.
    OutOfMemory,
    /// A bug in BlueFog-C.
    Internal,
    /// The engine is suspended ([`Context::suspend`](crate::Context::suspend)); nothing was
    /// queued.
    Suspended,
    /// A status code this crate does not know (a newer library).
    Unknown(i32),
}

impl Status {
    /// The status for a C code; `None` for `BF_OK`.
    pub fn from_code(code: sys::bf_status) -> Option<Status> {
        Some(match code {
            sys::BF_OK => return None,
            sys::BF_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::BF_ERR_NOT_INITIALIZED => Status::NotInitialized,
            sys::BF_ERR_MISMATCH => Status::Mismatch,
            sys::BF_ERR_BACKEND => Status::Backend,
            sys::BF_ERR_TIMEOUT => Status::Timeout,
            sys::BF_ERR_UNSUPPORTED => Status::Unsupported,
            sys::BF_ERR_SHUTDOWN => Status::Shutdown,
            sys::BF_ERR_IN_PROGRESS => Status::InProgress,
            sys::BF_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::BF_ERR_INTERNAL => Status::Internal,
            sys::BF_ERR_SUSPENDED => Status::Suspended,
            other => Status::Unknown(other),
        })
    }

    /// The C code (`bf_status`) of this status.
    pub fn code(self) -> sys::bf_status {
        match self {
            Status::InvalidArgument => sys::BF_ERR_INVALID_ARGUMENT,
            Status::NotInitialized => sys::BF_ERR_NOT_INITIALIZED,
            Status::Mismatch => sys::BF_ERR_MISMATCH,
            Status::Backend => sys::BF_ERR_BACKEND,
            Status::Timeout => sys::BF_ERR_TIMEOUT,
            Status::Unsupported => sys::BF_ERR_UNSUPPORTED,
            Status::Shutdown => sys::BF_ERR_SHUTDOWN,
            Status::InProgress => sys::BF_ERR_IN_PROGRESS,
            Status::OutOfMemory => sys::BF_ERR_OUT_OF_MEMORY,
            Status::Internal => sys::BF_ERR_INTERNAL,
            Status::Suspended => sys::BF_ERR_SUSPENDED,
            Status::Unknown(code) => code,
        }
    }

    /// The library's constant name for the status, e.g. `"BF_ERR_MISMATCH"`.
    pub fn name(self) -> String {
        // SAFETY: bf_status_string never returns NULL and its strings are static.
        unsafe { CStr::from_ptr(sys::bf_status_string(self.code())) }.to_string_lossy().into_owned()
    }
}

/// A failed BlueFog call: its status and the library's sentence naming the argument and rank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

impl Error {
    /// An error raised by this crate before reaching the library.
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }

    /// An invalid-argument error raised by this crate.
    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(Status::InvalidArgument, message)
    }

    /// The status of the failure.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The message: which argument, which rank, and why.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// The result type of every fallible call in this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// `Ok(())` for `BF_OK`, else the error with this thread's `bf_last_error()` message.
pub(crate) fn check(code: sys::bf_status) -> Result<()> {
    match Status::from_code(code) {
        None => Ok(()),
        Some(status) => {
            // SAFETY: bf_last_error never returns NULL; the string is valid until the next call
            // on this thread, and it is copied right away.
            let message = unsafe { CStr::from_ptr(sys::bf_last_error()) };
            Err(Error { status, message: message.to_string_lossy().into_owned() })
        }
    }
}
