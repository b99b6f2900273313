//! Moving a session to the next account when the current one hits its usage
//! limit, within one session id: `cf-run failover` for a headless task, and
//! `cf-run --failover` for a session in the terminal it was started from.
//!
//! Each attempt is this same binary launching `claude` under one account, so
//! it gets its own namespace and the session's lock exactly as a hand-made
//! launch would. Accounts that hit a limit are remembered with their reset
//! time in `<state>/limits.json`, so the next run starts on one that is not
//! cooling down.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use jiff::{Timestamp, civil, tz::TimeZone};

use crate::output::local;
use serde_json::Value;

use crate::claude_args::{self, Pick};
use crate::config::Config;
use crate::decision::Decision;
use crate::exit::{self, Exit};
use crate::handover;
use crate::mode::{Mode, Probe};
use crate::session;
use crate::session::State;
use crate::supervise;
use crate::sys;
use crate::tap;
use crate::usage::{self, Known, Limits, Window};
use crate::user::User;
use crate::wake::Wake;

/// What `cf-run failover` is asked: a headless task.
pub struct Task {
    /// The accounts to try, in order; empty: the config's order.
    pub accounts: Vec<String>,
    pub continue_prompt: String,
    /// Seconds an account that hit a limit with no reset time is skipped.
    pub cooldown: u64,
    /// The prompt, then any further arguments for claude.
    pub prompt: Vec<OsString>,
}

pub fn run(config: &Config, config_path: &Path, user: &User, args: &Task) -> Result<()> {
    let accounts: Vec<String> = if args.accounts.is_empty() {
        config.accounts.iter().map(|a| a.name.clone()).collect()
    } else {
        args.accounts.clone()
    };
    for name in &accounts {
        config.account(name)?;
    }
    let state = State::of(user);
    let mut limits = Limits::load(&state)?;
    let session = uuid::Uuid::new_v4().to_string();
    let Some((prompt, rest)) = args.prompt.split_first() else {
        anyhow::bail!("failover needs a prompt: cf-run failover -- PROMPT");
    };
    let mut last_output = None;
    let mut started = false;
    let mut after: Option<String> = None;
    while let Some(next) = next_account(
        config,
        &accounts,
        (&limits, &Known::load(&state)),
        after.as_deref(),
    ) {
        let account = after.insert(next).as_str();
        // The first attempt starts the session; the next ones resume it.
        // The prompt goes on stdin, not in argv: other users can read argv in `ps`.
        let mut claude: Vec<OsString> = vec!["claude".into(), "-p".into()];
        let text = if started {
            claude.extend(["--resume".into(), session.clone().into()]);
            OsString::from(&args.continue_prompt)
        } else {
            claude.extend(["--session-id".into(), session.clone().into()]);
            prompt.clone()
        };
        claude.extend(["--output-format".into(), "json".into()]);
        claude.extend(rest.iter().cloned());
        let attempt = attempt(config_path, account, &claude, text.as_bytes())?;
        started = true;
        let result: Option<Value> = serde_json::from_slice(&attempt.stdout).ok();
        let limit = limit_of(result.as_ref(), &config.shared_projects, &session);
        let Some((text, resets_at)) = limit else {
            std::io::stdout().write_all(&attempt.stdout)?;
            return match attempt.status {
                0 => Ok(()),
                status => Err(Exit::new(
                    status,
                    format!("claude failed under account {account} (exit {status})"),
                )
                .into()),
            };
        };
        let until = cooldown_until((&text, resets_at), args.cooldown, Timestamp::now());
        limits.set(&state, account, Some(until))?;
        say(&format!(
            "account {account} hit its usage limit (until {}): {text}",
            local(until)
        ));
        last_output = Some(attempt.stdout);
    }
    if let Some(out) = last_output {
        std::io::stdout().write_all(&out)?;
    }
    Err(all_limited(&accounts, &limits, None).into())
}

