//! The environment and descriptors handed to cf-run.

use super::*;

/// Attack: `LD_PRELOAD` a planted library (its constructor records the
/// process and its capabilities) into either build.
/// Outcome: harmless: cf-run is a static binary, with no dynamic loader to
/// read the variable (the privileged copy runs in secure-exec mode besides).
/// The command gets the caller's `LD_PRELOAD` back, as if the caller had run
/// it directly. Control: the library loads into the command, a dynamic `sh`.
#[test]
fn ld_preload_never_runs_in_cf_run() {
    let user = TestUser::acquire();
    user.standard_layout();
    let preload = tools().preload.to_str().unwrap();
    let sh_exe = fs::canonicalize("/bin/sh").unwrap();
    for mode in NAMESPACED {
        let lines = planted_run(
            &user,
            mode,
            ("LD_PRELOAD", preload),
            &sh("env | grep '^LD_'"),
        );
        assert!(
            lines.contains(&format!("exe={} ", sh_exe.display())),
            "control: the library did not load into the command: {lines}"
        );
    }
}

/// Attack: `LD_LIBRARY_PATH` pointing at a fake `libgcc_s.so.1` with the
/// planted constructor, the library a dynamic Rust binary would load first.
/// Outcome: as for LD_PRELOAD: cf-run loads no library at all; the command
/// gets the variable back. Control: the fake library loads into a command
/// that needs libgcc_s.
#[test]
fn ld_library_path_never_loads_a_fake_library_into_cf_run() {
    let user = TestUser::acquire();
    user.standard_layout();
    let libs = tools().fake_libs.to_str().unwrap();
    let needs = tools().needs_libgcc.to_str().unwrap();
    for mode in NAMESPACED {
        let lines = planted_run(&user, mode, ("LD_LIBRARY_PATH", libs), &[needs]);
        assert!(
            lines.contains(&format!("exe={needs} ")),
            "control: the fake libgcc_s did not load into the command: {lines}"
        );
    }
}

/// Launches `command` in `mode` with `planted` set and the planted code's
/// marker file; asserts that the planted code ran in no cf-run process and
/// with no capability, and returns what it recorded.
fn planted_run(user: &TestUser, mode: Mode, planted: (&str, &str), command: &[&str]) -> String {
    let marker = user.path("marker");
    let _ = fs::remove_file(&marker);
    let env = [planted, ("CF_ATTACK_MARKER", marker.to_str().unwrap())];
    let out = user.run_env(mode.bin(), &args(mode, "compte1", command), &env);
    assert_eq!(code(&out), Some(0), "{mode:?}: {}", stderr(&out));
    let lines = fs::read_to_string(&marker).unwrap_or_default();
    for line in lines.lines() {
        assert!(
            !line.contains(&format!("exe={} ", mode.bin().display())),
            "{mode:?}: planted code ran in cf-run: {line}"
        );
        assert!(
            line.contains("CapPrm=0000000000000000 CapEff=0000000000000000"),
            "{mode:?}: planted code ran with capabilities: {line}"
        );
    }
    lines
}

/// Attack: the caller sets `CLAUDE_CONFIG_DIR` to compte2's dir, twice in
/// the same environment (two entries with different values), hoping one
/// survives next to cf-run's.
/// Outcome: harmless: the command sees exactly one `CLAUDE_CONFIG_DIR`,
/// cf-run's own.
#[test]
fn a_callers_claude_config_dir_even_duplicated_is_replaced() {
    let user = TestUser::acquire();
    user.standard_layout();
    let theirs = user.path(".claude-compte2");
    for mode in MODES {
        let want = if mode == Mode::Symlink {
            user.path(".claude-compte1")
        } else {
            user.path(".claude")
        };
        let mut argv: Vec<&OsStr> = vec![
            tools().probe.as_os_str(),
            OsStr::new("execdup"),
            OsStr::new("CLAUDE_CONFIG_DIR"),
            theirs.as_os_str(),
            OsStr::new("/etc"),
            mode.bin().as_os_str(),
        ];
        let rest = args(mode, "compte1", &sh("env | grep '^CLAUDE_CONFIG_DIR='"));
        argv.extend(rest.iter().map(OsStr::new));
        let out = run_argv(&user, &as_user(&user, &argv));
        assert_eq!(
            stdout(&out),
            format!("CLAUDE_CONFIG_DIR={}\n", want.display()),
            "{mode:?}: {}",
            stderr(&out)
        );
    }
}

