//! The mounts of a namespace launch, made through descriptors: each path is
//! opened without following symlinks and checked, and the mount is attached
//! to exactly what was checked. Flags are set on the detached copy before it
//! is attached, so no moment exists where the mount lacks nosuid or nodev.

use std::borrow::Cow;
use std::ffi::{CStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use nix::fcntl::{AT_FDCWD, OFlag};
use nix::sys::statvfs::{FsFlags, fstatvfs};
use nix::unistd::Uid;

use crate::namespace::Privilege;
use crate::resolve::{self, Entry};
use crate::sys::{self, Identity};

const BIND_FLAGS: u64 = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
const COVER_FLAGS: u64 = BIND_FLAGS | libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC;
const PROC_FLAGS: u64 = BIND_FLAGS | libc::MOUNT_ATTR_NOEXEC;

/// Binds the directory `src` (with any mounts below it) over `dst`.
pub fn bind(src: &Path, dst: &Path, uid: Uid, privilege: &Privilege) -> Result<Option<Expect>> {
    let source = resolve::owned_dir(src, uid, "bind source")?;
    bind_fd(source, src, dst, uid, privilege)
}

/// The same, read-only: nothing in the session can change what it shows.
pub fn bind_ro(src: &Path, dst: &Path, uid: Uid, privilege: &Privilege) -> Result<Option<Expect>> {
    let source = resolve::owned_dir(src, uid, "bind source")?;
    bind_with(
        source,
        src,
        (dst, resolve::entry(dst)?),
        uid,
        privilege,
        true,
    )
}

/// Binds the directory `source`, already opened (and checked) as `src`, over `dst`.
pub fn bind_fd(
    source: OwnedFd,
    src: &Path,
    dst: &Path,
    uid: Uid,
    privilege: &Privilege,
) -> Result<Option<Expect>> {
    bind_fd_onto(source, src, (dst, resolve::entry(dst)?), uid, privilege)
}

/// [`bind_fd`] onto `found`, what [`resolve::entry`] just found at `dst`.
pub fn bind_fd_onto(
    source: OwnedFd,
    src: &Path,
    (dst, found): (&Path, Entry),
    uid: Uid,
    privilege: &Privilege,
) -> Result<Option<Expect>> {
    bind_with(source, src, (dst, found), uid, privilege, false)
}

fn bind_with(
    source: OwnedFd,
    src: &Path,
    (dst, found): (&Path, Entry),
    uid: Uid,
    privilege: &Privilege,
    read_only: bool,
) -> Result<Option<Expect>> {
    let (s, d) = (src.display(), dst.display());
    let (attrs, mut flags) = (BIND_FLAGS, FsFlags::ST_NOSUID | FsFlags::ST_NODEV);
    let (attrs, shown) = if read_only {
        flags |= FsFlags::ST_RDONLY;
        (attrs | libc::MOUNT_ATTR_RDONLY, "rdonly|nosuid|nodev")
    } else {
        (attrs, "nosuid|nodev")
    };
    let target = match found {
        Entry::Dir(fd, st) => {
            resolve::check_owner(dst, &st, uid, "mount target")?;
            fd
        }
        Entry::Missing => create_dir(dst, uid)?,
        // The older symlink layout already shows `src` at `dst`.
        Entry::Link(to) if resolve::link_leads_to(dst, &to, src) => {
            tracing::debug!("{d} already is a symlink to {s}: nothing to mount");
            return Ok(None);
        }
        Entry::Link(to) => bail!(
            "mount target {d} is a symlink (to {}); refusing to mount over it",
            to.display()
        ),
        Entry::Other => bail!("mount target {d} is not a directory"),
    };
    let mount = privilege.with(|| clone_onto(&source, &target, (attrs, shown), (src, dst)))?;
    tracing::debug!("bound {s} over {d} ({shown})");
    Ok(Some(Expect {
        target: dst.to_path_buf(),
        mount,
        flags,
    }))
}

/// Hides `dir` under an empty read-only tmpfs; an absent dir needs nothing.
pub fn cover(dir: &Path, uid: Uid, privilege: &Privilege) -> Result<Option<Expect>> {
    cover_onto((dir, resolve::entry(dir)?), uid, privilege)
}

/// [`cover`] onto `found`, what was just found (opened without following
/// symlinks) at `dir`.
pub fn cover_onto(
    (dir, found): (&Path, Entry),
    uid: Uid,
    privilege: &Privilege,
) -> Result<Option<Expect>> {
    let d = dir.display();
    let target = match found {
        Entry::Missing => return Ok(None),
        Entry::Dir(fd, st) => {
            resolve::check_owner(dir, &st, uid, "directory to cover")?;
            fd
        }
        Entry::Link(_) | Entry::Other => bail!("{d} is not a real directory; refusing to cover it"),
    };
    // An empty root that anyone may list: nothing to see, nothing to write.
    let options = [(c"mode", c"0555"), (c"size", c"4k")];
    let mount = privilege.with(|| new_tmpfs(&options, COVER_FLAGS, &target, dir))?;
    tracing::debug!("covered {d}");
    Ok(Some(Expect {
        target: dir.to_path_buf(),
        mount,
        flags: FsFlags::ST_RDONLY | FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_NOEXEC,
    }))
}

/// Mounts an empty tmpfs, sticky and writable by all as /tmp is, over the
/// system dir `dir`.
pub fn tmpfs(dir: &Path, privilege: &Privilege) -> Result<Option<Expect>> {
    let target = open_system_dir(dir)?;
    let mount = privilege.with(|| new_tmpfs(&[(c"mode", c"1777")], BIND_FLAGS, &target, dir))?;
    Ok(Some(Expect {
        target: dir.to_path_buf(),
        mount,
        flags: FsFlags::ST_NOSUID | FsFlags::ST_NODEV,
    }))
}

/// Mounts an empty tmpfs, the user's and theirs only, over their runtime
/// dir `dir` (a real directory of theirs).
pub fn private_runtime(dir: &Path, uid: Uid, privilege: &Privilege) -> Result<Option<Expect>> {
    let target = resolve::owned_dir(dir, uid, "runtime dir")?;
    let options = [(c"mode", c"0700")];
    let mount = privilege.with(|| new_tmpfs(&options, BIND_FLAGS, &target, dir))?;
    Ok(Some(Expect {
        target: dir.to_path_buf(),
        mount,
        flags: FsFlags::ST_NOSUID | FsFlags::ST_NODEV,
    }))
}

/// Binds the socket `socket` (opened on the host's view) to the same path
/// in the session's own /tmp or runtime dir, on a new empty file there.
pub fn keep_socket(
    socket: OwnedFd,
    path: &Path,
    uid: Uid,
    privilege: &Privilege,
) -> Result<Option<Expect>> {
    let shown = path.display();
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        bail!("socket {shown} has no parent directory");
    };
    let dir = resolve::make_dirs(parent, uid)?;
    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW;
    let made = nix::fcntl::openat(&dir, name, flags, nix::sys::stat::Mode::S_IRUSR)
        .map_err(|e| anyhow!("openat({shown}) => {e}"))?;
    drop(made);
    let target = resolve::open_at(
        dir.as_fd(),
        Path::new(name),
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
    )
    .map_err(|e| resolve::refused(path, e))?;
    let attrs = (BIND_FLAGS, "nosuid|nodev");
    let mount = privilege.with(|| clone_onto(&socket, &target, attrs, (path, path)))?;
    Ok(Some(Expect {
        target: path.to_path_buf(),
        mount,
        flags: FsFlags::ST_NOSUID | FsFlags::ST_NODEV,
    }))
}

