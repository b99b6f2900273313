//! `cf-run accounts`: each account of the config, in its order: how it logs
//! in, its last known usage, its cool-down and its live sessions;
//! `--clear-cooldown`, which ends a cool-down the user knows is over; and
//! `add` and `remove`, which edit the config in place.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::config::{self, Config};
use crate::handover::Login;
use crate::output::{local, printable};
use crate::resolve::{self, Entry};
use crate::session::{self, State};
use crate::usage::{Known, Limits, Usage, Window};
use crate::user::User;

pub fn show(config: &Config, state: &State, as_json: bool) -> Result<()> {
    let limits = Limits::load(state)?;
    let known = Known::load(state);
    let live = session::live(state)?;
    let now = Timestamp::now();
    let rows: Vec<Value> = config
        .accounts
        .iter()
        .map(|account| {
            let login = Login::of(&account.dir, &account.env);
            let plan = match &login {
                Login::Subscription(plan) => plan.clone(),
                _ => None,
            };
            let usage = known.of(&account.name);
            let window = |pick: fn(&Usage) -> Option<Window>| {
                usage.and_then(|u| pick(u).map(|w| (w, u.seen)))
            };
            let window_json = |w: Option<(Window, Timestamp)>| match w {
                Some((w, seen)) => json!({
                    "used_percentage": w.used(now),
                    "resets_at": w.resets().to_string(),
                    "seen": seen.to_string(),
                }),
                None => Value::Null,
            };
            json!({
                "name": account.name,
                "login": login.name(),
                "plan": plan,
                "five_hour": window_json(window(|u| u.five_hour)),
                "seven_day": window_json(window(|u| u.seven_day)),
                "cooling_until": limits.cooling(&account.name, now).map(|t| t.to_string()),
                "live": live.iter().filter(|r| r.account == account.name).count(),
            })
        })
        .collect();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for row in &rows {
        println!("{}", printable(&line(row)));
    }
    Ok(())
}

/// One account as a line: `compte1  subscription (max)  five-hour 93%
/// (resets 21:19:03 CET)  seven-day 40% (...)  seen 20:01:02 CET  cooling
/// until ...  1 live`.
fn line(row: &Value) -> String {
    let mut parts = vec![format!("{:<12}", row["name"].as_str().unwrap_or_default())];
    let login = row["login"].as_str().unwrap_or_default();
    parts.push(match row["plan"].as_str() {
        Some(plan) => format!("{login} ({plan})"),
        None if login == "none" => "never logged in".into(),
        None => login.into(),
    });
    let mut seen = None;
    for (key, name) in [("five_hour", "five-hour"), ("seven_day", "seven-day")] {
        let w = &row[key];
        match (w["used_percentage"].as_f64(), time(&w["resets_at"])) {
            (Some(used), Some(resets)) => {
                parts.push(format!("{name} {used:.0}% (resets {resets})"));
                seen = time(&w["seen"]);
            }
            _ => parts.push(format!("{name} unknown")),
        }
    }
    if let Some(seen) = seen {
        parts.push(format!("seen {seen}"));
    }
    if let Some(until) = time(&row["cooling_until"]) {
        parts.push(format!("cooling down until {until}"));
    }
    parts.push(format!("{} live", row["live"]));
    parts.join("  ")
}

fn time(value: &Value) -> Option<String> {
    value.as_str()?.parse::<Timestamp>().ok().map(local)
}

