//! The adversarial suite: each test is one attack on cf-run, run as an
//! unprivileged test user against the rootless build (`--mode userns`), the
//! `cap_sys_admin+p` copy (`--mode privileged`) and, where it applies,
//! symlink mode. Each asserts the exact outcome: refused (exit 125 and a
//! message naming the cause) or harmless (what exactly the attacker gets), and
//! that nothing outside the user's own dirs changed.
//!
//! Helpers written in C (a probe, a planted preload library, a fake
//! `libgcc_s.so.1` and a program that loads it, a setuid/file-capability
//! `ids` program) are compiled once
//! with `cc`. A test of a weakness cf-run cannot close is `#[ignore = "KNOWN LIMIT: ..."]`
//! until src/ is fixed; see SECURITY.md for the table of attacks.

mod support;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{PermissionsExt, chown, lchown, symlink};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::{AT_FDCWD, FcntlArg, RenameFlags, fcntl, renameat2};
use support::client::{claude, offline_env};
use support::layout::{STANDARD_CONFIG, TestUser, bins, host_mounts, stderr, stdout};
use support::mock_api::MockApi;
use support::modes::{MODES, Mode, NAMESPACED, args, launch, sh};

/// compte2's secret, as `standard_layout` writes it: must never reach a compte1 session.
const SECRET: &str = "\"secret\":\"two\"";

fn bin_str(mode: Mode) -> &'static str {
    mode.bin().to_str().unwrap()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Asserts a refusal: exit 125, a message containing each of `want`, the
/// home exactly as before and no mount added to the host.
fn assert_refused(user: &TestUser, mode: Mode, args: &[&str], want: &[&str]) -> String {
    let before = user.snapshot();
    let mounts = host_mounts();
    let out = user.run(mode.bin(), args);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(125), "{mode:?} {args:?}: {err}");
    assert!(err.starts_with("cf-run: "), "{mode:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{mode:?} {args:?}: want {w:?} in {err}");
    }
    assert_eq!(
        user.snapshot(),
        before,
        "{mode:?} {args:?} changed the disk"
    );
    assert_eq!(
        host_mounts(),
        mounts,
        "{mode:?}: a mount leaked to the host"
    );
    err
}

fn refused(user: &TestUser, mode: Mode, want: &[&str]) -> String {
    assert_refused(user, mode, &args(mode, "compte1", &["true"]), want)
}

fn refused_env(user: &TestUser, mode: Mode, env: &[(&str, &str)], want: &[&str]) {
    let before = user.snapshot();
    let out = user.run_env(mode.bin(), &args(mode, "compte1", &["true"]), env);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(125), "{mode:?} {env:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{mode:?} {env:?}: want {w:?} in {err}");
    }
    assert_eq!(user.snapshot(), before, "{mode:?} {env:?} changed the disk");
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The home as `TestUser::snapshot` sees it, without cf-run's own state
/// (`~/.local/state/cf-run`: session locks and the registry of launches).
fn snapshot(user: &TestUser) -> BTreeMap<PathBuf, String> {
    let state = Path::new(".local/state/cf-run");
    let mut all = user.snapshot();
    all.retain(|path, _| !state.starts_with(path) && !path.starts_with(state));
    all
}

/// A root-owned directory `name` (mode `mode`) in the home: something the
/// user can reach but does not own.
fn root_dir_in_home(user: &TestUser, name: &str, mode: u32) -> PathBuf {
    let dir = user.path(name);
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("who"), "ROOT\n").unwrap();
    set_mode(&dir, mode);
    dir
}

// ---------------------------------------------------------------------------
// Compiled helpers and root-owned fixtures.

struct Tools {
    dir: PathBuf,
    /// `probe SUBCOMMAND ...`: tries one attack and prints `label arg: ok|ERRNO`.
    probe: PathBuf,
    /// Prints `ruid=.. euid=.. CapEff=..`; copied setuid root or with file caps.
    ids: PathBuf,
    /// A library whose constructor appends `exe=.. CapPrm=.. CapEff=..` to
    /// `$CF_ATTACK_MARKER`.
    preload: PathBuf,
    /// A dir holding a fake `libgcc_s.so.1` with the same constructor.
    fake_libs: PathBuf,
    /// A program that loads libgcc_s.so.1: the command of the fake library's control.
    needs_libgcc: PathBuf,
    /// Root-owned, mode 0777, holding `who` = "ROOTDIR": a symlink target that
    /// cf-run must never mount, mount over or create anything in.
    root_dir: PathBuf,
    /// `tty TEXT`: pushes TEXT into its terminal's input (TIOCSTI), then tries
    /// TIOCLINUX; prints `TIOCSTI: ok|ERROR` and `TIOCLINUX: ok|ERROR`.
    tty: PathBuf,
    /// The same, built for i386: the kernel's other ABI on this machine.
    tty32: PathBuf,
}

const TTY_C: &str = include_str!("helpers/tty.c");

const PROBE_C: &str = include_str!("helpers/probe.c");

/// Records, in `$CF_ATTACK_MARKER`, every process it gets loaded into.
const PLANTED_C: &str = include_str!("helpers/planted.c");

/// Harmless even when left setuid root: it only prints who it runs as.
const IDS_C: &str = include_str!("helpers/ids.c");

/// A program that loads libgcc_s.so.1: the command of the fake library's control.
const NEEDS_LIBGCC_C: &str = include_str!("helpers/needs_libgcc.c");

fn cc(args: &[&OsStr]) {
    let out = Command::new("cc").args(args).output().unwrap_or_else(|e| {
        panic!("cc: {e}; the attack suite compiles C helpers: apt-get install gcc")
    });
    assert!(out.status.success(), "cc {args:?}: {}", stderr(&out));
}

fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let dir = bins().plain.parent().unwrap().join("attacks");
        fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o755);
        let build = |name: &str, source: &str, extra: &[&str]| {
            let src = dir.join(format!("{name}.c"));
            fs::write(&src, source).unwrap();
            let out = dir.join(name);
            let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
            args.extend([OsStr::new("-o"), out.as_os_str(), src.as_os_str()]);
            cc(&args);
            set_mode(&out, 0o755);
            out
        };
        let probe = build("probe", PROBE_C, &["-O1"]);
        let ids = build("ids", IDS_C, &["-O1"]);
        let preload = build("planted.so", PLANTED_C, &["-shared", "-fPIC"]);
        let fake_libs = dir.join("fake-libs");
        fs::create_dir_all(&fake_libs).unwrap();
        set_mode(&fake_libs, 0o755);
        let soname = ["-shared", "-fPIC", "-Wl,-soname,libgcc_s.so.1"];
        let fake = build("libgcc_s.so.1", PLANTED_C, &soname);
        fs::rename(&fake, fake_libs.join("libgcc_s.so.1")).unwrap();
        let needs_libgcc = build(
            "needs-libgcc",
            NEEDS_LIBGCC_C,
            &["-Wl,--no-as-needed", "-lgcc_s"],
        );
        let tty = build("tty", TTY_C, &["-O1"]);
        let tty32 = build("tty32", TTY_C, &["-O1", "-m32", "-static"]);
        let root_dir = dir.join("rootdir");
        fs::create_dir_all(&root_dir).unwrap();
        fs::write(root_dir.join("who"), "ROOTDIR\n").unwrap();
        set_mode(&root_dir, 0o777);
        Tools {
            dir,
            probe,
            ids,
            preload,
            fake_libs,
            needs_libgcc,
            root_dir,
            tty,
            tty32,
        }
    })
}

/// A fresh root-owned dir for one test's fixtures, outside every home.
fn fixture_dir(user: &TestUser, name: &str, mode: u32) -> PathBuf {
    let dir = tools().dir.join(format!("{name}-{}", user.name));
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir(&dir).unwrap();
    set_mode(&dir, mode);
    dir
}

/// What must never change outside the user's dirs: the host's mounts, the
/// root-owned fixture dir, and /etc (nothing named `projects` appears there).
struct Outside {
    mounts: String,
    root_dir: Vec<(OsString, Vec<u8>)>,
}

impl Outside {
    fn now() -> Self {
        let mut root_dir: Vec<_> = fs::read_dir(&tools().root_dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), fs::read(e.path()).unwrap_or_default())
            })
            .collect();
        root_dir.sort();
        Self {
            mounts: host_mounts(),
            root_dir,
        }
    }

    fn assert_same(&self, what: &str) {
        let now = Self::now();
        assert_eq!(
            now.mounts, self.mounts,
            "{what}: a mount leaked to the host"
        );
        assert_eq!(
            now.root_dir, self.root_dir,
            "{what}: the root-owned dir changed"
        );
        assert!(
            !Path::new("/etc/projects").exists(),
            "{what}: something created /etc/projects"
        );
    }
}