/// What `cf-run --failover` is asked.
pub struct Supervised {
    pub account: Option<String>,
    pub mode: Option<crate::mode::ModeChoice>,
    pub command: Vec<OsString>,
    pub continue_prompt: String,
    /// Passed on to each launch.
    pub keep_env: Vec<String>,
    /// `--private-tmp` (true) or `--shared-tmp` (false), if given.
    pub private_tmp: Option<bool>,
    /// When every account is limited, wait for the first reset instead of ending.
    pub wait: bool,
}

/// How long an account that hit a limit with no reset time in its text is
/// skipped.
const COOLDOWN: u64 = 3600;

/// `cf-run --failover`: runs the command under one account after another in
/// this terminal, each a full launch of its own. It follows the session the
/// client is on (the one it was started on, or learned from the client for
/// `--continue`, the picker, a fork, and after `/resume`). When that
/// session's transcript records a usage limit, the client is ended (SIGTERM
/// through its cf-run), the account's cool-down recorded, what the resume
/// needs carried to the next account, and the session resumed there with
/// the continue prompt. Ends as the client does when it ends by itself; when
/// every account is limited, waits for the first reset (`wait`) or ends with
/// 75. Either way the last line names the command that resumes the session.
pub fn supervise(config: &Config, config_path: &Path, user: &User, req: Supervised) -> Result<()> {
    let state = State::of(user);
    let shared = &config.shared_projects;
    let mut limits = Limits::load(&state)?;
    // Following the client needs its own per-process file, kept apart from
    // every other client's only in a namespace launch.
    let chosen = Decision::decide(Some(config), req.mode, Probe::host).chosen()?;
    if chosen.mode == Mode::Symlink {
        bail!(
            "cf-run --failover needs a namespace (--mode userns or privileged; symlink mode \
             here: {}): without one cf-run cannot tell which session the client is on after \
             /resume, the picker or --continue, and two clients could write one transcript",
            chosen.reason
        );
    }
    let mut command = if req.command.is_empty() {
        vec![OsString::from("claude")]
    } else {
        req.command
    };
    let mut id = match claude_args::pick(&command) {
        Pick::Named(id) => Some(id),
        Pick::ByClient => None,
        Pick::New => {
            let id = uuid::Uuid::new_v4().to_string();
            command.extend(["--session-id".into(), id.clone().into()]);
            Some(id)
        }
    };
    let order: Vec<String> = config.accounts.iter().map(|a| a.name.clone()).collect();
    let cwd = std::env::current_dir().context("getcwd")?;
    // The terminal's Ctrl-C is the client's to handle; between two clients
    // it stops the move, and says how to go on.
    sys::note_interrupts().map_err(|e| anyhow!("sigaction(SIGINT) => {e}"))?;
    let mut account = match req.account {
        Some(name) => config.account(&name)?.name.clone(),
        None => match next_account(config, &order, (&limits, &Known::load(&state)), None) {
            Some(first) => first,
            None if req.wait => wait_for_a_reset(config, &state, &order, id.as_deref())?,
            None => return Err(all_limited(&order, &limits, id.as_deref()).into()),
        },
    };
    let me = std::env::current_exe().context("cannot find this program (/proc/self/exe)")?;
    // What the next client shows once it has resumed: why it runs.
    let mut note: Option<String> = None;
    loop {
        let started = Timestamp::now();
        // What the transcript holds already is not this launch's to judge.
        let mut follower = match &id {
            Some(id) => supervise::Follower::from_now(shared, id),
            None => supervise::Follower::since(started),
        };
        let mut launch = Command::new(&me);
        launch
            .arg("--config")
            .arg(config_path)
            .args(["--account", &account]);
        if let Some(mode) = req.mode {
            launch.arg("--mode").arg(mode.to_string());
        }
        for name in &req.keep_env {
            launch.args(["--keep-env", name]);
        }
        if let Some(note) = &note {
            launch.args(["--handover-note", note]);
        }
        match req.private_tmp {
            Some(true) => launch.arg("--private-tmp"),
            Some(false) => launch.arg("--shared-tmp"),
            None => &mut launch,
        };
        // An API-key account's 429 is retried ten times (about 3 minutes)
        // before the client records it: a few are enough to tell a passing
        // rate limit from one that stays. The user's own setting wins.
        if std::env::var_os(MAX_RETRIES).is_none() {
            launch.env(MAX_RETRIES, "2");
        }
        let mut child = launch
            .arg("--")
            .args(&command)
            .spawn()
            .with_context(|| format!("cannot run {}", me.display()))?;
        // When the early-move check last ran: the turn's record and the
        // usage it judged, so each is judged once.
        let mut judged = None;
        // Woken by the client's own files (the session it is on, the tap's
        // records) and its transcript, and by the launch's end.
        let mut wake = Wake::new();
        let ends = sys::pidfd_open(child.id()).ok();
        let clients = state.client_path(child.id());
        let (why, on) = loop {
            wake.watch(&clients);
            if let Some(status) = child.try_wait()? {
                if let Some(id) = &id {
                    say(&format!(
                        "to go on with session {id}: {}",
                        resume_command(id)
                    ));
                }
                crate::monitor::End::of_child(status).exit();
            }
            // The client moved (`/resume`, the picker), or named the session
            // it chose: its launch's registry entry follows it.
            if let Some(now) = session::session_of_launch(&state, child.id())
                && id.as_deref() != Some(now.as_str())
            {
                // From the launch's start, not from now: the client may have
                // written its first turn there (a fork's, and its limit)
                // before its own file named the session.
                follower = supervise::Follower::since(started);
                id = Some(now);
            }
            if let Some(id) = &id {
                if let Some(limit) = follower.poll(shared, id)? {
                    break (Move::Limit(limit), id.clone());
                }
                if follower.dir().is_some_and(|dir| wake.watch(dir)) {
                    continue;
                }
                let turn = state.client_file(child.id(), tap::TURN_FILE);
                // Between turns: the last turn ended, and no prompt since.
                let ended = turn
                    .filter(|(what, _)| what == tap::TURN_ENDED)
                    .map(|(_, (s, ns))| (s, ns))
                    .filter(|&(s, ns)| {
                        let at = Timestamp::new(s, ns as i32).unwrap_or(Timestamp::UNIX_EPOCH);
                        follower.last_user.is_none_or(|prompt| prompt < at)
                    });
                if let Some(written) = ended
                    && let Some(early) =
                        early_move(config, &state, (&order, &account), written, &mut judged)?
                {
                    break (early, id.clone());
                }
            }
            wake.wait(follower.patience(), ends.as_ref().map(|fd| fd.as_fd()));
        };
        // A Ctrl-C the client had before its limit is not one for the move.
        sys::interrupted();
        end(&mut child)?;
        let (next, line, prompt) = match why {
            Move::Limit(limit) => {
                let until =
                    cooldown_until((&limit.text, limit.resets_at), COOLDOWN, Timestamp::now());
                limits.set(&state, &account, Some(until))?;
                let known = Known::load(&state);
                let next = match next_account(config, &order, (&limits, &known), Some(&account)) {
                    Some(next) => next,
                    None if req.wait => wait_for_a_reset(config, &state, &order, Some(&on))?,
                    None => return Err(all_limited(&order, &limits, Some(&on)).into()),
                };
                let line = format!(
                    "account {account} hit its usage limit (until {}): session {on} goes on \
                     under {next}",
                    local(until)
                );
                (next, line, Some(req.continue_prompt.as_str()))
            }
            // Between turns: nothing to go on with, the user says what is next.
            Move::Early { window, used, next } => {
                let line = format!(
                    "account {account} is at {:.0}% of its {} limit (resets {}): session {on} \
                     goes on under {next}, which has more room",
                    used.used_percentage,
                    window,
                    local(used.resets())
                );
                (next, line, None)
            }
        };
        let (from, to) = (&config.account(&account)?.dir, &config.account(&next)?.dir);
        if let Err(e) = handover::carry(from, to, &cwd) {
            say(&format!(
                "warning: {e:#}; {next} may ask to trust this folder"
            ));
        }
        say(&line);
        if sys::interrupted() {
            return Err(Exit::new(
                INTERRUPTED,
                format!(
                    "interrupted; to go on with session {on}: {}",
                    resume_command(&on)
                ),
            )
            .into());
        }
        // The next client shows the line too, once it has resumed: by then
        // its own screen has covered this one.
        note = Some(format!("cf-run: {line}"));
        command = resumed(&command, &on, prompt);
        account = next;
        id = Some(on);
    }
}

