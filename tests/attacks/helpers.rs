//! Compiled helpers and root-owned fixtures.

use super::*;

pub(crate) struct Tools {
    pub(crate) dir: PathBuf,
    /// `probe SUBCOMMAND ...`: tries one attack and prints `label arg: ok|ERRNO`.
    pub(crate) probe: PathBuf,
    /// Prints `ruid=.. euid=.. CapEff=..`; copied setuid root or with file caps.
    pub(crate) ids: PathBuf,
    /// A library whose constructor appends `exe=.. CapPrm=.. CapEff=..` to
    /// `$CF_ATTACK_MARKER`.
    pub(crate) preload: PathBuf,
    /// A dir holding a fake `libgcc_s.so.1` with the same constructor.
    pub(crate) fake_libs: PathBuf,
    /// A program that loads libgcc_s.so.1: the command of the fake library's control.
    pub(crate) needs_libgcc: PathBuf,
    /// Root-owned, mode 0777, holding `who` = "ROOTDIR": a symlink target that
    /// cf-run must never mount, mount over or create anything in.
    pub(crate) root_dir: PathBuf,
    /// `tty TEXT`: pushes TEXT into its terminal's input (TIOCSTI), then tries
    /// TIOCLINUX; prints `TIOCSTI: ok|ERROR` and `TIOCLINUX: ok|ERROR`.
    pub(crate) tty: PathBuf,
    /// The same, built for i386: the kernel's other ABI on this machine.
    pub(crate) tty32: PathBuf,
}

const TTY_C: &str = include_str!("../helpers/tty.c");

const PROBE_C: &str = include_str!("../helpers/probe.c");

/// Records, in `$CF_ATTACK_MARKER`, every process it gets loaded into.
const PLANTED_C: &str = include_str!("../helpers/planted.c");

/// Harmless even when left setuid root: it only prints who it runs as.
const IDS_C: &str = include_str!("../helpers/ids.c");

/// A program that loads libgcc_s.so.1: the command of the fake library's control.
const NEEDS_LIBGCC_C: &str = include_str!("../helpers/needs_libgcc.c");

pub(crate) fn cc(args: &[&OsStr]) {
    let out = Command::new("cc").args(args).output().unwrap_or_else(|e| {
        panic!("cc: {e}; the attack suite compiles C helpers: apt-get install gcc")
    });
    assert!(out.status.success(), "cc {args:?}: {}", stderr(&out));
}

pub(crate) fn tools() -> &'static Tools {
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
pub(crate) fn fixture_dir(user: &TestUser, name: &str, mode: u32) -> PathBuf {
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
pub(crate) struct Outside {
    pub(crate) mounts: String,
    pub(crate) root_dir: Vec<(OsString, Vec<u8>)>,
}

impl Outside {
    pub(crate) fn now() -> Self {
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

    pub(crate) fn assert_same(&self, what: &str) {
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
pub(crate) fn as_user(user: &TestUser, argv: &[&OsStr]) -> Vec<OsString> {
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

pub(crate) fn run_argv(user: &TestUser, argv: &[OsString]) -> Output {
    Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&user.home)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Mount points the host does not have, with each mount's root and options,
/// less the account's socket dir for its background supervisor, which every
/// namespace launch binds from the state dir over /tmp/cc-daemon-UID, and
/// the session's own /tmp.
pub(crate) fn new_mounts(session: &str, host: &str) -> Vec<(String, String, String)> {
    let point = |l: &str| l.split(' ').nth(4).unwrap_or("").to_owned();
    let known: Vec<String> = host.lines().map(point).collect();
    let sockets = |l: &str| {
        let f: Vec<&str> = l.split(' ').collect();
        f.len() > 4
            && (f[4].starts_with("/tmp/cc-daemon-") && f[3].contains("/daemons/")
                || f[4] == "/tmp" && f[3] == "/")
    };
    session
        .lines()
        .filter(|l| !known.contains(&point(l)) && !sockets(l))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[3].to_owned(), f[4].to_owned(), f[5].to_owned())
        })
        .collect()
}

/// Swaps two names atomically (renameat2 RENAME_EXCHANGE): never a moment
/// where either is missing.
pub(crate) fn exchange(a: &Path, b: &Path) {
    renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE)
        .unwrap_or_else(|e| panic!("exchange {} {}: {e}", a.display(), b.display()));
}

/// How long the stress run leaves a path swapped, then in place: short
/// enough that swaps land at many steps of cf-run's setup, long enough in
/// place that some launches get through. The stress run asserts only that
/// every outcome is safe; each step is attacked deterministically by
/// pausing the launch there (`Paused`).
pub(crate) const SWAPPED: Duration = Duration::from_micros(150);
pub(crate) const IN_PLACE: Duration = Duration::from_micros(1000);

/// A thread that keeps swapping `a` and `b` until stopped, leaving them
/// swapped for `swapped` and back in place for `in_place` each round (zero:
/// as fast as it can); on stop (or drop) it puts them back as they were.
pub(crate) struct Flipper {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) handle: Option<JoinHandle<u64>>,
    pub(crate) a: PathBuf,
    pub(crate) b: PathBuf,
}

