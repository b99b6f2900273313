//! Dirs and configs that belong to someone else.

use super::*;

/// Attack: dirs cf-run mounts, mounts over, covers or links are owned by
/// root or another user: the shared dir, the mount target, the account's
/// `projects`, another account's dir, an account dir outside the home.
/// Outcome: refused, naming the owner; symlink mode ignores the mount target
/// and other accounts (harmless there).
#[test]
fn dirs_owned_by_someone_else_are_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    let shared = user.path(".claude-projects-shared");
    for owner in [0, 65534] {
        chown(&shared, Some(owner), None).unwrap();
        let shown = format!(".claude-projects-shared is owned by uid {owner}");
        for mode in MODES {
            refused(
                &user,
                mode,
                &["the shared projects dir", &shown, "not by you"],
            );
        }
    }
    chown(&shared, Some(user.uid), None).unwrap();

    root_dir_in_home(&user, ".claude", 0o755);
    for mode in NAMESPACED {
        refused(
            &user,
            mode,
            &["the mount target", ".claude is owned by uid 0"],
        );
    }
    fs::remove_dir_all(user.path(".claude")).unwrap();

    // Empty, so no transcript is at stake: refused for its owner alone.
    fs::create_dir(user.path(".claude-compte1/projects")).unwrap();
    for mode in MODES {
        // Userns mode checks inside the namespace, where root is unmapped
        // and shows as the overflow uid 65534.
        let owner = if mode == Mode::Userns { 65534 } else { 0 };
        let shown = format!("projects is owned by uid {owner}");
        refused(&user, mode, &[&shown, "not by you"]);
    }
    fs::remove_dir(user.path(".claude-compte1/projects")).unwrap();

    chown(user.path(".claude-compte2"), Some(0), None).unwrap();
    for mode in NAMESPACED {
        refused(
            &user,
            mode,
            &[
                "account \"compte2\"'s dir",
                ".claude-compte2 is owned by uid 0",
            ],
        );
    }
    let out = launch(&user, Mode::Symlink, "compte1", &["true"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    fs::remove_file(user.path(".claude-compte1/projects")).unwrap();
    chown(user.path(".claude-compte2"), Some(user.uid), None).unwrap();

    let foreign = fixture_dir(&user, "nobody-account", 0o755);
    chown(&foreign, Some(65534), Some(65534)).unwrap();
    user.config(&format!(
        "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"{}\"\n",
        foreign.display()
    ));
    for mode in MODES {
        refused(
            &user,
            mode,
            &["account \"compte1\"'s dir", "is owned by uid 65534"],
        );
    }
    outside.assert_same("foreign dirs");
}

/// Attack: a config that someone else could have written: group- or
/// world-writable (any mix of those bits), also when root owns it.
/// Outcome: refused in every mode ("writable by group or others", "chmod go-w").
#[test]
fn group_or_world_writable_configs_are_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let config = user.path(".config/claude-failover/config.toml");
    for (owner, bits) in [
        (user.uid, 0o602),
        (user.uid, 0o660),
        (user.uid, 0o666),
        (user.uid, 0o622),
        (user.uid, 0o4620),
        (0, 0o664),
        (0, 0o646),
    ] {
        chown(&config, Some(owner), None).unwrap();
        set_mode(&config, bits);
        for mode in MODES {
            refused(&user, mode, &["writable by group or others", "chmod go-w"]);
        }
    }
}

