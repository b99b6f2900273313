//! The real Claude Code client, offline: where it is, the accounts' keys,
//! and the environment that keeps it on the loopback mock.
#![allow(dead_code)] // each test file uses part of the support

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use super::layout::{TestUser, stderr, stdout};
use super::mock_api::MockApi;

/// The pinned client: `$CF_RUN_CLAUDE` (set by scripts/test.sh), else
/// installed now. A client that cannot be installed fails the suite.
pub fn claude() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("CF_RUN_CLAUDE") {
            return bin;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-claude.sh");
        let out = Command::new("bash").arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "cannot install Claude Code: {}",
            stderr(&out)
        );
        stdout(&out).trim().to_owned()
    })
}

/// A user with two accounts whose keys are KEY-compte1 and KEY-compte2, and a
/// project dir to work in.
pub fn setup() -> TestUser {
    let user = TestUser::acquire();
    user.standard_layout();
    for account in ["compte1", "compte2"] {
        let settings = format!("{{\"apiKeyHelper\": \"echo KEY-{account}\"}}\n");
        user.write(&format!(".claude-{account}/settings.json"), &settings);
    }
    user.mkdir("proj");
    user
}

/// Logs each of the standard accounts in by subscription (OAuth), as most
/// users are: an access token `tok-ACCOUNT` that expires in a year.
pub fn oauth_logins(user: &TestUser) {
    let far = (std::time::SystemTime::now() + std::time::Duration::from_secs(365 * 86400))
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
}

/// Claude's name for a project dir under `projects/`.
pub fn slug(dir: &Path) -> String {
    let text = dir.to_str().unwrap();
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The variables that point the client at `mock` and keep it from any other host.
pub struct OfflineEnv(Vec<(&'static str, String)>);

impl OfflineEnv {
    pub fn each(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

pub fn offline_env(mock: &MockApi) -> OfflineEnv {
    OfflineEnv(vec![
        ("ANTHROPIC_BASE_URL", mock.base_url()),
        ("DISABLE_TELEMETRY", "1".into()),
        // Without it the client also asks the API for a session title.
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
    ])
}
