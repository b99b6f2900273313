//! The config file: where it is, whether it is safe to read, and what it says.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use indexmap::IndexMap;
use nix::unistd::Uid;
use serde::Deserialize;

use crate::mode::ModeChoice;
use crate::resolve::{self, Refusal, Why};
use crate::usage::Thresholds;

/// One Claude Code account: a name, its config dir, and the variables its
/// sessions get (say a key for the account, from `[accounts.NAME.env]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

/// A checked config: absolute, normalised paths that neither repeat nor nest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The shared transcripts dir, bound over `~/.claude/projects`.
    pub shared_projects: PathBuf,
    /// `<home>/.claude`, where the chosen account's dir is bound.
    pub target: PathBuf,
    pub mode: ModeChoice,
    /// Let setuid programs elevate inside sessions (no no_new_privs); only
    /// where the admin's policy allows it.
    pub setuid: bool,
    /// `private_tmp`: whether each namespace session gets an empty /tmp of
    /// its own; unset, it does.
    pub private_tmp: Option<bool>,
    /// Sockets of the user's services (`sockets`) that sessions reach on
    /// purpose, though their /tmp or runtime dir is their own.
    pub sockets: Vec<PathBuf>,
    /// In the order written: the failover order.
    pub accounts: Vec<Account>,
    /// Further dirs under `~/.claude/` shared by every account, from `[share]`.
    pub extra_shares: Vec<Share>,
    /// When `--failover` moves a session before the limit, from `[failover]`.
    pub thresholds: Thresholds,
}

/// The transcripts' dir under `~/.claude/`, which `shared_projects` replaces.
pub const PROJECTS: &str = "projects";

/// A dir under `~/.claude/` that every account sees the same: `projects`
/// (from `shared_projects`) or an entry of `[share]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Its name under `~/.claude/`.
    pub name: String,
    /// The real dir bound there.
    pub dir: PathBuf,
    /// Whether sessions may write it: a dir the client runs code from is
    /// read-only in sessions unless the config says `writable = true`.
    pub writable: bool,
}

/// What `[share]` may name from which the client runs code (slash commands'
/// inline shell, agents' hooks and MCP servers, skills, plugins' hooks): one
/// account's session writing there would run code in the next account's.
pub const CODE_SHARES: [&str; 4] = ["agents", "commands", "skills", "plugins"];

impl Share {
    /// Whether sessions get this share read-only.
    pub fn read_only(&self) -> bool {
        !self.writable && CODE_SHARES.contains(&self.name.as_str())
    }
}

/// What `[share]` may name: directories Claude keeps per session or per user
/// that a resume on another account wants. Never files: binding a file over
/// Claude's breaks its atomic writes.
pub const SHAREABLE: [&str; 8] = [
    "file-history",
    "plans",
    "tasks",
    "todos",
    "agents",
    "commands",
    "skills",
    "plugins",
];

/// The keys of the config's top level, outside any `[table]`.
const TOP_LEVEL: [&str; 5] = [
    "shared_projects",
    "mode",
    "setuid",
    "private_tmp",
    "sockets",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    shared_projects: String,
    #[serde(default)]
    mode: ModeChoice,
    #[serde(default)]
    setuid: bool,
    #[serde(default)]
    private_tmp: Option<bool>,
    #[serde(default)]
    sockets: Vec<String>,
    accounts: IndexMap<String, RawAccount>,
    #[serde(default)]
    share: IndexMap<String, RawShare>,
    failover: Option<RawFailover>,
}

/// `[failover]`: the share (percent) of each window at which a session
/// moves to an account with more room once its turn has ended.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFailover {
    five_hour: Option<u8>,
    seven_day: Option<u8>,
}

/// A `[share]` entry: its dir, or `{ dir = "...", writable = true }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawShare {
    Dir(String),
    Table {
        dir: String,
        #[serde(default)]
        writable: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    dir: String,
    #[serde(default)]
    env: IndexMap<String, String>,
}

