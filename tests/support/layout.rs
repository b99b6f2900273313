#![allow(dead_code)] // each test file uses part of the support
//! Test users and their homes: the tests run as root and run cf-run as an
//! unprivileged user, in real namespaces, with setpriv.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown, lchown, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// libnss-extrausers' files.
const EXTRAUSERS: &str = "/var/lib/extrausers";

/// How many test users take turns; each test holds one for its whole run.
const POOL: usize = 6;

/// The two builds under test, copied where an unprivileged user can run them.
pub struct Bins {
    /// The build as it is: userns and symlink modes.
    pub plain: PathBuf,
    /// A copy with `cap_sys_admin+p`: privileged mode.
    pub privileged: PathBuf,
}

/// The namespace suites make test users and run cf-run as them, which only
/// root can do. Run by anyone else (`cargo test` by a contributor), a suite
/// says so in one line and ends without running a test; the unit tests run.
fn require_root() {
    if !nix::unistd::geteuid().is_root() {
        let suite = std::env::args().next().unwrap_or_default();
        let file = Path::new(&suite)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        // `launch-0123abcd`: the suite's name, less cargo's hash.
        let name = file.rsplit_once('-').map_or(&*file, |(name, _)| name);
        // Past the harness's capture of eprintln!, which exit would discard.
        let line =
            format!("skipped {name}: the namespace suites run as root: sudo scripts/test.sh\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        std::process::exit(0);
    }
}

pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        require_root();
        // Not in /tmp: every session has a /tmp of its own, where the
        // binaries and helpers would not be.
        let dir = PathBuf::from(format!("/var/tmp/cf-run-tests-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.join("cf-run");
        let privileged = dir.join("cf-run-privileged");
        // The build that ships, where scripts/test.sh names it (a musl
        // build, which these tests, linked with glibc's libseccomp, cannot
        // be); else cargo's own build of cf-run.
        let built = std::env::var_os("CF_RUN_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_cf-run")),
            PathBuf::from,
        );
        for bin in [&plain, &privileged] {
            fs::copy(&built, bin).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
            fs::set_permissions(bin, fs::Permissions::from_mode(0o755)).unwrap();
        }
        run_ok(
            Command::new("setcap")
                .arg("cap_sys_admin+p")
                .arg(&privileged),
        );
        Bins { plain, privileged }
    })
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A test user with a fresh, empty home, held (by a lock) until dropped.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// For a user that only an NSS module knows: the dir whose
    /// `nsswitch.conf` and `extrausers/` each command of the user sees.
    nss: Option<PathBuf>,
    _lock: File,
}

/// The pool users' and the NSS user's lock files.
fn lock_file(name: &str) -> File {
    let locks = Path::new("/run/lock/cf-run-tests");
    fs::create_dir_all(locks).unwrap();
    File::create(locks.join(format!("{name}.lock"))).unwrap()
}

/// uid, gid and home of `name`, asked through getent: a dynamic program, so
/// that this static test binary never loads an NSS module itself (it would
/// crash in libnss_systemd for a name that /etc/passwd lacks).
fn passwd_of(name: &str) -> Option<(u32, u32, PathBuf)> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .unwrap();
    if out.status.code() == Some(2) {
        return None;
    }
    assert!(out.status.success(), "getent passwd {name}: {out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    let fields: Vec<&str> = line.trim_end().split(':').collect();
    Some((
        fields[2].parse().unwrap(),
        fields[3].parse().unwrap(),
        PathBuf::from(fields[5]),
    ))
}

/// The uid of the user that only libnss-extrausers knows; nothing else may hold it.
pub const NSS_UID: u32 = 64242;
/// The prefix of `TestUser::path` for cf-run's runtime state dir.
pub const RUNTIME: &str = "@run";

/// Where that user's NSS files and home live.
const NSS_DIR: &str = "/var/tmp/cf-run-nss";

impl TestUser {
    /// Takes a free user from the pool (creating it on first use) and empties its home.
    pub fn acquire() -> TestUser {
        require_root();
        let free = (0..POOL).find_map(|n| {
            let f = lock_file(&format!("user{n}"));
            f.try_lock().is_ok().then_some((n, f))
        });
        let (n, lock) = free.unwrap_or_else(|| {
            let f = lock_file("user0");
            f.lock().unwrap();
            (0, f)
        });
        let name = format!("cfrun-t{n}");
        let (uid, gid, home) = passwd_of(&name).unwrap_or_else(|| {
            // useradd serialises itself on /etc/passwd's lock.
            let out = Command::new("useradd")
                .args(["--create-home", "--shell", "/bin/sh", "--user-group", &name])
                .output()
                .unwrap();
            let exists = String::from_utf8_lossy(&out.stderr).contains("already exists");
            assert!(out.status.success() || exists, "useradd {name}: {out:?}");
            passwd_of(&name).unwrap()
        });
        TestUser::fresh(name, uid, gid, home, None, lock)
    }

