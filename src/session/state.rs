//! cf-run's own state, for one user, in two dirs that no session can reach
//! (each is covered in every namespace launch, and nothing above either is
//! the user's to rename):
//!
//! The runtime dir, `/run/user/<uid>/cf-run` where logind made the user's
//! runtime dir (found by uid, never from `$XDG_RUNTIME_DIR`, which the caller
//! sets), else `/tmp/cf-run-<uid>` (cron, su, ssh without logind). Its layout,
//! each part owned by one module:
//! - `locks/<session>.lock`: one per session ([`super::lock`]);
//! - `sessions/<pid % 64>/<pid>.json`: the registry of live launches ([`super::registry`]);
//! - `clients/<pid>/`: a launch's client's per-process files (here);
//! - `daemons/<account>/`: each account's background supervisor's sockets,
//!   bound over `/tmp/cc-daemon-<uid>` in its launches (here).
//!
//! What outlives a reboot, under `<home>/.local/state/cf-run` (home from the
//! password database): `limits.json`, accounts cooling down after a usage
//! limit (`failover`), changed only under `limits.lock`.
//!
//! Nothing here runs with privilege: files are the user's own.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, fstat};
use nix::unistd::{Uid, UnlinkatFlags, unlinkat};

use crate::claude_args::is_uuid;
use crate::resolve::{self, Entry};
use crate::user::User;

/// How many dirs the registry is spread over.
pub(super) const SHARDS: u32 = 64;

/// The largest state file cf-run reads: a client's own file, which its
/// session writes, is a few hundred bytes.
const MAX_FILE: u64 = 1 << 20;

/// Where cf-run keeps its state for one user. Every file in it is reached
/// through a descriptor of its dir, opened without following symlinks.
#[derive(Debug, Clone)]
pub struct State {
    /// The runtime dir: locks, registry, client dirs, supervisor sockets.
    pub dir: PathBuf,
    /// What outlives a reboot: cool-downs.
    pub keep: PathBuf,
    pub(super) uid: Uid,
    /// The runtime dir, opened before the launch covered it: the session's
    /// parent lives in the session's mount namespace, where the path shows
    /// the cover.
    root: Option<Arc<OwnedFd>>,
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        (&self.dir, &self.keep, self.uid) == (&other.dir, &other.keep, other.uid)
    }
}

impl Eq for State {}

impl State {
    pub fn of(user: &User) -> Self {
        Self {
            dir: runtime_dir(user.uid),
            keep: user.home.join(".local/state/cf-run"),
            uid: user.uid,
            root: None,
        }
    }

    /// The user's runtime dir (`/run/user/UID`), when cf-run keeps its
    /// runtime state there.
    pub fn runtime_home(&self) -> Option<PathBuf> {
        let home = self.dir.parent()?;
        home.starts_with("/run/user").then(|| home.to_path_buf())
    }

    /// This state with its runtime dir opened (made if missing) now, to be
    /// reached through that descriptor from here on, covered or not.
    pub fn pinned(&self) -> Result<State> {
        let root = private_dir(&self.dir, self.uid).with_context(|| self.refused())?;
        Ok(State {
            root: Some(Arc::new(root)),
            ..self.clone()
        })
    }

