//! The config and the dirs it names: each account's, the shared dir, and
//! every other path a launch checks, with fixes worded from the refusal.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Error, Result};
use nix::unistd::{AccessFlags, Uid, access};

use super::report::{Item, Status, bad, ok};
use crate::checks;
use crate::config::{self, Account, Config};
use crate::mode::{Chosen, Mode, Reason};
use crate::plan::{Check, Plan, Request};
use crate::resolve::{Refusal, Why};
use crate::user::User;

/// The config, as a launch loads it.
pub fn config(path: &Path, loaded: &Result<Config>) -> Item {
    match loaded {
        Ok(c) => {
            let detail = format!(
                "{}: {} account(s), shared dir {}",
                path.display(),
                c.accounts.len(),
                c.shared_projects.display()
            );
            ok("config", detail)
        }
        Err(e) => bad(
            Status::Fail,
            "config",
            format!("{e:#}"),
            config_fix(path, e),
        ),
    }
}

/// Why `error` refused a path, if a path check made it.
fn why(error: &Error) -> Option<&Why> {
    Refusal::of(error).map(|r| &r.why)
}

/// The fix for a dir on the way to a path that cannot be trusted.
fn ancestor_fix(why: Option<&Why>) -> Option<String> {
    match why? {
        Why::AncestorWritable { dir, .. } => Some(format!("chmod go-w {}", dir.display())),
        Why::AncestorOwner { dir, .. } => Some(format!(
            "move it out of {} (another user's) to a dir of yours, and name the new path in the config",
            dir.display()
        )),
        _ => None,
    }
}

fn config_fix(path: &Path, error: &Error) -> String {
    let shown = path.display();
    let why = why(error);
    if let Some(fix) = ancestor_fix(why) {
        return fix;
    }
    match why {
        Some(Why::Missing) => format!(
            "cf-run init --shared DIR --account NAME=DIR [--account NAME=DIR ...] writes {shown}"
        ),
        Some(Why::Symlink { .. } | Why::SymlinkOnTheWay { .. }) => format!(
            "replace the symlink with the file itself: cp --remove-destination \"$(realpath {shown})\" {shown}"
        ),
        Some(Why::Writable { .. }) => format!("chmod go-w {shown}"),
        Some(Why::Owner { .. }) => {
            format!("make it a file of yours: cp {shown} {shown}.new && mv -f {shown}.new {shown}")
        }
        _ => format!("edit {shown} as the message says, or rewrite it with cf-run init --force"),
    }
}

/// The account's dir: a real directory of the user's, private, logged in.
pub fn account_dir(account: &Account, uid: Uid) -> Item {
    let name = format!("account {}", account.name);
    let dir = &account.dir;
    let shown = dir.display();
    let check = Check::OwnedDir {
        path: dir.clone(),
        what: format!("account {:?}'s dir", account.name),
    };
    if let Err(e) = checks::verify(&check, uid) {
        let why = why(&e);
        let fix = ancestor_fix(why).unwrap_or_else(|| match why {
            Some(Why::Missing) => format!("mkdir -m 700 {shown}, or fix its path in the config"),
            Some(Why::Writable { .. }) => format!("chmod go-w {shown}"),
            Some(Why::Symlink { .. }) => {
                format!("name the real directory in the config (realpath {shown})")
            }
            Some(Why::Owner { .. }) => format!(
                "use a directory of your own, or have root chown it to you: chown $(id -un) {shown}"
            ),
            _ => format!(
                "name a directory in the config, or move {shown} away and mkdir -m 700 {shown}"
            ),
        });
        return bad(Status::Fail, name, format!("{e:#}"), fix);
    }
    let mode = std::fs::symlink_metadata(dir).map_or(0, |m| m.mode() & 0o777);
    let held: Vec<&str> = [".credentials.json", "settings.json", ".claude.json"]
        .into_iter()
        .filter(|f| std::fs::symlink_metadata(dir.join(f)).is_ok())
        .collect();
    let detail = format!(
        "{shown}: yours, mode {mode:o}, holds {}",
        if held.is_empty() {
            "no credentials or settings".into()
        } else {
            held.join(", ")
        }
    );
    if held.is_empty() {
        let fix = format!(
            "log in under it: cf-run --account {} -- claude, then /login",
            account.name
        );
        return bad(Status::Warn, name, detail, fix);
    }
    if mode & 0o077 != 0 {
        return bad(
            Status::Warn,
            name,
            format!("{detail}; other users may look inside"),
            format!("chmod 700 {shown}"),
        );
    }
    ok(name, detail)
}