/// The config's text, read as [`Config::load`] reads it.
pub fn text(path: &Path, uid: Uid) -> Result<String> {
    let owners = format!("you (uid {uid}) or root");
    let Some(text) = resolve::read_trusted(path, &[uid.as_raw(), 0], &owners, "config")? else {
        let message = format!(
            "config {} does not exist; write it with cf-run init (cf-run init --shared \
             ~/.claude-shared/projects --account NAME=~/.claude-NAME ...; cf-run init --help), or name \
             another file with --config FILE",
            path.display()
        );
        return Err(Refusal::error(Why::Missing, message));
    };
    Ok(text)
}

/// Writes the config at `path` (mode 0600, its dir made 0700 if missing):
/// a new file renamed over the old, so a crash leaves one or the other.
pub fn write(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let shown = path.display();
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        bail!("{shown} is not a file path");
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".cf-init");
    let tmp = dir.join(tmp_name);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", tmp.display()));
        }
        _ => {}
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename({}, {shown})", tmp.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync({})", dir.display()))
}

/// Where the config is: `--config`, else `$CF_RUN_CONFIG`, else
/// `$XDG_CONFIG_HOME/claude-failover/config.toml`, else under `<home>/.config`.
/// The environment only selects a file; `load` then checks it like any other.
pub fn locate(flag: Option<&Path>, var: impl Fn(&str) -> Option<OsString>, home: &Path) -> PathBuf {
    let set = |name| var(name).filter(|v| !v.is_empty());
    if let Some(path) = flag {
        return path.to_path_buf();
    }
    if let Some(path) = set("CF_RUN_CONFIG") {
        return path.into();
    }
    let base = set("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home.join(".config"));
    base.join("claude-failover/config.toml")
}

impl Config {
    /// Reads and checks the config at `path`: a regular file reached without
    /// symlinks, owned by `uid` or root, writable by nobody else.
    pub fn load(path: &Path, uid: Uid, home: &Path) -> Result<Self> {
        let text = text(path, uid)?;
        Self::parse(&text, home).with_context(|| format!("config {}", path.display()))
    }

    /// Parses and checks config text; `home` is the invoking user's home.
    pub fn parse(text: &str, home: &Path) -> Result<Self> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message.trim_end();
            // A top-level key written below a table belongs to that table.
            let misplaced = TOP_LEVEL.iter().find(|key| {
                message.contains(&format!("unknown field `{key}`"))
                    || message.contains(&format!("| {key} ="))
            });
            match misplaced {
                Some(key) => {
                    anyhow!("{message}\n{key} is a top-level key: write it above the first [table]")
                }
                None => anyhow!("{message}"),
            }
        })?;
        if raw.accounts.is_empty() {
            bail!("no accounts: add at least one [accounts.NAME] table with a dir");
        }
        let accounts = raw
            .accounts
            .into_iter()
            .map(|(name, acc)| {
                check_name(&name)?;
                let dir = expand(&acc.dir, home).with_context(|| format!("accounts.{name}.dir"))?;
                for var in acc.env.keys() {
                    if !crate::environ::is_name(var) || var == crate::environ::CONFIG_DIR_VAR {
                        bail!(
                            "accounts.{name}.env: {var:?} cannot be set here: use a plain variable name other than {}, which cf-run sets",
                            crate::environ::CONFIG_DIR_VAR
                        );
                    }
                }
                let env = acc.env.into_iter().collect();
                Ok(Account { name, dir, env })
            })
            .collect::<Result<Vec<_>>>()?;
        let config = Config {
            shared_projects: expand(&raw.shared_projects, home).context("shared_projects")?,
            target: home.join(".claude"),
            mode: raw.mode,
            setuid: raw.setuid,
            private_tmp: raw.private_tmp,
            sockets: raw
                .sockets
                .iter()
                .map(|raw| {
                    let path = expand(raw, home).context("sockets")?;
                    if !(path.starts_with("/tmp") || path.starts_with("/run/user")) {
                        bail!(
                            "sockets: {} is neither in /tmp nor in /run/user: sessions reach it \
                             anyway; leave it out",
                            path.display()
                        );
                    }
                    Ok(path)
                })
                .collect::<Result<_>>()?,
            accounts,
            thresholds: Self::thresholds(raw.failover)?,
            extra_shares: raw
                .share
                .into_iter()
                .map(|(name, share)| {
                    let (dir, writable) = match share {
                        RawShare::Dir(dir) => (dir, false),
                        RawShare::Table { dir, writable } => (dir, writable),
                    };
                    if !SHAREABLE.contains(&name.as_str()) {
                        bail!(
                            "[share] {name:?} cannot be shared; allowed: {} (projects has its own key, shared_projects)",
                            SHAREABLE.join(", ")
                        );
                    }
                    let dir = expand(&dir, home).with_context(|| format!("share.{name}"))?;
                    Ok(Share {
                        name,
                        dir,
                        writable,
                    })
                })
                .collect::<Result<_>>()?,
        };
        config.check_disjoint()?;
        Ok(config)
    }

    /// `[failover]`'s thresholds, each from 1 to 100; unset, the defaults.
    fn thresholds(raw: Option<RawFailover>) -> Result<Thresholds> {
        let mut t = Thresholds::default();
        let Some(raw) = raw else { return Ok(t) };
        for (key, given, into) in [
            ("five_hour", raw.five_hour, &mut t.five_hour),
            ("seven_day", raw.seven_day, &mut t.seven_day),
        ] {
            if let Some(value) = given {
                if !(1..=100).contains(&value) {
                    bail!(
                        "[failover] {key} = {value}: give a share of the window from 1 to 100 \
                         (percent; 100 moves only at the limit)"
                    );
                }
                *into = value;
            }
        }
        Ok(t)
    }

    /// Every shared dir, `projects` first.
    pub fn all_shares(&self) -> Vec<Share> {
        let projects = Share {
            name: PROJECTS.into(),
            dir: self.shared_projects.clone(),
            writable: true,
        };
        std::iter::once(projects)
            .chain(self.extra_shares.iter().cloned())
            .collect()
    }

    /// The account called `name`, or an error listing the known ones.
    pub fn account(&self, name: &str) -> Result<&Account> {
        self.accounts
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| {
                let known: Vec<_> = self.accounts.iter().map(|a| a.name.as_str()).collect();
                anyhow!(
                    "unknown account {name:?}; the config has: {}",
                    known.join(", ")
                )
            })
    }

    /// Account dirs, the shared dir and the mount target must be distinct and
    /// must not contain one another: a bind over one would hide or expose another.
    fn check_disjoint(&self) -> Result<()> {
        let mut dirs: Vec<(String, &Path)> = self
            .accounts
            .iter()
            .map(|a| (format!("account {:?}'s dir", a.name), a.dir.as_path()))
            .collect();
        dirs.push(("shared_projects".into(), &self.shared_projects));
        dirs.extend(
            self.extra_shares
                .iter()
                .map(|s| (format!("share.{}", s.name), s.dir.as_path())),
        );
        dirs.push(("the mount target ~/.claude".into(), &self.target));
        // Sorted by components, a dir that contains others comes right before
        // one of them: neighbours are all there is to compare (n log n, not n²).
        dirs.sort_by(|a, b| a.1.cmp(b.1));
        for pair in dirs.windows(2) {
            let ((a_name, a), (b_name, b)) = (&pair[0], &pair[1]);
            let (a_shown, b_shown) = (a.display(), b.display());
            if a == b {
                bail!(
                    "{a_name} and {b_name} are the same directory ({a_shown}); give each its own"
                );
            }
            if b.starts_with(a) {
                bail!(
                    "{b_name} ({b_shown}) is inside {a_name} ({a_shown}); they must not contain one another: move one elsewhere"
                );
            }
        }
        Ok(())
    }
}

