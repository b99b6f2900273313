//! Races: a path swapped between cf-run's check and its mount.

use super::*;

/// The outcome of one launch under attack: refused (exit 125 with a
/// `cf-run: ` message and no output: which step notices the swap varies), or
/// a success whose output passes `ok`; anything else fails the test.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ran,
    Refused,
}

fn judge(
    what: &str,
    status: ExitStatus,
    out: &str,
    log: &str,
    ok: &impl Fn(&str) -> bool,
) -> Outcome {
    let said = log.lines().any(|l| l.starts_with("cf-run: "));
    match status.code() {
        Some(0) if ok(out) => Outcome::Ran,
        Some(125) if said && out.is_empty() => Outcome::Refused,
        _ => panic!("{what}: {status:?}\nstdout: {out}\nstderr: {log}"),
    }
}

/// Attacks each step of a launch of `command` exactly once: for each log
/// event N of its `-v` launch (the plan, written once the checks have
/// passed, then one per mount or link, written once it is made), holds a
/// launch before event N (`Paused`), exchanges `a` and `b` while it waits,
/// lets it go on, and puts them back. First, the control: the same launch,
/// not attacked, runs and passes `ok`. Returns each step's outcome.
fn attack_each_step(
    user: &TestUser,
    mode: Mode,
    (a, b): (&Path, &Path),
    command: &[&str],
    ok: impl Fn(&str) -> bool,
) -> Vec<Outcome> {
    let mut argv = vec!["-v"];
    argv.extend(args(mode, "compte1", command));
    let control = user.run(mode.bin(), &argv);
    let (out, log) = (stdout(&control), stderr(&control));
    let what = format!("{mode:?} control");
    assert_eq!(judge(&what, control.status, &out, &log, &ok), Outcome::Ran);
    // Symlink mode's first launch replaces an empty `projects` with its
    // link: count the steps of a launch that changes nothing.
    let again = user.run(mode.bin(), &argv);
    assert_eq!(code(&again), Some(0), "{mode:?}: {}", stderr(&again));
    let steps = log_events(&stderr(&again)).len();
    let outside = Outside::now();
    (0..steps)
        .map(|event| {
            let paused = Paused::before_event(user, mode, &argv, event);
            exchange(a, b);
            let (status, out, log) = paused.resume_with_stdout();
            exchange(a, b);
            let what = format!("{mode:?}, swapped before log event {event} of {steps}");
            outside.assert_same(&what);
            judge(&what, status, &out, &log, &ok)
        })
        .collect()
}

/// For the namespace modes: every step's outcome is safe (checked by
/// `attack_each_step`), and a swap before the first mount is noticed.
fn assert_noticed(mode: Mode, outcomes: &[Outcome]) {
    eprintln!("{mode:?}, step by step: {outcomes:?}");
    assert_eq!(
        outcomes.first(),
        Some(&Outcome::Refused),
        "{mode:?}: a swap once the checks had passed went unnoticed: {outcomes:?}"
    );
}

/// Runs `rounds` launches of `command` while a `Flipper` swaps paths at
/// moments chance decides; each must be refused or succeed with an output
/// that passes `ok` (`judge`). Asserts that alone: which outcomes occur,
/// and how often, is left to chance.
fn stress(user: &TestUser, mode: Mode, rounds: usize, command: &[&str], ok: impl Fn(&str) -> bool) {
    for round in 0..rounds {
        let out = launch(user, mode, "compte1", command);
        let (o, e) = (stdout(&out), stderr(&out));
        judge(&format!("{mode:?} round {round}"), out.status, &o, &e, &ok);
    }
}