/// Attack: `CF_RUN_CONFIG` or `XDG_CONFIG_HOME` holding bytes that are not
/// UTF-8.
/// Outcome: refused: cf-run takes the variable as the bytes it holds, and the
/// file it names does not exist; compte2's credentials are never printed.
#[test]
fn non_utf8_config_variables_are_taken_as_bytes() {
    let user = TestUser::acquire();
    user.standard_layout();
    let script = format!(
        "cat {}",
        user.path(".claude-compte2/.credentials.json").display()
    );
    for var in ["CF_RUN_CONFIG", "XDG_CONFIG_HOME"] {
        let mut setting = format!("{var}=/tmp/").into_bytes();
        setting.extend(b"\xff\xfe");
        let setting = OsString::from_vec(setting);
        for mode in NAMESPACED {
            let mut argv: Vec<&OsStr> = vec![setting.as_os_str(), mode.bin().as_os_str()];
            let rest = args(mode, "compte1", &sh(&script));
            argv.extend(rest.iter().map(OsStr::new));
            let out = run_argv(&user, &as_user(&user, &argv));
            assert!(!stdout(&out).contains(SECRET), "{mode:?} {var}");
            assert_eq!(code(&out), Some(125), "{mode:?} {var}");
            assert!(
                stderr(&out).contains("does not exist"),
                "{mode:?} {var}: {}",
                stderr(&out)
            );
        }
    }
}

/// Attack: start cf-run with stdin, stdout and stderr closed, so that the
/// first files it opens get descriptors 0-2 and its messages land in them.
/// Outcome: harmless: the command's descriptors 0-2 are /dev/null (or
/// /dev/full, from glibc in secure-exec mode), never a file or dir cf-run
/// opened; a refusal writes into nothing on disk.
#[test]
fn closed_standard_descriptors_do_not_redirect_cf_runs_output() {
    let user = TestUser::acquire();
    user.standard_layout();
    let report = user.path("fds.txt");
    let probe = [
        tools().probe.to_str().unwrap(),
        "fds",
        report.to_str().unwrap(),
    ];
    let closed = |argv: &[&OsStr]| {
        Command::new("sh")
            .args(["-c", "exec 0<&- 1>&- 2>&-; exec \"$@\"", "sh"])
            .args(as_user(&user, argv))
            .current_dir(&user.home)
            .status()
            .unwrap()
    };
    for mode in NAMESPACED {
        let a = args(mode, "compte1", &probe);
        let mut argv = vec![mode.bin().as_os_str()];
        argv.extend(a.iter().map(OsStr::new));
        assert_eq!(closed(&argv).code(), Some(0), "{mode:?}");
        let seen = fs::read_to_string(&report).unwrap();
        assert_eq!(seen.lines().count(), 3, "{mode:?}: {seen}");
        for line in seen.lines() {
            assert!(
                line == "/dev/null" || line == "/dev/full" || line == "closed",
                "{mode:?}: the command got {line} as a standard descriptor"
            );
        }
        fs::remove_file(&report).unwrap();
        // A refusal with nowhere to print: nothing gets written anywhere.
        let config = user.path(".config/claude-failover/config.toml");
        set_mode(&config, 0o666);
        let before = user.snapshot();
        assert_eq!(closed(&argv).code(), Some(125), "{mode:?}");
        assert_eq!(user.snapshot(), before, "{mode:?}");
        set_mode(&config, 0o600);
    }
}

/// Attack: hand cf-run descriptors open on compte2's dir, on the home, and on
/// a file, hoping cf-run's own descriptors leak next to them.
/// Outcome: harmless: the command holds exactly what the caller gave it
/// (through a descriptor on the home, it can reach compte2's dir under the
/// cover, since that descriptor predates the namespace; the caller had it),
/// and no descriptor of cf-run's.
#[test]
fn inherited_descriptors_pass_through_and_none_of_cf_runs_leak() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write("log", "");
    let wrapper = "exec 7<\"$1\" 8<\"$2\" 9>>\"$3\"; shift 3; exec \"$@\"";
    let (theirs, log) = (user.path(".claude-compte2"), user.path("log"));
    let fixed = [
        "-c",
        wrapper,
        "sh",
        theirs.to_str().unwrap(),
        user.home.to_str().unwrap(),
        log.to_str().unwrap(),
    ];
    let run = |program: &[&str]| {
        let mut a = fixed.to_vec();
        a.extend(program);
        user.run(Path::new("/bin/sh"), &a)
    };
    let baseline = stdout(&run(&["ls", "/proc/self/fd"]));
    for fd in ["7", "8", "9"] {
        assert!(baseline.lines().any(|l| l == fd), "{baseline}");
    }
    for mode in MODES {
        let mut program = vec![bin_str(mode)];
        program.extend(args(mode, "compte1", &["ls", "/proc/self/fd"]));
        let seen = run(&program);
        assert_eq!(stdout(&seen), baseline, "{mode:?}: {}", stderr(&seen));
        let script = "cat /proc/self/fd/7/.credentials.json /proc/self/fd/8/.claude-compte2/.credentials.json";
        let mut program = vec![bin_str(mode)];
        program.extend(args(mode, "compte1", &sh(script)));
        let out = run(&program);
        assert_eq!(
            stdout(&out).matches(SECRET).count(),
            2,
            "{mode:?}: {}",
            stderr(&out)
        );
    }
}

