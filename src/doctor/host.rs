//! What the host allows: the capability, user namespaces, the admin's
//! policy, the mode, other mounts, stale locks, `claude`, and a trial launch.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::unistd::{AccessFlags, access};

use super::report::{Item, Status, bad, ok};
use crate::claude_args;
use crate::config::Config;
use crate::decision::Decision;
use crate::mode::{self, Chosen, Mode, ModeChoice, NoUserns, Probe};
use crate::policy::{self, Policy};
use crate::resolve::{self, Entry};
use crate::session::{self, Lock, State};
use crate::user::User;

/// The unprivileged user namespace switches, in the order the probe reads them.
const SYSCTLS: [&str; 3] = [
    "kernel.unprivileged_userns_clone",
    "user.max_user_namespaces",
    "kernel.apparmor_restrict_unprivileged_userns",
];

fn this_binary() -> String {
    std::env::current_exe().map_or_else(|_| "cf-run".into(), |p| p.display().to_string())
}

pub fn capability(probe: &Probe) -> Item {
    let detail = if probe.cap_sys_admin {
        format!(
            "{} holds cap_sys_admin in its permitted set: privileged mode works",
            this_binary()
        )
    } else {
        format!(
            "{} does not hold cap_sys_admin: no privileged mode (sudo setcap cap_sys_admin+p on it gives one)",
            this_binary()
        )
    };
    ok("cap_sys_admin", detail)
}

pub fn user_namespaces(probe: &Probe) -> Item {
    let values: Vec<String> = SYSCTLS
        .iter()
        .map(|name| match mode::sysctl(name) {
            Some(v) => format!("{name}={v}"),
            None => format!("{name} absent"),
        })
        .collect();
    let values = values.join(", ");
    let name = "user namespaces";
    if probe.cap_sys_admin {
        return ok(name, format!("not needed for privileged mode ({values})"));
    }
    let Err(why) = probe.userns else {
        return ok(name, format!("allowed to unprivileged users ({values})"));
    };
    let fix = match why {
        NoUserns::AppArmor => {
            "load cf-run's AppArmor profile: sudo scripts/install.sh --apparmor \
             (or sudo setcap cap_sys_admin+p on the binary)"
        }
        NoUserns::MaxZero => {
            "sudo sysctl -w user.max_user_namespaces=10000 (or setcap cap_sys_admin+p on the binary)"
        }
        NoUserns::CloneOff => {
            "sudo sysctl -w kernel.unprivileged_userns_clone=1 (or setcap cap_sys_admin+p on the binary)"
        }
    };
    bad(
        Status::Warn,
        name,
        format!("not allowed: {why} ({values})"),
        fix,
    )
}

/// The admin's policy, as the decision loaded it.
pub fn policy(loaded: &anyhow::Result<Policy>) -> Item {
    match loaded {
        Ok(p) => ok("policy", policy_detail(p)),
        Err(e) => {
            let fix = format!(
                "ask the admin to fix {} (root's, mode 644 or stricter)",
                policy::PATH
            );
            bad(Status::Fail, "policy", format!("{e:#}"), fix)
        }
    }
}

fn policy_detail(policy: &Policy) -> String {
    let at = policy::PATH;
    if !Path::new(at).exists() {
        return format!("no {at}: every mode allowed, any root, no setuid");
    }
    let roots = policy.roots.as_ref().map_or("any root".into(), |r| {
        let r: Vec<_> = r.iter().map(|p| p.display().to_string()).collect();
        format!("roots {}", r.join(", "))
    });
    format!("{at}: modes {}, {roots}", policy.allowed())
}

/// The mode a launch would use, as the decision chose it.
pub fn mode(decision: &Decision) -> (Item, Option<Mode>) {
    match &decision.mode {
        Ok(Chosen { mode, reason })
            if *mode == Mode::Symlink && decision.choice == ModeChoice::Auto =>
        {
            let fix =
                "sudo setcap cap_sys_admin+p on the binary, or allow user namespaces (see above)";
            let detail = format!("symlink, which isolates nothing ({reason})");
            (bad(Status::Warn, "mode", detail, fix), Some(*mode))
        }
        Ok(Chosen { mode, reason }) => (ok("mode", format!("{mode} ({reason})")), Some(*mode)),
        Err(e) => {
            let fix =
                "sudo setcap cap_sys_admin+p on the binary, or ask the admin to allow another mode";
            (bad(Status::Fail, "mode", format!("{e:#}"), fix), None)
        }
    }
}

/// The policy refuses what the config asks.
pub fn permit(refusal: &anyhow::Error) -> Item {
    let fix = format!(
        "move the dirs where {} allows, then rerun cf-run init",
        policy::PATH
    );
    bad(
        Status::Fail,
        "policy and config",
        format!("{refusal:#}"),
        fix,
    )
}

/// Other mounts through which an account dir is reachable: a launch covers
/// those too (in the namespace modes); symlink mode leaves them open.
pub fn second_mounts(config: &Config) -> Item {
    let name = "other mounts";
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return bad(
            Status::Warn,
            name,
            "cannot read /proc/self/mountinfo",
            "mount /proc",
        );
    };
    let mounts = crate::mounts::MountTable::parse(&mountinfo);
    let found: Vec<String> = config
        .accounts
        .iter()
        .flat_map(|a| {
            mounts
                .aliases(&a.dir)
                .into_iter()
                .map(move |alias| format!("{}'s dir also at {}", a.name, alias.display()))
        })
        .collect();
    if found.is_empty() {
        return ok(name, "no other mount reaches an account dir");
    }
    bad(
        Status::Warn,
        name,
        format!(
            "{} (covered too in the namespace modes; open in symlink mode)",
            found.join("; ")
        ),
        "nothing to do for the namespace modes; for symlink mode, unmount the second mount",
    )
}