/// The setpriv command line of `TestUser::command`, for argv and environment
/// that need bytes (non-UTF-8) or wrapping.
fn as_user(user: &TestUser, argv: &[&OsStr]) -> Vec<OsString> {
    let mut all: Vec<OsString> = vec![
        "setpriv".into(),
        format!("--reuid={}", user.uid).into(),
        format!("--regid={}", user.gid).into(),
        "--init-groups".into(),
        "--reset-env".into(),
        "--".into(),
        "env".into(),
    ];
    all.extend(argv.iter().map(|a| a.to_os_string()));
    all
}

fn run_argv(user: &TestUser, argv: &[OsString]) -> Output {
    Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&user.home)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Mount points the host does not have, with each mount's root and options.
fn new_mounts(session: &str, host: &str) -> Vec<(String, String, String)> {
    let point = |l: &str| l.split(' ').nth(4).unwrap_or("").to_owned();
    let known: Vec<String> = host.lines().map(point).collect();
    session
        .lines()
        .filter(|l| !known.contains(&point(l)))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[3].to_owned(), f[4].to_owned(), f[5].to_owned())
        })
        .collect()
}

/// Swaps two names atomically (renameat2 RENAME_EXCHANGE): never a moment
/// where either is missing.
fn exchange(a: &Path, b: &Path) {
    renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE)
        .unwrap_or_else(|e| panic!("exchange {} {}: {e}", a.display(), b.display()));
}

/// How long the racing tests leave a path swapped, then in place: short
/// enough that swaps land at every step of cf-run's setup, long enough in
/// place that some launches get through all the steps that look at it.
const SWAPPED: Duration = Duration::from_micros(150);
const IN_PLACE: Duration = Duration::from_micros(1000);

/// A thread that keeps swapping `a` and `b` until stopped, leaving them
/// swapped for `swapped` and back in place for `in_place` each round (zero:
/// as fast as it can); on stop (or drop) it puts them back as they were.
struct Flipper {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
    a: PathBuf,
    b: PathBuf,
}

impl Flipper {
    fn paced(a: PathBuf, b: PathBuf, swapped: Duration, in_place: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, x, y) = (stop.clone(), a.clone(), b.clone());
        let handle = std::thread::spawn(move || {
            let mut flips = 0u64;
            while !flag.load(Ordering::Relaxed) {
                // A failed swap changes nothing (a name may be briefly
                // missing while symlink mode replaces `projects`).
                let swapped_now =
                    renameat2(AT_FDCWD, &x, AT_FDCWD, &y, RenameFlags::RENAME_EXCHANGE);
                flips += u64::from(swapped_now.is_ok());
                let hold = if flips % 2 == 1 { swapped } else { in_place };
                if hold.is_zero() {
                    if flips.is_multiple_of(4) {
                        std::thread::yield_now();
                    }
                } else {
                    std::thread::sleep(hold);
                }
            }
            flips
        });
        Self {
            stop,
            handle: Some(handle),
            a,
            b,
        }
    }

    /// Stops, restores, and returns how many swaps were made.
    fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let flips = self
            .handle
            .take()
            .map_or(0, |h| h.join().expect("the flipper thread panicked"));
        if !flips.is_multiple_of(2) {
            exchange(&self.a, &self.b);
        }
        flips
    }
}

impl Drop for Flipper {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.stop();
        }
    }
}

/// A launch held in the middle of its setup: its stderr is a one-page pipe
/// that the log events before `event` fill exactly, so cf-run blocks writing
/// event number `event` (0 is the plan, then one per mount).
struct Paused {
    child: Option<Child>,
    pipe: File,
    pid: i32,
}

const PIPE_PAGE: usize = 4096;

/// Splits `-v` output into tracing events (each one write on stderr).
fn log_events(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = text
        .match_indices("DEBUG ")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n')
        .collect();
    starts.push(text.len());
    starts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

impl Paused {
    /// Runs `args` (which must hold `-v`) once to learn the log, then again,
    /// held before log event `event`. The layout must be such that a launch
    /// changes nothing on disk (the mount points already exist).
    fn before_event(user: &TestUser, mode: Mode, args: &[&str], event: usize) -> Paused {
        let calibration = user.run(mode.bin(), args);
        assert_eq!(code(&calibration), Some(0), "{}", stderr(&calibration));
        let log = stderr(&calibration);
        let events = log_events(&log);
        assert!(events.len() > event, "{mode:?}: no event {event} in\n{log}");
        let room: usize = events[..event].iter().map(|e| e.len()).sum();
        assert!(room < PIPE_PAGE, "{mode:?}: the log is too long to pause");
        let (read, write) = nix::unistd::pipe().unwrap();
        fcntl(&write, FcntlArg::F_SETPIPE_SZ(PIPE_PAGE as i32)).unwrap();
        let size = fcntl(&write, FcntlArg::F_GETPIPE_SZ).unwrap();
        assert_eq!(size as usize, PIPE_PAGE);
        let mut write = File::from(write);
        write.write_all(&vec![b'#'; PIPE_PAGE - room]).unwrap();
        let child = user
            .command(mode.bin(), args, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::from(write))
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let mut paused = Paused {
            child: Some(child),
            pipe: File::from(read),
            pid,
        };
        let bin = fs::canonicalize(mode.bin()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
            let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
            let writing = syscall.starts_with("1 0x2 ") || syscall.starts_with("20 0x2 ");
            if exe.as_deref() == Some(bin.as_path()) && writing {
                break;
            }
            if let Some(status) = paused.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{mode:?}: cf-run ended ({status}) before it could be paused");
            }
            assert!(
                Instant::now() < deadline,
                "{mode:?}: cf-run did not pause ({syscall})"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // It is past unshare: its mount namespace is not ours.
        let ns = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
        assert_ne!(
            ns(&pid.to_string()),
            ns("self"),
            "{mode:?}: paused too early"
        );
        paused
    }

    /// Lets it go on; its exit status and log (without the filler).
    fn resume(mut self) -> (ExitStatus, String) {
        let mut bytes = Vec::new();
        self.pipe.read_to_end(&mut bytes).unwrap();
        let status = self.child.take().unwrap().wait().unwrap();
        let log = String::from_utf8_lossy(&bytes);
        (status, log.trim_start_matches('#').to_owned())
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The standard layout with the mount points already there, so that a
/// launch changes nothing on disk (and logs no `created` event).
fn layout_with_mount_points(user: &TestUser) {
    user.standard_layout();
    user.mkdir(".claude");
    user.mkdir(".claude-compte1/projects");
    set_mode(&user.path(".claude"), 0o700);
    set_mode(&user.path(".claude-compte1/projects"), 0o700);
}

// ---------------------------------------------------------------------------
// Symlinks planted where cf-run reads, mounts or links.

/// Attack: `~/.claude-compte1` is a symlink to a root-owned dir (/etc, or a
/// world-writable root dir): the session would get root's files as its
/// account, and a mount over or into a system dir.
/// Outcome: refused in every mode, naming the symlink; nothing mounted or created there.
#[test]
fn a_symlinked_account_dir_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    fs::rename(user.path(".claude-compte1"), user.path("real")).unwrap();
    for target in [Path::new("/etc"), &tools().root_dir] {
        user.symlink(".claude-compte1", target);
        let shown = format!(".claude-compte1 is a symlink (to {})", target.display());
        for mode in MODES {
            refused(
                &user,
                mode,
                &["account \"compte1\"'s dir", &shown, "not follow symlinks"],
            );
        }
        fs::remove_file(user.path(".claude-compte1")).unwrap();
    }
    outside.assert_same("symlinked account dir");
}

/// Attack: the shared projects dir is a symlink to compte2's dir (so
/// compte1's session would see compte2's credentials as its transcripts) or
/// to /etc.
/// Outcome: refused in every mode.
#[test]
fn a_symlinked_shared_dir_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    fs::remove_dir_all(user.path(".claude-projects-shared")).unwrap();
    for target in [user.path(".claude-compte2"), PathBuf::from("/etc")] {
        user.symlink(".claude-projects-shared", &target);
        for mode in MODES {
            refused(
                &user,
                mode,
                &[
                    "the shared projects dir",
                    ".claude-projects-shared is a symlink",
                ],
            );
        }
        fs::remove_file(user.path(".claude-projects-shared")).unwrap();
    }
    outside.assert_same("symlinked shared dir");
}

/// Attack: the mount target `~/.claude` is a symlink to /etc or to a
/// world-writable root dir, so that the account bind lands on a system dir.
/// Outcome: refused in both namespace modes; symlink mode never uses
/// `~/.claude` and leaves the link alone (harmless).
#[test]
fn a_symlinked_mount_target_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    for target in [Path::new("/etc"), &tools().root_dir] {
        user.symlink(".claude", target);
        for mode in NAMESPACED {
            refused(&user, mode, &["the mount target", ".claude is a symlink"]);
        }
        let out = launch(
            &user,
            Mode::Symlink,
            "compte1",
            &sh("cat \"$CLAUDE_CONFIG_DIR/who\""),
        );
        assert_eq!(stdout(&out), "compte1\n", "{}", stderr(&out));
        assert_eq!(fs::read_link(user.path(".claude")).unwrap(), target);
        fs::remove_file(user.path(".claude")).unwrap();
    }
    outside.assert_same("symlinked mount target");
}

/// Attack: the account's `projects` (mounted over, or replaced in symlink
/// mode) or `~/.claude/projects` is a symlink to /etc or to a root dir.
/// Outcome: refused in every mode that touches it; symlink mode ignores
/// `~/.claude/projects` (harmless).
#[test]
fn a_symlinked_projects_entry_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    for target in [Path::new("/etc"), &tools().root_dir] {
        user.symlink(".claude-compte1/projects", target);
        let shown = format!("projects is a symlink to {}", target.display());
        for mode in MODES {
            refused(&user, mode, &[&shown, "not to the shared dir"]);
        }
        fs::remove_file(user.path(".claude-compte1/projects")).unwrap();
        user.mkdir(".claude");
        user.symlink(".claude/projects", target);
        for mode in NAMESPACED {
            refused(&user, mode, &[".claude/projects is a symlink to"]);
        }
        let out = launch(&user, Mode::Symlink, "compte1", &["true"]);
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        fs::remove_dir_all(user.path(".claude")).unwrap();
        fs::remove_file(user.path(".claude-compte1/projects")).unwrap();
    }
    outside.assert_same("symlinked projects");
}

