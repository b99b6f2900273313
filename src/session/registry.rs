//! The registry of live launches, which `ps`, `stop` and `watch` read.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::Mode;
use nix::unistd::{Uid, UnlinkatFlags, unlinkat};
use serde::{Deserialize, Serialize};

use super::procfs::{gone, proc_stat, start_ticks};
use super::state::{SHARDS, State, check_own_file, read_at};

/// One launch in the registry, as `cf-run ps --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub pid: u32,
    pub account: String,
    pub session: Option<String>,
    pub cwd: PathBuf,
    pub started: String,
    pub mode: String,
    /// The process's start time (clock ticks since boot): tells a reused pid apart.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_ticks: Option<u64>,
}

impl Record {
    /// The entry for this process, about to exec.
    pub fn this_process(account: &str, session: Option<&str>, mode: &str, cwd: PathBuf) -> Self {
        let pid = std::process::id();
        // Milliseconds: `watch` tells a limit this launch hit from one before it.
        let now = jiff::Timestamp::now();
        let started = now
            .round(jiff::Unit::Millisecond)
            .unwrap_or(now)
            .to_string();
        Self {
            pid,
            account: account.to_owned(),
            session: session.map(str::to_owned),
            cwd,
            started,
            mode: mode.to_owned(),
            start_ticks: start_ticks(pid),
        }
    }

    /// Whether the process is still the one registered (not gone, not a zombie,
    /// not a reused pid).
    pub fn is_live(&self) -> bool {
        proc_stat(self.pid)
            .is_some_and(|(state, ticks)| state != 'Z' && Some(ticks) == self.start_ticks)
    }
}

