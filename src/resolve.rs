//! Opening paths without following symlinks, and checking what they lead to.
//!
//! Every path cf-run acts on is opened here with openat2(RESOLVE_NO_SYMLINKS),
//! so a symlink planted anywhere along it is refused rather than followed, and
//! the descriptor it returns is what later steps mount, create in or read.

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Error, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, OpenHow, ResolveFlag, openat2, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat, mkdirat};
use nix::unistd::Uid;

/// Why a path was refused, for callers to match on (`doctor` words its fix
/// from it); the message the user reads goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    Missing,
    /// The path is a symlink, to `to`.
    Symlink {
        to: PathBuf,
    },
    /// A symlink on the way to it (`link`, when one is found).
    SymlinkOnTheWay {
        link: Option<PathBuf>,
    },
    /// Not a directory (or, for a file cf-run reads, not a regular file).
    WrongType,
    /// Owned by another uid.
    Owner {
        uid: u32,
    },
    /// Group or others may write to it.
    Writable {
        mode: u32,
    },
    /// A dir on the way is owned by another uid.
    AncestorOwner {
        dir: PathBuf,
        uid: u32,
    },
    /// Group or others may write to a dir on the way, which is not sticky.
    AncestorWritable {
        dir: PathBuf,
        mode: u32,
    },
}

/// A refused path: the error every check here returns, found again through
/// any context with `anyhow::Error::downcast_ref::<Refusal>()`.
#[derive(Debug)]
pub struct Refusal {
    pub why: Why,
    message: String,
}

impl Refusal {
    pub fn error(why: Why, message: String) -> Error {
        Error::new(Refusal { why, message })
    }

