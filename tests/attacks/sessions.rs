//! Sessions: ids, the lock, the registry, `stop`.

use super::*;

const SESSION: &str = "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";

/// Start time (clock ticks since boot) of `pid`: field 22 of /proc/PID/stat.
fn start_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(19).unwrap().parse().unwrap()
}

/// Writes, as the user could, a registry entry for `pid` under session
/// `SESSION`, claiming the working directory `cwd`.
pub(crate) fn forge_entry(user: &TestUser, pid: u32, cwd: &str) {
    let entry = serde_json::json!({
        "pid": pid, "account": "compte1", "session": SESSION, "cwd": cwd,
        "started": "2026-01-01T00:00:00Z", "mode": "userns",
        "start_ticks": start_ticks(pid),
    });
    user.write(
        &format!("@run/sessions/{:02x}/{pid}.json", pid % 64),
        &entry.to_string(),
    );
}

/// Attack: session ids that name paths: `--session ../../x` (launch, `stop`,
/// `watch`), and `--resume`/`--session-id`/`-r` values with `..` in the
/// command, hoping a lock file lands outside cf-run's state dir.
/// Outcome: the flag is a usage error (exit 2, "is a UUID"); ids in the
/// command that are not UUIDs are ignored: no lock is taken, no file is
/// created anywhere.
#[test]
fn session_ids_cannot_name_a_path() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    let evil = "../../../../../tmp/cf-run-evil";
    for mode in MODES {
        for a in [
            vec![
                "--mode",
                mode.name(),
                "--account",
                "compte1",
                "--session",
                evil,
                "--",
                "true",
            ],
            vec!["stop", "--session", evil],
            vec!["watch", "--session", "../x"],
            vec![
                "--account",
                "compte1",
                "--session",
                &format!("{SESSION}/../../x"),
            ],
        ] {
            let out = user.run(mode.bin(), &a);
            assert_eq!(code(&out), Some(2), "{mode:?} {a:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("a session id is a UUID"),
                "{}",
                stderr(&out)
            );
        }
        let resume = format!("--session-id={evil}");
        let command = ["true", "--resume", evil, "-r", "../x", resume.as_str()];
        let out = launch(&user, mode, "compte1", &command);
        assert_eq!(code(&out), Some(0), "{mode:?}: {}", stderr(&out));
    }
    assert!(!user.path("@run/locks").exists());
    assert!(
        !Path::new("/tmp/cf-run-evil").exists() && !Path::new("/tmp/cf-run-evil.lock").exists()
    );
    outside.assert_same("session ids");
}

/// Attack: while a session runs under compte1, resume the same session under
/// compte2 with a spelling of its id the lock does not know: `-rID`, `-pr
/// ID` (a cluster of short flags), `--resume` with the id in upper case, so
/// that two clients append to one transcript at once.
/// Outcome: refused (75) for every spelling, naming the holder. Control: with
/// the holder gone, each spelling runs (0): only the lock stood in the way.
#[test]
fn every_spelling_of_a_session_id_takes_the_same_lock() {
    let user = TestUser::acquire();
    user.standard_layout();
    let upper = SESSION.to_uppercase();
    let attached = format!("-r{SESSION}");
    let spellings: [&[&str]; 4] = [
        &["true", &attached],
        &["true", "-pr", SESSION],
        &["true", "--resume", &upper],
        &["true", &format!("--resume={upper}")],
    ];
    for mode in MODES {
        // sh ignores the arguments after its script: "--resume ID" is only for cf-run to read.
        let hold = args(
            mode,
            "compte1",
            &["sh", "-c", "sleep 30", "--resume", SESSION],
        );
        let mut holder = user.command(mode.bin(), &hold, &[]).spawn().unwrap();
        wait_until(&format!("{mode:?}: the holder to show in ps"), || {
            stdout(&user.run(mode.bin(), &["ps", "--json"])).contains(SESSION)
        });
        for command in spellings {
            let out = launch(&user, mode, "compte2", command);
            assert_eq!(
                code(&out),
                Some(75),
                "{mode:?} {command:?}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains(&format!("session {SESSION} is already running")),
                "{mode:?}: {}",
                stderr(&out)
            );
        }
        holder.kill().unwrap();
        holder.wait().unwrap();
        for command in spellings {
            let out = launch(&user, mode, "compte2", command);
            assert_eq!(
                code(&out),
                Some(0),
                "{mode:?} {command:?}: {}",
                stderr(&out)
            );
        }
    }
}

