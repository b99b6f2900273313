//! cf-run as the session's small parent, as bubblewrap is. A namespace
//! launch forks once the mounts are made:
//! - the parent stays outside the session's PID namespace: it holds the
//!   session lock, relays the signals sent to it (`kill`, `cf-run stop`) and
//!   ends as the command did, exit status or signal;
//! - the child is pid 1 of the new PID namespace: it forks the command,
//!   relays to it, reaps the orphans the session leaves, and reports the
//!   command's end to the parent. When it ends the kernel ends every process
//!   of the session; when the parent dies, it is killed (PDEATHSIG).
//!
//! Every process of the three stays in the caller's process group, so the
//! terminal's own signals (Ctrl-C, Ctrl-Z, resize) reach the command
//! directly, and job control works as it does for any command. The parent
//! and pid 1 relay only what was sent by a process (`kill`), never what the
//! terminal sent to the whole group: the command already got that.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use anyhow::{Context, Result, anyhow};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::prctl;
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::sys::{self, Fork};

/// The name pid 1 gives itself: how a process knows it runs inside a session.
const INIT_NAME: &std::ffi::CStr = c"cf-run-init";

/// Whether this process runs inside a cf-run namespace session: pid 1 of its
/// PID namespace is cf-run's init.
pub fn inside_session() -> bool {
    std::fs::read("/proc/1/comm").is_ok_and(|name| name.trim_ascii_end() == INIT_NAME.to_bytes())
}

/// The signals a process may send the session: relayed to the command.
const RELAYED: [Signal; 6] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// How often the parent looks at what the session's client records.
const TICK_MS: u16 = 500;

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Exited(u8),
    Killed(Signal),
}

impl End {
    fn of(status: WaitStatus) -> Option<End> {
        match status {
            WaitStatus::Exited(_, code) => Some(End::Exited(code as u8)),
            WaitStatus::Signaled(_, sig, _) => Some(End::Killed(sig)),
            _ => None,
        }
    }

    /// How a child process of cf-run's own ended.
    pub fn of_child(status: std::process::ExitStatus) -> End {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal().map(Signal::try_from)) {
            (Some(code), _) => End::Exited(code as u8),
            (None, Some(Ok(sig))) => End::Killed(sig),
            _ => End::Exited(crate::exit::FAILURE),
        }
    }

    fn encode(self) -> [u8; 2] {
        match self {
            End::Exited(code) => [0, code],
            End::Killed(sig) => [1, sig as u8],
        }
    }

    fn decode(bytes: [u8; 2]) -> Option<End> {
        match bytes {
            [0, code] => Some(End::Exited(code)),
            [1, sig] => Signal::try_from(i32::from(sig)).ok().map(End::Killed),
            _ => None,
        }
    }

    /// Ends this process the same way: a signal death stays one, as under
    /// env(1), so the caller's shell sees what happened to the command.
    pub fn exit(self) -> ! {
        if let End::Killed(sig) = self {
            // No core of cf-run's own: the command's, if any, is the one that counts.
            let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            let _ = sys::set_action(sig, &default);
            let _ = SigSet::from(sig).thread_unblock();
            let _ = nix::sys::signal::raise(sig);
        }
        // Exited, or a signal whose default is not to end a process.
        sys::exit_now(match self {
            End::Exited(code) => i32::from(code),
            End::Killed(sig) => 128 + sig as i32,
        })
    }
}

/// The caller's signal mask and SIGCHLD disposition, which the command gets
/// back; cf-run's own processes block the relayed signals and read them from
/// a signalfd instead.
pub struct Signals {
    mask: SigSet,
    sigchld: SigAction,
}

impl Signals {
    /// Blocks the relayed signals and SIGCHLD, and makes sure children can be
    /// waited for (a caller may have set SIGCHLD to SIG_IGN).
    fn take() -> Result<Signals> {
        let mut set = SigSet::from_iter(RELAYED);
        set.add(Signal::SIGCHLD);
        let mut mask = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut mask))
            .map_err(|e| anyhow!("sigprocmask(SIG_BLOCK) => {e}"))?;
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        let sigchld = sys::set_action(Signal::SIGCHLD, &default)
            .map_err(|e| anyhow!("sigaction(SIGCHLD) => {e}"))?;
        Ok(Signals { mask, sigchld })
    }

    /// A signalfd for what this process reads: the relayed signals and SIGCHLD.
    fn fd() -> Result<SignalFd> {
        let mut set = SigSet::from_iter(RELAYED);
        set.add(Signal::SIGCHLD);
        SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).map_err(|e| anyhow!("signalfd => {e}"))
    }

    /// Gives the command the caller's mask and SIGCHLD disposition back.
    fn restore(&self) -> Result<()> {
        sys::set_action(Signal::SIGCHLD, &self.sigchld)
            .map_err(|e| anyhow!("sigaction(SIGCHLD) => {e}"))?;
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.mask), None)
            .map_err(|e| anyhow!("sigprocmask(SIG_SETMASK) => {e}"))
    }
}

/// Sent by a process (kill, sigqueue, tgkill), not by the kernel for the
/// terminal: only those are relayed.
fn sent_by_a_process(code: i32) -> bool {
    code <= 0
}

