//! Verifying a plan's checks on disk. Nothing here changes anything: a
//! refusal leaves the disk as it was.

use std::os::fd::AsFd;
use std::path::Path;

use std::os::fd::OwnedFd;

use anyhow::{Context, Result, anyhow, bail};
use nix::fcntl::{AT_FDCWD, OFlag};
use nix::sys::stat::{FileStat, fstat};
use nix::unistd::Uid;

use crate::plan::Check;
use crate::resolve::{self, Entry, Refusal, Why};

pub fn verify(check: &Check, uid: Uid) -> Result<()> {
    verify_in(check, uid, &mut Vec::new())
}

/// Verifies `checks` in order, each dir on the way to their paths once
/// ([`resolve::safe_ancestors_in`]).
pub fn verify_all(checks: &[Check], uid: Uid) -> Result<()> {
    let mut passed = Vec::new();
    checks
        .iter()
        .try_for_each(|check| verify_in(check, uid, &mut passed))
}

fn verify_in(check: &Check, uid: Uid, passed: &mut Vec<std::path::PathBuf>) -> Result<()> {
    match check {
        Check::OwnedDir { path, what } => {
            resolve::safe_ancestors_in(
                path,
                &[uid.as_raw(), 0],
                &format!("{what} {}", path.display()),
                passed,
            )?;
            let (_, st) = resolve::owned_dir_stat(path, uid, what)?;
            not_writable_by_others(path, &st, uid, what)
        }
        Check::OwnedDirOrAbsent { path, what } => match resolve::entry(path)? {
            Entry::Missing => Ok(()),
            Entry::Dir(_, st) => {
                resolve::check_owner(path, &st, uid, what)?;
                not_writable_by_others(path, &st, uid, what)?;
                resolve::safe_ancestors_in(
                    path,
                    &[uid.as_raw(), 0],
                    &format!("{what} {}", path.display()),
                    passed,
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
        Check::OwnedSocket { path } => owned_socket(path, uid).map(drop),
    }
}

/// Opens the socket `path`, which must be the user's, reached without
/// symlinks: a service of theirs that the config lets sessions reach.
pub fn owned_socket(path: &Path, uid: Uid) -> Result<OwnedFd> {
    let shown = path.display();
    let fd = resolve::open_at(AT_FDCWD, path, OFlag::O_PATH | OFlag::O_NOFOLLOW)
        .map_err(|e| resolve::refused(path, e))
        .with_context(|| format!("the config's sockets name {shown}"))?;
    let st = fstat(&fd).map_err(|e| anyhow!("fstat({shown}) => {e}"))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(Refusal::error(
            Why::WrongType,
            format!("{shown}, in the config's sockets, is not a socket"),
        ));
    }
    resolve::check_owner(path, &st, uid, "socket")?;
    Ok(fd)
}

/// Refuses a dir that another user may write to: in an account dir they
/// could plant a `settings.json` whose hooks run as you, with your
/// credentials; in a shared dir, rewrite the transcripts every account
/// resumes. A group-writable dir passes when the group is the user's
/// private group, as Debian's sshd allows.
fn not_writable_by_others(path: &Path, st: &FileStat, uid: Uid, what: &str) -> Result<()> {
    let mode = st.st_mode & 0o7777;
    if mode & 0o002 == 0 && (mode & 0o020 == 0 || private_group(st.st_gid, uid)) {
        return Ok(());
    }
    let message = format!(
        "{what} {0} may be written by other users (mode {mode:o}): they could plant code that \
         runs as you, or change your transcripts; fix it with: chmod go-w {0}",
        path.display()
    );
    Err(Refusal::error(Why::Writable { mode }, message))
}

/// Whether `gid` is the private group of the user `uid`: named as they
/// are in /etc/group, with no other member (their name from /etc/passwd).
/// Groups only a directory service knows do not count.
fn private_group(gid: u32, uid: Uid) -> bool {
    let passwd = std::fs::File::open("/etc/passwd").ok();
    let Some((name, _)) = passwd.and_then(|f| crate::user::passwd_entry(f, uid.as_raw())) else {
        return false;
    };
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups.lines().any(|line| {
        let f: Vec<&str> = line.split(':').collect();
        f.len() > 3
            && f[0] == name
            && f[2] == gid.to_string()
            && f[3].split(',').all(|m| m.is_empty() || m == name)
    })
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
            let transcripts = crate::output::count(transcripts, "transcript", "transcripts");
            let files = crate::output::count(files, "file", "files");
            bail!(
                "{} holds {transcripts} ({files}) that the shared dir {} would hide; \
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
    fn a_dir_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("acct");
        fs::create_dir(&dir).unwrap();
        let owned = Check::OwnedDir {
            path: dir.clone(),
            what: "account \"a\"'s dir".into(),
        };
        for (mode, refused) in [(0o700, false), (0o755, false), (0o777, true), (0o703, true)] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let want = refused.then_some(Why::Writable { mode });
            assert_eq!(why(&owned), want, "{mode:o}");
            assert_eq!(why(&absent_or_dir(dir.clone())), want, "{mode:o}");
        }
        let e = verify(&owned, getuid()).unwrap_err().to_string();
        assert!(e.contains(&format!("chmod go-w {}", dir.display())), "{e}");
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
        assert!(e.contains("holds 1 transcript (1 file)"), "{e}");
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
