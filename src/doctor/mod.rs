//! `cf-run doctor`: what a launch needs, checked the way a launch checks it
//! (the same decision, config loader and on-disk checks), each problem with a
//! one-line fix worded from the outcome itself. It changes nothing, but for
//! the registry forgetting sessions that are gone, as `cf-run ps` does.
//!
//! `host`: what the machine allows and the mode; `dirs`: the config and the
//! dirs it names; `report`: the items both make, and how they print.

mod dirs;
mod host;
mod report;

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::config::Config;
use crate::decision::Decision;
use crate::exit::Exit;
use crate::mode::{Mode, Probe};
use crate::session::State;
use crate::user::User;

use self::report::{Item, Status, render};

/// What `--json` prints.
#[derive(Serialize)]
struct Json<'a> {
    /// Whether a launch would work.
    ok: bool,
    /// The mode a launch would use, when one works.
    mode: Option<String>,
    checks: &'a [Item],
}

pub fn run(config_path: &Path, user: &User, json: bool) -> Result<()> {
    let (mut items, mode) = check_all(config_path, user);
    // All well on paper: one real launch proves the rest (the namespaces,
    // the new /proc, the seccomp filter) on this host.
    if items.iter().all(|i| i.status != Status::Fail) {
        items.push(host::trial_launch(config_path, user));
    }
    let failing: Vec<&str> = items
        .iter()
        .filter(|i| i.status == Status::Fail)
        .map(|i| i.name.as_str())
        .collect();
    if json {
        let out = Json {
            ok: failing.is_empty(),
            mode: mode.map(|m| m.to_string()),
            checks: &items,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("{}", crate::output::printable(&render(&items)));
    }
    if failing.is_empty() {
        return Ok(());
    }
    Err(Exit::new(
        1,
        format!(
            "doctor: a launch would fail; fix {}: {}",
            if failing.len() == 1 { "this" } else { "these" },
            failing.join(", ")
        ),
    )
    .into())
}

/// Every check, in order, and the mode a launch would use.
fn check_all(config_path: &Path, user: &User) -> (Vec<Item>, Option<Mode>) {
    let probe = Probe::host();
    let mut items = vec![host::capability(&probe), host::user_namespaces(&probe)];
    let config = Config::load(config_path, user.uid, &user.home);
    let decision = Decision::decide(config.as_ref().ok(), None, || probe.clone());
    items.push(host::policy(&decision.policy));
    items.push(dirs::config(config_path, &config));
    let (item, mode) = host::mode(&decision);
    items.push(item);
    if let Ok(config) = &config {
        if let Some(Err(e)) = &decision.permit {
            items.push(host::permit(e));
        }
        for account in &config.accounts {
            items.push(dirs::account_dir(account, user.uid));
        }
        items.push(dirs::shared_dir(config, user.uid));
        items.push(host::second_mounts(config));
        items.extend(dirs::launch_checks(config, user, mode));
    }
    items.push(host::landlock_scopes());
    items.push(host::daemon_sockets(user));
    items.push(host::stale_locks(&State::of(user)));
    items.push(host::claude_on_path());
    (items, mode)
}