/// Clones the mount at `source` (the path `src`), sets `attrs` (shown as
/// named) on the detached copy, and attaches it onto `target` (`dst`).
fn clone_onto(
    source: &OwnedFd,
    target: &OwnedFd,
    (attrs, shown): (u64, &str),
    (src, dst): (&Path, &Path),
) -> Result<Identity> {
    let (s, d) = (src.display(), dst.display());
    let tree = sys::clone_tree(source.as_fd()).map_err(|e| anyhow!("open_tree({s}) => {e}"))?;
    sys::set_attrs(tree.as_fd(), attrs)
        .map_err(|e| anyhow!("mount_setattr({s}, {shown}) => {e}"))?;
    let mount = identify(tree.as_fd(), src)?;
    sys::attach(tree.as_fd(), target.as_fd())
        .map_err(|e| anyhow!("move_mount({s}, {d}) => {e}"))?;
    Ok(mount)
}

/// Mounts a new tmpfs with `options` and `attrs` on `target` (the dir `dir`).
fn new_tmpfs(
    options: &[(&CStr, &CStr)],
    attrs: u64,
    target: &OwnedFd,
    dir: &Path,
) -> Result<Identity> {
    let d = dir.display();
    let tmp =
        sys::new_fs(c"tmpfs", options, attrs).map_err(|e| anyhow!("fsmount(tmpfs) => {e}"))?;
    let mount = identify(tmp.as_fd(), dir)?;
    sys::attach(tmp.as_fd(), target.as_fd())
        .map_err(|e| anyhow!("move_mount(tmpfs, {d}) => {e}"))?;
    Ok(mount)
}