/// `--dirs`: every dir of the config, one per line, as a backup tool's
/// list of what to take (restic's `--files-from-verbatim`).
pub fn dirs(config: &Config) -> Result<()> {
    let shares =
        std::iter::once(&config.shared_projects).chain(config.extra_shares.iter().map(|s| &s.dir));
    let all: Vec<&Path> = shares
        .chain(config.accounts.iter().map(|a| &a.dir))
        .map(|d| d.as_path())
        .collect();
    if let Some(odd) = all
        .iter()
        .find(|d| d.as_os_str().as_bytes().contains(&b'\n'))
    {
        bail!(
            "{} holds a line break, which a list of one dir per line cannot show; rename it",
            printable(&odd.to_string_lossy())
        );
    }
    let mut out = std::io::stdout().lock();
    for dir in all {
        out.write_all(dir.as_os_str().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub fn clear_cooldown(config: &Config, state: &State, name: &str) -> Result<()> {
    let account = &config.account(name)?.name;
    let mut limits = Limits::load(state)?;
    let Some(until) = limits.cooling(account, Timestamp::now()) else {
        bail!("account {account} is not cooling down: nothing to clear");
    };
    limits.set(state, account, None)?;
    println!(
        "account {account} no longer cools down (it did until {})",
        local(until)
    );
    Ok(())
}

/// `cf-run accounts add NAME [DIR]`: the config gains `[accounts.NAME]`,
/// last, with every other line, comment and key kept (the old text is kept
/// beside it as `config.toml.bak`), and DIR is made (0700) if missing.
pub fn add(path: &Path, user: &User, name: &str, dir: Option<&str>) -> Result<()> {
    let dir = match dir {
        None => format!("~/.claude-{name}"),
        Some(d) if d.starts_with('~') || d.starts_with('/') => d.to_owned(),
        Some(d) => std::env::current_dir()
            .context("getcwd")?
            .join(d)
            .display()
            .to_string(),
    };
    let (old, mut doc) = editable(path, user)?;
    let accounts = doc
        .entry("accounts")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .with_context(|| format!("config {}: accounts is not a table", path.display()))?;
    if let Some(there) = accounts.get(name) {
        let at = there.get("dir").and_then(|d| d.as_str()).unwrap_or("?");
        bail!("account {name} is in the config already (dir {at}); pick another name");
    }
    let mut table = toml_edit::Table::new();
    table["dir"] = toml_edit::value(&dir);
    accounts.insert(name, toml_edit::Item::Table(table));
    let config = save(path, user, &old, &doc.to_string(), name)?;
    let account = config.account(name)?;
    match resolve::entry(&account.dir)? {
        Entry::Missing => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&account.dir)
                .with_context(|| format!("cannot create {}", account.dir.display()))?;
        }
        _ => {
            resolve::owned_dir(&account.dir, user.uid, &format!("account {name:?}'s dir"))?;
        }
    }
    println!(
        "{}",
        printable(&format!(
            "added: account {name} ({}); log it in once with: cf-run --account {name} -- claude, \
             then /login",
            account.dir.display()
        ))
    );
    Ok(())
}

/// `cf-run accounts remove NAME`: `[accounts.NAME]` leaves the config, every
/// other line kept (the old text beside it as `config.toml.bak`); its dir,
/// credentials and all, is left as it is.
pub fn remove(path: &Path, user: &User, state: &State, name: &str) -> Result<()> {
    let (old, mut doc) = editable(path, user)?;
    let current = Config::parse(&old, &user.home)?;
    let dir = current.account(name)?.dir.clone();
    if current.accounts.len() == 1 {
        bail!("account {name} is the config's only one; add another first");
    }
    let live = session::live(state)?;
    if let Some(r) = live.iter().find(|r| r.account == name) {
        bail!(
            "account {name} has a live session (pid {}); end it first (cf-run stop --session ID)",
            r.pid
        );
    }
    if let Some(accounts) = doc.get_mut("accounts").and_then(|a| a.as_table_like_mut()) {
        accounts.remove(name);
    }
    save(path, user, &old, &doc.to_string(), name)?;
    println!(
        "{}",
        printable(&format!(
            "removed: account {name} from the config; its dir {} is left as it is",
            dir.display()
        ))
    );
    Ok(())
}

/// The config's text, and the same as a document to edit.
fn editable(path: &Path, user: &User) -> Result<(String, toml_edit::DocumentMut)> {
    let text = config::text(path, user.uid)?;
    let doc = text
        .parse()
        .with_context(|| format!("config {} is not TOML", path.display()))?;
    Ok((text, doc))
}

/// Writes `new` as the config once it loads, the `old` text kept beside it.
fn save(path: &Path, user: &User, old: &str, new: &str, name: &str) -> Result<Config> {
    let config = Config::parse(new, &user.home)
        .with_context(|| format!("config {} with account {name}", path.display()))?;
    let mut backup = path.as_os_str().to_owned();
    backup.push(".bak");
    config::write(Path::new(&backup), old)?;
    config::write(path, new)?;
    Ok(config)
}