    /// The runtime dir's descriptor: the pinned one, else opened (made if
    /// missing).
    fn top(&self) -> Result<Top<'_>> {
        match &self.root {
            Some(root) => Ok(Top::Pinned(root)),
            None => private_dir(&self.dir, self.uid)
                .map(Top::Opened)
                .with_context(|| self.refused()),
        }
    }

    pub fn lock_path(&self, session: &str) -> PathBuf {
        self.dir.join("locks").join(format!("{session}.lock"))
    }

    /// The dir of `account`'s background supervisor's sockets, made if
    /// missing: its path and a descriptor to mount it through.
    pub fn daemon_dir(&self, account: &str) -> Result<(PathBuf, OwnedFd)> {
        let sub = format!("daemons/{account}");
        let fd = self.create(&sub)?;
        Ok((self.dir.join(sub), fd))
    }

    /// Where a launch's registry entry goes, as `--dry-run` shows it.
    pub fn entry_path_shown(&self) -> String {
        format!(
            "{}/sessions/<pid % {SHARDS}>/<pid>.json",
            self.dir.display()
        )
    }

    /// The runtime dir's `sub` ("" for the top), created (mode 0700) if
    /// missing, each part through its parent's descriptor.
    pub(super) fn create(&self, sub: &str) -> Result<OwnedFd> {
        let top = self.top()?;
        let mut dir: Option<OwnedFd> = None;
        for name in Path::new(sub).iter() {
            let parent = dir.as_ref().map_or(top.as_fd(), |d| d.as_fd());
            let next = resolve::open_or_create_dir(parent, name)
                .map_err(|e| anyhow!("mkdir({}) => {e}", self.dir.join(sub).display()))
                .with_context(|| self.refused())?;
            let st = fstat(&next).map_err(|e| anyhow!("fstat({sub}) => {e}"))?;
            resolve::check_owner(&self.dir.join(sub), &st, self.uid, "cf-run's state dir")
                .with_context(|| self.refused())?;
            dir = Some(next);
        }
        match dir {
            Some(dir) => Ok(dir),
            None => top.owned(),
        }
    }

    /// The runtime dir's `sub`, if it exists: a real directory of the user's.
    pub(super) fn open(&self, sub: &str) -> Result<Option<OwnedFd>> {
        // Reading makes nothing: no runtime dir yet, nothing in it.
        if self.root.is_none() && matches!(resolve::entry(&self.dir)?, Entry::Missing) {
            return Ok(None);
        }
        let top = self.top()?;
        if sub.is_empty() {
            return top.owned().map(Some);
        }
        let path = self.dir.join(sub);
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
        let fd = match resolve::open_at(top.as_fd(), Path::new(sub), flags) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(resolve::refused(&path, e).context(self.refused())),
        };
        let st = fstat(&fd).map_err(|e| anyhow!("fstat({}) => {e}", path.display()))?;
        resolve::check_owner(&path, &st, self.uid, "cf-run's state dir")
            .with_context(|| self.refused())?;
        Ok(Some(fd))
    }

    pub(super) fn refused(&self) -> String {
        format!(
            "cf-run keeps its locks and registry only in real directories of yours under {}, \
             which no one else may write; if something else was put there, remove it (cf-run \
             makes them again)",
            self.dir.display()
        )
    }

    /// This launch's dir for its client's per-process files, made fresh:
    /// `clients/<pid>`, emptied of what a dead launch of the same pid left.
    pub fn client_dir(&self, pid: u32) -> Result<(PathBuf, OwnedFd)> {
        let sub = format!("clients/{pid}");
        let fd = self.create(&sub)?;
        empty(&fd, CLIENT_DEPTH).map_err(|e| anyhow!("emptying {sub}: {e}"))?;
        Ok((self.dir.join(sub), fd))
    }

    /// Where launch `pid`'s client dir is (to watch, not to read: reads go
    /// through [`Self::client_file`]).
    pub fn client_path(&self, pid: u32) -> PathBuf {
        self.dir.join(format!("clients/{pid}"))
    }

    /// Removes this launch's client dir once its session has ended.
    pub fn remove_client_dir(&self, pid: u32) {
        let Ok(Some(clients)) = self.open("clients") else {
            return;
        };
        let name = pid.to_string();
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
        if let Ok(dir) = resolve::open_at(clients.as_fd(), Path::new(&name), flags) {
            let _ = empty(&dir, CLIENT_DEPTH);
            let _ = unlinkat(&clients, name.as_str(), UnlinkatFlags::RemoveDir);
        }
    }

    /// The session the client of launch `pid` is on now, from the file it
    /// keeps for itself (it is pid 2 in the launch's PID namespace).
    pub fn client_session(&self, pid: u32) -> Option<String> {
        let (bytes, _) = self.client_file(pid, "2.json")?;
        let file: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let id = file["sessionId"].as_str()?;
        is_uuid(id).then(|| id.to_ascii_lowercase())
    }

    /// Reads the file `name` of the dir that outlives a reboot, if there is one.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match resolve::entry(&self.keep)? {
            Entry::Dir(fd, st) => {
                resolve::check_owner(&self.keep, &st, self.uid, "cf-run's state dir")?;
                read_at(&fd, name)
            }
            _ => Ok(None),
        }
    }

    /// Reads the file `name` of the runtime dir, if there is one.
    pub fn read_runtime(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.open("")? {
            Some(dir) => read_at(&dir, name),
            None => Ok(None),
        }
    }

    /// Changes the file `name` of the dir that outlives a reboot: `change`
    /// gets what is there now and returns what to write, under an exclusive
    /// lock (`name` without its extension, `.lock`), so that two launches
    /// changing it at once lose neither's change.
    pub fn update<T>(
        &self,
        name: &str,
        change: impl FnOnce(Option<Vec<u8>>) -> Result<(Vec<u8>, T)>,
    ) -> Result<T> {
        let dir = private_dir(&self.keep, self.uid)?;
        update_at(&dir, &self.keep, self.uid, name, change)
    }

    /// [`Self::update`] for a file of the runtime dir.
    pub fn update_runtime<T>(
        &self,
        name: &str,
        change: impl FnOnce(Option<Vec<u8>>) -> Result<(Vec<u8>, T)>,
    ) -> Result<T> {
        update_at(&self.top()?.owned()?, &self.dir, self.uid, name, change)
    }

    /// The file `name` of launch `pid`'s client dir (the client's own, or
    /// what cf-run's tap keeps there): its bytes, read bounded, and when it
    /// was last written, if there is one.
    pub fn client_file(&self, pid: u32, name: &str) -> Option<(Vec<u8>, (i64, i64))> {
        let dir = self.open(&format!("clients/{pid}")).ok()??;
        let (bytes, st) = read_stat_at(&dir, name).ok()??;
        Some((bytes, (st.st_mtime, st.st_mtime_nsec)))
    }
}

