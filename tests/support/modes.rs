//! The three modes under test, and which binary each runs.
#![allow(dead_code)] // each test file uses part of the support

use std::path::Path;

use super::layout::bins;

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