/// Attack: the config's dir is writable by another user (mode 0777), who
/// replaces config.toml with a file of their own naming their dirs.
/// Outcome: refused in every mode, as OpenSSH's StrictModes does, for the
/// dir alone; and by the owner check once the dir is fixed. cf-run never
/// reads their file.
#[test]
fn a_config_swapped_by_another_user_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let dir = user.path(".config/claude-failover");
    set_mode(&dir, 0o777);
    let planted = dir.join("planted");
    fs::write(
        &planted,
        "shared_projects = \"/tmp\"\n[accounts.compte1]\ndir = \"/etc\"\n",
    )
    .unwrap();
    chown(&planted, Some(65534), Some(65534)).unwrap();
    set_mode(&planted, 0o644);
    // As nobody: the rename needs only write access to the dir.
    let mv = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "mv"])
        .arg(&planted)
        .arg(dir.join("config.toml"))
        .output()
        .unwrap();
    assert!(mv.status.success(), "{}", stderr(&mv));
    for mode in MODES {
        refused(
            &user,
            mode,
            &["which group or others may write to", "chmod go-w"],
        );
    }
    set_mode(&dir, 0o755);
    for mode in MODES {
        refused(
            &user,
            mode,
            &["config.toml is owned by uid 65534", "not by you"],
        );
    }
}

/// Attack: the user keeps an account dir under a dir that others may write
/// to (a shared, non-sticky dir) or that another user owns: whoever can write
/// there can swap the account dir for one of theirs between the user's
/// choice and cf-run's mount, or at any later launch.
/// Outcome: refused in every mode, naming the dir on the way and the fix
/// (chmod go-w) or its owner; under a sticky dir (as /tmp) it runs.
/// Control: another user does rename the account dir inside the writable dir.
#[test]
fn an_account_dir_under_a_dir_others_may_write_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let base = PathBuf::from(format!("/var/tmp/cf-run-ancestors-{}", user.uid));
    let _ = fs::remove_dir_all(&base);
    let open = base.join("open");
    fs::create_dir_all(&open).unwrap();
    set_mode(&base, 0o755);
    set_mode(&open, 0o777);
    let account = open.join("compte3");
    fs::create_dir(&account).unwrap();
    user.own(&account);
    let config = |dir: &Path| {
        user.config(&format!(
            "{STANDARD_CONFIG}\n[accounts.compte3]\ndir = \"{}\"\n",
            dir.display()
        ));
    };
    config(&account);
    let fix = format!("chmod go-w {}", open.display());
    for mode in MODES {
        let a = args(mode, "compte3", &["true"]);
        assert_refused(
            &user,
            mode,
            &a,
            &["which group or others may write to", &fix],
        );
    }
    // Sticky, as /tmp: only the owner may rename or remove what is in it.
    set_mode(&open, 0o1777);
    for mode in MODES {
        let out = launch(&user, mode, "compte3", &["true"]);
        assert_eq!(code(&out), Some(0), "{mode:?}: {}", stderr(&out));
    }
    // Another user's dir on the way.
    set_mode(&open, 0o755);
    chown(&open, Some(65534), Some(65534)).unwrap();
    for mode in MODES {
        let a = args(mode, "compte3", &["true"]);
        assert_refused(&user, mode, &a, &["which is owned by uid 65534"]);
    }
    // Control: in a dir anyone may write to, anyone may swap the account dir.
    chown(&open, Some(0), Some(0)).unwrap();
    set_mode(&open, 0o777);
    let swap = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "mv"])
        .arg(&account)
        .arg(open.join("swapped"))
        .output()
        .unwrap();
    assert!(swap.status.success(), "control: {}", stderr(&swap));
    fs::remove_dir_all(&base).unwrap();
}

