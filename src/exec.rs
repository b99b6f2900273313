//! Replacing cf-run with the command: nothing of cf-run stays resident, so the
//! exit status, signals and terminal are the command's own.

use std::convert::Infallible;
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use anyhow::{Context, Result};
use nix::errno::Errno;

/// The command could not be started: exit 127 when not found, 126 otherwise,
/// as env(1) does.
#[derive(Debug)]
pub struct ExecFailed {
    pub status: u8,
    message: String,
}

impl fmt::Display for ExecFailed {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExecFailed {}

fn cstring(bytes: Vec<u8>) -> Result<CString> {
    CString::new(bytes).context("an argument or variable contains a NUL byte")
}

/// Execs `command` (searched in `$PATH`) with the current environment plus `env`.
pub fn exec(command: &[OsString], env: &[(&str, PathBuf)]) -> Result<Infallible> {
    let argv = command
        .iter()
        .map(|a| cstring(a.as_bytes().to_vec()))
        .collect::<Result<Vec<_>>>()?;
    let ours = |name: &OsStr| env.iter().any(|(n, _)| OsStr::new(n) == name);
    let inherited = std::env::vars_os().filter(|(name, _)| !ours(name));
    let set = env
        .iter()
        .map(|(n, v)| (OsString::from(n), v.clone().into_os_string()));
    let envp = inherited
        .chain(set)
        .map(|(name, value)| {
            let mut pair = name.into_vec();
            pair.push(b'=');
            pair.extend(value.into_vec());
            cstring(pair)
        })
        .collect::<Result<Vec<_>>>()?;
    let errno = nix::unistd::execvpe(&argv[0], &argv, &envp).unwrap_err();
    let name = command[0].to_string_lossy();
    Err(match errno {
        Errno::ENOENT => ExecFailed {
            status: 127,
            message: format!(
                "{name}: command not found (execvp => ENOENT); check the name and $PATH"
            ),
        },
        e => ExecFailed {
            status: 126,
            message: format!("{name}: cannot execute (execvp => {e})"),
        },
    }
    .into())
}