/// Attack: swap `~/.claude-compte1` with a symlink to /etc (atomic rename
/// exchange) at each step of cf-run's setup in turn: after its checks, and
/// after each mount.
/// Outcome: every launch is refused (125) or mounts the real account dir
/// (the command sees compte1's files at `~/.claude`), never /etc; a swap
/// before the bind is refused; symlink mode never creates `projects` in /etc.
#[test]
fn racing_an_account_dir_swap_never_mounts_etc() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let outside = Outside::now();
    user.symlink(".flip", "/etc");
    let swap = (&*user.path(".claude-compte1"), &*user.path(".flip"));
    let expected = "compte1\n.credentials.json\nprojects\nwho\n";
    let command = sh("cat ~/.claude/who; ls -A ~/.claude");
    for mode in NAMESPACED {
        let outcomes = attack_each_step(&user, mode, swap, &command, |o| o == expected);
        assert_noticed(mode, &outcomes);
    }
    let outcomes = attack_each_step(&user, Mode::Symlink, swap, &["true"], |_| true);
    eprintln!("Symlink, step by step: {outcomes:?}");
    outside.assert_same("account dir race");
}

/// Attack: the same swap of `~/.claude-compte1` and a symlink to /etc, by a
/// thread that keeps swapping at its own pace while 300 launches per
/// namespace mode and 100 in symlink mode run: swaps land wherever chance
/// puts them, between any two syscalls.
/// Outcome: every launch is refused or mounts the real account dir, never
/// /etc (the test asserts this alone, not that both outcomes occur).
#[test]
fn racing_an_account_dir_swap_at_random_moments_never_mounts_etc() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let outside = Outside::now();
    user.symlink(".flip", "/etc");
    let mut flipper = Flipper::paced(
        user.path(".claude-compte1"),
        user.path(".flip"),
        SWAPPED,
        IN_PLACE,
    );
    let expected = "compte1\n.credentials.json\nprojects\nwho\n";
    for (mode, rounds) in [
        (Mode::Userns, 300),
        (Mode::Privileged, 300),
        (Mode::Symlink, 100),
    ] {
        let command = if mode == Mode::Symlink {
            vec!["true"]
        } else {
            sh("cat ~/.claude/who; ls -A ~/.claude").to_vec()
        };
        stress(&user, mode, rounds, &command, |o| {
            mode == Mode::Symlink || o == expected
        });
    }
    flipper.stop();
    outside.assert_same("account dir race at random moments");
}

/// Attack: swap the mount target `~/.claude` with a symlink to /etc at each
/// step of the setup in turn.
/// Outcome: every launch is refused (125) or binds the account dir on the
/// real `~/.claude` dir (wherever the swap has moved it): every mount the
/// session has that the host lacks is inside the home; a swap before the
/// bind is refused.
#[test]
fn racing_a_mount_target_swap_never_mounts_outside_the_home() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let outside = Outside::now();
    let host = host_mounts();
    let home = format!("{}/", user.home.display());
    user.symlink(".flip", "/etc");
    let swap = (&*user.path(".claude"), &*user.path(".flip"));
    for mode in NAMESPACED {
        let outcomes = attack_each_step(&user, mode, swap, &["cat", "/proc/self/mountinfo"], |o| {
            let new = new_mounts(o, &host);
            new.iter().all(|(_, point, _)| point.starts_with(&home))
                && new
                    .iter()
                    .any(|(root, _, _)| root.ends_with("/.claude-compte1"))
        });
        assert_noticed(mode, &outcomes);
    }
    outside.assert_same("mount target race");
}

/// Attack: swap the account's empty `projects` dir with a symlink to a
/// world-writable root-owned dir at each step of the setup in turn, to get
/// the shared dir bound over (or a `projects` link created in) a dir the
/// user does not own.
/// Outcome: every launch is refused or mounts only inside the home; the root
/// dir is never mounted over and gains nothing; a swap before the bind is
/// refused.
#[test]
fn racing_a_projects_swap_never_mounts_over_a_root_dir() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let outside = Outside::now();
    let host = host_mounts();
    let home = format!("{}/", user.home.display());
    user.symlink(".claude-compte1/.flip", &tools().root_dir);
    let swap = (
        &*user.path(".claude-compte1/projects"),
        &*user.path(".claude-compte1/.flip"),
    );
    for mode in NAMESPACED {
        let outcomes = attack_each_step(&user, mode, swap, &["cat", "/proc/self/mountinfo"], |o| {
            new_mounts(o, &host)
                .iter()
                .all(|(_, point, _)| point.starts_with(&home))
        });
        assert_noticed(mode, &outcomes);
    }
    let outcomes = attack_each_step(&user, Mode::Symlink, swap, &["true"], |_| true);
    eprintln!("Symlink, step by step: {outcomes:?}");
    outside.assert_same("projects race");
}

