//! Errors that end cf-run with a status of their own rather than 125.

use std::fmt;

/// Exit statuses with a meaning for callers.
pub const FAILURE: u8 = 125;
pub const USAGE: u8 = 2;
/// The session is held by another launch, or every account is limited
/// (sysexits' EX_TEMPFAIL: try again later).
pub const TEMPFAIL: u8 = 75;

/// What to do about a failure of the disk's or the system's that `message`
/// reports (errno names as nix prints them, or the C library's words):
/// the path is in the message, this says how to fix it.
pub fn hint(message: &str) -> Option<&'static str> {
    let has = |words: &[&str]| words.iter().any(|w| message.contains(w));
    if has(&["ENOSPC", "No space left on device"]) {
        Some(
            "the filesystem of the path above is full: free some space (df -h shows it), then run it again",
        )
    } else if has(&["EDQUOT", "Disk quota exceeded"]) {
        Some("you are over your disk quota on the path above (quota -s shows it): free some space")
    } else if has(&["EROFS", "Read-only file system"]) {
        Some(
            "the path above is on a read-only mount: inside a cf-run session other accounts, cf-run's \
              state and code shares are read-only on purpose (run it outside); elsewhere, mount it \
              read-write",
        )
    } else if has(&["EACCES", "Permission denied"]) {
        Some(
            "you may not use the path above: check its owner and mode, and its parents' (ls -ld PATH)",
        )
    } else {
        None
    }
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn a_disk_failure_gets_its_fix() {
        assert!(
            super::hint("write(/x/1.json) => ENOSPC: No space left on device")
                .unwrap()
                .contains("df -h")
        );
        assert!(
            super::hint("mkdir(/a) => EROFS: Read-only file system")
                .unwrap()
                .contains("read-only")
        );
        assert!(
            super::hint("openat(/a) => EACCES: Permission denied")
                .unwrap()
                .contains("ls -ld")
        );
        assert_eq!(super::hint("unknown account \"x\""), None);
    }
}
