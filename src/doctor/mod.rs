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

/// What `--json` prints: each check with the same keys always (`id`,
/// `name`, `status`, `detail`, `fix`, `account`, `path`; null when none).
#[derive(Serialize)]
struct Json<'a> {
    /// Whether a launch would work.
    ok: bool,
    /// The mode a launch would use, when one works.
    mode: Option<String>,
    checks: &'a [Item],
}

pub fn run(config_path: &Path, user: &User, json: bool, all: bool) -> Result<()> {
    let (mut items, mode) = check_all(config_path, user);
    // All well on paper: one real launch proves the rest (the namespaces,
    // the new /proc, the seccomp filter) on this host.
    if items.iter().all(|i| i.status != Status::Fail) {
        items.push(host::trial_launch(config_path, user).id("trial_launch"));
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
        print!("{}", crate::output::printable(&render(&items, all)));
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
    let mut items = vec![
        host::capability(&probe).id("capability"),
        host::user_namespaces(&probe).id("user_namespaces"),
    ];
    let config = Config::load(config_path, user.uid, &user.home);
    let decision = Decision::decide(config.as_ref().ok(), None, || probe.clone());
    items.push(host::policy(&decision.policy).id("policy"));
    items.push(dirs::config(config_path, &config).about("config", None, Some(config_path)));
    let (item, mode) = host::mode(&decision);
    items.push(item.id("mode"));
    if let Ok(config) = &config {
        if let Some(Err(e)) = &decision.permit {
            items.push(host::permit(e).id("permit"));
        }
        for a in &config.accounts {
            let item = dirs::account_dir(a, user.uid);
            items.push(item.about("account_dir", Some(&a.name), Some(&a.dir)));
        }
        let shared = &config.shared_projects;
        items.push(dirs::shared_dir(config, user.uid).about("shared_dir", None, Some(shared)));
        items.push(host::second_mounts(config).id("other_mounts"));
        items.extend(dirs::launch_checks(config, user, mode));
        let target = Some(config.target.as_path());
        items.push(dirs::hidden_in_target(config).about("hidden_in_target", None, target));
    }
    items.push(host::landlock_scopes().id("landlock_scopes"));
    items.push(host::daemon_sockets(user).id("supervisor_sockets"));
    items.push(host::stale_locks(&State::of(user)).id("locks"));
    items.push(host::claude_on_path().id("claude"));
    (items, mode)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_check_has_an_id() {
        let user = crate::user::User::invoking().unwrap();
        let (items, _) = super::check_all(std::path::Path::new("/nonexistent"), &user);
        for item in items {
            assert!(!item.id.is_empty(), "{}", item.name);
        }
    }
}
