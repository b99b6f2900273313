//! The launcher, run as a built binary by an unprivileged user, in real
//! namespaces, in every mode.

mod support;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Output, Stdio};

use support::layout::{STANDARD_CONFIG, TestUser, bins, host_mounts, stderr, stdout};
use support::modes::{MODES, Mode, NAMESPACED, args, launch, sh};
use support::procs::{Proc, descendant, descendant_where};
use support::wait::{wait_for, wait_until};

/// Asserts a refusal: exit 125, a message containing each of `want`, and the
/// user's home exactly as before.
fn assert_refused(user: &TestUser, mode: Mode, args: &[&str], want: &[&str]) {
    let before = user.snapshot();
    let out = user.run(mode.bin(), args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{mode:?} {args:?}: {err}");
    assert!(err.starts_with("cf-run: "), "{err}");
    for w in want {
        assert!(err.contains(w), "{mode:?} {args:?}: want {w:?} in {err}");
    }
    assert_eq!(
        user.snapshot(),
        before,
        "{mode:?} {args:?} changed the disk"
    );
}

fn refused(user: &TestUser, mode: Mode, want: &[&str]) {
    assert_refused(
        user,
        mode,
        &["--mode", mode.name(), "--account", "compte1", "--", "true"],
        want,
    );
}

#[test]
fn each_mode_shows_the_account_and_the_shared_projects() {
    let user = TestUser::acquire();
    user.standard_layout();
    let script = "cat \"$CLAUDE_CONFIG_DIR/who\" \"$CLAUDE_CONFIG_DIR/projects/marker\"; \
                  echo \"dir=$CLAUDE_CONFIG_DIR\"; cat ~/.claude/who ~/.claude/projects/marker; \
                  cat ~/.claude-compte2/.credentials.json";
    for mode in MODES {
        let out = launch(&user, mode, "compte1", &sh(script));
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(o.starts_with("compte1\nshared\n"), "{mode:?}: {o}{e}");
        if mode == Mode::Symlink {
            // No namespace: Claude finds the account through CLAUDE_CONFIG_DIR only.
            assert!(
                o.contains(&format!("dir={}\n", user.path(".claude-compte1").display())),
                "{o}"
            );
            assert!(e.contains(".claude/who: No such file"), "{e}");
        } else {
            assert!(
                o.contains(&format!("dir={}\n", user.path(".claude").display())),
                "{o}"
            );
            assert!(o.ends_with("compte1\nshared\n"), "{mode:?}: {o}");
            assert!(
                e.contains(".claude-compte2/.credentials.json: No such file"),
                "{mode:?}: {e}"
            );
            assert!(
                !o.contains("secret"),
                "{mode:?} read compte2's credentials: {o}"
            );
        }
    }
}

#[test]
fn the_second_account_sees_its_own_dir_and_the_same_transcripts() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in MODES {
        let out = launch(
            &user,
            mode,
            "compte2",
            &sh("cat \"$CLAUDE_CONFIG_DIR/who\"; ls \"$CLAUDE_CONFIG_DIR/projects/\""),
        );
        assert_eq!(
            stdout(&out),
            "compte2\nmarker\n",
            "{mode:?}: {}",
            stderr(&out)
        );
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn a_namespace_session_leaves_the_host_as_it_was() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in NAMESPACED {
        let mounts = host_mounts();
        let out = launch(
            &user,
            mode,
            "compte1",
            &sh("echo new > ~/.claude/projects/t.jsonl; touch ~/.claude/state"),
        );
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        assert_eq!(
            host_mounts(),
            mounts,
            "{mode:?}: a mount leaked to the host"
        );
        // Writes went through the binds into the real dirs; the mount points stay empty.
        assert_eq!(
            std::fs::read_to_string(user.path(".claude-projects-shared/t.jsonl")).unwrap(),
            "new\n"
        );
        assert!(user.path(".claude-compte1/state").exists());
        assert_eq!(std::fs::read_dir(user.path(".claude")).unwrap().count(), 0);
        assert_eq!(
            std::fs::read_dir(user.path(".claude-compte1/projects"))
                .unwrap()
                .count(),
            0
        );
        std::fs::remove_file(user.path(".claude-projects-shared/t.jsonl")).unwrap();
    }
}

#[test]
fn two_sessions_under_two_accounts_run_at_once() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("sync");
    // Each session reports its view, then waits until both have reported.
    let script = |n: &str| {
        format!(
            "cat \"$CLAUDE_CONFIG_DIR/who\" > ~/sync/{n}; \
             i=0; while [ ! -e ~/sync/go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
             [ -e ~/sync/go ] && cat \"$CLAUDE_CONFIG_DIR/who\""
        )
    };
    for mode in MODES {
        let (s1, s2) = (script("one"), script("two"));
        let spawn = |account, s: &str| {
            let args = [
                "--mode",
                mode.name(),
                "--account",
                account,
                "--",
                "sh",
                "-c",
                s,
            ];
            user.command(mode.bin(), &args, &[])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("compte1", &s1), spawn("compte2", &s2));
        let reported = || user.path("sync/one").exists() && user.path("sync/two").exists();
        wait_until(
            &format!("{mode:?}: both sessions to report (~/sync/one, ~/sync/two)"),
            reported,
        );
        user.write("sync/go", "");
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert_eq!(stdout(&a), "compte1\n", "{mode:?}: {}", stderr(&a));
        assert_eq!(stdout(&b), "compte2\n", "{mode:?}: {}", stderr(&b));
        for f in ["sync/one", "sync/two", "sync/go"] {
            std::fs::remove_file(user.path(f)).unwrap();
        }
    }
}