    /// The refusal behind `error`, if a path check made it.
    pub fn of(error: &Error) -> Option<&Refusal> {
        error.downcast_ref()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// Opens `path` relative to `dir` (absolute paths ignore `dir`) without
/// following any symlink; a trailing symlink is opened itself when `flags`
/// hold O_PATH|O_NOFOLLOW.
pub fn open_at(dir: BorrowedFd, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(dir, path, how)
}

/// What a path names, opened without following symlinks.
pub enum Entry {
    Missing,
    Dir(OwnedFd, FileStat),
    /// A symlink, with where it points.
    Link(PathBuf),
    /// Anything else: a file, a socket, ...
    Other,
}

/// Looks at `path` itself (a trailing symlink is reported, not followed).
pub fn entry(path: &Path) -> Result<Entry> {
    let fd = match open_at(AT_FDCWD, path, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(Entry::Missing),
        Err(e) => return Err(refused(path, e)),
    };
    let st = fstat(&fd).map_err(|e| anyhow!("fstat({}) => {e}", path.display()))?;
    Ok(
        match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFDIR => Entry::Dir(fd, st),
            SFlag::S_IFLNK => Entry::Link(
                readlinkat(&fd, "")
                    .map_err(|e| anyhow!("readlink({}) => {e}", path.display()))?
                    .into(),
            ),
            _ => Entry::Other,
        },
    )
}

/// Opens `path`, which must be a real directory owned by `uid`. `what` says
/// what it is for the error message ("account compte1's dir").
pub fn owned_dir(path: &Path, uid: Uid, what: &str) -> Result<OwnedFd> {
    owned_dir_stat(path, uid, what).map(|(fd, _)| fd)
}

/// [`owned_dir`], with what the fstat of its descriptor showed.
pub fn owned_dir_stat(path: &Path, uid: Uid, what: &str) -> Result<(OwnedFd, FileStat)> {
    owned_entry(entry(path)?, path, uid, what)
}

/// [`owned_dir_stat`] for `found`, what [`entry`] found at `path`.
fn owned_entry(found: Entry, path: &Path, uid: Uid, what: &str) -> Result<(OwnedFd, FileStat)> {
    match found {
        Entry::Dir(fd, st) => {
            check_owner(path, &st, uid, what)?;
            Ok((fd, st))
        }
        Entry::Missing => Err(Refusal::error(
            Why::Missing,
            format!(
                "{what} {} does not exist; create it (mkdir -m 700 {0})",
                path.display()
            ),
        )),
        Entry::Link(to) => Err(Refusal::error(
            Why::Symlink { to: to.clone() },
            format!(
                "{what} {} is a symlink (to {}); cf-run does not follow symlinks: name the real directory in the config",
                path.display(),
                to.display()
            ),
        )),
        Entry::Other => Err(not_a_dir(path, what)),
    }
}

/// Refuses `path` (what: "account compte1's dir") for not being a directory.
pub fn not_a_dir(path: &Path, what: &str) -> Error {
    let message = format!("{what} {} is not a directory", path.display());
    Refusal::error(Why::WrongType, message)
}

/// Opens `path`, a real directory where the user may create an entry of
/// their own that nobody else can remove: the user's, or root's and sticky
/// (/tmp). In a user namespace root shows as the overflow uid. Opened once:
/// the user's own dir is taken as [`owned_dir`] takes it, before the
/// overflow uid is needed.
pub fn dir_to_create_in(path: &Path, uid: Uid, what: &str) -> Result<OwnedFd> {
    match entry(path)? {
        Entry::Dir(fd, st)
            if st.st_uid == uid.as_raw()
                || (st.st_mode & 0o1000 != 0
                    && (st.st_uid == 0 || Some(st.st_uid) == overflow_uid())) =>
        {
            Ok(fd)
        }
        found => owned_entry(found, path, uid, what).map(|(fd, _)| fd),
    }
}

/// The uid a user namespace shows for ids it does not map (65534 unless the
/// admin changed it), read once per process.
fn overflow_uid() -> Option<u32> {
    static OVERFLOW: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *OVERFLOW.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/overflowuid")
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

/// As OpenSSH's StrictModes, for every dir on the way to `path`: each must
/// be owned by one of `owners` (the user or root) and writable by nobody
/// else, unless sticky (/tmp): whoever may write to one could swap what lies
/// under it between cf-run's check and its use. `what` names `path` in the
/// message.
pub fn safe_ancestors(path: &Path, owners: &[u32], what: &str) -> Result<()> {
    safe_ancestors_in(path, owners, what, &mut Vec::new())
}

/// [`safe_ancestors`], for one pass of checks that walk the same dirs
/// (a launch's: most of its paths are in the home): `passed` holds the
/// dirs whose every step up to `/` passed earlier in the pass, for the
/// same `owners`; the walk ends at the first of them, and adds its own
/// once it has passed.
pub fn safe_ancestors_in(
    path: &Path,
    owners: &[u32],
    what: &str,
    passed: &mut Vec<PathBuf>,
) -> Result<()> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().context("getcwd")?.join(path)
    };
    let fresh: Vec<&Path> = absolute
        .ancestors()
        .skip(1)
        .take_while(|dir| !passed.iter().any(|p| p == dir))
        .collect();
    // Too long a path is too long at its deepest dir first.
    if let Some(deepest) = fresh.first()
        && deepest.as_os_str().len() >= libc::PATH_MAX as usize
    {
        bail!("lstat({}) => {}", deepest.display(), Errno::ENAMETOOLONG);
    }
    // From the top down, each looked at itself (lstat: one call, where an
    // open, fstat and close took three), once the dirs above it passed:
    // none is reached through a symlink, and a symlink on the way is
    // itself refused.
    for &dir in fresh.iter().rev() {
        let st = fstatat(AT_FDCWD, dir, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| anyhow!("lstat({}) => {e}", dir.display()))?;
        match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFDIR => {}
            SFlag::S_IFLNK => return Err(refused(dir, Errno::ELOOP)),
            _ => bail!("{} is not a directory", dir.display()),
        }
        let shown = dir.display();
        if !owners.contains(&st.st_uid) {
            let why = Why::AncestorOwner {
                dir: dir.to_owned(),
                uid: st.st_uid,
            };
            let message = format!(
                "{what} is under {shown}, which is owned by uid {}: only your own dirs and root's \
                 may lead to it; move it elsewhere",
                st.st_uid
            );
            return Err(Refusal::error(why, message));
        }
        if st.st_mode & 0o022 != 0 && st.st_mode & 0o1000 == 0 {
            let mode = st.st_mode & 0o7777;
            let why = Why::AncestorWritable {
                dir: dir.to_owned(),
                mode,
            };
            let message = format!(
                "{what} is in {shown}, which group or others may write to (mode {mode:o}): they \
                 could swap what lies under it; fix it with: chmod go-w {shown}"
            );
            return Err(Refusal::error(why, message));
        }
    }
    passed.extend(fresh.into_iter().map(Path::to_path_buf));
    Ok(())
}

