//! The command's environment: the caller's, less the variables through which
//! Claude Code takes credentials or an identity, plus what the plan sets. An
//! exported `ANTHROPIC_API_KEY` wins over the account dir's own credentials,
//! so without this the account the user chose would silently not be the one
//! used.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The variables through which the client (2.1.197 to 2.1.332, read from its
/// binary) takes a credential or identity of its own, or is sent to a
/// provider other than the account's. `CLAUDE_API_KEY` is not one: 2.1.332
/// names it only as a placeholder in a form.
pub const CREDENTIALS: [&str; 34] = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_AWS_API_KEY",
    "ANTHROPIC_CONFIG_DIR",
    "ANTHROPIC_CUSTOM_HEADERS",
    "ANTHROPIC_FEDERATION_RULE_ID",
    "ANTHROPIC_FOUNDRY_API_KEY",
    "ANTHROPIC_FOUNDRY_AUTH_TOKEN",
    "ANTHROPIC_IDENTITY_TOKEN",
    "ANTHROPIC_IDENTITY_TOKEN_FILE",
    "ANTHROPIC_PROFILE",
    "AWS_BEARER_TOKEN_BEDROCK",
    "CCR_AGENT_PROXY_TOKEN_FILE_DESCRIPTOR",
    "CLAUDE_BG_SESSION_CREDENTIAL",
    "CLAUDE_BRIDGE_OAUTH_TOKEN",
    "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
    "CLAUDE_CODE_GATEWAY_TOKEN",
    "CLAUDE_CODE_GATEWAY_TOKEN_FILE_DESCRIPTOR",
    "CLAUDE_CODE_HFI_BEARER_TOKEN",
    "CLAUDE_CODE_OAUTH_CLIENT_ID",
    "CLAUDE_CODE_OAUTH_REFRESH_TOKEN",
    "CLAUDE_CODE_OAUTH_SCOPES",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR",
    "CLAUDE_CODE_SESSIONS_OAUTH_TOKEN",
    "CLAUDE_CODE_SESSION_ACCESS_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDE_CODE_USE_GATEWAY",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_WEBSOCKET_AUTH_FILE_DESCRIPTOR",
    "CLAUDE_SECURESTORAGE_CONFIG_DIR",
    "CLAUDE_SESSION_INGRESS_TOKEN_FILE",
    "CLAUDE_TRUSTED_DEVICE_TOKEN",
];

/// The variable that makes Claude Code keep `.claude.json` inside the account
/// dir instead of at `~/.claude.json`, which every account would share.
pub const CONFIG_DIR_VAR: &str = "CLAUDE_CONFIG_DIR";

pub fn is_credential(name: &str) -> bool {
    CREDENTIALS.contains(&name)
}

/// A plain variable name, as a config may set one.
pub fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `caller`'s variables less `unset` and those `set` replaces, then `set`:
/// the environment the command gets, as `NAME=VALUE` byte strings.
pub fn compose(
    caller: impl IntoIterator<Item = (OsString, OsString)>,
    unset: &[String],
    set: &[(String, OsString)],
) -> Vec<Vec<u8>> {
    let dropped = |name: &OsStr| {
        unset.iter().any(|n| OsStr::new(n) == name)
            || set.iter().any(|(n, _)| OsStr::new(n) == name)
    };
    // With room for the NUL that exec's C string adds: no second allocation.
    let pair = |name: &OsStr, value: &OsStr| {
        let mut pair = Vec::with_capacity(name.len() + value.len() + 2);
        pair.extend_from_slice(name.as_bytes());
        pair.push(b'=');
        pair.extend_from_slice(value.as_bytes());
        pair
    };
    caller
        .into_iter()
        .filter(|(name, _)| !dropped(name))
        .map(|(name, value)| pair(&name, &value))
        .chain(
            set.iter()
                .map(|(name, value)| pair(OsStr::new(name), value)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_names_without_repeats() {
        assert!(CREDENTIALS.iter().all(|n| is_name(n)));
        let mut sorted = CREDENTIALS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, CREDENTIALS);
    }

    #[test]
    fn names() {
        for ok in ["A", "_x", "ANTHROPIC_API_KEY", "a1"] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A=B", "A B", "É"] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn compose_removes_replaces_then_sets() {
        let caller = [
            ("PATH", "/bin"),
            ("ANTHROPIC_API_KEY", "caller"),
            ("CLAUDE_CONFIG_DIR", "/elsewhere"),
            ("TERM", "xterm"),
        ]
        .map(|(n, v)| (OsString::from(n), OsString::from(v)));
        let set = [(
            "CLAUDE_CONFIG_DIR".to_string(),
            OsString::from("/h/.claude"),
        )];
        let env = compose(caller, &["ANTHROPIC_API_KEY".into()], &set);
        let env: Vec<_> = env.iter().map(|p| String::from_utf8_lossy(p)).collect();
        assert_eq!(
            env,
            ["PATH=/bin", "TERM=xterm", "CLAUDE_CONFIG_DIR=/h/.claude"]
        );
    }
}
