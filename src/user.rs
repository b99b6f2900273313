//! Who invoked cf-run, from the password database: never from the environment.
//!
//! cf-run ships static, and a static program cannot load NSS modules (a
//! static glibc one crashes in them: SIGSEGV in libnss_systemd on Debian's
//! default nsswitch.conf). So cf-run never calls NSS itself: it reads
//! /etc/passwd, and asks the host's own `getent`, a dynamic program that
//! loads the modules safely, for users that only a directory service (sssd,
//! LDAP, systemd-homed, extrausers) knows.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use nix::unistd::{Gid, Uid, getgid, getuid};

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
            .and_then(|f| passwd_entry(f, uid.as_raw()));
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
        .and_then(|out| passwd_entry(out, uid.as_raw()));
    let status = child.wait().with_context(cannot)?;
    // getent: 0 found, 2 not found; anything else is a failure to ask.
    match (status.code(), entry) {
        (Some(0), Some(entry)) => Ok(Some(entry)),
        (Some(2), _) => Ok(None),
        (Some(0), None) => bail!("{}: its answer holds no entry for uid {uid}", cannot()),
        _ => bail!("{}: it ended with {status}", cannot()),
    }
}

/// The name and home of `uid` among the lines of `source` (/etc/passwd, or
/// getent's answer through a pipe), in passwd(5)'s form:
/// `name:password:uid:gid:gecos:home:shell`. A line that is not an entry
/// (a comment, NIS's `+`/`-` lines, too few fields, a uid that is not a
/// number) is passed over.
pub fn passwd_entry(source: impl Into<OwnedFd>, uid: u32) -> Option<(String, PathBuf)> {
    let mut bytes = vec![];
    File::from(source.into()).read_to_end(&mut bytes).ok()?;
    bytes.split(|&b| b == b'\n').find_map(|line| {
        let mut fields = line.split(|&b| b == b':');
        let (name, id) = (fields.next()?, fields.nth(1)?);
        if name.is_empty() || matches!(name[0], b'#' | b'+' | b'-') {
            return None;
        }
        if std::str::from_utf8(id).ok()?.parse() != Ok(uid) {
            return None;
        }
        let home = fields.nth(2)?;
        let name = String::from_utf8_lossy(name).into_owned();
        Some((name, PathBuf::from(OsStr::from_bytes(home))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_entry_finds_the_uid() {
        let passwd = |text: &str| {
            let mut file = tempfile::tempfile().unwrap();
            std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
            std::io::Seek::rewind(&mut file).unwrap();
            file
        };
        let long = "g".repeat(20_000);
        let text = format!(
            "# a comment:x:1000:\n+nis:x:1000:1000::/nis:\nshort:x:1000\nbad:x:1k:1:x:/b:/bin/sh\n\
             root:x:0:0::/root:/bin/sh\nlong:x:7:7:{long}:/l:/bin/sh\nann:x:1000:1000:Ann:/home/ann:/bin/sh\n\
             ann2:x:1000:1000::/home/ann2:/bin/sh\nnoshell:x:9:9::/n\n"
        );
        assert_eq!(
            passwd_entry(passwd(&text), 1000),
            Some(("ann".into(), "/home/ann".into()))
        );
        assert_eq!(
            passwd_entry(passwd(&text), 7),
            Some(("long".into(), "/l".into()))
        );
        assert_eq!(
            passwd_entry(passwd(&text), 9),
            Some(("noshell".into(), "/n".into()))
        );
        assert_eq!(passwd_entry(passwd(&text), 4242), None);
        assert_eq!(passwd_entry(passwd(""), 0), None);
        let root = passwd_entry(File::open("/etc/passwd").unwrap(), 0);
        assert_eq!(root, Some(("root".into(), "/root".into())));
    }

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