#[test]
fn simultaneous_first_launches_all_succeed() {
    let user = TestUser::acquire();
    for mode in MODES {
        // Ten rounds on a fresh layout: every launch races to make ~/.claude,
        // the account's projects entry and the state dirs.
        for _ in 0..10 {
            for dir in [".claude", ".claude-compte1", ".claude-compte2", ".local"] {
                let _ = std::fs::remove_dir_all(user.path(dir));
            }
            user.standard_layout();
            let spawn = |account| {
                let args = ["--mode", mode.name(), "--account", account, "--", "true"];
                user.command(mode.bin(), &args, &[])
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            };
            let runs: Vec<_> = ["compte1", "compte2", "compte1", "compte2"]
                .into_iter()
                .map(spawn)
                .collect();
            for run in runs {
                let out = run.wait_with_output().unwrap();
                assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
            }
        }
    }
}

#[test]
fn the_exit_status_is_the_commands_own() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write("not-executable", "echo hi\n");
    for mode in MODES {
        assert_eq!(
            launch(&user, mode, "compte1", &sh("exit 42")).status.code(),
            Some(42),
            "{mode:?}"
        );
        let killed = launch(&user, mode, "compte1", &sh("kill -TERM $$"));
        assert_eq!(killed.status.signal(), Some(15), "{mode:?}: {killed:?}");
        let missing = launch(&user, mode, "compte1", &["no-such-command-xyz"]);
        assert_eq!(missing.status.code(), Some(127), "{mode:?}");
        // Exactly that line: the exec fails inside the new session, which
        // is no session cf-run was run inside.
        assert_eq!(
            stderr(&missing).lines().collect::<Vec<_>>(),
            [
                "cf-run: no-such-command-xyz: command not found (execvp => ENOENT); check the name and $PATH"
            ],
            "{mode:?}"
        );
        let path = user.path("not-executable");
        let denied = launch(&user, mode, "compte1", &[path.to_str().unwrap()]);
        assert_eq!(denied.status.code(), Some(126), "{mode:?}");
        assert!(
            stderr(&denied).contains("cannot execute") && !stderr(&denied).contains("inside"),
            "{}",
            stderr(&denied)
        );
    }
}

/// Whether `proc` is running (not stopped) and blocked in read(2) on
/// descriptor 0.
fn reading_stdin(proc: Proc) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", proc.pid)).unwrap_or_default();
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    let syscall =
        std::fs::read_to_string(format!("/proc/{}/syscall", proc.pid)).unwrap_or_default();
    let mut fields = syscall.split_whitespace();
    let nr = fields.next().and_then(|n| n.parse::<libc::c_long>().ok());
    proc.alive() && state == Some('S') && nr == Some(libc::SYS_read) && fields.next() == Some("0x0")
}