/// A fixed system dir (/proc, /tmp), opened to mount on without following
/// any symlink.
fn open_system_dir(dir: &Path) -> Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
    resolve::open_at(AT_FDCWD, dir, flags).map_err(|e| resolve::refused(dir, e))
}

/// Mounts the PID namespace's own procfs over /proc: the session sees its
/// own processes there, none of the user's others (no `/proc/PID/root`
/// around the covers, no `/proc/PID/environ`).
pub fn proc(privilege: &Privilege) -> Result<()> {
    let target = open_system_dir(Path::new("/proc"))?;
    privilege.with(|| {
        let proc = sys::new_fs(c"proc", &[], PROC_FLAGS).map_err(|e| {
            anyhow!("fsmount(proc) => {e}; the kernel refuses a new /proc where the host's is partly hidden (a container's masked /proc)")
        })?;
        sys::attach(proc.as_fd(), target.as_fd()).map_err(|e| anyhow!("move_mount(proc, /proc) => {e}"))
    })
}

/// The mounts of a namespace as `/proc/<pid>/mountinfo` lists them, read
/// once for every dir a launch covers: the device, the root within it and
/// the mount point of each, as byte strings (unescaped only where the
/// kernel escaped a character).
pub struct MountTable<'a> {
    mounts: Vec<MountLine<'a>>,
}

struct MountLine<'a> {
    dev: &'a [u8],
    root: Cow<'a, [u8]>,
    point: Cow<'a, [u8]>,
}

impl<'a> MountTable<'a> {
    pub fn parse(mountinfo: &'a str) -> Self {
        let mounts = mountinfo
            .as_bytes()
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let mut fields = line.split(|&b| b == b' ').skip(2);
                Some(MountLine {
                    dev: fields.next()?,
                    root: unescape(fields.next()?),
                    point: unescape(fields.next()?),
                })
            })
            .collect();
        MountTable { mounts }
    }

    /// The other places where `dir`'s contents can be reached: under every
    /// other mount of the same filesystem whose root holds `dir` (a bind of
    /// /home elsewhere, a second mount of the same btrfs), and every mount
    /// of something inside `dir`. A cover over `dir` alone would leave
    /// those open.
    pub fn aliases(&self, dir: &Path) -> Vec<PathBuf> {
        // The kernel writes mount points without `.`, `//` or a trailing
        // slash: so compared, `dir` is too.
        let dir: PathBuf = dir.components().collect();
        let dir = dir.as_os_str().as_bytes();
        // The mount `dir` is reached through: the deepest, the last one mounted.
        let Some((held, holder)) = self
            .mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| below(dir, &m.point).is_some())
            .max_by_key(|(i, m)| (m.point.len(), *i))
        else {
            return vec![];
        };
        let Some(rest) = below(dir, &holder.point) else {
            return vec![];
        };
        let inside = join(&holder.root, rest);
        let mut found: Vec<PathBuf> = self
            .mounts
            .iter()
            .enumerate()
            .filter(|&(i, m)| i != held && m.dev == holder.dev && below(&m.point, dir).is_none())
            .filter_map(|(_, m)| match below(&inside, &m.root) {
                Some(rest) => Some(join(&m.point, rest)),
                None => below(&m.root, &inside).map(|_| m.point.to_vec()),
            })
            .filter(|alias| alias.as_slice() != dir)
            .map(|alias| PathBuf::from(OsString::from_vec(alias)))
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

