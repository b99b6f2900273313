//! The session's Landlock scopes: no process of the session may connect to
//! an abstract Unix socket made outside it (X11's `@/tmp/.X11-unix/X0`,
//! some buses: not files, so no mount hides them), nor signal a process
//! outside it. Landlock ABI 6 (Linux 6.12); on an older kernel the launch
//! goes on without them, and `doctor` says so.

use anyhow::{Result, anyhow};
use landlock::{
    ABI, Access, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr,
    RulesetStatus, Scope,
};

use crate::namespace::Privilege;

/// The scopes this release was tested with.
fn ruleset(level: CompatLevel) -> Result<RulesetCreated, landlock::RulesetError> {
    Ruleset::default()
        .set_compatibility(level)
        .scope(Scope::from_all(ABI::V6))?
        .create()
}

/// Scopes this process; its children and the command inherit the scopes
/// and can never lift them. Like the seccomp filter, this needs
/// no_new_privs or CAP_SYS_ADMIN (`privilege` raises it in privileged mode,
/// a userns launch holds it in its namespace); where neither is had
/// (symlink mode with setuid allowed) the launch goes on without, and says so.
pub fn confine(privilege: &Privilege, no_new_privs: bool) -> Result<()> {
    apply(prepare(privilege, no_new_privs)?, privilege)
}

/// The ruleset [`confine`] enforces, made (in the namespace modes, by the
/// parent before the fork: pid 1, a fresh copy of it, would bring the code
/// that makes it back into memory page by page) but not yet enforced. None
/// where it cannot be, as [`confine`] says.
pub fn prepare(privilege: &Privilege, no_new_privs: bool) -> Result<Option<RulesetCreated>> {
    if !no_new_privs && !privilege.holds_sys_admin() {
        eprintln!(
            "cf-run: warning: setuid programs are allowed in this symlink-mode session, so \
             no Landlock scope keeps it from abstract sockets and signals outside it"
        );
        return Ok(None);
    }
    ruleset(CompatLevel::BestEffort)
        .map(Some)
        .map_err(|e| anyhow!("landlock: {e}"))
}

/// Enforces on this process a ruleset [`prepare`] made.
pub fn apply(created: Option<RulesetCreated>, privilege: &Privilege) -> Result<()> {
    let Some(created) = created else {
        return Ok(());
    };
    let failed = |e| anyhow!("landlock: {e}");
    // no_new_privs is cf-run's to set (or not, where setuid is allowed).
    let status = privilege.with(|| created.no_new_privs(false).restrict_self().map_err(failed))?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        tracing::debug!("landlock scopes not enforced: {:?}", status.ruleset);
    }
    Ok(())
}

/// Whether this kernel enforces both scopes.
pub fn available() -> bool {
    ruleset(CompatLevel::HardRequirement).is_ok()
}
