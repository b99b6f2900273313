//! Sessions for supervisors: the per-session lock and the registry of live
//! launches, both under `<home>/.local/state/cf-run` (home from the password
//! database). Nothing here runs with privilege: files are the user's own.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl, openat, renameat};
use nix::sys::stat::{Mode, fstat};
use nix::unistd::{Uid, UnlinkatFlags, unlinkat};
use serde::{Deserialize, Serialize};

use crate::exit::{self, Exit};
use crate::resolve::{self, Entry as PathEntry};
use crate::user::User;

/// Where cf-run keeps its locks and registry for one user. Every file in it
/// is reached through a descriptor of its dir, opened without following
/// symlinks: a session that swaps a dir for a symlink cannot make cf-run
/// write or delete elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub dir: PathBuf,
    uid: Uid,
}

impl State {
    pub fn of(user: &User) -> Self {
        Self {
            dir: user.home.join(".local/state/cf-run"),
            uid: user.uid,
        }
    }

    pub fn lock_path(&self, session: &str) -> PathBuf {
        self.dir.join("locks").join(format!("{session}.lock"))
    }

    /// The state dir `sub` ("" for the top), created (mode 0700) if missing.
    fn create(&self, sub: &str) -> Result<OwnedFd> {
        resolve::make_dirs(&self.dir.join(sub), self.uid).with_context(|| self.refused())
    }

    /// The state dir `sub`, if it exists: a real directory of the user's.
    fn open(&self, sub: &str) -> Result<Option<OwnedFd>> {
        let path = self.dir.join(sub);
        match resolve::entry(&path).with_context(|| self.refused())? {
            PathEntry::Missing => Ok(None),
            PathEntry::Dir(fd, st) => {
                resolve::check_owner(&path, &st, self.uid, "cf-run's state dir")?;
                Ok(Some(fd))
            }
            _ => Err(anyhow!("{} is not a real directory", path.display()).context(self.refused())),
        }
    }

    fn refused(&self) -> String {
        format!(
            "cf-run keeps its locks and registry only in real directories of yours under {}; \
             if something else was put there, remove it (cf-run makes them again)",
            self.dir.display()
        )
    }

    /// This launch's dir for its client's per-process files, made fresh:
    /// `clients/<pid>`, emptied of what a dead launch of the same pid left.
    pub fn client_dir(&self, pid: u32) -> Result<PathBuf> {
        let path = self.dir.join(format!("clients/{pid}"));
        self.create(&format!("clients/{pid}"))?;
        for entry in std::fs::read_dir(&path).with_context(|| self.refused())? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(path)
    }

    /// Removes this launch's client dir once its session has ended.
    pub fn remove_client_dir(&self, pid: u32) {
        let _ = std::fs::remove_dir_all(self.dir.join(format!("clients/{pid}")));
    }

    /// The session the client of launch `pid` is on now, from the file it
    /// keeps for itself (it is pid 2 in the launch's PID namespace).
    pub fn client_session(&self, pid: u32) -> Option<String> {
        let dir = self.open(&format!("clients/{pid}")).ok()??;
        let bytes = read_at(&dir, "2.json").ok()??;
        let file: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let id = file["sessionId"].as_str()?;
        is_uuid(id).then(|| id.to_ascii_lowercase())
    }

    /// Reads the file `name` of the top state dir, if there is one.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(dir) = self.open("")? else {
            return Ok(None);
        };
        read_at(&dir, name)
    }

    /// Replaces the file `name` of the top state dir (written whole, then renamed).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_at(&self.create("")?, name, bytes)
    }
}

/// Reads the file `name` in `dir` (not a symlink), if it exists.
fn read_at(dir: &OwnedFd, name: &str) -> Result<Option<Vec<u8>>> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    match openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => {
            // State files are small: one read takes all of one unless it fills
            // the buffer (the registry's are ~150 bytes, read by the thousand).
            let mut bytes = vec![0; 8192];
            let n =
                nix::unistd::read(&fd, &mut bytes).map_err(|e| anyhow!("read({name}) => {e}"))?;
            bytes.truncate(n);
            if n == 8192 {
                File::from(fd).take(1 << 20).read_to_end(&mut bytes)?;
            }
            Ok(Some(bytes))
        }
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(anyhow!("openat({name}) => {e}")),
    }
}

/// Writes `bytes` to `name` in `dir`: a new temp file renamed into place. A
/// temp name already taken (left by a crash, or planted as a hard link) is
/// unlinked, never written through: removing a name loses no other link's data.
fn write_at(dir: &OwnedFd, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = format!(".{name}.tmp");
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let create = || openat(dir, tmp.as_str(), flags, Mode::S_IRUSR | Mode::S_IWUSR);
    let fd = match create() {
        Err(Errno::EEXIST) => {
            unlinkat(dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir)
                .map_err(|e| anyhow!("unlinkat({tmp}) => {e}"))?;
            create()
        }
        fd => fd,
    }
    .map_err(|e| anyhow!("openat({tmp}) => {e}"))?;
    let written = File::from(fd).write_all(bytes);
    if let Err(e) = written {
        let _ = unlinkat(dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        return Err(anyhow!("write({tmp}) => {e}"));
    }
    renameat(dir, tmp.as_str(), dir, name).map_err(|e| anyhow!("renameat({tmp}, {name}) => {e}"))
}

/// Refuses to write through a state file that cf-run did not make: it must
/// be a regular file of the user's with a single link. Under a state file's
/// name a session could plant a hard link to a transcript (which a lock or
/// registry write would truncate or overwrite), a FIFO, or a directory.
fn check_own_file(fd: &impl AsFd, name: &str, uid: Uid) -> Result<()> {
    let st = fstat(fd).map_err(|e| anyhow!("fstat({name}) => {e}"))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        bail!("{name} is not a regular file");
    }
    if st.st_nlink != 1 {
        bail!(
            "{name} has {} hard links: cf-run writes only files it made",
            st.st_nlink
        );
    }
    if st.st_uid != uid.as_raw() {
        bail!("{name} is owned by uid {}, not by you", st.st_uid);
    }
    Ok(())
}

