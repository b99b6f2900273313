#![allow(dead_code)] // each test file uses part of the support
//! Finds the exact processes a test started: the descendants of a pid the
//! test holds (its spawned launch, a tmux pane's shell), never the first
//! process whose name matches, which may be an earlier iteration's or
//! another test's, still being torn down.

use std::fs;

/// One process, as its pid and its start time: a pid reused after the
/// process ended is another process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    start: u64,
}

impl Proc {
    /// The process now running as `pid`, if any.
    pub fn of(pid: u32) -> Option<Proc> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 22, counted after the command's closing parenthesis.
        let (_, rest) = stat.rsplit_once(") ")?;
        let start = rest.split_whitespace().nth(19)?.parse().ok()?;
        Some(Proc { pid, start })
    }

    /// Whether this process is still there: not ended, not reaped, and its
    /// pid not reused.
    pub fn alive(&self) -> bool {
        Proc::of(self.pid) == Some(*self) && state(self.pid) != Some('Z')
    }

    /// Its command line, words joined by spaces.
    pub fn cmdline(&self) -> String {
        cmdline(self.pid)
    }
}

fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

fn cmdline(pid: u32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    words.join(" ")
}

/// Every descendant of `root`, parents before children.
pub fn descendants(root: u32) -> Vec<Proc> {
    let mut found = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        let tasks = fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten();
        for task in tasks.flatten() {
            let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if let Some(p) = Proc::of(child) {
                    found.push(p);
                    todo.push(child);
                }
            }
        }
    }
    found
}

/// The live descendant of `root` whose command line is exactly `cmdline`.
pub fn descendant(root: u32, cmdline: &str) -> Option<Proc> {
    descendant_where(root, |c| c == cmdline)
}

/// The live descendant of `root` whose command line satisfies `matches`.
pub fn descendant_where(root: u32, matches: impl Fn(&str) -> bool) -> Option<Proc> {
    descendants(root)
        .into_iter()
        .find(|p| p.alive() && matches(&p.cmdline()))
}

/// The live processes of `uid` (zombies, already ended, left out).
pub fn of_user(uid: u32) -> Vec<Proc> {
    use std::os::unix::fs::MetadataExt;
    let entries = fs::read_dir("/proc").into_iter().flatten().flatten();
    entries
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .filter_map(|e| Proc::of(e.file_name().to_str()?.parse().ok()?))
        .filter(Proc::alive)
        .collect()
}
