//! `cf-run doctor`: what a launch needs, checked the way a launch checks it
//! (the same probe, policy, config loader and on-disk checks), each problem
//! with a one-line fix. It changes nothing, but for the registry forgetting
//! sessions that are gone, as `cf-run ps` does.

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use nix::unistd::{AccessFlags, Uid, access};
use serde::Serialize;

use crate::checks;
use crate::claude_args;
use crate::config::{Account, Config};
use crate::exit::Exit;
use crate::mode::{self, Mode, ModeChoice, Probe};
use crate::plan::{Check, Plan, Request};
use crate::policy::{self, Policy};
use crate::resolve::{self, Entry};
use crate::session::{self, Lock, State};
use crate::user::User;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    /// Worth fixing, but a launch works.
    Warn,
    /// A launch would fail.
    Fail,
}

#[derive(Debug, Serialize)]
struct Item {
    name: String,
    status: Status,
    detail: String,
    fix: Option<String>,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Json<'a> {
    /// Whether a launch would work.
    ok: bool,
    /// The mode a launch would use, when one works.
    mode: Option<String>,
    checks: &'a [Item],
}

fn ok(name: impl Into<String>, detail: impl Into<String>) -> Item {
    Item {
        name: name.into(),
        status: Status::Ok,
        detail: detail.into(),
        fix: None,
    }
}