#[test]
fn cf_run_stays_as_the_parent_relays_signals_and_dies_with_the_session() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in NAMESPACED {
        // SIGTERM and SIGUSR1 sent to cf-run's pid reach the command.
        let script = "trap 'echo usr1; touch ~/usr1' USR1; trap 'echo term; exit 9' TERM; \
                      touch ~/ready; while :; do sleep 0.05; done";
        let _ = std::fs::remove_file(user.path("ready"));
        let _ = std::fs::remove_file(user.path("usr1"));
        let child = user
            .command(mode.bin(), &args(mode, "compte1", &sh(script)), &[])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        wait_until("the trap", || user.path("ready").exists());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
        wait_until("SIGUSR1 to arrive", || user.path("usr1").exists());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(stdout(&out), "usr1\nterm\n", "{mode:?}");
        assert_eq!(out.status.code(), Some(9), "{mode:?}");

        // SIGKILL of cf-run ends the whole session, orphans included.
        let script = "sleep 39 & sleep 40";
        let mut child = user
            .command(mode.bin(), &args(mode, "compte1", &sh(script)), &[])
            .spawn()
            .unwrap();
        let session = wait_for("the session", || {
            Some([
                descendant(child.id(), "sleep 39")?,
                descendant(child.id(), "sleep 40")?,
            ])
        });
        child.kill().unwrap();
        child.wait().unwrap();
        wait_until("the session to end with cf-run", || {
            session.iter().all(|p| !p.alive())
        });
    }
}

/// An interactive shell in a real terminal (tmux) runs a command through
/// cf-run: the command has the terminal (its size, resize), Ctrl-Z stops the
/// job and `fg` resumes it with its input, Ctrl-C ends it as it ends any
/// command.
#[test]
fn an_interactive_command_keeps_the_terminal_and_job_control() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in NAMESPACED {
        let socket = format!("cf-run-test-{}", user.uid);
        let tmux = |args: &[&str]| {
            let mut all = vec!["-L", socket.as_str()];
            all.extend(args);
            user.run(Path::new("/usr/bin/tmux"), &all)
        };
        let screen = || stdout(&tmux(&["capture-pane", "-p", "-t", "t"]));
        let _ = tmux(&["kill-server"]);
        let started = tmux(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "100",
            "-y",
            "30",
            "bash --norc -i",
        ]);
        assert_eq!(started.status.code(), Some(0), "{}", stderr(&started));
        // The pane's shell: what it starts is found among its descendants.
        let pane = tmux(&["display-message", "-p", "-t", "t", "#{pane_pid}"]);
        let pane: u32 = stdout(&pane).trim().parse().unwrap();
        let keys = |keys: &[&str]| {
            let mut all = vec!["send-keys", "-t", "t"];
            all.extend(keys);
            assert_eq!(tmux(&all).status.code(), Some(0));
        };
        // A trapped signal interrupts sh's `read`: it reads again.
        let launch = format!(
            "{} --mode {} --account compte1 -- sh -c 'trap \"stty size\" WINCH; stty size; until read line; do :; done; echo got:$line'",
            mode.bin().display(),
            mode.name()
        );
        keys(&[&launch, "Enter"]);
        wait_until("the terminal size", || screen().contains("\n30 100"));
        let resized = tmux(&["resize-window", "-t", "t", "-x", "90", "-y", "20"]);
        assert_eq!(resized.status.code(), Some(0), "{}", stderr(&resized));
        wait_until("the resize", || screen().contains("\n20 90"));
        keys(&["C-z"]);
        wait_until("the job to stop", || screen().contains("Stopped"));
        keys(&["fg", "Enter"]);
        // Typed only once the job runs again and waits in read(0): input
        // typed while job control hands the terminal over may be lost.
        wait_until("the job to read its terminal again after fg", || {
            descendant_where(pane, |c| c.starts_with("sh -c trap")).is_some_and(reading_stdin)
        });
        keys(&["hello", "Enter"]);
        wait_until("the input after fg", || screen().contains("got:hello"));
        keys(&[
            &format!(
                "{} --mode {} --account compte1 -- sleep 41",
                mode.bin().display(),
                mode.name()
            ),
            "Enter",
        ]);
        let sleep = wait_for("sleep", || descendant(pane, "sleep 41"));
        keys(&["C-c"]);
        keys(&["echo status=$?", "Enter"]);
        wait_until("Ctrl-C to end it", || screen().contains("status=130"));
        assert!(!sleep.alive(), "{mode:?}");
        let _ = tmux(&["kill-server"]);
    }
}

