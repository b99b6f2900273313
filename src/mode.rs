//! Which way a launch isolates the session, and why `auto` picks what it picks.

use std::fmt;

use anyhow::{Result, bail};
use serde::Deserialize;

/// What the user asked for, on the command line or in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeChoice {
    #[default]
    Auto,
    Userns,
    Privileged,
    Symlink,
}

impl fmt::Display for ModeChoice {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            ModeChoice::Auto => "auto",
            ModeChoice::Userns => "userns",
            ModeChoice::Privileged => "privileged",
            ModeChoice::Symlink => "symlink",
        })
    }
}

/// How this launch isolates the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Rootless: a user namespace owns the private mount namespace.
    Userns,
    /// A mount namespace made with the binary's own CAP_SYS_ADMIN (file capability).
    Privileged,
    /// No namespace: the account's `projects` becomes a symlink to the shared dir.
    Symlink,
}

impl Mode {
    /// Whether the session gets its own mount namespace.
    pub fn namespaced(self) -> bool {
        self != Mode::Symlink
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Mode::Userns => "userns",
            Mode::Privileged => "privileged",
            Mode::Symlink => "symlink",
        })
    }
}

/// What the host allows, as far as a cheap look can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// CAP_SYS_ADMIN is in this process's permitted set.
    pub cap_sys_admin: bool,
    /// `Err(why)` when unprivileged user namespaces are known not to work.
    pub userns: Result<(), NoUserns>,
}

/// Why unprivileged user namespaces do not work here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoUserns {
    /// `kernel.unprivileged_userns_clone=0` (Debian's switch).
    CloneOff,
    /// `user.max_user_namespaces=0`.
    MaxZero,
    /// Ubuntu's AppArmor switch, with cf-run unconfined.
    AppArmor,
}

impl fmt::Display for NoUserns {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            NoUserns::CloneOff => "kernel.unprivileged_userns_clone=0",
            NoUserns::MaxZero => "user.max_user_namespaces=0",
            NoUserns::AppArmor => {
                "kernel.apparmor_restrict_unprivileged_userns=1 and cf-run runs unconfined"
            }
        })
    }
}

impl Probe {
    /// Looks at this process and the kernel's sysctls: a few small reads, no fork.
    pub fn host() -> Self {
        let cap_sys_admin = caps::has_cap(
            None,
            caps::CapSet::Permitted,
            caps::Capability::CAP_SYS_ADMIN,
        )
        .unwrap_or(false);
        Self {
            cap_sys_admin,
            userns: if cap_sys_admin {
                Ok(())
            } else {
                userns_allowed()
            },
        }
    }
}

/// Reads one sysctl, in one read: `None` when this kernel does not have it.
pub fn sysctl(name: &str) -> Option<String> {
    use nix::fcntl::{OFlag, open};
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    let fd = open(
        path.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = nix::unistd::read(&fd, &mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).trim().to_owned())
}

fn userns_allowed() -> Result<(), NoUserns> {
    if sysctl("kernel.unprivileged_userns_clone").as_deref() == Some("0") {
        return Err(NoUserns::CloneOff);
    }
    if sysctl("user.max_user_namespaces").as_deref() == Some("0") {
        return Err(NoUserns::MaxZero);
    }
    // Under this AppArmor switch unshare() succeeds but the new namespace has
    // no capabilities, so the uid_map write fails later: only a profile that
    // grants `userns` (cf-run's own, once loaded) makes it work.
    if sysctl("kernel.apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        let label = std::fs::read_to_string("/proc/self/attr/current").unwrap_or_default();
        if label.trim().is_empty() || label.trim() == "unconfined" {
            return Err(NoUserns::AppArmor);
        }
    }
    Ok(())
}

/// The mode a launch uses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub mode: Mode,
    pub reason: Reason,
}

/// Why a launch uses its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `--mode` or the config named it.
    Asked,
    /// `auto`: the binary holds cap_sys_admin.
    Capability,
    /// `auto`: no privileged mode (`no_cap` says why), and user namespaces work.
    Userns { no_cap: NoCap },
    /// `auto`: no namespace can be made. `userns` is `None` when the admin's
    /// policy, not the host, rules user namespaces out.
    NoNamespace {
        no_cap: NoCap,
        userns: Option<NoUserns>,
    },
}

/// Why `auto` did not pick privileged mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCap {
    /// The binary holds no cap_sys_admin.
    Missing,
    /// It does, but the admin's policy does not allow privileged mode.
    NotAllowed,
}

impl fmt::Display for NoCap {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            NoCap::Missing => "no cap_sys_admin on this binary",
            NoCap::NotAllowed => "privileged mode not allowed by the admin",
        })
    }
}

/// How a message names what rules user namespaces out.
fn userns_shown(userns: Option<NoUserns>) -> String {
    userns.map_or("user namespaces not allowed by the admin".into(), |u| {
        u.to_string()
    })
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Reason::Asked => f.write_str("asked for with --mode or in the config"),
            Reason::Capability => {
                f.write_str("auto: this binary holds cap_sys_admin in its permitted set")
            }
            Reason::Userns { no_cap } => write!(
                f,
                "auto: {no_cap}, and unprivileged user namespaces are allowed"
            ),
            Reason::NoNamespace { no_cap, userns } => write!(
                f,
                "auto: no namespace can be made ({}; {no_cap}); \
                 to get one, run: sudo setcap cap_sys_admin+p \"$(command -v cf-run)\"",
                userns_shown(*userns)
            ),
        }
    }
}

