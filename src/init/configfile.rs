//! The config `init` writes: built from the command line, checked by the
//! parser every launch uses, and written whole (mode 0600) or not at all.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use nix::unistd::Uid;

use crate::config::{Config, Share};

/// The config text for the shared dir, the accounts (name, dir) and the
/// further shares (name, dir: the `[share]` table), and what it parses to.
/// A path under `home` is written `~/...`; a relative one is taken from `cwd`.
pub fn build(
    shared: &str,
    accounts: &[(String, String)],
    shares: &[(String, String)],
    home: &Path,
    cwd: &Path,
) -> Result<(String, Config)> {
    for (what, list) in [("--account", accounts), ("--share", shares)] {
        for (i, (name, dir)) in list.iter().enumerate() {
            if let Some((_, first)) = list[..i].iter().find(|(n, _)| n == name) {
                anyhow::bail!(
                    "{name} is given twice ({what} {name}={first}, {what} {name}={dir}): give \
                     each once"
                );
            }
        }
    }
    let mut text =
        String::from("# Written by cf-run init; the README says what else a config may hold.\n");
    text += &format!("shared_projects = {}\n", quote(&written(shared, home, cwd)));
    for (name, dir) in accounts {
        text += &format!(
            "\n[accounts.{}]\ndir = {}\n",
            key(name),
            quote(&written(dir, home, cwd))
        );
    }
    if !shares.is_empty() {
        text += "\n[share]\n";
    }
    for (name, dir) in shares {
        text += &format!("{} = {}\n", key(name), quote(&written(dir, home, cwd)));
    }
    let config = Config::parse(&text, home).context("the config cf-run init would write")?;
    Ok((text, config))
}

/// A path as the config shows it.
pub(super) fn written(raw: &str, home: &Path, cwd: &Path) -> String {
    if raw.starts_with('~') {
        return raw.to_owned();
    }
    // Drops `.` and repeated slashes; `..` stays, for the parser to refuse.
    let path: PathBuf = cwd
        .join(raw)
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    match path.strip_prefix(home) {
        Ok(rel) if rel.as_os_str().is_empty() => "~".into(),
        Ok(rel) => format!("~/{}", rel.display()),
        Err(_) => path.display().to_string(),
    }
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A table key: bare when it can be, so `compte1` stays `compte1`, but a
/// name with a '.' is quoted (bare, it would make a nested table).
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare { name.to_owned() } else { quote(name) }
}

/// The config init writes over an existing one (`old`): `built` (the text
/// [`build`] made) laid over it, so every key and comment init does not
/// write stays: other keys, an account's `env`, a share's `writable`, and
/// accounts and shares the command line does not name.
pub fn merged(old: &str, built: &str) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = old.parse().context("the config is not TOML")?;
    let new: toml_edit::DocumentMut = built.parse().context("init's own config")?;
    doc["shared_projects"] = new["shared_projects"].clone();
    for part in ["accounts", "share"] {
        let Some(wanted) = new.get(part).and_then(|t| t.as_table()) else {
            continue;
        };
        let table = doc
            .entry(part)
            .or_insert(toml_edit::table())
            .as_table_like_mut()
            .with_context(|| format!("the config's {part} is not a table"))?;
        for (name, item) in wanted.iter() {
            let dir = match item {
                toml_edit::Item::Table(t) => t["dir"].clone(),
                other => other.clone(),
            };
            match table.get_mut(name) {
                // A table of its own (an account, or a share's `{ dir = .. }`): its dir.
                Some(there) if there.is_table_like() => {
                    if let Some(t) = there.as_table_like_mut() {
                        t.insert("dir", dir);
                    }
                }
                _ => {
                    table.insert(name, item.clone());
                }
            }
        }
    }
    Ok(doc.to_string())
}

/// What is at the config's path already.
pub enum Existing {
    Missing,
    /// A config for the same shared dirs and accounts (its mode and setuid kept).
    Same,
    /// Anything else, and how it differs.
    Different(String),
}

pub fn existing(path: &Path, wanted: &Config, uid: Uid, home: &Path) -> Existing {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Existing::Missing,
        _ => {}
    }
    match Config::load(path, uid, home) {
        // The order of `[share]` means nothing; the accounts' is the failover order.
        Ok(c)
            if c.accounts == wanted.accounts
                && sorted(c.all_shares()) == sorted(wanted.all_shares()) =>
        {
            Existing::Same
        }
        Ok(c) => Existing::Different(differences(&c, wanted).join("; ")),
        Err(e) => Existing::Different(format!("it cannot be used: {e:#}")),
    }
}

/// What writing `wanted` over `old` changes, one line per key.
fn differences(old: &Config, wanted: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if old.shared_projects != wanted.shared_projects {
        out.push(format!(
            "shared_projects {} becomes {}",
            old.shared_projects.display(),
            wanted.shared_projects.display()
        ));
    }
    let pairs = |c: &Config| -> Vec<(String, PathBuf)> {
        c.accounts
            .iter()
            .map(|a| (a.name.clone(), a.dir.clone()))
            .collect()
    };
    changed("account", &pairs(old), &pairs(wanted), &mut out);
    let shares = |c: &Config| -> Vec<(String, PathBuf)> {
        c.extra_shares
            .iter()
            .map(|s| (s.name.clone(), s.dir.clone()))
            .collect()
    };
    changed("[share]", &shares(old), &shares(wanted), &mut out);
    out
}