    /// The user that only an NSS module knows, as on a host whose users come
    /// from sssd or LDAP: it is in no /etc/passwd, but in libnss-extrausers'
    /// files, which each of its commands sees through a test nsswitch.conf
    /// bound over the host's in a private mount namespace. That nsswitch.conf
    /// names Debian's default `systemd` module first: a static program that
    /// called NSS itself would load it, and crash.
    pub fn acquire_nss() -> TestUser {
        require_root();
        let lock = lock_file("nss");
        lock.lock().unwrap();
        let name = "cfrun-nss".to_string();
        assert!(
            !fs::read_to_string("/etc/passwd")
                .unwrap()
                .lines()
                .any(|l| l.split(':').nth(2) == Some(&NSS_UID.to_string())),
            "uid {NSS_UID} is in /etc/passwd: the NSS test needs it free"
        );
        let dir = PathBuf::from(NSS_DIR);
        let home = dir.join("home");
        let extra = dir.join("extrausers");
        fs::create_dir_all(&extra).unwrap();
        fs::create_dir_all(&home).unwrap();
        for d in [&dir, &extra] {
            chown(d, Some(0), Some(0)).unwrap();
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let db = "passwd: files systemd extrausers\ngroup: files systemd extrausers\n";
        fs::write(dir.join("nsswitch.conf"), db).unwrap();
        let entry = format!(
            "{name}:x:{NSS_UID}:{NSS_UID}:cf-run test:{}:/bin/sh\n",
            home.display()
        );
        fs::write(extra.join("passwd"), entry).unwrap();
        fs::write(extra.join("group"), format!("{name}:x:{NSS_UID}:\n")).unwrap();
        // The package makes this dir; the bind needs it as a mount point.
        fs::create_dir_all(EXTRAUSERS).unwrap();
        TestUser::fresh(name, NSS_UID, NSS_UID, home, Some(dir), lock)
    }

    /// Ends what the user left running and empties its home.
    fn fresh(
        name: String,
        uid: u32,
        gid: u32,
        home: PathBuf,
        nss: Option<PathBuf>,
        lock: File,
    ) -> TestUser {
        // Whatever an earlier test left running as this user goes first.
        let _ = Command::new("pkill")
            .args(["-KILL", "-U", &uid.to_string()])
            .status();
        // The kernel ends them (and a PID namespace's) asynchronously: none
        // may still be there when this test looks for its own.
        super::wait::wait_until("the user's earlier processes to end", || {
            super::procs::of_user(uid).is_empty()
        });
        // cf-run's runtime state of an earlier test, in either place.
        for dir in [
            PathBuf::from(format!("/tmp/cf-run-{uid}")),
            PathBuf::from(format!("/run/user/{uid}")),
        ] {
            if dir.is_dir() && !dir.is_symlink() {
                fs::remove_dir_all(&dir).unwrap();
            } else if dir.symlink_metadata().is_ok() {
                fs::remove_file(&dir).unwrap();
            }
        }
        fs::create_dir_all(&home).unwrap();
        for entry in fs::read_dir(&home).unwrap() {
            let path = entry.unwrap().path();
            // Leftovers from a killed run may still be covered in no namespace: plain removal.
            if path.is_dir() && !path.is_symlink() {
                fs::remove_dir_all(&path).unwrap();
            } else {
                fs::remove_file(&path).unwrap();
            }
        }
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        chown(&home, Some(uid), Some(gid)).unwrap();
        TestUser {
            name,
            uid,
            gid,
            home,
            nss,
            _lock: lock,
        }
    }

    /// `rel` in the user's home; `@run/...` in cf-run's runtime state dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        let (base, rest) = self.base(rel);
        base.join(rest)
    }

    /// cf-run's runtime state dir for this user: a test user has no logind
    /// runtime dir (unless a test makes one), so the fallback in /tmp.
    pub fn runtime(&self) -> PathBuf {
        PathBuf::from(format!("/tmp/cf-run-{}", self.uid))
    }

