//! Waking on what a session writes, not on a clock: inotify watches on the
//! dirs whose files say where a session stands (its transcript's project
//! dir, its launch's client dir), and a pidfd for the process whose end
//! matters. A wake only says "look again": what is then read stays bounded
//! and checked, and a session that writes without pause wakes its watcher
//! at most once per [`MIN`].

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::resolve;

/// The least time between two looks.
const MIN: Duration = Duration::from_millis(10);

/// How often to look when a change may go unseen: no inotify instance
/// (the user's limit is shared with every session, which may use it up) or
/// a watch the kernel refused.
const BLIND: Duration = Duration::from_millis(50);

pub struct Wake {
    inotify: Option<Inotify>,
    watched: HashSet<PathBuf>,
    /// A watch was refused: a change there wakes no one.
    blind: bool,
    last: Option<Instant>,
}

impl Wake {
    pub fn new() -> Wake {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
        Wake {
            blind: inotify.is_none(),
            inotify,
            watched: HashSet::new(),
            last: None,
        }
    }

    /// Wakes on any file of `dir` written, made or renamed in, from now
    /// on; once per dir. A dir that is not there (yet), or is reached
    /// through a symlink, is not watched. Whether the watch is new: what
    /// was written before it is then to be read once more.
    pub fn watch(&mut self, dir: &Path) -> bool {
        if self.watched.contains(dir) {
            return false;
        }
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let Ok(fd) = resolve::open_at(nix::fcntl::AT_FDCWD.as_fd(), dir, flags) else {
            return false;
        };
        // The dir just opened, whatever its path leads to by now.
        let at = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let events = AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ATTRIB;
        let Some(inotify) = &self.inotify else {
            return false;
        };
        let added = inotify.add_watch(at.as_str(), events).is_ok();
        if added {
            self.watched.insert(dir.to_path_buf());
        } else {
            self.blind = true;
        }
        added
    }

    /// Sleeps until a watched dir changes, `ends` (a pidfd) is readable,
    /// or `most` has passed.
    pub fn wait(&mut self, most: Duration, ends: Option<BorrowedFd>) {
        if let Some(since) = self.last.map(|at| at.elapsed())
            && since < MIN
        {
            std::thread::sleep(MIN - since);
        }
        let most = if self.blind { most.min(BLIND) } else { most };
        let mut fds: Vec<PollFd> = self
            .inotify
            .iter()
            .map(|i| PollFd::new(i.as_fd(), PollFlags::POLLIN))
            .collect();
        fds.extend(ends.map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
        let timeout = PollTimeout::try_from(most).unwrap_or(PollTimeout::MAX);
        let _ = poll(&mut fds, timeout);
        // Drained: what changed is read from the files themselves.
        if let Some(inotify) = &self.inotify {
            while inotify.read_events().is_ok_and(|e| !e.is_empty()) {}
        }
        self.last = Some(Instant::now());
    }
}