/// Attack: start cf-run with its working directory inside compte2's dir.
/// Outcome: harmless: cf-run re-enters the working dir through the new
/// mounts, so the command's cwd is the cover, and neither relative nor
/// absolute paths reach compte2's files.
#[test]
fn a_cwd_inside_another_account_is_the_callers_own() {
    let user = TestUser::acquire();
    user.standard_layout();
    let absolute = user.path(".claude-compte2/.credentials.json");
    let script = format!("cat .credentials.json; cat {}", absolute.display());
    for mode in NAMESPACED {
        let out = user
            .command(mode.bin(), &args(mode, "compte1", &sh(&script)), &[])
            .current_dir(user.path(".claude-compte2"))
            .output()
            .unwrap();
        assert_eq!(stdout(&out).matches(SECRET).count(), 0, "{mode:?}");
        assert!(stderr(&out).contains("cat: .credentials.json: No such file"));
        assert!(stderr(&out).contains(&format!("{}: No such file", absolute.display())));
    }
}

/// Attack: exhaust descriptors (RLIMIT_NOFILE 3..12) so that cf-run fails at
/// every step of its setup in turn, including between mounts.
/// Outcome: every run exits 0, or 125 with a message (127 from the dynamic
/// loader when even libraries cannot be opened); never a crash; no mount on
/// the host; the home gains at most the documented empty mount points.
#[test]
fn descriptor_exhaustion_during_setup_fails_cleanly() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    let before = snapshot(&user);
    let prlimit = Path::new("/usr/bin/prlimit");
    for mode in MODES {
        let (mut refusals, mut successes) = (0, 0);
        for n in 3..=12 {
            let limit = format!("--nofile={n}:{n}");
            let mut a = vec![limit.as_str(), "--", bin_str(mode)];
            a.extend(args(mode, "compte1", &["true"]));
            let out = user.run(prlimit, &a);
            let err = stderr(&out);
            match code(&out) {
                Some(0) => successes += 1,
                Some(125) => {
                    assert!(err.starts_with("cf-run: "), "{mode:?} {n}: {err}");
                    refusals += 1;
                }
                Some(127) => assert!(err.contains("error while loading shared libraries")),
                other => panic!("{mode:?} nofile={n}: {other:?} {:?}: {err}", out.status),
            }
            outside.assert_same("descriptor exhaustion");
            assert_only_mount_points_added(&user, &before, mode);
        }
        assert!(refusals > 0 && successes > 0, "{mode:?}");
    }
}

/// The home is as in `before`, except for what a launch may leave: the
/// empty mount points `~/.claude` and the account's `projects`, or (symlink
/// mode) `projects` as a link to the shared dir.
pub(crate) fn assert_only_mount_points_added(
    user: &TestUser,
    before: &BTreeMap<PathBuf, String>,
    mode: Mode,
) {
    let after = snapshot(user);
    let projects = Path::new(".claude-compte1/projects");
    let link = format!("link -> {}", user.path(".claude-projects-shared").display());
    for (path, what) in &after {
        if before.get(path) == Some(what) {
            continue;
        }
        let empty_dir =
            (path == Path::new(".claude") || path == projects) && what.starts_with("dir ");
        let allowed = empty_dir || (path == projects && what.starts_with(&link));
        assert!(allowed, "{mode:?}: {} became {what}", path.display());
    }
    for (path, what) in before {
        if path != projects {
            assert_eq!(
                after.get(path),
                Some(what),
                "{mode:?}: {} changed",
                path.display()
            );
        }
    }
}