/// Attack (state files): plant, under the name of a session's future lock
/// file, a hard link to that session's transcript, so that the next launch
/// of the session truncates it and writes its own line in its place; and a
/// FIFO, so that it blocks.
/// Outcome: refused (125, naming the lock file and how to fix it), the
/// transcript byte for byte as it was. Control: the link shares the
/// transcript's inode: a write through its name changes the transcript.
#[test]
fn a_planted_lock_file_never_truncates_a_transcript() {
    let user = TestUser::acquire();
    user.standard_layout();
    let transcript = user.write(
        &format!(".claude-projects-shared/-p/{SESSION}.jsonl"),
        "{\"type\":\"user\"}\n",
    );
    let before = fs::read(&transcript).unwrap();
    user.mkdir("@run/locks");
    let lock = user.path(&format!("@run/locks/{SESSION}.lock"));
    fs::hard_link(&transcript, &lock).unwrap();
    for mode in MODES {
        let a = args(mode, "compte1", &["true", "--resume", SESSION]);
        let out = user.run(mode.bin(), &a);
        assert_eq!(code(&out), Some(125), "{mode:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("has 2 hard links") && stderr(&out).contains("remove it"),
            "{mode:?}: {}",
            stderr(&out)
        );
        assert_eq!(
            fs::read(&transcript).unwrap(),
            before,
            "{mode:?}: the transcript changed"
        );
    }
    fs::write(&lock, "through the link\n").unwrap();
    assert_eq!(
        fs::read_to_string(&transcript).unwrap(),
        "through the link\n",
        "control"
    );
    fs::write(&transcript, &before).unwrap();
    fs::remove_file(&lock).unwrap();
    nix::unistd::mkfifo(&lock, nix::sys::stat::Mode::S_IRWXU).unwrap();
    lchown(&lock, Some(user.uid), Some(user.gid)).unwrap();
    let out = launch(
        &user,
        Mode::Userns,
        "compte1",
        &["true", "--resume", SESSION],
    );
    assert_eq!(code(&out), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
}

/// Attack (state files): odd things in the registry and the shared dir: a
/// directory under an entry's name, and a transcript that is a FIFO or a
/// sparse 1 GiB file, hoping `ps`, `stop` and `watch` fail, hang, or read
/// the whole file into memory.
/// Outcome: harmless: `ps` lists the live session and warns about the odd
/// entry; `watch` does not take the FIFO for a transcript and ends at once (3);
/// `watch` of the 1 GiB transcript ends (3) under a 256 MiB address-space
/// limit. Control: the entry cannot be read as a file (EISDIR), and the
/// transcript's size really is 1 GiB.
#[test]
fn odd_state_and_transcript_files_never_stop_ps_stop_or_watch() {
    let user = TestUser::acquire();
    user.standard_layout();
    let odd = user.mkdir("@run/sessions/01/4000000001.json");
    assert!(
        fs::read(&odd).is_err(),
        "control: a directory reads as a file"
    );
    let hold = args(
        Mode::Userns,
        "compte1",
        &["sh", "-c", "sleep 30", "--resume", SESSION],
    );
    let mut holder = user
        .command(Mode::Userns.bin(), &hold, &[])
        .spawn()
        .unwrap();
    let ps = wait_for("ps to show the session", || {
        let ps = user.run(&bins().plain, &["ps", "--json"]);
        assert_eq!(code(&ps), Some(0), "{}", stderr(&ps));
        stdout(&ps).contains(SESSION).then_some(ps)
    });
    assert!(
        stderr(&ps).contains("skipping registry entry 4000000001.json"),
        "{}",
        stderr(&ps)
    );
    let stop = user.run(&bins().plain, &["stop", "--session", SESSION]);
    assert_eq!(code(&stop), Some(0), "{}", stderr(&stop));
    holder.wait().unwrap();

    let fifo = user.path(&format!(".claude-projects-shared/-p/{SESSION}.jsonl"));
    user.mkdir(".claude-projects-shared/-p");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    lchown(&fifo, Some(user.uid), Some(user.gid)).unwrap();
    // Not taken for a transcript: `watch` ends at once (timeout's 124 otherwise).
    let bounded = [
        "10",
        bins().plain.to_str().unwrap(),
        "watch",
        "--session",
        SESSION,
    ];
    let watch = user.run(Path::new("/usr/bin/timeout"), &bounded);
    assert_eq!(code(&watch), Some(3), "{}", stderr(&watch));
    fs::remove_file(&fifo).unwrap();

    let big = File::create(&fifo).unwrap();
    big.set_len(1 << 30).unwrap();
    lchown(&fifo, Some(user.uid), Some(user.gid)).unwrap();
    assert_eq!(fs::metadata(&fifo).unwrap().len(), 1 << 30, "control");
    let limited = [
        "--as=268435456",
        bins().plain.to_str().unwrap(),
        "watch",
        "--session",
        SESSION,
    ];
    let watch = user.run(Path::new("/usr/bin/prlimit"), &limited);
    assert_eq!(code(&watch), Some(3), "{}", stderr(&watch));
}

/// Attack (output): a session writes a usage-limit line whose text carries
/// terminal escapes (retitle the window, clear the screen), for `watch` to
/// print on the supervisor's terminal.
/// Outcome: harmless: `watch` prints them escaped (`\u{1b}`), no raw
/// control byte. Control: the text the transcript records holds them.
#[test]
fn escapes_in_a_transcript_never_reach_the_terminal() {
    let user = TestUser::acquire();
    user.standard_layout();
    let evil = "You've hit your limit \\u001b]0;pwned\\u0007\\u001b[2J";
    let line = format!(
        "{{\"type\":\"assistant\",\"isApiErrorMessage\":true,\"error\":\"rate_limit\",\
         \"apiErrorStatus\":429,\"timestamp\":\"2026-01-01T00:00:00Z\",\
         \"message\":{{\"content\":[{{\"type\":\"text\",\"text\":\"{evil}\"}}]}}}}\n"
    );
    let transcript = user.write(
        &format!(".claude-projects-shared/-p/{SESSION}.jsonl"),
        &line,
    );
    let parsed: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let raw = parsed["message"]["content"][0]["text"].as_str().unwrap();
    assert!(
        raw.contains('\u{1b}') && fs::read(&transcript).unwrap().len() > 100,
        "control"
    );
    let out = user.run(&bins().plain, &["watch", "--session", SESSION]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let o = stdout(&out);
    assert!(o.contains("usage limit: account"), "{o}");
    assert!(o.contains("\\u{1b}]0;pwned\\u{7}"), "{o}");
    assert!(
        !o.bytes().any(|b| b == 0x1b || b == 0x07),
        "raw control bytes: {o:?}"
    );
}

/// Attack (other users): read a `cf-run failover` task in another user's
/// process list: argv is world-readable in /proc.
/// Outcome: harmless: the prompt reaches claude on its stdin and is in no
/// argv of the run. Control: another user's argv is readable (root's
/// `sh` with the same text as an argument, read by the test user).
#[test]
fn a_failover_prompt_is_in_no_process_list() {
    let user = TestUser::acquire();
    user.standard_layout();
    let path = user.fake_claude(
        "printf '%s\\n' \"$@\" > ~/argv; cat > ~/stdin; \
         echo '{\"is_error\":false,\"result\":\"done\",\"session_id\":\"s\"}'",
    );
    let secret = "the secret task 7f3a";
    let out = user.run_env(
        &bins().plain,
        &["failover", "--", secret],
        &[("PATH", &path)],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let argv = fs::read_to_string(user.path("argv")).unwrap();
    assert!(
        argv.lines().any(|a| a == "-p") && !argv.contains(secret),
        "{argv}"
    );
    assert_eq!(fs::read_to_string(user.path("stdin")).unwrap(), secret);
    let mut root = Command::new("sh")
        .args(["-c", "sleep 30", secret])
        .spawn()
        .unwrap();
    let proc_cmdline = format!("/proc/{}/cmdline", root.id());
    wait_until("root's sh to show the secret in its cmdline", || {
        fs::read_to_string(&proc_cmdline).unwrap().contains(secret)
    });
    let cmdline = user.run(Path::new("/bin/cat"), &[&proc_cmdline]);
    assert!(
        stdout(&cmdline).contains(secret),
        "control: {}",
        stderr(&cmdline)
    );
    root.kill().unwrap();
    root.wait().unwrap();
}

/// Attack (state files): a FIFO planted as `cf-run init`'s journal (or its
/// lock) in the shared dir, so that init hangs forever reading or opening it.
/// Outcome: refused at once (125, naming the file: "not a file cf-run init
/// made", or ENXIO for a FIFO opened to write), nothing merged. Control: a plain reader of the same FIFO blocks (timeout's 124).
#[test]
fn a_fifo_as_inits_journal_never_hangs_init() {
    let user = TestUser::acquire();
    user.write(".claude-compte1/projects/-p/a.jsonl", "{\"n\":1}\n");
    user.mkdir(".claude-compte2");
    let work = user.mkdir(".claude-projects-shared/.cf-init");
    let home = user.home.display().to_string();
    let init = [
        "10".to_string(),
        bins().plain.display().to_string(),
        "init".into(),
        "--shared".into(),
        format!("{home}/.claude-projects-shared"),
        "--account".into(),
        format!("compte1={home}/.claude-compte1"),
        "--account".into(),
        format!("compte2={home}/.claude-compte2"),
    ];
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    for planted in ["journal", "lock"] {
        let fifo = work.join(planted);
        // The journal's run made a lock file: that one gives way to the FIFO.
        let _ = fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        lchown(&fifo, Some(user.uid), Some(user.gid)).unwrap();
        let out = user.run(Path::new("/usr/bin/timeout"), &init);
        assert_eq!(code(&out), Some(125), "{planted}: {}", stderr(&out));
        // Named, with why: not a file init made, or (a FIFO opened to
        // write, with nobody reading) ENXIO.
        let err = stderr(&out);
        assert!(err.contains(fifo.to_str().unwrap()), "{err}");
        assert!(
            err.contains("not a file cf-run init made")
                || err.contains("No such device or address"),
            "{err}"
        );
        assert!(user.path(".claude-compte1/projects/-p/a.jsonl").exists());
        let control = user.run(
            Path::new("/usr/bin/timeout"),
            &["0.5", "cat", fifo.to_str().unwrap()],
        );
        assert_eq!(code(&control), Some(124), "control: {planted}");
        fs::remove_file(&fifo).unwrap();
    }
}

/// Attack (state files): launch cf-run under a file-size limit of 0
/// (`prlimit --fsize=0`), so that its registry write fails half-way: by
/// default the kernel kills a process that writes past the limit (SIGXFSZ),
/// leaving an empty entry behind.
/// Outcome: refused (125, "write(... ) => EFBIG"), no file left in the
/// registry, and the command of a launch that succeeds gets the caller's
/// SIGXFSZ disposition. Control: `sh` writing under the same limit dies of
/// SIGXFSZ.
#[test]
fn a_file_size_limit_fails_a_launch_cleanly() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in MODES {
        let mut a = vec!["--fsize=0", bin_str(mode)];
        a.extend(args(mode, "compte1", &["true"]));
        let out = user.run(Path::new("/usr/bin/prlimit"), &a);
        assert_eq!(
            code(&out),
            Some(125),
            "{mode:?}: {:?} {}",
            out.status,
            stderr(&out)
        );
        assert!(stderr(&out).contains("EFBIG"), "{mode:?}: {}", stderr(&out));
        let left = Command::new("find")
            .arg(user.path("@run/sessions"))
            .args(["-type", "f"])
            .output()
            .unwrap();
        assert_eq!(stdout(&left), "", "{mode:?}: left behind");
    }
    let ignored = |sig_ign: &str| {
        u64::from_str_radix(sig_ign.trim(), 16).unwrap() & (1 << (libc::SIGXFSZ - 1))
    };
    let out = launch(
        &user,
        Mode::Userns,
        "compte1",
        &sh("grep SigIgn /proc/self/status"),
    );
    let mask = stdout(&out).trim().trim_start_matches("SigIgn:").to_owned();
    assert_eq!(
        ignored(&mask),
        0,
        "the command inherited cf-run's SIGXFSZ: {mask}"
    );
    let control = user.run(
        Path::new("/usr/bin/prlimit"),
        &["--fsize=0", "sh", "-c", "echo x > ~/big"],
    );
    assert_eq!(
        control.status.signal(),
        Some(libc::SIGXFSZ),
        "control: {:?}",
        control.status
    );
}

/// Attack (state files): the same on a full filesystem: the user's state dir
/// on a small tmpfs that a session filled (ENOSPC), so that the registry
/// entry cannot be written.
/// Outcome: refused (125, naming the write and ENOSPC), no empty entry left.
/// Control: the filesystem takes no more bytes (`dd` fails).
#[test]
fn a_full_filesystem_fails_a_launch_cleanly() {
    let user = TestUser::acquire();
    user.standard_layout();
    let state = user.mkdir("@run");
    let fill = format!(
        "mount -t tmpfs -o size=64k,mode=0700,uid={0},gid={1} tmpfs \"$0\" && \
         setpriv --reuid={0} --regid={1} --clear-groups sh -c \
           'mkdir -p \"$0/sessions\" && dd if=/dev/zero of=\"$0/fill\" bs=4k 2>/dev/null; \
            dd if=/dev/zero of=\"$0/more\" bs=1k count=1 2>/dev/null && echo control-wrote; true' \"$0\" && \
         {{ setpriv --reuid={0} --regid={1} --clear-groups --reset-env -- \"$@\"; s=$?; \
           find \"$0/sessions\" -type f | sed 's/^/left: /'; exit $s; }}",
        user.uid, user.gid
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &fill])
        .arg(&state)
        .arg(bin_str(Mode::Symlink))
        .args(args(Mode::Symlink, "compte1", &["true"]))
        .current_dir(&user.home)
        .output()
        .unwrap();
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        !o.contains("control-wrote"),
        "control: the filesystem took more bytes"
    );
    assert_eq!(code(&out), Some(125), "{o}{e}");
    assert!(e.contains("ENOSPC") || e.contains("No space left"), "{e}");
    assert!(
        e.contains("cf-run: hint: the filesystem of the path above is full"),
        "{e}"
    );
    assert!(!o.contains("left: "), "an empty entry was left: {o}");
    // The tmpfs is gone with its namespace; nothing was written to the home.
    assert!(!state.join("sessions").exists());
}

