//! Who invoked cf-run, from the password database: never from the environment.
//!
//! cf-run ships static, and a static glibc program cannot load NSS modules:
//! the module pulls in the shared libc beside the static one, and
//! `getpwuid` crashes (SIGSEGV in libnss_systemd on Debian's default
//! nsswitch.conf). So cf-run never calls NSS itself: it reads /etc/passwd
//! with glibc's parser, and asks the host's own `getent`, a dynamic program
//! that loads the modules safely, for users that only a directory service
//! (sssd, LDAP, systemd-homed, extrausers) knows.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use nix::unistd::{Gid, Uid, getgid, getuid};

use crate::sys;

/// glibc's `getent`, by its fixed path: never one that `PATH` names.
const GETENT: &str = "/usr/bin/getent";

/// The invoking user: real uid and gid, name and home from the password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: Uid,
    pub gid: Gid,
    pub name: String,
    pub home: PathBuf,
}

impl User {
    /// The user behind the real uid. `$HOME` is ignored on purpose: it selects
    /// nothing privileged, so a caller cannot point cf-run at someone else's files.
    pub fn invoking() -> Result<Self> {
        let uid = getuid();
        // /etc/passwd first, as nsswitch.conf's usual `passwd: files ...`
        // does, without a process: the launch path of local users.
        let local = File::open("/etc/passwd")
            .ok()
            .and_then(|f| sys::passwd_entry(f, uid.as_raw()));
        let (name, home) = match local {
            Some(entry) => entry,
            None => from_nss(uid, Path::new(GETENT))?.with_context(|| {
                format!("uid {uid} has no entry in the password database; add one (useradd)")
            })?,
        };
        if !home.is_absolute() {
            bail!(
                "the home of {name} in the password database, {home:?}, is not an absolute path; fix it with usermod -d"
            );
        }
        Ok(Self {
            uid,
            gid: getgid(),
            name,
            // A home reached through root's symlinks is used at its real place.
            home: crate::resolve::root_links_followed(&home),
        })
    }
}

/// The entry of `uid` in every source nsswitch.conf names, through `getent`.
/// It runs with no environment (no LD_PRELOAD, no NSS variables) and no
/// capabilities (file capabilities do not pass exec). Its answer selects
/// nothing privileged: every path it leads to is checked for ownership as any
/// path the user names is.
fn from_nss(uid: Uid, getent: &Path) -> Result<Option<(String, PathBuf)>> {
    let cannot = || {
        format!(
            "uid {uid} is not in /etc/passwd, and {} passwd {uid}, which asks the host's other user sources (sssd, LDAP), failed",
            getent.display()
        )
    };
    let mut child = Command::new(getent)
        .args(["passwd", &uid.to_string()])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("{}; is libc-bin installed?", cannot()))?;
    let entry = child
        .stdout
        .take()
        .and_then(|out| sys::passwd_entry(out, uid.as_raw()));
    let status = child.wait().with_context(cannot)?;
    // getent: 0 found, 2 not found; anything else is a failure to ask.
    match (status.code(), entry) {
        (Some(0), Some(entry)) => Ok(Some(entry)),
        (Some(2), _) => Ok(None),
        (Some(0), None) => bail!("{}: its answer holds no entry for uid {uid}", cannot()),
        _ => bail!("{}: it ended with {status}", cannot()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nss_answers_through_getent() {
        let root = from_nss(Uid::from_raw(0), Path::new(GETENT)).unwrap();
        assert_eq!(root, Some(("root".into(), "/root".into())));
        let none = from_nss(Uid::from_raw(u32::MAX - 7), Path::new(GETENT)).unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn a_missing_getent_is_an_error_that_names_it() {
        let err = from_nss(Uid::from_raw(4242), Path::new("/nonexistent/getent")).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("/nonexistent/getent passwd 4242") && text.contains("libc-bin"),
            "{text}"
        );
    }
}
