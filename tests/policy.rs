//! The admin's policy at its fixed path, /etc/claude-failover/policy.toml,
//! seen by the real binary through a private bind of that dir, so no other
//! test (and nothing on the host) sees it.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::layout::{STANDARD_CONFIG, TestUser, bins, stderr, stdout};
use support::modes::{MODES, Mode};

/// A policy dir holding `text` as policy.toml, root-owned, mode 0644.
fn policy(text: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("cf-run-policy-{}-{:x}", std::process::id(), rand()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("policy.toml"), text).unwrap();
    fs::set_permissions(dir.join("policy.toml"), fs::Permissions::from_mode(0o644)).unwrap();
    dir
}

fn rand() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn run(user: &TestUser, dir: &Path, bin: &Path, args: &[&str]) -> Output {
    user.command_under_policy(dir, bin, args).output().unwrap()
}

fn assert_refused(out: &Output, want: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    for w in want {
        assert!(err.contains(w), "want {w:?} in {err}");
    }
}

#[test]
fn only_allowed_modes_run_and_auto_picks_among_them() {
    let user = TestUser::acquire();
    user.standard_layout();
    let dir = policy("modes = [\"userns\", \"symlink\"]\n");
    let dry = ["--account", "compte1", "--dry-run"];
    let auto = stdout(&run(&user, &dir, &bins().privileged, &dry));
    assert!(
        auto.contains("mode: userns (auto: privileged mode not allowed by the admin"),
        "{auto}"
    );
    let args = ["--mode", "privileged", "--account", "compte1", "--", "true"];
    let out = run(&user, &dir, &bins().privileged, &args);
    assert_refused(
        &out,
        &[
            "privileged mode is not allowed",
            "/etc/claude-failover/policy.toml",
            "allowed: userns, symlink",
        ],
    );
    let dir = policy("modes = [\"privileged\"]\n");
    let out = run(
        &user,
        &dir,
        &bins().plain,
        &["--account", "compte1", "--", "true"],
    );
    assert_refused(&out, &["no mode the admin allows works here"]);
}

#[test]
fn dirs_must_lie_under_the_allowed_roots() {
    let user = TestUser::acquire();
    user.standard_layout();
    let home = user.home.display().to_string();
    let inside = policy(&format!("roots = [\"{home}\"]\n"));
    let outside = policy("roots = [\"/srv/claude\"]\n");
    for mode in MODES {
        let args = ["--mode", mode.name(), "--account", "compte1", "--", "true"];
        let ok = run(&user, &inside, mode.bin(), &args);
        assert_eq!(ok.status.code(), Some(0), "{mode:?}: {}", stderr(&ok));
        let before = user.snapshot();
        let out = run(&user, &outside, mode.bin(), &args);
        assert_refused(
            &out,
            &[
                "account \"compte1\"'s dir",
                "is outside the roots",
                "/srv/claude",
            ],
        );
        assert_eq!(user.snapshot(), before);
    }
}

#[test]
fn a_policy_only_root_could_write_is_trusted() {
    let user = TestUser::acquire();
    user.standard_layout();
    let args = ["--account", "compte1", "--", "true"];
    let dir = policy("modes = [\"userns\"]\n");
    fs::set_permissions(dir.join("policy.toml"), fs::Permissions::from_mode(0o664)).unwrap();
    assert_refused(
        &run(&user, &dir, &bins().plain, &args),
        &["policy", "writable by group or others"],
    );
    fs::set_permissions(dir.join("policy.toml"), fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(dir.join("policy.toml"), Some(user.uid), None).unwrap();
    assert_refused(
        &run(&user, &dir, &bins().plain, &args),
        &["policy", &format!("owned by uid {}, not by root", user.uid)],
    );
    let dir = policy("modes = [\"userns\"]\nallow_everything = true\n");
    assert_refused(
        &run(&user, &dir, &bins().plain, &args),
        &["policy", "allow_everything"],
    );
}

#[test]
fn setuid_needs_the_policy_and_the_config() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.config(&format!("setuid = true\n{STANDARD_CONFIG}"));
    let nnp = |out: &Output| {
        stdout(out)
            .lines()
            .find(|l| l.starts_with("NoNewPrivs"))
            .map(str::to_owned)
    };
    for mode in MODES {
        let args = [
            "--mode",
            mode.name(),
            "--account",
            "compte1",
            "--",
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ];
        // The config alone cannot widen the default policy.
        let out = run(&user, &policy(""), mode.bin(), &args);
        assert_refused(&out, &["setuid = true", "does not allow setuid"]);
        let out = run(&user, &policy("setuid = true\n"), mode.bin(), &args);
        assert_eq!(
            nnp(&out).as_deref(),
            Some("NoNewPrivs:\t0"),
            "{mode:?}: {}",
            stderr(&out)
        );
        // Nothing lets an unprivileged process load a seccomp filter then.
        let warned =
            stderr(&out).contains("no seccomp filter keeps it from typing into your terminal");
        assert_eq!(warned, mode == Mode::Symlink, "{mode:?}: {}", stderr(&out));
    }
    // The policy alone does not turn it on either.
    user.config(STANDARD_CONFIG);
    let args = [
        "--mode",
        Mode::Privileged.name(),
        "--account",
        "compte1",
        "--",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ];
    let out = run(
        &user,
        &policy("setuid = true\n"),
        Mode::Privileged.bin(),
        &args,
    );
    assert_eq!(nnp(&out).as_deref(), Some("NoNewPrivs:\t1"));
}