/// Refuses a directory that another user owns.
pub fn check_owner(path: &Path, st: &FileStat, uid: Uid, what: &str) -> Result<()> {
    if st.st_uid != uid.as_raw() {
        let message = format!(
            "{what} {} is owned by uid {}, not by you (uid {uid}); cf-run only mounts your own directories",
            path.display(),
            st.st_uid
        );
        return Err(Refusal::error(Why::Owner { uid: st.st_uid }, message));
    }
    Ok(())
}

/// Opens the directory `name` inside `parent`, creating it (mode 0700) when
/// missing.
pub fn open_or_create_dir(parent: BorrowedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY;
    match open_at(parent, Path::new(name), flags) {
        Err(Errno::ENOENT) => {
            // Another launch may make it at the same moment: theirs is as good.
            match mkdirat(parent, name, Mode::S_IRWXU) {
                Ok(()) | Err(Errno::EEXIST) => open_at(parent, Path::new(name), flags),
                Err(e) => Err(e),
            }
        }
        other => other,
    }
}

/// Creates `path` and any missing parents (mode 0700) without following
/// symlinks; every existing component it passes through must be a directory,
/// and the last one must be the user's.
pub fn make_dirs(path: &Path, uid: Uid) -> Result<OwnedFd> {
    make_dirs_stat(path, uid).map(|(fd, _)| fd)
}

/// [`make_dirs`], with what the fstat of its descriptor showed.
pub fn make_dirs_stat(path: &Path, uid: Uid) -> Result<(OwnedFd, FileStat)> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let dir = match open_at(AT_FDCWD, path, flags) {
        Err(Errno::ENOENT) => create_path(path)?,
        other => other.map_err(|e| refused(path, e))?,
    };
    let st = fstat(&dir).map_err(|e| anyhow!("fstat({}) => {e}", path.display()))?;
    check_owner(path, &st, uid, "shared dir")?;
    Ok((dir, st))
}

/// Walks `path` from `/`, making each missing component (mode 0700).
fn create_path(path: &Path) -> Result<OwnedFd> {
    let mut dir = open_at(AT_FDCWD, Path::new("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|e| refused(Path::new("/"), e))?;
    let mut walked = PathBuf::from("/");
    for name in path.components().skip(1) {
        walked.push(name);
        dir = open_or_create_dir(dir.as_fd(), name.as_os_str()).map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => refused(&walked, Errno::ELOOP),
            e => anyhow!("mkdir({}) => {e}", walked.display()),
        })?;
    }
    Ok(dir)
}

/// Whether the directory open at `dir` has no entries.
pub fn is_empty_dir(dir: BorrowedFd) -> Result<bool, Errno> {
    let listing = nix::fcntl::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut empty = true;
    crate::sys::dir_names(listing.as_fd(), |name| {
        empty = matches!(name, b"." | b"..");
        empty
    })?;
    Ok(empty)
}

/// Counts the transcripts (`*.jsonl`) and all files below `dir`, without
/// following symlinks. Only used to word a refusal, so errors count as nothing.
pub fn count_files(dir: &Path) -> (usize, usize) {
    let (mut transcripts, mut files) = (0, 0);
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(_) => {
                    files += 1;
                    transcripts += usize::from(e.path().extension() == Some(OsStr::new("jsonl")));
                }
                Err(_) => {}
            }
        }
    }
    (transcripts, files)
}

/// Whether the symlink at `link`, which holds `to`, leads to the directory
/// `dir` without passing through another symlink.
pub fn link_leads_to(link: &Path, to: &Path, dir: &Path) -> bool {
    let target = link.parent().unwrap_or(Path::new("/")).join(to);
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match (
        open_at(AT_FDCWD, &target, flags),
        open_at(AT_FDCWD, dir, flags),
    ) {
        (Ok(a), Ok(b)) => same_inode(a.as_fd(), b.as_fd()),
        _ => false,
    }
}

/// Whether two descriptors name the same inode.
pub fn same_inode(a: BorrowedFd, b: BorrowedFd) -> bool {
    match (fstat(a), fstat(b)) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => false,
    }
}

/// Larger than any real config; stops a hostile file from eating memory.
const MAX_TRUSTED_SIZE: u64 = 1 << 20;

