//! Moving in from a plain `~/.claude`, the commonest start: an account given
//! as `~/.claude` (where cf-run binds every account) becomes `~/.claude-NAME`,
//! `~/.claude` is left an empty dir, and the client's `~/.claude.json` (its
//! identity, trust and first-run flags, which it keeps beside `~/.claude`
//! when `CLAUDE_CONFIG_DIR` is unset) is copied in as the account's own, so
//! the client starts under cf-run as it did before.
//!
//! Each step is one atomic call and finds its own work done on a rerun, so
//! a kill at any point leaves either the old layout or the new one:
//! `rename(~/.claude, ~/.claude-NAME)` without replacing, then `mkdir`, then
//! the copy, written to a temp name and linked in without replacing. A
//! `~/.claude` that is a symlink to an account's dir (the old way's flip) is
//! replaced by an empty dir: the link held nothing.

use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use nix::fcntl::{AT_FDCWD, OFlag};
use nix::sys::stat::{Mode, fchmod};

use crate::output::printable;
use crate::resolve::{self, Entry};

/// What init does to `~/.claude` before it merges anything.
#[derive(Debug, PartialEq, Eq)]
pub struct MoveIn {
    /// `~/.claude`.
    pub target: PathBuf,
    /// The account that was `~/.claude`, and its new dir.
    pub moved: Option<(String, PathBuf)>,
}

/// The accounts as the config will name them, and the move that makes it
/// so: an account given as `~/.claude` (`written` is how the config writes
/// a dir) is given `~/.claude-NAME` instead.
pub fn plan(
    accounts: &[(String, String)],
    home: &Path,
    written: impl Fn(&str) -> String,
) -> (Vec<(String, String)>, MoveIn) {
    let mut moved = None;
    let accounts = accounts
        .iter()
        .map(|(name, dir)| {
            if written(dir).trim_end_matches('/') == "~/.claude" {
                let to = format!("~/.claude-{name}");
                moved = Some((name.clone(), home.join(&to[2..])));
                (name.clone(), to)
            } else {
                (name.clone(), dir.clone())
            }
        })
        .collect();
    let target = home.join(".claude");
    (accounts, MoveIn { target, moved })
}

impl MoveIn {
    /// What a dry run says it would do.
    pub fn describe(&self) -> Option<String> {
        let (name, to) = self.moved.as_ref()?;
        Some(format!(
            "would move {} to {} (account {name}), leave {0} an empty dir, and copy ~/.claude.json \
             there as the account's .claude.json if it has none",
            self.target.display(),
            to.display()
        ))
    }

