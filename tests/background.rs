//! Claude Code's background sessions (`claude --bg`, 2.1.332 on) through
//! cf-run's launcher hook: each account's settings.json names `cf-run wrap`
//! as its `processWrapper`. The real client, offline, against the loopback
//! mock, as an unprivileged user, in both namespace modes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use support::client::{claude, offline_env, setup};
use support::layout::{TestUser, bins, stderr, stdout};
use support::mock_api::MockApi;
use support::modes::{Mode, NAMESPACED, args};
use support::wait::{wait_for, wait_until, wait_until_within};

const ACCOUNTS: [&str; 2] = ["compte1", "compte2"];

/// Each account logs in with its own key, trusts ~/proj, and names cf-run as
/// the launcher of what its client starts in the background.
fn accounts_with_the_hook(user: &TestUser) {
    let proj = user.path("proj");
    for account in ACCOUNTS {
        let settings = serde_json::json!({
            "apiKeyHelper": format!("echo KEY-{account}"),
            "processWrapper": format!("{} wrap", bins().plain.display()),
        });
        user.write(
            &format!(".claude-{account}/settings.json"),
            &settings.to_string(),
        );
        let state = serde_json::json!({"hasCompletedOnboarding": true, "theme": "dark",
            "projects": {proj.to_str().unwrap(): {"hasTrustDialogAccepted": true}}});
        user.write(
            &format!(".claude-{account}/.claude.json"),
            &state.to_string(),
        );
    }
}

/// `claude daemon run` under `account`: the supervisor of its background
/// sessions, as its own launch (as a user would start it, in tmux or with
/// systemd-run).
fn supervisor(user: &TestUser, mock: &MockApi, mode: Mode, account: &str) -> Child {
    let env = offline_env(mock);
    user.command(
        mode.bin(),
        &args(mode, account, &[claude(), "daemon", "run"]),
        &env.each(),
    )
    .current_dir(user.path("proj"))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap()
}

/// The supervisor's control socket, in the account's own dir for it.
fn control_socket(user: &TestUser, account: &str) -> Option<PathBuf> {
    let dir = user.path(&format!("@run/daemons/{account}"));
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path().join("control.sock"))
        .find(|p| p.exists())
}

/// The mount namespace of `pid`.
fn mnt_ns(pid: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap()
}

/// The pids of the user's processes whose command line holds `text`.
fn pids_with(user: &TestUser, text: &str) -> Vec<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-u", &user.name, "-f", "--", text])
        .output()
        .unwrap();
    stdout(&out)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Pid 1 of the launch whose parent is `parent`.
fn init_of(parent: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"));
    let children = children.unwrap_or_default();
    children.split_whitespace().next().unwrap().parse().unwrap()
}