/// [`State::update`] in `dir` (shown as `shown`).
fn update_at<T>(
    dir: &OwnedFd,
    shown: &Path,
    uid: Uid,
    name: &str,
    change: impl FnOnce(Option<Vec<u8>>) -> Result<(Vec<u8>, T)>,
) -> Result<T> {
    let lock_name = format!("{}.lock", name.split('.').next().unwrap_or(name));
    let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let lock = openat(
        dir,
        lock_name.as_str(),
        flags,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )
    .map_err(|e| anyhow!("openat({}) => {e}", shown.join(&lock_name).display()))?;
    check_own_file(&lock, &lock_name, uid)?;
    let _held = Flock::lock(File::from(lock), FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow!("flock({lock_name}) => {e}"))?;
    let (bytes, out) = change(read_at(dir, name)?)?;
    write_at(dir, name, &bytes).with_context(|| format!("in {}", shown.display()))?;
    Ok(out)
}

/// How deep cf-run goes into a client dir to empty it: the client keeps
/// flat files there; anything deeper is left for the user.
const CLIENT_DEPTH: u32 = 4;

/// Removes what `dir` holds, through descriptors: files and symlinks are
/// unlinked (never followed), dirs emptied the same way `depth` levels down.
fn empty(dir: &OwnedFd, depth: u32) -> Result<(), Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let list = nix::dir::Dir::openat(dir, ".", flags, Mode::empty())?;
    for entry in list.into_iter().flatten() {
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        if entry.file_type() != Some(nix::dir::Type::Directory) {
            unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?;
        } else if depth > 0 {
            let sub =
                nix::fcntl::openat(dir, name, OFlag::O_PATH | OFlag::O_NOFOLLOW, Mode::empty())?;
            empty(&sub, depth - 1)?;
            unlinkat(dir, name, UnlinkatFlags::RemoveDir)?;
        }
    }
    Ok(())
}

/// The runtime dir's descriptor as [`State::top`] gives it: the pinned one,
/// lent (no dup to make and close), or one just opened.
enum Top<'a> {
    Pinned(&'a OwnedFd),
    Opened(OwnedFd),
}

impl Top<'_> {
    /// A descriptor of its own, for a caller that keeps it.
    fn owned(self) -> Result<OwnedFd> {
        match self {
            Top::Pinned(fd) => fd.try_clone().context("dup(state dir)"),
            Top::Opened(fd) => Ok(fd),
        }
    }
}

impl AsFd for Top<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Top::Pinned(fd) => fd.as_fd(),
            Top::Opened(fd) => fd.as_fd(),
        }
    }
}