/// Why `--failover` moves a session.
enum Move {
    /// Its transcript records a usage limit.
    Limit(supervise::Limit),
    /// Its turn ended with its account past a threshold, and `next` has
    /// more room.
    Early {
        window: &'static str,
        used: Window,
        next: String,
    },
}

/// Whether a session whose turn ended (`turn`: when the tap recorded it)
/// moves before its limit: its account (`account`) is past a threshold of
/// the config's, by the last usage the client showed, and another account
/// is below both thresholds and has more room. Each turn's end and each
/// usage is judged once (`judged`).
fn early_move(
    config: &Config,
    state: &State,
    (order, account): (&[String], &str),
    turn: (i64, i64),
    judged: &mut Option<((i64, i64), Timestamp)>,
) -> Result<Option<Move>> {
    let known = Known::load(state);
    let Some(usage) = known.of(account) else {
        return Ok(None);
    };
    if judged.replace((turn, usage.seen)) == Some((turn, usage.seen)) {
        return Ok(None);
    }
    let now = Timestamp::now();
    let Some((window, used)) = config.thresholds.crossed(usage, now) else {
        return Ok(None);
    };
    // Every cool-down any session has recorded so far.
    let limits = Limits::load(state)?;
    let Some(next) = next_account(config, order, (&limits, &known), Some(account)) else {
        return Ok(None);
    };
    let roomier = known.room(&next, now) > usage.room(now);
    let below = known
        .of(&next)
        .is_none_or(|u| config.thresholds.crossed(u, now).is_none());
    Ok((roomier && below).then_some(Move::Early { window, used, next }))
}

