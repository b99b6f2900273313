//! Who invoked cf-run, from the password database: never from the environment.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use nix::unistd::{Gid, Uid, getgid, getuid};

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
        // does, but without NSS's set-up (nscd probes, nsswitch.conf): about
        // 60 µs of a launch here. The other sources only for a user not there.
        let (name, home) = match crate::sys::local_passwd(uid.as_raw()) {
            Some(entry) => entry,
            None => nix::unistd::User::from_uid(uid)
                .with_context(|| format!("getpwuid({uid}) failed"))?
                .map(|e| (e.name, e.dir))
                .with_context(|| {
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
            home,
        })
    }
}