/// The user's runtime dir as logind makes it: `/run/user/<uid>`, a real
/// directory of the user's that only they may enter, in root's `/run/user`.
/// Where there is none, `/tmp/cf-run-<uid>`: `/tmp` is root's and sticky, so
/// no one else can rename or remove a dir of the user's there.
/// Looked at once per process (a launch plans with the state `main` made):
/// what it picks is only a path, checked in full where it is opened.
fn runtime_dir(uid: Uid) -> PathBuf {
    static PICKED: std::sync::OnceLock<(Uid, PathBuf)> = std::sync::OnceLock::new();
    if let Some((seen, dir)) = PICKED.get()
        && *seen == uid
    {
        return dir.clone();
    }
    let run = PathBuf::from(format!("/run/user/{uid}"));
    let dir = match resolve::entry(&run) {
        Ok(Entry::Dir(_, st)) if st.st_uid == uid.as_raw() && st.st_mode & 0o077 == 0 => {
            run.join("cf-run")
        }
        _ => PathBuf::from(format!("/tmp/cf-run-{uid}")),
    };
    let _ = PICKED.set((uid, dir.clone()));
    dir
}

/// `path`, made (mode 0700) if missing: a real directory of the user's that
/// no one else may write.
fn private_dir(path: &Path, uid: Uid) -> Result<OwnedFd> {
    let (dir, st) = resolve::make_dirs_stat(path, uid)?;
    resolve::check_owner(path, &st, uid, "cf-run's state dir")?;
    if st.st_mode & 0o022 != 0 {
        bail!(
            "cf-run's state dir {} may be written by others (mode {:o}); chmod 700 {0}",
            path.display(),
            st.st_mode & 0o7777
        );
    }
    Ok(dir)
}

/// Reads the file `name` in `dir` (a regular file, not a symlink), if it
/// exists, and at most `MAX_FILE` bytes of it: a session may have written it.
pub(super) fn read_at(dir: &OwnedFd, name: &str) -> Result<Option<Vec<u8>>> {
    Ok(read_stat_at(dir, name)?.map(|(bytes, _)| bytes))
}

/// [`read_at`], with the file's status as it was read.
fn read_stat_at(dir: &OwnedFd, name: &str) -> Result<Option<(Vec<u8>, FileStat)>> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    match openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => {
            let st = fstat(&fd).map_err(|e| anyhow!("fstat({name}) => {e}"))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                bail!("{name} is not a regular file");
            }
            // State files are small: one read takes all of one unless it fills
            // the buffer (the registry's are ~150 bytes, read by the thousand).
            let mut bytes = vec![0; 8192];
            let n =
                nix::unistd::read(&fd, &mut bytes).map_err(|e| anyhow!("read({name}) => {e}"))?;
            bytes.truncate(n);
            if n == 8192 {
                File::from(fd).take(MAX_FILE).read_to_end(&mut bytes)?;
            }
            Ok(Some((bytes, st)))
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
pub(super) fn check_own_file(fd: &impl AsFd, name: &str, uid: Uid) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use std::fs;

    use nix::fcntl::{AT_FDCWD, open};
    use nix::unistd::getuid;

    use super::*;

    fn dir_fd(path: &std::path::Path) -> OwnedFd {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        open(path, flags, Mode::empty()).unwrap()
    }

    #[test]
    fn a_hard_link_planted_under_a_temp_name_is_never_written_through() {
        let t = tempfile::tempdir().unwrap();
        let transcript = t.path().join("s.jsonl");
        fs::write(&transcript, "turn\n").unwrap();
        fs::hard_link(&transcript, t.path().join(".limits.json.tmp")).unwrap();
        write_at(&dir_fd(t.path()), "limits.json", b"{}").unwrap();
        assert_eq!(fs::read_to_string(&transcript).unwrap(), "turn\n");
        assert_eq!(
            fs::read_to_string(t.path().join("limits.json")).unwrap(),
            "{}"
        );
    }

    #[test]
    fn only_a_single_link_regular_file_of_the_users_counts_as_cf_runs_own() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("x.lock");
        fs::write(&file, "").unwrap();
        let fd = |p: &std::path::Path| {
            nix::fcntl::openat(
                AT_FDCWD,
                p,
                OFlag::O_RDONLY | OFlag::O_NONBLOCK,
                Mode::empty(),
            )
            .unwrap()
        };
        check_own_file(&fd(&file), "x.lock", getuid()).unwrap();
        let other = Uid::from_raw(getuid().as_raw() + 1);
        assert!(check_own_file(&fd(&file), "x.lock", other).is_err());
        fs::hard_link(&file, t.path().join("planted")).unwrap();
        let e = check_own_file(&fd(&file), "x.lock", getuid()).unwrap_err();
        assert!(e.to_string().contains("2 hard links"), "{e}");
        assert!(check_own_file(&fd(t.path()), "dir", getuid()).is_err());
    }
}