/// Attack: the config is reached through a symlinked parent (`~/.config`,
/// `~/.config/claude-failover`), or through /dev/stdin or a
/// /proc/PID/fd/N magic link.
/// Outcome: refused in every mode ("is or passes through a symlink").
#[test]
fn a_config_through_a_symlink_or_magic_link_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    fs::rename(user.path(".config/claude-failover"), user.path("real-cf")).unwrap();
    user.symlink(".config/claude-failover", user.path("real-cf"));
    for mode in MODES {
        refused(&user, mode, &["is or passes through a symlink"]);
    }
    fs::remove_file(user.path(".config/claude-failover")).unwrap();
    user.mkdir("real-config");
    fs::rename(
        user.path("real-cf"),
        user.path("real-config/claude-failover"),
    )
    .unwrap();
    fs::remove_dir_all(user.path(".config")).unwrap();
    user.symlink(".config", user.path("real-config"));
    for mode in MODES {
        refused(&user, mode, &["is or passes through a symlink"]);
    }
    let config = user.path("real-config/claude-failover/config.toml");
    let config = config.to_str().unwrap();
    for mode in MODES {
        // /dev/stdin -> /proc/self/fd/0: a symlink, then a magic link.
        let script = format!(
            "exec {} --config /dev/stdin --mode {} --account compte1 -- true < {config}",
            bin_str(mode),
            mode.name()
        );
        let out = user.run(Path::new("/bin/sh"), &["-c", &script]);
        assert_eq!(code(&out), Some(125), "{mode:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("is or passes through a symlink"));
        // $$ is the shell that becomes cf-run: /proc/PID/fd/5 is cf-run's own descriptor.
        let script = format!(
            "exec 5<{config}; exec {} --config /proc/$$/fd/5 --mode {} --account compte1 -- true",
            bin_str(mode),
            mode.name()
        );
        let out = user.run(Path::new("/bin/sh"), &["-c", &script]);
        assert_eq!(code(&out), Some(125), "{mode:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is or passes through a symlink"),
            "{mode:?}: {}",
            stderr(&out)
        );
    }
}

// ---------------------------------------------------------------------------
// Dirs and configs that belong to someone else.

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
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("{mode:?}: cf-run hangs on the config {path}");
                }
                std::thread::sleep(Duration::from_millis(5));
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

// ---------------------------------------------------------------------------
// Paths: nesting, traversal, length, odd characters, names.

/// Attack: account dirs, the shared dir and `~/.claude` nested in or equal to
/// one another under different spellings (`~`, `/`, `~/./.claude`,
/// `~//x/`), so that one bind hides or exposes another.
/// Outcome: refused in every mode, naming both.
#[test]
fn nested_or_overlapping_dirs_are_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let cases = [
        (
            "~/.claude-projects-shared",
            "~",
            "~/.claude-compte2",
            "is inside",
        ),
        (
            "~/.claude-projects-shared",
            "/",
            "~/.claude-compte2",
            "is inside",
        ),
        (
            "~/.claude-projects-shared",
            "~/./.claude",
            "~/.claude-compte2",
            "same directory",
        ),
        (
            "~/.claude",
            "~/.claude-compte1",
            "~/.claude-compte2",
            "same directory",
        ),
        (
            "~/.claude-compte2/projects",
            "~/.claude-compte1",
            "~/.claude-compte2",
            "is inside account \"compte2\"'s dir",
        ),
        (
            "~/.claude-projects-shared",
            "~/.claude-compte1",
            "~//.claude-compte1/",
            "same directory",
        ),
        (
            "~/.claude-projects-shared",
            "~/.claude/compte1",
            "~/.claude-compte2",
            "is inside the mount target",
        ),
    ];
    for (shared, one, two, want) in cases {
        user.config(&format!(
            "shared_projects = \"{shared}\"\n[accounts.compte1]\ndir = \"{one}\"\n[accounts.compte2]\ndir = \"{two}\"\n"
        ));
        for mode in MODES {
            refused(&user, mode, &[want]);
        }
    }
}

/// Attack: relative paths, `..` (also spelled with TOML `\u002e` escapes),
/// and `~user` pointing into another home.
/// Outcome: refused in every mode, naming the key.
#[test]
fn relative_dotdot_and_tilde_user_paths_are_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let cases = [
        ("rel/dir", "relative path"),
        ("./.claude-compte1", "relative path"),
        ("~/../cfrun-t0/.claude-compte1", "contains '..'"),
        ("~/x/\\u002e\\u002e/.claude-compte2", "contains '..'"),
        ("/home/\\u002E\\u002E/etc", "contains '..'"),
        ("~root/.claude", "not ~user"),
        ("~cfrun-t0/.claude-compte1", "not ~user"),
    ];
    for (dir, want) in cases {
        user.config(&format!(
            "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"{dir}\"\n"
        ));
        for mode in MODES {
            refused(&user, mode, &["accounts.compte1.dir", want]);
        }
    }
}

/// Attack: very long paths: one just under PATH_MAX that exists (deep
/// nesting), and one over PATH_MAX.
/// Outcome: the deep one works like any other (its own `who` at
/// `~/.claude`); the one over PATH_MAX is refused (ENAMETOOLONG), no crash.
#[test]
fn paths_near_and_over_path_max_are_handled() {
    let user = TestUser::acquire();
    user.standard_layout();
    let part = "d".repeat(200);
    let deep = vec![part.as_str(); 19].join("/");
    user.write(&format!("{deep}/acc/who"), "deep\n");
    assert!(user.path(&deep).as_os_str().len() > 3800);
    user.config(&format!(
        "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"~/{deep}/acc\"\n[accounts.compte2]\ndir = \"~/.claude-compte2\"\n"
    ));
    for mode in MODES {
        let out = launch(
            &user,
            mode,
            "compte1",
            &sh("cat \"$CLAUDE_CONFIG_DIR/who\""),
        );
        assert_eq!(stdout(&out), "deep\n", "{mode:?}: {}", stderr(&out));
    }
    let too_long = vec![part.as_str(); 22].join("/");
    user.config(&format!(
        "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"~/{too_long}/acc\"\n"
    ));
    for mode in MODES {
        refused(&user, mode, &["ENAMETOOLONG"]);
    }
}

