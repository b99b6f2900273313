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
//! it (a 64-bit value with high bits set is the same ioctl). On x86_64 and
//! aarch64 the program libseccomp makes is kept here, instruction for
//! instruction, and loaded as it is: building it at each launch cost more
//! than all of pid 1's other work (libseccomp probes the kernel with eight
//! syscalls first). A test builds it with libseccomp again and compares.

use anyhow::{Result, anyhow};

use crate::namespace::Privilege;

/// The ioctls no process of the session may make.
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
const DENIED: [(u64, &str); 2] = [(libc::TIOCSTI, "TIOCSTI"), (libc::TIOCLINUX, "TIOCLINUX")];

/// The ABIs besides the native one that this machine's processes can use.
#[cfg(target_arch = "x86_64")]
#[cfg(test)]
const OTHER_ABIS: [libseccomp::ScmpArch; 2] =
    [libseccomp::ScmpArch::X86, libseccomp::ScmpArch::X32];
#[cfg(target_arch = "aarch64")]
#[cfg(test)]
const OTHER_ABIS: [libseccomp::ScmpArch; 1] = [libseccomp::ScmpArch::Arm];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const OTHER_ABIS: [libseccomp::ScmpArch; 0] = [];

/// One BPF instruction.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// What [`build`] makes with libseccomp 2.5 for this architecture: for
/// each ABI, `ioctl` with TIOCSTI or TIOCLINUX in its low 32 bits fails
/// with EPERM, anything else is allowed, and an unknown ABI is killed.
#[cfg(target_arch = "x86_64")]
const PROGRAM: [libc::sock_filter; 17] = [
    insn(0x20, 0, 0, 0x00000004),
    insn(0x15, 0, 6, 0xc000003e),
    insn(0x20, 0, 0, 0x00000000),
    insn(0x15, 7, 0, 0x40000202),
    insn(0x15, 0, 9, 0x00000010),
    insn(0x20, 0, 0, 0x0000001c),
    insn(0x54, 0, 0, 0x00000000),
    insn(0x15, 3, 6, 0x00000000),
    insn(0x15, 0, 7, 0x40000003),
    insn(0x20, 0, 0, 0x00000000),
    insn(0x15, 0, 3, 0x00000036),
    insn(0x20, 0, 0, 0x00000018),
    insn(0x15, 2, 0, 0x0000541c),
    insn(0x15, 1, 0, 0x00005412),
    insn(0x06, 0, 0, 0x7fff0000),
    insn(0x06, 0, 0, 0x00050001),
    insn(0x06, 0, 0, 0x00000000),
];
#[cfg(target_arch = "aarch64")]
const PROGRAM: [libc::sock_filter; 16] = [
    insn(0x20, 0, 0, 0x00000004),
    insn(0x15, 0, 5, 0xc00000b7),
    insn(0x20, 0, 0, 0x00000000),
    insn(0x15, 0, 9, 0x0000001d),
    insn(0x20, 0, 0, 0x0000001c),
    insn(0x54, 0, 0, 0x00000000),
    insn(0x15, 3, 6, 0x00000000),
    insn(0x15, 0, 7, 0x40000028),
    insn(0x20, 0, 0, 0x00000000),
    insn(0x15, 0, 3, 0x00000036),
    insn(0x20, 0, 0, 0x00000018),
    insn(0x15, 2, 0, 0x0000541c),
    insn(0x15, 1, 0, 0x00005412),
    insn(0x06, 0, 0, 0x7fff0000),
    insn(0x06, 0, 0, 0x00050001),
    insn(0x06, 0, 0, 0x00000000),
];

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
    load(privilege)
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn load(privilege: &Privilege) -> Result<()> {
    privilege
        .with(|| crate::sys::load_filter(&PROGRAM).map_err(|e| anyhow!("seccomp: load => {e}")))
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn load(privilege: &Privilege) -> Result<()> {
    let filter = build()?;
    privilege.with(|| filter.load().map_err(|e| anyhow!("seccomp: load => {e}")))
}

/// The filter, built by libseccomp.
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
fn build() -> Result<libseccomp::ScmpFilterContext> {
    use libseccomp::{
        ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext, ScmpSyscall,
    };
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
    Ok(filter)
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::*;

    #[test]
    fn the_kept_program_is_what_libseccomp_builds() {
        use std::io::{Read, Seek};
        let mut file = tempfile::tempfile().unwrap();
        build().unwrap().export_bpf(&mut file).unwrap();
        let mut bytes = vec![];
        file.rewind().unwrap();
        file.read_to_end(&mut bytes).unwrap();
        let built: Vec<(u16, u8, u8, u32)> = bytes
            .chunks_exact(8)
            .map(|i| {
                let k = u32::from_ne_bytes([i[4], i[5], i[6], i[7]]);
                (u16::from_ne_bytes([i[0], i[1]]), i[2], i[3], k)
            })
            .collect();
        let kept: Vec<_> = PROGRAM.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        assert_eq!(
            kept, built,
            "libseccomp builds another program: copy its instructions into PROGRAM"
        );
    }
}
