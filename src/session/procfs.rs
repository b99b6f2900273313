//! What /proc and kill(2) tell of a launch's process.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

pub(super) fn start_ticks(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|(_, ticks)| ticks)
}

/// Whether no process has `pid`: one signal-0 probe, cheaper than reading
/// /proc/PID/stat, which a launch looking at live entries would pay for each.
pub(super) fn gone(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return true;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(Errno::ESRCH)
}

/// State letter and start time of `pid`, from /proc/PID/stat.
pub(super) fn proc_stat(pid: u32) -> Option<(char, u64)> {
    // One read: the kernel writes the whole line at once, well under 1 KiB.
    let mut buf = [0u8; 1024];
    let fd = nix::fcntl::open(
        format!("/proc/{pid}/stat").as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let n = nix::unistd::read(&fd, &mut buf).ok()?;
    let stat = std::str::from_utf8(&buf[..n]).ok()?;
    // The command name (field 2) may hold spaces and parentheses: skip past its last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ticks = fields.nth(18)?.parse().ok()?;
    Some((state, ticks))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_from_proc() {
        let (state, ticks) = proc_stat(std::process::id()).unwrap();
        assert!(matches!(state, 'R' | 'S'), "{state}");
        assert!(ticks > 0);
        assert!(proc_stat(u32::MAX).is_none());
        assert!(!gone(std::process::id()));
    }
}