/// Account names appear in messages, the registry and file names later: keep them plain.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !name.starts_with(['.', '-']);
    if !ok {
        bail!(
            "account name {name:?} is not allowed: use up to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        );
    }
    Ok(())
}

/// Expands a leading `~` to `home` and normalises the path; it must then be
/// absolute and free of `..`.
fn expand(raw: &str, home: &Path) -> Result<PathBuf> {
    if raw.contains('\0') {
        bail!("{raw:?} contains a NUL byte");
    }
    let path = match raw.strip_prefix('~') {
        Some("") => home.to_path_buf(),
        Some(rest) if rest.starts_with('/') => home.join(rest.trim_start_matches('/')),
        Some(_) => bail!("{raw:?}: only ~ or ~/... (your own home) is understood, not ~user"),
        None => PathBuf::from(raw),
    };
    if !path.is_absolute() {
        bail!("{raw:?} is a relative path; write it absolute or starting with ~/");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        bail!("{raw:?} contains '..'; write the plain absolute path");
    }
    // Drops repeated and trailing slashes and `.` components.
    Ok(path.components().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_pages_sample_config_parses() {
        let text = include_str!("../docs/config.sample.toml");
        let c = Config::parse(text, Path::new("/home/u")).unwrap();
        let names: Vec<_> = c.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["main", "work"]);
        assert_eq!(
            c.thresholds,
            Thresholds {
                five_hour: 90,
                seven_day: 95
            }
        );
        assert!(
            c.extra_shares
                .iter()
                .any(|s| s.name == "commands" && !s.writable)
        );
    }

    #[test]
    fn failover_thresholds_are_shares_from_1_to_100() {
        let base = "shared_projects = \"~/s\"\n[accounts.a]\ndir = \"~/a\"\n";
        let parse = |extra: &str| Config::parse(&format!("{base}{extra}"), Path::new("/home/u"));
        assert_eq!(parse("").unwrap().thresholds, Thresholds::default());
        let c = parse("[failover]\nfive_hour = 80\n").unwrap();
        assert_eq!(
            c.thresholds,
            Thresholds {
                five_hour: 80,
                seven_day: 95
            }
        );
        for bad in [
            "five_hour = 0",
            "seven_day = 101",
            "five_hour = 90.5",
            "other = 1",
        ] {
            assert!(parse(&format!("[failover]\n{bad}\n")).is_err(), "{bad}");
        }
    }

    const HOME: &str = "/home/u";

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new(HOME))
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    const GOOD: &str = r#"
shared_projects = "~/.claude-projects-shared"