/// A background session started from a session of each account runs under
/// that account (the mock sees its key), inside that account's supervisor
/// launch (its namespaces), and each account's supervisor has its sockets
/// in the account's dir: nothing of theirs is in the shared /tmp, where
/// every account's clients would meet one supervisor.
#[test]
fn background_sessions_run_in_their_accounts_launch() {
    let user = setup();
    accounts_with_the_hook(&user);
    let mock = MockApi::start();
    let host_sockets = Path::new("/tmp").join(format!("cc-daemon-{}", user.uid));
    for mode in NAMESPACED {
        let mut supervisors: Vec<Child> = ACCOUNTS
            .iter()
            .map(|account| supervisor(&user, &mock, mode, account))
            .collect();
        for account in ACCOUNTS {
            wait_until_within(
                &format!("{mode:?}: {account}'s supervisor's control socket"),
                std::time::Duration::from_secs(30),
                || control_socket(&user, account).is_some(),
            );
        }
        mock.clear_requests();
        for account in ACCOUNTS {
            let task = format!("background task of {account} in {mode:?}");
            let env = offline_env(&mock);
            let out = user
                .command(
                    mode.bin(),
                    &args(mode, account, &[claude(), "--bg", &task]),
                    &env.each(),
                )
                .current_dir(user.path("proj"))
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success() && stdout(&out).contains("backgrounded"),
                "{mode:?} {account}: {}{}",
                stdout(&out),
                stderr(&out)
            );
            let sent = wait_for(&format!("{mode:?}: {account}'s task at the mock"), || {
                mock.messages_requests()
                    .into_iter()
                    .find(|r| r.raw_body.contains(&task))
            });
            assert_eq!(sent.key(), Some(format!("KEY-{account}").as_str()));
        }
        // Every process the supervisors started (pty hosts, spares, the
        // sessions) runs in the launch of its account's supervisor.
        let hosted = pids_with(&user, "--bg-");
        for (account, launch) in ACCOUNTS.iter().zip(&supervisors) {
            let ns = mnt_ns(init_of(launch.id()));
            let own: Vec<u32> = hosted
                .iter()
                .copied()
                .filter(|&p| mnt_ns(p) == ns)
                .collect();
            assert!(
                !own.is_empty(),
                "{mode:?}: no background process in {account}'s launch"
            );
            for pid in own {
                let who = format!("/proc/{pid}/root/home/{}/.claude/who", user.name);
                assert_eq!(
                    std::fs::read_to_string(who).unwrap(),
                    format!("{account}\n"),
                    "{mode:?}: pid {pid}"
                );
            }
        }
        let launches: Vec<PathBuf> = supervisors
            .iter()
            .map(|l| mnt_ns(init_of(l.id())))
            .collect();
        for pid in hosted {
            assert!(
                launches.contains(&mnt_ns(pid)),
                "{mode:?}: background process {pid} runs outside every supervisor's launch"
            );
        }
        let ps = user.run(&bins().plain, &["ps", "--json"]);
        let entries: serde_json::Value = serde_json::from_str(&stdout(&ps)).unwrap();
        for launch in &supervisors {
            assert!(
                entries
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["pid"].as_u64() == Some(u64::from(launch.id()))),
                "{mode:?}: a supervisor's launch is not in cf-run ps: {entries}"
            );
        }
        let in_host_tmp = std::fs::read_dir(&host_sockets).map_or(0, |d| d.count());
        assert_eq!(in_host_tmp, 0, "{mode:?}: sockets in the shared /tmp");
        for launch in &mut supervisors {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(launch.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .unwrap();
            launch.wait().unwrap();
        }
        // All of them, the supervisors included: the next mode's search for
        // the user's background processes must not find this one's, still
        // being torn down.
        wait_until("every background process to end", || {
            pids_with(&user, "--bg-").is_empty() && pids_with(&user, "daemon run").is_empty()
        });
    }
    // With no supervisor running, the one `--bg` would start inside its
    // session (and lose with it) is refused, saying how to start one.
    let env = offline_env(&mock);
    let out = user
        .command(
            &bins().plain,
            &args(Mode::Userns, "compte1", &[claude(), "--bg", "orphan task"]),
            &env.each(),
        )
        .current_dir(user.path("proj"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("the background supervisor would end with this session"),
        "{said}"
    );
    assert!(pids_with(&user, "daemon run").is_empty());
}

/// `cf-run wrap` on its own: outside any session it launches under the
/// account whose dir CLAUDE_CONFIG_DIR names (any other dir: 125, nothing
/// run); inside one it runs the program in place, in that session.
#[test]
fn wrap_launches_outside_a_session_and_runs_in_place_inside_one() {
    let user = setup();
    let bin = bins().plain.to_str().unwrap();
    let show = "cat /proc/1/comm ~/.claude/who";
    let compte2 = user.path(".claude-compte2");
    let out = user.run_env(
        &bins().plain,
        &["wrap", "sh", "-c", show],
        &[("CLAUDE_CONFIG_DIR", compte2.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "cf-run-init\ncompte2\n");
    let out = user.run_env(
        &bins().plain,
        &["wrap", "sh", "-c", "echo ran"],
        &[("CLAUDE_CONFIG_DIR", "/tmp")],
    );
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out)
            .contains("/tmp (CLAUDE_CONFIG_DIR, else ~/.claude), which is no account's dir"),
        "{}",
        stderr(&out)
    );
    // Inside a compte1 session: in place, in its pid 1 and account, and no
    // second launch in `ps`. (`ps` itself is refused inside a session, where
    // the PID namespace would make every other entry look gone.)
    let inner = format!("{bin} wrap sh -c '{show}'; {bin} ps --json; echo ps=$?");
    let out = user.run(
        &bins().plain,
        &args(Mode::Userns, "compte1", &["sh", "-c", &inner]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "cf-run-init\ncompte1\nps=125\n");
    assert!(
        stderr(&out).contains("this runs inside a cf-run session"),
        "{}",
        stderr(&out)
    );
    let ps = user.run(&bins().plain, &["ps", "--json"]);
    assert_eq!(stdout(&ps), "[]\n", "{}", stderr(&ps));
}