/// Reads a small text file (`what`: "config", "policy") that only `owners`
/// (described as `who`) may have written: a regular file reached without
/// symlinks, owned by one of them, not writable by group or others.
/// `Ok(None)` when it does not exist.
pub fn read_trusted(path: &Path, owners: &[u32], who: &str, what: &str) -> Result<Option<String>> {
    let shown = path.display();
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
    let fd = match open_at(AT_FDCWD, path, flags) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => {
            let message = format!(
                "{what} {shown} is or passes through a symlink; cf-run does not follow symlinks: use the real path"
            );
            let why = Why::SymlinkOnTheWay {
                link: symlink_on(path),
            };
            return Err(Refusal::error(why, message));
        }
        Err(e) => return Err(refused(path, e).context(format!("cannot open the {what}"))),
    };
    let st = fstat(&fd).map_err(|e| anyhow!("fstat({shown}) => {e}"))?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        let message = format!("{what} {shown} is not a regular file");
        return Err(Refusal::error(Why::WrongType, message));
    }
    safe_ancestors(path, owners, &format!("{what} {shown}"))?;
    // Never read a prefix: a cut-off config could drop accounts to cover.
    if st.st_size as u64 > MAX_TRUSTED_SIZE {
        bail!("{what} {shown} is larger than {MAX_TRUSTED_SIZE} bytes; no real {what} is");
    }
    if !owners.contains(&st.st_uid) {
        let message = format!(
            "{what} {shown} is owned by uid {}, not by {who}; cf-run only trusts a {what} that {who} wrote",
            st.st_uid
        );
        return Err(Refusal::error(Why::Owner { uid: st.st_uid }, message));
    }
    if st.st_mode & 0o022 != 0 {
        let mode = st.st_mode & 0o7777;
        let message = format!(
            "{what} {shown} is writable by group or others (mode {mode:o}); fix it with: chmod go-w {shown}"
        );
        return Err(Refusal::error(Why::Writable { mode }, message));
    }
    let mut text = String::with_capacity(st.st_size as usize);
    std::fs::File::from(fd)
        .take(MAX_TRUSTED_SIZE)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {what} {shown} (it must be UTF-8 text)"))?;
    Ok(Some(text))
}

/// Explains why `path` could not be opened, naming the symlink when one is in
/// the way.
pub fn refused(path: &Path, errno: Errno) -> Error {
    match errno {
        Errno::ELOOP | Errno::EXDEV => {
            let link = symlink_on(path);
            let message = match &link {
                Some(link) => format!(
                    "{}: {} is a symlink, and cf-run resolves paths without following symlinks; \
                     use the real path (realpath {0})",
                    path.display(),
                    link.display()
                ),
                None => format!(
                    "openat2({}, RESOLVE_NO_SYMLINKS) => {errno}",
                    path.display()
                ),
            };
            Refusal::error(Why::SymlinkOnTheWay { link }, message)
        }
        Errno::ENOSYS => anyhow!("openat2 => ENOSYS: cf-run needs Linux 5.12 or newer"),
        _ => anyhow!("openat2({}) => {errno}", path.display()),
    }
}

/// The symlink on the way to `path`, to name it in a refusal (a look only:
/// nothing is opened through it).
fn symlink_on(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|p| {
            p.symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
        })
        .map(Path::to_path_buf)
}