/// Resolves the user's choice against what the host (`probe`, looked at
/// only when the choice depends on it) and the admin's policy (`allowed`)
/// permit.
pub fn choose(
    choice: ModeChoice,
    probe: impl FnOnce() -> Probe,
    allowed: &[Mode],
) -> Result<Chosen> {
    let asked = |mode| Chosen {
        mode,
        reason: Reason::Asked,
    };
    Ok(match choice {
        ModeChoice::Auto => return auto(&probe(), allowed),
        ModeChoice::Userns => asked(Mode::Userns),
        ModeChoice::Symlink => asked(Mode::Symlink),
        ModeChoice::Privileged if probe().cap_sys_admin => asked(Mode::Privileged),
        ModeChoice::Privileged => bail!(
            "privileged mode needs CAP_SYS_ADMIN in this binary's permitted set; \
             install it with: sudo setcap cap_sys_admin+p \"$(command -v cf-run)\" \
             (or use --mode userns where unprivileged user namespaces are allowed)"
        ),
    })
}

/// `auto`: privileged, else userns, else symlink, among the allowed modes.
fn auto(probe: &Probe, allowed: &[Mode]) -> Result<Chosen> {
    let ok = |m| allowed.contains(&m);
    if probe.cap_sys_admin && ok(Mode::Privileged) {
        return Ok(Chosen {
            mode: Mode::Privileged,
            reason: Reason::Capability,
        });
    }
    let no_cap = if probe.cap_sys_admin {
        NoCap::NotAllowed
    } else {
        NoCap::Missing
    };
    let userns = probe.userns.err();
    match userns {
        None if ok(Mode::Userns) => Ok(Chosen {
            mode: Mode::Userns,
            reason: Reason::Userns { no_cap },
        }),
        _ if !ok(Mode::Symlink) => bail!(
            "no mode the admin allows works here ({no_cap}; user namespaces: {})",
            userns.map_or("not allowed by the admin".into(), |u| u.to_string())
        ),
        userns => Ok(Chosen {
            mode: Mode::Symlink,
            reason: Reason::NoNamespace { no_cap, userns },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Mode] = &[Mode::Privileged, Mode::Userns, Mode::Symlink];

    fn probe(cap: bool, userns: Result<(), NoUserns>) -> Probe {
        Probe {
            cap_sys_admin: cap,
            userns,
        }
    }

    #[test]
    fn auto_prefers_privileged_then_userns_then_symlink() {
        let pick = |p: Probe| choose(ModeChoice::Auto, || p, ALL).unwrap().mode;
        assert_eq!(pick(probe(true, Err(NoUserns::MaxZero))), Mode::Privileged);
        assert_eq!(pick(probe(false, Ok(()))), Mode::Userns);
        assert_eq!(pick(probe(false, Err(NoUserns::MaxZero))), Mode::Symlink);
    }

    #[test]
    fn auto_fallback_names_the_reason() {
        let why = NoUserns::AppArmor;
        let chosen = choose(ModeChoice::Auto, || probe(false, Err(why)), ALL).unwrap();
        assert_eq!(
            chosen.reason,
            Reason::NoNamespace {
                no_cap: NoCap::Missing,
                userns: Some(why)
            }
        );
        let reason = chosen.reason.to_string();
        assert!(
            reason.contains("kernel.apparmor_restrict_unprivileged_userns=1"),
            "{reason}"
        );
        assert!(reason.contains("setcap cap_sys_admin+p"), "{reason}");
    }

    #[test]
    fn privileged_without_the_capability_says_how_to_install() {
        let err = choose(ModeChoice::Privileged, || probe(false, Ok(())), ALL).unwrap_err();
        assert!(err.to_string().contains("setcap cap_sys_admin+p"), "{err}");
    }

    #[test]
    fn auto_picks_only_allowed_modes() {
        let both = probe(true, Ok(()));
        let pick = |allowed| choose(ModeChoice::Auto, || both.clone(), allowed).map(|m| m.mode);
        assert_eq!(pick(&[Mode::Userns, Mode::Symlink]).unwrap(), Mode::Userns);
        assert_eq!(pick(&[Mode::Symlink]).unwrap(), Mode::Symlink);
        let e = choose(
            ModeChoice::Auto,
            || probe(false, Err(NoUserns::MaxZero)),
            &[Mode::Userns],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("no mode the admin allows works here"),
            "{e}"
        );
    }

    #[test]
    fn explicit_modes_are_taken_as_asked_without_looking_at_the_host() {
        let unasked = || -> Probe { panic!("the host was probed for an explicit mode") };
        assert_eq!(
            choose(ModeChoice::Userns, unasked, ALL).unwrap().mode,
            Mode::Userns
        );
        assert_eq!(
            choose(ModeChoice::Symlink, unasked, ALL).unwrap().mode,
            Mode::Symlink
        );
    }
}
