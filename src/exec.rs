//! Exec'ing the command: argv and the environment it gets (the caller's,
//! with what secure-exec mode dropped given back, less the credentials the
//! plan removes, plus what it sets). In the namespace modes this runs as pid 2
//! of the session; in symlink mode it replaces cf-run.

use std::convert::Infallible;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use anyhow::{Context, Result};
use nix::errno::Errno;

use crate::exit::Exit;
use crate::{environ, sys};

fn cstring(bytes: Vec<u8>) -> Result<CString> {
    CString::new(bytes).context("an argument or variable contains a NUL byte")
}

/// The caller's environment. A binary with file capabilities runs in
/// secure-execution mode, where a glibc build drops TMPDIR, LOCALDOMAIN and
/// the like from it (musl drops nothing); the command runs unprivileged, so
/// it gets them back, as they were at exec, from /proc/self/environ.
fn environment() -> Vec<(OsString, OsString)> {
    let original = sys::secure_exec()
        .then(|| std::fs::read("/proc/self/environ").ok())
        .flatten();
    match original {
        Some(bytes) => bytes
            .split(|&b| b == 0)
            .filter_map(|pair| {
                let eq = pair.iter().position(|&b| b == b'=')?;
                let (name, value) = (&pair[..eq], &pair[eq + 1..]);
                Some((
                    OsStr::from_bytes(name).to_owned(),
                    OsStr::from_bytes(value).to_owned(),
                ))
            })
            .collect(),
        None => std::env::vars_os().collect(),
    }
}

/// Execs `command` (searched in `$PATH`) with the caller's environment less
/// `unset`, plus `set`.
pub fn exec(
    command: &[OsString],
    unset: &[String],
    set: &[(String, OsString)],
) -> Result<Infallible> {
    prepare(command, unset, set)?.exec()
}

/// A command line and environment, ready to exec: in the namespace modes,
/// made before the fork, so that the command's process only execs (and
/// allocates nothing, which would copy pages of the heap it shares with
/// pid 1 until then).
pub struct Prepared {
    argv: sys::CStrings,
    envp: sys::CStrings,
}

/// What [`exec`] runs.
pub fn prepare(
    command: &[OsString],
    unset: &[String],
    set: &[(String, OsString)],
) -> Result<Prepared> {
    let argv = command
        .iter()
        .map(|a| cstring(a.as_bytes().to_vec()))
        .collect::<Result<Vec<_>>>()?;
    let envp = environ::compose(environment(), unset, set)
        .into_iter()
        .map(cstring)
        .collect::<Result<Vec<_>>>()?;
    Ok(Prepared {
        argv: sys::CStrings::new(argv),
        envp: sys::CStrings::new(envp),
    })
}

impl Prepared {
    pub fn exec(&self) -> Result<Infallible> {
        sys::restore_sigxfsz().map_err(|e| anyhow::anyhow!("sigaction(SIGXFSZ) => {e}"))?;
        let errno = sys::execvpe(&self.argv, &self.envp);
        let name = self.argv.first().to_string_lossy();
        // Like env(1): 127 when not found, 126 when found but not runnable.
        Err(match errno {
            Errno::ENOENT => Exit::new(
                127,
                format!("{name}: command not found (execvp => ENOENT); check the name and $PATH"),
            ),
            e => Exit::new(126, format!("{name}: cannot execute (execvp => {e})")),
        }
        .into())
    }
}