/// Adds `entry` to the registry, in the file of an entry whose process is
/// gone when one is at hand: the registry stays as large as the most
/// sessions ever run at once, however rarely `ps` runs, and a launch makes
/// and deletes no file. (A new file per launch, and a deletion to match,
/// cost ext4 an inode search that grows with the deletions: it was the
/// largest single cost of a launch.)
pub fn register(state: &State, entry: &Record) -> Result<()> {
    // Sharded by pid: each dir stays small however many sessions run, so
    // making an entry costs the same with a thousand of them as with none.
    let dir = state.create(&format!("sessions/{:02x}", entry.pid % SHARDS))?;
    let name = format!("{}.json", entry.pid);
    let shown = state
        .dir
        .join(format!("sessions/{:02x}/{name}", entry.pid % SHARDS));
    let shown = shown.display();
    let json = serde_json::to_vec(entry)?;
    if let Some(dead) = dead_entry(&dir, entry.pid)
        && reuse(&dir, &dead, (entry.pid, state.uid), &name, &json).is_ok()
    {
        return Ok(());
    }
    // Written in place: a reader that catches it half-written cannot parse
    // it and skips it. A file already there (a dead launch of the same pid)
    // is rewritten only once it proves to be one cf-run made.
    let flags = OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let mode = Mode::S_IRUSR | Mode::S_IWUSR;
    let create = flags | OFlag::O_CREAT | OFlag::O_EXCL;
    let (fd, made) = match openat(&dir, name.as_str(), create, mode) {
        Err(Errno::EEXIST) => {
            let fd = openat(&dir, name.as_str(), flags, mode)
                .map_err(|e| anyhow!("openat({shown}) => {e}"))?;
            check_own_file(&fd, &name, state.uid).with_context(|| state.refused())?;
            (fd, false)
        }
        fd => (fd.map_err(|e| anyhow!("openat({shown}) => {e}"))?, true),
    };
    overwrite(&fd, &json).map_err(|e| {
        // No empty entry left behind (a file-size limit, a full disk).
        if made {
            let _ = unlinkat(&dir, name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        anyhow!("write({shown}) => {e}")
    })
}

/// Writes `bytes` over the start of `fd`, then cuts it to length: truncating
/// to zero first would make ext4 flush the file at close.
fn overwrite(fd: &OwnedFd, bytes: &[u8]) -> nix::Result<()> {
    if nix::sys::uio::pwrite(fd, bytes, 0)? != bytes.len() {
        return Err(Errno::EIO);
    }
    nix::unistd::ftruncate(fd, bytes.len() as i64)
}

/// How many other entries a launch looks at for one it may reuse.
const LOOK_AT: usize = 8;

/// The first entry (or claim) among the first `LOOK_AT` of `dir` whose
/// process no longer exists. A live pid is left alone, even if reused or a
/// zombie: `ps` tells those apart.
fn dead_entry(dir: &OwnedFd, ours: u32) -> Option<String> {
    let parse = |name: &str| {
        let pid = name.strip_suffix(".json").or(name.strip_suffix(".claim"))?;
        pid.parse().ok().filter(|&pid| pid != ours)
    };
    names(dir, parse)
        .ok()?
        .into_iter()
        .take(LOOK_AT)
        .find(|&(_, pid)| gone(pid))
        .map(|(name, _)| name)
}

/// Rewrites the dead entry `dead` as `name`. It is first renamed to a claim
/// of this process, which `ps` does not read and which only one launch can
/// win, then filled, then renamed into place: a reader sees the dead entry or
/// the new one, whole.
fn reuse(
    dir: &OwnedFd,
    dead: &str,
    (pid, uid): (u32, Uid),
    name: &str,
    json: &[u8],
) -> nix::Result<()> {
    // Only a regular file is taken: anything else there (a dir) is not
    // cf-run's, and is left where `ps` sees it and says so.
    let st = nix::sys::stat::fstatat(dir, dead, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno::EPERM);
    }
    let claim = format!("{pid}.claim");
    renameat(dir, dead, dir, claim.as_str())?;
    let flags = OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = openat(dir, claim.as_str(), flags, Mode::empty())?;
    // Not one cf-run made (a planted hard link, say): left as a claim, which
    // nothing reads or writes, and the launch makes a file of its own.
    check_own_file(&fd, &claim, uid).map_err(|_| Errno::EPERM)?;
    overwrite(&fd, json)?;
    renameat(dir, claim.as_str(), dir, name)
}

/// The live entries, oldest first. Entries of processes that are gone are
/// removed; files cf-run did not write (not `<pid>.json` of that pid) are
/// never touched.
pub fn live(state: &State) -> Result<Vec<Record>> {
    let Some(root) = state.open("sessions")? else {
        return Ok(vec![]);
    };
    let mut entries = vec![];
    for (shard, _) in names(&root, |name| {
        (name.len() == 2)
            .then(|| u32::from_str_radix(name, 16).ok())
            .flatten()
    })? {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        if let Ok(dir) = openat(&root, shard.as_str(), flags, Mode::empty()) {
            entries.extend(live_in(&dir)?);
        }
    }
    entries.sort_by(|a, b| (&a.started, a.pid).cmp(&(&b.started, b.pid)));
    // The client dirs of launches that are gone (killed before they could
    // remove their own).
    if let Ok(Some(clients)) = state.open("clients") {
        for (_, pid) in names(&clients, |name| name.parse().ok())? {
            if gone(pid) {
                state.remove_client_dir(pid);
            }
        }
    }
    Ok(entries)
}

/// The live entries of one shard of the registry; the others are removed.
fn live_in(dir: &OwnedFd) -> Result<Vec<Record>> {
    let mut entries = vec![];
    for (name, pid) in names(dir, |name| name.strip_suffix(".json")?.parse().ok())? {
        let bytes = match read_at(dir, &name) {
            Ok(bytes) => bytes,
            // One odd entry (a directory, say) never stops `ps`, `stop` or `watch`.
            Err(e) => {
                let warning = format!("cf-run: warning: skipping registry entry {name}: {e:#}");
                eprintln!("{}", crate::output::printable(&warning));
                continue;
            }
        };
        let Some(entry) = bytes.and_then(|b| serde_json::from_slice::<Record>(&b).ok()) else {
            continue;
        };
        if entry.pid != pid {
            continue;
        }
        if entry.is_live() {
            entries.push(entry);
        } else {
            // Gone or reused: never shown, cleaned up.
            let _ = unlinkat(dir, name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
    Ok(entries)
}

/// The names in `dir` that `parse` accepts, with what it made of them.
fn names(dir: &OwnedFd, parse: impl Fn(&str) -> Option<u32>) -> Result<Vec<(String, u32)>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let listing = openat(dir, ".", flags, Mode::empty()).map_err(|e| anyhow!("open(.) => {e}"))?;
    let mut found = vec![];
    crate::sys::dir_names(listing.as_fd(), |name| {
        if let Ok(name) = std::str::from_utf8(name)
            && let Some(n) = parse(name)
        {
            found.push((name.to_owned(), n));
        }
        true
    })
    .map_err(|e| anyhow!("getdents => {e}"))?;
    Ok(found)
}

/// The session the launch `pid` is on, as its registry entry says: the one
/// it locked, which follows the client's own moves (`/resume`, the picker).
pub fn session_of_launch(state: &State, pid: u32) -> Option<String> {
    let dir = state
        .open(&format!("sessions/{:02x}", pid % SHARDS))
        .ok()??;
    let bytes = read_at(&dir, &format!("{pid}.json")).ok()??;
    let entry: Record = serde_json::from_slice(&bytes).ok()?;
    (entry.pid == pid && entry.is_live()).then_some(entry.session)?
}

/// The live launch holding `session`, if any.
pub fn find(state: &State, session: &str) -> Result<Option<Record>> {
    Ok(live(state)?
        .into_iter()
        .find(|e| e.session.as_deref() == Some(session)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_entry_that_is_no_file_is_never_taken() {
        let top = tempfile::tempdir().unwrap();
        std::fs::create_dir(top.path().join("4000000001.json")).unwrap();
        let dir: OwnedFd = std::fs::File::open(top.path()).unwrap().into();
        let uid = nix::unistd::getuid();
        let taken = reuse(&dir, "4000000001.json", (1, uid), "1.json", b"{}");
        assert_eq!(taken, Err(Errno::EPERM));
        assert!(top.path().join("4000000001.json").is_dir());
        assert!(!top.path().join("1.claim").exists());
    }
}
