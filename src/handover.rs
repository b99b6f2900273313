//! Handing a session to another account: what the next account's client
//! needs so that `claude --resume` goes straight on instead of stopping at a
//! first-run screen or the folder's trust dialog (whose default in 2.1.332
//! is "No, exit"). Trust and first-run state are per account, in
//! `<account>/.claude.json`, which the account's running clients also write:
//! under their lock (`.claude.json.lock`, a directory, as proper-lockfile
//! makes it), to a temp file renamed into place. cf-run does the same, and
//! changes only the keys it carries.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

const FILE: &str = ".claude.json";

/// How an account logs in, as far as its dir and the config say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// A subscription (`.credentials.json`), with its plan if it names one.
    Subscription(Option<String>),
    /// A key from a command in its settings (`apiKeyHelper`).
    KeyHelper,
    /// A key in its settings' or the config's environment.
    ApiKey,
    None,
}

impl Login {
    pub fn of(dir: &Path, env: &[(String, String)]) -> Login {
        let settings = read_bounded(&dir.join("settings.json")).unwrap_or_default();
        let settings = String::from_utf8_lossy(&settings);
        if let Ok(bytes) = read_bounded(&dir.join(".credentials.json")) {
            let creds: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let plan = creds["claudeAiOauth"]["subscriptionType"].as_str();
            return Login::Subscription(plan.map(str::to_owned));
        }
        if settings.contains("apiKeyHelper") {
            Login::KeyHelper
        } else if ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"]
            .iter()
            .any(|key| settings.contains(key))
            || env
                .iter()
                .any(|(name, _)| crate::environ::is_credential(name))
        {
            Login::ApiKey
        } else {
            Login::None
        }
    }

    /// How `cf-run accounts` names it.
    pub fn name(&self) -> &'static str {
        match self {
            Login::Subscription(_) => "subscription",
            Login::KeyHelper => "key helper",
            Login::ApiKey => "API key",
            Login::None => "none",
        }
    }
}

/// Whether the account at `dir` has ever logged in: a subscription login
/// (`.credentials.json`) or a key in its settings or in the config.
pub fn logged_in(dir: &Path, env: &[(String, String)]) -> bool {
    Login::of(dir, env) != Login::None
}

/// Carries into `to`'s `.claude.json` the first-run flag and the trust of
/// the folder `cwd` that `from`'s has and `to`'s lacks. `from` trusts `cwd`
/// as its client does: when it trusts `cwd` or any folder above it. `to`
/// is given the trust of `cwd` alone, no more than the session needs.
pub fn carry(from: &Path, to: &Path, cwd: &Path) -> Result<()> {
    let source = read(&from.join(FILE))?;
    let folder = cwd.to_string_lossy();
    let trusted = cwd
        .ancestors()
        .any(|dir| source["projects"][&*dir.to_string_lossy()]["hasTrustDialogAccepted"] == true);
    let onboarded = source["hasCompletedOnboarding"] == true;
    if !trusted && !onboarded {
        return Ok(());
    }
    let _lock = Lock::take(to)?;
    let path = to.join(FILE);
    let mut target = match read(&path)? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if onboarded {
        target.insert("hasCompletedOnboarding".into(), true.into());
    }
    if trusted {
        let projects = target
            .entry("projects")
            .or_insert_with(|| Map::new().into());
        if let Some(projects) = projects.as_object_mut() {
            let project = projects
                .entry(folder.into_owned())
                .or_insert_with(|| Map::new().into());
            if let Some(project) = project.as_object_mut() {
                project.insert("hasTrustDialogAccepted".into(), true.into());
            }
        }
    }
    let tmp = to.join(format!("{FILE}.tmp.cf-run.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(&Value::Object(target))?;
    write_new(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot replace {}", path.display())
    })
}

/// Writes `bytes` to the new file `path`, mode 0600 as the client keeps it.
/// Never through what is there already (a link planted under the temp name
/// would lead the write to a transcript): that name is unlinked first.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    };
    let mut file = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(path)?;
            create()?
        }
        file => file?,
    };
    file.write_all(bytes)
}