/// What a plain `claude` run left in `~/.claude` (settings, todos,
/// plugins, ...): a namespace launch binds the account over it, so every
/// session hides it. `~/.claude/projects` has its own check.
pub fn hidden_in_target(config: &Config) -> Item {
    let name = "~/.claude";
    // A symlink (to an account's dir, say) hides nothing of its own: the
    // check of the mount target says what to do with it.
    if !std::fs::symlink_metadata(&config.target).is_ok_and(|m| m.is_dir()) {
        return ok(name, "holds nothing that a session would hide");
    }
    let mut left: Vec<String> = match std::fs::read_dir(&config.target) {
        Ok(list) => list
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != crate::config::PROJECTS)
            .collect(),
        Err(_) => vec![],
    };
    if left.is_empty() {
        return ok(name, "holds nothing that a session would hide");
    }
    left.sort();
    let count = left.len();
    left.truncate(5);
    let mut fix = init_command(config);
    let _ = write!(fix, " --account NAME=~/.claude --force");
    bad(
        Status::Warn,
        name,
        format!(
            "{} holds {count} entries that every session hides under the account's bind \
             ({}{})",
            config.target.display(),
            left.join(", "),
            if count > 5 { ", ..." } else { "" }
        ),
        format!(
            "move what you need into an account's dir and remove the rest; or make it an \
             account of its own (NAME: a new name), moved in as it is: {fix}"
        ),
    )
}

/// The command that merges every account's transcripts into the shared dir.
fn init_command(config: &Config) -> String {
    let mut cmd = format!("cf-run init --shared {}", quote(&config.shared_projects));
    for a in &config.accounts {
        let _ = write!(
            cmd,
            " --account {}",
            quote(&PathBuf::from(format!("{}={}", a.name, a.dir.display())))
        );
    }
    for share in &config.extra_shares {
        let pair = PathBuf::from(format!("{}={}", share.name, share.dir.display()));
        let _ = write!(cmd, " --share {}", quote(&pair));
    }
    cmd
}