/// The client's count of retries of a failed request.
const MAX_RETRIES: &str = "CLAUDE_CODE_MAX_RETRIES";

/// How `--failover` ends when the terminal interrupted the move: as a shell
/// reports SIGINT.
const INTERRUPTED: u8 = 130;

/// One line of cf-run's on stderr, printable whatever it quotes.
fn say(text: &str) {
    eprintln!("{}", crate::output::printable(&format!("cf-run: {text}")));
}

/// The command that resumes session `id` under failover, as the user types it.
fn resume_command(id: &str) -> String {
    format!("cf-run --failover -- claude --resume {id}")
}

/// Every account is cooling down: sleeps until the first cool-down ends (a
/// line says which and when), then returns the account to go on under. The
/// terminal's Ctrl-C ends the wait, naming the command that resumes.
fn wait_for_a_reset(
    config: &Config,
    state: &State,
    order: &[String],
    id: Option<&str>,
) -> Result<String> {
    let mut said = None;
    loop {
        let limits = Limits::load(state)?;
        if let Some(next) = next_account(config, order, (&limits, &Known::load(state)), None) {
            return Ok(next);
        }
        let now = Timestamp::now();
        let first = order
            .iter()
            .filter_map(|a| limits.cooling(a, now).map(|t| (t, a)))
            .min();
        let Some((at, account)) = first else {
            // None cools down, and none can go on: never logged in.
            return Err(all_limited(order, &limits, id).into());
        };
        if said != Some(at) {
            say(&format!(
                "every account is at its usage limit; waiting for {account}'s, which lifts at {} \
                 (Ctrl-C stops waiting)",
                local(at)
            ));
            said = Some(at);
        }
        if sys::interrupted() {
            let how = id.map_or(String::new(), |id| {
                format!("; to go on with session {id}: {}", resume_command(id))
            });
            return Err(Exit::new(INTERRUPTED, format!("stopped waiting{how}")).into());
        }
        let left = at.duration_since(now).unsigned_abs();
        std::thread::sleep(left.min(std::time::Duration::from_secs(1)));
    }
}

