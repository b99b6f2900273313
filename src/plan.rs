//! The pure step of a launch: config + account + user + mode become a plan
//! (checks, then actions, then the environment and command), which `--dry-run`
//! prints and `launch` carries out. Nothing here touches the system.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use anyhow::{Result, bail};
use nix::unistd::{Gid, Uid};

use crate::claude_args;
use crate::config::{self, Account, Config};
use crate::environ::{self, CONFIG_DIR_VAR};
use crate::mode::{Chosen, Mode, Reason};
use crate::session::State;
use crate::tap;
use crate::user::User;

/// Where Claude Code keeps a file per running client, named by its pid.
pub const CLIENT_FILES: &str = "sessions";

/// What must hold on disk before anything is changed. All checks run first,
/// so a refused launch changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A real directory owned by the user.
    OwnedDir { path: PathBuf, what: String },
    /// Absent, or a real directory owned by the user.
    OwnedDirOrAbsent { path: PathBuf, what: String },
    /// Absent, empty, or a symlink to the shared dir: mounting over it or
    /// replacing it hides no transcript nor any other file.
    HidesNothing { path: PathBuf, shared: PathBuf },
    /// A socket of the user's, reached without symlinks.
    OwnedSocket { path: PathBuf },
}

/// One change, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Bind `src` over `dst`, recursive, nosuid, nodev; `dst` is created empty
    /// when missing, and left alone when it already is a symlink to `src`.
    Bind { src: PathBuf, dst: PathBuf },
    /// Bind `src` over `dst` as `Bind` does, read-only: a share the client
    /// runs code from, which no session may change for the next.
    BindReadOnly { src: PathBuf, dst: PathBuf },
    /// Hide `dir` under an empty read-only tmpfs; nothing to do when absent.
    Cover { dir: PathBuf },
    /// Make `link` a symlink to `to`, replacing an empty directory.
    Link { link: PathBuf, to: PathBuf },
    /// Create the directory `path` (and missing parents, mode 0700) if absent.
    MakeDir { path: PathBuf },
    /// Mount an empty tmpfs (mode 1777) over `dir`: the session's own.
    Tmpfs { dir: PathBuf },
    /// Mount an empty tmpfs (mode 0700, the user's) over the user's runtime
    /// dir `dir`: the session's own.
    PrivateRuntime { dir: PathBuf },
    /// Bind the socket `path` (a service of the user's the config names)
    /// from the host to the same path in the session's own /tmp or runtime
    /// dir.
    KeepSocket { path: PathBuf },
    /// Bind a fresh dir of this launch's over `dir`, the client's
    /// per-process files (`sessions/`), when the client has made it: every
    /// client is pid 2 in its own PID namespace, so two sessions of one
    /// account would write the same file; and cf-run reads which session its
    /// client is on from it.
    ClientFiles { dir: PathBuf },
    /// Bind the account's own dir for its background supervisor's sockets
    /// (the state dir's `daemons/<account>`, made if missing) over `dir`;
    /// where `dir` is not the user's (another user made it first), over
    /// the same path in a private /tmp of the session's.
    DaemonSockets { dir: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    pub reason: Reason,
    pub account: Account,
    pub uid: Uid,
    pub gid: Gid,
    pub checks: Vec<Check>,
    pub actions: Vec<Action>,
    /// Set for the command: CLAUDE_CONFIG_DIR, then the account's own.
    pub env: Vec<(String, OsString)>,
    /// Credential variables of the caller's that the command does not get.
    pub unset: Vec<String>,
    /// Set no_new_privs before exec: setuid programs and file capabilities
    /// do not elevate. Off only where the config asks and the policy allows.
    pub no_new_privs: bool,
    /// The session to lock for as long as the command runs.
    pub session: Option<String>,
    /// Wait for the lock rather than fail when another launch holds it.
    pub wait: bool,
    /// Where the lock and the registry entry go.
    pub state: State,
    pub command: Vec<OsString>,
}

/// Where the client's background supervisor keeps its sockets.
pub fn daemon_sockets(uid: Uid) -> PathBuf {
    PathBuf::from(format!("/tmp/cc-daemon-{uid}"))
}