    fn base<'a>(&self, rel: &'a str) -> (PathBuf, &'a str) {
        match rel.strip_prefix(RUNTIME) {
            Some(rest) => (self.runtime(), rest.trim_start_matches('/')),
            None => (self.home.clone(), rel),
        }
    }

    /// Creates `rel` (and its parents) as a directory owned by the user.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        let (mut dir, rel) = self.base(rel);
        if !dir.exists() {
            fs::create_dir(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
            self.own(&dir);
        }
        for part in Path::new(rel).components() {
            dir.push(part);
            if !dir.exists() {
                fs::create_dir(&dir).unwrap();
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
                self.own(&dir);
            }
        }
        path
    }

    /// Writes the file `rel`, owned by the user, mode 0644.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = Path::new(rel)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            self.mkdir(parent.to_str().unwrap());
        }
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        self.own(&path);
        path
    }

    /// Makes `rel` a symlink to `target`, owned by the user.
    pub fn symlink(&self, rel: &str, target: impl AsRef<Path>) {
        symlink(target, self.path(rel)).unwrap();
        lchown(self.path(rel), Some(self.uid), Some(self.gid)).unwrap();
    }

    pub fn own(&self, path: &Path) {
        lchown(path, Some(self.uid), Some(self.gid)).unwrap();
    }

    /// The usual layout: two accounts, each with a `who` file and compte2 with
    /// credentials, a shared dir with a marker, and a config naming them.
    pub fn standard_layout(&self) {
        self.write(".claude-compte1/who", "compte1\n");
        self.write(
            ".claude-compte1/.credentials.json",
            "{\"secret\":\"one\"}\n",
        );
        self.write(".claude-compte2/who", "compte2\n");
        self.write(
            ".claude-compte2/.credentials.json",
            "{\"secret\":\"two\"}\n",
        );
        self.write(".claude-projects-shared/marker", "shared\n");
        self.config(STANDARD_CONFIG);
    }

    /// Puts a stand-in `claude` running `script` in ~/bin; returns a PATH
    /// that finds it first. Like the client, it takes the `--settings JSON`
    /// a namespace launch puts first (cf-run's statusline tap): `script`
    /// sees the arguments after it.
    pub fn fake_claude(&self, script: &str) -> String {
        let script = format!("if [ \"$1\" = --settings ]; then shift 2; fi\n{script}");
        self.write("bin/claude", &format!("#!/bin/sh\n{script}\n"));
        fs::set_permissions(self.path("bin/claude"), fs::Permissions::from_mode(0o755)).unwrap();
        format!("{}:/usr/bin:/bin", self.path("bin").display())
    }

    /// Writes the config at the default place, mode 0600.
    pub fn config(&self, text: &str) -> PathBuf {
        let path = self.write(".config/claude-failover/config.toml", text);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// Runs `bin args` as this user, from its home, with a clean login
    /// environment plus `env`.
    pub fn run_env(&self, bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(bin, args, env).output().unwrap()
    }

    pub fn run(&self, bin: &Path, args: &[&str]) -> Output {
        self.run_env(bin, args, &[])
    }

    /// The command that `run_env` runs, for tests that spawn it themselves.
    pub fn command(&self, bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = match &self.nss {
            None => Command::new("setpriv"),
            Some(_) => {
                let mut cmd = self.nss_world();
                cmd.arg("setpriv");
                cmd
            }
        };
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--init-groups", "--reset-env", "--", "env"])
            .args(env.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(bin)
            .args(args)
            .current_dir(&self.home)
            .stdin(Stdio::null());
        cmd
    }

    /// For the NSS user: a command that runs its arguments as root in a
    /// private mount namespace where the user's nsswitch.conf and extrausers
    /// files stand in for the host's.
    pub fn nss_world(&self) -> Command {
        let dir = self
            .nss
            .as_ref()
            .expect("nss_world is for acquire_nss's user");
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind \"$0/nsswitch.conf\" /etc/nsswitch.conf && \
                 mount --bind \"$0/extrausers\" {EXTRAUSERS} && exec \"$@\""
            ))
            .arg(dir);
        cmd
    }

    /// Like `command`, but in a private mount namespace where `policy_dir`
    /// is bound over /etc/claude-failover: the real binary reads its fixed
    /// policy path, and no other test sees that policy.
    pub fn command_under_policy(&self, policy_dir: &Path, bin: &Path, args: &[&str]) -> Command {
        fs::create_dir_all(POLICY_DIR).unwrap();
        let inner = self.command(bin, args, &[]);
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!("mount --bind \"$0\" {POLICY_DIR} && exec \"$@\""))
            .arg(policy_dir)
            .arg(inner.get_program())
            .args(inner.get_args())
            .current_dir(&self.home)
            .stdin(Stdio::null());
        cmd
    }

    /// Everything under the home: type, mode, owner, size, content or link target.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        let mut todo = vec![self.home.clone()];
        while let Some(dir) = todo.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let meta = fs::symlink_metadata(&path).unwrap();
                let what = if meta.is_symlink() {
                    format!("link -> {}", fs::read_link(&path).unwrap().display())
                } else if meta.is_dir() {
                    todo.push(path.clone());
                    "dir".into()
                } else {
                    format!("file {:?}", fs::read(&path).unwrap())
                };
                let key = path.strip_prefix(&self.home).unwrap().to_path_buf();
                out.insert(
                    key,
                    format!("{what} mode {:o} uid {}", meta.mode(), meta.uid()),
                );
            }
        }
        out
    }
}

/// Where cf-run reads the admin's policy (a fixed path, by design).
pub const POLICY_DIR: &str = "/etc/claude-failover";

pub const STANDARD_CONFIG: &str = r#"shared_projects = "~/.claude-projects-shared"

[accounts.compte1]
dir = "~/.claude-compte1"

[accounts.compte2]
dir = "~/.claude-compte2"
"#;

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The mounts this (test) process sees: proof that nothing leaked out of a session.
pub fn host_mounts() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap()
}
