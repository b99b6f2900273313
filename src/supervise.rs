//! What a supervising script needs: `ps`, `stop` and `watch`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::exit::Exit;
use crate::output::printable;
use crate::session::{self, Lock, Record, State};
use crate::wake::Wake;

/// How often `stop` looks again, and `watch` for a transcript not yet found.
const POLL: Duration = Duration::from_millis(50);

/// Exit status of `watch` when the session ends without a usage limit.
pub const WATCH_ENDED: u8 = 3;

/// `cf-run ps`: this user's live launches.
pub fn ps(state: &State, json: bool) -> Result<()> {
    let entries = session::live(state)?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&entries.iter().map(public).collect::<Vec<_>>())?
        );
        return Ok(());
    }
    println!(
        "{:>8}  {:<12} {:<36}  {:<10} {:<20}  CWD",
        "PID", "ACCOUNT", "SESSION", "MODE", "STARTED"
    );
    for e in &entries {
        let session = e.session.as_deref().unwrap_or("-");
        let line = format!(
            "{:>8}  {:<12} {session:<36}  {:<10} {:<20}  {}",
            e.pid,
            e.account,
            e.mode,
            e.started,
            e.cwd.display()
        );
        println!("{}", printable(&line));
    }
    Ok(())
}

/// The registry entry as `ps --json` shows it: exactly these keys.
fn public(e: &Record) -> Value {
    serde_json::json!({
        "pid": e.pid, "account": e.account, "session": e.session,
        "cwd": e.cwd, "started": e.started, "mode": e.mode,
    })
}

/// `cf-run stop`: SIGTERM, wait, SIGKILL at the timeout; done once the
/// process is gone and the session's lock is free.
pub fn stop(state: &State, id: &str, timeout: Duration) -> Result<()> {
    let entry = session::find(state, id)?
        .ok_or_else(|| Exit::new(1, format!("no live session {id} (cf-run ps lists them)")))?;
    let pid = Pid::from_raw(entry.pid as i32);
    let _ = kill(pid, Signal::SIGTERM);
    if !wait_until(timeout, || !entry.is_live()) {
        tracing::debug!("session {id} (pid {pid}) outlived SIGTERM: SIGKILL");
        let _ = kill(pid, Signal::SIGKILL);
        if !wait_until(Duration::from_secs(5), || !entry.is_live()) {
            return Err(Exit::new(
                1,
                format!("session {id} (pid {pid}) is still running after SIGKILL"),
            )
            .into());
        }
    }
    // Children of the command may still hold the inherited lock for a moment.
    if !wait_until(Duration::from_secs(5), || Lock::is_free(state, id)) {
        return Err(Exit::new(
            1,
            format!("pid {pid} is gone, but the lock of session {id} is still held by a process it started"),
        )
        .into());
    }
    Ok(())
}

/// Polls `done` until it holds or `limit` passes; whether it held.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// A usage limit as the transcript records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub time: String,
    pub text: String,
    /// When it lifts, to the second, where the client recorded it
    /// (2.1.332's `quotaLimits.resetsAt`); else only the text says, to the minute.
    pub resets_at: Option<jiff::Timestamp>,
}

/// The limit a transcript line records, if it is one: an API error message
/// with `"apiError": "usage_limit_reached"` (2.1.332), `"error":
/// "rate_limit"` or status 429.
pub fn limit_in(line: &Value) -> Option<Limit> {
    let api_error = line["isApiErrorMessage"] == true;
    let limited = line["apiError"] == "usage_limit_reached"
        || line["error"] == "rate_limit"
        || line["apiErrorStatus"] == 429;
    (api_error && limited).then(|| Limit {
        time: line["timestamp"].as_str().unwrap_or("").to_owned(),
        text: line["message"]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        resets_at: line["quotaLimits"]["resetsAt"]
            .as_i64()
            .and_then(|s| jiff::Timestamp::from_second(s).ok()),
    })
}

/// The limit a session stands at: its last turn, when that records a limit.
pub fn standing_limit(lines: impl DoubleEndedIterator<Item = Value>) -> Option<Limit> {
    lines.rev().find(is_turn).as_ref().and_then(limit_in)
}

/// Whether a transcript line is a turn (a prompt or a reply), as opposed to
/// bookkeeping lines Claude also appends.
fn is_turn(line: &Value) -> bool {
    matches!(line["type"].as_str(), Some("user" | "assistant"))
}

/// The JSON lines of a transcript; lines that do not parse are skipped.
pub fn parse_lines(text: &[u8]) -> impl DoubleEndedIterator<Item = Value> + '_ {
    text.split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
}