/// Attack: odd Unicode in dir names, written with TOML escapes:
/// right-to-left override, fullwidth solidus and full stops that look like
/// `/..`, combining marks, no-break space.
/// Outcome: each is taken literally as one name: the session sees that
/// dir's own `who`, never /etc; where it does not exist, refused.
#[test]
fn odd_unicode_names_are_taken_literally() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    let names = [
        (".claude-\u{202e}1etpmoc", ".claude-\\u202e1etpmoc"),
        (
            ".claude\u{ff0f}\u{ff0e}\u{ff0e}\u{ff0f}etc",
            ".claude\\uFF0F\\uFF0E\\uFF0E\\uFF0Fetc",
        ),
        (".claude-co\u{301}mpte1", ".claude-co\\u0301mpte1"),
        (".claude\u{a0}compte1", ".claude\\u00a0compte1"),
    ];
    for (name, escaped) in names {
        user.write(&format!("{name}/who"), "literal\n");
        user.config(&format!(
            "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"~/{escaped}\"\n[accounts.compte2]\ndir = \"~/.claude-compte2\"\n"
        ));
        for mode in MODES {
            let out = launch(
                &user,
                mode,
                "compte1",
                &sh("cat \"$CLAUDE_CONFIG_DIR/who\""),
            );
            assert_eq!(
                stdout(&out),
                "literal\n",
                "{mode:?} {name}: {}",
                stderr(&out)
            );
        }
        fs::remove_dir_all(user.path(name)).unwrap();
        for mode in MODES {
            refused(&user, mode, &["does not exist"]);
        }
    }
    outside.assert_same("unicode names");
}

/// Attack: terminal escape sequences in text cf-run prints: another user
/// plants, where the user's account dir should be (in a shared sticky dir),
/// a symlink whose target holds them; a session forges a registry entry
/// whose cwd holds them, for `cf-run ps` to print.
/// Expected: control characters escaped, never raw, in both.
#[test]

fn escape_sequences_are_never_printed_raw() {
    let user = TestUser::acquire();
    user.standard_layout();
    let public = fixture_dir(&user, "public", 0o1777);
    let planted = public.join("acc");
    symlink("\x1b]0;cf-run-pwned\x07\x1b[2J/x", &planted).unwrap();
    lchown(&planted, Some(65534), Some(65534)).unwrap();
    user.config(&format!(
        "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"{}\"\n",
        planted.display()
    ));
    for mode in MODES {
        let err = refused(&user, mode, &["is a symlink"]);
        assert!(
            !err.contains('\x1b') && !err.contains('\x07'),
            "{mode:?}: raw control characters in {err:?}"
        );
    }
    // The same through `cf-run ps`, from a registry entry a session forged
    // for a live process of the user's (its cwd field holds the sequences).
    let mut sleeper = user
        .command(Path::new("/bin/sleep"), &["30"], &[])
        .spawn()
        .unwrap();
    let pid = sleeper.id();
    forge_entry(&user, pid, "\x1b]0;cf-run-pwned\x07\x1b[2J");
    for mode in [Mode::Userns, Mode::Privileged] {
        let out = user.run(mode.bin(), &["ps"]);
        let o = stdout(&out);
        assert!(
            o.contains(&pid.to_string()),
            "{mode:?}: {o}{}",
            stderr(&out)
        );
        assert!(
            !o.contains('\x1b') && !o.contains('\x07'),
            "{mode:?}: raw control characters in {o:?}"
        );
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

/// Attack: account names with path traversal or odd bytes, on the command
/// line (`../compte2`, `compte1/../compte2`, `.`, `..`, empty, non-UTF-8) and
/// in the config (`..`, `../x`, `a/b`, NUL, non-ASCII letters, leading `-`).
/// Outcome: unknown account (125) or usage error (2) on the command line;
/// the config is refused (125, "is not allowed").
#[test]
fn account_names_with_traversal_are_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in MODES {
        for name in [
            "../compte2",
            "compte1/../compte2",
            ".",
            "..",
            "",
            "compte1\n",
            "COMPTE1",
        ] {
            assert_refused(
                &user,
                mode,
                &args(mode, name, &["true"]),
                &["unknown account", "compte1, compte2"],
            );
        }
        let argv = as_user(
            &user,
            &[
                mode.bin().as_os_str(),
                OsStr::new("--account"),
                OsStr::from_bytes(b"compte\xff1"),
                OsStr::new("--"),
                OsStr::new("true"),
            ],
        );
        let out = run_argv(&user, &argv);
        assert_eq!(code(&out), Some(2), "{mode:?}: {}", stderr(&out));
    }
    for bad in [
        "\"..\"",
        "\"../x\"",
        "\"a/b\"",
        "\"compte\\u0000\"",
        "\"\\u2160\"",
        "\"-rf\"",
    ] {
        user.config(&format!(
            "{STANDARD_CONFIG}[accounts.{bad}]\ndir = \"~/.claude-x\"\n"
        ));
        for mode in MODES {
            refused(&user, mode, &["is not allowed"]);
        }
    }
}

// ---------------------------------------------------------------------------
// The environment and descriptors handed to cf-run.

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
fn assert_only_mount_points_added(user: &TestUser, before: &BTreeMap<PathBuf, String>, mode: Mode) {
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
    let far = (std::time::SystemTime::now() + Duration::from_secs(365 * 86400))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    for account in ["compte1", "compte2"] {
        let oauth = serde_json::json!({"claudeAiOauth": {
            "accessToken": format!("tok-{account}"), "refreshToken": "r", "expiresAt": far,
            "scopes": ["user:inference", "user:profile"], "subscriptionType": "max"}});
        user.write(
            &format!(".claude-{account}/.credentials.json"),
            &oauth.to_string(),
        );
    }
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

// ---------------------------------------------------------------------------
// Races: a path swapped between cf-run's check and its mount.

/// Runs `rounds` launches of `command` while a `Flipper` swaps paths; each
/// must be refused (exit 125 with a `cf-run: ` message: which step notices
/// the swap varies) or succeed with an output that passes `ok`. Returns
/// (successes, refusals).
fn race(
    user: &TestUser,
    mode: Mode,
    rounds: usize,
    command: &[&str],
    ok: impl Fn(&str) -> bool,
) -> (usize, usize) {
    let (mut successes, mut refusals) = (0, 0);
    for round in 0..rounds {
        let out = launch(user, mode, "compte1", command);
        let (o, e) = (stdout(&out), stderr(&out));
        match code(&out) {
            Some(0) if ok(&o) => successes += 1,
            Some(125) if e.starts_with("cf-run: ") && o.is_empty() => refusals += 1,
            _ => panic!(
                "{mode:?} round {round}: {:?}\nstdout: {o}\nstderr: {e}",
                out.status
            ),
        }
    }
    (successes, refusals)
}

/// Attack: a racing loop swaps `~/.claude-compte1` with a symlink to /etc
/// (atomic rename exchange, landing at random points of the setup), 300
/// launches per namespace mode and 100 in symlink mode.
/// Outcome: every launch is refused (125) or mounts the real account dir
/// (the command sees compte1's files at `~/.claude`), never /etc; symlink
/// mode never creates `projects` in /etc.
#[test]
fn racing_an_account_dir_swap_never_mounts_etc() {
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
        let (ok, no) = race(&user, mode, rounds, &command, |o| {
            mode == Mode::Symlink || o == expected
        });
        eprintln!("{mode:?}: {ok} mounted the real dir, {no} refused");
        assert!(
            ok > 0 && no > 0,
            "{mode:?}: the race was not exercised ({ok}/{no})"
        );
    }
    assert!(flipper.stop() > 0);
    outside.assert_same("account dir race");
}

/// Attack: a racing loop swaps the mount target `~/.claude` with a symlink
/// to /etc while launches run.
/// Outcome: every launch is refused (125) or binds the account dir on the
/// real `~/.claude` dir (wherever the swap has moved it): every mount the
/// session has that the host lacks is inside the home.
#[test]
fn racing_a_mount_target_swap_never_mounts_outside_the_home() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let outside = Outside::now();
    let host = host_mounts();
    let home = format!("{}/", user.home.display());
    user.symlink(".flip", "/etc");
    // cf-run looks at ~/.claude four times (check, mount, two checks after):
    // keep it in place most of the time so that some launches get through.
    let in_place = IN_PLACE * 3 / 2;
    let mut flipper = Flipper::paced(user.path(".claude"), user.path(".flip"), SWAPPED, in_place);
    for mode in NAMESPACED {
        let (ok, no) = race(&user, mode, 200, &["cat", "/proc/self/mountinfo"], |o| {
            let new = new_mounts(o, &host);
            new.iter().all(|(_, point, _)| point.starts_with(&home))
                && new
                    .iter()
                    .any(|(root, _, _)| root.ends_with("/.claude-compte1"))
        });
        eprintln!("{mode:?}: {ok} mounted in the home, {no} refused");
        assert!(
            ok > 0 && no > 0,
            "{mode:?}: the race was not exercised ({ok}/{no})"
        );
    }
    assert!(flipper.stop() > 0);
    outside.assert_same("mount target race");
}

