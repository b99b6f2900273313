//! Carrying out the ops. Within one filesystem a move is a rename: atomic,
//! so a kill leaves the entry either here or there. Across filesystems the
//! entry is copied under the work dir, fsync'd and renamed into place, and
//! its source is removed only once the batch's copies are durable: a kill in
//! between leaves two identical copies, which a rerun reduces to one.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, FileTimes, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;

use super::scan::Kind;
use super::steps::{self, Op, Stamp};

pub struct Mover {
    /// Where copies are made: the work dir, on the shared dir's filesystem.
    tmp: PathBuf,
    next: u64,
    /// Directories known to exist for sure (no symlink among them).
    made: HashSet<PathBuf>,
    /// Sources copied across filesystems, removed at `commit`.
    copied: Vec<PathBuf>,
    /// Directories that received a copy, fsync'd at `commit`.
    dirty: BTreeSet<PathBuf>,
}

impl Mover {
    /// `tmp` must be on the filesystem of `shared`, where everything goes.
    pub fn new(tmp: PathBuf, shared: &Path) -> Self {
        Self {
            tmp,
            next: 0,
            made: HashSet::from([shared.to_path_buf()]),
            copied: Vec::new(),
            dirty: BTreeSet::new(),
        }
    }

    pub fn apply(&mut self, op: &Op) -> io::Result<()> {
        match op {
            Op::Remove { src, was } => {
                unchanged(src, *was)?;
                fs::remove_file(src)
            }
            Op::MkDir { path, mode } => {
                mkdir(path, *mode)?;
                self.made.insert(path.clone());
                Ok(())
            }
            Op::Move { src, dst, replace } => {
                if let Some(parent) = dst.parent() {
                    self.make_dirs(parent)?;
                }
                if let Some(was) = replace {
                    unchanged(dst, *was)?;
                }
                let replace = replace.is_some();
                match rename(src, dst, replace) {
                    Err(e) if e.raw_os_error() == Some(libc::EXDEV) => self.copy(src, dst, replace),
                    other => other,
                }
            }
        }
    }

    /// Makes `dir` and its missing parents (mode 0700), refusing anything
    /// but a real directory on the way.
    fn make_dirs(&mut self, dir: &Path) -> io::Result<()> {
        if self.made.contains(dir) {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.make_dirs(parent)?;
        }
        mkdir(dir, 0o700)?;
        self.made.insert(dir.to_path_buf());
        Ok(())
    }

    /// Copies `src` to `dst` on another filesystem, keeping its mode and times.
    fn copy(&mut self, src: &Path, dst: &Path, replace: bool) -> io::Result<()> {
        let tmp = self.tmp.join(self.next.to_string());
        self.next += 1;
        let meta = fs::symlink_metadata(src)?;
        let made = match Kind::of(meta.file_type()) {
            Kind::File => copy_file(src, &tmp, &meta),
            Kind::Link => copy_link(src, &tmp, &meta),
            Kind::Dir | Kind::Special => Err(io::Error::other(
                "cannot copy it to another filesystem: move it by hand",
            )),
        };
        let placed = made.and_then(|()| rename(&tmp, dst, replace));
        if placed.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        placed?;
        if let Some(parent) = dst.parent() {
            self.dirty.insert(parent.to_path_buf());
        }
        self.copied.push(src.to_path_buf());
        Ok(())
    }

    /// Makes this batch's copies durable, then removes their sources; what
    /// could not be removed, and why.
    pub fn commit(&mut self) -> Vec<(PathBuf, String)> {
        let dirty = std::mem::take(&mut self.dirty);
        let copied = std::mem::take(&mut self.copied);
        for dir in dirty {
            if let Err(e) = fs::File::open(&dir).and_then(|d| d.sync_all()) {
                // Not durable: keep every source; a rerun finds them identical.
                let why = format!("fsync({}) => {e}; its source stays", dir.display());
                return copied.into_iter().map(|c| (c, why.clone())).collect();
            }
        }
        copied
            .into_iter()
            .filter_map(|src| {
                let e = fs::remove_file(&src).err()?;
                Some((src, format!("copied, but cannot remove it ({e})")))
            })
            .collect()
    }
}