/// The account to go on under: of those not `after`, not cooling down and
/// logged in, the one with the most room by the last known usage (unknown
/// counts as all of it); config order breaks ties. Accounts never logged in
/// are named and passed over.
fn next_account(
    config: &Config,
    order: &[String],
    (limits, known): (&Limits, &Known),
    after: Option<&str>,
) -> Option<String> {
    let now = Timestamp::now();
    let mut best: Option<(&String, f64)> = None;
    for name in order {
        if Some(name.as_str()) == after || limits.cooling(name, now).is_some() {
            continue;
        }
        let account = config.account(name).ok();
        if !account.is_some_and(|a| handover::logged_in(&a.dir, &a.env)) {
            eprintln!(
                "cf-run: account {name} has never logged in (no .credentials.json, no key): passed over"
            );
            continue;
        }
        let room = known.room(name, now);
        if best.is_none_or(|(_, most)| room > most) {
            best = Some((name, room));
        }
    }
    best.map(|(name, _)| name.clone())
}

/// The error when every account is cooling down: which, and until when,
/// and how to go on with session `id` later.
fn all_limited(order: &[String], limits: &Limits, id: Option<&str>) -> Exit {
    let waits: Vec<_> = order
        .iter()
        .map(|a| match limits.cooling(a, Timestamp::now()) {
            Some(until) => format!("{a} until {}", local(until)),
            None => format!("{a} (not logged in)"),
        })
        .collect();
    let how = id.map_or(String::new(), |id| {
        format!(
            "; to go on with session {id} later: {} (--wait waits for the first reset)",
            resume_command(id)
        )
    });
    Exit::new(
        exit::TEMPFAIL,
        format!(
            "every account is at its usage limit: {}{how}",
            waits.join(", ")
        ),
    )
}

/// Ends the client of a launch that hit its limit: SIGTERM, which its cf-run
/// relays, then SIGKILL after 10 s.
fn end(child: &mut std::process::Child) -> Result<()> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// `command` resuming session `id` with `prompt`: the ways it picked its
/// session, however spelled (`--resume [ID|TERM]`, `-r`, `--session-id ID`,
/// `--continue`, `-c`, `--fork-session`, and `r` or `c` in a cluster of short
/// flags), give way to `--resume ID PROMPT`.
fn resumed(command: &[OsString], id: &str, prompt: Option<&str>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(command.len() + 3);
    let mut args = command.iter().peekable();
    // The program itself.
    out.extend(args.next().cloned());
    // Whether the next argument is the value of what was just dropped.
    let value = |next: Option<&&OsString>| {
        next.and_then(|n| n.to_str())
            .is_some_and(|n| claude_args::is_uuid(n) || !n.starts_with('-'))
    };
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            out.push(arg.clone());
            continue;
        };
        match text {
            "--continue" | "--fork-session" => {}
            "--resume" | "--session-id" => {
                if value(args.peek()) {
                    args.next();
                }
            }
            _ if text.starts_with("--resume=") || text.starts_with("--session-id=") => {}
            _ if text.starts_with('-') && !text.starts_with("--") && text.len() > 1 => {
                // A cluster: `c` goes; `r` goes with its value (the rest of
                // the cluster, or the next argument).
                let (flags, rest) = match text[1..].split_once('r') {
                    Some((flags, rest)) => (flags, Some(rest)),
                    None => (&text[1..], None),
                };
                if rest == Some("") && value(args.peek()) {
                    args.next();
                }
                let kept: String = flags.chars().filter(|&f| f != 'c').collect();
                if !kept.is_empty() {
                    out.push(format!("-{kept}").into());
                }
            }
            _ => out.push(arg.clone()),
        }
    }
    out.extend(["--resume".into(), id.into()]);
    out.extend(prompt.map(OsString::from));
    out
}

/// The most of a client's printed result that `failover` keeps.
const MAX_RESULT: u64 = 64 << 20;

struct Attempt {
    status: u8,
    stdout: Vec<u8>,
}