/// Attack: a racing loop swaps the account's empty `projects` dir with a
/// symlink to a world-writable root-owned dir, to get the shared dir bound
/// over (or a `projects` link created in) a dir the user does not own.
/// Outcome: every launch is refused or mounts only inside the home; the root
/// dir is never mounted over and gains nothing.
#[test]
fn racing_a_projects_swap_never_mounts_over_a_root_dir() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let outside = Outside::now();
    let host = host_mounts();
    let home = format!("{}/", user.home.display());
    user.symlink(".claude-compte1/.flip", &tools().root_dir);
    let mut flipper = Flipper::paced(
        user.path(".claude-compte1/projects"),
        user.path(".claude-compte1/.flip"),
        SWAPPED,
        IN_PLACE,
    );
    for mode in NAMESPACED {
        let (ok, no) = race(&user, mode, 150, &["cat", "/proc/self/mountinfo"], |o| {
            new_mounts(o, &host)
                .iter()
                .all(|(_, point, _)| point.starts_with(&home))
        });
        eprintln!("{mode:?}: {ok} mounted in the home, {no} refused");
        assert!(
            ok > 0 && no > 0,
            "{mode:?}: the race was not exercised ({ok}/{no})"
        );
    }
    let (ok, no) = race(&user, Mode::Symlink, 100, &["true"], |_| true);
    eprintln!("Symlink: {ok} linked, {no} refused");
    assert!(flipper.stop() > 0);
    outside.assert_same("projects race");
}

/// Attack: a racing loop swaps `~/.claude-compte1` with a real dir owned by
/// root (holding `who` = ROOT): a dir the user can reach but does not own.
/// Outcome: every launch is refused (125) or mounts compte1's own dir; ROOT
/// is never seen, nothing is created in root's dir.
#[test]
fn racing_a_root_owned_dir_swap_is_never_mounted() {
    let user = TestUser::acquire();
    layout_with_mount_points(&user);
    let outside = Outside::now();
    let decoy = root_dir_in_home(&user, ".decoy", 0o777);
    let mut flipper = Flipper::paced(
        user.path(".claude-compte1"),
        decoy.clone(),
        SWAPPED,
        IN_PLACE,
    );
    for mode in NAMESPACED {
        let (ok, no) = race(&user, mode, 150, &sh("cat ~/.claude/who"), |o| {
            o == "compte1\n"
        });
        eprintln!("{mode:?}: {ok} mounted the real dir, {no} refused");
        assert!(
            ok > 0 && no > 0,
            "{mode:?}: the race was not exercised ({ok}/{no})"
        );
    }
    // Symlink mode looks at `projects` by path but links through the dir it
    // opened: a swap in between fails safe (EEXIST, ENOTDIR).
    race(&user, Mode::Symlink, 100, &["true"], |_| true);
    assert!(flipper.stop() > 0);
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

// ---------------------------------------------------------------------------
// Sessions: ids, the lock, the registry, `stop`.

const SESSION: &str = "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";

/// Start time (clock ticks since boot) of `pid`: field 22 of /proc/PID/stat.
fn start_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(19).unwrap().parse().unwrap()
}