impl Flipper {
    pub(crate) fn paced(a: PathBuf, b: PathBuf, swapped: Duration, in_place: Duration) -> Self {
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
    pub(crate) fn stop(&mut self) -> u64 {
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
/// event number `event` (0 is the plan, written once every check has passed
/// and before the namespace is made; then one per mount, each written once
/// the mount is made). What it was blocked at is done; nothing after it has
/// begun.
pub(crate) struct Paused {
    child: Option<Child>,
    pipe: File,
    /// Reads the command's stdout as it comes, so that it never blocks.
    stdout: Option<JoinHandle<Vec<u8>>>,
    pub(crate) pid: i32,
}

const PIPE_PAGE: usize = 4096;

/// Splits `-v` output into tracing events (each one write on stderr).
pub(crate) fn log_events(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = text
        .match_indices("DEBUG ")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n')
        .collect();
    starts.push(text.len());
    starts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

/// Whether `/proc/PID/syscall` shows the process blocked in write(2) or
/// writev(2) on its stderr: the syscall by its number in libc, the
/// descriptor as the first argument, never a number matched in text.
fn writing_stderr(syscall: &str) -> bool {
    let mut fields = syscall.split_whitespace();
    let nr = fields.next().and_then(|n| n.parse::<libc::c_long>().ok());
    let fd = fields.next().and_then(|a| a.strip_prefix("0x"));
    let fd = fd.and_then(|a| u64::from_str_radix(a, 16).ok());
    matches!(nr, Some(libc::SYS_write | libc::SYS_writev)) && fd == Some(2)
}

impl Paused {
    /// Runs `args` (which must hold `-v`) once to learn the log, then again,
    /// held before log event `event`. The layout must be such that a launch
    /// changes nothing on disk (the mount points already exist).
    pub(crate) fn before_event(user: &TestUser, mode: Mode, args: &[&str], event: usize) -> Paused {
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
        let mut child = user
            .command(mode.bin(), args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(write))
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        let pid = child.id() as i32;
        let mut paused = Paused {
            child: Some(child),
            pipe: File::from(read),
            stdout: Some(stdout),
            pid,
        };
        let bin = fs::canonicalize(mode.bin()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
            let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
            if exe.as_deref() == Some(bin.as_path()) && writing_stderr(&syscall) {
                break;
            }
            if let Some(status) = paused.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{mode:?}: cf-run ended ({status}) before it could be paused");
            }
            assert!(
                Instant::now() < deadline,
                "{mode:?}: cf-run did not block writing log event {event} within 10 s ({syscall})"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // Past the plan, a namespace launch is past unshare: its mount
        // namespace is not ours.
        if event > 0 && mode != Mode::Symlink {
            let ns = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
            assert_ne!(
                ns(&pid.to_string()),
                ns("self"),
                "{mode:?}: paused too early"
            );
        }
        paused
    }

    /// Lets it go on; its exit status and log (without the filler).
    pub(crate) fn resume(self) -> (ExitStatus, String) {
        let (status, _, log) = self.resume_with_stdout();
        (status, log)
    }

    /// Lets it go on; its exit status, stdout, and log (without the filler).
    pub(crate) fn resume_with_stdout(mut self) -> (ExitStatus, String, String) {
        let mut bytes = Vec::new();
        self.pipe.read_to_end(&mut bytes).unwrap();
        let status = self.child.take().unwrap().wait().unwrap();
        let out = self.stdout.take().unwrap().join().unwrap();
        let log = String::from_utf8_lossy(&bytes);
        let out = String::from_utf8_lossy(&out).into_owned();
        (status, out, log.trim_start_matches('#').to_owned())
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
pub(crate) fn layout_with_mount_points(user: &TestUser) {
    user.standard_layout();
    user.mkdir(".claude");
    user.mkdir(".claude-compte1/projects");
    set_mode(&user.path(".claude"), 0o700);
    set_mode(&user.path(".claude-compte1/projects"), 0o700);
}