/// One line for each entry of `wanted` (a name and its dir) that `old`
/// lacks or names with another dir.
fn changed(
    kind: &str,
    old: &[(String, PathBuf)],
    wanted: &[(String, PathBuf)],
    out: &mut Vec<String>,
) {
    for (name, dir) in wanted {
        match old.iter().find(|(o, _)| o == name) {
            None => out.push(format!("{kind} {name} ({}) is added", dir.display())),
            Some((_, was)) if was != dir => out.push(format!(
                "{kind} {name}'s dir {} becomes {}",
                was.display(),
                dir.display()
            )),
            _ => {}
        }
    }
}

fn sorted(mut shares: Vec<Share>) -> Vec<Share> {
    shares.sort_by(|a, b| a.name.cmp(&b.name));
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "/home/u";

    fn build_text(shared: &str, accounts: &[(&str, &str)]) -> Result<(String, Config)> {
        let accounts: Vec<_> = accounts
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect();
        build(
            shared,
            &accounts,
            &[],
            Path::new(HOME),
            Path::new("/home/u/work"),
        )
    }

    #[test]
    fn a_name_given_twice_is_named_as_given() {
        let e = build_text("~/s", &[("a", "~/x"), ("a", "~/y")]).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "a is given twice (--account a=~/x, --account a=~/y): give each once"
        );
    }

    #[test]
    fn writes_the_share_table_and_refuses_what_it_cannot_share() {
        let shares = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, d)| (n.to_string(), d.to_string()))
                .collect()
        };
        let accounts = shares(&[("a", "~/a")]);
        let (home, cwd) = (Path::new(HOME), Path::new("/home/u/work"));
        let wanted = shares(&[("file-history", "/home/u/sh/fh"), ("plans", "plans")]);
        let (text, config) = build("~/s", &accounts, &wanted, home, cwd).unwrap();
        assert!(
            text.ends_with("\n[share]\nfile-history = \"~/sh/fh\"\nplans = \"~/work/plans\"\n"),
            "{text}"
        );
        let names: Vec<_> = config.all_shares().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["projects", "file-history", "plans"]);
        let (text, _) = build("~/s", &accounts, &[], home, cwd).unwrap();
        assert!(!text.contains("[share]"), "{text}");
        let e = |list| {
            format!(
                "{:#}",
                build("~/s", &accounts, &shares(list), home, cwd).unwrap_err()
            )
        };
        let bad = e(&[("sessions", "~/x")]);
        assert!(
            bad.contains("\"sessions\" cannot be shared; allowed: file-history, plans"),
            "{bad}"
        );
        assert!(e(&[("plans", "~/a/plans")]).contains("inside"));
        assert!(e(&[("plans", "~/s")]).contains("same directory"));
    }

    #[test]
    fn writes_home_paths_with_a_tilde_and_keeps_the_order() {
        let (text, config) = build_text(
            "/home/u/.claude-projects-shared",
            &[
                ("zeta", "/home/u/.claude-zeta/"),
                ("alpha", "~/.claude-alpha"),
            ],
        )
        .unwrap();
        assert!(
            text.contains("shared_projects = \"~/.claude-projects-shared\"\n"),
            "{text}"
        );
        assert!(
            text.contains("[accounts.zeta]\ndir = \"~/.claude-zeta\"\n"),
            "{text}"
        );
        let names: Vec<_> = config.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        assert_eq!(config, Config::parse(&text, Path::new(HOME)).unwrap());
    }

    #[test]
    fn takes_relative_paths_from_the_current_dir_and_others_as_they_are() {
        let (_, config) = build_text("shared", &[("a", "/srv/a"), ("b", "./b")]).unwrap();
        assert_eq!(config.shared_projects, Path::new("/home/u/work/shared"));
        assert_eq!(config.accounts[0].dir, Path::new("/srv/a"));
        assert_eq!(config.accounts[1].dir, Path::new("/home/u/work/b"));
    }

    #[test]
    fn quotes_dotted_names_and_odd_paths() {
        let (text, config) = build_text("/srv/s \"x\"", &[("my.acct", "/srv/a")]).unwrap();
        assert!(text.contains("[accounts.\"my.acct\"]"), "{text}");
        assert_eq!(config.accounts[0].name, "my.acct");
        assert_eq!(config.shared_projects, Path::new("/srv/s \"x\""));
    }

    #[test]
    fn refuses_what_a_launch_would_refuse() {
        let e = |shared, accounts| format!("{:#}", build_text(shared, accounts).unwrap_err());
        assert!(e("~/s", &[("a", "~/s/a")]).contains("inside"));
        assert!(e("~/s", &[("a b", "~/a")]).contains("not allowed"));
        assert!(e("~/s", &[("a", "../a")]).contains("'..'"));
    }
}
