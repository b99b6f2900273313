//! `cf-run wrap PROGRAM [ARGS]...`: Claude Code's launcher hook (the
//! `processWrapper` setting or CLAUDE_CODE_PROCESS_WRAPPER, from 2.1.332 on).
//! The client puts it before every process it starts on its own: the
//! background supervisor (`claude daemon run`), the hosts of background
//! sessions and the sessions they host, spares, workers and relaunches. The
//! client requires the wrapper to exec in place: it records, signals and
//! checks that pid.
//!
//! Inside a cf-run session the program is exec'd in place, so it keeps the
//! session's account, mounts and PID namespace. Outside any session (a plain
//! `claude --bg`, whose supervisor would otherwise run with no namespace and
//! no lock), it is launched under the account whose dir `CLAUDE_CONFIG_DIR`
//! (else `~/.claude`) names, as `cf-run --account NAME -- PROGRAM ARGS`
//! would. The verdict needs no trust: a process that fakes "inside" runs in
//! place, with no more than it has; one that fakes "outside" from within a
//! session finds no account dir there, as the others are covered.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::config::Config;
use crate::user::User;

/// Refuses, inside a session, to run the client's background supervisor that
/// a `claude --bg` starts on demand: it would end with that session, and
/// every background session with it.
pub fn refuse_supervisor_in_session(command: &[OsString]) -> Result<()> {
    let args: Vec<&str> = command
        .iter()
        .skip(1)
        .map(|a| a.to_str().unwrap_or(""))
        .collect();
    if args.starts_with(&["daemon", "run"]) {
        bail!(
            "cf-run wrap: the background supervisor would end with this session, and every \
             background session with it; start it as a launch of its own first, in tmux or \
             with systemd-run: cf-run --account NAME -- claude daemon run"
        );
    }
    Ok(())
}

/// The account whose dir the client runs with, for a wrap outside any session.
pub fn account_of_client(config: &Config, user: &User) -> Result<String> {
    let named = std::env::var_os("CLAUDE_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| user.home.join(".claude"));
    // The caller is the user, outside any session: their own view of the
    // path is the one to take, symlinks (the older layout's ~/.claude) included.
    let real = std::fs::canonicalize(&named).unwrap_or_else(|_| named.clone());
    match config.accounts.iter().find(|a| a.dir == real) {
        Some(account) => Ok(account.name.clone()),
        None => bail!(
            "cf-run wrap: the client runs with {} (CLAUDE_CONFIG_DIR, else ~/.claude), which is no \
             account's dir in the config; run the client through cf-run --account NAME, or set \
             CLAUDE_CONFIG_DIR to an account's dir",
            named.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_the_supervisor_is_refused_inside_a_session() {
        let e = refuse_supervisor_in_session(&args(&[
            "/c/claude",
            "daemon",
            "run",
            "--origin",
            "transient",
        ]))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("cf-run --account NAME -- claude daemon run"),
            "{e}"
        );
        for ok in [
            &["/c/claude", "--bg-pty-host", "/s", "200", "50", "--"][..],
            &["/c/claude", "--session-id", "x", "daemon run"],
            &["/c/claude", "daemon", "status"],
            &["/c/claude"],
        ] {
            refuse_supervisor_in_session(&args(ok)).unwrap();
        }
    }
}