/// Attack: the environment points cf-run at another user's config and home:
/// `CF_RUN_CONFIG`, `XDG_CONFIG_HOME`, `--config` (absolute or `../`), `HOME`.
/// Outcome: their config is refused (owned by them); `HOME` is ignored: cf-run
/// uses the user's own config and mounts only in the user's own home; the
/// other user's home is untouched.
#[test]
fn the_environment_cannot_select_another_users_files() {
    let user = TestUser::acquire();
    let other = TestUser::acquire();
    user.standard_layout();
    other.standard_layout();
    let theirs = other.path(".config/claude-failover/config.toml");
    set_mode(&theirs, 0o644);
    let before = other.snapshot();
    let (theirs_s, their_config_home) = (
        theirs.to_str().unwrap().to_owned(),
        other.path(".config").to_str().unwrap().to_owned(),
    );
    let owned = format!("owned by uid {}", other.uid);
    let relative = format!("../{}/.config/claude-failover/config.toml", other.name);
    for mode in MODES {
        refused_env(&user, mode, &[("CF_RUN_CONFIG", &theirs_s)], &[&owned]);
        refused_env(
            &user,
            mode,
            &[("XDG_CONFIG_HOME", &their_config_home)],
            &[&owned],
        );
        for path in [theirs_s.as_str(), relative.as_str()] {
            let mut a = vec!["--config", path];
            a.extend(args(mode, "compte1", &["true"]));
            assert_refused(&user, mode, &a, &[&owned]);
        }
    }
    let own_claude = user.path(".claude");
    let script = format!(
        "cat {0}/who; grep -c ' {0} ' /proc/self/mountinfo; echo \"$CLAUDE_CONFIG_DIR\"",
        own_claude.display()
    );
    for mode in NAMESPACED {
        let home = other.home.to_str().unwrap();
        let out = user.run_env(
            mode.bin(),
            &args(mode, "compte1", &sh(&script)),
            &[("HOME", home)],
        );
        assert_eq!(
            stdout(&out),
            format!("compte1\n1\n{}\n", own_claude.display()),
            "{mode:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(other.snapshot(), before, "the other user's home changed");
}

/// Attack: use cf-run (the privileged copy in particular) as a read oracle:
/// point the config at a root-only file, or probe names inside a root-only dir.
/// Outcome: refused with EACCES, the file's text never printed, and an
/// existing and a missing name give the same answer.
#[test]
fn the_config_cannot_read_or_probe_what_the_user_cannot() {
    let user = TestUser::acquire();
    user.standard_layout();
    let private = fixture_dir(&user, "private", 0o700);
    let secret = private.join("exists.toml");
    fs::write(&secret, format!("ROOT-ONLY-TEXT = 1\n{STANDARD_CONFIG}")).unwrap();
    set_mode(&secret, 0o600);
    let open_secret = fixture_dir(&user, "open", 0o755).join("secret.toml");
    fs::write(&open_secret, "ROOT-ONLY-TEXT = 1\n").unwrap();
    set_mode(&open_secret, 0o600);
    let missing = private.join("missing.toml");
    for mode in MODES {
        for path in [&open_secret, &secret, &missing] {
            let path = path.to_str().unwrap();
            let mut a = vec!["--config", path];
            a.extend(args(mode, "compte1", &["true"]));
            let err = assert_refused(&user, mode, &a, &["cannot open the config", "EACCES"]);
            assert!(!err.contains("ROOT-ONLY"), "{mode:?}: {err}");
            assert!(!err.contains("does not exist"), "{mode:?}: {err}");
        }
    }
}

/// Attack: a config that is a FIFO (would block a reader forever), a
/// directory, or a device.
/// Outcome: refused at once ("is not a regular file"), no hang.
#[test]
fn a_fifo_dir_or_device_config_is_refused_without_hanging() {
    let user = TestUser::acquire();
    user.standard_layout();
    let fifo = user.path("fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    user.own(&fifo);
    user.mkdir("dir.toml");
    set_mode(&user.path("dir.toml"), 0o700);
    for mode in MODES {
        for path in [
            fifo.to_str().unwrap(),
            user.path("dir.toml").to_str().unwrap(),
            "/dev/null",
        ] {
            let mut a = vec!["--config", path];
            a.extend(args(mode, "compte1", &["true"]));
            let mut child = user
                .command(mode.bin(), &a, &[])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let hangs = format!("{mode:?}: cf-run to end (it hangs on the config {path}?)");
            let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                wait_until(&hangs, || child.try_wait().unwrap().is_some())
            }));
            if let Err(panic) = ended {
                let _ = child.kill();
                std::panic::resume_unwind(panic);
            }
            let out = child.wait_with_output().unwrap();
            assert_eq!(code(&out), Some(125), "{mode:?} {path}");
            let err = stderr(&out);
            assert!(
                err.contains("is not a regular file")
                    || err.contains("writable by group or others"),
                "{mode:?} {path}: {err}"
            );
        }
    }
}