[accounts.zeta]
dir = "~/.claude-zeta"

[accounts.alpha]
dir = "/srv/claude//alpha/"
"#;

    #[test]
    fn parses_expands_and_keeps_account_order() {
        let c = parse(GOOD).unwrap();
        assert_eq!(
            c.shared_projects,
            Path::new("/home/u/.claude-projects-shared")
        );
        assert_eq!(c.target, Path::new("/home/u/.claude"));
        assert_eq!(c.mode, ModeChoice::Auto);
        let names: Vec<_> = c.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        assert_eq!(c.accounts[1].dir, Path::new("/srv/claude/alpha"));
    }

    #[test]
    fn an_account_may_set_plain_variables_but_not_the_config_dir() {
        let c = parse(&format!(
            "{GOOD}[accounts.alpha.env]\nANTHROPIC_API_KEY = \"k\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.accounts[1].env,
            [("ANTHROPIC_API_KEY".into(), "k".into())]
        );
        assert!(c.accounts[0].env.is_empty());
        for bad in ["CLAUDE_CONFIG_DIR", "\"A-B\"", "\"\""] {
            let e = err(&format!("{GOOD}[accounts.alpha.env]\n{bad} = \"x\"\n"));
            assert!(
                e.contains("accounts.alpha.env") && e.contains("cannot be set here"),
                "{e}"
            );
        }
    }

    #[test]
    fn nesting_is_found_among_many_accounts() {
        let mut text = String::from("shared_projects = \"~/s\"\n");
        for i in 0..20_000 {
            text.push_str(&format!("[accounts.a{i}]\ndir = \"~/acc/{i}\"\n"));
        }
        assert_eq!(parse(&text).unwrap().accounts.len(), 20_000);
        let nested = format!("{text}[accounts.inner]\ndir = \"~/acc/123/x\"\n");
        let e = err(&nested);
        assert!(
            e.contains("account \"inner\"'s dir") && e.contains("is inside account \"a123\"'s dir"),
            "{e}"
        );
        let e = err(&format!("{text}[accounts.twin]\ndir = \"~/acc/7\"\n"));
        assert!(e.contains("are the same directory"), "{e}");
    }

    #[test]
    fn reads_the_mode() {
        let c = parse(&format!("mode = \"symlink\"\n{GOOD}")).unwrap();
        assert_eq!(c.mode, ModeChoice::Symlink);
        assert!(err(&format!("mode = \"chroot\"\n{GOOD}")).contains("chroot"));
    }

    #[test]
    fn unknown_keys_name_line_and_column() {
        let e = err(&format!(
            "{GOOD}\n[accounts.beta]\ndir = \"~/b\"\ncolour = 1\n"
        ));
        assert!(e.contains("line 12"), "{e}");
        assert!(e.contains("column 1"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn a_top_level_key_below_a_table_is_named_as_one() {
        for table in [
            "[accounts.beta]\ndir = \"~/b\"\n",
            "[accounts.beta.env]\nA = \"b\"\n",
        ] {
            let e = err(&format!("{GOOD}\n{table}private_tmp = true\n"));
            assert!(
                e.ends_with("private_tmp is a top-level key: write it above the first [table]"),
                "{e}"
            );
        }
        let e = err(&format!(
            "{GOOD}\n[accounts.beta]\ndir = \"~/b\"\ncolour = 1\n"
        ));
        assert!(!e.contains("top-level"), "{e}");
    }

    #[test]
    fn bad_toml_names_line_and_column() {
        let e = err("shared_projects = \"~/s\"\n[accounts.a\n");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn needs_accounts_and_shared_dir() {
        assert!(err("shared_projects = \"~/s\"\n[accounts]\n").contains("no accounts"));
        assert!(err("[accounts.a]\ndir = \"~/a\"\n").contains("shared_projects"));
    }

    #[test]
    fn refuses_relative_dotdot_tilde_user_and_nul() {
        for bad in ["claude-a", "~/x/../../etc", "~root/.claude", "/a\\u0000b"] {
            let e = err(&format!(
                "shared_projects = \"~/s\"\n[accounts.a]\ndir = \"{bad}\"\n"
            ));
            assert!(e.contains("accounts.a.dir"), "{bad}: {e}");
        }
    }

    #[test]
    fn refuses_odd_account_names() {
        for bad in ["\"a/b\"", "\"..\"", "\"-x\"", "\"a b\""] {
            let e = err(&format!(
                "shared_projects = \"~/s\"\n[accounts.{bad}]\ndir = \"~/a\"\n"
            ));
            assert!(e.contains("is not allowed"), "{bad}: {e}");
        }
    }

    #[test]
    fn refuses_repeated_or_nested_dirs() {
        let cases = [
            ("~/a", "~/a", "~/s", "same directory"),
            ("~/a", "~/a/b", "~/s", "inside"),
            ("~/a", "~/b", "~/a/projects", "inside"),
            ("~/a", "~/b", "~/.claude/projects", "~/.claude"),
            ("~", "/srv/b", "/srv/s", "~/.claude"),
            ("~/.claude", "~/b", "~/s", "same directory"),
        ];
        for (a, b, shared, want) in cases {
            let text = format!(
                "shared_projects = \"{shared}\"\n[accounts.a]\ndir = \"{a}\"\n[accounts.b]\ndir = \"{b}\"\n"
            );
            let e = err(&text);
            assert!(e.contains(want), "{a} {b} {shared}: {e}");
        }
    }

    #[test]
    fn sockets_are_those_a_session_dir_of_its_own_would_hide() {
        let c = parse(&format!(
            "sockets = [\"/run/user/1/gnupg/S.x\", \"/tmp/ssh-a/agent.1\"]{GOOD}"
        ))
        .unwrap();
        assert_eq!(
            c.sockets,
            [
                PathBuf::from("/run/user/1/gnupg/S.x"),
                PathBuf::from("/tmp/ssh-a/agent.1")
            ]
        );
        let e = err(&format!("sockets = [\"~/agent.sock\"]{GOOD}"));
        assert!(
            e.contains("/home/u/agent.sock is neither in /tmp nor in /run/user"),
            "{e}"
        );
        assert!(parse(GOOD).unwrap().sockets.is_empty());
    }

    #[test]
    fn reads_the_share_table_and_refuses_other_names() {
        let c = parse(&format!(
            "{GOOD}\n[share]\nplans = \"~/sh/plans\"\nfile-history = \"/srv/fh\"\n"
        ))
        .unwrap();
        let names: Vec<_> = c
            .all_shares()
            .into_iter()
            .map(|s| (s.name, s.dir))
            .collect();
        assert_eq!(
            names,
            [
                (
                    "projects".into(),
                    PathBuf::from("/home/u/.claude-projects-shared")
                ),
                ("plans".into(), PathBuf::from("/home/u/sh/plans")),
                ("file-history".into(), PathBuf::from("/srv/fh")),
            ]
        );
        for bad in ["projects", "sessions", ".credentials.json", "../x"] {
            let e = err(&format!("{GOOD}\n[share]\n\"{bad}\" = \"~/x\"\n"));
            assert!(
                e.contains("cannot be shared") && e.contains("file-history, plans"),
                "{bad}: {e}"
            );
        }
        let e = err(&format!(
            "{GOOD}\n[share]\nplans = \"~/.claude-zeta/plans\"\n"
        ));
        assert!(
            e.contains("share.plans") && e.contains("inside account"),
            "{e}"
        );
        let e = err(&format!(
            "{GOOD}\n[share]\nplans = \"~/.claude-projects-shared\"\n"
        ));
        assert!(e.contains("same directory"), "{e}");
        let e = err(&format!("{GOOD}\n[share]\nplans = \"plans\"\n"));
        assert!(e.contains("share.plans") && e.contains("relative"), "{e}");
    }

    #[test]
    fn unknown_account_lists_the_known_ones() {
        let c = parse(GOOD).unwrap();
        let e = c.account("beta").unwrap_err().to_string();
        assert!(e.contains("\"beta\"") && e.contains("zeta, alpha"), "{e}");
    }

    proptest::proptest! {
        /// Any text, config-shaped or not, gives a config or an error: never a panic.
        #[test]
        fn parse_never_panics(text in "\\PC*") {
            let _ = parse(&text);
        }

        #[test]
        fn parse_never_panics_on_config_shaped_text(
            shared in "[~/a-z.\\\\\"\\u{0}]{0,12}",
            names in proptest::collection::vec("[a-z.\"\\- ]{0,6}", 0..4),
            dirs in proptest::collection::vec("[~/a-z.\\\\]{0,12}", 0..4),
            mode in "[a-z]{0,10}",
        ) {
            let mut text = format!("shared_projects = \"{shared}\"\nmode = \"{mode}\"\n");
            for (n, d) in names.iter().zip(&dirs) {
                text += &format!("[accounts.\"{n}\"]\ndir = \"{d}\"\n");
            }
            if let Ok(c) = parse(&text) {
                // Whatever parses is absolute, ..-free and disjoint.
                for a in &c.accounts {
                    proptest::prop_assert!(a.dir.is_absolute());
                    proptest::prop_assert!(!a.dir.starts_with(&c.shared_projects) && !c.shared_projects.starts_with(&a.dir));
                }
            }
        }
    }

    #[test]
    fn locate_prefers_flag_then_env_then_xdg() {
        let home = Path::new(HOME);
        let env = |pairs: &'static [(&str, &str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all = env(&[("CF_RUN_CONFIG", "/e.toml"), ("XDG_CONFIG_HOME", "/x")]);
        assert_eq!(
            locate(Some(Path::new("f.toml")), all, home),
            Path::new("f.toml")
        );
        assert_eq!(locate(None, all, home), Path::new("/e.toml"));
        let xdg = env(&[("XDG_CONFIG_HOME", "/x")]);
        assert_eq!(
            locate(None, xdg, home),
            Path::new("/x/claude-failover/config.toml")
        );
        let rel = env(&[("XDG_CONFIG_HOME", "rel")]);
        let default = Path::new("/home/u/.config/claude-failover/config.toml");
        assert_eq!(locate(None, rel, home), default);
        assert_eq!(locate(None, env(&[]), home), default);
    }
}