/// Attack: forge a registry entry naming a root process (pid and start time
/// right, so it looks live) and ask `cf-run stop` (plain and privileged
/// copy) to stop that "session".
/// Outcome: harmless: the kernel refuses the signals (no CAP_KILL, even in
/// the privileged copy); root's process lives on.
#[test]
fn a_forged_registry_entry_cannot_make_stop_signal_someone_else() {
    let user = TestUser::acquire();
    user.standard_layout();
    let mut root_sleep = Command::new("sleep").arg("60").spawn().unwrap();
    forge_entry(&user, root_sleep.id(), "/");
    let stops: Vec<Child> = [&bins().plain, &bins().privileged]
        .iter()
        .map(|bin| {
            user.command(
                bin,
                &["stop", "--session", SESSION, "--timeout", "0.1"],
                &[],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
        })
        .collect();
    for mut stop in stops {
        stop.wait().unwrap();
    }
    assert!(
        root_sleep.try_wait().unwrap().is_none(),
        "cf-run stop killed root's process"
    );
    root_sleep.kill().unwrap();
    root_sleep.wait().unwrap();
}

/// Attack (inside, then through cf-run): a compte1 session cannot see
/// compte2's dir, but it can name it: it replaces cf-run's registry dir
/// (`sessions` in cf-run's runtime state dir) with a symlink to it. The
/// user's next `cf-run ps` (outside any session) would remove every `*.json`
/// there that is not a live entry: compte2's `.credentials.json`,
/// `.claude.json` and `settings.json`.
/// Outcome: refused in both namespace modes: the runtime state dir is
/// covered (empty, read-only) in every session, so the plant fails and the
/// next launch and `ps` work. Control: a symlink-mode session plants the
/// link; cf-run resolves its state dir without following symlinks, so
/// compte2's files stay all the same, and the next launch is refused (125)
/// naming the state dir, until the link is removed.
#[test]
fn a_session_cannot_make_cf_run_delete_another_accounts_files() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write(".claude-compte2/.claude.json", "{\"oauthAccount\":{}}\n");
    let run = user.runtime();
    let plant = format!(
        "rm -rf {0}/sessions && ln -s ~/.claude-compte2 {0}/sessions",
        run.display()
    );
    let compte2_intact = |mode: Mode, said: &str| {
        for file in [".credentials.json", ".claude.json"] {
            assert!(
                user.path(".claude-compte2").join(file).exists(),
                "{mode:?}: compte2's {file} deleted: {said}"
            );
        }
    };
    for mode in MODES {
        let out = launch(&user, mode, "compte1", &sh(&plant));
        let next = launch(&user, mode, "compte1", &["true"]);
        let ps = user.run(mode.bin(), &["ps"]);
        compte2_intact(mode, &stderr(&ps));
        if mode != Mode::Symlink {
            assert_ne!(code(&out), Some(0), "{mode:?}: planted: {}", stderr(&out));
            assert!(!run.join("sessions").is_symlink(), "{mode:?}: planted");
            assert_eq!(code(&next), Some(0), "{mode:?}: {}", stderr(&next));
            assert_eq!(code(&ps), Some(0), "{mode:?}: {}", stderr(&ps));
            continue;
        }
        // Control: the link is there, and only the descriptors save compte2.
        assert_eq!(code(&out), Some(0), "control: {}", stderr(&out));
        assert!(run.join("sessions").is_symlink(), "control: not planted");
        for out in [&next, &ps] {
            assert_eq!(code(out), Some(125), "control: {}", stderr(out));
            assert!(
                stderr(out)
                    .contains("cf-run keeps its locks and registry only in real directories"),
                "control: {}",
                stderr(out)
            );
        }
        fs::remove_file(run.join("sessions")).unwrap();
        assert_eq!(code(&launch(&user, mode, "compte1", &["true"])), Some(0));
    }
}

