//! Verifying a plan's checks on disk. Nothing here changes anything: a
//! refusal leaves the disk as it was.

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Result, bail};
use nix::unistd::Uid;

use crate::plan::Check;
use crate::resolve::{self, Entry, Refusal, Why};

pub fn verify(check: &Check, uid: Uid) -> Result<()> {
    match check {
        Check::OwnedDir { path, what } => {
            resolve::safe_ancestors(
                path,
                &[uid.as_raw(), 0],
                &format!("{what} {}", path.display()),
            )?;
            resolve::owned_dir(path, uid, what).map(drop)
        }
        Check::OwnedDirOrAbsent { path, what } => match resolve::entry(path)? {
            Entry::Missing => Ok(()),
            Entry::Dir(_, st) => {
                resolve::check_owner(path, &st, uid, what)?;
                resolve::safe_ancestors(
                    path,
                    &[uid.as_raw(), 0],
                    &format!("{what} {}", path.display()),
                )
            }
            Entry::Link(to) => {
                let message = format!(
                    "{what} {} is a symlink (to {}); cf-run mounts only over real directories: \
                     replace it with a directory (rm {0} && mkdir -m 700 {0})",
                    path.display(),
                    to.display()
                );
                Err(Refusal::error(Why::Symlink { to }, message))
            }
            Entry::Other => Err(resolve::not_a_dir(path, what)),
        },
        Check::HidesNothing { path, shared } => hides_nothing(path, shared),
    }
}

/// An entry of the account (`projects`, a `[share]` name) may be covered or
/// replaced only when that hides nothing.
fn hides_nothing(path: &Path, shared: &Path) -> Result<()> {
    match resolve::entry(path)? {
        Entry::Missing => Ok(()),
        Entry::Dir(fd, _) => {
            if resolve::is_empty_dir(fd.as_fd()).unwrap_or(false) {
                return Ok(());
            }
            let (transcripts, files) = resolve::count_files(path);
            bail!(
                "{} holds {transcripts} transcripts ({files} files) that the shared dir {} would hide; \
                 cf-run never hides a transcript or any file: merge them into the shared dir first \
                 (cf-run init, or move them by hand), then leave {0} empty",
                path.display(),
                shared.display()
            )
        }
        Entry::Link(to) if resolve::link_leads_to(path, &to, shared) => Ok(()),
        Entry::Link(to) => {
            let message = format!(
                "{} is a symlink to {}, not to the shared dir {}; point it there \
                 (ln -sfn {2} {0}) or, if it holds transcripts, merge them first",
                path.display(),
                to.display(),
                shared.display()
            );
            Err(Refusal::error(Why::Symlink { to }, message))
        }
        Entry::Other => Err(Refusal::error(
            Why::WrongType,
            format!("{} is not a directory", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    use nix::unistd::getuid;

    use super::*;
    use crate::resolve::{Refusal, Why};

    fn why(check: &Check) -> Option<Why> {
        let error = verify(check, getuid()).err()?;
        Some(Refusal::of(&error).expect("a Refusal").why.clone())
    }

    fn absent_or_dir(path: PathBuf) -> Check {
        Check::OwnedDirOrAbsent {
            path,
            what: "the mount target".into(),
        }
    }

    #[test]
    fn a_mount_target_is_a_dir_of_yours_or_absent_never_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join(".claude");
        assert_eq!(why(&absent_or_dir(target.clone())), None);
        fs::create_dir(t.path().join("elsewhere")).unwrap();
        symlink(t.path().join("elsewhere"), &target).unwrap();
        assert_eq!(
            why(&absent_or_dir(target.clone())),
            Some(Why::Symlink {
                to: t.path().join("elsewhere")
            })
        );
        fs::remove_file(&target).unwrap();
        fs::write(&target, "").unwrap();
        assert_eq!(why(&absent_or_dir(target.clone())), Some(Why::WrongType));
        fs::remove_file(&target).unwrap();
        fs::create_dir(&target).unwrap();
        assert_eq!(why(&absent_or_dir(target)), None);
    }

    #[test]
    fn an_entry_may_be_covered_only_when_that_hides_nothing() {
        let t = tempfile::tempdir().unwrap();
        let shared = t.path().join("shared");
        let projects = t.path().join("projects");
        fs::create_dir(&shared).unwrap();
        let check = Check::HidesNothing {
            path: projects.clone(),
            shared: shared.clone(),
        };
        verify(&check, getuid()).unwrap();
        fs::create_dir(&projects).unwrap();
        verify(&check, getuid()).unwrap();
        // Even an empty folder inside counts: only an empty dir is covered.
        fs::create_dir(projects.join("-p")).unwrap();
        assert!(verify(&check, getuid()).is_err());
        fs::write(projects.join("-p/s.jsonl"), "{}\n").unwrap();
        let e = verify(&check, getuid()).unwrap_err().to_string();
        assert!(e.contains("holds 1 transcripts (1 files)"), "{e}");
        // Nothing was touched by the refusal.
        assert!(projects.join("-p/s.jsonl").exists());
        fs::remove_dir_all(&projects).unwrap();
        symlink(&shared, &projects).unwrap();
        verify(&check, getuid()).unwrap();
        fs::remove_file(&projects).unwrap();
        symlink(t.path(), &projects).unwrap();
        assert_eq!(
            why(&check),
            Some(Why::Symlink {
                to: t.path().to_path_buf()
            })
        );
    }
}