/// Launches `/bin/true` under the config's first account, as a user would.
pub fn trial_launch(config_path: &Path, user: &User) -> Item {
    let name = "trial launch";
    let first = Config::load(config_path, user.uid, &user.home)
        .ok()
        .and_then(|c| c.accounts.first().map(|a| a.name.clone()));
    let (Some(account), Ok(me)) = (first, std::env::current_exe()) else {
        return bad(
            Status::Fail,
            name,
            "no account to launch under",
            "fix the config",
        );
    };
    let out = std::process::Command::new(&me)
        .arg("--config")
        .arg(config_path)
        .args(["--account", &account, "--", "/bin/true"])
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => ok(
            name,
            format!("/bin/true ran under {account}: every step of a launch works here"),
        ),
        Ok(out) => bad(
            Status::Fail,
            name,
            format!(
                "cf-run --account {account} -- /bin/true failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "the message names the step and the cause",
        ),
        Err(e) => bad(
            Status::Fail,
            name,
            format!("cannot run {}: {e}", me.display()),
            "reinstall cf-run",
        ),
    }
}

/// Whether the kernel scopes sessions with Landlock (ABI 6, Linux 6.12):
/// without it a session can reach abstract Unix sockets (X11, some buses)
/// and signal processes outside it that its PID namespace does not hide.
pub fn landlock_scopes() -> Item {
    let name = "landlock scopes";
    if crate::scope::available() {
        return ok(
            name,
            "sessions reach no abstract socket and signal no process outside them",
        );
    }
    bad(
        Status::Warn,
        name,
        "this kernel has no Landlock ABI 6: sessions can reach abstract Unix sockets (X11's, \
         some buses) made outside them (SECURITY.md lists this as open)",
        "a kernel of 6.12 or later, with landlock in its lsm= list",
    )
}

/// The background supervisor's socket dir in the shared /tmp: another
/// user's there sends every session to a private /tmp of its own.
pub fn daemon_sockets(user: &User) -> Item {
    let dir = crate::plan::daemon_sockets(user.uid);
    let shown = dir.display();
    let name = "supervisor sockets";
    match resolve::entry(&dir) {
        Ok(Entry::Missing) => ok(name, format!("{shown} is free")),
        Ok(Entry::Dir(_, st)) if st.st_uid == user.uid.as_raw() => {
            ok(name, format!("{shown} is yours"))
        }
        Ok(Entry::Dir(_, st)) => bad(
            Status::Warn,
            name,
            format!(
                "{shown} is owned by uid {}: every session gets a private /tmp",
                st.st_uid
            ),
            format!("ask root to remove it: sudo rm -r {shown}"),
        ),
        _ => bad(
            Status::Warn,
            name,
            format!("{shown} is not a real directory: every session gets a private /tmp"),
            format!("remove it: rm {shown} (root's help if it is not yours)"),
        ),
    }
}

/// Session locks held though their session is gone: a process the session
/// started still holds it, and a resume of that session waits or fails.
pub fn stale_locks(state: &State) -> Item {
    let dir = state.dir.join("locks");
    let sessions: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_suffix(".lock")?;
            claude_args::is_uuid(id).then(|| id.to_owned())
        })
        .collect();
    let live: Vec<String> = session::live(state)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.session)
        .collect();
    let stale: Vec<&String> = sessions
        .iter()
        .filter(|id| !live.contains(id) && !Lock::is_free(state, id))
        .collect();
    let Some(first) = stale.first() else {
        return ok(
            "locks",
            format!(
                "{} session lock file(s) in {}, none stale",
                sessions.len(),
                dir.display()
            ),
        );
    };
    let ids: Vec<&str> = stale.iter().map(|s| s.as_str()).collect();
    let detail = format!(
        "held though no cf-run session runs them: {} (a process the session started holds the lock)",
        ids.join(", ")
    );
    let fix = format!(
        "end the holder: fuser -v {}",
        state.lock_path(first).display()
    );
    bad(Status::Warn, "locks", detail, fix)
}

/// `claude` as a launch without a command would run it, and its version.
pub fn claude_on_path() -> Item {
    let name = "claude";
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join("claude"))
        .find(|p| p.is_file() && access(p, AccessFlags::X_OK).is_ok());
    let Some(bin) = found else {
        let detail = format!("not found on PATH ({})", path.to_string_lossy());
        let fix =
            "install Claude Code (npm install -g @anthropic-ai/claude-code) or add its dir to PATH";
        return bad(Status::Fail, name, detail, fix);
    };
    match version(&bin) {
        Ok(v) => ok(name, format!("{}: {v}", bin.display())),
        Err(why) => bad(
            Status::Warn,
            name,
            format!("{}: `claude --version` {why}", bin.display()),
            "reinstall Claude Code (npm install -g @anthropic-ai/claude-code)",
        ),
    }
}

/// Runs `bin --version`, for at most ten seconds.
fn version(bin: &Path) -> Result<String, String> {
    let mut child = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("did not answer within 10 s".into());
            }
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("failed: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match (out.status.success(), text.is_empty()) {
        (true, false) => Ok(text),
        _ => Err(format!("failed ({})", out.status)),
    }
}