/// A path as a shell word.
fn quote(path: &Path) -> String {
    let s = path.display().to_string();
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-=+:,@~".contains(&b));
    if plain {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The shared dir: the user's, writable, not inside another configured dir
/// (the config's own check), no interrupted init.
pub fn shared_dir(config: &Config, uid: Uid) -> Item {
    let name = "shared dir";
    let shared = &config.shared_projects;
    let shown = shared.display();
    let check = Check::OwnedDir {
        path: shared.clone(),
        what: "the shared projects dir".into(),
    };
    if let Err(e) = checks::verify(&check, uid) {
        let why = why(&e);
        let fix = ancestor_fix(why).unwrap_or_else(|| match why {
            Some(Why::Missing) => format!("mkdir -m 700 {shown}, or run: {}", init_command(config)),
            Some(Why::Writable { .. }) => format!("chmod go-w {shown}"),
            _ => format!(
                "name a real directory of yours as shared_projects in the config (realpath {shown})"
            ),
        });
        return bad(Status::Fail, name, format!("{e:#}"), fix);
    }
    if let Err(e) = access(shared, AccessFlags::W_OK | AccessFlags::X_OK) {
        return bad(
            Status::Fail,
            name,
            format!("{shown} is not writable by you ({e})"),
            format!("chmod u+rwx {shown}"),
        );
    }
    let interrupted = config
        .all_shares()
        .into_iter()
        .map(|s| s.dir)
        .find(|d| crate::init::interrupted(d));
    if let Some(shared) = interrupted {
        let shown = shared.display();
        let detail = format!("{shown}: an earlier cf-run init was interrupted");
        return bad(
            Status::Fail,
            name,
            detail,
            format!("finish it: {}", init_command(config)),
        );
    }
    ok(
        name,
        format!("{shown}: yours, writable, not inside an account dir or ~/.claude"),
    )
}

/// Every other on-disk check a launch under each account makes, once each:
/// what the account's own `projects` (and `[share]` entries) hold, `~/.claude`
/// in namespace modes, the `[share]` dirs.
pub fn launch_checks(config: &Config, user: &User, mode: Option<Mode>) -> Vec<Item> {
    // An unknown mode checks what a namespace launch checks: the most.
    let mode = mode.unwrap_or(Mode::Userns);
    let mut seen: Vec<Check> = Vec::new();
    let mut items = Vec::new();
    for account in &config.accounts {
        let request = Request {
            account: account.name.clone(),
            ..Request::default()
        };
        let chosen = Chosen {
            mode,
            reason: Reason::Asked,
        };
        let Ok(plan) = Plan::build(config, request, user, chosen) else {
            continue;
        };
        for check in plan.checks {
            if seen.contains(&check) {
                continue;
            }
            seen.push(check.clone());
            let (Check::OwnedDir { path, .. }
            | Check::OwnedDirOrAbsent { path, .. }
            | Check::HidesNothing { path, .. }
            | Check::OwnedSocket { path }) = &check;
            // The account dirs and the shared dir have items of their own.
            if *path == config.shared_projects || config.accounts.iter().any(|a| a.dir == *path) {
                continue;
            }
            let name = name_of(path, config);
            let owner = config.accounts.iter().find(|a| path.starts_with(&a.dir));
            let item = match checks::verify(&check, user.uid) {
                Ok(()) => ok(name, check.to_string()),
                Err(e) => bad(
                    Status::Fail,
                    name,
                    format!("{e:#}"),
                    fix_for(&check, &e, config),
                ),
            };
            let account = owner.map(|a| a.name.as_str());
            items.push(item.about("launch_check", account, Some(path)));
        }
    }
    items
}

/// How the report names a checked path: "compte1's projects", "~/.claude".
fn name_of(path: &Path, config: &Config) -> String {
    for a in &config.accounts {
        if let Ok(rel) = path.strip_prefix(&a.dir) {
            return format!("{}'s {}", a.name, rel.display());
        }
    }
    if let Ok(rel) = path.strip_prefix(&config.target) {
        let rel = rel.display().to_string();
        return if rel.is_empty() {
            "~/.claude".into()
        } else {
            format!("~/.claude/{rel}")
        };
    }
    if let Some(share) = config.extra_shares.iter().find(|s| s.dir == path) {
        return format!("shared {} dir", share.name);
    }
    path.display().to_string()
}

fn fix_for(check: &Check, error: &Error, config: &Config) -> String {
    match check {
        Check::OwnedSocket { path } => format!(
            "start the service that listens at {}, or drop it from the config's sockets",
            path.display()
        ),
        Check::HidesNothing { path, .. } if path.ends_with(config::PROJECTS) => {
            init_command(config)
        }
        Check::HidesNothing { path, shared } => format!(
            "move what {} holds into {}, then rmdir {0}",
            path.display(),
            shared.display()
        ),
        Check::OwnedDir { path, .. } | Check::OwnedDirOrAbsent { path, .. } => {
            let p = path.display();
            let why = why(error);
            ancestor_fix(why).unwrap_or_else(|| match why {
                Some(Why::Symlink { .. }) => format!(
                    "rm {p} && mkdir -m 700 {p} (the older layout's link is no longer needed)"
                ),
                Some(Why::Missing) => format!("mkdir -m 700 {p}"),
                Some(Why::Owner { .. }) => format!(
                    "use a directory of your own, or have root chown it to you: chown $(id -un) {p}"
                ),
                _ => format!("move {p} away, then mkdir -m 700 {p}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let text = "shared_projects = \"~/shared dir\"\n[accounts.one]\ndir = \"~/.claude-one\"\n\
                    [accounts.two]\ndir = \"/srv/two\"\n";
        Config::parse(text, Path::new("/home/u")).unwrap()
    }

    #[test]
    fn the_init_command_quotes_what_the_shell_would_split() {
        assert_eq!(
            init_command(&config()),
            "cf-run init --shared '/home/u/shared dir' --account one=/home/u/.claude-one \
             --account two=/srv/two"
        );
        let mut shared = config();
        shared.extra_shares.push(crate::config::Share {
            name: "plans".into(),
            dir: "/home/u/sh/plans".into(),
            writable: false,
        });
        assert!(init_command(&shared).ends_with(" --share plans=/home/u/sh/plans"));
        assert_eq!(quote(Path::new("/a/it's")), "'/a/it'\\''s'");
    }

    #[test]
    fn names_checked_paths_by_account_or_place() {
        let c = config();
        let name = |p: &str| name_of(Path::new(p), &c);
        assert_eq!(name("/home/u/.claude-one/projects"), "one's projects");
        assert_eq!(name("/srv/two/todos"), "two's todos");
        assert_eq!(name("/home/u/.claude"), "~/.claude");
        assert_eq!(name("/home/u/.claude/projects"), "~/.claude/projects");
    }
}