/// Whether `s` is a UUID as Claude writes session ids (8-4-4-4-12 hex):
/// the only session ids cf-run accepts, so none can name a path.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<_> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The session id a Claude command line names, in every spelling the client
/// takes: `--resume ID`, `--resume=ID`, `--session-id ID`, `--session-id=ID`,
/// `-r ID`, `-rID`, and `-r` at the end of a cluster of short flags
/// (`-pr ID`). Only a UUID counts (`--resume` alone opens a picker;
/// `--resume words` searches), in lower case: one lock per session, however
/// it is written.
pub fn from_command(args: &[OsString]) -> Option<String> {
    let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    let next = |i: usize| args.get(i + 1).copied();
    args.iter().enumerate().find_map(|(i, a)| {
        let value = match *a {
            "--resume" | "--session-id" => next(i),
            _ if a.starts_with("--") => a
                .strip_prefix("--resume=")
                .or_else(|| a.strip_prefix("--session-id=")),
            // A cluster of short flags: what follows `r` is its value, or the
            // next argument when `r` ends the cluster.
            _ => a
                .strip_prefix('-')
                .and_then(|flags| flags.split_once('r'))
                .and_then(|(_, rest)| if rest.is_empty() { next(i) } else { Some(rest) }),
        };
        value.filter(|v| is_uuid(v)).map(str::to_ascii_lowercase)
    })
}

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

/// One launch in the registry, as `cf-run ps --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
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

impl Entry {
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
pub fn register(state: &State, entry: &Entry) -> Result<()> {
    // Sharded by pid: each dir stays small however many sessions run, so
    // making an entry costs the same with a thousand of them as with none.
    let dir = state.create(&format!("sessions/{:02x}", entry.pid % SHARDS))?;
    let name = format!("{}.json", entry.pid);
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
                .map_err(|e| anyhow!("openat({name}) => {e}"))?;
            check_own_file(&fd, &name, state.uid).with_context(|| state.refused())?;
            (fd, false)
        }
        fd => (fd.map_err(|e| anyhow!("openat({name}) => {e}"))?, true),
    };
    overwrite(&fd, &json).map_err(|e| {
        // No empty entry left behind (a file-size limit, a full disk).
        if made {
            let _ = unlinkat(&dir, name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        anyhow!("write({name}) => {e}")
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

/// How many dirs the registry is spread over.
const SHARDS: u32 = 64;

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
pub fn live(state: &State) -> Result<Vec<Entry>> {
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
fn live_in(dir: &OwnedFd) -> Result<Vec<Entry>> {
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
        let Some(entry) = bytes.and_then(|b| serde_json::from_slice::<Entry>(&b).ok()) else {
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
    let mut listing = nix::dir::Dir::openat(dir, ".", flags, Mode::empty())
        .map_err(|e| anyhow!("getdents => {e}"))?;
    Ok(listing
        .iter()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str().ok()?;
            parse(name).map(|n| (name.to_owned(), n))
        })
        .collect())
}

/// The live launch holding `session`, if any.
pub fn find(state: &State, session: &str) -> Result<Option<Entry>> {
    Ok(live(state)?
        .into_iter()
        .find(|e| e.session.as_deref() == Some(session)))
}

fn start_ticks(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|(_, ticks)| ticks)
}

/// Whether no process has `pid`: one signal-0 probe, cheaper than reading
/// /proc/PID/stat, which a launch looking at live entries would pay for each.
fn gone(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return true;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(Errno::ESRCH)
}

/// State letter and start time of `pid`, from /proc/PID/stat.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
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

    const ID: &str = "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn recognises_uuids_only() {
        assert!(is_uuid(ID));
        assert!(is_uuid(&ID.to_uppercase()));
        for bad in [
            "",
            "../../etc/passwd",
            "3f0c2a1e9b7d4c558e210a1b2c3d4e5f",
            &format!("{ID}x"),
            &ID.replace('a', "g"),
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn finds_the_session_in_claudes_arguments() {
        for form in [
            args(&["claude", "--resume", ID]),
            args(&["claude", "-p", "x", "-r", ID]),
            args(&["claude", "--session-id", ID, "-p", "x"]),
            args(&["claude", &format!("--resume={ID}")]),
            args(&["claude", &format!("--session-id={ID}")]),
            args(&["claude", &format!("-r{ID}")]),
            args(&["claude", "-pr", ID]),
            args(&["claude", "--resume", &ID.to_uppercase()]),
            args(&["claude", &format!("-r{}", ID.to_uppercase())]),
        ] {
            assert_eq!(from_command(&form).as_deref(), Some(ID), "{form:?}");
        }
        assert_eq!(from_command(&args(&["claude", "--resume"])), None);
        assert_eq!(
            from_command(&args(&["claude", "--resume", "my task"])),
            None
        );
        assert_eq!(from_command(&args(&["claude", "-p", ID])), None);
    }

    #[test]
    fn reads_this_process_from_proc() {
        let (state, ticks) = proc_stat(std::process::id()).unwrap();
        assert!(matches!(state, 'R' | 'S'), "{state}");
        assert!(ticks > 0);
        assert!(proc_stat(u32::MAX).is_none());
    }
}
