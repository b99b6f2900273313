//! The state dir: where cf-run keeps its locks, registry and small files for
//! one user, under `<home>/.local/state/cf-run` (home from the password
//! database). Nothing here runs with privilege: files are the user's own.
//!
//! Its layout, each part owned by one module:
//! - `locks/<session>.lock`: one per session ([`super::lock`]);
//! - `sessions/<pid % 64>/<pid>.json`: the registry of live launches ([`super::registry`]);
//! - `clients/<pid>/`: a launch's client's per-process files (here);
//! - `daemons/<account>/`: each account's background supervisor's sockets,
//!   bound over `/tmp/cc-daemon-<uid>` in its launches (here);
//! - `limits.json`: accounts cooling down after a usage limit (`failover`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, fstat};
use nix::unistd::{Uid, UnlinkatFlags, unlinkat};

use crate::claude_args::is_uuid;
use crate::resolve::{self, Entry};
use crate::user::User;

/// How many dirs the registry is spread over.
pub(super) const SHARDS: u32 = 64;

/// Where cf-run keeps its locks and registry for one user. Every file in it
/// is reached through a descriptor of its dir, opened without following
/// symlinks: a session that swaps a dir for a symlink cannot make cf-run
/// write or delete elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub dir: PathBuf,
    pub(super) uid: Uid,
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

    /// The dirs of each account's background supervisor's sockets.
    pub fn daemons(&self) -> PathBuf {
        self.dir.join("daemons")
    }

    /// The dir of `account`'s background supervisor's sockets, made if missing.
    pub fn daemon_dir(&self, account: &str) -> Result<PathBuf> {
        let sub = format!("daemons/{account}");
        self.create(&sub)?;
        Ok(self.dir.join(sub))
    }

    /// Where a launch's registry entry goes, as `--dry-run` shows it.
    pub fn entry_path_shown(&self) -> String {
        format!(
            "{}/sessions/<pid % {SHARDS}>/<pid>.json",
            self.dir.display()
        )
    }

    /// The state dir `sub` ("" for the top), created (mode 0700) if missing.
    pub(super) fn create(&self, sub: &str) -> Result<OwnedFd> {
        resolve::make_dirs(&self.dir.join(sub), self.uid).with_context(|| self.refused())
    }

    /// The state dir `sub`, if it exists: a real directory of the user's.
    pub(super) fn open(&self, sub: &str) -> Result<Option<OwnedFd>> {
        let path = self.dir.join(sub);
        match resolve::entry(&path).with_context(|| self.refused())? {
            Entry::Missing => Ok(None),
            Entry::Dir(fd, st) => {
                resolve::check_owner(&path, &st, self.uid, "cf-run's state dir")?;
                Ok(Some(fd))
            }
            _ => Err(anyhow!("{} is not a real directory", path.display()).context(self.refused())),
        }
    }

    pub(super) fn refused(&self) -> String {
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
pub(super) fn read_at(dir: &OwnedFd, name: &str) -> Result<Option<Vec<u8>>> {
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