    /// Refuses what `apply` would refuse, before anything is done (a dry
    /// run too): a symlink to no account's dir, a move onto a dir that is
    /// there. `accounts` are the config's account dirs.
    pub fn check(&self, home: &Path, accounts: &[PathBuf]) -> Result<()> {
        let target = &self.target;
        match (resolve::entry(target)?, &self.moved) {
            (Entry::Link(to), _) => {
                let to = if to.is_absolute() { to } else { home.join(to) };
                if !accounts.contains(&to) {
                    bail!(
                        "{} is a symlink to {}, which is no account's dir: move it away \
                         (mv {0} {0}.old), then run cf-run init again",
                        target.display(),
                        to.display()
                    );
                }
            }
            (Entry::Dir(..), Some((name, to)))
                if !is_empty(target)? && !matches!(resolve::entry(to)?, Entry::Missing) =>
            {
                bail!(
                    "{} cannot move to {}, which exists already: merge one into the other \
                     or give account {name} another name",
                    target.display(),
                    to.display()
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Carries the move out (see the module's doc), once [`MoveIn::check`]
    /// has passed.
    pub fn apply(&self, home: &Path) -> Result<()> {
        let target = &self.target;
        match (resolve::entry(target)?, &self.moved) {
            (Entry::Link(to), _) => {
                let to = if to.is_absolute() { to } else { home.join(to) };
                std::fs::remove_file(target)
                    .with_context(|| format!("cannot remove the symlink {}", target.display()))?;
                say(&format!(
                    "removed: the symlink {} -> {} (the old way's flip)",
                    target.display(),
                    to.display()
                ));
            }
            (Entry::Dir(_, st), Some((name, to))) if !is_empty(target)? => {
                crate::sys::rename_noreplace(target, to).map_err(|e| {
                    anyhow!(
                        "rename({}, {}) => {e}: {1} exists already; merge one into the other \
                             or give account {name} another name",
                        target.display(),
                        to.display()
                    )
                })?;
                say(&format!(
                    "moved: {} to {} (account {name})",
                    target.display(),
                    to.display()
                ));
                // The client made it with the umask's mode; it holds a login.
                if st.st_mode & 0o077 != 0 {
                    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
                    let dir = resolve::open_at(AT_FDCWD.as_fd(), to, flags)
                        .map_err(|e| anyhow!("open({}) => {e}", to.display()))?;
                    fchmod(&dir, Mode::from_bits_truncate(0o700))
                        .map_err(|e| anyhow!("fchmod({}, 0700) => {e}", to.display()))?;
                    say(&format!(
                        "private: {} was mode {:o}, now 700 (it holds the account's login)",
                        to.display(),
                        st.st_mode & 0o777
                    ));
                }
            }
            _ => {}
        }
        if matches!(resolve::entry(target)?, Entry::Missing) {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(target)
                .with_context(|| format!("cannot create {}", target.display()))?;
        }
        if let Some((name, to)) = &self.moved {
            carry_identity(&home.join(".claude.json"), &to.join(".claude.json"), name)?;
        }
        Ok(())
    }
}

fn is_empty(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .next()
        .is_none())
}

/// Copies the client's `~/.claude.json` to the account's, where it has none:
/// a temp file, linked in without replacing (a copy there already wins).
fn carry_identity(from: &Path, to: &Path, name: &str) -> Result<()> {
    let regular = std::fs::symlink_metadata(from).is_ok_and(|m| m.is_file());
    if !regular || !matches!(resolve::entry(to)?, Entry::Missing) {
        return Ok(());
    }
    let tmp = to.with_file_name(".claude.json.cf-init");
    let _ = std::fs::remove_file(&tmp);
    std::fs::copy(from, &tmp)
        .with_context(|| format!("cannot copy {} to {}", from.display(), tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, to);
    std::fs::remove_file(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
    match linked {
        Ok(()) => say(&format!(
            "copied: {} to {} (account {name}'s identity, trust and first-run flags)",
            from.display(),
            to.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot write {}", to.display())),
    }
    Ok(())
}

fn say(line: &str) {
    println!("{}", printable(line));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect()
    }

    #[test]
    fn an_account_given_as_claude_gets_a_dir_of_its_own() {
        let home = Path::new("/home/u");
        let written = |d: &str| d.replace("/home/u", "~");
        let (accounts, m) = plan(
            &pairs(&[("main", "/home/u/.claude/"), ("two", "~/.claude-two")]),
            home,
            written,
        );
        assert_eq!(
            accounts,
            pairs(&[("main", "~/.claude-main"), ("two", "~/.claude-two")])
        );
        assert_eq!(
            m.moved,
            Some(("main".into(), PathBuf::from("/home/u/.claude-main")))
        );
        let (same, m) = plan(&pairs(&[("a", "~/.claude-a")]), home, written);
        assert_eq!(same, pairs(&[("a", "~/.claude-a")]));
        assert_eq!(m.moved, None);
        assert_eq!(m.describe(), None);
    }

    #[test]
    fn the_move_is_done_once_and_a_rerun_finds_it_done() {
        let home = tempfile::tempdir().unwrap();
        let home = home.path();
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(home.join(".claude"))
            .unwrap();
        std::fs::write(home.join(".claude/settings.json"), "{}").unwrap();
        std::fs::write(home.join(".claude.json"), "{\"userID\":\"u1\"}").unwrap();
        let (_, m) = plan(&pairs(&[("main", "~/.claude")]), home, |d| d.to_owned());
        let to = home.join(".claude-main");
        for _ in 0..2 {
            m.check(home, std::slice::from_ref(&to)).unwrap();
            m.apply(home).unwrap();
            assert!(is_empty(&home.join(".claude")).unwrap());
            let mode = std::fs::metadata(&to).unwrap().permissions();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
                0o700
            );
            assert_eq!(std::fs::read(to.join("settings.json")).unwrap(), b"{}");
            assert_eq!(
                std::fs::read(to.join(".claude.json")).unwrap(),
                b"{\"userID\":\"u1\"}"
            );
            assert!(home.join(".claude.json").exists(), "the original stays");
        }
        // A dir of that name that holds something already is never replaced.
        std::fs::write(home.join(".claude/x"), "new").unwrap();
        // The check refuses it, as a dry run's does; the rename would too.
        let e = m.check(home, std::slice::from_ref(&to)).unwrap_err();
        assert!(format!("{e:#}").contains("exists already"), "{e:#}");
        let e = m.apply(home).unwrap_err();
        assert!(format!("{e:#}").contains("exists already"), "{e:#}");
        assert_eq!(std::fs::read(home.join(".claude/x")).unwrap(), b"new");
    }

    #[test]
    fn a_claude_symlink_to_an_account_becomes_an_empty_dir_and_no_other_is_touched() {
        let home = tempfile::tempdir().unwrap();
        let home = home.path();
        let account = home.join(".claude-a");
        std::fs::create_dir(&account).unwrap();
        std::os::unix::fs::symlink(&account, home.join(".claude")).unwrap();
        let (_, m) = plan(&pairs(&[("a", "~/.claude-a")]), home, |d| d.to_owned());
        m.check(home, std::slice::from_ref(&account)).unwrap();
        m.apply(home).unwrap();
        assert!(home.join(".claude").is_dir() && !home.join(".claude").is_symlink());
        std::fs::remove_dir(home.join(".claude")).unwrap();
        std::os::unix::fs::symlink("/etc", home.join(".claude")).unwrap();
        let e = m.check(home, &[account]).unwrap_err();
        assert!(
            format!("{e:#}").contains("which is no account's dir"),
            "{e:#}"
        );
        assert!(home.join(".claude").is_symlink());
    }
}
