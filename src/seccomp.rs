//! The session's seccomp filter: no process of the session may push input
//! into a terminal (TIOCSTI) or paste a console selection (TIOCLINUX). The
//! session shares the caller's terminal, so without it a command could type
//! a command line that the caller's shell runs once the session ends
//! (bubblewrap's CVE-2017-5226). Everything else is allowed: the filter
//! closes this one door and changes nothing an interactive client needs.
//!
//! libseccomp builds it: the same rule for every ABI a process on this
//! machine may call the kernel through (on x86_64: x86_64, i386 and x32),
//! with the command number compared on its low 32 bits, as the kernel reads
//! it (a 64-bit value with high bits set is the same ioctl).

use anyhow::{Result, anyhow};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext,
    ScmpSyscall,
};

use crate::namespace::Privilege;

/// The ioctls no process of the session may make.
const DENIED: [(u64, &str); 2] = [(libc::TIOCSTI, "TIOCSTI"), (libc::TIOCLINUX, "TIOCLINUX")];

/// The ABIs besides the native one that this machine's processes can use.
#[cfg(target_arch = "x86_64")]
const OTHER_ABIS: [ScmpArch; 2] = [ScmpArch::X86, ScmpArch::X32];
#[cfg(target_arch = "aarch64")]
const OTHER_ABIS: [ScmpArch; 1] = [ScmpArch::Arm];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const OTHER_ABIS: [ScmpArch; 0] = [];

/// Loads the filter into this process; its children and the command inherit
/// it and can never remove it. Loading needs no_new_privs or CAP_SYS_ADMIN:
/// `privilege` raises the capability in privileged mode, and a userns launch
/// holds it in its namespace. Where neither is had (symlink mode with
/// setuid allowed), the launch goes on without the filter and says so:
/// symlink mode isolates nothing the filter would add to.
pub fn guard_terminal(privilege: &Privilege, no_new_privs: bool) -> Result<()> {
    if !no_new_privs && !privilege.holds_sys_admin() {
        eprintln!(
            "cf-run: warning: setuid programs are allowed in this symlink-mode session, so \
             no seccomp filter keeps it from typing into your terminal (TIOCSTI)"
        );
        return Ok(());
    }
    let failed = |what: &str, e: libseccomp::error::SeccompError| anyhow!("seccomp: {what} => {e}");
    let mut filter = ScmpFilterContext::new(ScmpAction::Allow).map_err(|e| failed("init", e))?;
    // no_new_privs is cf-run's to set (or not, where setuid is allowed).
    filter
        .set_filter_attr(ScmpFilterAttr::CtlNnp, 0)
        .map_err(|e| failed("attr", e))?;
    for abi in OTHER_ABIS {
        filter.add_arch(abi).map_err(|e| failed("add_arch", e))?;
    }
    let ioctl = ScmpSyscall::from_name("ioctl").map_err(|e| failed("ioctl", e))?;
    for (request, name) in DENIED {
        let low_32_bits = ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xffff_ffff), request);
        filter
            .add_rule_conditional(ScmpAction::Errno(libc::EPERM), ioctl, &[low_32_bits])
            .map_err(|e| failed(name, e))?;
    }
    privilege.with(|| filter.load().map_err(|e| failed("load", e)))
}