/// The session's transcript in the shared dir, wherever its project is.
pub fn transcript(shared: &Path, id: &str) -> Option<PathBuf> {
    let name = format!("{id}.jsonl");
    std::fs::read_dir(shared)
        .ok()?
        .flatten()
        .map(|slug| slug.path().join(&name))
        .find(|p| p.is_file())
}

/// `cf-run watch`: follows the transcript and returns when it records a
/// usage limit; fails with status 3 when the session ends first. A session
/// whose last turn already is a limit is reported at once.
pub fn watch(state: &State, shared: &Path, id: &str, json: bool) -> Result<()> {
    let live = session::find(state, id)?;
    let account = match &live {
        Some(entry) => entry.account.clone(),
        None => Lock::last_account(state, id).unwrap_or_default(),
    };
    let running = || live.as_ref().is_some_and(Record::is_live);
    // A limit already in the transcript counts only if this launch hit it: a
    // session resumed after a limit starts out standing at the old one.
    let since = live.as_ref().and_then(|e| e.started.parse().ok());
    let mut follower = Follower {
        since,
        ..Follower::default()
    };
    let mut wake = Wake::new();
    // Opened, then checked to be the session's: a reused pid is not it.
    let ends = live
        .as_ref()
        .and_then(|e| crate::sys::pidfd_open(e.pid).ok())
        .filter(|_| running());
    loop {
        if let Some(limit) = follower.poll(shared, id)? {
            report(&account, id, &limit, json);
            return Ok(());
        }
        if follower.dir().is_some_and(|dir| wake.watch(dir)) {
            continue;
        }
        if !running() {
            // One last read: the command may have written as it exited.
            if let Some(limit) = follower.poll(shared, id)? {
                report(&account, id, &limit, json);
                return Ok(());
            }
            return Err(Exit::new(
                WATCH_ENDED,
                format!("session {id} ended (or is not running) without a usage limit"),
            )
            .into());
        }
        wake.wait(follower.patience(), ends.as_ref().map(|fd| fd.as_fd()));
    }
}

fn report(account: &str, id: &str, limit: &Limit, json: bool) {
    if json {
        let event = serde_json::json!({
            "event": "usage_limit", "account": account, "session": id,
            "time": limit.time, "text": limit.text,
        });
        println!("{event}");
    } else {
        let line = format!(
            "usage limit: account {account}, session {id}, at {}: {}",
            limit.time, limit.text
        );
        println!("{}", printable(&line));
    }
}

/// How much of a transcript's end the first read takes to find the turn the
/// session stands at, and how much any later read takes at most: `watch`
/// runs in bounded memory whatever the transcript's size.
const WINDOW: u64 = 4 << 20;
/// A line longer than this is skipped whole.
const MAX_LINE: usize = 16 << 20;

/// Reads a growing transcript line by line; the first read judges the
/// last turn already there, later reads every new line.
#[derive(Default)]
pub struct Follower {
    file: Option<File>,
    /// The dir of the transcript `file` is, where it was found.
    dir: Option<PathBuf>,
    offset: u64,
    pending: Vec<u8>,
    /// Inside a line too long to keep: drop bytes up to its end.
    skipping: bool,
    /// When the live launch started, if there is one.
    since: Option<jiff::Timestamp>,
    /// Every line read is new: no first read judges what was there.
    new_only: bool,
    /// When the last prompt (or tool result) it read was written: a turn
    /// under way since.
    pub last_user: Option<jiff::Timestamp>,
}

impl Follower {
    /// A follower that counts only limits recorded from `since` on (to the
    /// millisecond, as the client writes its times).
    pub fn since(since: jiff::Timestamp) -> Self {
        let since = jiff::Timestamp::from_millisecond(since.as_millisecond()).unwrap_or(since);
        Follower {
            since: Some(since),
            ..Follower::default()
        }
    }

    /// A follower that counts whatever the transcript of session `id` gets
    /// from now on, whenever it is written: no time is compared, so a limit
    /// the client records at once is seen too.
    pub fn from_now(shared: &Path, id: &str) -> Self {
        let mut follower = Follower {
            new_only: true,
            ..Follower::default()
        };
        if let Some(path) = transcript(shared, id)
            && let Ok(file) = open_transcript(&path)
            && let Ok(meta) = file.metadata()
        {
            follower.offset = meta.len();
            follower.file = Some(file);
            follower.dir = path.parent().map(Path::to_path_buf);
        }
        follower
    }

