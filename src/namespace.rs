//! Entering the private mount and PID namespaces, and the capabilities around them.

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

    /// Whether this process can hold CAP_SYS_ADMIN over its namespaces: the
    /// privileged copy, or a process in the user namespace it made.
    pub fn holds_sys_admin(&self) -> bool {
        self.raise
            || caps::has_cap(None, CapSet::Effective, Capability::CAP_SYS_ADMIN).unwrap_or(false)
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
/// to or from the host, and makes a new PID namespace for its next child.
/// Symlink mode makes none.
pub fn enter(mode: Mode, uid: Uid, gid: Gid, privilege: &Privilege) -> Result<()> {
    match mode {
        Mode::Symlink => return Ok(()),
        Mode::Userns => {
            let flags =
                CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID;
            unshare(flags).map_err(|e| {
                anyhow!(
                    "unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID) => {e}; this host does not allow \
                     unprivileged user namespaces: use --mode privileged (after \
                     sudo setcap cap_sys_admin+p \"$(command -v cf-run)\") or --mode symlink"
                )
            })?;
            map_ids(uid, gid)?;
        }
        Mode::Privileged => privilege.with(|| {
            unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID)
                .map_err(|e| anyhow!("unshare(CLONE_NEWNS|CLONE_NEWPID) => {e}"))
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
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| anyhow!("clearing the Ambient capabilities => {e}"))?;
    // Inheritable, effective and permitted at once: one capset(2).
    crate::sys::clear_capabilities().map_err(|e| {
        anyhow!("clearing the Inheritable, Effective and Permitted capabilities => {e}")
    })?;
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().context("prctl(PR_SET_NO_NEW_PRIVS)")?;
    }
    Ok(())
}
