//! cf-run: parse, dispatch, and turn errors into exit statuses.

mod checks;
mod cli;
mod config;
mod exec;
mod launch;
mod mode;
mod mounts;
mod namespace;
mod plan;
mod policy;
mod resolve;
mod symlink;
mod sys;
mod user;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, LaunchArgs};
use crate::config::Config;
use crate::mode::{Mode, Probe};
use crate::plan::Plan;
use crate::policy::Policy;
use crate::user::User;

/// Like env(1): 125 when cf-run itself fails.
const EXIT_FAILURE: u8 = 125;
/// Usage errors, as clap reports them.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    init_logging(cli.verbose);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cf-run: {e:#}");
            let exec = e.downcast_ref::<exec::ExecFailed>();
            ExitCode::from(exec.map_or(EXIT_FAILURE, |x| x.status))
        }
    }
}

/// Silent unless asked: `-v`, or a filter in `RUST_LOG`.
fn init_logging(verbose: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => f,
        _ if verbose => "debug".into(),
        _ => return,
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
}

fn run(cli: &Cli) -> Result<()> {
    launch(cli, &cli.launch)
}

fn launch(cli: &Cli, args: &LaunchArgs) -> Result<()> {
    let user = User::invoking()?;
    let path = config::locate(cli.config.as_deref(), |k| std::env::var(k).ok(), &user.home);
    let config = Config::load(&path, user.uid, &user.home)?;
    let policy = Policy::load(Path::new(policy::PATH))?;
    policy.permit(&config)?;
    let choice = args.mode.unwrap_or(config.mode);
    let mode = mode::choose(choice, &Probe::host(), &policy.modes)?;
    policy.permit_mode(mode.0)?;
    let plan = Plan::build(&config, &args.account, &user, mode, args.command.clone())?;
    tracing::debug!("plan:\n{plan}");
    if args.dry_run {
        print!("{plan}");
        return Ok(());
    }
    if plan.mode == Mode::Symlink && choice == mode::ModeChoice::Auto {
        eprintln!("cf-run: symlink mode: {}", plan.reason);
    }
    match launch::run(&plan)? {}
}