fn bad(
    status: Status,
    name: impl Into<String>,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Item {
    Item {
        name: name.into(),
        status,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// Other mounts through which an account dir is reachable: a launch covers
/// those too (in the namespace modes); symlink mode leaves them open.
fn second_mounts(config: &Config) -> Item {
    let name = "other mounts";
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return bad(
            Status::Warn,
            name,
            "cannot read /proc/self/mountinfo",
            "mount /proc",
        );
    };
    let found: Vec<String> = config
        .accounts
        .iter()
        .flat_map(|a| {
            crate::mounts::aliases(&mountinfo, &a.dir)
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
fn trial_launch(config_path: &Path, user: &User) -> Item {
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

/// The unprivileged user namespace switches, in the order the probe reads them.
const SYSCTLS: [&str; 3] = [
    "kernel.unprivileged_userns_clone",
    "user.max_user_namespaces",
    "kernel.apparmor_restrict_unprivileged_userns",
];

pub fn run(config_path: &Path, user: &User, json: bool) -> Result<()> {
    let (mut items, mode) = check_all(config_path, user);
    // All well on paper: one real launch proves the rest (the namespaces,
    // the new /proc, the seccomp filter) on this host.
    if items.iter().all(|i| i.status != Status::Fail) {
        items.push(trial_launch(config_path, user));
    }
    let failing: Vec<&str> = items
        .iter()
        .filter(|i| i.status == Status::Fail)
        .map(|i| i.name.as_str())
        .collect();
    if json {
        let out = Json {
            ok: failing.is_empty(),
            mode: mode.map(|m| m.to_string()),
            checks: &items,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("{}", crate::output::printable(&render(&items)));
    }
    if failing.is_empty() {
        return Ok(());
    }
    Err(Exit::new(
        1,
        format!(
            "doctor: a launch would fail; fix {}: {}",
            if failing.len() == 1 { "this" } else { "these" },
            failing.join(", ")
        ),
    )
    .into())
}

/// Every check, in order, and the mode a launch would use.
fn check_all(config_path: &Path, user: &User) -> (Vec<Item>, Option<Mode>) {
    let probe = Probe::host();
    let mut items = vec![capability(&probe), user_namespaces(&probe)];
    let policy = match Policy::load(Path::new(policy::PATH)) {
        Ok(p) => {
            items.push(ok("policy", policy_detail(&p)));
            Some(p)
        }
        Err(e) => {
            let fix = format!(
                "ask the admin to fix {} (root's, mode 644 or stricter)",
                policy::PATH
            );
            items.push(bad(Status::Fail, "policy", format!("{e:#}"), fix));
            None
        }
    };
    let config = match Config::load(config_path, user.uid, &user.home) {
        Ok(c) => {
            let detail = format!(
                "{}: {} account(s), shared dir {}",
                config_path.display(),
                c.accounts.len(),
                c.shared.display()
            );
            items.push(ok("config", detail));
            Some(c)
        }
        Err(e) => {
            items.push(bad(
                Status::Fail,
                "config",
                format!("{e:#}"),
                config_fix(config_path),
            ));
            None
        }
    };
    let mode = pick_mode(&probe, policy.as_ref(), config.as_ref(), &mut items);
    if let Some(config) = &config {
        if let Some(Err(e)) = policy.as_ref().map(|p| p.permit(config)) {
            let fix = format!(
                "move the dirs where {} allows, then rerun cf-run init",
                policy::PATH
            );
            items.push(bad(
                Status::Fail,
                "policy and config",
                format!("{e:#}"),
                fix,
            ));
        }
        for account in &config.accounts {
            items.push(account_dir(account, user.uid));
        }
        items.push(shared_dir(config, user.uid));
        items.push(second_mounts(config));
        items.extend(launch_checks(config, user, mode));
    }
    items.push(stale_locks(&State::of(user)));
    items.push(claude_on_path());
    (items, mode)
}

fn render(items: &[Item]) -> String {
    let mut out = String::new();
    for item in items {
        let status = match item.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let _ = writeln!(out, "{status:<4}  {}: {}", item.name, item.detail);
        if let Some(fix) = &item.fix {
            let _ = writeln!(out, "      fix: {fix}");
        }
    }
    out
}

fn this_binary() -> String {
    std::env::current_exe().map_or_else(|_| "cf-run".into(), |p| p.display().to_string())
}

fn capability(probe: &Probe) -> Item {
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

fn user_namespaces(probe: &Probe) -> Item {
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
    match &probe.userns {
        Ok(()) => ok(name, format!("allowed to unprivileged users ({values})")),
        Err(why) => {
            let fix = if why.contains("apparmor") {
                "load cf-run's AppArmor profile: sudo scripts/install.sh --apparmor \
                 (or sudo setcap cap_sys_admin+p on the binary)"
                    .to_owned()
            } else if why.contains("max_user_namespaces") {
                "sudo sysctl -w user.max_user_namespaces=10000 (or setcap cap_sys_admin+p on the binary)".into()
            } else {
                "sudo sysctl -w kernel.unprivileged_userns_clone=1 (or setcap cap_sys_admin+p on the binary)".into()
            };
            bad(
                Status::Warn,
                name,
                format!("not allowed: {why} ({values})"),
                fix,
            )
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

fn config_fix(path: &Path) -> String {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Err(_) => format!(
            "cf-run init --shared DIR --account NAME=DIR [--account NAME=DIR ...] writes {shown}"
        ),
        Ok(m) if m.file_type().is_symlink() => {
            format!(
                "replace the symlink with the file itself: cp --remove-destination \"$(realpath {shown})\" {shown}"
            )
        }
        Ok(m) if m.permissions().mode() & 0o022 != 0 => format!("chmod go-w {shown}"),
        Ok(_) => {
            format!("edit {shown} as the message says, or rewrite it with cf-run init --force")
        }
    }
}

/// The mode a launch would use, reported as the `mode` item.
fn pick_mode(
    probe: &Probe,
    policy: Option<&Policy>,
    config: Option<&Config>,
    items: &mut Vec<Item>,
) -> Option<Mode> {
    let choice = config.map_or(ModeChoice::Auto, |c| c.mode);
    let default = Policy::default();
    let policy = policy.unwrap_or(&default);
    let chosen = mode::choose(choice, || probe.clone(), &policy.modes)
        .and_then(|(mode, why)| policy.permit_mode(mode).map(|()| (mode, why)));
    match chosen {
        Ok((Mode::Symlink, why)) if choice == ModeChoice::Auto => {
            let fix =
                "sudo setcap cap_sys_admin+p on the binary, or allow user namespaces (see above)";
            let detail = format!("symlink, which isolates nothing ({why})");
            items.push(bad(Status::Warn, "mode", detail, fix));
            Some(Mode::Symlink)
        }
        Ok((mode, why)) => {
            items.push(ok("mode", format!("{mode} ({why})")));
            Some(mode)
        }
        Err(e) => {
            let fix =
                "sudo setcap cap_sys_admin+p on the binary, or ask the admin to allow another mode";
            items.push(bad(Status::Fail, "mode", format!("{e:#}"), fix));
            None
        }
    }
}

/// The account's dir: a real directory of the user's, private, logged in.
fn account_dir(account: &Account, uid: Uid) -> Item {
    let name = format!("account {}", account.name);
    let dir = &account.dir;
    let shown = dir.display();
    if let Err(e) = resolve::owned_dir(dir, uid, &format!("account {:?}'s dir", account.name)) {
        let fix = match resolve::entry(dir) {
            Ok(Entry::Missing) => format!("mkdir -m 700 {shown}, or fix its path in the config"),
            Ok(Entry::Link(_)) => {
                format!("name the real directory in the config (realpath {shown})")
            }
            Ok(Entry::Dir(..)) => format!(
                "use a directory of your own, or have root chown it to you: chown $(id -un) {shown}"
            ),
            _ => format!(
                "name a directory in the config, or move {shown} away and mkdir -m 700 {shown}"
            ),
        };
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

/// The command that merges every account's transcripts into the shared dir.
fn init_command(config: &Config) -> String {
    let mut cmd = format!("cf-run init --shared {}", quote(&config.shared));
    for a in &config.accounts {
        let _ = write!(
            cmd,
            " --account {}",
            quote(&PathBuf::from(format!("{}={}", a.name, a.dir.display())))
        );
    }
    for share in &config.share {
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
fn shared_dir(config: &Config, uid: Uid) -> Item {
    let name = "shared dir";
    let shared = &config.shared;
    let shown = shared.display();
    if let Err(e) = resolve::owned_dir(shared, uid, "the shared projects dir") {
        let fix = match resolve::entry(shared) {
            Ok(Entry::Missing) => format!("mkdir -m 700 {shown}, or run: {}", init_command(config)),
            _ => format!(
                "name a real directory of yours as shared_projects in the config (realpath {shown})"
            ),
        };
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
        .shares()
        .into_iter()
        .map(|s| s.dir)
        .find(|d| d.join(crate::init::WORK_DIR).join("journal").exists());
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
fn launch_checks(config: &Config, user: &User, mode: Option<Mode>) -> Vec<Item> {
    // An unknown mode checks what a namespace launch checks: the most.
    let mode = mode.unwrap_or(Mode::Userns);
    let mut seen: Vec<Check> = Vec::new();
    let mut items = Vec::new();
    for account in &config.accounts {
        let request = Request {
            account: account.name.clone(),
            ..Request::default()
        };
        let Ok(plan) = Plan::build(config, request, user, (mode, String::new())) else {
            continue;
        };
        for check in plan.checks {
            if seen.contains(&check) {
                continue;
            }
            seen.push(check.clone());
            let (Check::OwnedDir { path, .. }
            | Check::OwnedDirOrAbsent { path, .. }
            | Check::HidesNothing { path, .. }) = &check;
            // The account dirs and the shared dir have items of their own.
            if *path == config.shared || config.accounts.iter().any(|a| a.dir == *path) {
                continue;
            }
            let name = name_of(path, config);
            items.push(match checks::verify(&check, user.uid) {
                Ok(()) => ok(name, check.to_string()),
                Err(e) => bad(
                    Status::Fail,
                    name,
                    format!("{e:#}"),
                    fix_for(&check, config),
                ),
            });
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
    if let Some(share) = config.share.iter().find(|s| s.dir == path) {
        return format!("shared {} dir", share.name);
    }
    path.display().to_string()
}

fn fix_for(check: &Check, config: &Config) -> String {
    match check {
        Check::HidesNothing { path, .. } if path.ends_with("projects") => init_command(config),
        Check::HidesNothing { path, shared } => format!(
            "move what {} holds into {}, then rmdir {0}",
            path.display(),
            shared.display()
        ),
        Check::OwnedDir { path, .. } | Check::OwnedDirOrAbsent { path, .. } => {
            let p = path.display();
            match resolve::entry(path) {
                Ok(Entry::Link(_)) => format!(
                    "rm {p} && mkdir -m 700 {p} (the older layout's link is no longer needed)"
                ),
                Ok(Entry::Missing) => format!("mkdir -m 700 {p}"),
                Ok(Entry::Dir(..)) => format!(
                    "use a directory of your own, or have root chown it to you: chown $(id -un) {p}"
                ),
                _ => format!("move {p} away, then mkdir -m 700 {p}"),
            }
        }
    }
}

/// Session locks held though their session is gone: a process the session
/// started still holds it, and a resume of that session waits or fails.
fn stale_locks(state: &State) -> Item {
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
fn claude_on_path() -> Item {
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
        shared.share.push(crate::config::Share {
            name: "plans".into(),
            dir: "/home/u/sh/plans".into(),
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

    #[test]
    fn renders_one_line_per_check_and_the_fix_below_a_problem() {
        let items = [
            ok("config", "fine"),
            bad(Status::Fail, "claude", "not found", "install it"),
        ];
        assert_eq!(
            render(&items),
            "ok    config: fine\nFAIL  claude: not found\n      fix: install it\n"
        );
    }
}