/// `path` with each symlink on its way followed where only root could have
/// made or changed it (the link root's, in a dir root's that no one else
/// may write), as sshd trusts the way to a home: `/home/u -> /srv/u` on a
/// host that moved its homes. With any other symlink on the way, `path`
/// comes back as it is: what opens through it refuses it, naming the link.
pub fn root_links_followed(path: &Path) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let parts = |p: &Path| -> Vec<std::ffi::OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_owned()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .collect()
    };
    let mut out = PathBuf::from("/");
    let mut todo: std::collections::VecDeque<_> = parts(path).into();
    let mut hops = 0;
    while let Some(part) = todo.pop_front() {
        if part == ".." {
            out.pop();
            continue;
        }
        let next = out.join(&part);
        let Ok(meta) = std::fs::symlink_metadata(&next) else {
            return path.to_path_buf();
        };
        if !meta.file_type().is_symlink() {
            out = next;
            continue;
        }
        let parent = std::fs::symlink_metadata(&out);
        let roots = parent.is_ok_and(|p| p.uid() == 0 && p.mode() & 0o022 == 0);
        hops += 1;
        let Ok(target) = std::fs::read_link(&next) else {
            return path.to_path_buf();
        };
        if meta.uid() != 0 || !roots || hops > 40 {
            return path.to_path_buf();
        }
        if target.is_absolute() {
            out = PathBuf::from("/");
        }
        for (k, c) in parts(&target).into_iter().enumerate() {
            todo.insert(k, c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    use nix::unistd::getuid;
    use nix::unistd::mkfifo;

    use super::*;

    #[test]
    fn a_dir_is_empty_with_only_dot_and_dotdot_in_it() {
        let t = tempfile::tempdir().unwrap();
        let open = |p: &Path| open_at(AT_FDCWD, p, OFlag::O_PATH | OFlag::O_DIRECTORY).unwrap();
        assert!(is_empty_dir(open(t.path()).as_fd()).unwrap());
        // Past one buffer's worth of entries, the last one still counts.
        for i in 0..300 {
            fs::create_dir(t.path().join(format!("{i:0>40}"))).unwrap();
        }
        let listing = nix::fcntl::openat(
            AT_FDCWD,
            t.path(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        let mut names = 0;
        crate::sys::dir_names(listing.as_fd(), |_| {
            names += 1;
            true
        })
        .unwrap();
        assert_eq!(names, 302);
        for i in 0..300 {
            fs::remove_dir(t.path().join(format!("{i:0>40}"))).unwrap();
        }
        fs::write(t.path().join("z"), "").unwrap();
        assert!(!is_empty_dir(open(t.path()).as_fd()).unwrap());
        fs::remove_file(t.path().join("z")).unwrap();
        assert!(is_empty_dir(open(t.path()).as_fd()).unwrap());
    }

    #[test]
    fn only_root_links_in_root_dirs_are_followed_on_the_way() {
        if !nix::unistd::getuid().is_root() {
            return; // the links must be root's
        }
        let top = tempfile::tempdir().unwrap();
        let (real, moved) = (top.path().join("srv"), top.path().join("home"));
        std::fs::create_dir_all(real.join("u")).unwrap();
        std::fs::create_dir(&moved).unwrap();
        std::os::unix::fs::symlink(&real, moved.join("to-srv")).unwrap();
        std::os::unix::fs::symlink("../srv/u", moved.join("u")).unwrap();
        let home = moved.join("u");
        assert_eq!(root_links_followed(&home), real.join("u"));
        assert_eq!(root_links_followed(&moved.join("to-srv/u")), real.join("u"));
        assert_eq!(root_links_followed(&real.join("u")), real.join("u"));
        // A dir others may write: its link is anyone's to swap.
        std::fs::set_permissions(&moved, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(root_links_followed(&home), home);
        std::fs::set_permissions(&moved, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A link of someone else's.
        std::os::unix::fs::lchown(moved.join("u"), Some(65534), None).unwrap();
        assert_eq!(root_links_followed(&home), home);
    }

    fn why(result: Result<impl Sized>) -> Why {
        let error = result.err().expect("refused");
        Refusal::of(&error).expect("a Refusal").why.clone()
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_trailing_symlink_is_reported_and_never_followed() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        let link = t.path().join("link");
        fs::create_dir(&real).unwrap();
        symlink(&real, &link).unwrap();
        assert!(matches!(entry(&link).unwrap(), Entry::Link(to) if to == real));
        assert_eq!(
            why(owned_dir(&link, getuid(), "dir")),
            Why::Symlink { to: real }
        );
    }

    #[test]
    fn a_symlink_on_the_way_is_refused_and_named() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("real/sub")).unwrap();
        let via = t.path().join("via");
        symlink(t.path().join("real"), &via).unwrap();
        let link = Some(via.clone());
        assert_eq!(
            why(owned_dir(&via.join("sub"), getuid(), "dir")),
            Why::SymlinkOnTheWay { link: link.clone() }
        );
        // make_dirs neither follows it nor creates anything through it.
        assert_eq!(
            why(make_dirs(&via.join("sub/new"), getuid())),
            Why::SymlinkOnTheWay { link }
        );
        assert!(!t.path().join("real/sub/new").exists());
    }

    #[test]
    fn a_descriptor_stays_on_the_dir_that_was_checked_when_the_path_is_swapped() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("dir");
        let other = t.path().join("other");
        fs::create_dir(&dir).unwrap();
        fs::create_dir(&other).unwrap();
        let fd = owned_dir(&dir, getuid(), "dir").unwrap();
        let checked = fstat(&fd).unwrap().st_ino;
        fs::rename(&dir, t.path().join("moved")).unwrap();
        symlink(&other, &dir).unwrap();
        assert_eq!(fstat(&fd).unwrap().st_ino, checked);
        assert_ne!(fs::metadata(&dir).unwrap().ino(), checked);
    }

    #[test]
    fn missing_files_fifos_and_another_owner_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let me = getuid();
        assert_eq!(
            why(owned_dir(&t.path().join("no"), me, "dir")),
            Why::Missing
        );
        let file = t.path().join("file");
        fs::write(&file, "x").unwrap();
        assert_eq!(why(owned_dir(&file, me, "dir")), Why::WrongType);
        let fifo = t.path().join("fifo");
        mkfifo(&fifo, Mode::S_IRWXU).unwrap();
        assert_eq!(why(owned_dir(&fifo, me, "dir")), Why::WrongType);
        // Read as a trusted file, a FIFO is refused without blocking.
        assert_eq!(
            why(read_trusted(&fifo, &[me.as_raw(), 0], "you", "config")),
            Why::WrongType
        );
        let someone = Uid::from_raw(me.as_raw() + 1);
        assert_eq!(
            why(owned_dir(t.path(), someone, "dir")),
            Why::Owner { uid: me.as_raw() }
        );
    }

    #[test]
    fn a_dir_on_the_way_that_others_may_write_is_refused_unless_sticky() {
        let t = tempfile::tempdir().unwrap();
        let open = t.path().join("open");
        let target = open.join("account");
        fs::create_dir_all(&target).unwrap();
        let owners = [getuid().as_raw(), 0];
        chmod(&open, 0o777);
        assert_eq!(
            why(safe_ancestors(&target, &owners, "account")),
            Why::AncestorWritable {
                dir: open.clone(),
                mode: 0o777
            }
        );
        chmod(&open, 0o1777);
        safe_ancestors(&target, &owners, "account").unwrap();
        chmod(&open, 0o755);
        safe_ancestors(&target, &owners, "account").unwrap();
        // The first dir on the way from the top that none of the owners
        // owns is the one named.
        let someone = [getuid().as_raw() + 1];
        assert_eq!(
            why(safe_ancestors(&target, &someone, "account")),
            Why::AncestorOwner {
                dir: "/".into(),
                uid: 0
            }
        );
        // A symlink on the way is refused, not followed.
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        assert!(matches!(
            why(safe_ancestors(&link.join("account"), &owners, "account")),
            Why::SymlinkOnTheWay { .. }
        ));
    }

    #[test]
    fn a_pass_of_checks_walks_each_dir_once() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a/x"), t.path().join("b/y"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        let owners = [getuid().as_raw(), 0];
        let mut passed = vec![];
        safe_ancestors_in(&a, &owners, "account", &mut passed).unwrap();
        let all: Vec<_> = a.ancestors().skip(1).map(Path::to_path_buf).collect();
        assert_eq!(passed, all);
        // Only b is new; what lies above it passed already.
        safe_ancestors_in(&b, &owners, "account", &mut passed).unwrap();
        assert_eq!(passed.len(), all.len() + 1);
        assert_eq!(passed.last().unwrap(), &t.path().join("b"));
        // A walk that fails adds nothing.
        let c = t.path().join("c/z");
        fs::create_dir_all(&c).unwrap();
        chmod(&t.path().join("c"), 0o777);
        assert_eq!(
            why(safe_ancestors_in(&c, &owners, "account", &mut passed)),
            Why::AncestorWritable {
                dir: t.path().join("c"),
                mode: 0o777
            }
        );
        assert_eq!(passed.len(), all.len() + 1);
    }

    #[test]
    fn a_trusted_file_must_be_private_small_and_reached_without_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let owners = [getuid().as_raw(), 0];
        let read = |p: &Path| read_trusted(p, &owners, "you or root", "config");
        let file = t.path().join("config.toml");
        assert!(read(&file).unwrap().is_none());
        fs::write(&file, "a = 1\n").unwrap();
        chmod(&file, 0o600);
        assert_eq!(read(&file).unwrap().as_deref(), Some("a = 1\n"));
        chmod(&file, 0o666);
        assert_eq!(why(read(&file)), Why::Writable { mode: 0o666 });
        chmod(&file, 0o600);
        let link = t.path().join("link.toml");
        symlink(&file, &link).unwrap();
        assert_eq!(
            why(read(&link)),
            Why::SymlinkOnTheWay {
                link: Some(link.clone())
            }
        );
        let big = t.path().join("big.toml");
        fs::write(&big, vec![b'#'; MAX_TRUSTED_SIZE as usize + 1]).unwrap();
        chmod(&big, 0o600);
        let e = read(&big).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
    }
}
