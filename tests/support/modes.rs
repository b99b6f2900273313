//! The three modes under test, and which binary each runs.
#![allow(dead_code)] // each test file uses part of the support

use std::path::Path;
use std::process::Output;

use super::layout::{TestUser, bins};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Userns,
    Privileged,
    Symlink,
}

pub const MODES: [Mode; 3] = [Mode::Userns, Mode::Privileged, Mode::Symlink];
pub const NAMESPACED: [Mode; 2] = [Mode::Userns, Mode::Privileged];

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Userns => "userns",
            Mode::Privileged => "privileged",
            Mode::Symlink => "symlink",
        }
    }

    /// Privileged mode runs the `cap_sys_admin+p` copy.
    pub fn bin(self) -> &'static Path {
        match self {
            Mode::Privileged => &bins().privileged,
            _ => &bins().plain,
        }
    }
}

/// `--mode MODE --account ACCOUNT -- COMMAND...`
pub fn args<'a>(mode: Mode, account: &'a str, command: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--mode", mode.name(), "--account", account, "--"];
    args.extend(command);
    args
}

/// `cf-run --mode MODE --account ACCOUNT -- COMMAND...` as the test user.
pub fn launch(user: &TestUser, mode: Mode, account: &str, command: &[&str]) -> Output {
    user.run(mode.bin(), &args(mode, account, command))
}

pub fn sh(script: &str) -> [&str; 3] {
    ["sh", "-c", script]
}