/// Attack (inside, cf-run's own state): a compte1 session goes after what
/// keeps a live compte2 session apart, in cf-run's state dirs: it forges
/// that session's client file (`clients/<pid>/2.json`, which its parent
/// follows to another session id), removes its lock file (the record lock
/// lives on the inode: the next launch of the id would run beside it), and
/// moves the runtime state dir and the dir of cool-downs away (the next
/// launch would make fresh, unprotected ones).
/// Outcome: refused in both namespace modes: both dirs are covered (empty,
/// read-only, and mount points, so they cannot be renamed) in every
/// session: nothing changes, the held session stays held (75), and `ps`
/// shows it on its own id. Control: from a symlink-mode session each step
/// succeeds, and a second launch of the held session runs beside it.
#[test]
fn a_session_cannot_reach_cf_runs_state() {
    const OTHER: &str = "00000000-0000-4000-8000-000000000000";
    let user = TestUser::acquire();
    user.standard_layout();
    // The client's per-process files dir: each launch binds its own there.
    user.mkdir(".claude-compte2/sessions");
    let run = user.runtime();
    let keep = user.path(".local/state/cf-run");
    let attack = format!(
        "R={run}; K={keep}; \
         printf '{{\"sessionId\":\"{OTHER}\"}}' > $R/clients/$1/2.json && echo forged-client; \
         rm $R/locks/{SESSION}.lock && echo removed-lock; \
         mv $K $K.moved && echo moved-keep; \
         mv $R $R.moved && echo moved-state",
        run = run.display(),
        keep = keep.display()
    );
    let markers = ["forged-client", "removed-lock", "moved-keep", "moved-state"];
    let held = |victim_mode: Mode| {
        let again = launch(
            &user,
            victim_mode,
            "compte2",
            &["true", "--resume", SESSION],
        );
        code(&again)
    };
    for victim_mode in NAMESPACED {
        let victim_args = [
            "--mode",
            victim_mode.name(),
            "--account",
            "compte2",
            "--session",
            SESSION,
            "--",
            "sleep",
            "60",
        ];
        let mut victim = user
            .command(victim_mode.bin(), &victim_args, &[])
            .spawn()
            .unwrap();
        let pid = victim.id();
        wait_until("the victim's client dir", || {
            run.join(format!("clients/{pid}")).is_dir()
                && run
                    .join(format!("sessions/{:02x}/{pid}.json", pid % 64))
                    .exists()
        });
        for mode in MODES {
            let out = launch(
                &user,
                mode,
                "compte1",
                &[&["sh", "-c", &attack, "sh"][..], &[&pid.to_string()]].concat(),
            );
            let said = stdout(&out);
            if mode == Mode::Symlink {
                for marker in markers {
                    assert!(
                        said.contains(marker),
                        "control {victim_mode:?}: no {marker}: {said}{}",
                        stderr(&out)
                    );
                }
                assert_eq!(
                    held(victim_mode),
                    Some(0),
                    "control: the held session did not run twice"
                );
                continue;
            }
            for marker in markers {
                assert!(
                    !said.contains(marker),
                    "{mode:?} against {victim_mode:?}: {marker}"
                );
            }
            assert!(run.join(format!("locks/{SESSION}.lock")).exists());
            assert!(keep.is_dir() && run.is_dir());
            assert!(!run.join(format!("clients/{pid}/2.json")).exists());
            assert_eq!(
                held(victim_mode),
                Some(75),
                "{mode:?} against {victim_mode:?}"
            );
            let ps = user.run(mode.bin(), &["ps", "--json"]);
            let entries: serde_json::Value = serde_json::from_str(&stdout(&ps)).unwrap();
            let entry = entries
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["pid"].as_u64() == Some(u64::from(pid)))
                .cloned();
            assert_eq!(
                entry.as_ref().map(|e| e["session"].clone()),
                Some(serde_json::Value::from(SESSION)),
                "{mode:?}: {entries}"
            );
        }
        victim.kill().unwrap();
        victim.wait().unwrap();
        // What the control moved goes back, as it was.
        let _ = fs::remove_dir_all(&run);
        fs::rename(run.with_extension("moved"), &run).unwrap();
        fs::remove_dir_all(&keep).unwrap();
        fs::rename(keep.with_extension("moved"), &keep).unwrap();
    }
}

