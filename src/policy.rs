//! The admin's policy: what a user may not decide alone. It sits at a fixed
//! path, never one the environment names, and must be root's.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::config::Config;
use crate::mode::Mode;
use crate::resolve;

pub const PATH: &str = "/etc/claude-failover/policy.toml";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The modes a launch may use; `auto` picks only among these.
    #[serde(default = "all_modes")]
    pub modes: Vec<Mode>,
    /// When set, every account dir and the shared dir must lie under one of these.
    #[serde(default)]
    pub roots: Option<Vec<PathBuf>>,
    /// Whether setuid programs may elevate inside sessions (no_new_privs off).
    #[serde(default)]
    pub setuid: bool,
}

fn all_modes() -> Vec<Mode> {
    vec![Mode::Privileged, Mode::Userns, Mode::Symlink]
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            modes: all_modes(),
            roots: None,
            setuid: false,
        }
    }
}

impl Policy {
    /// The policy at `path` (root-owned, writable by root only), or the
    /// default when there is none.
    pub fn load(path: &Path) -> Result<Self> {
        match resolve::read_trusted(path, &[0], "root", "policy")? {
            Some(text) => Self::parse(&text).with_context(|| format!("policy {}", path.display())),
            None => Ok(Self::default()),
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        let policy: Policy =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
        for root in policy.roots.iter().flatten() {
            let plain = root.is_absolute()
                && root
                    .components()
                    .all(|c| c != std::path::Component::ParentDir);
            if !plain {
                bail!(
                    "roots: {} must be an absolute path without '..'",
                    root.display()
                );
            }
        }
        Ok(policy)
    }

    /// Refuses a config that asks for more than the policy allows: setuid
    /// programs, or dirs outside the allowed roots.
    pub fn permit(&self, config: &Config) -> Result<()> {
        if config.setuid && !self.setuid {
            bail!(
                "the config asks for setuid = true, but the admin's policy {PATH} does not allow setuid programs in sessions"
            );
        }
        let Some(roots) = &self.roots else {
            return Ok(());
        };
        let shares = config.all_shares();
        let dirs = config
            .accounts
            .iter()
            .map(|a| (format!("account {:?}'s dir", a.name), &a.dir))
            .chain(
                shares
                    .iter()
                    .map(|s| (format!("the shared {} dir", s.name), &s.dir)),
            );
        for (what, dir) in dirs {
            if !roots.iter().any(|r| dir.starts_with(r)) {
                let allowed: Vec<_> = roots.iter().map(|r| r.display().to_string()).collect();
                bail!(
                    "{what} {} is outside the roots the admin allows in {PATH} ({}); move it under one of them",
                    dir.display(),
                    allowed.join(", ")
                );
            }
        }
        Ok(())
    }

    /// Refuses a mode the admin does not allow.
    pub fn permit_mode(&self, mode: Mode) -> Result<()> {
        if !self.modes.contains(&mode) {
            bail!(
                "{mode} mode is not allowed by the admin's policy {PATH} (allowed: {})",
                self.allowed()
            );
        }
        Ok(())
    }

    pub fn allowed(&self) -> String {
        let names: Vec<_> = self.modes.iter().map(Mode::to_string).collect();
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(account: &str, shared: &str) -> Config {
        let text = format!("shared_projects = \"{shared}\"\n[accounts.a]\ndir = \"{account}\"\n");
        Config::parse(&text, Path::new("/home/u")).unwrap()
    }

    #[test]
    fn default_allows_every_mode_anywhere_without_setuid() {
        let p = Policy::parse("").unwrap();
        assert_eq!(p, Policy::default());
        assert!(!p.setuid);
        assert!(p.permit(&config("/srv/a", "/opt/s")).is_ok());
        assert!(p.permit_mode(Mode::Privileged).is_ok());
    }

    #[test]
    fn refuses_modes_and_dirs_it_does_not_allow() {
        let p = Policy::parse("modes = [\"userns\"]\nroots = [\"/home\"]\n").unwrap();
        let e = p.permit_mode(Mode::Privileged).unwrap_err().to_string();
        assert!(
            e.contains("privileged mode is not allowed") && e.contains("allowed: userns"),
            "{e}"
        );
        assert!(p.permit(&config("~/a", "~/s")).is_ok());
        let e = p.permit(&config("~/a", "/tmp/s")).unwrap_err().to_string();
        assert!(
            e.contains("the shared projects dir /tmp/s is outside the roots"),
            "{e}"
        );
        let mut shared_plans = config("~/a", "~/s");
        shared_plans.extra_shares.push(crate::config::Share {
            name: "plans".into(),
            dir: "/tmp/plans".into(),
            writable: false,
        });
        let e = p.permit(&shared_plans).unwrap_err().to_string();
        assert!(
            e.contains("the shared plans dir /tmp/plans is outside the roots"),
            "{e}"
        );
        // A prefix of a name is not a parent.
        assert!(p.permit(&config("/homework/a", "~/s")).is_err());
    }

    #[test]
    fn a_config_cannot_widen_setuid() {
        let mut c = config("~/a", "~/s");
        c.setuid = true;
        let e = Policy::default().permit(&c).unwrap_err().to_string();
        assert!(e.contains("does not allow setuid"), "{e}");
        assert!(Policy::parse("setuid = true").unwrap().permit(&c).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC*") {
            let _ = Policy::parse(&text);
        }
    }

    #[test]
    fn refuses_unknown_keys_bad_modes_and_relative_roots() {
        assert!(
            Policy::parse("allow = true")
                .unwrap_err()
                .to_string()
                .contains("allow")
        );
        assert!(Policy::parse("modes = [\"chroot\"]").is_err());
        assert!(Policy::parse("modes = [\"auto\"]").is_err());
        assert!(Policy::parse("roots = [\"home\"]").is_err());
        assert!(Policy::parse("roots = [\"/home/../etc\"]").is_err());
    }
}
