//! cf-run: parse, dispatch, and turn errors into exit statuses.

// The C entry point, not Rust's runtime start: that start sets SIGPIPE to
// ignored, which the command would inherit through exec (signals must be the
// caller's, as under env(1) or bwrap), and reads /proc/self/maps for a stack
// guard, on every launch.
#![cfg_attr(not(test), no_main)]

mod accounts;
mod checks;
mod claude_args;
mod cli;
mod config;
mod decision;
mod doctor;
mod environ;
mod exec;
mod exit;
mod failover;
mod handover;
mod init;
mod launch;
mod mode;
mod monitor;
mod mounts;
mod namespace;
mod output;
mod plan;
mod policy;
mod resolve;
mod scope;
mod seccomp;
mod session;
mod supervise;
mod symlink;
mod sys;
mod tap;
mod usage;
mod user;
mod wake;
mod wrap;

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cli::{Cli, Command, LaunchArgs};
use crate::config::Config;
use crate::decision::Decision;
use crate::mode::{Mode, ModeChoice, Probe};
use crate::plan::{Plan, Request};
use crate::session::State;
use crate::user::User;

// dlmalloc, not the libc's: musl's malloc maps and unmaps memory as a
// launch's allocations come and go, 19 system calls more than dlmalloc's
// (and glibc's is only in a build where musl is not to be had, see
// scripts/static.sh).
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[cfg_attr(not(test), unsafe(no_mangle))]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // What Rust's start would have done.
    sys::open_stdio();
    sys::ignore_sigxfsz();
    let status = status(sys::main_args(argc, argv));
    // Rust's start would flush stdout at exit; `--dry-run` and `ps` print through it.
    let _ = std::io::stdout().flush();
    status.into()
}

fn status(args: Vec<OsString>) -> u8 {
    let cli = match Cli::parse_args(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `cf-run --account A claude`: a launch's command needs its `--`.
            let stray = e
                .get(clap::error::ContextKind::InvalidArg)
                .map(|arg| arg.to_string())
                .filter(|arg| !arg.starts_with('-'));
            let launch = args.iter().any(|a| {
                let a = a.to_string_lossy();
                a == "--account" || a.starts_with("--account=") || a == "--failover"
            });
            if let Some(stray) = stray
                && e.kind() == clap::error::ErrorKind::UnknownArgument
                && launch
                && !args.iter().any(|a| a == "--")
            {
                let line = format!(
                    "\nhint: the command goes after --: cf-run --account NAME -- {stray} [ARGS]"
                );
                eprintln!("{}", output::printable(&line));
            }
            return if e.use_stderr() { exit::USAGE } else { 0 };
        }
    };
    // Inside a session, for the client: its statusline's status, and
    // nothing of the user's needed.
    if let Some(Command::Tap { event }) = cli.command {
        let event = match event {
            cli::TapEvent::Statusline => tap::Event::Statusline,
            cli::TapEvent::TurnEnded => tap::Event::TurnEnded,
        };
        return tap::run(event).unwrap_or(exit::FAILURE);
    }
    init_logging(cli.verbose);
    match run(&cli) {
        Ok(()) => 0,
        Err(e) => {
            let status = exit::status_of(&e);
            // A launch refused (125) inside a session; not the command's own
            // exec failing (126, 127), which runs inside the new one.
            if cli.command.is_none() && status == exit::FAILURE && monitor::inside_session() {
                eprintln!("cf-run: {INSIDE}");
            }
            let message = format!("{e:#}");
            eprintln!("cf-run: {}", output::printable(&message));
            if let Some(hint) = exit::hint(&message) {
                eprintln!("cf-run: hint: {hint}");
            }
            status
        }
    }
}

/// Silent unless asked: `-v`, or directives in `RUST_LOG` (`debug`,
/// `cf_run=trace`, ...).
fn init_logging(verbose: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let directives = match std::env::var("RUST_LOG") {
        Ok(d) if !d.is_empty() => d,
        _ if verbose => "debug".into(),
        _ => return,
    };
    // Targets, not EnvFilter: the same directives without a regex engine in
    // a binary that starts before every session.
    let filter: tracing_subscriber::filter::Targets = directives.parse().unwrap_or_default();
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time();
    tracing_subscriber::registry()
        .with(output)
        .with(filter)
        .init();
}

/// What cf-run says when run inside a session.
const INSIDE: &str = "this runs inside a cf-run session, whose PID namespace hides the other \
     sessions and where cf-run's own state is covered: run cf-run from a shell outside any \
     session (another terminal)";