/// Attack: a config larger than cf-run's 1 MiB read limit whose second
/// account comes after the limit: cf-run reads the first MiB and silently
/// drops compte2, so compte1's session no longer covers compte2's dir.
/// Expected: refused (125) as too large, never truncated.
#[test]
fn a_config_over_the_size_limit_is_refused_not_truncated() {
    let user = TestUser::acquire();
    user.standard_layout();
    let mut text = String::from(
        "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"~/.claude-compte1\"\n",
    );
    let pad = format!("# {}\n", "x".repeat(97));
    while text.len() < (1 << 20) + 4096 {
        text.push_str(&pad);
    }
    text.push_str("[accounts.compte2]\ndir = \"~/.claude-compte2\"\n");
    user.config(&text);
    let script = format!(
        "cat {}",
        user.path(".claude-compte2/.credentials.json").display()
    );
    for mode in NAMESPACED {
        let out = launch(&user, mode, "compte1", &sh(&script));
        assert!(
            !stdout(&out).contains(SECRET),
            "{mode:?} read compte2's credentials"
        );
        assert_eq!(code(&out), Some(125), "{mode:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("config"), "{}", stderr(&out));
    }
}

/// Attack (another user, not a session): the user's account dir or shared
/// dir is writable by others (mode 777, or group-writable for a group that
/// others are in). Any other user of the host can then plant a
/// `settings.json` whose hooks run as the user with that account's
/// credentials, or rewrite the transcripts every account resumes.
/// Outcome: refused in every mode (125) naming the dir and `chmod go-w`,
/// and doctor fails on it with that fix; group-writable for the user's own
/// private group (Debian's default, as sshd allows) runs. Control: another
/// user (nobody) does write into the open dir.
#[test]
fn an_account_or_shared_dir_others_may_write_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let account = user.path(".claude-compte1");
    let shared = user.path(".claude-projects-shared");
    for (dir, name) in [
        (&account, "account \"compte1\"'s dir"),
        (&shared, "shared projects dir"),
    ] {
        for (mode, gid) in [(0o777, user.gid), (0o775, 100)] {
            set_mode(dir, mode);
            chown(dir, None, Some(gid)).unwrap();
            let fix = format!("chmod go-w {}", dir.display());
            for m in MODES {
                let a = args(m, "compte1", &["true"]);
                let said = assert_refused(&user, m, &a, &["may be written by other users", &fix]);
                assert!(said.contains(name), "{m:?}: {said}");
            }
            let doctor = user.run(&bins().plain, &["doctor"]);
            assert_ne!(code(&doctor), Some(0));
            assert!(stdout(&doctor).contains(&fix), "{}", stdout(&doctor));
        }
        // Control: nobody writes there while it is open to all.
        set_mode(dir, 0o777);
        let planted = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "touch"])
            .arg(dir.join("planted-by-nobody"))
            .output()
            .unwrap();
        assert_eq!(code(&planted), Some(0), "control: {}", stderr(&planted));
        fs::remove_file(dir.join("planted-by-nobody")).unwrap();
        // The user's private group may write: it holds only the user.
        set_mode(dir, 0o770);
        chown(dir, None, Some(user.gid)).unwrap();
        for m in MODES {
            let out = launch(&user, m, "compte1", &["true"]);
            assert_eq!(code(&out), Some(0), "{m:?}: {}", stderr(&out));
        }
        set_mode(dir, 0o755);
    }
}