/// Writes, as the user could, a registry entry for `pid` under session
/// `SESSION`, claiming the working directory `cwd`.
fn forge_entry(user: &TestUser, pid: u32, cwd: &str) {
    let entry = serde_json::json!({
        "pid": pid, "account": "compte1", "session": SESSION, "cwd": cwd,
        "started": "2026-01-01T00:00:00Z", "mode": "userns",
        "start_ticks": start_ticks(pid),
    });
    user.write(
        &format!(".local/state/cf-run/sessions/{:02x}/{pid}.json", pid % 64),
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
    assert!(!user.path(".local/state/cf-run/locks").exists());
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
        let deadline = Instant::now() + Duration::from_secs(10);
        while !stdout(&user.run(mode.bin(), &["ps", "--json"])).contains(SESSION) {
            assert!(
                Instant::now() < deadline,
                "{mode:?}: the holder never showed in ps"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
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
    user.mkdir(".local/state/cf-run/locks");
    let lock = user.path(&format!(".local/state/cf-run/locks/{SESSION}.lock"));
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
    let odd = user.mkdir(".local/state/cf-run/sessions/01/4000000001.json");
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
    let deadline = Instant::now() + Duration::from_secs(10);
    let ps = loop {
        let ps = user.run(&bins().plain, &["ps", "--json"]);
        assert_eq!(code(&ps), Some(0), "{}", stderr(&ps));
        if stdout(&ps).contains(SESSION) {
            break ps;
        }
        assert!(
            Instant::now() < deadline,
            "ps never showed the session: {}",
            stderr(&ps)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
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
    assert!(argv.starts_with("-p\n") && !argv.contains(secret), "{argv}");
    assert_eq!(fs::read_to_string(user.path("stdin")).unwrap(), secret);
    let mut root = Command::new("sh")
        .args(["-c", "sleep 30", secret])
        .spawn()
        .unwrap();
    let proc_cmdline = format!("/proc/{}/cmdline", root.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&proc_cmdline).unwrap().contains(secret) {
        assert!(Instant::now() < deadline, "sleep never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
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
            .arg(user.path(".local/state/cf-run/sessions"))
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
    let state = user.mkdir(".local/state/cf-run");
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
/// `~/.local/state/cf-run/sessions` with a symlink to it. The user's next
/// `cf-run ps` (outside any session) removes every `*.json` there that is
/// not a live entry: compte2's `.credentials.json`, `.claude.json` and
/// `settings.json`; and every later compte1 launch fails (its registry write
/// lands on compte2's read-only cover).
/// Expected: cf-run resolves its state dir without following symlinks and
/// removes only files it wrote: compte2's files stay, and the next launch is
/// refused (125) naming the state dir, until the link is removed.
#[test]
fn a_session_cannot_make_cf_run_delete_another_accounts_files() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write(".claude-compte2/.claude.json", "{\"oauthAccount\":{}}\n");
    let plant = "mkdir -p ~/.local/state/cf-run && rm -rf ~/.local/state/cf-run/sessions \
                 && ln -s ~/.claude-compte2 ~/.local/state/cf-run/sessions";
    for mode in NAMESPACED {
        let out = launch(&user, mode, "compte1", &sh(plant));
        assert_eq!(code(&out), Some(0), "{mode:?}: {}", stderr(&out));
        let next = launch(&user, mode, "compte1", &["true"]);
        let ps = user.run(mode.bin(), &["ps"]);
        for file in [".credentials.json", ".claude.json"] {
            assert!(
                user.path(".claude-compte2").join(file).exists(),
                "{mode:?}: `cf-run ps` deleted compte2's {file}: {}",
                stderr(&ps)
            );
        }
        for out in [&next, &ps] {
            assert_eq!(code(out), Some(125), "{mode:?}: {}", stderr(out));
            assert!(
                stderr(out)
                    .contains("cf-run keeps its locks and registry only in real directories"),
                "{mode:?}: {}",
                stderr(out)
            );
        }
        fs::remove_file(user.path(".local/state/cf-run/sessions")).unwrap();
        assert_eq!(code(&launch(&user, mode, "compte1", &["true"])), Some(0));
    }
}

// ---------------------------------------------------------------------------
// The admin's policy.

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

// ---------------------------------------------------------------------------
// From inside the session.

/// Attack (inside): look for privilege left over: capability sets,
/// no_new_privs, and the flags of every mount cf-run added.
/// Outcome: CapInh/CapPrm/CapEff/CapAmb all zero and NoNewPrivs 1 in every
/// mode; every mount in the home is nosuid,nodev (covers also ro,noexec),
/// and no mount of the session propagates (no `shared:` peer group).
#[test]
fn the_session_holds_nothing_and_every_mount_is_nosuid_nodev_private() {
    let user = TestUser::acquire();
    user.standard_layout();
    let home = format!("{}/", user.home.display());
    for mode in NAMESPACED {
        let o = stdout(&launch(
            &user,
            mode,
            "compte1",
            &["cat", "/proc/self/mountinfo"],
        ));
        let ours: Vec<&str> = o
            .lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|p| p.starts_with(&home)))
            .collect();
        assert_eq!(ours.len(), 4, "{mode:?}: {o}");
        for line in ours {
            let opts = line.split(' ').nth(5).unwrap();
            assert!(
                opts.contains("nosuid") && opts.contains("nodev"),
                "{mode:?}: {line}"
            );
            if line.contains(".claude-compte2 ") {
                assert!(opts.starts_with("ro,") && opts.contains("noexec"), "{line}");
            }
        }
        for line in o.lines() {
            let optional = line.split(" - ").next().unwrap();
            assert!(
                !optional.contains("shared:"),
                "{mode:?}: propagates: {line}"
            );
        }
    }
    // Last: symlink mode turns the account's `projects` into a link.
    for mode in MODES {
        let out = launch(&user, mode, "compte1", &["cat", "/proc/self/status"]);
        let o = stdout(&out);
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            assert!(
                o.contains(&format!("{set}:\t0000000000000000\n")),
                "{mode:?}: {o}"
            );
        }
        assert!(o.contains("NoNewPrivs:\t1\n"), "{mode:?}: {o}");
    }
}

/// Attack (inside): run a setuid-root copy of a program from the account dir,
/// through the nosuid bind (`~/.claude`) and through the original path (not
/// nosuid; only no_new_privs stands in the way). Control: outside cf-run it
/// does run as root.
/// Outcome: harmless: euid stays the user's and CapEff stays 0 in every mode.
#[test]
fn a_setuid_root_binary_in_the_account_dir_does_not_elevate() {
    let user = TestUser::acquire();
    user.standard_layout();
    let planted = user.path(".claude-compte1/ids");
    fs::copy(&tools().ids, &planted).unwrap();
    chown(&planted, Some(0), Some(0)).unwrap();
    set_mode(&planted, 0o4755);
    let control = stdout(&user.run(&planted, &[]));
    assert!(
        control.starts_with(&format!("ruid={} euid=0 ", user.uid)),
        "control: the setuid copy does not elevate outside cf-run (nosuid home?): {control}"
    );
    let want = format!("ruid={0} euid={0} CapEff=0000000000000000\n", user.uid);
    let script = format!("\"$CLAUDE_CONFIG_DIR/ids\"; {}", planted.display());
    for mode in MODES {
        let out = launch(&user, mode, "compte1", &sh(&script));
        assert_eq!(stdout(&out), want.repeat(2), "{mode:?}: {}", stderr(&out));
    }
    fs::remove_file(&planted).unwrap();
}

/// Attack (inside): run a copy of a program given file capabilities
/// (`cap_dac_read_search+ep`) from the account dir. Control: outside cf-run
/// it gets the capability.
/// Outcome: harmless: CapEff stays 0 in every mode.
#[test]
fn a_file_capability_binary_does_not_elevate() {
    let user = TestUser::acquire();
    user.standard_layout();
    let planted = user.path(".claude-compte1/ids");
    fs::copy(&tools().ids, &planted).unwrap();
    let setcap = Command::new("setcap")
        .arg("cap_dac_read_search+ep")
        .arg(&planted)
        .output()
        .unwrap();
    assert!(setcap.status.success(), "{}", stderr(&setcap));
    let control = stdout(&user.run(&planted, &[]));
    assert!(
        control.ends_with("CapEff=0000000000000004\n"),
        "control: {control}"
    );
    let want = format!("ruid={0} euid={0} CapEff=0000000000000000\n", user.uid);
    for mode in MODES {
        let out = launch(&user, mode, "compte1", &sh("\"$CLAUDE_CONFIG_DIR/ids\""));
        assert_eq!(stdout(&out), want, "{mode:?}: {}", stderr(&out));
    }
    fs::remove_file(&planted).unwrap();
}

/// Attack (inside): `su` and `sudo` (when installed) to become root.
/// Outcome: harmless: they fail (no_new_privs voids their setuid bit); no
/// `0` uid is ever printed.
#[test]
fn su_and_sudo_do_not_elevate_inside_a_session() {
    let user = TestUser::acquire();
    user.standard_layout();
    for tool in ["su", "sudo"] {
        let found = ["/usr/bin", "/bin", "/usr/sbin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists());
        if !found {
            eprintln!("{tool} is not installed: nothing to attack");
            continue;
        }
        let script = if tool == "su" {
            "su root -c 'id -u' </dev/null"
        } else {
            "sudo -n id -u </dev/null"
        };
        for mode in MODES {
            let out = launch(&user, mode, "compte1", &sh(script));
            assert_ne!(code(&out), Some(0), "{mode:?} {tool}: {}", stdout(&out));
            assert!(!stdout(&out).lines().any(|l| l == "0"), "{mode:?} {tool}");
        }
    }
}

/// Attack (inside): unmount, remount read-write, or re-bind to see under
/// the cover of compte2's dir and under the bind at `~/.claude`: umount2,
/// mount(MS_REMOUNT), mount_setattr, a plain bind of the home, open_tree.
/// Outcome: every attempt fails with EPERM (no capability in the namespace's
/// owner); compte2's credentials stay unreadable. Same in both modes.
#[test]
fn the_session_cannot_unmount_or_remount_its_binds() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("scratch");
    let (home, scratch) = (user.home.to_str().unwrap(), user.path("scratch"));
    let probe = tools().probe.to_str().unwrap();
    for target in [".claude-compte2", ".claude", ".claude/projects"] {
        let target = user.path(target);
        for mode in NAMESPACED {
            let out = launch(
                &user,
                mode,
                "compte1",
                &[
                    probe,
                    "escape",
                    target.to_str().unwrap(),
                    home,
                    scratch.to_str().unwrap(),
                ],
            );
            let report = stdout(&out);
            for attempt in [
                "umount",
                "remount-rw",
                "setattr-rw",
                "bind",
                "rbind",
                "open_tree",
            ] {
                let line = report
                    .lines()
                    .find(|l| l.starts_with(&format!("{attempt} ")))
                    .unwrap_or_else(|| panic!("{mode:?}: no {attempt} in {report}"));
                assert!(line.ends_with(": EPERM"), "{mode:?}: {line}");
            }
            assert!(!report.contains(SECRET), "{mode:?}: {report}");
        }
    }
}

/// Attack (inside): make a nested user namespace, where the command is root,
/// and from there unmount the cover, unmount it in a recursive copy, bind
/// the home without its submounts, or clone the home without them
/// (open_tree), to read what the cover hides.
/// Outcome: harmless: the kernel locks the inherited mounts (umount and
/// plain bind/open_tree: EINVAL; remount: EPERM); compte2's credentials
/// never appear. Same in both modes.
#[test]
fn a_nested_user_namespace_cannot_see_under_a_cover() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("scratch");
    let cover = user.path(".claude-compte2");
    let probe = tools().probe.to_str().unwrap();
    for mode in NAMESPACED {
        let out = launch(
            &user,
            mode,
            "compte1",
            &[
                probe,
                "nested-escape",
                cover.to_str().unwrap(),
                user.home.to_str().unwrap(),
                user.path("scratch").to_str().unwrap(),
            ],
        );
        let report = stdout(&out);
        assert!(
            report.contains("unshare user+mnt: ok"),
            "{mode:?}: {report}"
        );
        for (attempt, errno) in [
            ("umount ", "EINVAL"),
            ("remount-rw ", "EPERM"),
            ("setattr-rw ", "EPERM"),
            ("bind ", "EINVAL"),
            ("umount-copy ", "EINVAL"),
            ("open_tree ", "EINVAL"),
        ] {
            let line = report
                .lines()
                .find(|l| l.starts_with(attempt))
                .unwrap_or("");
            assert!(
                line.ends_with(errno),
                "{mode:?}: {attempt}: {line:?}\n{report}"
            );
        }
        assert!(!report.contains(SECRET), "{mode:?}: {report}");
    }
}

/// Attack (inside): read compte2's credentials through /proc/self/root, and
/// through a symlink or hard link planted in the shared dir (which every
/// account sees).
/// Outcome: harmless: each path resolves in the session's own namespace,
/// where compte2's dir is covered (ENOENT); a compte2 session sees the link
/// to its own file only.
#[test]
fn proc_self_root_and_links_in_the_shared_dir_stay_covered() {
    let user = TestUser::acquire();
    user.standard_layout();
    let creds = user.path(".claude-compte2/.credentials.json");
    let script = format!(
        "cat /proc/self/root{0}; ln -sf {0} ~/.claude/projects/leak; cat ~/.claude/projects/leak; \
         ln {0} ~/.claude/projects/hard; true",
        creds.display()
    );
    for mode in NAMESPACED {
        let out = launch(&user, mode, "compte1", &sh(&script));
        assert!(!stdout(&out).contains(SECRET), "{mode:?}: {}", stdout(&out));
        assert_eq!(
            stderr(&out).matches("No such file").count(),
            3,
            "{mode:?}: {}",
            stderr(&out)
        );
        assert!(!user.path(".claude-projects-shared/hard").exists());
        let again = launch(&user, mode, "compte1", &sh("cat ~/.claude/projects/leak"));
        assert!(!stdout(&again).contains(SECRET), "{mode:?}");
    }
}

/// Attack: the user's home holds a root-made mount (a tmpfs over
/// `~/.claude-compte1/hidden`) hiding a file beneath; a bind that did not
/// carry submounts would reveal it.
/// Outcome: harmless: the session sees the tmpfs's content at
/// `~/.claude/hidden`, never the hidden file.
#[test]
fn a_host_mount_inside_an_account_dir_stays_in_place() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.write(".claude-compte1/hidden/under", "UNDER-SECRET\n");
    let hidden = user.path(".claude-compte1/hidden");
    let script = "exec 2>&1; cat ~/.claude/hidden/*";
    for mode in NAMESPACED {
        // In a mount namespace of the test's own, so the host stays as it is.
        let mut argv: Vec<&OsStr> = vec![mode.bin().as_os_str()];
        let a = args(mode, "compte1", &sh(script));
        argv.extend(a.iter().map(OsStr::new));
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o size=64k,mode=755 cf-run-over \"$0\" && echo OVER > \"$0/over\" && exec \"$@\"")
            .arg(&hidden)
            .args(as_user(&user, &argv))
            .current_dir(&user.home)
            .output()
            .unwrap();
        assert_eq!(stdout(&out), "OVER\n", "{mode:?}: {}", stderr(&out));
    }
}

/// Attack (inside, userns): reach the host's view through a process of the
/// same user outside the session: read compte2's credentials through
/// `/proc/PID/root` and `/proc/PID/cwd`, ptrace it, read its environment.
/// Outcome: refused (EACCES/EPERM): the session lives in a child user
/// namespace, and the kernel denies ptrace-class access to processes
/// outside it.
#[test]
fn a_userns_session_cannot_reach_the_host_through_another_process() {
    let user = TestUser::acquire();
    user.standard_layout();
    let report = reach_outside(&user, Mode::Userns);
    assert!(!report.contains(SECRET), "{report}");
    for line in report.lines().filter(|l| !l.contains("/cmdline:")) {
        assert!(!line.contains(": ok"), "got through: {line}\n{report}");
    }
}

/// Attack (inside, privileged): the same as above from a privileged-mode
/// session: `/proc/PID/root` of any other process of the user (its shell,
/// a `sleep`) leads to the host's mount namespace, where compte2's dir is not
/// covered; ptrace of that process works too (no Yama here), so the session
/// could also make it read anything.
/// Expected: refused, as in userns mode.
#[test]

fn a_privileged_session_cannot_reach_the_host_through_another_process() {
    let user = TestUser::acquire();
    user.standard_layout();
    let report = reach_outside(&user, Mode::Privileged);
    assert!(!report.contains(SECRET), "{report}");
    for line in report.lines().filter(|l| !l.contains("/cmdline:")) {
        assert!(!line.contains(": ok"), "got through: {line}\n{report}");
    }
}

/// Starts a `sleep` as the user outside any session, then a session that
/// probes it; the probe's report.
fn reach_outside(user: &TestUser, mode: Mode) -> String {
    let creds = user.path(".claude-compte2/.credentials.json");
    let probe = tools().probe.display();
    let inner = format!(
        "{probe} read /proc/$1/root{0}; {probe} read /proc/$1/cwd/.claude-compte2/.credentials.json; {probe} ptrace $1",
        creds.display()
    );
    let script = format!(
        "sleep 30 & S=$!; {} --mode {} --account compte1 -- sh -c '{inner}' sh $S; kill $S",
        bin_str(mode),
        mode.name()
    );
    let out = user.run(Path::new("/bin/sh"), &["-c", &script]);
    let report = stdout(&out);
    assert!(report.lines().count() >= 10, "{report}{}", stderr(&out));
    report
}

/// The host pid of the user's process whose command line is exactly
/// `cmdline`, once there is one (a session's command, seen from outside).
fn pid_of(user: &TestUser, cmdline: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = Command::new("pgrep")
            .args(["-U", &user.uid.to_string(), "-f", &format!("^{cmdline}$")])
            .output()
            .unwrap();
        if let Some(pid) = stdout(&found).lines().next() {
            return pid.to_owned();
        }
        assert!(Instant::now() < deadline, "{cmdline:?} never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Attack (inside, processes): a compte1 session goes after a compte2
/// session's process, whose pid it is handed: signal it, raise its core limit
/// with `prlimit` (then a SIGSEGV would leave a core of compte2's memory, its
/// credentials included), read its `/proc/PID/environ`; and counts the
/// processes it can see.
/// Outcome: refused in both namespace modes: the session has a PID namespace
/// and a /proc of its own, so the pid names nothing (ESRCH, ENOENT) and it
/// sees its own few processes only. Control: from a symlink-mode session (no
/// PID namespace) the same signal and prlimit reach the victim.
#[test]
fn a_session_cannot_signal_limit_or_read_another_sessions_processes() {
    let user = TestUser::acquire();
    user.standard_layout();
    let probe = "kill -0 $1 && echo signal-ok; prlimit --pid $1 --core=unlimited && echo prlimit-ok; \
                 cat /proc/$1/environ >/dev/null && echo environ-ok; \
                 echo seen=$(ls /proc | grep -c '^[0-9]')";
    for victim_mode in NAMESPACED {
        let victim_args = args(victim_mode, "compte2", &["sleep", "37"]);
        let mut victim = user
            .command(victim_mode.bin(), &victim_args, &[])
            .spawn()
            .unwrap();
        let pid = pid_of(&user, "sleep 37");
        for mode in MODES {
            let mut command = sh(probe).to_vec();
            command.extend(["sh", pid.as_str()]);
            let out = launch(&user, mode, "compte1", &command);
            let o = stdout(&out);
            if mode == Mode::Symlink {
                assert!(
                    o.contains("signal-ok") && o.contains("prlimit-ok"),
                    "control: a symlink-mode session did not reach {pid}: {o}{}",
                    stderr(&out)
                );
                continue;
            }
            for reached in ["signal-ok", "prlimit-ok", "environ-ok"] {
                assert!(
                    !o.contains(reached),
                    "{mode:?} reached {victim_mode:?}'s {pid}: {o}"
                );
            }
            let seen: u32 = o.trim().rsplit("seen=").next().unwrap().parse().unwrap();
            // pid 1, sh, the $(...) subshell, ls and grep.
            assert!(
                seen <= 5,
                "{mode:?}: the session sees {seen} processes: {o}"
            );
        }
        victim.kill().unwrap();
        victim.wait().unwrap();
    }
}

/// Attack (inside, sealing): the session's processes are in a user namespace
/// that any process of the user may join (`setns`) with every capability in
/// it: on a host that forbids unprivileged user namespaces, a privileged
/// session would hand one out.
/// Outcome: harmless: a privileged session makes no user namespace (its PID
/// namespace is what keeps it from the user's other processes), so there is
/// nothing to join: its command is in the host's. Control: a userns session's
/// namespace is joinable by the user, as the mechanism says.
#[test]
fn a_privileged_session_hands_out_no_user_namespace() {
    let user = TestUser::acquire();
    user.standard_layout();
    let host = fs::read_link("/proc/self/ns/user").unwrap();
    for mode in NAMESPACED {
        let session = args(mode, "compte1", &["sleep", "38"]);
        let mut child = user.command(mode.bin(), &session, &[]).spawn().unwrap();
        let pid = pid_of(&user, "sleep 38");
        let ns = fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
        let join = user.run(
            Path::new("/usr/bin/nsenter"),
            &["--user", "--preserve-credentials", "--target", &pid, "true"],
        );
        if mode == Mode::Privileged {
            assert_eq!(ns, host, "the privileged session made a user namespace");
        } else {
            assert_ne!(ns, host);
            assert_eq!(code(&join), Some(0), "control: {}", stderr(&join));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Attack (inside, terminal): a session pushes a command line into the
/// caller's terminal (TIOCSTI), which the caller's shell reads and runs once
/// the session ends: here `touch ~/pwned`, as it could be `cat` of another
/// account's credentials to anywhere. Both ABIs of the machine (x86_64 and
/// i386), and TIOCLINUX, the console's paste.
/// Outcome: refused (EPERM, the seccomp filter) in every mode; the shell
/// runs nothing. Control: the same program run by the shell without cf-run
/// types into the terminal, and the shell runs the line (where the kernel
/// still allows TIOCSTI at all: `dev.tty.legacy_tiocsti`).
#[test]
fn a_session_cannot_type_into_the_callers_terminal() {
    let user = TestUser::acquire();
    user.standard_layout();
    let socket = format!("cf-run-attack-{}", user.uid);
    let tmux = |args: &[&str]| {
        let mut all = vec!["-L", socket.as_str()];
        all.extend(args);
        user.run(Path::new("/usr/bin/tmux"), &all)
    };
    let _ = tmux(&["kill-server"]);
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "150",
        "-y",
        "40",
        "bash --norc -i",
    ]);
    assert_eq!(code(&started), Some(0), "{}", stderr(&started));
    let pwned = user.path("pwned");
    // Each run ends with a marker line, so that its output can be waited for.
    let run_in_pane = |line: &str, n: u32| {
        let typed = format!("{line}; echo done-{n}");
        let sent = tmux(&["send-keys", "-t", "t", &typed, "Enter"]);
        assert_eq!(code(&sent), Some(0));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = stdout(&tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]));
            if screen.contains(&format!("\ndone-{n}")) {
                // Give the shell the time to read anything pushed after the marker.
                let sent = tmux(&[
                    "send-keys",
                    "-t",
                    "t",
                    &format!("echo settled-{n}"),
                    "Enter",
                ]);
                assert_eq!(code(&sent), Some(0));
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let screen = stdout(&tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]));
                    if screen.contains(&format!("\nsettled-{n}")) {
                        return screen;
                    }
                    assert!(Instant::now() < deadline, "no settled-{n}:\n{screen}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            assert!(Instant::now() < deadline, "no done-{n}:\n{screen}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Typed into bash: $'...' makes the \n a newline, which ends the pushed line.
    let payload = r"$'touch ~/pwned\n'";
    let mut n = 0;
    for tool in [&tools().tty, &tools().tty32] {
        for mode in MODES {
            n += 1;
            let line = format!(
                "{} --mode {} --account compte1 -- {} {payload}",
                bin_str(mode),
                mode.name(),
                tool.display()
            );
            let screen = run_in_pane(&line, n);
            assert!(
                !pwned.exists(),
                "{mode:?} {}: the shell ran the pushed line:\n{screen}",
                tool.display()
            );
            for ioctl in ["TIOCSTI", "TIOCLINUX"] {
                let refused = format!("{ioctl}: Operation not permitted");
                assert!(screen.contains(&refused), "{mode:?} {ioctl}:\n{screen}");
            }
            let cleared = tmux(&["clear-history", "-t", "t"]);
            assert_eq!(code(&cleared), Some(0));
            let sent = tmux(&["send-keys", "-t", "t", "clear", "Enter"]);
            assert_eq!(code(&sent), Some(0));
        }
    }
    let legacy = fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").unwrap_or("1".into());
    if legacy.trim() == "1" {
        n += 1;
        let screen = run_in_pane(&format!("{} {payload}", tools().tty.display()), n);
        assert!(screen.contains("TIOCSTI: ok"), "control:\n{screen}");
        assert!(
            pwned.exists(),
            "control: the shell did not run the pushed line:\n{screen}"
        );
    } else {
        eprintln!("control skipped: dev.tty.legacy_tiocsti=0, the kernel refuses TIOCSTI itself");
    }
    let _ = tmux(&["kill-server"]);
}

/// Attack (inside, shared places): a compte1 session leaves a file in /tmp
/// for a compte2 session to pick up, or reads what compte2's client left
/// there (2.1.332 keeps per-user state under /tmp/claude-UID).
/// Outcome: with `--private-tmp` each session has an empty /tmp of its own
/// (sticky, nosuid, nodev) that vanishes with it; without a namespace it is
/// refused (125). Control: without the option the file crosses over.
#[test]
fn a_private_tmp_keeps_sessions_from_meeting_in_tmp() {
    let user = TestUser::acquire();
    user.standard_layout();
    let marker = format!("/tmp/cf-run-meet-{}", user.uid);
    let _ = fs::remove_file(&marker);
    let leave = format!("echo from-compte1 > {marker}; ls -A /tmp | wc -l");
    let pick = format!("cat {marker} 2>&1; grep ' /tmp ' /proc/self/mountinfo | grep -c nosuid");
    for mode in NAMESPACED {
        let private = |account: &'static str, script: &str| {
            let mut a = vec![
                "--mode",
                mode.name(),
                "--account",
                account,
                "--private-tmp",
                "--",
            ];
            a.extend(sh(script));
            user.run(mode.bin(), &a)
        };
        let left = private("compte1", &leave);
        assert_eq!(code(&left), Some(0), "{mode:?}: {}", stderr(&left));
        assert_eq!(
            stdout(&left),
            "1\n",
            "{mode:?}: a private /tmp starts empty"
        );
        let picked = private("compte2", &pick);
        assert!(
            stdout(&picked).contains("No such file"),
            "{mode:?}: {}",
            stdout(&picked)
        );
        assert!(
            stdout(&picked).ends_with("1\n"),
            "{mode:?}: {}",
            stdout(&picked)
        );
        assert!(
            !Path::new(&marker).exists(),
            "{mode:?}: the private /tmp reached the host's"
        );
        // Control: the host's /tmp is one place for every session.
        let left = launch(&user, mode, "compte1", &sh(&leave));
        assert_eq!(code(&left), Some(0));
        let picked = launch(&user, mode, "compte2", &sh(&pick));
        assert!(
            stdout(&picked).starts_with("from-compte1\n"),
            "control: {}",
            stdout(&picked)
        );
        fs::remove_file(&marker).unwrap();
    }
    let mut a = args(Mode::Symlink, "compte1", &["true"]);
    a.insert(4, "--private-tmp");
    assert_refused(
        &user,
        Mode::Symlink,
        &a,
        &["a private /tmp needs a namespace"],
    );
}

/// Attack (inside, paths): the host has a second mount through which the
/// user's home can be reached (an admin's bind of /home elsewhere, a second
/// mount of the same filesystem): compte2's dir is covered at its own path,
/// but not at the other one.
/// Outcome: harmless: cf-run covers compte2's dir wherever another mount
/// reaches it, and `doctor` names the second mount. Control: outside cf-run,
/// compte2's credentials are readable through the second mount.
#[test]
fn a_second_mount_of_the_home_is_covered_too() {
    let user = TestUser::acquire();
    user.standard_layout();
    let alias = PathBuf::from(format!("/tmp/cf-run-alias-{}", user.uid));
    fs::create_dir_all(&alias).unwrap();
    set_mode(&alias, 0o755);
    let through = alias.join(".claude-compte2/.credentials.json");
    let read = format!("cat {} 2>&1", through.display());
    let in_world = |inner: Vec<String>| {
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$0\" \"$1\" && shift && exec \"$@\"")
            .arg(&user.home)
            .arg(&alias)
            .args(inner)
            .current_dir(&user.home)
            .output()
            .unwrap()
    };
    let as_user = |mut rest: Vec<String>| {
        let mut v = vec![
            "setpriv".to_string(),
            format!("--reuid={}", user.uid),
            format!("--regid={}", user.gid),
            "--init-groups".into(),
            "--reset-env".into(),
            "--".into(),
        ];
        v.append(&mut rest);
        v
    };
    let control = in_world(as_user(vec!["sh".into(), "-c".into(), read.clone()]));
    assert!(
        stdout(&control).contains(SECRET),
        "control: {}{}",
        stdout(&control),
        stderr(&control)
    );
    for mode in NAMESPACED {
        let mut launch: Vec<String> = args(mode, "compte1", &sh(&read))
            .iter()
            .map(|a| a.to_string())
            .collect();
        launch.insert(0, bin_str(mode).to_string());
        let out = in_world(as_user(launch));
        // cat's own status: the file is not there.
        assert_eq!(code(&out), Some(1), "{mode:?}: {}", stderr(&out));
        assert!(!stdout(&out).contains(SECRET), "{mode:?}: {}", stdout(&out));
        assert!(
            stdout(&out).contains("No such file"),
            "{mode:?}: {}",
            stdout(&out)
        );
    }
    // doctor names the second way in.
    let doctor = in_world(as_user(vec![bin_str(Mode::Userns).into(), "doctor".into()]));
    let want = format!("compte2's dir also at {}/.claude-compte2", alias.display());
    assert!(stdout(&doctor).contains(&want), "{}", stdout(&doctor));
    fs::remove_dir(&alias).unwrap();
}

/// Attack (inside, persistence): a compte1 session rewrites the user's
/// config (which it can write, as the user) to drop compte2, so that the
/// next compte1 session does not cover compte2's dir.
/// Expected: the next session still cannot read compte2's credentials
/// (e.g. the config is read-only inside sessions, or cf-run refuses a config
/// changed by a session).
#[test]
#[ignore = "KNOWN LIMIT (same uid, see SECURITY.md): a session can rewrite the config or any dotfile for the next session"]
fn a_session_cannot_rewrite_the_config_to_expose_another_account_later() {
    let user = TestUser::acquire();
    user.standard_layout();
    let config = user.path(".config/claude-failover/config.toml");
    let creds = user.path(".claude-compte2/.credentials.json");
    for mode in NAMESPACED {
        let rewrite = format!(
            "printf 'shared_projects = \"~/.claude-projects-shared\"\\n[accounts.compte1]\\ndir = \"~/.claude-compte1\"\\n' > {}",
            config.display()
        );
        launch(&user, mode, "compte1", &sh(&rewrite));
        let out = launch(&user, mode, "compte1", &["cat", creds.to_str().unwrap()]);
        assert!(
            !stdout(&out).contains(SECRET),
            "{mode:?}: the next session read compte2's credentials"
        );
        user.config(STANDARD_CONFIG);
    }
}