/// What is left of `path` below `top` (both absolute, in the kernel's form),
/// if it is `top` or under it: `b""` for `top` itself.
fn below<'p>(path: &'p [u8], top: &[u8]) -> Option<&'p [u8]> {
    if top == b"/" {
        return path.strip_prefix(b"/");
    }
    match path.strip_prefix(top)? {
        [] => Some(&[]),
        [b'/', rest @ ..] => Some(rest),
        _ => None,
    }
}

/// `top`, then `rest` below it.
fn join(top: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut path = top.to_vec();
    if !rest.is_empty() {
        if path.last() != Some(&b'/') {
            path.push(b'/');
        }
        path.extend_from_slice(rest);
    }
    path
}

/// A mountinfo path: space, tab, newline and backslash come as octal escapes.
fn unescape(field: &[u8]) -> Cow<'_, [u8]> {
    if !field.contains(&b'\\') {
        return Cow::Borrowed(field);
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (field[i], octal) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u8, |n, b| n.wrapping_mul(8) + (b - b'0')));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// The mount id and root inode of the detached mount `tree`.
fn identify(tree: BorrowedFd, what: &Path) -> Result<Identity> {
    sys::identity(tree).map_err(|e| anyhow!("statx({}, STATX_MNT_ID) => {e}", what.display()))
}

/// A mount just made: where, which one, and the flags it must have.
pub struct Expect {
    target: PathBuf,
    mount: Identity,
    flags: FsFlags,
}

/// Confirms, after all the mounts, that each target path leads to the root
/// of the very mount made for it (same mount id, same inode) and that the
/// mount has its flags: proof that nothing raced a mount elsewhere, covered
/// one, or dropped a flag.
pub fn confirm(expected: &[Expect]) -> Result<()> {
    for Expect {
        target,
        mount,
        flags,
    } in expected
    {
        let shown = target.display();
        let now = resolve::open_at(AT_FDCWD, target, OFlag::O_PATH | OFlag::O_NOFOLLOW)
            .map_err(|e| resolve::refused(target, e))?;
        let found = sys::identity(now.as_fd()).map_err(|e| anyhow!("statx({shown}) => {e}"))?;
        if found != *mount {
            bail!(
                "after mounting, {shown} leads elsewhere (mount {}, not {}); refusing to run the command",
                found.mount,
                mount.mount
            );
        }
        let has = fstatvfs(&now)
            .map_err(|e| anyhow!("fstatvfs({shown}) => {e}"))?
            .flags();
        if !has.contains(*flags) {
            bail!(
                "the mount at {shown} lacks {:?} (has {has:?}); refusing to run the command",
                *flags - has
            );
        }
    }
    Ok(())
}