/// A `.claude.json` as JSON; an absent one is empty.
fn read(path: &Path) -> Result<Value> {
    match read_bounded(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON; leaving it as it is", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The most of an account's file cf-run reads: `.claude.json` grows with
/// every project, but not to this.
const MAX_FILE: u64 = 64 << 20;

/// Reads the file at `path`: a session of the account may have written it,
/// so only a regular file, not through a final symlink, never blocking on
/// a FIFO, and at most `MAX_FILE` bytes.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE), &mut bytes)?;
    Ok(bytes)
}

/// The clients' own lock on an account's `.claude.json`, held while cf-run
/// writes it.
struct Lock(std::path::PathBuf);

impl Lock {
    fn take(dir: &Path) -> Result<Lock> {
        let path = dir.join(format!("{FILE}.lock"));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Lock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() > deadline {
                        bail!(
                            "{} stayed locked by a client of that account for 5 s",
                            path.display()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e).with_context(|| format!("mkdir({})", path.display())),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_trust_and_first_run_and_keeps_the_rest() {
        let root = std::env::temp_dir().join(format!("cf-run-handover-{}", std::process::id()));
        let (from, to) = (root.join("from"), root.join("to"));
        std::fs::create_dir_all(&from).unwrap();
        std::fs::create_dir_all(&to).unwrap();
        let source = r#"{"hasCompletedOnboarding":true,"projects":{"/w/p":{"hasTrustDialogAccepted":true,"x":1}}}"#;
        std::fs::write(from.join(FILE), source).unwrap();
        std::fs::write(
            to.join(FILE),
            r#"{"numStartups":3,"projects":{"/other":{"a":2}}}"#,
        )
        .unwrap();
        carry(&from, &to, Path::new("/w/p")).unwrap();
        let got: Value = serde_json::from_slice(&std::fs::read(to.join(FILE)).unwrap()).unwrap();
        assert_eq!(got["numStartups"], 3);
        assert_eq!(got["hasCompletedOnboarding"], true);
        assert_eq!(got["projects"]["/w/p"]["hasTrustDialogAccepted"], true);
        assert_eq!(
            got["projects"]["/w/p"]["x"],
            Value::Null,
            "only the trust is carried"
        );
        assert_eq!(got["projects"]["/other"]["a"], 2);
        assert!(!to.join(".claude.json.lock").exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(to.join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_folder_under_a_trusted_one_is_trusted_as_the_client_finds_it() {
        let root = std::env::temp_dir().join(format!("cf-run-handover-sub-{}", std::process::id()));
        let (from, to) = (root.join("from"), root.join("to"));
        std::fs::create_dir_all(&from).unwrap();
        std::fs::create_dir_all(&to).unwrap();
        let source = r#"{"projects":{"/w":{"hasTrustDialogAccepted":true},"/w/a/b":{"hasTrustDialogAccepted":false}}}"#;
        std::fs::write(from.join(FILE), source).unwrap();
        carry(&from, &to, Path::new("/w/sub/deeper")).unwrap();
        let got: Value = serde_json::from_slice(&std::fs::read(to.join(FILE)).unwrap()).unwrap();
        assert_eq!(
            got["projects"]["/w/sub/deeper"]["hasTrustDialogAccepted"],
            true
        );
        assert_eq!(
            got["projects"]["/w"],
            Value::Null,
            "only the cwd is trusted"
        );
        std::fs::remove_file(to.join(FILE)).unwrap();
        carry(&from, &to, Path::new("/elsewhere")).unwrap();
        assert!(!to.join(FILE).exists(), "nothing to carry");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_link_under_the_temp_name_is_never_written_through() {
        let root =
            std::env::temp_dir().join(format!("cf-run-handover-link-{}", std::process::id()));
        let (from, to) = (root.join("from"), root.join("to"));
        std::fs::create_dir_all(&from).unwrap();
        std::fs::create_dir_all(&to).unwrap();
        std::fs::write(from.join(FILE), r#"{"hasCompletedOnboarding":true}"#).unwrap();
        let transcript = root.join("t.jsonl");
        std::fs::write(&transcript, "turn\n").unwrap();
        let tmp = to.join(format!("{FILE}.tmp.cf-run.{}", std::process::id()));
        std::os::unix::fs::symlink(&transcript, &tmp).unwrap();
        carry(&from, &to, Path::new("/w")).unwrap();
        assert_eq!(std::fs::read_to_string(&transcript).unwrap(), "turn\n");
        let got: Value = serde_json::from_slice(&std::fs::read(to.join(FILE)).unwrap()).unwrap();
        assert_eq!(got["hasCompletedOnboarding"], true);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
