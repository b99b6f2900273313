//! Claude's command line, as far as cf-run reads it: the session it names.

use std::ffi::OsString;

/// Whether `s` is a UUID as Claude writes session ids (8-4-4-4-12 hex):
/// the only session ids cf-run accepts, so none can name a path.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<_> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The session id a Claude command line names, in every spelling the client
/// takes: `--resume ID`, `--resume=ID`, `--session-id ID`, `--session-id=ID`,
/// `-r ID`, `-rID`, and `-r` at the end of a cluster of short flags
/// (`-pr ID`). Only a UUID counts (`--resume` alone opens a picker;
/// `--resume words` searches), in lower case: one lock per session, however
/// it is written.
pub fn session_of(args: &[OsString]) -> Option<String> {
    let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    let next = |i: usize| args.get(i + 1).copied();
    args.iter().enumerate().find_map(|(i, a)| {
        let value = match *a {
            "--resume" | "--session-id" => next(i),
            _ if a.starts_with("--") => a
                .strip_prefix("--resume=")
                .or_else(|| a.strip_prefix("--session-id=")),
            // A cluster of short flags: what follows `r` is its value, or the
            // next argument when `r` ends the cluster.
            _ => a
                .strip_prefix('-')
                .and_then(|flags| flags.split_once('r'))
                .and_then(|(_, rest)| if rest.is_empty() { next(i) } else { Some(rest) }),
        };
        value.filter(|v| is_uuid(v)).map(str::to_ascii_lowercase)
    })
}
/// The client's subcommands (2.1.197 and 2.1.332, hidden ones included):
/// a command line that starts with one runs no session. Some (`daemon`)
/// count only as the first argument.
const SUBCOMMANDS: [&str; 25] = [
    "agents",
    "attach",
    "auth",
    "auto-mode",
    "daemon",
    "doctor",
    "gateway",
    "import",
    "install",
    "kill",
    "logs",
    "mcp",
    "migrate-installer",
    "plugin",
    "plugins",
    "project",
    "purge",
    "remote-control",
    "respawn",
    "rm",
    "setup-token",
    "stop",
    "ultrareview",
    "update",
    "upgrade",
];

/// Whether `args` (the program first) run a session of the client, rather
/// than one of its subcommands.
pub fn runs_a_session(args: &[OsString]) -> bool {
    args.get(1)
        .and_then(|a| a.to_str())
        .is_none_or(|first| !SUBCOMMANDS.contains(&first))
}

/// How a Claude command line picks the session it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The session it names (`--resume ID`, `--session-id ID`).
    Named(String),
    /// One the client chooses: `--continue` (its folder's latest),
    /// `--resume` without an id (the picker), or a fork's new id.
    ByClient,
    /// None: the client starts a new one of its own.
    New,
}

/// Which session `args` run, as the client reads them.
pub fn pick(args: &[OsString]) -> Pick {
    let words: Vec<_> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    let short = |a: &str, flag: char| {
        !a.starts_with("--") && a.len() > 1 && a.starts_with('-') && {
            // A cluster's flags before the first that takes a value (`r`).
            let flags = a[1..].split('r').next().unwrap_or("");
            flags.contains(flag)
        }
    };
    let has = |long: &str, flag: Option<char>| {
        words
            .iter()
            .any(|a| *a == long || flag.is_some_and(|f| short(a, f)))
    };
    let session_id = words.iter().enumerate().find_map(|(i, a)| match *a {
        "--session-id" => words.get(i + 1).copied(),
        _ => a.strip_prefix("--session-id="),
    });
    let session_id = session_id
        .filter(|v| is_uuid(v))
        .map(str::to_ascii_lowercase);
    if has("--fork-session", None) {
        return session_id.map_or(Pick::ByClient, Pick::Named);
    }
    if let Some(id) = session_of(args) {
        return Pick::Named(id);
    }
    // Any `--resume`/`-r` left names no session: the picker, or a search.
    let resume = words.iter().any(|a| {
        *a == "--resume"
            || a.starts_with("--resume=")
            || !a.starts_with("--") && a.starts_with('-') && a[1..].contains('r')
    });
    if has("--continue", Some('c')) || resume {
        return Pick::ByClient;
    }
    Pick::New
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }
    #[test]
    fn recognises_uuids_only() {
        assert!(is_uuid(ID));
        assert!(is_uuid(&ID.to_uppercase()));
        for bad in [
            "",
            "../../etc/passwd",
            "3f0c2a1e9b7d4c558e210a1b2c3d4e5f",
            &format!("{ID}x"),
            &ID.replace('a', "g"),
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn finds_the_session_in_claudes_arguments() {
        for form in [
            args(&["claude", "--resume", ID]),
            args(&["claude", "-p", "x", "-r", ID]),
            args(&["claude", "--session-id", ID, "-p", "x"]),
            args(&["claude", &format!("--resume={ID}")]),
            args(&["claude", &format!("--session-id={ID}")]),
            args(&["claude", &format!("-r{ID}")]),
            args(&["claude", "-pr", ID]),
            args(&["claude", "--resume", &ID.to_uppercase()]),
            args(&["claude", &format!("-r{}", ID.to_uppercase())]),
        ] {
            assert_eq!(session_of(&form).as_deref(), Some(ID), "{form:?}");
        }
        assert_eq!(session_of(&args(&["claude", "--resume"])), None);
        assert_eq!(session_of(&args(&["claude", "--resume", "my task"])), None);
        assert_eq!(session_of(&args(&["claude", "-p", ID])), None);
    }

    #[test]
    fn tells_who_picks_the_session() {
        let named = Pick::Named(ID.into());
        let new_id = "0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
        for (line, want) in [
            (args(&["claude"]), Pick::New),
            (args(&["claude", "-p", "x"]), Pick::New),
            (args(&["claude", "--resume", ID]), named.clone()),
            (args(&["claude", "--session-id", ID]), named.clone()),
            (args(&["claude", "--continue"]), Pick::ByClient),
            (args(&["claude", "-c"]), Pick::ByClient),
            (args(&["claude", "-pc", "go on"]), Pick::ByClient),
            (args(&["claude", "--resume"]), Pick::ByClient),
            (args(&["claude", "-r"]), Pick::ByClient),
            (args(&["claude", "--resume", "my task"]), Pick::ByClient),
            (
                args(&["claude", "--resume", ID, "--fork-session"]),
                Pick::ByClient,
            ),
            (
                args(&["claude", "-r", ID, "--fork-session", "--session-id", new_id]),
                Pick::Named(new_id.into()),
            ),
        ] {
            assert_eq!(pick(&line), want, "{line:?}");
        }
    }
}