/// Creates the missing mount target `dst` (mode 0700) in its parent, which
/// must be a directory the user owns.
fn create_dir(dst: &Path, uid: Uid) -> Result<OwnedFd> {
    let d = dst.display();
    let (Some(parent), Some(name)) = (dst.parent(), dst.file_name()) else {
        bail!("mount target {d} has no parent directory");
    };
    let parent_fd = resolve::dir_to_create_in(parent, uid, "the parent of mount target")?;
    let fd = resolve::open_or_create_dir(parent_fd.as_fd(), name)
        .map_err(|e| anyhow!("mkdirat({d}) => {e}"))
        .context("cannot create the mount target")?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| anyhow!("fstat({d}) => {e}"))?;
    resolve::check_owner(dst, &st, uid, "mount target")?;
    tracing::debug!("created {d}");
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:25 / /proc rw - proc proc rw
41 22 254:0 /home /srv/home\\040copy rw shared:1 - ext4 /dev/vda rw
42 22 254:0 /home/u/.claude-two/sub /mnt/sub rw - ext4 /dev/vda rw
43 22 254:0 /var /var2 rw - ext4 /dev/vda rw
";

    fn aliases(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
        MountTable::parse(mountinfo).aliases(dir)
    }

    #[test]
    fn a_second_mount_of_the_home_is_an_alias() {
        let dir = Path::new("/home/u/.claude-two");
        assert_eq!(
            aliases(HOST, dir),
            [
                PathBuf::from("/mnt/sub"),
                PathBuf::from("/srv/home copy/u/.claude-two")
            ]
        );
        assert_eq!(
            aliases(HOST, Path::new("/var/x")),
            [PathBuf::from("/var2/x")]
        );
        let plain = HOST.lines().take(2).collect::<Vec<_>>().join("\n");
        assert!(aliases(&plain, dir).is_empty());
        // A dir written with a doubled or trailing slash is the same dir.
        assert_eq!(
            aliases(HOST, Path::new("//home/u//.claude-two/")),
            aliases(HOST, dir)
        );
    }

    /// The aliases as `Path` sees paths (component by component): what the
    /// byte comparisons must agree with.
    fn aliases_by_components(table: &[(&str, &str, &str)], dir: &Path) -> Vec<PathBuf> {
        let Some((held, (_, hroot, hpoint))) = table
            .iter()
            .enumerate()
            .filter(|(_, m)| dir.starts_with(m.2))
            .max_by_key(|(i, m)| (Path::new(m.2).components().count(), *i))
        else {
            return vec![];
        };
        let inside = Path::new(hroot).join(dir.strip_prefix(hpoint).unwrap());
        let mut found: Vec<PathBuf> = table
            .iter()
            .enumerate()
            .filter(|&(i, m)| i != held && m.0 == table[held].0 && !Path::new(m.2).starts_with(dir))
            .filter_map(|(_, m)| match inside.strip_prefix(m.1) {
                Ok(rest) => Some(Path::new(m.2).join(rest)),
                Err(_) => Path::new(m.1).starts_with(&inside).then(|| m.2.into()),
            })
            .filter(|alias| alias != dir)
            .map(|alias| alias.components().collect())
            .collect();
        found.sort();
        found.dedup();
        found
    }

    proptest::proptest! {
        #[test]
        fn bytes_and_components_find_the_same_aliases(
            table in proptest::collection::vec(
                (0..2u8, "(/(a|b|ab)){0,3}", "(/(a|b|ab)){0,3}"),
                1..6,
            ),
            dir in "(/(a|b|ab)){1,3}/?",
        ) {
            let slash = |p: String| if p.is_empty() { "/".to_owned() } else { p };
            let table: Vec<_> = table
                .into_iter()
                .map(|(dev, root, point)| (format!("0:{dev}"), slash(root), slash(point)))
                .collect();
            let lines: String = table
                .iter()
                .enumerate()
                .map(|(i, (dev, root, point))| format!("{i} 1 {dev} {root} {point} rw - x x rw\n"))
                .collect();
            let borrowed: Vec<_> = table.iter().map(|(d, r, p)| (d.as_str(), r.as_str(), p.as_str())).collect();
            proptest::prop_assert_eq!(
                aliases(&lines, Path::new(&dir)),
                aliases_by_components(&borrowed, Path::new(&dir))
            );
        }
    }
}
