//! cf-run's tap in the client: the settings a launch adds to `claude`
//! (`--settings`), and `cf-run tap`, which the client runs inside the session
//! as its statusline and on its Stop hook.
//!
//! The statusline gets the account's usage (`rate_limits`, subscription
//! accounts only) after each response; the tap files it, then runs the
//! user's own statusline with the same input and prints what that prints.
//! The Stop hook says when a turn ends, so that `--failover` moves a session
//! only between turns (a prompt since, it reads in the transcript: a hook
//! on each prompt would hold every prompt up). What the tap writes goes into the session's
//! own client dir (`~/.claude/sessions`, bound from cf-run's state dir),
//! where the session's parent reads it as that session's claim.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::claude_args;

/// Where in the client dir the tap files the usage and the turn.
pub const USAGE_FILE: &str = "cf-run.usage";
pub const TURN_FILE: &str = "cf-run.turn";

/// What the turn file says once the client has finished a turn.
pub const TURN_ENDED: &[u8] = b"ended";

/// The most of its input the tap reads: the client's statusline input is a
/// few kilobytes.
const MAX_INPUT: u64 = 1 << 20;

/// What the client ran the tap for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Statusline,
    TurnEnded,
}

/// `command` with cf-run's settings added right after the program (the tap
/// at `exe`, and `note`, shown once the client has resumed): only for a
/// session of Claude Code (not a subcommand, which may take no option
/// before it), and only when the user passed no `--settings` of their own,
/// which the client would take instead.
pub fn added(mut command: Vec<OsString>, exe: &Path, note: Option<&str>) -> Vec<OsString> {
    let is_claude = command
        .first()
        .and_then(|p| Path::new(p).file_name())
        .is_some_and(|name| name == "claude");
    let theirs = command
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--settings" || a.as_encoded_bytes().starts_with(b"--settings="));
    if !is_claude || theirs || !claude_args::runs_a_session(&command) {
        return command;
    }
    let tap = |event: &str| format!("{} tap {event}", quote(&exe.to_string_lossy()));
    let hook = |command: String| json!([{"hooks": [{"type": "command", "command": command}]}]);
    let mut settings = json!({
        "statusLine": {"type": "command", "command": tap("statusline")},
        "hooks": {
            "Stop": hook(tap("turn-ended")),
        },
    });
    if let Some(note) = note {
        let say = json!({"systemMessage": note}).to_string();
        settings["hooks"]["SessionStart"] = json!([{
            "matcher": "resume",
            "hooks": [{"type": "command", "command": format!("printf '%s\\n' {}", quote(&say))}],
        }]);
    }
    command.splice(1..1, ["--settings".into(), settings.to_string().into()]);
    command
}

/// `text` as one word for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `cf-run tap EVENT`, inside the session. Never fails the client: a
/// statusline that cannot be filed is still shown.
pub fn run(event: Event) -> Result<u8> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_end(&mut input)
        .context("reading the client's input")?;
    let dir =
        std::env::var_os(crate::environ::CONFIG_DIR_VAR).map(|d| PathBuf::from(d).join("sessions"));
    match event {
        Event::TurnEnded => {
            if let Some(dir) = &dir {
                file(dir, TURN_FILE, TURN_ENDED);
            }
            Ok(0)
        }
        Event::Statusline => {
            let value: Value = serde_json::from_slice(&input).unwrap_or_default();
            if let (Some(dir), Some(limits)) = (&dir, value.get("rate_limits")) {
                file(dir, USAGE_FILE, limits.to_string().as_bytes());
            }
            match their_statusline(&value) {
                Some(command) => run_theirs(&command, &input),
                None => Ok(0),
            }
        }
    }
}