/// Refuses a copy that changed since it was compared (something appended to
/// it): removing or replacing it now could lose what was added.
fn unchanged(path: &Path, was: Stamp) -> io::Result<()> {
    if Stamp::of(&fs::symlink_metadata(path)?) != was {
        return Err(io::Error::other(
            "it changed since it was compared; run cf-run init again",
        ));
    }
    Ok(())
}

/// Renames without following symlinks; without `replace` it never replaces
/// anything at `dst`.
fn rename(src: &Path, dst: &Path, replace: bool) -> io::Result<()> {
    if replace {
        return fs::rename(src, dst);
    }
    crate::sys::rename_noreplace(src, dst).map_err(io::Error::from)
}

/// Makes a directory unless a real one is there.
fn mkdir(path: &Path, mode: u32) -> io::Result<()> {
    match nix::unistd::mkdir(path, nix::sys::stat::Mode::from_bits_truncate(mode)) {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST) if fs::symlink_metadata(path)?.is_dir() => Ok(()),
        Err(Errno::EEXIST) => Err(io::Error::other(format!(
            "{} is in the way and is not a directory",
            path.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

fn copy_file(src: &Path, tmp: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let mut from = steps::open(src)?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(meta.mode() & 0o777)
        .custom_flags(libc::O_NOFOLLOW)
        .open(tmp)?;
    io::copy(&mut from, &mut to)?;
    // The times decide which of two diverged copies stays: keep them.
    let times = FileTimes::new()
        .set_accessed(meta.accessed()?)
        .set_modified(meta.modified()?);
    to.set_times(times)?;
    to.sync_all()
}

fn copy_link(src: &Path, tmp: &Path, meta: &fs::Metadata) -> io::Result<()> {
    symlink(fs::read_link(src)?, tmp)?;
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(
        AT_FDCWD,
        tmp,
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn stamp(path: &Path) -> Stamp {
        Stamp::of(&fs::symlink_metadata(path).unwrap())
    }

    #[test]
    fn a_copy_that_changed_since_it_was_compared_is_neither_removed_nor_replaced() {
        let t = tempfile::tempdir().unwrap();
        let (src, dst) = (t.path().join("a.jsonl"), t.path().join("b.jsonl"));
        fs::write(&src, "1\n").unwrap();
        fs::write(&dst, "1\n").unwrap();
        let (was_src, was_dst) = (stamp(&src), stamp(&dst));
        fs::write(&src, "1\n2\n").unwrap();
        fs::write(&dst, "1\n3\n").unwrap();
        let mut mover = Mover::new(t.path().join("tmp"), t.path());
        let remove = Op::Remove {
            src: src.clone(),
            was: was_src,
        };
        assert!(mover.apply(&remove).is_err());
        let replace = Op::Move {
            src: src.clone(),
            dst: dst.clone(),
            replace: Some(was_dst),
        };
        assert!(mover.apply(&replace).is_err());
        assert_eq!(fs::read_to_string(&src).unwrap(), "1\n2\n");
        assert_eq!(fs::read_to_string(&dst).unwrap(), "1\n3\n");
    }

    #[test]
    fn a_move_never_replaces_unasked_nor_goes_through_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        let shared = t.path().join("shared");
        let elsewhere = t.path().join("elsewhere");
        fs::create_dir(&shared).unwrap();
        fs::create_dir(&elsewhere).unwrap();
        let src = t.path().join("s.jsonl");
        fs::write(&src, "new\n").unwrap();
        fs::write(shared.join("s.jsonl"), "kept\n").unwrap();
        let mut mover = Mover::new(t.path().join("tmp"), &shared);
        let onto = Op::Move {
            src: src.clone(),
            dst: shared.join("s.jsonl"),
            replace: None,
        };
        assert!(mover.apply(&onto).is_err());
        assert_eq!(
            fs::read_to_string(shared.join("s.jsonl")).unwrap(),
            "kept\n"
        );
        symlink(&elsewhere, shared.join("-w")).unwrap();
        let through = Op::Move {
            src: src.clone(),
            dst: shared.join("-w/sub/s.jsonl"),
            replace: None,
        };
        assert!(mover.apply(&through).is_err());
        assert!(src.exists());
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }
}