/// Runs `cf-run --account ACCOUNT -- CLAUDE...` as a child with `prompt` on
/// its stdin, its stderr passed through.
fn attempt(
    config_path: &Path,
    account: &str,
    claude: &[OsString],
    prompt: &[u8],
) -> Result<Attempt> {
    let me = std::env::current_exe().context("cannot find this program (/proc/self/exe)")?;
    tracing::debug!("failover attempt under {account}: {claude:?}");
    let mut child = Command::new(&me)
        .arg("--config")
        .arg(config_path)
        .args(["--account", account, "--"])
        .args(claude)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {}", me.display()))?;
    // Written beside the read of stdout: a long prompt would fill the pipe.
    let mut stdin = child.stdin.take().context("stdin")?;
    let prompt = prompt.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&prompt));
    // Kept up to a bound, the rest read and dropped: the session writes it.
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut kept = Vec::new();
    (&mut stdout)
        .take(MAX_RESULT)
        .read_to_end(&mut kept)
        .context("reading claude's result")?;
    std::io::copy(&mut stdout, &mut std::io::sink()).context("reading claude's result")?;
    let exit = child.wait().context("waiting for claude")?;
    // A client that ends without reading its prompt closes the pipe: not an error here.
    let _ = writer.join();
    let status = match (exit.code(), exit.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128 + signal as u8,
        _ => exit::FAILURE,
    };
    Ok(Attempt {
        status,
        stdout: kept,
    })
}

/// The limit text when an attempt ended on a usage limit: its result says
/// 429; or, when it printed no result, the transcript's last turn records a
/// limit (a result that says anything else is the attempt's own word).
fn limit_of(
    result: Option<&Value>,
    shared: &Path,
    session: &str,
) -> Option<(String, Option<Timestamp>)> {
    // Only the transcript's end, in bounded memory: the session wrote it.
    // Where the client recorded the reset to the second, it is there.
    let recorded = || supervise::Follower::default().poll(shared, session).ok()?;
    if let Some(r) = result {
        let limited = r["is_error"] == true && r["api_error_status"] == 429;
        let text = r["result"].as_str().unwrap_or("usage limit").to_owned();
        return limited.then(|| (text, recorded().and_then(|l| l.resets_at)));
    }
    recorded().map(|l| (l.text, l.resets_at))
}

