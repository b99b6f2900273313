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
}
