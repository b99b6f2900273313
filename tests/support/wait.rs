#![allow(dead_code)] // each test file uses part of the support
//! Waits on a condition, never for a fixed time: a test that needs a process
//! started, a file written or a trap installed polls for exactly that, and
//! fails with what it waited for once the deadline has passed.

use std::time::{Duration, Instant};

/// How long a test waits for something that takes milliseconds when all is well.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Waits until `cond` holds, at most `DEADLINE`; then panics naming `what`.
pub fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    wait_until_within(what, DEADLINE, cond);
}

/// Waits until `cond` holds, at most `within`; then panics naming `what`.
pub fn wait_until_within(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `find` returns something, at most `DEADLINE`; then panics naming `what`.
pub fn wait_for<T>(what: &str, mut find: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    wait_until(what, || {
        found = find();
        found.is_some()
    });
    found.unwrap()
}