/// Attack: swap `~/.claude-compte1` with a real dir owned by root (holding
/// `who` = ROOT), a dir the user can reach but does not own, at each step of
/// the setup in turn.
/// Outcome: every launch is refused (125) or mounts compte1's own dir; ROOT
/// is never seen, nothing is created in root's dir; a swap before the bind
/// is refused.
#[test]
fn racing_a_root_owned_dir_swap_is_never_mounted() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let outside = Outside::now();
    let decoy = root_dir_in_home(&user, ".decoy", 0o777);
    let swap = (&*user.path(".claude-compte1"), &*decoy);
    for mode in NAMESPACED {
        let outcomes = attack_each_step(&user, mode, swap, &sh("cat ~/.claude/who"), |o| {
            o == "compte1\n"
        });
        assert_noticed(mode, &outcomes);
    }
    // Symlink mode looks at `projects` by path but links through the dir it
    // opened: a swap in between fails safe (EEXIST, ENOTDIR).
    let outcomes = attack_each_step(&user, Mode::Symlink, swap, &["true"], |_| true);
    eprintln!("Symlink, step by step: {outcomes:?}");
    let names: Vec<_> = fs::read_dir(&decoy)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["who"], "cf-run created something in root's dir");
    outside.assert_same("root-owned dir race");
}

/// Attack, deterministic: hold cf-run in the middle of its setup (after
/// `unshare` and the first bind, before the next mount opens its paths) and
/// swap, at that exact moment, the account dir or `~/.claude` for a symlink
/// to /etc or a root-owned dir, or compte2's dir (about to be covered) for a
/// symlink.
/// Outcome: refused (125) by the step that opens the path, naming it; the
/// command never runs; the host and the home are as before.
#[test]
fn paths_swapped_in_the_middle_of_setup_are_refused() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let decoy = root_dir_in_home(&user, ".decoy", 0o755);
    user.symlink(".to-etc", "/etc");
    let outside = Outside::now();
    let before = snapshot(&user);
    let ran = user.path("ran");
    let cases: [(usize, &str, &str, &[&str]); 5] = [
        (
            1,
            ".claude-compte1",
            ".to-etc",
            &["bind source", ".claude-compte1 is a symlink (to /etc)"],
        ),
        (
            1,
            ".claude-compte1",
            ".decoy",
            &["bind source", ".claude-compte1 is owned by uid"],
        ),
        (
            1,
            ".claude",
            ".to-etc",
            &["mount target", ".claude is a symlink (to /etc)"],
        ),
        (
            1,
            ".claude",
            ".decoy",
            &["mount target", ".claude is owned by uid"],
        ),
        (
            2,
            ".claude-compte2",
            ".to-etc",
            &[".claude-compte2 is not a real directory"],
        ),
    ];
    for mode in NAMESPACED {
        for (event, path, with, want) in cases {
            let script = format!("touch {}", ran.display());
            let mut a = vec!["-v"];
            a.extend(args(mode, "compte1", &sh(&script)));
            let paused = Paused::before_event(&user, mode, &a, event);
            fs::remove_file(&ran).unwrap();
            exchange(&user.path(path), &user.path(with));
            let (status, log) = paused.resume();
            exchange(&user.path(path), &user.path(with));
            assert_eq!(status.code(), Some(125), "{mode:?} {path}<->{with}: {log}");
            for w in want {
                assert!(
                    log.contains(w),
                    "{mode:?} {path}<->{with}: want {w:?} in {log}"
                );
            }
            assert!(!ran.exists(), "{mode:?}: the command ran");
            assert_eq!(snapshot(&user), before, "{mode:?} {path}<->{with}");
            outside.assert_same("mid-setup swap");
        }
    }
    assert_eq!(fs::read_to_string(decoy.join("who")).unwrap(), "ROOT\n");
}

