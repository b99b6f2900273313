//! Symlink mode: no namespace, the account's `projects` becomes a symlink to
//! the shared dir on disk, as in the older layout.

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Result, bail};
use nix::errno::Errno;
use nix::unistd::{Uid, UnlinkatFlags, symlinkat, unlinkat};

use crate::resolve::{self, Entry};

/// Makes `link` a symlink to `to`. An empty directory there is replaced; its
/// removal (rmdir) fails rather than delete anything written meanwhile.
pub fn link(link: &Path, to: &Path, uid: Uid) -> Result<()> {
    let l = link.display();
    let (Some(parent), Some(name)) = (link.parent(), link.file_name()) else {
        bail!("{l} has no parent directory");
    };
    let parent_fd = resolve::owned_dir(parent, uid, "account dir")?;
    // A second pass only when another launch changed the entry under us.
    for _ in 0..2 {
        match resolve::entry(link)? {
            Entry::Missing => {}
            Entry::Link(target) if resolve::link_leads_to(link, &target, to) => return Ok(()),
            Entry::Link(target) => bail!(
                "{l} is a symlink to {}, not to {}",
                target.display(),
                to.display()
            ),
            Entry::Dir(_, st) => {
                resolve::check_owner(link, &st, uid, "projects dir")?;
                match unlinkat(parent_fd.as_fd(), name, UnlinkatFlags::RemoveDir) {
                    Ok(()) | Err(Errno::ENOENT | Errno::ENOTDIR) => {}
                    Err(Errno::ENOTEMPTY | Errno::EEXIST) => bail!(
                        "{l} got files while cf-run was replacing it; nothing was removed: \
                         merge them into {} and retry",
                        to.display()
                    ),
                    Err(e) => bail!("rmdir({l}) => {e}"),
                }
            }
            Entry::Other => bail!("{l} is not a directory"),
        }
        match symlinkat(to, parent_fd.as_fd(), name) {
            Ok(()) => {
                tracing::debug!("linked {l} -> {}", to.display());
                return Ok(());
            }
            Err(Errno::EEXIST) => continue,
            Err(e) => bail!("symlink({}, {l}) => {e}", to.display()),
        }
    }
    bail!("{l} keeps changing while cf-run links it; retry")
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use nix::unistd::getuid;

    use super::*;

    #[test]
    fn an_empty_dir_becomes_the_link_and_a_right_link_stays() {
        let t = tempfile::tempdir().unwrap();
        let (projects, shared) = (t.path().join("projects"), t.path().join("shared"));
        fs::create_dir(&projects).unwrap();
        fs::create_dir(&shared).unwrap();
        link(&projects, &shared, getuid()).unwrap();
        assert_eq!(fs::read_link(&projects).unwrap(), shared);
        link(&projects, &shared, getuid()).unwrap();
        assert_eq!(fs::read_link(&projects).unwrap(), shared);
    }

    #[test]
    fn nothing_is_removed_or_relinked_that_holds_or_leads_elsewhere() {
        let t = tempfile::tempdir().unwrap();
        let (projects, shared) = (t.path().join("projects"), t.path().join("shared"));
        fs::create_dir_all(projects.join("-w")).unwrap();
        fs::write(projects.join("-w/s.jsonl"), "{}\n").unwrap();
        fs::create_dir(&shared).unwrap();
        assert!(link(&projects, &shared, getuid()).is_err());
        assert_eq!(
            fs::read_to_string(projects.join("-w/s.jsonl")).unwrap(),
            "{}\n"
        );
        fs::remove_dir_all(&projects).unwrap();
        symlink(t.path(), &projects).unwrap();
        let e = link(&projects, &shared, getuid()).unwrap_err().to_string();
        assert!(e.contains("is a symlink to"), "{e}");
        assert_eq!(fs::read_link(&projects).unwrap(), t.path());
    }

    #[test]
    fn the_account_dir_is_reached_without_symlinks() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("real/projects")).unwrap();
        fs::create_dir(t.path().join("shared")).unwrap();
        symlink(t.path().join("real"), t.path().join("account")).unwrap();
        let projects = t.path().join("account/projects");
        assert!(link(&projects, &t.path().join("shared"), getuid()).is_err());
        assert!(t.path().join("real/projects").is_dir());
    }
}
