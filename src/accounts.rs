//! `cf-run accounts`: each account of the config, in its order: how it logs
//! in, its last known usage, its cool-down and its live sessions; and
//! `--clear-cooldown`, which ends a cool-down the user knows is over.

use anyhow::{Result, bail};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::config::Config;
use crate::handover::Login;
use crate::output::{local, printable};
use crate::session::{self, State};
use crate::usage::{Known, Limits, Usage, Window};

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