/// Which of the two cf-run processes this is, after the split.
pub enum Role {
    Parent(Parent),
    Pid1(Box<Pid1>),
}

pub struct Parent {
    child: Pid,
    report: UnixStream,
}

pub struct Pid1 {
    signals: Signals,
    report: UnixStream,
}

/// Forks pid 1 of the PID namespace this process unshared.
pub fn split() -> Result<Role> {
    let signals = Signals::take()?;
    let (parent_end, child_end) = UnixStream::pair().context("socketpair")?;
    Ok(match sys::fork().map_err(|e| anyhow!("fork => {e}"))? {
        Fork::Parent(child) => {
            drop(child_end);
            Role::Parent(Parent {
                child,
                report: parent_end,
            })
        }
        Fork::Child => {
            drop(parent_end);
            Role::Pid1(Box::new(Pid1 {
                signals,
                report: child_end,
            }))
        }
    })
}

impl Parent {
    /// Relays signals until pid 1 ends, calling `tick` every half second
    /// meanwhile; how the command ended.
    pub fn wait(mut self, mut tick: impl FnMut()) -> Result<End> {
        use std::os::fd::AsFd;
        let signals = Signals::fd()?;
        let mut trimmed = false;
        loop {
            let mut ready = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            match poll(&mut ready, TICK_MS) {
                Ok(0) => {
                    // What the launch brought in of cf-run's code, this loop
                    // mostly does not need; given back once the session has
                    // run a tick, not before: a short one would only fault
                    // its last steps' code in again (0.09 ms of a launch).
                    if !trimmed {
                        sys::trim_code();
                        trimmed = true;
                    }
                    tick();
                    continue;
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(anyhow!("poll(signalfd) => {e}")),
            }
            let Some(info) = signals
                .read_signal()
                .map_err(|e| anyhow!("read(signalfd) => {e}"))?
            else {
                continue;
            };
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            if sig != Signal::SIGCHLD {
                if sent_by_a_process(info.ssi_code) {
                    let _ = kill(self.child, sig);
                }
                continue;
            }
            let status = waitpid(self.child, Some(WaitPidFlag::WNOHANG))
                .map_err(|e| anyhow!("waitpid(pid 1) => {e}"))?;
            let Some(own) = End::of(status) else {
                continue;
            };
            // Pid 1 reports the command's end before it ends; when it died
            // first (killed from outside), its own end is the session's.
            let mut bytes = [0; 2];
            return Ok(match self.report.read_exact(&mut bytes) {
                Ok(()) => End::decode(bytes).unwrap_or(own),
                Err(_) => own,
            });
        }
    }
}

impl Pid1 {
    /// Runs `command` as the only child of pid 1, then serves as the
    /// namespace's init until it ends. Returns only in the command's process,
    /// and only with the error that kept it from exec'ing.
    pub fn serve(
        mut self: Box<Self>,
        command: impl FnOnce() -> Result<Infallible>,
    ) -> Result<Infallible> {
        // Dies with the parent, and then so does every process of the session.
        prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
        // The parent may have died before that: its end of the socket is then closed.
        if matches!(sys::recv_now(self.report.as_fd(), &mut [0]), Ok(0)) {
            sys::exit_now(1);
        }
        // Processes of the session may not trace their init.
        prctl::set_dumpable(false).context("prctl(PR_SET_DUMPABLE, 0)")?;
        prctl::set_name(INIT_NAME).context("prctl(PR_SET_NAME)")?;
        let signals = Signals::fd()?;
        let command_pid = match sys::fork().map_err(|e| anyhow!("fork => {e}"))? {
            Fork::Child => {
                drop(signals);
                self.signals.restore()?;
                // It holds nothing to protect (capabilities are gone), and
                // must read its own /proc/self/environ; exec resets it anyway.
                prctl::set_dumpable(true).context("prctl(PR_SET_DUMPABLE, 1)")?;
                return command();
            }
            Fork::Parent(pid) => pid,
        };
        loop {
            let Ok(Some(info)) = signals.read_signal() else {
                continue;
            };
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            if sig != Signal::SIGCHLD {
                if sent_by_a_process(info.ssi_code) {
                    let _ = kill(command_pid, sig);
                }
                continue;
            }
            // Reap every child that ended: the command, and orphans.
            while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                if status == WaitStatus::StillAlive {
                    break;
                }
                if status.pid() == Some(command_pid)
                    && let Some(end) = End::of(status)
                {
                    let _ = self.report.write_all(&end.encode());
                    // The kernel now ends what is left of the session.
                    sys::exit_now(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_goes_through_the_socket_unchanged() {
        for end in [
            End::Exited(0),
            End::Exited(255),
            End::Killed(Signal::SIGSEGV),
            End::Killed(Signal::SIGKILL),
        ] {
            assert_eq!(End::decode(end.encode()), Some(end));
        }
        assert_eq!(End::decode([2, 0]), None);
        assert_eq!(End::decode([1, 200]), None);
    }

    #[test]
    fn only_what_a_process_sent_is_relayed() {
        assert!(sent_by_a_process(libc::SI_USER));
        assert!(sent_by_a_process(libc::SI_QUEUE));
        assert!(sent_by_a_process(libc::SI_TKILL));
        assert!(!sent_by_a_process(libc::SI_KERNEL));
    }
}
