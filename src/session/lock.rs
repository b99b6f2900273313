//! The per-session lock.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use anyhow::{Context, Result, anyhow};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl, openat};
use nix::sys::stat::Mode;

use super::state::{State, check_own_file, read_at};
use crate::exit::{self, Exit};

/// An exclusive lock on one session: a POSIX record lock, which belongs to
/// the process and is released by the kernel when that process exits,
/// SIGKILL included. In a namespace launch cf-run's parent holds it for the
/// session's life; in symlink mode it survives the exec into the command.
/// Unlike flock, no child inherits it, so neither the session nor a
/// lingering tool process can keep a session locked or release it.
pub struct Lock {
    file: File,
}

/// A lock record of `kind` over the whole file.
fn whole_file(kind: libc::c_int) -> libc::flock {
    libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

impl Lock {
    /// Takes the lock on `session` for `account`; when another launch holds
    /// it, fails with exit 75 naming the holder, or waits with `wait`.
    pub fn acquire(state: &State, session: &str, account: &str, wait: bool) -> Result<Lock> {
        let path = state.lock_path(session);
        let dir = state.create("locks")?;
        let flags = OFlag::O_RDWR
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC;
        let mut file = openat(
            &dir,
            format!("{session}.lock").as_str(),
            flags,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .map(File::from)
        .map_err(|e| anyhow!("cannot open the session lock {}: {e}", path.display()))?;
        check_own_file(&file, &path.display().to_string(), state.uid).with_context(|| {
            format!(
                "refusing the session lock {}; remove it (cf-run makes it again)",
                path.display()
            )
        })?;
        let lock = whole_file(libc::F_WRLCK);
        let arg = if wait {
            FcntlArg::F_SETLKW(&lock)
        } else {
            FcntlArg::F_SETLK(&lock)
        };
        match fcntl(&file, arg) {
            Ok(_) => {}
            Err(Errno::EAGAIN | Errno::EACCES) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another launch"
                } else {
                    holder
                };
                return Err(Exit::new(
                    exit::TEMPFAIL,
                    format!(
                        "session {session} is already running ({holder}); \
                         stop it first (cf-run stop --session {session}) or pass --wait"
                    ),
                )
                .into());
            }
            Err(e) => return Err(anyhow!("fcntl({}, F_SETLK) => {e}", path.display())),
        }
        file.set_len(0)?;
        let pid = std::process::id();
        write!(file, "account {account}, pid {pid}")?;
        tracing::debug!("locked session {session} on fd {}", file.as_raw_fd());
        Ok(Lock { file })
    }

    /// Keeps the lock's descriptor open across exec, for a command that takes
    /// cf-run's place (symlink mode): closing it would drop the lock.
    pub fn inherit(&self) -> Result<()> {
        fcntl(&self.file, FcntlArg::F_SETFD(FdFlag::empty()))
            .map(drop)
            .map_err(|e| anyhow!("fcntl(session lock, F_SETFD, 0) => {e}"))
    }

    /// The account that last held the session's lock, as the lock file says.
    pub fn last_account(state: &State, session: &str) -> Option<String> {
        let dir = state.open("locks").ok()??;
        let bytes = read_at(&dir, &format!("{session}.lock")).ok()??;
        let text = String::from_utf8(bytes).ok()?;
        let account = text.strip_prefix("account ")?.split(',').next()?;
        Some(account.to_owned())
    }

    /// Whether the session's lock is free now (nobody holds it).
    pub fn is_free(state: &State, session: &str) -> bool {
        let Ok(Some(dir)) = state.open("locks") else {
            return true;
        };
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let Ok(file) = openat(
            &dir,
            format!("{session}.lock").as_str(),
            flags,
            Mode::empty(),
        ) else {
            return true;
        };
        let mut probe = whole_file(libc::F_WRLCK);
        fcntl(&file, FcntlArg::F_GETLK(&mut probe)).is_ok()
            && probe.l_type == libc::F_UNLCK as libc::c_short
    }
}
