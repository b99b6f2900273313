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
use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
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
    renameat2(AT_FDCWD, src, AT_FDCWD, dst, RenameFlags::RENAME_NOREPLACE).map_err(io::Error::from)
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
