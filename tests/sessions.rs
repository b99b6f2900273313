//! Sessions for supervisors, as an unprivileged user: the per-session lock,
//! `ps`, `stop`, `watch`, and `failover` with the real client and the mock API.

mod support;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::client::{claude, offline_env, setup, slug};
use support::layout::{TestUser, bins, stderr, stdout};
use support::mock_api::MockApi;
use support::wait::{wait_for, wait_until};

const ID: &str = "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";

/// A user whose `claude` on PATH is a stand-in that runs `script`.
fn with_fake_claude(script: &str) -> (TestUser, String) {
    let user = TestUser::acquire();
    user.standard_layout();
    let path = user.fake_claude(script);
    (user, path)
}

fn cf(user: &TestUser, path: &str, args: &[&str]) -> Output {
    user.run_env(&bins().plain, args, &[("PATH", path)])
}

fn spawn(user: &TestUser, path: &str, args: &[&str]) -> Child {
    let mut cmd = user.command(&bins().plain, args, &[("PATH", path)]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

fn ps(user: &TestUser) -> Vec<Value> {
    let out = user.run(&bins().plain, &["ps", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// Launches `command` under `account` as session `ID`, and waits until `ps`
/// shows it.
fn start(user: &TestUser, path: &str, account: &str, command: &[&str]) -> Child {
    let mut args = vec!["--account", account, "--session", ID, "--"];
    args.extend(command);
    let child = spawn(user, path, &args);
    wait_for_session(user, ID);
    child
}

/// Waits (bounded) until `ps` shows a session with `id`; returns its entry.
fn wait_for_session(user: &TestUser, id: &str) -> Value {
    let start = Instant::now();
    loop {
        if let Some(e) = ps(user).into_iter().find(|e| e["session"] == id) {
            return e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "session {id} never showed in ps"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_launch_of_a_session_exits_75_naming_the_holder() {
    let (user, path) = with_fake_claude("sleep 30");
    let mut first = spawn(
        &user,
        &path,
        &["--account", "compte1", "--session", ID, "--", "claude"],
    );
    let entry = wait_for_session(&user, ID);
    let pid = entry["pid"].as_u64().unwrap();
    assert_eq!(
        pid,
        u64::from(first.id()),
        "cf-run exec'd in place: the command has its pid"
    );
    let forms: [&[&str]; 3] = [
        &["--account", "compte2", "--session", ID, "--", "claude"],
        &["--account", "compte2", "--", "claude", "--resume", ID],
        &[
            "--account",
            "compte1",
            "--",
            "claude",
            &format!("--session-id={ID}"),
        ],
    ];
    for args in forms {
        let out = cf(&user, &path, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(75), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "session {ID} is already running (account compte1, pid {pid})"
            )),
            "{err}"
        );
    }
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn wait_takes_the_lock_once_the_holder_ends() {
    let (user, path) = with_fake_claude("sleep 1; echo done");
    let mut first = start(&user, &path, "compte1", &["claude"]);
    let start = Instant::now();
    let second = cf(
        &user,
        &path,
        &[
            "--account",
            "compte2",
            "--session",
            ID,
            "--wait",
            "--",
            "claude",
        ],
    );
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(stdout(&second), "done\n");
    // It could only run once the first had finished.
    assert!(
        first.try_wait().unwrap().is_some(),
        "the second ran while the first held the lock"
    );
    assert!(start.elapsed() >= Duration::from_millis(500));
    first.wait().unwrap();
}

#[test]
fn a_session_id_that_is_not_a_uuid_is_a_usage_error() {
    let (user, path) = with_fake_claude("true");
    for bad in [
        "../../etc/passwd",
        "abc",
        "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5",
    ] {
        let out = cf(
            &user,
            &path,
            &["--account", "compte1", "--session", bad, "--", "claude"],
        );
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("a session id is a UUID"),
            "{}",
            stderr(&out)
        );
    }
    assert!(
        !user.path(".local/state/cf-run").exists() && !user.path("@run").exists(),
        "a refused launch wrote state"
    );
}

#[test]
fn ps_lists_live_sessions_and_forgets_dead_ones() {
    let (user, path) = with_fake_claude("sleep 30");
    let mut a = spawn(
        &user,
        &path,
        &["--account", "compte1", "--session", ID, "--", "claude"],
    );
    let mut b = spawn(
        &user,
        &path,
        &["--mode", "symlink", "--account", "compte2", "--", "claude"],
    );
    wait_for_session(&user, ID);
    let start = Instant::now();
    let entries = loop {
        let entries = ps(&user);
        if entries.len() == 2 || start.elapsed() > Duration::from_secs(10) {
            break entries;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(entries.len(), 2, "{entries:?}");
    for e in &entries {
        let mut keys: Vec<_> = e.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["account", "cwd", "mode", "pid", "session", "started"],
            "{e}"
        );
        assert_eq!(e["cwd"], user.home.to_str().unwrap());
        let started = e["started"].as_str().unwrap();
        assert!(
            started.parse::<jiff::Timestamp>().is_ok(),
            "started is not RFC 3339: {started}"
        );
    }
    let by_account = |name: &str| {
        entries
            .iter()
            .find(|e| e["account"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_account("compte1")["session"], ID);
    assert_eq!(by_account("compte1")["mode"], "userns");
    assert_eq!(by_account("compte2")["session"], Value::Null);
    assert_eq!(by_account("compte2")["mode"], "symlink");
    let text = stdout(&user.run(&bins().plain, &["ps"]));
    assert!(text.contains("compte1") && text.contains(ID), "{text}");

    // SIGKILL: the lock is free at once and ps forgets the entry (and its file).
    a.kill().unwrap();
    a.wait().unwrap();
    let left = ps(&user);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["account"], "compte2");
    let shards = std::fs::read_dir(user.path("@run/sessions")).unwrap();
    let files: Vec<_> = shards
        .flat_map(|s| std::fs::read_dir(s.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "the dead entry's file stayed: {files:?}");
    let again = cf(
        &user,
        &path,
        &["--account", "compte2", "--session", ID, "--", "true"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    b.kill().unwrap();
    b.wait().unwrap();
}

#[test]
fn the_registry_stays_small_when_nobody_runs_ps() {
    let (user, path) = with_fake_claude("true");
    for _ in 0..40 {
        let out = cf(&user, &path, &["--account", "compte1", "--", "true"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    // Each launch writes its entry over one of a process that is gone, when
    // its shard (one of 64) has one: the registry stays near that size.
    let count = |user: &TestUser| -> usize {
        let shards = std::fs::read_dir(user.path("@run/sessions")).unwrap();
        shards
            .map(|s| std::fs::read_dir(s.unwrap().path()).unwrap().count())
            .sum()
    };
    let after_40 = count(&user);
    for _ in 0..160 {
        cf(&user, &path, &["--account", "compte1", "--", "true"]);
    }
    let after_200 = count(&user);
    assert!(
        after_200 <= 64 + 8,
        "{after_40} entries after 40 launches, {after_200} after 200"
    );
}

#[test]
fn a_launch_writes_its_entry_over_a_dead_ones_file() {
    use std::os::unix::fs::MetadataExt;
    let (user, path) = with_fake_claude("true");
    // A dead entry in every shard (no process has such a pid), longer than
    // any real entry.
    let dead = |shard: u32| 4_000_000_000 + shard;
    let mut inodes = vec![];
    for shard in 0..64 {
        let rel = format!("@run/sessions/{shard:02x}/{}.json", dead(shard));
        let file = user.write(
            &rel,
            &format!("{{\"pid\":{}}}{}", dead(shard), " ".repeat(4000)),
        );
        inodes.push(std::fs::metadata(file).unwrap().ino());
    }
    // cf-run's pid (setpriv and env exec it in place): the session's parent.
    let child = spawn(&user, &path, &["--account", "compte1", "--", "true"]);
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shard = pid % 64;
    let dir = user.path(&format!("@run/sessions/{shard:02x}"));
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [format!("{pid}.json")], "shard {shard:02x}");
    let entry = dir.join(format!("{pid}.json"));
    assert_eq!(
        std::fs::metadata(&entry).unwrap().ino(),
        inodes[shard as usize]
    );
    let json: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    assert_eq!(json["pid"], pid);
    assert_eq!(json["account"], "compte1");
}

#[test]
fn ps_ignores_an_entry_whose_pid_was_reused() {
    let (user, _) = with_fake_claude("true");
    // A live pid (this test's) with another start time: a reused pid.
    let pid = std::process::id();
    let forged = format!(
        "{{\"pid\":{pid},\"account\":\"compte1\",\"session\":null,\"cwd\":\"/\",\"started\":\"2026-01-01T00:00:00Z\",\"mode\":\"userns\",\"start_ticks\":1}}"
    );
    let file = user.write(
        &format!("@run/sessions/{:02x}/{pid}.json", pid % 64),
        &forged,
    );
    assert_eq!(ps(&user), Vec::<Value>::new());
    assert!(!file.exists(), "the stale entry was not cleaned up");
}

#[test]
fn stop_ends_the_session_and_frees_its_lock() {
    let (user, path) = with_fake_claude("sleep 30");
    let mut session = start(&user, &path, "compte1", &["claude"]);
    let out = user.run(&bins().plain, &["stop", "--session", ID]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        session.wait().unwrap().signal(),
        Some(15),
        "not ended by SIGTERM"
    );
    assert!(ps(&user).is_empty());
    let again = user.run(&bins().plain, &["stop", "--session", ID]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains(&format!("no live session {ID}")),
        "{}",
        stderr(&again)
    );
}

#[test]
fn stop_kills_a_session_that_ignores_sigterm() {
    let (user, path) = with_fake_claude("trap '' TERM; touch ~/trapped; sleep 30 & wait; sleep 30");
    let mut session = start(&user, &path, "compte1", &["claude"]);
    // The shell writes ~/trapped once its trap is in place.
    let trapped = user.path("trapped");
    wait_until("the session's shell to ignore SIGTERM (~/trapped)", || {
        trapped.exists()
    });
    let start = Instant::now();
    let out = user.run(
        &bins().plain,
        &["stop", "--session", ID, "--timeout", "0.5"],
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        session.wait().unwrap().signal(),
        Some(9),
        "not ended by SIGKILL"
    );
    // The shell's `sleep` child lives on, but the lock was the shell's own.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(start.elapsed() >= Duration::from_millis(500));
    let again = cf(
        &user,
        &path,
        &["--account", "compte2", "--session", ID, "--", "true"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}

/// A transcript line recording a usage limit, as Claude Code 2.1 writes it,
/// at `time` (`@NOW@` for a script to fill in as it writes the line).
fn limit_line_at(time: &str, text: &str) -> String {
    format!(
        "{{\"type\":\"assistant\",\"isApiErrorMessage\":true,\"error\":\"rate_limit\",\"apiErrorStatus\":429,\
         \"timestamp\":\"{time}\",\"message\":{{\"model\":\"<synthetic>\",\"content\":[{{\"type\":\"text\",\"text\":\"{text}\"}}]}}}}"
    )
}

fn limit_line(text: &str) -> String {
    limit_line_at("@NOW@", text)
}

/// Appends ~/limit.jsonl to `file` with the time of writing filled in.
const APPEND_LIMIT: &str = "sed \"s/@NOW@/$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)/\" ~/limit.jsonl >>";

#[test]
fn watch_reports_the_limit_an_interactive_session_hits() {
    // The stand-in writes a turn, then, a moment later, a limit, as Claude would.
    let (user, path) = with_fake_claude("sleep 30");
    let dir = user.mkdir(&format!(".claude-projects-shared/{}", slug(&user.home)));
    let transcript = dir.join(format!("{ID}.jsonl"));
    user.write(
        "turn.jsonl",
        "{\"type\":\"user\",\"message\":{\"content\":\"hi\"}}\n",
    );
    user.write(
        "limit.jsonl",
        &format!(
            "{}\n",
            limit_line("You've hit your session limit · resets 3pm (UTC)")
        ),
    );
    let t = transcript.display();
    let script = format!("cat ~/turn.jsonl > {t}; sleep 1; {APPEND_LIMIT} {t}; sleep 30");
    let mut session = spawn(
        &user,
        &path,
        &[
            "--account",
            "compte2",
            "--session",
            ID,
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    // Registered in ps, or ended: whichever comes first.
    wait_until("the session to show in ps, or to end", || {
        ps(&user).iter().any(|e| e["session"] == ID) || session.try_wait().unwrap().is_some()
    });
    if let Some(status) = session.try_wait().unwrap() {
        panic!(
            "the session ended early ({status}): {}",
            stderr(&session.wait_with_output().unwrap())
        );
    }
    wait_for_session(&user, ID);
    let out = user.run(&bins().plain, &["watch", "--session", ID, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let event: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(event["account"], "compte2");
    assert_eq!(event["session"], ID);
    let time: jiff::Timestamp = event["time"].as_str().unwrap().parse().unwrap();
    assert!(
        jiff::Timestamp::now().duration_since(time).as_secs() < 60,
        "{event}"
    );
    assert_eq!(
        event["text"],
        "You've hit your session limit · resets 3pm (UTC)"
    );
    let plain = stdout(&user.run(&bins().plain, &["watch", "--session", ID]));
    assert!(
        plain.starts_with(&format!("usage limit: account compte2, session {ID}")),
        "{plain}"
    );
    session.kill().unwrap();
    session.wait().unwrap();
}

/// A session resumed after a limit stands at that old limit until its first
/// turn: `watch` must not report it again.
#[test]
fn watch_ignores_a_limit_from_before_the_launch() {
    let (user, path) = with_fake_claude("sleep 1");
    let dir = user.mkdir(&format!(".claude-projects-shared/{}", slug(&user.home)));
    let old = limit_line_at("2026-01-01T00:00:00.000Z", "You've hit your weekly limit");
    user.write(
        &format!(".claude-projects-shared/{}/{ID}.jsonl", slug(&user.home)),
        &format!("{old}\n"),
    );
    assert!(dir.join(format!("{ID}.jsonl")).is_file());
    let mut session = start(&user, &path, "compte2", &["claude"]);
    let out = user.run(&bins().plain, &["watch", "--session", ID]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    session.wait().unwrap();
    // Once the session is over, the standing limit is what there is to report.
    let after = user.run(&bins().plain, &["watch", "--session", ID]);
    assert_eq!(after.status.code(), Some(0), "{}", stderr(&after));
}

#[test]
fn watch_exits_3_when_the_session_ends_first() {
    let (user, path) = with_fake_claude("sleep 1");
    let mut session = start(&user, &path, "compte1", &["claude"]);
    let out = user.run(&bins().plain, &["watch", "--session", ID]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("ended"), "{}", stderr(&out));
    session.wait().unwrap();
}

/// A user whose `claude` on PATH is the real client.
fn with_real_claude() -> (TestUser, String) {
    let user = setup();
    user.mkdir("bin");
    std::os::unix::fs::symlink(claude(), user.path("bin/claude")).unwrap();
    let path = format!("{}:/usr/bin:/bin", user.path("bin").display());
    (user, path)
}

#[test]
fn watch_reports_a_limit_the_real_client_recorded() {
    let (user, path) = with_real_claude();
    let mock = MockApi::start();
    mock.rate_limit_key("KEY-compte1");
    let env = offline_env(&mock);
    let mut env = env.each();
    env.push(("PATH", &path));
    let args = [
        "--account",
        "compte1",
        "--",
        "claude",
        "-p",
        "hello",
        "--session-id",
        ID,
        "--output-format",
        "json",
    ];
    let mut cmd = user.command(&bins().plain, &args, &env);
    let out = cmd.current_dir(user.path("proj")).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // The session has ended, standing at its limit: watch says so at once.
    let out = user.run(&bins().plain, &["watch", "--session", ID, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let event: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (event["account"].as_str(), event["session"].as_str()),
        (Some("compte1"), Some(ID))
    );
    assert!(event["text"].as_str().unwrap().contains("429"), "{event}");
}

/// scripts/supervise-tmux.sh, run as written: a stand-in claude hits a limit
/// under compte1; the example stops it and resumes it under compte2.
#[test]
fn the_example_supervisor_moves_a_limited_session_on() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write(
        "limit.jsonl",
        &format!(
            "{}\n",
            limit_line("You've hit your session limit · resets 3pm (UTC)")
        ),
    );
    // Started with --session-id it records a turn, then a limit, then idles;
    // resumed with --resume it records a turn and ends.
    let path = user.fake_claude(
        "f=~/.claude/projects/-p/$2.jsonl; mkdir -p ~/.claude/projects/-p\n\
         echo '{\"type\":\"user\",\"message\":{\"content\":\"'$1'\"}}' >> $f\n\
         if [ \"$1\" = --session-id ]; then sleep 1; sed \"s/@NOW@/$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)/\" ~/limit.jsonl >> $f; sleep 60; else sleep 1; fi",
    );
    std::os::unix::fs::symlink(&bins().plain, user.path("bin/cf-run")).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/supervise-tmux.sh");
    let mut cmd = user.command(
        std::path::Path::new("/bin/bash"),
        &[script.to_str().unwrap(), ID, "compte1", "compte2"],
        &[("PATH", &path)],
    );
    let out = cmd.output().unwrap();
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(
        o.contains(&format!(
            "session {ID} hit the limit under compte1; moving on"
        )),
        "{o}{e}"
    );
    assert!(
        o.contains(&format!("session {ID} ended under compte2")),
        "{o}{e}"
    );
    let transcript =
        std::fs::read_to_string(user.path(&format!(".claude-projects-shared/-p/{ID}.jsonl")))
            .unwrap();
    assert!(
        transcript.contains("--session-id") && transcript.contains("--resume"),
        "{transcript}"
    );
    let _ = std::process::Command::new("pkill")
        .args(["-KILL", "-u", &user.name])
        .status();
}

#[test]
fn failover_in_the_terminal_resumes_the_session_under_the_next_account() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("proj");
    let proj = user.path("proj");
    // compte1 trusts the folder and has done its first run; compte2 has not,
    // and is logged in (a key in its settings).
    let trusted = serde_json::json!({"hasCompletedOnboarding": true,
        "projects": {proj.to_str().unwrap(): {"hasTrustDialogAccepted": true}}});
    user.write(".claude-compte1/.claude.json", &trusted.to_string());
    user.write(".claude-compte2/.claude.json", "{\"numStartups\":3}");
    user.write(
        ".claude-compte2/settings.json",
        "{\"apiKeyHelper\": \"echo KEY\"}",
    );
    user.write(
        "limit.jsonl",
        &format!(
            "{}\n",
            limit_line("You've hit your session limit · resets 3pm (UTC)")
        ),
    );
    // Started with --session-id it records a turn, then a limit, and waits
    // to be ended; resumed, it records its arguments and ends with 7.
    let path = user.fake_claude(
        "f=~/.claude/projects/-p/$2.jsonl; mkdir -p ~/.claude/projects/-p\n\
         if [ \"$1\" = --session-id ]; then\n\
           echo '{\"type\":\"user\",\"message\":{\"content\":\"hi\"}}' >> $f\n\
           sed \"s/@NOW@/$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)/\" ~/limit.jsonl >> $f; sleep 60\n\
         else printf '%s\\n' \"$@\" > ~/resumed; cat ~/.claude/.claude.json > ~/seen; exit 7; fi",
    );
    let mut cmd = user.command(
        &bins().plain,
        &["--failover", "--", "claude", "--session-id", ID],
        &[("PATH", &path)],
    );
    let out = cmd.current_dir(&proj).output().unwrap();
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(7), "{o}{e}");
    assert!(
        e.contains("account compte1 hit its usage limit (until ")
            && e.contains(&format!("session {ID} goes on under compte2")),
        "{e}"
    );
    let resumed = std::fs::read_to_string(user.path("resumed")).unwrap();
    assert_eq!(
        resumed,
        format!("--resume\n{ID}\nContinue the task from where it stopped.\n")
    );
    // compte2's client saw the folder trusted and its first run done, and
    // kept its own keys.
    let seen: Value =
        serde_json::from_str(&std::fs::read_to_string(user.path("seen")).unwrap()).unwrap();
    assert_eq!(seen["numStartups"], 3, "{seen}");
    assert_eq!(seen["hasCompletedOnboarding"], true, "{seen}");
    assert_eq!(
        seen["projects"][proj.to_str().unwrap()]["hasTrustDialogAccepted"],
        true,
        "{seen}"
    );
    let limits: Value = serde_json::from_slice(
        &std::fs::read(user.path(".local/state/cf-run/limits.json")).unwrap(),
    )
    .unwrap();
    assert!(limits["compte1"].is_string(), "{limits}");
    // Every account limited: 75, naming each.
    let mut again = user.command(
        &bins().plain,
        &[
            "--failover",
            "--account",
            "compte2",
            "--",
            "claude",
            "--session-id",
            ID,
        ],
        &[("PATH", &path)],
    );
    std::fs::remove_file(user.path(&format!(".claude-projects-shared/-p/{ID}.jsonl"))).unwrap();
    let out = again.current_dir(&proj).output().unwrap();
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{e}");
    assert!(
        e.contains("every account is at its usage limit: compte1 until"),
        "{e}"
    );
}

/// The real client, interactive in a real terminal (tmux): the first prompt
/// hits compte1's limit; `cf-run --failover` ends that client and resumes
/// the session under compte2, in the same terminal, with the continue
/// prompt, which compte2's key sends without a keypress. compte2 never
/// opened the folder: the trust compte1 gave it is carried over.
#[test]
fn failover_in_the_terminal_with_the_real_client() {
    let (user, path) = with_real_claude();
    let proj = trust_the_project_in_compte1(&user);
    let mock = MockApi::start();
    mock.rate_limit_key("KEY-compte1");
    let tui = Tui::new(&user, &mock, &path, "failover");
    tui.start(&format!("--failover -- claude --session-id {ID}"));
    tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
    tui.keys(&["the first task", "Enter"]);
    let requests_with = |key: &str, text: &str| {
        mock.messages_requests()
            .into_iter()
            .filter(|r| r.key() == Some(key) && r.raw_body.contains(text))
            .collect::<Vec<_>>()
    };
    // The time from the limit (compte1's request, answered 429 at once) to
    // compte2's first request, for the README.
    let start = Instant::now();
    while requests_with("KEY-compte1", "the first task").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no request:\n{}",
            tui.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let limit_at = Instant::now();
    let resumed = loop {
        if let Some(r) = requests_with("KEY-compte2", "Continue the task").pop() {
            break r;
        }
        assert!(
            limit_at.elapsed() < Duration::from_secs(60),
            "no resume:\n{}",
            tui.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!(
        "from the limit to compte2's first request: {:?}",
        limit_at.elapsed()
    );
    assert!(
        resumed.raw_body.contains("the first task"),
        "the resume lost the turn"
    );
    assert_eq!(resumed.session_id(), Some(ID));
    let seen: Value = serde_json::from_str(
        &std::fs::read_to_string(user.path(".claude-compte2/.claude.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        seen["projects"][proj.to_str().unwrap()]["hasTrustDialogAccepted"],
        true
    );
    tui.stop();
}

/// compte1 has done its first run and trusts ~/proj, as an account in use
/// has; its path.
fn trust_the_project_in_compte1(user: &TestUser) -> std::path::PathBuf {
    let proj = user.path("proj");
    let trusted = serde_json::json!({"hasCompletedOnboarding": true, "theme": "dark",
        "projects": {proj.to_str().unwrap(): {"hasTrustDialogAccepted": true}}});
    user.write(".claude-compte1/.claude.json", &trusted.to_string());
    proj
}

/// The client switches sessions inside (`/resume`, the picker): it records
/// the session it is on in its own per-process file (`sessions/<pid>.json`,
/// pid 2 in the launch's PID namespace). The lock, `ps` and `watch` follow.
#[test]
fn the_lock_and_ps_follow_the_session_the_client_is_on() {
    const OTHER: &str = "0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
    let (user, path) = with_fake_claude(&format!(
        "echo '{{\"pid\":2,\"sessionId\":\"{ID}\"}}' > ~/.claude/sessions/2.json\n\
         while [ ! -e ~/switch ]; do sleep 0.05; done\n\
         echo '{{\"pid\":2,\"sessionId\":\"{}\"}}' > ~/.claude/sessions/2.json\n\
         sleep 30",
        OTHER.to_uppercase()
    ));
    // The client made its dir on an earlier run.
    user.mkdir(".claude-compte1/sessions");
    let mut session = start(&user, &path, "compte1", &["claude", "--session-id", ID]);
    let pid = wait_for_session(&user, ID)["pid"].as_u64().unwrap();
    user.write("switch", "");
    let entry = wait_for_session(&user, OTHER);
    assert_eq!(entry["pid"].as_u64(), Some(pid));
    // The session the client is on now is locked; the one it left is free.
    let out = cf(
        &user,
        &path,
        &["--account", "compte2", "--", "true", "--resume", OTHER],
    );
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let out = cf(
        &user,
        &path,
        &["--account", "compte2", "--", "true", "--resume", ID],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The client's file stayed in this launch's own dir, not the account's.
    assert!(!user.path(".claude-compte1/sessions/2.json").exists());
    let own = user.path(&format!("@run/clients/{pid}"));
    assert!(own.join("2.json").exists());
    // Killed, cf-run leaves its dir behind; the next `ps` removes it.
    session.kill().unwrap();
    session.wait().unwrap();
    assert!(own.exists());
    assert!(ps(&user).is_empty());
    assert!(!own.exists(), "a dead launch's client dir stayed");
}

/// The client moves to a session another launch holds, then back: that
/// session stays the other launch's, and this launch keeps its own lock
/// and entry throughout (moving back must not release the lock it holds).
#[test]
fn a_move_to_a_held_session_keeps_the_lock_this_launch_holds() {
    const OTHER: &str = "0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
    let client_file = |id: &str| {
        format!("echo '{{\"pid\":2,\"sessionId\":\"{id}\"}}' > ~/.claude/sessions/2.json")
    };
    let (user, path) = with_fake_claude(&format!(
        "{}\nwhile [ ! -e ~/switch ]; do sleep 0.05; done\n{}\n\
         while [ ! -e ~/back ]; do sleep 0.05; done\n{}\nsleep 30",
        client_file(ID),
        client_file(OTHER),
        client_file(ID)
    ));
    user.mkdir(".claude-compte1/sessions");
    let mut holder = spawn(
        &user,
        &path,
        &[
            "--account",
            "compte2",
            "--",
            "sh",
            "-c",
            "sleep 30",
            "--resume",
            OTHER,
        ],
    );
    wait_for_session(&user, OTHER);
    let errors = user.path("session.err");
    let mut session = user.command(
        &bins().plain,
        &["--account", "compte1", "--session", ID, "--", "claude"],
        &[("PATH", &path)],
    );
    let mut session = session
        .stderr(std::fs::File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    wait_for_session(&user, ID);
    user.write("switch", "");
    let start = Instant::now();
    while !std::fs::read_to_string(&errors)
        .unwrap()
        .contains(&format!("the client moved to session {OTHER}"))
    {
        assert!(start.elapsed() < Duration::from_secs(10), "no warning");
        std::thread::sleep(Duration::from_millis(20));
    }
    user.write("back", "");
    // For three ticks of the parent after the move back, ID stays locked.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        let out = cf(
            &user,
            &path,
            &["--account", "compte2", "--", "true", "--resume", ID],
        );
        assert_eq!(
            out.status.code(),
            Some(75),
            "the lock was dropped: {}",
            stderr(&out)
        );
    }
    let ids: Vec<_> = ps(&user)
        .iter()
        .map(|e| e["session"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        ids.contains(&ID.to_owned()) && ids.contains(&OTHER.to_owned()),
        "{ids:?}"
    );
    assert_eq!(ids.iter().filter(|i| *i == OTHER).count(), 1, "{ids:?}");
    let warnings = std::fs::read_to_string(&errors)
        .unwrap()
        .matches("moved to session")
        .count();
    assert_eq!(warnings, 1, "one warning for the move");
    session.kill().unwrap();
    session.wait().unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// The real client, interactive in tmux: `--continue` picks a session cf-run
/// was not told of, and `/resume OTHER` inside moves the client to another;
/// cf-run's lock and `ps` follow both.
#[test]
fn the_lock_follows_a_resume_inside_the_real_client() {
    const OTHER: &str = "0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    let mock = MockApi::start();
    let tui = Tui::new(&user, &mock, &path, "follow");
    past_sessions(&user, &tui, &mock, &[OTHER, ID]);
    // `--continue` names no session: the lock and `ps` take the one the
    // client picks (ID, the latest).
    tui.start("--account compte1 -- claude --continue");
    wait_for_session(&user, ID);
    tui.wait("the continued turn", &|s| s.contains("mock reply"));
    let resume = |id: &str| {
        let args = ["--account", "compte2", "--", "true", "--resume", id];
        user.command(&bins().plain, &args, &[]).output().unwrap()
    };
    let out = resume(ID);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    // `/resume OTHER` inside: 2.1.197 finds no session by id there.
    let version = std::process::Command::new(claude())
        .arg("--version")
        .output()
        .unwrap();
    if stdout(&version).starts_with("2.1.197 ") {
        eprintln!("/resume ID not driven with 2.1.197: it finds no session by id");
        tui.stop();
        return;
    }
    tui.type_until(&format!("/resume {OTHER}"), "ps to follow", || {
        ps(&user).iter().any(|e| e["session"] == OTHER)
    });
    let out = resume(OTHER);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let out = resume(ID);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the session it left stayed locked: {}",
        stderr(&out)
    );
    tui.stop();
}

/// A client that moves to another session (a fork, `/resume`) may write
/// that session's first turn, and its limit, before its own per-process
/// file names the session. A stand-in does just that, the file a moment
/// after the limit: `--failover` still moves the session it went to.
#[test]
fn failover_sees_a_limit_written_before_the_client_names_its_new_session() {
    const NEW: &str = "0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("proj");
    user.mkdir(".claude-compte1/sessions");
    user.write(
        ".claude-compte2/settings.json",
        "{\"apiKeyHelper\": \"echo KEY\"}",
    );
    user.write(
        "limit.jsonl",
        &format!("{}\n", limit_line("You've hit your session limit")),
    );
    let path = user.fake_claude(&format!(
        "if [ \"$1\" = --session-id ]; then\n\
           f=~/.claude/projects/-p/{NEW}.jsonl; mkdir -p ~/.claude/projects/-p\n\
           echo '{{\"type\":\"user\",\"message\":{{\"content\":\"hi\"}}}}' >> $f; {APPEND_LIMIT} $f\n\
           sleep 0.3; echo '{{\"sessionId\":\"{NEW}\"}}' > ~/.claude/sessions/2.json; sleep 60\n\
         else printf '%s\\n' \"$@\" > ~/resumed; exit 7; fi"
    ));
    let out = user
        .command(
            &bins().plain,
            &["--failover", "--", "claude", "--session-id", ID],
            &[("PATH", &path)],
        )
        .current_dir(user.path("proj"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let resumed = std::fs::read_to_string(user.path("resumed")).unwrap();
    assert!(
        resumed.starts_with(&format!("--resume\n{NEW}\n")),
        "{resumed}"
    );
}

/// The real client in tmux under `--failover`, every account limited: the
/// session moves from compte1 to compte2, which is limited too; cf-run names
/// both with their reset times and exits 75.
#[test]
fn failover_in_the_terminal_exits_75_when_every_account_is_limited() {
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    let mock = MockApi::start();
    mock.rate_limit_key("KEY-compte1");
    mock.rate_limit_key("KEY-compte2");
    let tui = Tui::new(&user, &mock, &path, "limited");
    tui.start(&format!("--failover -- claude --session-id {ID}"));
    tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
    tui.keys(&["a task", "Enter"]);
    tui.wait("the end", &|s| s.contains("exit-status="));
    let screen = tui.screen();
    assert!(screen.contains("exit-status=75"), "{screen}");
    assert!(
        screen.contains("every account is at its usage limit: compte1 until")
            && screen.contains(", compte2 until")
            && screen.contains(&format!(
                "to go on with session {ID} later: cf-run --failover -- claude --resume {ID}"
            )),
        "{screen}"
    );
    let keys: Vec<_> = mock
        .messages_requests()
        .iter()
        .filter_map(|r| r.key().map(str::to_owned))
        .collect();
    assert!(
        keys.contains(&"KEY-compte1".into()) && keys.contains(&"KEY-compte2".into()),
        "{keys:?}"
    );
    tui.stop();
}

/// A terminal (tmux) in which the test user runs cf-run, offline against `mock`.
struct Tui<'a> {
    user: &'a TestUser,
    socket: String,
    prefix: String,
}

impl<'a> Tui<'a> {
    fn new(user: &'a TestUser, mock: &MockApi, path: &str, name: &str) -> Tui<'a> {
        Tui::in_dir(user, mock, path, name, "proj")
    }

    /// The same, working in `dir` (under the home).
    fn in_dir(user: &'a TestUser, mock: &MockApi, path: &str, name: &str, dir: &str) -> Tui<'a> {
        let env = offline_env(mock);
        let mut vars: Vec<String> = env.each().iter().map(|(k, v)| format!("{k}={v}")).collect();
        vars.push(format!("PATH={path}"));
        let prefix = format!(
            "cd {} && env {} {}",
            user.path(dir).display(),
            vars.join(" "),
            bins().plain.display()
        );
        let tui = Tui {
            user,
            socket: format!("cf-run-{name}-{}", user.uid),
            prefix,
        };
        tui.stop();
        tui
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let mut all = vec!["-L", self.socket.as_str()];
        all.extend(args);
        self.user.run(Path::new("/usr/bin/tmux"), &all)
    }

    /// Runs `cf-run ARGS` in a new terminal, then shows its exit status.
    /// The shell survives a Ctrl-C, as an interactive one does (a handler,
    /// not an ignore, which the command would inherit).
    fn start(&self, args: &str) {
        let line = format!(
            "trap : INT; {} {args}; echo exit-status=$?; sleep 60",
            self.prefix
        );
        let started = self.tmux(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "160",
            "-y",
            "50",
            &line,
        ]);
        assert_eq!(started.status.code(), Some(0), "{}", stderr(&started));
    }

    /// Runs `cf-run ARGS` from an interactive bash in a new terminal, as a
    /// user types it: with job control (Ctrl-Z, `fg`).
    fn start_in_shell(&self, args: &str) {
        let started = self.tmux(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "160",
            "-y",
            "50",
            "bash --norc --noprofile -i",
        ]);
        assert_eq!(started.status.code(), Some(0), "{}", stderr(&started));
        let line = format!("{} {args}", self.prefix);
        self.keys(&[&line, "Enter"]);
    }

    fn keys(&self, keys: &[&str]) {
        let mut all = vec!["send-keys", "-t", "t"];
        all.extend(keys);
        assert_eq!(self.tmux(&all).status.code(), Some(0));
    }

    /// Types `line` and Enter until `done` holds: a client still starting
    /// may drop what is typed, so the line is typed again (over anything
    /// left in the input) after each 5 s without the outcome, up to a minute.
    fn type_until(&self, line: &str, what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        loop {
            self.keys(&["C-u", line, "Enter"]);
            let typed = Instant::now();
            while typed.elapsed() < Duration::from_secs(5) {
                if done() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no {what}:\n{}",
                self.screen()
            );
        }
    }

    fn screen(&self) -> String {
        stdout(&self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]))
    }

    fn wait(&self, what: &str, cond: &dyn Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if cond(&screen) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn failover(user: &TestUser, path: &str, mock: &MockApi, args: &[&str]) -> Output {
    let env = offline_env(mock);
    let mut env = env.each();
    env.push(("PATH", path));
    let mut all = vec!["failover"];
    all.extend(args);
    let mut cmd = user.command(&bins().plain, &all, &env);
    cmd.current_dir(user.path("proj"));
    cmd.output().unwrap()
}

#[test]
fn failover_finishes_the_task_on_the_next_account_in_one_session() {
    let (user, path) = with_real_claude();
    let mock = MockApi::start();
    mock.rate_limit_key("KEY-compte1");
    let out = failover(&user, &path, &mock, &["--", "the original task"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["is_error"], false, "{result}");
    let id = result["session_id"].as_str().unwrap();
    let requests = mock.messages_requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].key(), Some("KEY-compte1"));
    assert_eq!(requests[1].key(), Some("KEY-compte2"));
    assert!(
        requests.iter().all(|r| r.session_id() == Some(id)),
        "the task changed session"
    );
    assert!(requests[1].raw_body.contains("the original task"));
    assert!(
        requests[1]
            .raw_body
            .contains("Continue the task from where it stopped.")
    );
    assert!(
        stderr(&out).contains("account compte1 hit its usage limit"),
        "{}",
        stderr(&out)
    );

    // compte1 is remembered as cooling down: the next task starts on compte2.
    let limits: Value = serde_json::from_slice(
        &std::fs::read(user.path(".local/state/cf-run/limits.json")).unwrap(),
    )
    .unwrap();
    assert!(limits["compte1"].is_string(), "{limits}");
    mock.clear_requests();
    let out = failover(&user, &path, &mock, &["--", "a second task"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let requests = mock.messages_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].key(), Some("KEY-compte2"));
}

#[test]
fn failover_exits_75_when_every_account_is_limited() {
    let (user, path) = with_real_claude();
    let mock = MockApi::start();
    mock.rate_limit_key("KEY-compte1");
    mock.rate_limit_key("KEY-compte2");
    let out = failover(
        &user,
        &path,
        &mock,
        &["--accounts", "compte2,compte1", "--", "a task"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(
        err.contains("every account is at its usage limit: compte2 until ")
            && err.contains(", compte1 until "),
        "{err}"
    );
    let keys: Vec<_> = mock
        .messages_requests()
        .iter()
        .map(|r| r.key().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        ["KEY-compte2", "KEY-compte1"],
        "--accounts order not kept"
    );
    // Both cooling down: the next run asks nobody.
    mock.clear_requests();
    let out = failover(&user, &path, &mock, &["--", "another"]);
    assert_eq!(out.status.code(), Some(75));
    assert!(mock.messages_requests().is_empty());
}

#[test]
fn failover_passes_other_failures_through() {
    let (user, path) = with_real_claude();
    let mock = MockApi::start();
    // A resume of a session that does not exist: claude exits 1, no limit involved.
    let out = failover(&user, &path, &mock, &["--", "task", "--resume", ID]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!user.path(".local/state/cf-run/limits.json").exists());
    assert!(Path::new(claude()).exists());
}

/// The request `mock` received with `key` (x-api-key or bearer) whose body
/// holds `text`, once there is one; the screen when none came.
fn request_with(mock: &MockApi, tui: &Tui, key: &str, text: &str) -> support::mock_api::Recorded {
    let start = Instant::now();
    loop {
        let found = mock
            .messages_requests()
            .into_iter()
            .find(|r| r.key() == Some(key) && r.raw_body.contains(text));
        if let Some(r) = found {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no request with {key} and {text:?}:\n{}",
            tui.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the client under test is 2.1.197, the oldest supported.
fn oldest_client() -> bool {
    let version = std::process::Command::new(claude())
        .arg("--version")
        .output()
        .unwrap();
    stdout(&version).starts_with("2.1.197 ")
}

/// The real client in tmux under `--failover`, on a session it picks
/// itself: `--continue` (cf-run adds no `--session-id`, which the client
/// refuses beside it), then `/resume OTHER` inside (2.1.332; 2.1.197 finds
/// no session by id there). The limit hit on the session the client is on
/// moves that one to compte2.
#[test]
fn failover_follows_the_session_the_client_picks_and_moves_to() {
    const OTHER: &str = "0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    let mock = MockApi::start();
    let tui = Tui::new(&user, &mock, &path, "pick");
    past_sessions(&user, &tui, &mock, &[OTHER, ID]);
    tui.start("--failover -- claude --continue");
    wait_for_session(&user, ID);
    tui.wait("the continued session", &|s| s.contains("mock reply"));
    let on = if oldest_client() {
        ID
    } else {
        tui.type_until(&format!("/resume {OTHER}"), "ps to follow", || {
            ps(&user).iter().any(|e| e["session"] == OTHER)
        });
        OTHER
    };
    mock.rate_limit_key("KEY-compte1");
    tui.keys(&["the limited task", "Enter"]);
    let resumed = request_with(&mock, &tui, "KEY-compte2", "Continue the task");
    assert_eq!(resumed.session_id(), Some(on), "{}", tui.screen());
    assert!(resumed.raw_body.contains("the limited task"));
    tui.stop();
}

/// Interactive sessions `ids` under compte1, one turn each ("turn of ID"),
/// run to their end in `tui` (2.1.197's picker and `/resume` list no `-p`
/// session).
fn past_sessions(user: &TestUser, tui: &Tui, mock: &MockApi, ids: &[&str]) {
    user.mkdir(".claude-compte1/sessions");
    for id in ids {
        tui.start(&format!("--account compte1 -- claude --session-id {id}"));
        wait_for_session(user, id);
        tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
        tui.type_until(&format!("turn of {id}"), "a turn", || {
            mock.messages_requests()
                .iter()
                .any(|r| r.session_id() == Some(*id))
        });
        tui.wait("the reply", &|s| s.contains("mock reply"));
        // The turn is on disk before the client goes (2.1.197 writes late).
        let transcript = user.path(&format!(
            ".claude-projects-shared/{}/{id}.jsonl",
            slug(&user.path("proj"))
        ));
        wait_until("the turn in the transcript", || {
            std::fs::read_to_string(&transcript).is_ok_and(|t| t.contains("mock reply"))
        });
        tui.stop();
        wait_until("the session to end", || {
            !ps(user).iter().any(|e| e["session"] == *id)
        });
    }
}

/// The real client in tmux under `--failover -- claude --resume` (the
/// picker): the user picks the past session; cf-run learns it from the
/// client, and the limit moves that session to compte2.
#[test]
fn failover_follows_the_session_picked_in_the_picker() {
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    let mock = MockApi::start();
    let tui = Tui::new(&user, &mock, &path, "picker");
    past_sessions(&user, &tui, &mock, &[ID]);
    tui.start("--failover -- claude --resume");
    tui.wait("the picker", &|s| s.contains(&format!("turn of {ID}")));
    tui.keys(&["Enter"]);
    wait_for_session(&user, ID);
    mock.rate_limit_key("KEY-compte1");
    tui.type_until("the limited task", "the limited task", || {
        mock.messages_requests()
            .iter()
            .any(|r| r.raw_body.contains("the limited task"))
    });
    let resumed = request_with(&mock, &tui, "KEY-compte2", "Continue the task");
    assert_eq!(resumed.session_id(), Some(ID), "{}", tui.screen());
    assert!(resumed.raw_body.contains("the limited task"));
    tui.stop();
}

/// The real client in tmux under `--failover -- claude --resume ID
/// --fork-session`: the client forks the session under a new id, which
/// cf-run learns from it; the limit moves the fork (not ID) to compte2.
#[test]
fn failover_follows_a_forked_session() {
    if oldest_client() {
        // 2.1.197 does not always name the fork in its per-process file
        // (2 fresh-clone CI runs in 6 missed it): known, in the README.
        eprintln!("--fork-session not driven with 2.1.197: it may not name the fork");
        return;
    }
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    let mock = MockApi::start();
    let tui = Tui::new(&user, &mock, &path, "fork");
    past_sessions(&user, &tui, &mock, &[ID]);
    tui.start(&format!(
        "--failover -- claude --resume {ID} --fork-session"
    ));
    tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
    mock.rate_limit_key("KEY-compte1");
    tui.type_until("the limited task", "the limited task", || {
        mock.messages_requests()
            .iter()
            .any(|r| r.raw_body.contains("the limited task"))
    });
    let resumed = request_with(&mock, &tui, "KEY-compte2", "Continue the task");
    let fork = resumed.session_id().unwrap().to_owned();
    assert_ne!(fork, ID, "{}", tui.screen());
    assert!(resumed.raw_body.contains("the limited task"));
    assert!(resumed.raw_body.contains(&format!("turn of {ID}")));
    tui.stop();
}

/// The real client in tmux under `--failover`, in a subfolder of the folder
/// compte1 trusts (compte2 trusts none): a Ctrl-C at the prompt is the
/// client's, not the supervisor's; the limit moves the session to compte2
/// without stopping at the trust dialog; the move's line gives the reset in
/// local time, to the second; and once the client ends, cf-run names the
/// command that resumes the session.
#[test]
fn failover_from_a_subfolder_keeps_going_through_ctrl_c_and_says_how_to_resume() {
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    user.mkdir("proj/sub");
    let mock = MockApi::start();
    mock.rate_limit_key("KEY-compte1");
    let tui = Tui::in_dir(&user, &mock, &path, "sub", "proj/sub");
    tui.start(&format!("--failover -- claude --session-id {ID}"));
    tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
    tui.keys(&["C-c"]);
    tui.wait("the client's own Ctrl-C", &|s| s.contains("again to exit"));
    tui.wait("the hint to pass", &|s| !s.contains("again to exit"));
    tui.keys(&["the first task", "Enter"]);
    let resumed = request_with(&mock, &tui, "KEY-compte2", "Continue the task");
    assert_eq!(resumed.session_id(), Some(ID));
    let seen: Value = serde_json::from_str(
        &std::fs::read_to_string(user.path(".claude-compte2/.claude.json")).unwrap(),
    )
    .unwrap();
    let sub = user.path("proj/sub");
    assert_eq!(
        seen["projects"][sub.to_str().unwrap()]["hasTrustDialogAccepted"],
        true,
        "{seen}"
    );
    // The move's line, shown again by the next client once it has resumed
    // (cf-run's own was covered by its screen): local time, whole seconds.
    let said = "SessionStart:resume says: cf-run: account compte1 hit its usage limit (until ";
    tui.wait("the move's line in the next client", &|s| s.contains(said));
    let screen = tui.screen();
    let time = &screen[screen.find(said).unwrap() + said.len()..];
    let clock: Vec<char> = time.chars().take(8).collect();
    let shape: String = clock
        .iter()
        .map(|c| if c.is_ascii_digit() { '9' } else { *c })
        .collect();
    assert!(
        shape == "99:99:99" || time.starts_with(char::is_alphabetic),
        "{time}"
    );
    // Not RFC 3339 (2026-12-03T00:57:03.123456789Z).
    assert!(!time[..20.min(time.len())].contains('-'), "{time}");
    tui.wait("the reply", &|s| s.contains("mock reply"));
    tui.keys(&["/exit", "Enter"]);
    tui.wait("the end", &|s| s.contains("exit-status="));
    let screen = tui.screen();
    assert!(
        screen.contains(&format!(
            "to go on with session {ID}: cf-run --failover -- claude --resume {ID}"
        )),
        "{screen}"
    );
    tui.stop();
}

/// Subscription (OAuth) accounts, the real client in tmux under
/// `--failover`, with a statusline of the user's own on compte1: the
/// replies say compte1 has used 93% of its five-hour window (compte2 10%).
/// cf-run's statusline tap files that usage and the user's statusline still
/// shows; once the turn has ended, the session moves to compte2 before the
/// limit, with no prompt of cf-run's (the user says what is next), and the
/// next client shows why. `cf-run accounts --json` shows each account's
/// login, plan, usage and live sessions; no cool-down is recorded.
#[test]
fn failover_moves_a_subscription_between_turns_before_its_limit() {
    let (user, path) = with_real_claude();
    let mock = MockApi::start();
    let tui = first_turn_on_a_subscription((&user, &path), &mock, "early", 0.93);
    tui.wait("the next client's line", &|s| {
        s.contains("says: cf-run: account compte1 is at 93% of its five-hour limit (resets ")
    });
    let out = user.run(&bins().plain, &["accounts", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let one = &rows[0];
    assert_eq!(one["name"], "compte1", "{rows}");
    assert_eq!(one["login"], "subscription", "{rows}");
    assert_eq!(one["plan"], "max", "{rows}");
    assert_eq!(one["five_hour"]["used_percentage"], 93.0, "{rows}");
    assert_eq!(one["seven_day"]["used_percentage"], 40.0, "{rows}");
    assert_eq!(one["cooling_until"], Value::Null, "{rows}");
    assert_eq!(one["live"], 0, "{rows}");
    assert_eq!(rows[1]["name"], "compte2", "{rows}");
    assert_eq!(rows[1]["live"], 1, "{rows}");
    assert!(!user.path(".local/state/cf-run/limits.json").exists());
    tui.type_until("the second task", "the second task under compte2", || {
        mock.messages_requests()
            .iter()
            .any(|r| r.key() == Some("tok-compte2") && r.raw_body.contains("the second task"))
    });
    let second = request_with(&mock, &tui, "tok-compte2", "the second task");
    assert_eq!(second.session_id(), Some(ID));
    assert!(second.raw_body.contains("the first task"));
    wait_until("compte2's usage to be filed too", || {
        let out = user.run(&bins().plain, &["accounts", "--json"]);
        let rows: Value = serde_json::from_str(&stdout(&out)).unwrap_or_default();
        rows[1]["five_hour"]["used_percentage"] == 10.0
            && rows[0]["five_hour"]["used_percentage"] == 93.0
    });
    assert!(
        !mock
            .messages_requests()
            .iter()
            .any(|r| r.raw_body.contains("Continue the task")),
        "cf-run sent a prompt of its own"
    );
    tui.stop();
}

/// Subscription (OAuth) accounts with a statusline of the user's own on
/// compte1, whose replies announce `used` of its five-hour window (0.40 of
/// the seven-day one; compte2's say 0.10 and 0.05): the real client under
/// `--failover` in tmux has finished its first turn on compte1, and the
/// user's statusline shows.
fn first_turn_on_a_subscription<'a>(
    (user, path): (&'a TestUser, &str),
    mock: &MockApi,
    name: &str,
    used: f64,
) -> Tui<'a> {
    support::client::oauth_logins(user);
    let theirs =
        r#"{"statusLine": {"type": "command", "command": "cat >/dev/null; echo MY-OWN-STATUS"}}"#;
    user.write(".claude-compte1/settings.json", theirs);
    user.write(".claude-compte2/settings.json", "{}\n");
    trust_the_project_in_compte1(user);
    // Each client has run before: its per-process dir is there to bind.
    for account in ["compte1", "compte2"] {
        user.mkdir(&format!(".claude-{account}/sessions"));
    }
    mock.set_usage("tok-compte1", used, 0.40);
    mock.set_usage("tok-compte2", 0.10, 0.05);
    let tui = Tui::new(user, mock, path, name);
    tui.start(&format!("--failover -- claude --session-id {ID}"));
    tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
    tui.keys(&["the first task", "Enter"]);
    tui.wait("the user's own statusline", &|s| {
        s.contains("MY-OWN-STATUS")
    });
    tui
}

/// The same at 42%: the session stays on compte1, turn after turn.
#[test]
fn failover_stays_on_a_subscription_with_room() {
    let (user, path) = with_real_claude();
    let mock = MockApi::start();
    let tui = first_turn_on_a_subscription((&user, &path), &mock, "stay", 0.42);
    wait_until("compte1's usage to be filed", || {
        let out = user.run(&bins().plain, &["accounts", "--json"]);
        let rows: Value = serde_json::from_str(&stdout(&out)).unwrap_or_default();
        rows[0]["five_hour"]["used_percentage"] == 42.0
    });
    tui.type_until("the second task", "the second task", || {
        mock.messages_requests()
            .iter()
            .any(|r| r.raw_body.contains("the second task"))
    });
    let second = request_with(&mock, &tui, "tok-compte1", "the second task");
    assert_eq!(second.session_id(), Some(ID));
    assert!(
        !mock
            .messages_requests()
            .iter()
            .any(|r| r.key() == Some("tok-compte2")),
        "moved:\n{}",
        tui.screen()
    );
    assert!(!tui.screen().contains("goes on under"), "{}", tui.screen());
    tui.stop();
}

/// Two `--failover` sessions on one pool of accounts, the real client in two
/// terminals: B starts on compte2, then A on compte1. A hits compte1's limit
/// and moves to compte2. Then B hits compte2's: it sees the cool-down A
/// recorded after B started, so it does not move onto compte1 but ends with
/// 75, naming both accounts; the file keeps both cool-downs.
#[test]
fn two_failover_sessions_see_each_others_cooldowns() {
    const OTHER: &str = "0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
    let (user, path) = with_real_claude();
    let proj = trust_the_project_in_compte1(&user);
    let trusted = serde_json::json!({"hasCompletedOnboarding": true, "theme": "dark",
        "projects": {proj.to_str().unwrap(): {"hasTrustDialogAccepted": true}}});
    user.write(".claude-compte2/.claude.json", &trusted.to_string());
    let mock = MockApi::start();
    let b = Tui::new(&user, &mock, &path, "pool-b");
    b.start(&format!(
        "--failover --account compte2 -- claude --session-id {OTHER}"
    ));
    b.wait("B's prompt", &|s| s.contains('❯') || s.contains('>'));
    let a = Tui::new(&user, &mock, &path, "pool-a");
    a.start(&format!("--failover -- claude --session-id {ID}"));
    a.wait("A's prompt", &|s| s.contains('❯') || s.contains('>'));
    mock.rate_limit_key("KEY-compte1");
    a.keys(&["the task of A", "Enter"]);
    let moved = request_with(&mock, &a, "KEY-compte2", "Continue the task");
    assert_eq!(moved.session_id(), Some(ID));
    a.wait("A's reply under compte2", &|s| s.contains("mock reply"));
    mock.rate_limit_key("KEY-compte2");
    b.keys(&["the task of B", "Enter"]);
    b.wait("B's end", &|s| s.contains("exit-status="));
    let screen = b.screen();
    assert!(screen.contains("exit-status=75"), "{screen}");
    assert!(
        screen.contains("every account is at its usage limit: compte1 until")
            && screen.contains("compte2 until"),
        "{screen}"
    );
    assert!(
        !mock
            .messages_requests()
            .iter()
            .any(|r| r.key() == Some("KEY-compte1") && r.session_id() == Some(OTHER)),
        "B moved onto compte1, which A had found limited"
    );
    let limits: Value = serde_json::from_slice(
        &std::fs::read(user.path(".local/state/cf-run/limits.json")).unwrap(),
    )
    .unwrap();
    assert!(
        limits["compte1"].is_string() && limits["compte2"].is_string(),
        "{limits}"
    );
    a.stop();
    b.stop();
}

/// The real client in tmux under `--failover --wait`: compte1 hits its
/// limit while compte2 cools down for an hour, so cf-run waits between the
/// two clients; a Ctrl-C there stops the wait (130) and names the command
/// that resumes the session.
#[test]
fn a_ctrl_c_between_two_clients_says_how_to_resume() {
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    cool_down(&user, "compte2", 3600);
    let mock = MockApi::start();
    mock.rate_limit_key("KEY-compte1");
    let tui = Tui::new(&user, &mock, &path, "interrupt");
    tui.start(&format!(
        "--failover --wait --account compte1 -- claude --session-id {ID}"
    ));
    tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
    tui.keys(&["the first task", "Enter"]);
    tui.wait("the wait", &|s| s.contains("(Ctrl-C stops waiting)"));
    tui.keys(&["C-c"]);
    tui.wait("the end", &|s| s.contains("exit-status="));
    let screen = tui.screen();
    assert!(screen.contains("exit-status=130"), "{screen}");
    assert!(
        screen.contains(&format!(
            "stopped waiting; to go on with session {ID}: cf-run --failover -- claude --resume {ID}"
        )),
        "{screen}"
    );
    tui.stop();
}

/// `cf-run init --shared ~/.claude-shared` with these accounts, which must
/// succeed; what it says.
fn init_ok(user: &TestUser, accounts: &[&str]) -> String {
    let mut args = vec!["init", "--shared", "~/.claude-shared"];
    for account in accounts {
        args.extend(["--account", account]);
    }
    let init = user.run(&bins().plain, &args);
    let said = stdout(&init);
    assert_eq!(init.status.code(), Some(0), "{said}{}", stderr(&init));
    said
}

/// The commonest start, with the real client: one plain `~/.claude` (a key
/// in its settings, a session run there) and the client's `~/.claude.json`
/// beside it (its userID, first run done, the folder trusted). `cf-run init
/// --account main=~/.claude` moves it to `~/.claude-main`, copies
/// `~/.claude.json` in and leaves `~/.claude` empty. The client under main
/// then starts as it did before: no onboarding and no trust question, the
/// same userID, and the old session resumes from the shared dir.
#[test]
fn init_moves_a_plain_claude_in_and_the_client_starts_as_before() {
    let user = TestUser::acquire();
    user.mkdir("proj");
    user.mkdir("bin");
    std::os::unix::fs::symlink(claude(), user.path("bin/claude")).unwrap();
    let path = format!("{}:/usr/bin:/bin", user.path("bin").display());
    user.write(
        ".claude/settings.json",
        r#"{"apiKeyHelper": "echo KEY-main"}"#,
    );
    let mock = MockApi::start();
    let env = offline_env(&mock);
    let mut vars = env.each();
    vars.push(("PATH", &path));
    let first = user
        .command(
            &user.path("bin/claude"),
            &["-p", "the first task", "--session-id", ID],
            &vars,
        )
        .current_dir(user.path("proj"))
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    // What an interactive first run leaves: onboarding done, the folder trusted.
    let identity = user.path(".claude.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&identity).unwrap()).unwrap();
    let user_id = state["userID"].as_str().unwrap().to_owned();
    state["hasCompletedOnboarding"] = true.into();
    state["projects"][user.path("proj").to_str().unwrap()]["hasTrustDialogAccepted"] = true.into();
    user.write(".claude.json", &state.to_string());
    let said = init_ok(&user, &["main=~/.claude", "work=~/.claude-work"]);
    assert!(
        said.contains("moved: ") && said.contains(".claude-main (account main)"),
        "{said}"
    );
    assert!(said.contains("copied: "), "{said}");
    assert!(said.contains("created: account work's dir"), "{said}");
    let work = std::fs::metadata(user.path(".claude-work")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&work.permissions()) & 0o777,
        0o700
    );
    assert_eq!(std::fs::read_dir(user.path(".claude")).unwrap().count(), 0);
    let carried: Value =
        serde_json::from_slice(&std::fs::read(user.path(".claude-main/.claude.json")).unwrap())
            .unwrap();
    assert_eq!(carried["userID"], user_id.as_str());
    let config = std::fs::read_to_string(user.path(".config/claude-failover/config.toml")).unwrap();
    assert!(config.contains("dir = \"~/.claude-main\""), "{config}");
    let transcript = format!(".claude-shared/{}/{ID}.jsonl", slug(&user.path("proj")));
    assert!(user.path(&transcript).is_file(), "{said}");
    mock.clear_requests();
    let tui = Tui::new(&user, &mock, &path, "movein");
    tui.start(&format!("--account main -- claude --resume {ID}"));
    tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
    let screen = tui.screen();
    for first_run in [
        "Welcome to Claude Code",
        "text style",
        "trust this folder",
        "Quick safety check",
    ] {
        assert!(!screen.contains(first_run), "{first_run}: {screen}");
    }
    tui.type_until("the second task", "the second task", || {
        mock.messages_requests()
            .iter()
            .any(|r| r.raw_body.contains("the second task"))
    });
    let second = request_with(&mock, &tui, "KEY-main", "the second task");
    assert_eq!(second.session_id(), Some(ID));
    assert!(second.raw_body.contains("the first task"));
    assert!(second.raw_body.contains(&user_id), "another userID");
    tui.stop();
}

/// Two accounts that each went on with one session before `init` (the old
/// way, one `CLAUDE_CONFIG_DIR` each): their transcripts diverged. `init`
/// keeps the newer at its id and sets the older aside in the same project
/// under a new id, which it names with the command that resumes it; the
/// real client then resumes it there, with its own turns and not the
/// other's.
#[test]
fn a_diverged_transcript_set_aside_by_init_resumes_under_its_new_id() {
    let user = TestUser::acquire();
    user.mkdir("proj");
    user.mkdir("bin");
    std::os::unix::fs::symlink(claude(), user.path("bin/claude")).unwrap();
    let path = format!("{}:/usr/bin:/bin", user.path("bin").display());
    for account in ["compte1", "compte2"] {
        let settings = format!("{{\"apiKeyHelper\": \"echo KEY-{account}\"}}");
        user.write(&format!(".claude-{account}/settings.json"), &settings);
    }
    let mock = MockApi::start();
    let env = offline_env(&mock);
    let client = |account: &str, args: &[&str]| {
        let dir = user.path(&format!(".claude-{account}"));
        let mut vars = env.each();
        vars.extend([
            ("PATH", path.as_str()),
            ("CLAUDE_CONFIG_DIR", dir.to_str().unwrap()),
        ]);
        let out = user
            .command(&user.path("bin/claude"), args, &vars)
            .current_dir(user.path("proj"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    };
    let transcript = |account: &str| {
        user.path(&format!(
            ".claude-{account}/projects/{}/{ID}.jsonl",
            slug(&user.path("proj"))
        ))
    };
    client("compte1", &["-p", "the first task", "--session-id", ID]);
    std::fs::create_dir_all(transcript("compte2").parent().unwrap()).unwrap();
    std::fs::copy(transcript("compte1"), transcript("compte2")).unwrap();
    user.own(&user.path(".claude-compte2/projects"));
    user.own(transcript("compte2").parent().unwrap());
    user.own(&transcript("compte2"));
    client("compte1", &["-p", "compte1's own turn", "--resume", ID]);
    client("compte2", &["-p", "compte2's own turn", "--resume", ID]);
    let said = init_ok(
        &user,
        &["compte1=~/.claude-compte1", "compte2=~/.claude-compte2"],
    );
    let new = said
        .split_once("compte1's differs and goes on as session ")
        .and_then(|(_, rest)| rest.split_once(' '))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no new session named: {said}"));
    assert!(said.contains(&format!("(claude --resume {new})")), "{said}");
    let project = user.path(&format!(".claude-shared/{}", slug(&user.path("proj"))));
    let kept = std::fs::read_to_string(project.join(format!("{ID}.jsonl"))).unwrap();
    assert!(kept.contains("compte2's own turn") && !kept.contains("compte1's own turn"));
    mock.clear_requests();
    let mut vars = env.each();
    vars.push(("PATH", &path));
    let resumed = user
        .command(
            &bins().plain,
            &[
                "--account",
                "compte1",
                "--",
                "claude",
                "-p",
                "the next task",
                "--resume",
                &new,
            ],
            &vars,
        )
        .current_dir(user.path("proj"))
        .output()
        .unwrap();
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    let request = mock
        .messages_requests()
        .into_iter()
        .find(|r| r.raw_body.contains("the next task"))
        .expect("no request for the next task");
    assert_eq!(request.session_id(), Some(new.as_str()));
    assert!(request.raw_body.contains("compte1's own turn"));
    assert!(!request.raw_body.contains("compte2's own turn"));
    let aside = std::fs::read_to_string(project.join(format!("{new}.jsonl"))).unwrap();
    assert!(aside.contains("the next task"), "the turn went elsewhere");
}

/// The real client in tmux under `--failover --wait`, from an interactive
/// shell: compte1 hits its limit while compte2 cools down a few seconds
/// more, so cf-run waits between the two clients. There the user resizes
/// the terminal and presses Ctrl-Z (the shell stops the job), then `fg`:
/// the move goes on, and the session resumes under compte2.
#[test]
fn ctrl_z_and_a_resize_between_two_clients_do_not_stop_the_move() {
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    cool_down(&user, "compte2", 12);
    let mock = MockApi::start();
    mock.rate_limit_key("KEY-compte1");
    let tui = Tui::new(&user, &mock, &path, "jobs");
    tui.start_in_shell(&format!(
        "--failover --wait --account compte1 -- claude --session-id {ID}"
    ));
    tui.wait("the prompt", &|s| s.contains('❯'));
    tui.keys(&["the first task", "Enter"]);
    tui.wait("the wait", &|s| s.contains("(Ctrl-C stops waiting)"));
    let resized = tui.tmux(&["resize-window", "-t", "t", "-x", "120", "-y", "40"]);
    assert_eq!(resized.status.code(), Some(0), "{}", stderr(&resized));
    tui.keys(&["C-z"]);
    tui.wait("the job stopped", &|s| s.contains("Stopped"));
    tui.keys(&["fg", "Enter"]);
    let resumed = request_with(&mock, &tui, "KEY-compte2", "Continue the task");
    assert_eq!(resumed.session_id(), Some(ID));
    tui.stop();
}

/// Records that `account` cools down for `secs` seconds more, as a session
/// that hit its limit would: cf-run's `limits.json`, which it returns.
fn cool_down(user: &TestUser, account: &str, secs: i64) -> std::path::PathBuf {
    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs);
    user.write(
        ".local/state/cf-run/limits.json",
        &serde_json::json!({account: until.to_string()}).to_string(),
    )
}

/// `cf-run accounts`: how each account logs in, and a cool-down the user
/// ends by hand (`--clear-cooldown`); clearing one there is not, or of an
/// account the config lacks, is refused (125) and changes nothing.
#[test]
fn accounts_shows_each_login_and_clears_a_cooldown() {
    let user = setup();
    support::client::oauth_logins(&user);
    user.write(".claude-compte1/settings.json", "{}\n");
    let limits = cool_down(&user, "compte2", 3600);
    std::fs::remove_file(user.path(".claude-compte2/.credentials.json")).unwrap();
    let out = user.run(&bins().plain, &["accounts"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("compte1 ") && lines[0].contains("subscription (max)"));
    assert!(lines[0].contains("five-hour unknown") && lines[0].contains("0 live"));
    assert!(lines[1].contains("key helper") && lines[1].contains("cooling down until"));
    let cleared = user.run(&bins().plain, &["accounts", "--clear-cooldown", "compte2"]);
    assert_eq!(cleared.status.code(), Some(0), "{}", stderr(&cleared));
    assert!(stdout(&cleared).contains("account compte2 no longer cools down"));
    let left: Value = serde_json::from_slice(&std::fs::read(&limits).unwrap()).unwrap();
    assert_eq!(left, serde_json::json!({}));
    for (name, says) in [
        ("compte2", "account compte2 is not cooling down"),
        ("nope", "unknown account \"nope\""),
    ] {
        let before = std::fs::read(&limits).unwrap();
        let refused = user.run(&bins().plain, &["accounts", "--clear-cooldown", name]);
        assert_eq!(refused.status.code(), Some(125), "{}", stderr(&refused));
        assert!(stderr(&refused).contains(says), "{}", stderr(&refused));
        assert_eq!(std::fs::read(&limits).unwrap(), before);
    }
}

/// Subscription (OAuth) accounts, the real client in tmux under
/// `--failover --wait`: compte1 hits its limit, whose reset 2.1.332 records
/// to the second (the text says only the minute); compte2 cools down for a
/// few seconds more, as another session recorded: cf-run says it waits for
/// compte2's reset, then resumes the session there.
#[test]
fn failover_takes_the_reset_to_the_second_and_waits_for_the_next_account() {
    let (user, path) = with_real_claude();
    support::client::oauth_logins(&user);
    for account in ["compte1", "compte2"] {
        user.write(&format!(".claude-{account}/settings.json"), "{}\n");
    }
    trust_the_project_in_compte1(&user);
    let mock = MockApi::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reset = (now / 60 + 61) * 60 + 37;
    mock.set_reset(reset);
    mock.rate_limit_key("tok-compte1");
    cool_down(&user, "compte2", 15);
    let tui = Tui::new(&user, &mock, &path, "wait");
    tui.start(&format!("--failover --wait -- claude --session-id {ID}"));
    tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
    tui.keys(&["the first task", "Enter"]);
    tui.wait("the wait", &|s| {
        s.contains("waiting for compte2's, which lifts at")
    });
    let resumed = request_with(&mock, &tui, "tok-compte2", "Continue the task");
    assert_eq!(resumed.session_id(), Some(ID));
    let limits: Value = serde_json::from_slice(
        &std::fs::read(user.path(".local/state/cf-run/limits.json")).unwrap(),
    )
    .unwrap();
    let until: jiff::Timestamp = limits["compte1"].as_str().unwrap().parse().unwrap();
    let reset = jiff::Timestamp::from_second(reset as i64).unwrap();
    if oldest_client() {
        // 2.1.197 records the text alone: the minute.
        assert!(
            until <= reset && reset.duration_since(until).as_secs() < 60,
            "{until}"
        );
    } else {
        assert_eq!(until, reset, "{limits}");
    }
    tui.stop();
}

/// API-key accounts, the real client in tmux under `--failover`: compte1's
/// key keeps answering a plain 429 (a rate limit, no usage-limit headers),
/// which the client retries ten times, about 3 minutes, before it records
/// it. cf-run's launches let it retry twice: the session moves to compte2
/// after three requests.
#[test]
fn failover_moves_an_api_key_account_that_keeps_answering_429() {
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    let mock = MockApi::start();
    mock.rate_limit_key_retryable("KEY-compte1");
    let tui = Tui::new(&user, &mock, &path, "retry");
    tui.start(&format!("--failover -- claude --session-id {ID}"));
    tui.wait("the prompt", &|s| s.contains('❯') || s.contains('>'));
    let limited_at = Instant::now();
    tui.keys(&["the first task", "Enter"]);
    let resumed = request_with(&mock, &tui, "KEY-compte2", "Continue the task");
    eprintln!(
        "from the first task to compte2's first request: {:?}",
        limited_at.elapsed()
    );
    assert_eq!(resumed.session_id(), Some(ID));
    let tries = mock
        .messages_requests()
        .iter()
        .filter(|r| r.key() == Some("KEY-compte1") && r.raw_body.contains("the first task"))
        // 2.1.197 also sends (and retries, on its own clock) a title request
        // for the first prompt, which offers no tools: the turn's do.
        .filter(|r| r.body["tools"].as_array().is_some_and(|t| !t.is_empty()))
        .count();
    assert_eq!(tries, 3, "compte1 was asked {tries} times");
    tui.stop();
}

/// `--failover` in symlink mode is refused (125, saying why): no client's
/// own file can be told apart there, so cf-run could not follow `/resume`
/// or `--continue`, and two clients could write one transcript.
#[test]
fn failover_refuses_symlink_mode() {
    let (user, path) = with_fake_claude("exit 0");
    let out = cf(
        &user,
        &path,
        &["--failover", "--mode", "symlink", "--", "claude"],
    );
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cf-run --failover needs a namespace"),
        "{}",
        stderr(&out)
    );
    assert!(!user.path(".claude-compte1/projects").is_symlink());
}

/// Not a test: the benchmark behind the README's figures for the move
/// (`scripts/bench.sh` runs it; `BENCH_MOVE_RUNS`, default 5, after one to
/// warm up). With the real
/// client in tmux, each run measures the move, from compte1's request
/// answered with its limit to compte2's first request, under `--failover`;
/// then the client's own start on the same session: from the launch of
/// `claude --resume ID PROMPT` under compte2 to its first request. Prints
/// each median and their difference: what cf-run adds.
#[test]
#[ignore = "a benchmark: scripts/bench.sh runs it"]
fn bench_the_move() {
    let runs: usize = std::env::var("BENCH_MOVE_RUNS").map_or(5, |n| n.parse().unwrap());
    let (user, path) = with_real_claude();
    trust_the_project_in_compte1(&user);
    let mock = MockApi::start();
    let first = |key: &str, text: &str, after: Instant| {
        wait_for("the request", || {
            mock.messages_requests()
                .into_iter()
                .find(|r| r.key() == Some(key) && r.raw_body.contains(text) && r.at > after)
        })
    };
    let (mut moves, mut starts) = (Vec::new(), Vec::new());
    // Run 0 warms up (the client's 200 MB binary is read from disk once).
    for run in 0..=runs {
        let id = format!("3f0c2a1e-9b7d-4c55-8e21-{run:012}");
        let _ = std::fs::remove_file(user.path(".local/state/cf-run/limits.json"));
        mock.rate_limit_key("KEY-compte1");
        let tui = Tui::new(&user, &mock, &path, "bench");
        let began = Instant::now();
        tui.start(&format!(
            "--failover --account compte1 -- claude --session-id {id}"
        ));
        tui.wait("the prompt", &|s| s.contains('❯'));
        tui.keys(&[&format!("task {run}"), "Enter"]);
        let limited = first("KEY-compte1", &format!("task {run}"), began);
        let resumed = first("KEY-compte2", "Continue the task", limited.at);
        tui.wait("the reply", &|s| s.matches("mock reply").count() > 0);
        tui.stop();
        wait_until("the session to end", || {
            !ps(&user).iter().any(|e| e["session"] == id.as_str())
        });
        let tui = Tui::new(&user, &mock, &path, "bench");
        let began = Instant::now();
        tui.start(&format!(
            "--account compte2 -- claude --resume {id} 'Start again.'"
        ));
        let start = first("KEY-compte2", "Start again.", began).at - began;
        if run > 0 {
            moves.push(resumed.at - limited.at);
            starts.push(start);
        }
        tui.wait("the reply", &|s| s.matches("mock reply").count() > 1);
        tui.stop();
        wait_until("the session to end", || {
            !ps(&user).iter().any(|e| e["session"] == id.as_str())
        });
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (moved, started) = (median(moves.clone()), median(starts.clone()));
    eprintln!("moves: {moves:?}\nstarts: {starts:?}");
    println!(
        "| the move (limit to the next account's first request) | {} ms |\n\
         | the client's start (launch to its first request) | {} ms |\n\
         | what cf-run adds | {} ms |",
        moved.as_millis(),
        started.as_millis(),
        moved.as_millis() as i128 - started.as_millis() as i128
    );
}
