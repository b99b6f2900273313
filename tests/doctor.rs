//! `cf-run doctor`, run as a built binary by an unprivileged user: a healthy
//! layout passes, each broken item fails by name with its fix, and `--json`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use serde_json::Value;
use support::layout::{TestUser, bins, stderr, stdout};

/// The standard layout, with a `claude` on PATH that answers `--version`.
fn healthy() -> (TestUser, String) {
    let user = TestUser::acquire();
    user.standard_layout();
    let path = user.fake_claude("echo '2.0.0 (Claude Code)'");
    (user, path)
}

fn doctor(user: &TestUser, path: &str, args: &[&str]) -> Output {
    let mut all = vec!["doctor"];
    all.extend(args);
    user.run_env(&bins().plain, &all, &[("PATH", path)])
}

/// Asserts that doctor exits 1, shows `name` as FAIL with each of `want` in
/// its lines, and names it on stderr.
fn assert_fails(user: &TestUser, path: &str, name: &str, want: &[&str]) {
    let out = doctor(user, path, &[]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    assert!(
        e.starts_with("cf-run: doctor: a launch would fail; fix") && e.contains(name),
        "{e}"
    );
    let at = o
        .find(&format!("FAIL  {name}: "))
        .unwrap_or_else(|| panic!("no FAIL line for {name} in:\n{o}"));
    let lines: String = o[at..].lines().take(2).collect::<Vec<_>>().join("\n");
    assert!(lines.contains("\n      fix: "), "{lines}");
    for w in want {
        assert!(lines.contains(w), "want {w:?} in:\n{lines}");
    }
}

#[test]
fn a_healthy_layout_passes() {
    let (user, path) = healthy();
    // All well (the account dirs private too): one line.
    for account in ["compte1", "compte2"] {
        let dir = user.path(&format!(".claude-{account}"));
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
    }
    let out = doctor(&user, &path, &[]);
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{}", stderr(&out));
    assert_eq!(o.lines().count(), 1, "{o}");
    assert!(
        o.starts_with("all ") && o.ends_with(" checks pass (--all lists them)\n"),
        "{o}"
    );
    let out = doctor(&user, &path, &["--all"]);
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{}", stderr(&out));
    assert!(!o.contains("FAIL"), "{o}");
    for want in [
        "ok    cap_sys_admin: ",
        "ok    user namespaces: allowed",
        "ok    config: ",
        "ok    mode: userns (auto: ",
        "account compte1: ",
        "ok    shared dir: ",
        "ok    compte1's projects: ",
        "ok    ~/.claude: ",
        "ok    locks: ",
        "ok    claude: ",
        "2.0.0 (Claude Code)",
        "ok    trial launch: /bin/true ran under compte1",
    ] {
        assert!(o.contains(want), "want {want:?} in:\n{o}");
    }
    // The privileged copy holds the capability, and auto picks privileged.
    let out = user.run_env(&bins().privileged, &["doctor", "--all"], &[("PATH", &path)]);
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(
        o.contains("holds cap_sys_admin") && o.contains("ok    mode: privileged"),
        "{o}"
    );
}

#[test]
fn json_gives_ok_the_mode_and_each_check() {
    let (user, path) = healthy();
    let out = doctor(&user, &path, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["mode"], "userns");
    let checks = v["checks"].as_array().unwrap();
    for check in checks {
        let keys: Vec<_> = check.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["account", "detail", "fix", "id", "name", "path", "status"],
            "{check}"
        );
        assert!(
            ["ok", "warn"].contains(&check["status"].as_str().unwrap()),
            "{check}"
        );
    }
    let names: Vec<_> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for want in [
        "config",
        "mode",
        "account compte2",
        "compte2's projects",
        "claude",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    // Stable keys: the check's id, and the account and path it is about.
    let of = |name: &str| checks.iter().find(|c| c["name"] == name).unwrap();
    let compte2 = user.path(".claude-compte2");
    assert_eq!(of("account compte2")["id"], "account_dir");
    assert_eq!(of("account compte2")["account"], "compte2");
    assert_eq!(of("account compte2")["path"], compte2.to_str().unwrap());
    assert_eq!(of("compte2's projects")["id"], "launch_check");
    assert_eq!(of("compte2's projects")["account"], "compte2");
    assert_eq!(of("mode")["id"], "mode");
    assert_eq!(of("mode")["account"], Value::Null);
    // A failing check: status "fail" with a fix, and ok false.
    std::fs::remove_dir_all(user.path(".claude-compte2")).unwrap();
    let out = doctor(&user, &path, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ok"], false);
    let failed: Vec<_> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["id"], "account_dir");
    assert_eq!(failed[0]["name"], "account compte2");
    assert!(failed[0]["fix"].as_str().unwrap().contains("mkdir -m 700"));
}

#[test]
fn a_missing_account_dir_fails_by_name() {
    let (user, path) = healthy();
    std::fs::remove_dir_all(user.path(".claude-compte2")).unwrap();
    assert_fails(
        &user,
        &path,
        "account compte2",
        &[".claude-compte2 does not exist", "mkdir -m 700"],
    );
}

#[test]
fn transcripts_left_in_an_accounts_projects_fail_with_the_init_command() {
    let (user, path) = healthy();
    user.write(".claude-compte1/projects/-home-p/a.jsonl", "{}\n");
    let home = user.home.display();
    assert_fails(
        &user,
        &path,
        "compte1's projects",
        &[
            "holds 1 transcript (1 file)",
            &format!(
                "cf-run init --shared {home}/.claude-projects-shared \
                 --account compte1={home}/.claude-compte1 --account compte2={home}/.claude-compte2"
            ),
        ],
    );
}

#[test]
fn a_config_others_could_write_fails_with_chmod() {
    let (user, path) = healthy();
    let config = user.path(".config/claude-failover/config.toml");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_fails(
        &user,
        &path,
        "config",
        &[
            "writable by group or others",
            &format!("chmod go-w {}", config.display()),
        ],
    );
}

#[test]
fn no_claude_on_path_fails() {
    let (user, _) = healthy();
    assert_fails(
        &user,
        "/usr/bin:/bin",
        "claude",
        &["not found on PATH (/usr/bin:/bin)", "npm install"],
    );
}

#[test]
fn an_interrupted_init_fails_until_finished() {
    let (user, path) = healthy();
    user.write(".claude-projects-shared/.cf-init/journal", "");
    assert_fails(
        &user,
        &path,
        "shared dir",
        &[
            "an earlier cf-run init was interrupted",
            "finish it: cf-run init",
        ],
    );
}

/// What a plain `claude` run left in `~/.claude`, which every session hides
/// under the account's bind: a warning (a launch works) naming it, and the
/// init command that moves it in as an account.
#[test]
fn files_hidden_under_claude_are_named_with_the_command_that_moves_them_in() {
    let (user, path) = healthy();
    user.write(".claude/settings.json", "{}");
    user.mkdir(".claude/todos");
    let out = doctor(&user, &path, &[]);
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{}", stderr(&out));
    let at = o.find("warn  ~/.claude: ").unwrap_or_else(|| panic!("{o}"));
    let lines: Vec<&str> = o[at..].lines().take(2).collect();
    assert!(
        lines[0].contains("holds 2 entries that every session hides")
            && lines[0].contains("(settings.json, todos)"),
        "{lines:?}"
    );
    let (_, fix) = lines[1]
        .split_once("moved in as it is: ")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        fix.starts_with("cf-run init --shared ")
            && fix.ends_with("--account NAME=~/.claude --force"),
        "{lines:?}"
    );
    // The fix works as written, NAME given.
    let words: Vec<String> = fix
        .replace("NAME=", "extra=")
        .split(' ')
        .skip(1)
        .map(str::to_owned)
        .collect();
    let args: Vec<&str> = words.iter().map(String::as_str).collect();
    let init = user.run_env(&bins().plain, &args, &[("PATH", &path)]);
    assert_eq!(init.status.code(), Some(0), "{fix}: {}", stderr(&init));
    assert!(user.path(".claude-extra/settings.json").is_file());
    assert_eq!(std::fs::read_dir(user.path(".claude")).unwrap().count(), 0);

    // ~/.claude a symlink to an account's dir: that account's files are not
    // taken for hidden ones (the symlink has its own finding).
    std::fs::remove_dir(user.path(".claude")).unwrap();
    user.symlink(".claude", user.path(".claude-compte1"));
    let o = stdout(&doctor(&user, &path, &["--all"]));
    assert!(o.contains("ok    ~/.claude: holds nothing"), "{o}");
}