#[test]
fn without_a_command_it_runs_claude() {
    let user = TestUser::acquire();
    user.standard_layout();
    // A `claude` on PATH that reports where it runs.
    user.write(
        "bin/claude",
        "#!/bin/sh\necho \"claude as $(cat $CLAUDE_CONFIG_DIR/who) $*\"\n",
    );
    std::fs::set_permissions(
        user.path("bin/claude"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:/usr/bin:/bin", user.path("bin").display());
    for mode in MODES {
        let out = user.run_env(
            mode.bin(),
            &["--mode", mode.name(), "--account", "compte2"],
            &[("PATH", &path)],
        );
        // A namespace launch adds cf-run's statusline tap and hooks.
        let tap = format!(
            "--settings {{\"hooks\":{{\"Stop\":[{{\"hooks\":[{{\"command\":\"'{}' tap turn-ended\"",
            mode.bin().display()
        );
        let expected = match mode {
            Mode::Symlink => "claude as compte2 \n".to_owned(),
            _ => format!("claude as compte2 {tap}"),
        };
        assert!(
            stdout(&out).starts_with(&expected),
            "{mode:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let user = TestUser::acquire();
    user.standard_layout();
    let before = user.snapshot();
    let home = user.home.display().to_string();
    for mode in MODES {
        let args = [
            "--mode",
            mode.name(),
            "--account",
            "compte1",
            "--dry-run",
            "--",
            "claude",
            "--resume",
            "x",
        ];
        let out = user.run(mode.bin(), &args);
        let o = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        assert!(
            o.contains(&format!("mode: {} (asked for", mode.name())),
            "{o}"
        );
        let exec = match mode {
            Mode::Symlink => "exec: \"claude\" \"--resume\" \"x\"",
            _ => "tap statusline\\\",\\\"type\\\":\\\"command\\\"}}\" \"--resume\" \"x\" (pid 2",
        };
        assert!(
            o.contains("exec: \"claude\" \"--settings\" ") || mode == Mode::Symlink,
            "{o}"
        );
        assert!(o.contains(exec), "{o}");
        if mode == Mode::Symlink {
            assert!(o.contains(&format!("change: symlink {home}/.claude-compte1/projects -> {home}/.claude-projects-shared")), "{o}");
            assert!(
                o.contains(&format!("env: CLAUDE_CONFIG_DIR={home}/.claude-compte1\n")),
                "{o}"
            );
        } else {
            assert!(
                o.contains(&format!(
                    "mount: bind {home}/.claude-compte1 over {home}/.claude "
                )),
                "{o}"
            );
            assert!(o.contains(&format!("mount: bind {home}/.claude-projects-shared over {home}/.claude-compte1/projects ")), "{o}");
            assert!(
                o.contains(&format!(
                    "mount: cover {home}/.claude-compte2 with an empty read-only tmpfs"
                )),
                "{o}"
            );
            assert!(
                o.contains(&format!("env: CLAUDE_CONFIG_DIR={home}/.claude\n")),
                "{o}"
            );
        }
        assert_eq!(
            user.snapshot(),
            before,
            "{mode:?}: --dry-run changed the disk"
        );
    }
}

#[test]
fn auto_picks_privileged_with_the_capability_and_userns_without() {
    let user = TestUser::acquire();
    user.standard_layout();
    let dry = ["--account", "compte1", "--dry-run"];
    let plain = stdout(&user.run(&bins().plain, &dry));
    assert!(
        plain.contains(
            "mode: userns (auto: no cap_sys_admin on this binary, and unprivileged user namespaces are allowed)"
        ),
        "{plain}"
    );
    let privileged = stdout(&user.run(&bins().privileged, &dry));
    assert!(
        privileged.contains("mode: privileged (auto: this binary holds cap_sys_admin"),
        "{privileged}"
    );
    // The config's mode applies when --mode is not given.
    user.config(&format!("mode = \"symlink\"\n{STANDARD_CONFIG}"));
    let configured = stdout(&user.run(&bins().plain, &dry));
    assert!(
        configured.contains("mode: symlink (asked for"),
        "{configured}"
    );
}

#[test]
fn the_command_holds_no_capability_and_cannot_gain_one() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in MODES {
        let out = launch(
            &user,
            mode,
            "compte1",
            &sh("grep -E '^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs)' /proc/self/status; id -u"),
        );
        let o = stdout(&out);
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            assert!(
                o.contains(&format!("{set}:\t0000000000000000\n")),
                "{mode:?}: {o}"
            );
        }
        assert!(o.contains("NoNewPrivs:\t1\n"), "{mode:?}: {o}");
        assert!(o.ends_with(&format!("{}\n", user.uid)), "{mode:?}: {o}");
    }
}

#[test]
fn the_command_inherits_the_callers_signal_dispositions() {
    let user = TestUser::acquire();
    user.standard_layout();
    // The ignored-signal mask of `grep`, run through cf-run in `mode` or,
    // with `None`, directly by the same caller.
    let ignored = |mode: Option<Mode>, ignore_sigpipe: bool| {
        let grep = ["grep", "^SigIgn", "/proc/self/status"];
        let mut cmd = match mode {
            Some(mode) => user.command(
                mode.bin(),
                &support::modes::args(mode, "compte1", &grep),
                &[],
            ),
            None => user.command(Path::new(grep[0]), &grep[1..], &[]),
        };
        if ignore_sigpipe {
            // SAFETY: signal() is async-signal-safe, as pre_exec requires.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        let mask = stdout(&out)
            .trim()
            .trim_start_matches("SigIgn:")
            .trim()
            .to_owned();
        u64::from_str_radix(&mask, 16).unwrap()
    };
    let sigpipe = 1u64 << (libc::SIGPIPE - 1);
    let (plain, with_sigpipe) = (ignored(None, false), ignored(None, true));
    assert_eq!(plain & sigpipe, 0);
    assert_eq!(with_sigpipe & sigpipe, sigpipe);
    for mode in MODES {
        // A shell pipeline under cf-run ends on SIGPIPE as it does outside.
        assert_eq!(ignored(Some(mode), false), plain, "{mode:?}");
        // What the caller ignores stays ignored, as under env(1).
        assert_eq!(ignored(Some(mode), true), with_sigpipe, "{mode:?}");
    }
}

#[test]
fn binds_are_nosuid_and_nodev_and_covers_read_only() {
    let user = TestUser::acquire();
    user.standard_layout();
    let home = user.home.display().to_string();
    for mode in NAMESPACED {
        let o = stdout(&launch(
            &user,
            mode,
            "compte1",
            &["cat", "/proc/self/mountinfo"],
        ));
        let opts = |target: &str| {
            o.lines()
                .find(|l| l.split(' ').nth(4) == Some(target))
                .unwrap_or_else(|| panic!("{mode:?}: no mount at {target} in\n{o}"))
                .split(' ')
                .nth(5)
                .unwrap()
                .to_owned()
        };
        for target in [
            format!("{home}/.claude"),
            format!("{home}/.claude/projects"),
        ] {
            let o = opts(&target);
            assert!(
                o.contains("nosuid") && o.contains("nodev"),
                "{mode:?} {target}: {o}"
            );
        }
        let cover = opts(&format!("{home}/.claude-compte2"));
        assert!(
            cover.starts_with("ro,") && cover.contains("noexec"),
            "{mode:?}: {cover}"
        );
    }
}

#[test]
fn no_descriptor_of_cf_run_reaches_the_command() {
    let user = TestUser::acquire();
    user.standard_layout();
    let fds = |out: Output| stdout(&out);
    let baseline = fds(user.run(Path::new("/bin/ls"), &["/proc/self/fd"]));
    for mode in MODES {
        let seen = fds(launch(&user, mode, "compte1", &["ls", "/proc/self/fd"]));
        assert_eq!(
            seen, baseline,
            "{mode:?}: descriptors differ from a plain run"
        );
    }
}

#[test]
fn verbose_logs_each_step_and_the_default_is_silent() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in MODES {
        let quiet = launch(&user, mode, "compte1", &["true"]);
        assert_eq!(stderr(&quiet), "", "{mode:?}");
        let args = [
            "-v",
            "--mode",
            mode.name(),
            "--account",
            "compte1",
            "--",
            "true",
        ];
        let loud = stderr(&user.run(mode.bin(), &args));
        assert!(
            loud.contains("DEBUG") && loud.contains("plan:"),
            "{mode:?}: {loud}"
        );
        let logged = user.run_env(mode.bin(), &args[1..], &[("RUST_LOG", "debug")]);
        assert!(stderr(&logged).contains("plan:"), "{mode:?}");
    }
}

#[test]
fn the_command_gets_the_callers_environment_in_every_mode() {
    let user = TestUser::acquire();
    user.standard_layout();
    // glibc drops TMPDIR and LD_LIBRARY_PATH from a capability binary's own
    // environment; the unprivileged command must still get them.
    let env = [
        ("TMPDIR", "/tmp/mine"),
        ("LD_LIBRARY_PATH", "/opt/lib"),
        ("CF_X", "1"),
    ];
    for mode in MODES {
        let args = [
            "--mode",
            mode.name(),
            "--account",
            "compte1",
            "--",
            "sh",
            "-c",
            "echo $TMPDIR $LD_LIBRARY_PATH $CF_X",
        ];
        let out = user.run_env(mode.bin(), &args, &env);
        assert_eq!(
            stdout(&out),
            "/tmp/mine /opt/lib 1\n",
            "{mode:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn home_comes_from_the_password_database_not_the_environment() {
    let user = TestUser::acquire();
    user.standard_layout();
    let out = user.run_env(
        &bins().plain,
        &[
            "--account",
            "compte1",
            "--",
            "sh",
            "-c",
            "cat /proc/self/mountinfo",
        ],
        &[("HOME", "/tmp")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!(" {}/.claude ", user.home.display())));
}

#[test]
fn the_older_symlink_layout_keeps_working() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.symlink(
        ".claude-compte1/projects",
        format!("{}/", user.path(".claude-projects-shared").display()),
    );
    for mode in MODES {
        let out = launch(
            &user,
            mode,
            "compte1",
            &sh("cat \"$CLAUDE_CONFIG_DIR/projects/marker\""),
        );
        assert_eq!(stdout(&out), "shared\n", "{mode:?}: {}", stderr(&out));
    }
    assert!(user.path(".claude-compte1/projects").is_symlink());
}

#[test]
fn symlink_mode_replaces_an_empty_projects_dir_only() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir(".claude-compte1/projects");
    let out = launch(&user, Mode::Symlink, "compte1", &["true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let link = std::fs::read_link(user.path(".claude-compte1/projects")).unwrap();
    assert_eq!(link, user.path(".claude-projects-shared"));
}

// Refusals: exit 125, a message naming the cause, the disk unchanged.

#[test]
fn refuses_an_unknown_account_listing_the_known_ones() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in MODES {
        let args = ["--mode", mode.name(), "--account", "compte9", "--", "true"];
        assert_refused(
            &user,
            mode,
            &args,
            &["unknown account \"compte9\"", "compte1, compte2"],
        );
    }
}

#[test]
fn refuses_bad_or_unsafe_configs() {
    let user = TestUser::acquire();
    user.standard_layout();
    let config = user.path(".config/claude-failover/config.toml");
    let path = config.display().to_string();
    let cases: [(&str, &[&str]); 6] = [
        (
            "shared_projects = \"~/s\"\n[accounts.compte1\n",
            &[path.as_str(), "line 2"],
        ),
        (
            "shared_projects = \"~/.claude-projects-shared\"\ncolour = 1\n[accounts.compte1]\ndir = \"~/.claude-compte1\"\n",
            &[path.as_str(), "line 2, column 1", "colour"],
        ),
        (
            "shared_projects = \"rel/shared\"\n[accounts.compte1]\ndir = \"~/a\"\n",
            &["shared_projects", "relative path"],
        ),
        (
            "shared_projects = \"~/.claude-compte1/shared\"\n[accounts.compte1]\ndir = \"~/.claude-compte1\"\n",
            &["shared_projects", "is inside account \"compte1\"'s dir"],
        ),
        (
            "shared_projects = \"~/s\"\n[accounts.compte1]\ndir = \"~/a\"\n[accounts.compte2]\ndir = \"~/a\"\n",
            &["same directory"],
        ),
        (
            "shared_projects = \"~/s\"\n[accounts.compte1]\ndir = \"~/x/../a\"\n",
            &["accounts.compte1.dir", "'..'"],
        ),
    ];
    for (text, want) in cases {
        user.config(text);
        for mode in MODES {
            refused(&user, mode, want);
        }
    }
}

#[test]
fn refuses_a_config_others_could_have_written() {
    let user = TestUser::acquire();
    user.standard_layout();
    let config = user.path(".config/claude-failover/config.toml");
    let set_mode = |m| {
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
    };
    set_mode(0o620);
    for mode in MODES {
        refused(&user, mode, &["writable by group or others", "chmod go-w"]);
    }
    set_mode(0o644);
    std::os::unix::fs::chown(&config, Some(65534), None).unwrap();
    for mode in MODES {
        refused(&user, mode, &["owned by uid 65534", "not by you"]);
    }
    // Root's config is trusted.
    std::os::unix::fs::chown(&config, Some(0), Some(0)).unwrap();
    set_mode(0o644);
    assert_eq!(
        launch(&user, Mode::Userns, "compte1", &["true"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn refuses_a_symlinked_or_missing_config() {
    let user = TestUser::acquire();
    user.standard_layout();
    std::fs::rename(
        user.path(".config/claude-failover/config.toml"),
        user.path("real.toml"),
    )
    .unwrap();
    for mode in MODES {
        refused(&user, mode, &["config.toml does not exist", "--config"]);
    }
    user.symlink(
        ".config/claude-failover/config.toml",
        user.path("real.toml"),
    );
    for mode in MODES {
        refused(&user, mode, &["symlink"]);
    }
    // The environment may select another file; it is checked the same way.
    let real = user.path("real.toml").display().to_string();
    let out = user.run_env(
        &bins().plain,
        &["--account", "compte1", "--", "true"],
        &[("CF_RUN_CONFIG", &real)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn refuses_missing_symlinked_or_foreign_account_dirs() {
    let user = TestUser::acquire();
    user.standard_layout();
    std::fs::rename(user.path(".claude-compte1"), user.path("real-compte1")).unwrap();
    for mode in MODES {
        refused(
            &user,
            mode,
            &[
                "account \"compte1\"'s dir",
                ".claude-compte1 does not exist",
            ],
        );
    }
    user.symlink(".claude-compte1", user.path("real-compte1"));
    for mode in MODES {
        refused(&user, mode, &[".claude-compte1 is a symlink"]);
    }
    std::fs::remove_file(user.path(".claude-compte1")).unwrap();
    std::fs::rename(user.path("real-compte1"), user.path(".claude-compte1")).unwrap();
    std::os::unix::fs::chown(user.path(".claude-compte1"), Some(0), None).unwrap();
    for mode in MODES {
        refused(
            &user,
            mode,
            &[".claude-compte1 is owned by uid 0", "not by you"],
        );
    }
}

#[test]
fn refuses_a_path_through_a_symlinked_parent() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("real/acc");
    user.symlink("link", user.path("real"));
    user.config("shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"~/link/acc\"\n");
    for mode in MODES {
        refused(&user, mode, &["link is a symlink", "realpath"]);
    }
}

#[test]
fn refuses_a_missing_shared_dir() {
    let user = TestUser::acquire();
    user.standard_layout();
    std::fs::remove_dir_all(user.path(".claude-projects-shared")).unwrap();
    for mode in MODES {
        refused(
            &user,
            mode,
            &["the shared projects dir", "does not exist", "mkdir"],
        );
    }
}

#[test]
fn refuses_to_hide_transcripts_in_the_accounts_projects() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write(".claude-compte1/projects/-home-x/a.jsonl", "{}\n");
    user.write(".claude-compte1/projects/-home-x/b.jsonl", "{}\n");
    user.write(".claude-compte1/projects/-home-x/memory/MEMORY.md", "m\n");
    for mode in MODES {
        refused(
            &user,
            mode,
            &[
                "holds 2 transcripts (3 files)",
                "never hides a transcript",
                "cf-run init",
            ],
        );
    }
}

#[test]
fn refuses_a_projects_symlink_to_anywhere_but_the_shared_dir() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("elsewhere");
    user.symlink(".claude-compte1/projects", user.path("elsewhere"));
    for mode in MODES {
        refused(
            &user,
            mode,
            &["projects is a symlink to", "not to the shared dir"],
        );
    }
}

#[test]
fn refuses_to_mount_over_a_symlinked_or_populated_claude_dir() {
    let user = TestUser::acquire();
    user.standard_layout();
    // The older flip layout: ~/.claude is a symlink to an account.
    user.symlink(".claude", user.path(".claude-compte2"));
    for mode in NAMESPACED {
        refused(
            &user,
            mode,
            &["the mount target", ".claude is a symlink", "mkdir -m 700"],
        );
    }
    std::fs::remove_file(user.path(".claude")).unwrap();
    user.write(".claude/projects/-p/old.jsonl", "{}\n");
    for mode in NAMESPACED {
        refused(
            &user,
            mode,
            &[".claude/projects holds 1 transcript (1 file)"],
        );
    }
}

#[test]
fn refuses_privileged_mode_without_the_capability() {
    let user = TestUser::acquire();
    user.standard_layout();
    let args = ["--mode", "privileged", "--account", "compte1", "--", "true"];
    assert_refused(
        &user,
        Mode::Userns,
        &args,
        &["needs CAP_SYS_ADMIN", "setcap cap_sys_admin+p"],
    );
}

#[test]
fn usage_errors_exit_2() {
    let user = TestUser::acquire();
    user.standard_layout();
    for args in [
        &["--", "true"][..],
        &["--account", "compte1", "--mode", "chroot"],
        &["--account"],
        &["--account", "compte1", "ps"],
    ] {
        let out = user.run(&bins().plain, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    }
    // Global options may come before a subcommand.
    let out = user.run(&bins().plain, &["-v", "ps", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "[]\n");
}

/// cf-run run inside a session (a launch, doctor, accounts, init) says
/// first that it runs inside one, and to run it outside: 125, nothing
/// changed.
#[test]
fn inside_a_session_cf_run_says_so_first() {
    let user = TestUser::acquire();
    user.standard_layout();
    let bin = bins().plain.display().to_string();
    // What any launch makes (the state dir, the mount target) is made now.
    for mode in NAMESPACED {
        launch(&user, mode, "compte1", &["true"]);
    }
    for inner in [
        format!("{bin} --account compte2 -- true"),
        format!("{bin} doctor"),
        format!("{bin} accounts"),
        format!("{bin} init --shared ~/s --account a=~/.claude-compte1"),
    ] {
        for mode in NAMESPACED {
            let before = user.snapshot();
            let script = format!("{inner}; echo status=$?");
            let out = user.run(mode.bin(), &args(mode, "compte1", &["sh", "-c", &script]));
            assert_eq!(
                stdout(&out).lines().last(),
                Some("status=125"),
                "{inner} {mode:?}: {}{}",
                stdout(&out),
                stderr(&out)
            );
            assert!(
                stderr(&out).starts_with("cf-run: this runs inside a cf-run session"),
                "{inner} {mode:?}: {}",
                stderr(&out)
            );
            assert!(stderr(&out).contains("run cf-run from a shell outside any session"));
            assert_eq!(user.snapshot(), before, "{inner} {mode:?}");
        }
    }
}

/// The first day's two commonest slips: a command without its `--` (a usage
/// error, 2, with the hint), and no config yet (125, naming cf-run init).
#[test]
fn a_forgotten_dash_dash_and_a_missing_config_say_what_to_do() {
    let user = TestUser::acquire();
    user.standard_layout();
    let out = user.run(&bins().plain, &["--account", "compte1", "vim", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("hint: the command goes after --: cf-run --account NAME -- vim [ARGS]"),
        "{}",
        stderr(&out)
    );
    // No launch meant: no such hint.
    let out = user.run(
        &bins().plain,
        &["watch", "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("hint"), "{}", stderr(&out));
    let before = user.snapshot();
    let missing = user.path("nowhere.toml");
    let out = user.run(
        &bins().plain,
        &[
            "--config",
            missing.to_str().unwrap(),
            "--account",
            "compte1",
            "--",
            "true",
        ],
    );
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not exist; write it with cf-run init"),
        "{}",
        stderr(&out)
    );
    assert_eq!(user.snapshot(), before);
}

/// A home the password database gives through root's symlink (a host that
/// moved its homes: `/var/tmp/cf-run-links-UID/home -> /home/USER`, the
/// link and its dir root's): a launch works, as sshd would log the user in.
/// Control: with the link's dir writable by others (anyone could swap the
/// link), the launch is refused (125), naming the link.
#[test]
fn a_home_through_roots_symlink_launches() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write(".claude-compte1/who", "compte1\n");
    let dir = std::path::PathBuf::from(format!("/var/tmp/cf-run-links-{}", user.uid));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let link = dir.join("home");
    std::os::unix::fs::symlink(&user.home, &link).unwrap();
    /// The user's home in the password database, put back however the test ends.
    struct Home<'a>(&'a TestUser);
    impl Drop for Home<'_> {
        fn drop(&mut self) {
            let home = self.0.home.to_str().unwrap();
            let back = std::process::Command::new("usermod")
                .args(["-d", home, &self.0.name])
                .status();
            assert!(back.is_ok_and(|s| s.success()), "usermod -d {home}");
        }
    }
    let moved = std::process::Command::new("usermod")
        .args(["-d", link.to_str().unwrap(), &user.name])
        .status()
        .unwrap();
    assert!(moved.success());
    let _home = Home(&user);
    for mode in NAMESPACED {
        let out = launch(
            &user,
            mode,
            "compte1",
            &["cat", &format!("{}/.claude/who", user.home.display())],
        );
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "compte1\n");
    }
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = launch(&user, Mode::Userns, "compte1", &["true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(link.to_str().unwrap()),
        "{}",
        stderr(&out)
    );
    drop(_home);
    std::fs::remove_dir_all(&dir).unwrap();
}
