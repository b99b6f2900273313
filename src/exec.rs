//! Replacing cf-run with the command: nothing of cf-run stays resident, so the
//! exit status, signals and terminal are the command's own.

use std::convert::Infallible;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use anyhow::{Context, Result};
use nix::errno::Errno;

use crate::exit::Exit;

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
