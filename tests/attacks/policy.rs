//! The admin's policy.

use super::*;

/// A root-owned dir holding `policy.toml` = `text` (mode `mode`), to be
/// bound over /etc/claude-failover by `command_under_policy`.
fn policy_dir(user: &TestUser, name: &str, text: &str, mode: u32) -> PathBuf {
    let dir = fixture_dir(user, name, 0o755);
    let file = dir.join("policy.toml");
    fs::write(&file, text).unwrap();
    set_mode(&file, mode);
    dir
}

fn under_policy(user: &TestUser, policy: &Path, bin: &Path, args: &[&str]) -> Output {
    user.command_under_policy(policy, bin, args)
        .output()
        .unwrap()
}

fn refused_under_policy(user: &TestUser, policy: &Path, mode: Mode, args: &[&str], want: &[&str]) {
    let before = user.snapshot();
    let out = under_policy(user, policy, mode.bin(), args);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(125), "{mode:?} {args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{mode:?} {args:?}: want {w:?} in {err}");
    }
    assert_eq!(
        user.snapshot(),
        before,
        "{mode:?} {args:?} changed the disk"
    );
}

/// Attack: widen what the admin's policy allows (`modes = ["userns"]`,
/// `roots = ["/home"]`, no setuid): ask for privileged or symlink mode on the
/// command line or in the config, ask for `setuid = true`, put an account
/// dir outside the allowed roots.
/// Outcome: each is refused (125) naming the policy; `auto` on the
/// privileged copy picks userns.
#[test]
fn the_admin_policy_cannot_be_widened_by_the_user() {
    let user = TestUser::acquire();
    user.standard_layout();
    let policy = policy_dir(
        &user,
        "policy",
        "modes = [\"userns\"]\nroots = [\"/home\"]\n",
        0o644,
    );
    for mode in [Mode::Privileged, Mode::Symlink] {
        let shown = format!("{} mode is not allowed by the admin's policy", mode.name());
        refused_under_policy(
            &user,
            &policy,
            mode,
            &args(mode, "compte1", &["true"]),
            &[&shown],
        );
    }
    user.config(&format!("mode = \"privileged\"\n{STANDARD_CONFIG}"));
    let no_mode = ["--account", "compte1", "--", "true"];
    refused_under_policy(
        &user,
        &policy,
        Mode::Privileged,
        &no_mode,
        &["privileged mode is not allowed"],
    );
    user.config(STANDARD_CONFIG);
    let dry = under_policy(
        &user,
        &policy,
        &bins().privileged,
        &["--account", "compte1", "--dry-run"],
    );
    assert!(
        stdout(&dry).contains("mode: userns"),
        "{}{}",
        stdout(&dry),
        stderr(&dry)
    );

    user.config(&format!("setuid = true\n{STANDARD_CONFIG}"));
    for mode in [Mode::Userns, Mode::Privileged] {
        let a = args(mode, "compte1", &["true"]);
        refused_under_policy(&user, &policy, mode, &a, &["does not allow setuid"]);
        // Without any policy file the default is the same: no setuid.
        assert_refused(&user, mode, &a, &["does not allow setuid"]);
    }
    let outside = fixture_dir(&user, "outside-roots", 0o755).join("acc");
    fs::create_dir(&outside).unwrap();
    user.own(&outside);
    user.config(&format!(
        "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"{}\"\n",
        outside.display()
    ));
    let a = args(Mode::Userns, "compte1", &["true"]);
    refused_under_policy(
        &user,
        &policy,
        Mode::Userns,
        &a,
        &["is outside the roots the admin allows"],
    );
}

/// Attack: a policy file someone other than root could have written, or
/// one that is a symlink, or one with a key the binary does not know (as
/// when a user hopes an unknown setting is ignored).
/// Outcome: every launch is refused (125) naming the policy file: an
/// untrusted policy is never ignored.
#[test]
fn an_untrusted_policy_refuses_every_launch() {
    let user = TestUser::acquire();
    user.standard_layout();
    let writable = policy_dir(&user, "policy-writable", "", 0o666);
    let owned = policy_dir(&user, "policy-owned", "", 0o644);
    chown(owned.join("policy.toml"), Some(user.uid), None).unwrap();
    let unknown = policy_dir(&user, "policy-unknown", "allow_everything = true\n", 0o644);
    let linked = policy_dir(&user, "policy-linked", "", 0o644);
    fs::rename(linked.join("policy.toml"), linked.join("real.toml")).unwrap();
    symlink(linked.join("real.toml"), linked.join("policy.toml")).unwrap();
    let cases = [
        (&writable, "writable by group or others"),
        (&owned, "not by root"),
        (&unknown, "allow_everything"),
        (&linked, "symlink"),
    ];
    for (policy, want) in cases {
        for mode in MODES {
            let a = args(mode, "compte1", &["true"]);
            refused_under_policy(&user, policy, mode, &a, &["policy", want]);
        }
    }
}

/// Attack: with setuid allowed by the admin and asked for in the config
/// (no_new_privs off), run a setuid-root program through the account bind.
/// Outcome: harmless: the binds stay nosuid, so it runs as the user in
/// both namespace modes.
#[test]
fn setuid_allowed_by_policy_still_stops_at_the_nosuid_binds() {
    let user = TestUser::acquire();
    user.standard_layout();
    let policy = policy_dir(&user, "policy-setuid", "setuid = true\n", 0o644);
    user.config(&format!("setuid = true\n{STANDARD_CONFIG}"));
    let planted = user.path(".claude-compte1/ids");
    fs::copy(&tools().ids, &planted).unwrap();
    chown(&planted, Some(0), Some(0)).unwrap();
    set_mode(&planted, 0o4755);
    let script = "grep NoNewPrivs /proc/self/status; ~/.claude/ids";
    for mode in NAMESPACED {
        let out = under_policy(
            &user,
            &policy,
            mode.bin(),
            &args(mode, "compte1", &sh(script)),
        );
        assert_eq!(
            stdout(&out),
            format!(
                "NoNewPrivs:\t0\nruid={0} euid={0} CapEff=0000000000000000\n",
                user.uid
            ),
            "{mode:?}: {}",
            stderr(&out)
        );
    }
    fs::remove_file(&planted).unwrap();
}