fn run(cli: &Cli) -> Result<()> {
    let user = User::invoking()?;
    let state = State::of(&user);
    // Inside a session, its PID namespace hides the other launches and
    // cf-run's state is covered: say so first rather than answer wrong
    // (`wrap` runs there on purpose; a launch costs no check until it fails).
    if cli.command.is_some()
        && !matches!(cli.command, Some(Command::Wrap(_)))
        && monitor::inside_session()
    {
        bail!("{INSIDE}");
    }
    match &cli.command {
        None => launch(cli, &cli.launch, &user),
        Some(Command::Ps(args)) => supervise::ps(&state, args.json),
        Some(Command::Stop(args)) => {
            let timeout = Duration::try_from_secs_f64(args.timeout).context("--timeout")?;
            supervise::stop(&state, &args.session, timeout)
        }
        Some(Command::Watch(args)) => {
            let config = load_config(cli, &user)?;
            supervise::watch(&state, &config.shared_projects, &args.session, args.json)
        }
        Some(Command::Failover(args)) => {
            let path = config_path(cli, &user);
            let config = Config::load(&path, user.uid, &user.home)?;
            let task = failover::Task {
                accounts: args.accounts.clone(),
                continue_prompt: args.continue_prompt.clone(),
                cooldown: args.cooldown,
                prompt: args.prompt.clone(),
            };
            failover::run(&config, &path, &user, &task)
        }
        Some(Command::Init(args)) => {
            let request = init::Request {
                shared: args.shared.clone(),
                accounts: args.accounts.clone(),
                shares: args.shares.clone(),
                layout: match args.layout {
                    cli::LayoutArg::Namespace => init::Layout::Namespace,
                    cli::LayoutArg::Symlink => init::Layout::Symlink,
                },
                dry_run: args.dry_run,
                force: args.force,
            };
            init::run(&request, &config_path(cli, &user), &user)
        }
        Some(Command::Doctor(args)) => {
            doctor::run(&config_path(cli, &user), &user, args.json, args.all)
        }
        Some(Command::Accounts(args)) => {
            let path = config_path(cli, &user);
            match (&args.change, &args.clear_cooldown) {
                (Some(cli::AccountChange::Add { name, dir }), _) => {
                    accounts::add(&path, &user, name, dir.as_deref())
                }
                (Some(cli::AccountChange::Remove { name }), _) => {
                    accounts::remove(&path, &user, &state, name)
                }
                (None, Some(name)) => {
                    accounts::clear_cooldown(&load_config(cli, &user)?, &state, name)
                }
                (None, None) if args.dirs => accounts::dirs(&load_config(cli, &user)?),
                (None, None) if args.names => {
                    for account in &load_config(cli, &user)?.accounts {
                        println!("{}", output::printable(&account.name));
                    }
                    Ok(())
                }
                (None, None) => accounts::show(&load_config(cli, &user)?, &state, args.json),
            }
        }
        // Run by status(), before anything of the user's is looked up.
        Some(Command::Tap { .. }) => Ok(()),
        Some(Command::Wrap(args)) => {
            if monitor::inside_session() {
                wrap::refuse_supervisor_in_session(&args.command)?;
                match exec::exec(&args.command, &[], &[])? {}
            }
            let config = load_config(cli, &user)?;
            let request = Request {
                account: wrap::account_of_client(&config, &user)?,
                command: args.command.clone(),
                caller_env: caller_env(),
                ..Request::default()
            };
            start(&config, &user, request, None, false)
        }
    }
}

fn mode_choice(arg: cli::ModeArg) -> ModeChoice {
    match arg {
        cli::ModeArg::Auto => ModeChoice::Auto,
        cli::ModeArg::Userns => ModeChoice::Userns,
        cli::ModeArg::Privileged => ModeChoice::Privileged,
        cli::ModeArg::Symlink => ModeChoice::Symlink,
    }
}

fn config_path(cli: &Cli, user: &User) -> std::path::PathBuf {
    config::locate(cli.config.as_deref(), |k| std::env::var_os(k), &user.home)
}

fn load_config(cli: &Cli, user: &User) -> Result<Config> {
    Config::load(&config_path(cli, user), user.uid, &user.home)
}

/// `--private-tmp` or `--shared-tmp`, if either was given.
fn tmp_choice(args: &LaunchArgs) -> Option<bool> {
    (args.private_tmp || args.shared_tmp).then_some(args.private_tmp)
}

fn launch(cli: &Cli, args: &LaunchArgs, user: &User) -> Result<()> {
    let config = load_config(cli, user)?;
    if args.failover {
        let request = failover::Supervised {
            account: args.account.clone(),
            mode: args.mode.map(mode_choice),
            command: args.command.clone(),
            continue_prompt: args.continue_prompt.clone(),
            keep_env: args.keep_env.clone(),
            private_tmp: tmp_choice(args),
            wait: args.wait,
        };
        return failover::supervise(&config, &config_path(cli, user), user, request);
    }
    let request = Request {
        account: args.account.clone().context("--account is required")?,
        command: args.command.clone(),
        session: args.session.clone(),
        wait: args.wait,
        caller_env: caller_env(),
        keep_env: args.keep_env.clone(),
        private_tmp: tmp_choice(args),
        tap: std::env::current_exe().ok(),
        note: args.handover_note.clone(),
    };
    start(
        &config,
        user,
        request,
        args.mode.map(mode_choice),
        args.dry_run,
    )
}

/// The credential variables the caller's environment sets (a lookup each:
/// no copy of the whole environment).
fn caller_env() -> Vec<String> {
    environ::CREDENTIALS
        .iter()
        .filter(|name| std::env::var_os(name).is_some())
        .map(|&name| name.to_owned())
        .collect()
}

/// Decides a launch, then prints its plan (`dry_run`) or carries it out.
fn start(
    config: &Config,
    user: &User,
    request: Request,
    asked: Option<ModeChoice>,
    dry_run: bool,
) -> Result<()> {
    let decision = Decision::decide(Some(config), asked, Probe::host);
    let choice = decision.choice;
    let plan = Plan::build(config, request, user, decision.chosen()?)?;
    tracing::debug!("plan:\n{plan}");
    if dry_run {
        print!("{}", output::printable(&plan.to_string()));
        return Ok(());
    }
    if plan.mode == Mode::Symlink && choice == ModeChoice::Auto {
        eprintln!("cf-run: symlink mode: {}", plan.reason);
    }
    match launch::run(&plan)? {}
}