/// When a limit lifts, from Claude's text: "… · resets 3pm (Europe/Paris)",
/// "resets 3:20pm", "resets Feb 7, 11am (UTC)", or the older
/// "Claude AI usage limit reached|<unix seconds>".
pub fn reset_time(text: &str, now: Timestamp) -> Option<Timestamp> {
    if let Some((_, secs)) = text.rsplit_once('|') {
        return Timestamp::from_second(secs.trim().parse().ok()?).ok();
    }
    let rest = &text[text.find("resets ")? + "resets ".len()..];
    let (when, zone) = match rest.split_once(" (") {
        Some((when, zone)) => (when.trim(), TimeZone::get(zone.split(')').next()?).ok()?),
        None => (rest.trim(), TimeZone::system()),
    };
    let (date, clock) = match when.rsplit_once(", ") {
        Some((date, clock)) => (Some(date), clock),
        None => (None, when),
    };
    let time = parse_clock(clock)?;
    let today = now.to_zoned_datetime(zone.clone()).date();
    let at = |day: civil::Date| {
        day.to_datetime(time)
            .to_zoned_datetime(zone.clone())
            .ok()
            .map(|z| z.timestamp())
    };
    match date {
        None => {
            let t = at(today)?;
            if t > now {
                Some(t)
            } else {
                at(today.tomorrow().ok()?)
            }
        }
        Some(date) => {
            let (month, day) = date.split_once(' ')?;
            let month = MONTHS.iter().position(|m| month.starts_with(m))? as i8 + 1;
            let day: i8 = day.trim().parse().ok()?;
            let this_year = civil::Date::new(today.year(), month, day).ok()?;
            let t = at(this_year)?;
            if t > now {
                Some(t)
            } else {
                at(civil::Date::new(today.year() + 1, month, day).ok()?)
            }
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// "3pm", "3:20pm", "11am", "12am" into a time of day.
fn parse_clock(clock: &str) -> Option<civil::Time> {
    let clock = clock.trim().to_ascii_lowercase();
    let (digits, pm) = match (clock.strip_suffix("pm"), clock.strip_suffix("am")) {
        (Some(d), _) => (d, true),
        (_, Some(d)) => (d, false),
        _ => return None,
    };
    let (hour, minute) = match digits.split_once(':') {
        Some((h, m)) => (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?),
        None => (digits.parse::<i8>().ok()?, 0),
    };
    if !(1..=12).contains(&hour) {
        return None;
    }
    let hour = hour % 12 + if pm { 12 } else { 0 };
    civil::Time::new(hour, minute, 0, 0).ok()
}

/// Until when an account that hit a limit cools down: the reset the client
/// recorded (to the second), else the time `text` reads, else `cooldown`
/// seconds from `now`.
fn cooldown_until(
    (text, resets_at): (&str, Option<Timestamp>),
    cooldown: u64,
    now: Timestamp,
) -> Timestamp {
    resets_at
        .filter(|t| *t > now)
        .or_else(|| reset_time(text, now))
        .unwrap_or_else(|| now + jiff::SignedDuration::from_secs(cooldown as i64))
        .min(now + usage::LONGEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-25T14:00:00Z".parse().unwrap()
    }

    fn reset(text: &str) -> Option<String> {
        reset_time(text, now()).map(|t| t.to_string())
    }

    #[test]
    fn a_resume_replaces_the_sessions_own_arguments_however_spelled() {
        let id = "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        let want = args(&["claude", "--model", "x", "--resume", id, "go on"]);
        for given in [
            args(&["claude", "--model", "x", "--session-id", id]),
            args(&["claude", "--session-id", id, "--model", "x"]),
            args(&["claude", &format!("--resume={id}"), "--model", "x"]),
            args(&["claude", "-r", &id.to_uppercase(), "--model", "x"]),
            args(&["claude", &format!("-r{id}"), "--model", "x"]),
            args(&["claude", "--continue", "--model", "x"]),
            args(&["claude", "-c", "--model", "x"]),
            args(&["claude", "--resume", "--model", "x"]),
            args(&["claude", "--resume", "my task", "--model", "x"]),
            args(&["claude", "--resume", id, "--fork-session", "--model", "x"]),
        ] {
            assert_eq!(resumed(&given, id, Some("go on")), want, "{given:?}");
        }
        assert_eq!(
            resumed(&args(&["claude", "-pc", "--model", "x"]), id, Some("go on")),
            args(&["claude", "-p", "--model", "x", "--resume", id, "go on"])
        );
    }

    #[test]
    fn reads_todays_and_tomorrows_reset_times() {
        assert_eq!(
            reset("You've hit your session limit · resets 3pm (UTC)").as_deref(),
            Some("2026-11-25T15:00:00Z")
        );
        assert_eq!(
            reset("You've hit your usage limit · resets 3:20pm (UTC)").as_deref(),
            Some("2026-11-25T15:20:00Z")
        );
        // 11am has passed today: tomorrow.
        assert_eq!(
            reset("You've hit your Opus limit · resets 11am (UTC)").as_deref(),
            Some("2026-11-26T11:00:00Z")
        );
        assert_eq!(
            reset("resets 12am (Europe/Paris)").as_deref(),
            Some("2026-11-25T23:00:00Z")
        );
    }

    #[test]
    fn reads_dates_zones_and_the_old_format() {
        assert_eq!(
            reset("You've hit your weekly limit · resets Feb 7, 11am (Europe/Paris)").as_deref(),
            Some("2027-02-07T10:00:00Z")
        );
        assert_eq!(
            reset("resets Dec 1, 9:30am (UTC)").as_deref(),
            Some("2026-12-01T09:30:00Z")
        );
        assert_eq!(
            reset("Claude AI usage limit reached|1764082800").as_deref(),
            Some("2025-11-25T15:00:00Z")
        );
    }

    #[test]
    fn unknown_texts_have_no_reset_time() {
        for text in [
            "API Error: Request rejected (429) · mock API: rate limited",
            "Server is temporarily limiting requests (not your usage limit)",
            "resets 13pm (UTC)",
            "resets 3pm (Not/AZone)",
            "resets Foo 7, 3pm (UTC)",
        ] {
            assert_eq!(reset(text), None, "{text}");
        }
    }
}