    /// The dir of the transcript followed, once found: where a [`Wake`]
    /// learns that it grew.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// How long to sleep at most when nothing wakes the follower: a safety
    /// net once the transcript is watched; until then, how often to look
    /// for it (the client makes it at the first prompt, in a project dir
    /// that may be new).
    pub fn patience(&self) -> Duration {
        if self.dir.is_some() {
            Duration::from_secs(1)
        } else {
            POLL
        }
    }

    /// The limit the transcript of session `id` records that the follower
    /// has not seen yet, if any.
    pub fn poll(&mut self, shared: &Path, id: &str) -> Result<Option<Limit>> {
        let first = self.file.is_none() && !self.new_only;
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let Some(path) = transcript(shared, id) else {
                    return Ok(None);
                };
                let file = open_transcript(&path)?;
                self.dir = path.parent().map(Path::to_path_buf);
                // Only the end matters for where the session stands.
                let len = file.metadata()?.len();
                if first && len > WINDOW {
                    self.offset = len - WINDOW;
                    self.skipping = true;
                }
                self.file.insert(file)
            }
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut chunk = Vec::new();
        let read = file.take(WINDOW).read_to_end(&mut chunk)?;
        self.offset += read as u64;
        let mut chunk = chunk.as_slice();
        if self.skipping {
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    chunk = &chunk[i + 1..];
                    self.skipping = false;
                }
                None => chunk = &[],
            }
        }
        self.pending.extend_from_slice(chunk);
        let end = self
            .pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let complete: Vec<u8> = self.pending.drain(..end).collect();
        if self.pending.len() > MAX_LINE {
            self.pending.clear();
            self.skipping = true;
        }
        let lines: Vec<Value> = parse_lines(&complete).collect();
        if let Some(user) = lines.iter().rev().find(|l| l["type"] == "user") {
            let written = user["timestamp"].as_str().and_then(|t| t.parse().ok());
            self.last_user = Some(written.unwrap_or_else(jiff::Timestamp::now));
        }
        if first {
            let recent = |l: &Limit| match (self.since, l.time.parse::<jiff::Timestamp>()) {
                (None, _) => true,
                (Some(since), Ok(at)) => at >= since,
                (Some(_), Err(_)) => false,
            };
            return Ok(standing_limit(lines.into_iter()).filter(recent));
        }
        Ok(lines.iter().find_map(limit_in))
    }
}

/// Opens a transcript to read: a regular file reached without a final
/// symlink, never a FIFO or device that would block or never end.
fn open_transcript(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if !file.metadata()?.is_file() {
        return Err(Exit::new(
            crate::exit::FAILURE,
            format!(
                "{} is not a regular file; it is no transcript",
                path.display()
            ),
        )
        .into());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn recognises_limit_lines() {
        let limit = line(
            r#"{"type":"assistant","isApiErrorMessage":true,"error":"rate_limit","apiErrorStatus":429,
               "timestamp":"2026-11-25T10:00:00Z","message":{"content":[{"type":"text","text":"You've hit your session limit · resets 3pm (UTC)"}]}}"#,
        );
        let found = limit_in(&limit).unwrap();
        assert_eq!(found.time, "2026-11-25T10:00:00Z");
        assert!(found.text.starts_with("You've hit your session limit"));
        assert_eq!(found.resets_at, None);
        let status_only = line(r#"{"isApiErrorMessage":true,"apiErrorStatus":429}"#);
        assert!(limit_in(&status_only).is_some());
        // 2.1.332's structured record: the reset to the second.
        let structured = line(
            r#"{"isApiErrorMessage":true,"apiError":"usage_limit_reached","apiErrorStatus":429,
               "quotaLimits":{"status":"rejected","resetsAt":1764105543,"rateLimitType":"five_hour"},
               "message":{"content":[{"type":"text","text":"You've hit your 5-hour limit · resets 9:19pm (UTC)"}]}}"#,
        );
        let found = limit_in(&structured).unwrap();
        assert_eq!(
            found.resets_at.map(|t| t.to_string()).as_deref(),
            Some("2025-11-25T21:19:03Z")
        );
        for other in [
            r#"{"isApiErrorMessage":true,"error":"overloaded","apiErrorStatus":529}"#,
            r#"{"type":"assistant","error":"rate_limit"}"#,
            r#"{"type":"user","message":{"content":"rate_limit 429"}}"#,
        ] {
            assert_eq!(limit_in(&line(other)), None, "{other}");
        }
    }
}