/// What the command line adds to the config for one launch.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub account: String,
    /// The command [default: claude].
    pub command: Vec<OsString>,
    /// `--session`; else the id in the command's own arguments.
    pub session: Option<String>,
    pub wait: bool,
    /// The names in the caller's environment (those of credentials, at least).
    pub caller_env: Vec<String>,
    /// Credential variables to pass on from the caller's environment all the same.
    pub keep_env: Vec<String>,
    /// `--private-tmp` (true) or `--shared-tmp` (false), if given.
    pub private_tmp: Option<bool>,
    /// This program, to run as the client's statusline tap ([`tap`]).
    pub tap: Option<PathBuf>,
    /// A line for the client to show once it has resumed (`--failover`).
    pub note: Option<String>,
}

impl Plan {
    /// Plans a launch of the request's command under its account.
    pub fn build(
        config: &Config,
        request: Request,
        user: &User,
        Chosen { mode, reason }: Chosen,
    ) -> Result<Plan> {
        let account = config.account(&request.account)?.clone();
        let shares = config.all_shares();
        let state = State::of(user);
        let mut checks = vec![Check::OwnedDir {
            path: account.dir.clone(),
            what: format!("account {:?}'s dir", account.name),
        }];
        let mut actions = vec![];
        for share in &shares {
            // The shared projects dir must exist; a [share] dir is made on first use.
            checks.push(if share.name == config::PROJECTS {
                Check::OwnedDir {
                    path: share.dir.clone(),
                    what: "the shared projects dir".into(),
                }
            } else {
                actions.push(Action::MakeDir {
                    path: share.dir.clone(),
                });
                Check::OwnedDirOrAbsent {
                    path: share.dir.clone(),
                    what: format!("the shared {} dir", share.name),
                }
            });
            checks.push(Check::HidesNothing {
                path: account.dir.join(&share.name),
                shared: share.dir.clone(),
            });
        }
        let asked_tmp = request.private_tmp.or(config.private_tmp);
        let config_dir = if mode.namespaced() {
            let others = config.accounts.iter().filter(|a| a.name != account.name);
            checks.push(Check::OwnedDirOrAbsent {
                path: config.target.clone(),
                what: "the mount target".into(),
            });
            checks.extend(shares.iter().map(|s| Check::HidesNothing {
                path: config.target.join(&s.name),
                shared: s.dir.clone(),
            }));
            checks.extend(others.clone().map(|a| Check::OwnedDirOrAbsent {
                path: a.dir.clone(),
                what: format!("account {:?}'s dir", a.name),
            }));
            // The shared dirs go over the account's own entries first, so the
            // recursive bind of the account dir carries them to ~/.claude/NAME.
            actions.extend(shares.iter().map(|s| {
                let (src, dst) = (s.dir.clone(), account.dir.join(&s.name));
                if s.read_only() {
                    Action::BindReadOnly { src, dst }
                } else {
                    Action::Bind { src, dst }
                }
            }));
            actions.push(Action::ClientFiles {
                dir: account.dir.join(CLIENT_FILES),
            });
            actions.push(Action::Bind {
                src: account.dir.clone(),
                dst: config.target.clone(),
            });
            actions.extend(others.map(|a| Action::Cover { dir: a.dir.clone() }));
            // A read-only share is read-only where it really lies too.
            actions.extend(
                shares
                    .iter()
                    .filter(|s| s.read_only())
                    .map(|s| Action::BindReadOnly {
                        src: s.dir.clone(),
                        dst: s.dir.clone(),
                    }),
            );
            // A private /tmp would hide a dir the session needs that lies in
            // the host's /tmp (a home there, as some CI users have).
            let needed_in_tmp = std::iter::once(&config.target)
                .chain(shares.iter().map(|s| &s.dir))
                .find(|d| d.starts_with("/tmp"));
            let private_tmp = match (asked_tmp, needed_in_tmp) {
                (Some(true), Some(dir)) => bail!(
                    "a private /tmp would hide {}, which the session needs: drop --private-tmp \
                     (private_tmp in the config), or move it out of /tmp",
                    dir.display()
                ),
                (asked, in_tmp) => asked.unwrap_or(in_tmp.is_none()),
            };
            if private_tmp {
                actions.push(Action::Tmpfs { dir: "/tmp".into() });
            }
            // The client's background supervisor keeps its sockets under
            // /tmp/cc-daemon-<uid>, in a dir named for the config dir's path,
            // which is ~/.claude for every account: each account gets a dir of
            // its own there, kept in the state dir, where the session can
            // reach no account's.
            actions.push(Action::DaemonSockets {
                dir: daemon_sockets(user.uid),
            });
            // What the session's own /tmp and runtime dir hide from it.
            let runtime = state.runtime_home();
            let hidden = |d: &PathBuf| {
                private_tmp && d.starts_with("/tmp")
                    || runtime.as_ref().is_some_and(|r| d.starts_with(r))
            };
            // cf-run's own state: what keeps sessions apart (locks, registry,
            // client dirs, sockets, cool-downs) is out of the session's
            // reach. Made first, so that the session cannot make it in their
            // place; covered unless already out of sight.
            for dir in [&state.dir, &state.keep].into_iter().filter(|d| !hidden(d)) {
                checks.push(Check::OwnedDirOrAbsent {
                    path: dir.clone(),
                    what: "cf-run's state dir".into(),
                });
                actions.push(Action::MakeDir { path: dir.clone() });
                actions.push(Action::Cover { dir: dir.clone() });
            }
            // The services the config lets sessions reach, one socket each,
            // where a dir of the session's own hides them.
            let kept: Vec<&PathBuf> = config.sockets.iter().filter(|p| hidden(p)).collect();
            // The user's runtime dir holds the sockets of their services (the
            // D-Bus session bus and systemd --user, ssh-agent, gpg-agent,
            // pipewire, wayland), through which a session could act outside
            // every namespace: the session gets an empty one of its own.
            if let Some(dir) = runtime {
                actions.push(Action::PrivateRuntime { dir });
            }
            for path in kept {
                checks.push(Check::OwnedSocket { path: path.clone() });
                actions.push(Action::KeepSocket { path: path.clone() });
            }
            config.target.clone()
        } else {
            if let Some(s) = shares.iter().find(|s| s.read_only()) {
                bail!(
                    "[share] {0} ({1}) holds code the client runs; symlink mode cannot keep one \
                     account's session from changing it for the next: use --mode userns or \
                     privileged, or say in the config that sessions may write it: \
                     {0} = {{ dir = \"{1}\", writable = true }}",
                    s.name,
                    s.dir.display()
                );
            }
            if asked_tmp == Some(true) {
                bail!(
                    "a private /tmp needs a namespace; symlink mode has none: use --mode \
                     userns or privileged, or drop --private-tmp (private_tmp in the config)"
                );
            }
            actions.extend(shares.iter().map(|s| Action::Link {
                link: account.dir.join(&s.name),
                to: s.dir.clone(),
            }));
            account.dir.clone()
        };
        let mut command = if request.command.is_empty() {
            vec!["claude".into()]
        } else {
            request.command
        };
        let session = request
            .session
            .or_else(|| claude_args::session_of(&command));
        // Only a namespace launch has a client dir for the tap to write to.
        if let Some(exe) = request.tap.as_deref().filter(|_| mode.namespaced()) {
            command = tap::added(command, exe, request.note.as_deref());
        }
        let mut env = vec![(CONFIG_DIR_VAR.to_owned(), config_dir.into_os_string())];
        env.extend(account.env.iter().map(|(n, v)| (n.clone(), v.into())));
        // The caller's credentials would win over the account's own; those
        // the account sets replace them anyway.
        let unset = request
            .caller_env
            .into_iter()
            .filter(|n| environ::is_credential(n) && !request.keep_env.contains(n))
            .filter(|n| !env.iter().any(|(set, _)| set == n))
            .collect();
        Ok(Plan {
            mode,
            reason,
            account,
            uid: user.uid,
            gid: user.gid,
            checks,
            actions,
            env,
            unset,
            no_new_privs: !config.setuid,
            session,
            wait: request.wait,
            state,
            command,
        })
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Check::OwnedDir { path, what } => {
                write!(f, "{} is a directory you own ({what})", path.display())
            }
            Check::OwnedDirOrAbsent { path, what } => write!(
                f,
                "{} is absent or a directory you own ({what})",
                path.display()
            ),
            Check::HidesNothing { path, shared } => write!(
                f,
                "{} is absent, empty or a symlink to {} (nothing gets hidden)",
                path.display(),
                shared.display()
            ),
            Check::OwnedSocket { path } => write!(f, "{} is a socket you own", path.display()),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Action::Bind { src, dst } => write!(
                f,
                "bind {} over {} (recursive, nosuid, nodev; created if missing)",
                src.display(),
                dst.display()
            ),
            Action::BindReadOnly { src, dst } => write!(
                f,
                "bind {} over {} read-only (recursive, nosuid, nodev; created if missing)",
                src.display(),
                dst.display()
            ),
            Action::Cover { dir } => write!(
                f,
                "cover {} with an empty read-only tmpfs (nosuid, nodev, noexec), and \
                 every other mount that reaches it",
                dir.display()
            ),
            Action::MakeDir { path } => {
                write!(f, "create {} (mode 0700) if missing", path.display())
            }
            Action::Tmpfs { dir } => write!(
                f,
                "an empty tmpfs over {} (mode 1777, nosuid, nodev): the session's own",
                dir.display()
            ),
            Action::KeepSocket { path } => write!(
                f,
                "bind the socket {0} (yours, from the config's sockets) to {0} in the session's own dir",
                path.display()
            ),
            Action::PrivateRuntime { dir } => write!(
                f,
                "an empty tmpfs over {} (mode 0700, nosuid, nodev): the session's own runtime \
                 dir, without the sockets of your services (D-Bus, systemd --user, agents)",
                dir.display()
            ),
            Action::DaemonSockets { dir } => write!(
                f,
                "bind the account's own dir for its background supervisor (cf-run's state \
                 dir, daemons/<account>) over {} (created if missing; if another user made it, \
                 in a private /tmp)",
                dir.display()
            ),
            Action::ClientFiles { dir } => write!(
                f,
                "bind a fresh dir of this launch's (cf-run's state dir, clients/<pid>) over {}, \
                 if the client made it (its per-process files; followed for the session it is \
                 on, and where cf-run's statusline tap files the account's usage)",
                dir.display()
            ),
            Action::Link { link, to } => write!(
                f,
                "symlink {} -> {} (an empty directory there is replaced)",
                link.display(),
                to.display()
            ),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (uid, gid) = (self.uid, self.gid);
        writeln!(
            f,
            "account: {} ({})",
            self.account.name,
            self.account.dir.display()
        )?;
        writeln!(f, "mode: {} ({})", self.mode, self.reason)?;
        match self.mode {
            Mode::Userns => writeln!(
                f,
                "namespace: unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID), setgroups deny, \
                 map uid {uid} and gid {gid} onto themselves, make / recursively private"
            )?,
            Mode::Privileged => writeln!(
                f,
                "namespace: raise CAP_SYS_ADMIN, unshare(CLONE_NEWNS|CLONE_NEWPID), make / \
                 recursively private; the capability is effective only for this, the mounts \
                 and /proc"
            )?,
            Mode::Symlink => writeln!(
                f,
                "namespace: none (the change below is seen by every process)"
            )?,
        }
        for check in &self.checks {
            writeln!(f, "check: {check}")?;
        }
        for action in &self.actions {
            let kind = match action {
                Action::Bind { .. }
                | Action::BindReadOnly { .. }
                | Action::Cover { .. }
                | Action::Tmpfs { .. }
                | Action::PrivateRuntime { .. }
                | Action::KeepSocket { .. }
                | Action::ClientFiles { .. }
                | Action::DaemonSockets { .. } => "mount",
                Action::Link { .. } | Action::MakeDir { .. } => "change",
            };
            writeln!(f, "{kind}: {action}")?;
        }
        for (name, value) in &self.env {
            match name.as_str() {
                CONFIG_DIR_VAR => writeln!(f, "env: {name}={}", value.display())?,
                _ => writeln!(
                    f,
                    "env: {name} set from accounts.{}.env (value not shown)",
                    self.account.name
                )?,
            }
        }
        for name in &self.unset {
            writeln!(
                f,
                "env: {name} removed: yours would override account {}'s own credentials \
                 (--keep-env {name} passes it on)",
                self.account.name
            )?;
        }
        if let Some(session) = &self.session {
            let how = if self.wait {
                "waiting for it"
            } else {
                "exit 75 if held"
            };
            let holder = if self.mode.namespaced() {
                "held by cf-run's parent process"
            } else {
                "the command inherits the descriptor"
            };
            writeln!(
                f,
                "lock: session {session}, {} ({how}; {holder})",
                self.state.lock_path(session).display()
            )?;
        }
        writeln!(f, "register: {}", self.state.entry_path_shown())?;
        if self.mode.namespaced() {
            writeln!(
                f,
                "fork: cf-run stays as the session's parent (holds the lock, relays signals, \
                 exits as the command does); its child is pid 1 of the new PID namespace"
            )?;
            writeln!(
                f,
                "mount: proc over /proc (nosuid, nodev, noexec): the session's processes only"
            )?;
        }
        let command: Vec<_> = self.command.iter().map(|a| format!("{a:?}")).collect();
        let nnp = if self.no_new_privs {
            "set"
        } else {
            "not set (setuid allowed)"
        };
        let how = if self.mode.namespaced() {
            "pid 2, forked by pid 1"
        } else {
            "in cf-run's place"
        };
        writeln!(
            f,
            "exec: {} ({how}; all capabilities dropped, no_new_privs {nnp}, as uid {uid} gid {gid})",
            command.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn asked(mode: Mode) -> Chosen {
        Chosen {
            mode,
            reason: Reason::Asked,
        }
    }

    fn user() -> User {
        User {
            uid: Uid::from_raw(1001),
            gid: Gid::from_raw(1002),
            name: "u".into(),
            home: "/home/u".into(),
        }
    }

    fn config() -> Config {
        let text = r#"
shared_projects = "~/shared"
[accounts.one]
dir = "~/.claude-one"
[accounts.two]
dir = "~/.claude-two"
[accounts.three]
dir = "/srv/three"
"#;
        Config::parse(text, Path::new("/home/u")).unwrap()
    }

    fn request(account: &str, command: &[&str]) -> Request {
        Request {
            account: account.into(),
            command: command.iter().map(OsString::from).collect(),
            ..Request::default()
        }
    }

    fn plan(mode: Mode, command: &[&str]) -> Plan {
        Plan::build(&config(), request("two", command), &user(), asked(mode)).unwrap()
    }

    fn config_dir(dir: &str) -> (String, OsString) {
        (CONFIG_DIR_VAR.into(), dir.into())
    }

    /// The last actions of every namespace launch, by default: the private
    /// /tmp, the supervisor's sockets, cf-run's state dir that outlives a
    /// reboot, made, then covered (the runtime one is out of sight: in /tmp,
    /// or in /run/user/UID, which gets a tmpfs of the session's own where
    /// the host has it).
    fn last_actions() -> Vec<Action> {
        let keep = PathBuf::from("/home/u/.local/state/cf-run");
        let mut last = vec![
            Action::Tmpfs { dir: "/tmp".into() },
            Action::DaemonSockets {
                dir: "/tmp/cc-daemon-1001".into(),
            },
            Action::MakeDir { path: keep.clone() },
            Action::Cover { dir: keep },
        ];
        last.extend(
            State::of(&user())
                .runtime_home()
                .map(|dir| Action::PrivateRuntime { dir }),
        );
        last
    }

    fn bind(src: &str, dst: &str) -> Action {
        Action::Bind {
            src: src.into(),
            dst: dst.into(),
        }
    }

    #[test]
    fn namespace_binds_shared_then_account_then_covers_the_others() {
        for mode in [Mode::Userns, Mode::Privileged] {
            let p = plan(mode, &[]);
            assert_eq!(
                p.actions,
                [
                    [
                        bind("/home/u/shared", "/home/u/.claude-two/projects"),
                        Action::ClientFiles {
                            dir: "/home/u/.claude-two/sessions".into()
                        },
                        bind("/home/u/.claude-two", "/home/u/.claude"),
                        Action::Cover {
                            dir: "/home/u/.claude-one".into()
                        },
                        Action::Cover {
                            dir: "/srv/three".into()
                        },
                    ]
                    .as_slice(),
                    &last_actions(),
                ]
                .concat()
            );
            assert_eq!(p.env, [config_dir("/home/u/.claude")]);
        }
    }

    #[test]
    fn namespace_checks_everything_it_touches() {
        let p = plan(Mode::Userns, &[]);
        let paths: Vec<_> = p
            .checks
            .iter()
            .map(|c| match c {
                Check::OwnedDir { path, .. }
                | Check::OwnedDirOrAbsent { path, .. }
                | Check::HidesNothing { path, .. }
                | Check::OwnedSocket { path } => path.to_str().unwrap(),
            })
            .collect();
        assert_eq!(
            paths,
            [
                "/home/u/.claude-two",
                "/home/u/shared",
                "/home/u/.claude-two/projects",
                "/home/u/.claude",
                "/home/u/.claude/projects",
                "/home/u/.claude-one",
                "/srv/three",
                "/home/u/.local/state/cf-run",
            ]
        );
    }

    #[test]
    fn symlink_mode_links_projects_and_points_claude_at_the_account() {
        let p = plan(Mode::Symlink, &["sh", "-c", "true"]);
        assert_eq!(
            p.actions,
            [Action::Link {
                link: "/home/u/.claude-two/projects".into(),
                to: "/home/u/shared".into()
            }]
        );
        assert_eq!(p.env, [config_dir("/home/u/.claude-two")]);
        assert_eq!(p.command, ["sh", "-c", "true"]);
        assert_eq!(p.checks.len(), 3);
    }

    #[test]
    fn the_session_comes_from_the_flag_else_from_the_command() {
        let id = "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";
        assert_eq!(
            plan(Mode::Userns, &["claude", "-r", id]).session.as_deref(),
            Some(id)
        );
        assert_eq!(plan(Mode::Userns, &["claude"]).session, None);
        let mut r = request("two", &["claude", "-r", id]);
        r.session = Some("00000000-0000-0000-0000-000000000000".into());
        let p = Plan::build(&config(), r, &user(), asked(Mode::Userns)).unwrap();
        assert_eq!(
            p.session.as_deref(),
            Some("00000000-0000-0000-0000-000000000000")
        );
        let lock = format!(
            "lock: session 00000000-0000-0000-0000-000000000000, {}/locks/",
            State::of(&user()).dir.display()
        );
        assert!(p.to_string().contains(&lock), "{p}");
    }

    #[test]
    fn shared_dirs_are_made_and_bound_before_the_account() {
        let text = "shared_projects = \"~/shared\"\n[accounts.one]\ndir = \"~/one\"\n[share]\nplans = \"~/sh/plans\"\n";
        let config = Config::parse(text, Path::new("/home/u")).unwrap();
        let build = |mode| Plan::build(&config, request("one", &[]), &user(), asked(mode)).unwrap();
        assert_eq!(
            build(Mode::Userns).actions,
            [
                [
                    Action::MakeDir {
                        path: "/home/u/sh/plans".into()
                    },
                    bind("/home/u/shared", "/home/u/one/projects"),
                    bind("/home/u/sh/plans", "/home/u/one/plans"),
                    Action::ClientFiles {
                        dir: "/home/u/one/sessions".into()
                    },
                    bind("/home/u/one", "/home/u/.claude"),
                ]
                .as_slice(),
                &last_actions(),
            ]
            .concat()
        );
        assert_eq!(
            build(Mode::Symlink).actions,
            [
                Action::MakeDir {
                    path: "/home/u/sh/plans".into()
                },
                Action::Link {
                    link: "/home/u/one/projects".into(),
                    to: "/home/u/shared".into()
                },
                Action::Link {
                    link: "/home/u/one/plans".into(),
                    to: "/home/u/sh/plans".into()
                },
            ]
        );
        assert!(build(Mode::Userns).checks.contains(&Check::HidesNothing {
            path: "/home/u/.claude/plans".into(),
            shared: "/home/u/sh/plans".into()
        }));
    }

    #[test]
    fn tmp_is_private_in_a_namespace_unless_the_config_or_the_launch_says_shared() {
        let private = |config: &Config, tmp: Option<bool>, mode| {
            let mut r = request("two", &[]);
            r.private_tmp = tmp;
            Plan::build(config, r, &user(), asked(mode)).map(|p| {
                p.actions
                    .iter()
                    .any(|a| *a == Action::Tmpfs { dir: "/tmp".into() })
            })
        };
        let shared = Config::parse(
            "shared_projects = \"~/s\"\nprivate_tmp = false\n[accounts.two]\ndir = \"~/two\"\n",
            Path::new("/home/u"),
        )
        .unwrap();
        assert!(private(&config(), None, Mode::Userns).unwrap());
        assert!(!private(&config(), Some(false), Mode::Userns).unwrap());
        assert!(!private(&shared, None, Mode::Privileged).unwrap());
        assert!(private(&shared, Some(true), Mode::Privileged).unwrap());
        // A home in /tmp keeps the host's /tmp, unless asked: then refused.
        let in_tmp = Config::parse(
            "shared_projects = \"/tmp/h/s\"\n[accounts.two]\ndir = \"/tmp/h/two\"\n",
            Path::new("/tmp/h"),
        )
        .unwrap();
        assert!(!private(&in_tmp, None, Mode::Userns).unwrap());
        let e = private(&in_tmp, Some(true), Mode::Userns).unwrap_err();
        assert!(e.to_string().contains("would hide /tmp/h/.claude"), "{e}");
        // Symlink mode has no namespace: no /tmp of its own, refused only when asked.
        assert!(!private(&config(), None, Mode::Symlink).unwrap());
        let e = private(&config(), Some(true), Mode::Symlink).unwrap_err();
        assert!(
            e.to_string().contains("a private /tmp needs a namespace"),
            "{e}"
        );
    }

    #[test]
    fn shares_the_client_runs_code_from_are_read_only_unless_the_config_says() {
        let text = "shared_projects = \"~/shared\"\n[accounts.one]\ndir = \"~/one\"\n[share]\n\
                    commands = \"~/sh/commands\"\nplans = \"~/sh/plans\"\n\
                    skills = { dir = \"~/sh/skills\", writable = true }\n";
        let config = Config::parse(text, Path::new("/home/u")).unwrap();
        let build = |mode| Plan::build(&config, request("one", &[]), &user(), asked(mode));
        let actions = build(Mode::Userns).unwrap().actions;
        let ro = |src: &str, dst: &str| Action::BindReadOnly {
            src: src.into(),
            dst: dst.into(),
        };
        for want in [
            ro("/home/u/sh/commands", "/home/u/one/commands"),
            ro("/home/u/sh/commands", "/home/u/sh/commands"),
            bind("/home/u/sh/plans", "/home/u/one/plans"),
            bind("/home/u/sh/skills", "/home/u/one/skills"),
        ] {
            assert!(actions.contains(&want), "{want:?} in {actions:?}");
        }
        let read_only: Vec<_> = actions
            .iter()
            .filter(|a| matches!(a, Action::BindReadOnly { .. }))
            .collect();
        assert_eq!(read_only.len(), 2, "{actions:?}");
        let e = build(Mode::Symlink).unwrap_err().to_string();
        assert!(
            e.contains("[share] commands (/home/u/sh/commands) holds code the client runs")
                && e.contains("writable = true"),
            "{e}"
        );
    }

    #[test]
    fn the_callers_credentials_are_removed_unless_kept_or_set_by_the_account() {
        let text = "shared_projects = \"~/s\"\n[accounts.one]\ndir = \"~/one\"\n\
                    [accounts.one.env]\nANTHROPIC_AUTH_TOKEN = \"tok-one\"\n";
        let config = Config::parse(text, Path::new("/home/u")).unwrap();
        let mut r = request("one", &[]);
        r.caller_env = [
            "PATH",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "ANTHROPIC_PROFILE",
        ]
        .map(String::from)
        .into();
        r.keep_env = vec!["ANTHROPIC_PROFILE".into()];
        let p = Plan::build(&config, r, &user(), asked(Mode::Userns)).unwrap();
        assert_eq!(p.unset, ["ANTHROPIC_API_KEY"]);
        assert_eq!(
            p.env,
            [
                config_dir("/home/u/.claude"),
                ("ANTHROPIC_AUTH_TOKEN".into(), "tok-one".into())
            ]
        );
        let text = p.to_string();
        assert!(!text.contains("tok-one"), "{text}");
        for want in [
            "env: ANTHROPIC_AUTH_TOKEN set from accounts.one.env (value not shown)",
            "env: ANTHROPIC_API_KEY removed: yours would override account one's own credentials (--keep-env ANTHROPIC_API_KEY passes it on)",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn default_command_is_claude() {
        assert_eq!(plan(Mode::Userns, &[]).command, ["claude"]);
    }

    #[test]
    fn unknown_account_is_an_error() {
        let e = Plan::build(
            &config(),
            request("four", &[]),
            &user(),
            asked(Mode::Userns),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("one, two, three"), "{e}");
    }

    #[test]
    fn display_shows_mode_reason_mounts_env_and_command() {
        let text = plan(Mode::Userns, &["claude", "--resume", "x y"]).to_string();
        for want in [
            "mode: userns (asked for with --mode or in the config)",
            "map uid 1001 and gid 1002",
            "mount: bind /home/u/.claude-two over /home/u/.claude",
            "mount: cover /srv/three",
            "env: CLAUDE_CONFIG_DIR=/home/u/.claude",
            "fork: cf-run stays as the session's parent",
            "mount: proc over /proc",
            "exec: \"claude\" \"--resume\" \"x y\" (pid 2, forked by pid 1;",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }
}