/// Attack (inside, then through cf-run): a session leaves a transcript of
/// 4 GiB (sparse: it costs the attacker no disk) whose last line records a
/// usage limit, and ends without a result; `cf-run failover` then reads the
/// transcript to learn why the attempt ended. Read whole, it would cost
/// cf-run 4 GiB of memory.
/// Outcome: harmless: under a 512 MiB address-space limit, `failover` reads
/// the limit from the transcript's end under each account and ends as it
/// does when every account is limited (75, naming both). Control: reading
/// the file whole under the same limit fails.
#[test]
fn a_huge_transcript_costs_failover_no_memory() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("proj");
    let limit = r#"{"type":"assistant","isApiErrorMessage":true,"error":"rate_limit","timestamp":"2099-01-01T00:00:00Z","message":{"content":[{"text":"You've hit your session limit · resets 3pm (UTC)"}]}}"#;
    let stand_in = String::from(
        "while [ $# -gt 0 ]; do case $1 in --session-id|--resume) id=$2;; esac; shift; done\n\
         d=~/.claude/projects/$(pwd | sed 's/[^A-Za-z0-9]/-/g'); mkdir -p $d; f=$d/$id.jsonl\n\
         truncate -s 4G $f && cat ~/limit.jsonl >> $f\nexit 1",
    );
    user.write("limit.jsonl", &format!("\n{limit}\n"));
    let path = user.fake_claude(&stand_in);
    let out = user
        .command(
            Path::new("/usr/bin/prlimit"),
            &[
                "--as=536870912",
                bins().plain.to_str().unwrap(),
                "failover",
                "--",
                "task",
            ],
            &[("PATH", &path)],
        )
        .current_dir(user.path("proj"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(75), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("account compte1 hit its usage limit")
            && stderr(&out).contains("every account is at its usage limit"),
        "{}",
        stderr(&out)
    );
    let transcript = fs::read_dir(user.path(".claude-projects-shared"))
        .unwrap()
        .flatten()
        .filter(|slug| slug.path().is_dir())
        .flat_map(|slug| fs::read_dir(slug.path()).unwrap().flatten())
        .map(|f| f.path())
        .find(|f| f.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    assert!(fs::metadata(&transcript).unwrap().len() > 4 << 30);
    // Control: the same file read whole does not fit.
    let whole = user.run(
        Path::new("/usr/bin/prlimit"),
        &[
            "--as=536870912",
            "python3",
            "-c",
            "import sys; open(sys.argv[1], 'rb').read()",
            transcript.to_str().unwrap(),
        ],
    );
    assert!(
        stderr(&whole).contains("MemoryError"),
        "control: {}",
        stderr(&whole)
    );
    fs::remove_file(transcript).unwrap();
}

/// Attack (inside, cf-run's own state): a compte1 session writes the usage
/// record that cf-run's statusline tap keeps in the session's client dir
/// (`~/.claude/sessions/cf-run.usage`): a FIFO, a symlink to a file it
/// cannot write, 3 MB, a window that resets in 30 days, and a claim that
/// names compte2; each but the last is left for at least two of the
/// parent's reads (the last is read as the session ends).
/// Outcome: harmless: nothing hangs, and only what can be believed is filed,
/// under the account the launch runs as: `cf-run accounts` shows compte1 at
/// the claimed 100% of its five-hour window, its seven-day window unknown,
/// and compte2 unknown. Control: the same claim is what compte1 shows (the
/// channel works).
#[test]
fn a_sessions_usage_claim_is_its_own_accounts_alone() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir(".claude-compte1/sessions");
    let now = jiff::Timestamp::now().as_second();
    let claim = serde_json::json!({
        "five_hour": {"used_percentage": 100, "resets_at": now + 3600},
        "seven_day": {"used_percentage": 100, "resets_at": now + 30 * 86400},
        "account": "compte2",
        "compte2": {"five_hour": {"used_percentage": 100, "resets_at": now + 3600}},
    });
    let file = "~/.claude/sessions/cf-run.usage";
    let script = format!(
        "mkfifo {file}; sleep 1.2; rm {file}; \
         ln -s /etc/passwd {file}; sleep 1.2; rm {file}; \
         head -c 3000000 /dev/zero > {file}; sleep 1.2; \
         printf '%s' '{claim}' > {file}; echo wrote"
    );
    for mode in NAMESPACED {
        // Each mode files its own: what the last left is gone.
        for dir in [
            format!("/run/user/{}/cf-run", user.uid),
            format!("/tmp/cf-run-{}", user.uid),
        ] {
            let _ = fs::remove_file(Path::new(&dir).join("usage.json"));
        }
        let out = launch(&user, mode, "compte1", &sh(&script));
        assert_eq!(code(&out), Some(0), "{mode:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "wrote\n", "{mode:?}: {}", stderr(&out));
        let shown = user.run(&bins().plain, &["accounts", "--json"]);
        assert_eq!(code(&shown), Some(0), "{}", stderr(&shown));
        let rows: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
        assert_eq!(rows[0]["name"], "compte1");
        assert_eq!(rows[0]["five_hour"]["used_percentage"], 100.0, "{rows}");
        assert_eq!(rows[0]["seven_day"], serde_json::Value::Null, "{rows}");
        assert_eq!(rows[1]["five_hour"], serde_json::Value::Null, "{rows}");
        assert_eq!(rows[1]["seven_day"], serde_json::Value::Null, "{rows}");
    }
}

/// Attack (shared per-user limits): a session takes every inotify instance
/// the user may have (`fs.inotify.max_user_instances`, counted for the uid
/// in every user namespace), so that `watch` and `--failover`, which wake
/// on inotify, are blind, then records a usage limit.
/// Outcome: harmless: `watch` falls back to looking every 50 ms and reports
/// the limit. Control: outside the session, `inotify_init1` fails for the
/// user (EMFILE) while the session holds them.
#[test]
fn a_session_that_takes_every_inotify_instance_does_not_blind_watch() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write(
        &format!(".claude-projects-shared/-p/{SESSION}.jsonl"),
        "{\"type\":\"user\"}\n",
    );
    let probe = tools().probe.to_str().unwrap();
    let limit = r#"{"type":"assistant","isApiErrorMessage":true,"error":"rate_limit","apiErrorStatus":429,"timestamp":"%s","message":{"content":[{"type":"text","text":"session limit reached"}]}}\n"#;
    let script = format!(
        "{probe} inotify-hog ~/hogged &\n\
         while [ ! -e ~/go ]; do sleep 0.05; done\n\
         printf '{limit}' \"$(date -u +%Y-%m-%dT%H:%M:%S.999Z)\" >> ~/.claude/projects/-p/{SESSION}.jsonl\n\
         sleep 30"
    );
    let hold = args(
        Mode::Userns,
        "compte1",
        &["sh", "-c", &script, "--resume", SESSION],
    );
    let mut holder = user
        .command(Mode::Userns.bin(), &hold, &[])
        .spawn()
        .unwrap();
    let hogged = wait_for("the session to take every instance", || {
        fs::read_to_string(user.path("hogged")).ok()
    });
    assert!(hogged.trim_end().ends_with(" EMFILE"), "{hogged}");
    let control = user.run(&tools().probe, &["inotify"]);
    assert_eq!(
        stdout(&control),
        "inotify_init1 -: EMFILE\n",
        "control: the user still has an inotify instance"
    );
    let watch = user
        .command(
            Path::new("/usr/bin/timeout"),
            &[
                "20",
                bins().plain.to_str().unwrap(),
                "watch",
                "--session",
                SESSION,
            ],
            &[],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    user.write("go", "");
    let watched = watch.wait_with_output().unwrap();
    assert_eq!(code(&watched), Some(0), "{}", stderr(&watched));
    assert!(
        stdout(&watched).contains(&format!("usage limit: account compte1, session {SESSION}")),
        "{}",
        stdout(&watched)
    );
    let stop = user.run(&bins().plain, &["stop", "--session", SESSION]);
    assert_eq!(code(&stop), Some(0), "{}", stderr(&stop));
    holder.wait().unwrap();
}
