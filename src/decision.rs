//! What a launch decides before it changes anything, step by step: the
//! admin's policy, whether it allows what the config asks, and the mode with
//! its reason. `main` stops at the first step that fails; `doctor` reports
//! every step's outcome.

use std::path::Path;

use anyhow::Result;

use crate::config::Config;
use crate::mode::{self, Chosen, ModeChoice, Probe};
use crate::policy::{self, Policy};

pub struct Decision {
    /// What the user asked for: `--mode`, else the config's, else auto.
    pub choice: ModeChoice,
    /// The admin's policy, the default where there is none.
    pub policy: Result<Policy>,
    /// Whether the policy allows what the config asks (setuid, roots); `None`
    /// without a config.
    pub permit: Option<Result<()>>,
    /// The mode, among those the policy allows (the default policy's when it
    /// does not load), and why.
    pub mode: Result<Chosen>,
}

impl Decision {
    pub fn decide(
        config: Option<&Config>,
        asked: Option<ModeChoice>,
        probe: impl FnOnce() -> Probe,
    ) -> Self {
        let choice = asked.or(config.map(|c| c.mode)).unwrap_or_default();
        let policy = Policy::load(Path::new(policy::PATH));
        let default = Policy::default();
        let rules = policy.as_ref().unwrap_or(&default);
        let permit = config.map(|c| rules.permit(c));
        let mode = mode::choose(choice, probe, &rules.modes)
            .and_then(|chosen| rules.permit_mode(chosen.mode).map(|()| chosen));
        Self {
            choice,
            policy,
            permit,
            mode,
        }
    }

    /// The mode, or the first step that failed.
    pub fn chosen(self) -> Result<Chosen> {
        self.policy?;
        self.permit.transpose()?;
        self.mode
    }
}
