//! Errors that end cf-run with a status of their own rather than 125.

use std::fmt;

/// Exit statuses with a meaning for callers.
pub const FAILURE: u8 = 125;
pub const USAGE: u8 = 2;
/// The session is held by another launch, or every account is limited
/// (sysexits' EX_TEMPFAIL: try again later).
pub const TEMPFAIL: u8 = 75;

/// An error that ends cf-run with `status`.
#[derive(Debug)]
pub struct Exit {
    pub status: u8,
    pub message: String,
}

impl Exit {
    pub fn new(status: u8, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// The status an error ends cf-run with.
pub fn status_of(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<Exit>().map_or(FAILURE, |e| e.status)
}