/// Attack: while the privileged cf-run is held mid-setup (inside its new
/// mount namespace, CAP_SYS_ADMIN in its permitted set), the same user
/// attaches with ptrace, reads its memory and environment, opens its root,
/// cwd and descriptors, joins its mount namespace, steals a descriptor with
/// pidfd_getfd.
/// Outcome: every attempt is refused (EPERM/EACCES): the process is
/// non-dumpable and holds capabilities the user lacks. The launch then
/// completes normally.
#[test]
fn a_privileged_cf_run_held_mid_setup_cannot_be_traced_or_entered() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let mut a = vec!["-v"];
    a.extend(args(Mode::Privileged, "compte1", &["true"]));
    let paused = Paused::before_event(&user, Mode::Privileged, &a, 1);
    let status = fs::read_to_string(format!("/proc/{}/status", paused.pid)).unwrap();
    let permitted = status
        .lines()
        .find_map(|l| l.strip_prefix("CapPrm:\t"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    assert_ne!(
        permitted & (1 << 21),
        0,
        "not holding CAP_SYS_ADMIN: {status}"
    );
    let probe = user.run(&tools().probe, &["ptrace", &paused.pid.to_string()]);
    let report = stdout(&probe);
    assert!(report.lines().count() >= 10, "{report}{}", stderr(&probe));
    for line in report.lines() {
        if line.contains("/cmdline:") {
            continue; // public to every user, as for any process
        }
        assert!(!line.ends_with(": ok"), "got through: {line}\n{report}");
    }
    let (status, log) = paused.resume();
    assert_eq!(status.code(), Some(0), "{log}");
}

/// Attack: run the privileged copy under `strace -f` as the user, to trace
/// it while it holds CAP_SYS_ADMIN.
/// Outcome: the kernel does not grant file capabilities to a traced exec:
/// `--mode privileged` is refused (125, "needs CAP_SYS_ADMIN"), and auto
/// mode falls back to userns, which holds nothing of the user's.
#[test]
fn tracing_the_privileged_copy_from_its_start_gets_no_capability() {
    let user = TestUser::acquire();
    user.standard_layout();
    let strace = Path::new("/usr/bin/strace");
    assert!(strace.exists(), "install strace (apt-get install strace)");
    let privileged = bins().privileged.to_str().unwrap();
    let mut a = vec!["-f", "-o", "/dev/null", privileged];
    a.extend(args(Mode::Privileged, "compte1", &["true"]));
    let out = user.run(strace, &a);
    assert_eq!(code(&out), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("privileged mode needs CAP_SYS_ADMIN"));
    let out = user.run(
        strace,
        &[
            "-f",
            "-o",
            "/dev/null",
            privileged,
            "--account",
            "compte1",
            "--dry-run",
        ],
    );
    assert!(
        stdout(&out).contains("mode: userns (auto: no cap_sys_admin"),
        "{}",
        stdout(&out)
    );
}

/// Attack: SIGKILL cf-run at spread-out small delays (0-3 ms after the
/// start, 60 rounds per mode), to leave a half-made layout or mount behind.
/// Outcome: no mount ever reaches the host; the home holds at most the
/// documented empty `~/.claude` and `projects` dirs (or the `projects` link
/// in symlink mode); the transcripts are intact.
#[test]
fn sigkill_during_setup_leaves_no_mount_and_no_damage() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write(".claude-projects-shared/-p/t1.jsonl", "{\"t\":1}\n");
    let before = snapshot(&user);
    let outside = Outside::now();
    for mode in MODES {
        for round in 0..60u64 {
            let mut child = user
                .command(mode.bin(), &args(mode, "compte1", &["true"]), &[])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_micros(round * 53 % 3000));
            let _ = child.kill();
            let status = child.wait().unwrap();
            assert!(
                status.success() || status.signal() == Some(9),
                "{mode:?}: {status}"
            );
            outside.assert_same("SIGKILL during setup");
            assert_only_mount_points_added(&user, &before, mode);
        }
    }
    assert_eq!(
        fs::read_to_string(user.path(".claude-projects-shared/-p/t1.jsonl")).unwrap(),
        "{\"t\":1}\n"
    );
}