/// Attack: the caller's shell exports `ANTHROPIC_API_KEY` (another account's,
/// or one a session planted in a profile file) and runs `cf-run --account
/// compte2 -- claude -p`. The client takes an exported key over the
/// account's own login, so the account chosen would silently not be the one
/// used. Both accounts log in by subscription (OAuth), as most users do.
/// Outcome: in every mode the real client sends compte2's OAuth token, and
/// `--dry-run` names the variable removed. Control: `--keep-env
/// ANTHROPIC_API_KEY` passes it on, and the mock sees the exported key.
#[test]
fn an_exported_key_does_not_replace_the_chosen_accounts_login() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("proj");
    support::client::oauth_logins(&user);
    let mock = MockApi::start();
    let offline = offline_env(&mock);
    let mut env = offline.each();
    env.push(("ANTHROPIC_API_KEY", "KEY-exported"));
    for mode in MODES {
        for (keep, want) in [(false, "tok-compte2"), (true, "KEY-exported")] {
            let mut a = vec!["--mode", mode.name(), "--account", "compte2"];
            if keep {
                a.extend(["--keep-env", "ANTHROPIC_API_KEY"]);
            }
            a.extend(["--", claude(), "-p", "hi", "--output-format", "json"]);
            mock.clear_requests();
            let out = user
                .command(mode.bin(), &a, &env)
                .current_dir(user.path("proj"))
                .output()
                .unwrap();
            assert_eq!(
                code(&out),
                Some(0),
                "{mode:?} keep={keep}: {}{}",
                stdout(&out),
                stderr(&out)
            );
            let sent = mock.messages_requests();
            assert!(!sent.is_empty(), "{mode:?}: no request reached the mock");
            for r in &sent {
                assert_eq!(r.key(), Some(want), "{mode:?} keep={keep}");
            }
        }
        let plan = user.run_env(
            mode.bin(),
            &["--mode", mode.name(), "--account", "compte2", "--dry-run"],
            &env,
        );
        assert!(
            stdout(&plan).contains("env: ANTHROPIC_API_KEY removed: yours would override account compte2's own credentials"),
            "{mode:?}: {}",
            stdout(&plan)
        );
    }
}

/// Attack: the caller's environment carries a credential or identity through
/// one of the variables 2.1.332 reads besides the API key, one family at a
/// time: OAuth and bearer tokens of other services of the client (sessions,
/// bridge, HFI, trusted device), an enterprise gateway's token, tokens handed
/// over on a descriptor or in a file (remote sessions' ingress, the agent
/// proxy), and the background supervisor's session credential. Each would
/// make the session act as someone other than the account chosen.
/// Outcome: in every mode none of them reaches the command, and `--dry-run`
/// names each as removed. Control: `--keep-env NAME` passes it on.
#[test]
fn credential_variables_of_every_family_are_removed() {
    let user = TestUser::acquire();
    user.standard_layout();
    let families: [(&str, &[&str]); 4] = [
        (
            "tokens",
            &[
                "CLAUDE_CODE_SESSIONS_OAUTH_TOKEN",
                "CLAUDE_BRIDGE_OAUTH_TOKEN",
                "CLAUDE_CODE_HFI_BEARER_TOKEN",
                "CLAUDE_TRUSTED_DEVICE_TOKEN",
            ],
        ),
        (
            "gateway",
            &[
                "CLAUDE_CODE_GATEWAY_TOKEN",
                "CLAUDE_CODE_GATEWAY_TOKEN_FILE_DESCRIPTOR",
            ],
        ),
        (
            "handed over",
            &[
                "CLAUDE_CODE_WEBSOCKET_AUTH_FILE_DESCRIPTOR",
                "CLAUDE_SESSION_INGRESS_TOKEN_FILE",
                "CCR_AGENT_PROXY_TOKEN_FILE_DESCRIPTOR",
            ],
        ),
        ("background", &["CLAUDE_BG_SESSION_CREDENTIAL"]),
    ];
    for (family, names) in families {
        let env: Vec<(&str, &str)> = names.iter().map(|n| (*n, "planted-secret")).collect();
        for mode in MODES {
            let out = user.run_env(mode.bin(), &args(mode, "compte1", &["env"]), &env);
            assert_eq!(code(&out), Some(0), "{family} {mode:?}: {}", stderr(&out));
            for name in names {
                assert!(
                    !stdout(&out).contains(&format!("{name}=")),
                    "{family} {mode:?}: {name} reached the session"
                );
            }
            let plan = user.run_env(
                mode.bin(),
                &["--mode", mode.name(), "--account", "compte1", "--dry-run"],
                &env,
            );
            for name in names {
                assert!(
                    stdout(&plan).contains(&format!("env: {name} removed")),
                    "{family} {mode:?}: {}",
                    stdout(&plan)
                );
            }
            // Control: kept on purpose, it is passed on.
            let mut kept = vec!["--keep-env", names[0]];
            kept.extend(args(mode, "compte1", &["env"]));
            let out = user.run_env(mode.bin(), &kept, &env);
            assert!(
                stdout(&out).contains(&format!("{}=planted-secret", names[0])),
                "control {family} {mode:?}: {}",
                stderr(&out)
            );
        }
    }
}
