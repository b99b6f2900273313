//! A user that only a directory service knows (here libnss-extrausers, as
//! sssd or LDAP on a shared host): the shipped static binary resolves it and
//! runs every command for it, and never crashes on a lookup.

mod support;

use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::layout::{NSS_UID, TestUser, bins, stderr, stdout};
use support::modes::{MODES, launch, sh};
use support::wait::wait_for;

/// `cf-run ARGS` as the NSS user, with its stand-in `claude` on PATH.
fn cf(user: &TestUser, args: &[&str]) -> Output {
    let path = format!("{}:/usr/bin:/bin", user.path("bin").display());
    user.run_env(&bins().plain, args, &[("PATH", &path)])
}

#[test]
fn the_user_launches_in_every_mode() {
    let user = TestUser::acquire_nss();
    user.standard_layout();
    for mode in MODES {
        let out = launch(
            &user,
            mode,
            "compte1",
            &sh("cat ~/.claude-compte1/who; id -u"),
        );
        let (o, e) = (stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {o}{e}");
        assert_eq!(o, format!("compte1\n{NSS_UID}\n"), "{mode:?}: {e}");
    }
    // The account really is bound where the home from NSS says.
    let out = launch(&user, MODES[0], "compte2", &sh("cat ~/.claude/who"));
    assert_eq!(stdout(&out), "compte2\n", "{}", stderr(&out));
}

#[test]
fn init_doctor_and_ps_work_for_the_user() {
    let user = TestUser::acquire_nss();
    user.fake_claude("[ \"$1\" = --version ] && echo '2.0.0 (Claude Code)' || sleep 30");
    user.write(".claude-compte1/projects/-p/a.jsonl", "{\"n\":1}\n");
    user.mkdir(".claude-compte2");
    let out = cf(
        &user,
        &[
            "init",
            "--shared",
            "~/.claude-projects-shared",
            "--account",
            "compte1=~/.claude-compte1",
            "--account",
            "compte2=~/.claude-compte2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(user.path(".config/claude-failover/config.toml").is_file());
    assert_eq!(
        std::fs::read_to_string(user.path(".claude-projects-shared/-p/a.jsonl")).unwrap(),
        "{\"n\":1}\n"
    );

    let out = cf(&user, &["doctor", "--all"]);
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{}", stderr(&out));
    assert!(o.contains("ok    config: ") && !o.contains("FAIL"), "{o}");

    let path = format!("{}:/usr/bin:/bin", user.path("bin").display());
    let mut session = user.command(
        &bins().plain,
        &["--account", "compte2", "--", "claude"],
        &[("PATH", &path)],
    );
    let mut session = session.stdout(Stdio::null()).spawn().unwrap();
    let entry = wait_for("the compte2 session to show in ps", || {
        let out = cf(&user, &["ps", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let entries: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
        entries.into_iter().find(|e| e["account"] == "compte2")
    });
    session.kill().unwrap();
    session.wait().unwrap();
    assert_eq!(entry["cwd"], user.home.to_str().unwrap());
}

#[test]
fn a_uid_no_source_knows_is_refused_with_125() {
    // Run in the NSS user's world (systemd module first, then extrausers),
    // as a uid that neither knows.
    let user = TestUser::acquire_nss();
    let unknown = NSS_UID + 1;
    let out = user
        .nss_world()
        .arg("setpriv")
        .args([format!("--reuid={unknown}"), format!("--regid={unknown}")])
        .args(["--clear-groups", "env", "-i"])
        .arg(&bins().plain)
        .arg("ps")
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert_eq!(
        stderr(&out),
        format!("cf-run: uid {unknown} has no entry in the password database; add one (useradd)\n")
    );
}

/// The control: a static program that calls NSS itself, as cf-run did,
/// cannot resolve the same user in the same world.
#[test]
fn a_static_program_calling_nss_itself_fails_for_the_user() {
    let user = TestUser::acquire_nss();
    let dir = bins().plain.parent().unwrap().join("nss-control");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("getpwuid.c");
    std::fs::write(&src, include_str!("helpers/getpwuid.c")).unwrap();
    let exe = dir.join("getpwuid");
    let built = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .args([&exe, &src])
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", stderr(&built));
    let mut cmd = user.command(&exe, &[&NSS_UID.to_string()], &[]);
    let out = cmd.output().unwrap();
    let found = format!("{}\n", user.home.display());
    assert_ne!(stdout(&out), found, "a static getpwuid resolved the user");
    // On Debian and Ubuntu it dies by SIGSEGV in libnss_systemd, loaded
    // beside the static libc; elsewhere it may only fail to find the user.
    assert!(!out.status.success(), "a static getpwuid exited 0: {out:?}");
}
