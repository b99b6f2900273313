//! Entering the private mount namespace, and the capabilities around it.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use caps::{CapSet, Capability};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{Gid, Uid};

use crate::mode::Mode;

/// CAP_SYS_ADMIN for privileged mode: effective only inside `with`, and the
/// process is not dumpable (no ptrace, no core) while it holds any capability.
pub struct Privilege {
    raise: bool,
}

impl Privilege {
    pub fn for_mode(mode: Mode) -> Result<Self> {
        let raise = mode == Mode::Privileged;
        if raise {
            nix::sys::prctl::set_dumpable(false).context("prctl(PR_SET_DUMPABLE, 0)")?;
            caps::clear(None, CapSet::Effective)
                .map_err(|e| anyhow!("capset(clear effective) => {e}"))?;
        }
        Ok(Self { raise })
    }

    /// Runs `f` with CAP_SYS_ADMIN effective (privileged mode only).
    pub fn with<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if !self.raise {
            return f();
        }
        self.raise()?;
        let result = f();
        self.lower()?;
        result
    }

    fn raise(&self) -> Result<()> {
        caps::raise(None, CapSet::Effective, Capability::CAP_SYS_ADMIN)
            .map_err(|e| anyhow!("capset(+CAP_SYS_ADMIN effective) => {e}"))
    }

    fn lower(&self) -> Result<()> {
        caps::clear(None, CapSet::Effective).map_err(|e| anyhow!("capset(clear effective) => {e}"))
    }
}

/// Puts this process in a new mount namespace whose mounts never propagate
/// to or from the host. Symlink mode makes none.
pub fn enter(mode: Mode, uid: Uid, gid: Gid, privilege: &Privilege) -> Result<()> {
    match mode {
        Mode::Symlink => return Ok(()),
        Mode::Userns => {
            unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(|e| {
                anyhow!(
                    "unshare(CLONE_NEWUSER|CLONE_NEWNS) => {e}; this host does not allow \
                     unprivileged user namespaces: use --mode privileged (after \
                     sudo setcap cap_sys_admin+p \"$(command -v cf-run)\") or --mode symlink"
                )
            })?;
            map_ids(uid, gid)?;
        }
        Mode::Privileged => privilege.with(|| {
            unshare(CloneFlags::CLONE_NEWNS).map_err(|e| anyhow!("unshare(CLONE_NEWNS) => {e}"))
        })?,
    }
    privilege.with(|| {
        let flags = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .map_err(|e| anyhow!("mount(/, MS_REC|MS_PRIVATE) => {e}"))
    })
}

/// Maps the user onto themselves in the user namespace just made: same uid
/// and gid inside, no root.
fn map_ids(uid: Uid, gid: Gid) -> Result<()> {
    write_proc("/proc/self/setgroups", "deny")?;
    write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
    write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))
}

/// Privileged mode, once the mounts are made: moves the process into a user
/// namespace of its own (the user mapped onto themselves). The command then
/// cannot ptrace the user's processes outside the session nor read their
/// `/proc/PID/root`, which would lead around the covers to another account's
/// files; and it owns nothing of the mount namespace it runs in. The
/// capability makes this work even where unprivileged user namespaces are
/// forbidden; where none can be made at all, the session runs without it
/// and says so.
pub fn seal(mode: Mode, uid: Uid, gid: Gid, privilege: &Privilege) -> Result<()> {
    if mode != Mode::Privileged {
        return Ok(());
    }
    // Not through `with`: once in the new namespace the process holds every
    // capability there (none outside), and needs them to write its maps.
    privilege.raise()?;
    match unshare(CloneFlags::CLONE_NEWUSER) {
        Ok(()) => {
            // The capability now counts only inside the new namespace, where it
            // reaches nothing: the process may be dumpable again, which it must
            // be to open its own /proc/self maps.
            nix::sys::prctl::set_dumpable(true).context("prctl(PR_SET_DUMPABLE, 1)")?;
            map_ids(uid, gid)
        }
        Err(e) => {
            privilege.lower()?;
            eprintln!(
                "cf-run: warning: unshare(CLONE_NEWUSER) => {e}: this session can reach your \
                 processes outside it (ptrace, /proc/PID/root); allow user namespaces \
                 (user.max_user_namespaces > 0) to close that"
            );
            Ok(())
        }
    }
}

fn write_proc(path: &str, text: &str) -> Result<()> {
    std::fs::write(Path::new(path), text).map_err(|e| {
        anyhow!(
            "write({path}, {text:?}) => {e}; user namespaces are restricted here \
             (AppArmor's kernel.apparmor_restrict_unprivileged_userns?): use --mode privileged or --mode symlink"
        )
    })
}

/// Drops every capability (effective, permitted, inheritable, ambient) and,
/// with `no_new_privs`, makes sure neither the command nor anything it runs
/// (setuid programs, file capabilities) can gain privileges.
pub fn drop_privileges(no_new_privs: bool) -> Result<()> {
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| anyhow!("clearing the {set:?} capabilities => {e}"))?;
    }
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().context("prctl(PR_SET_NO_NEW_PRIVS)")?;
    }
    Ok(())
}
