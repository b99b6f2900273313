//! The mounts of a namespace launch, made through descriptors: each path is
//! opened without following symlinks and checked, and the mount is attached
//! to exactly what was checked. Flags are set on the detached copy before it
//! is attached, so no moment exists where the mount lacks nosuid or nodev.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use nix::fcntl::{AT_FDCWD, OFlag};
use nix::unistd::Uid;

use crate::namespace::Privilege;
use crate::resolve::{self, Entry};
use crate::sys;

const BIND_FLAGS: u64 = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
const COVER_FLAGS: u64 = BIND_FLAGS | libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC;

/// Binds the directory `src` (with any mounts below it) over `dst`.
pub fn bind(src: &Path, dst: &Path, uid: Uid, privilege: &Privilege) -> Result<Option<Expect>> {
    let (s, d) = (src.display(), dst.display());
    let source = resolve::owned_dir(src, uid, "bind source")?;
    let target = match resolve::entry(dst)? {
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
    privilege.with(|| {
        let tree = sys::clone_tree(source.as_fd()).map_err(|e| anyhow!("open_tree({s}) => {e}"))?;
        sys::set_attrs(tree.as_fd(), BIND_FLAGS)
            .map_err(|e| anyhow!("mount_setattr({s}, nosuid|nodev) => {e}"))?;
        sys::attach(tree.as_fd(), target.as_fd())
            .map_err(|e| anyhow!("move_mount({s}, {d}) => {e}"))
    })?;
    // The path now leads to the source, and the mount has its flags.
    let now = resolve::open_at(AT_FDCWD, dst, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|e| resolve::refused(dst, e))?;
    if !resolve::same_inode(now.as_fd(), source.as_fd()) {
        bail!("after binding {s} over {d}, {d} leads elsewhere; refusing to run the command");
    }
    tracing::debug!("bound {s} over {d}");
    Ok(Some(Expect {
        target: dst.to_path_buf(),
        flags: &["nosuid", "nodev"],
    }))
}

/// Hides `dir` under an empty read-only tmpfs; an absent dir needs nothing.
pub fn cover(dir: &Path, uid: Uid, privilege: &Privilege) -> Result<Option<Expect>> {
    let d = dir.display();
    let target = match resolve::entry(dir)? {
        Entry::Missing => return Ok(None),
        Entry::Dir(fd, st) => {
            resolve::check_owner(dir, &st, uid, "directory to cover")?;
            fd
        }
        Entry::Link(_) | Entry::Other => bail!("{d} is not a real directory; refusing to cover it"),
    };
    privilege.with(|| {
        let empty =
            sys::empty_tmpfs(COVER_FLAGS).map_err(|e| anyhow!("fsmount(tmpfs, ro) => {e}"))?;
        sys::attach(empty.as_fd(), target.as_fd())
            .map_err(|e| anyhow!("move_mount(tmpfs, {d}) => {e}"))
    })?;
    tracing::debug!("covered {d}");
    Ok(Some(Expect {
        target: dir.to_path_buf(),
        flags: &["ro", "nosuid", "nodev", "noexec"],
    }))
}

/// A mount just made: where, and the options it must show.
pub struct Expect {
    target: PathBuf,
    flags: &'static [&'static str],
}

/// Confirms from /proc/self/mountinfo, read once after all the mounts, that
/// the topmost mount at each target has its flags: proof that nothing raced a
/// mount elsewhere or dropped a flag.
pub fn confirm(expected: &[Expect]) -> Result<()> {
    if expected.is_empty() {
        return Ok(());
    }
    let info = resolve::read_small("/proc/self/mountinfo").context("read(/proc/self/mountinfo)")?;
    for Expect { target, flags } in expected {
        let shown = target.display();
        let options = top_mount_options(&info, target).with_context(|| {
            format!("after mounting, nothing is mounted at {shown} (per /proc/self/mountinfo)")
        })?;
        let missing: Vec<_> = flags
            .iter()
            .filter(|f| !options.split(',').any(|o| o == **f))
            .collect();
        if !missing.is_empty() {
            bail!(
                "the mount at {shown} lacks {missing:?} (options {options}); refusing to run the command"
            );
        }
    }
    Ok(())
}

/// The options of the last (topmost) mount at `target` in mountinfo text.
fn top_mount_options<'a>(info: &'a str, target: &Path) -> Option<&'a str> {
    info.lines()
        .rev()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let point = fields.nth(4)?;
            let options = fields.next()?;
            (unescape(point) == target.as_os_str().as_encoded_bytes()).then_some(options)
        })
        .next()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
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
    out
}

/// Creates the missing mount target `dst` (mode 0700) in its parent, which
/// must be a directory the user owns.
fn create_dir(dst: &Path, uid: Uid) -> Result<OwnedFd> {
    let d = dst.display();
    let (Some(parent), Some(name)) = (dst.parent(), dst.file_name()) else {
        bail!("mount target {d} has no parent directory");
    };
    let parent_fd = resolve::owned_dir(parent, uid, "the parent of mount target")?;
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

    const INFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
63 22 254:0 /home/u/s /home/u/my\\040dir rw,relatime - ext4 /dev/vda rw
64 22 254:0 /home/u/a /home/u/.claude rw,relatime - ext4 /dev/vda rw
65 64 254:0 /home/u/a /home/u/.claude rw,nosuid,nodev,relatime - ext4 /dev/vda rw
";

    #[test]
    fn finds_the_topmost_mount_and_unescapes_paths() {
        assert_eq!(
            top_mount_options(INFO, Path::new("/home/u/.claude")),
            Some("rw,nosuid,nodev,relatime")
        );
        assert_eq!(
            top_mount_options(INFO, Path::new("/home/u/my dir")),
            Some("rw,relatime")
        );
        assert_eq!(top_mount_options(INFO, Path::new("/home/u")), None);
    }
}