/// Writes `bytes` as `dir/name`, whole (a temp file renamed into place),
/// where the client made `dir`; a failure only loses this one record.
fn file(dir: &Path, name: &str, bytes: &[u8]) {
    if !dir.is_dir() {
        return;
    }
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, dir.join(name)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The user's own statusline command, where the client would find it if
/// cf-run had not put its own first: the project's local settings, the
/// project's, then the account's.
fn their_statusline(input: &Value) -> Option<String> {
    let project = input["workspace"]["project_dir"]
        .as_str()
        .or(input["cwd"].as_str())
        .map(PathBuf::from);
    let account = std::env::var_os(crate::environ::CONFIG_DIR_VAR).map(PathBuf::from);
    let files = project
        .iter()
        .flat_map(|p| {
            [
                p.join(".claude/settings.local.json"),
                p.join(".claude/settings.json"),
            ]
        })
        .chain(account.map(|a| a.join("settings.json")));
    files.into_iter().find_map(|path| {
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .ok()?
            .take(MAX_INPUT)
            .read_to_end(&mut bytes)
            .ok()?;
        let settings: Value = serde_json::from_slice(&bytes).ok()?;
        let line = &settings["statusLine"];
        // cf-run's own tap named there would run itself without end.
        (line["type"] == "command")
            .then(|| line["command"].as_str().map(str::to_owned))
            .flatten()
            .filter(|command| !command.contains(" tap statusline"))
    })
}

/// Runs the user's statusline command as the client would (`sh -c`), with
/// the same input; what it prints goes to the client unchanged.
fn run_theirs(command: &str, input: &[u8]) -> Result<u8> {
    let mut child = Command::new("/bin/sh")
        .args(["-c", command])
        .stdin(Stdio::piped())
        .spawn()
        .context("running your statusline command")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input closes the pipe: fine.
        let _ = stdin.write_all(input);
    }
    let status = child
        .wait()
        .context("waiting for your statusline command")?;
    Ok(status.code().unwrap_or(1) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_settings_go_to_claude_alone_and_never_over_the_users_own() {
        let exe = Path::new("/usr/bin/cf-run");
        let out = added(args(&["/opt/x/claude", "--model", "m"]), exe, None);
        assert_eq!(out[0], "/opt/x/claude");
        assert_eq!(out[1], "--settings");
        assert_eq!(out[3..], args(&["--model", "m"])[..]);
        let settings: Value = serde_json::from_str(out[2].to_str().unwrap()).unwrap();
        assert_eq!(
            settings["statusLine"]["command"],
            "'/usr/bin/cf-run' tap statusline"
        );
        assert_eq!(
            settings["hooks"]["Stop"][0]["hooks"][0]["command"],
            "'/usr/bin/cf-run' tap turn-ended"
        );
        assert!(settings["hooks"].get("SessionStart").is_none());
        for unchanged in [
            args(&["bash", "-c", "claude"]),
            args(&["claude", "--settings", "{}"]),
            args(&["claude", "--settings=/f.json"]),
            args(&["claude", "daemon", "run"]),
            args(&["claude", "mcp", "list"]),
        ] {
            assert_eq!(added(unchanged.clone(), exe, None), unchanged);
        }
        // After `--`, a word is the prompt's, not an option.
        assert_eq!(
            added(args(&["claude", "--", "--settings"]), exe, None).len(),
            5
        );
    }

    #[test]
    fn the_note_is_printed_by_sh_exactly_as_given() {
        let note = "cf-run: it's moved; $(touch x) `y` \"z\"";
        let out = added(args(&["claude"]), Path::new("/a b/cf'run"), Some(note));
        let settings: Value = serde_json::from_str(out[2].to_str().unwrap()).unwrap();
        let hook = &settings["hooks"]["SessionStart"][0];
        assert_eq!(hook["matcher"], "resume");
        let command = hook["hooks"][0]["command"].as_str().unwrap();
        let printed = Command::new("/bin/sh")
            .args(["-c", command])
            .output()
            .unwrap();
        let said: Value = serde_json::from_slice(&printed.stdout).unwrap();
        assert_eq!(said["systemMessage"], note);
        assert_eq!(
            settings["statusLine"]["command"],
            r"'/a b/cf'\''run' tap statusline"
        );
    }
}
