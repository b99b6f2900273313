//! The command line: clap's definitions and nothing else. `main` turns what
//! they parse into each command's own request; no clap type goes further.
//! Apart from std and clap, this file uses only `claude_args` and `environ`,
//! which use std alone: the man page and completions are generated from it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

/// Run Claude Code (or any command) under one of several accounts, in a
/// private mount namespace where that account's dir is ~/.claude and the
/// shared transcripts are ~/.claude/projects.
#[derive(Debug, Parser)]
#[command(name = "cf-run", version, about, long_about = None)]
#[command(
    override_usage = "cf-run [OPTIONS] --account NAME [-- COMMAND [ARGS]...]\n       cf-run --failover [--account NAME] [-- claude [ARGS]...]\n       cf-run <accounts|account|ps|stop|watch|failover|init|doctor|wrap> [OPTIONS]"
)]
#[command(subcommand_negates_reqs = true)]
pub struct Cli {
    /// Config file [default: $CF_RUN_CONFIG, else $XDG_CONFIG_HOME/claude-failover/config.toml,
    /// else ~/.config/claude-failover/config.toml]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Log each step to stderr (RUST_LOG works too)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub launch: LaunchArgs,
}

impl Cli {
    /// Parses `args`. A subcommand takes no launch option; clap's
    /// `args_conflicts_with_subcommands` would refuse them, but also the
    /// global `--config` and `-v` before a subcommand (`cf-run -v ps`).
    pub fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        if let Some(cli) = Self::plain_launch(&args) {
            return Ok(cli);
        }
        let cli = Self::try_parse_from(args)?;
        let l = &cli.launch;
        let launch = l.account.is_some()
            || l.mode.is_some()
            || l.dry_run
            || l.session.is_some()
            || l.wait
            || l.failover
            || !l.command.is_empty();
        if cli.command.is_some() && launch {
            use clap::CommandFactory;
            return Err(Self::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "--account, --mode, --dry-run, --session, --wait and -- COMMAND are for a launch, \
                 not for a subcommand",
            ));
        }
        Ok(cli)
    }
}

/// The default of `--continue-prompt` (a launch's and `failover`'s).
const CONTINUE: &str = "Continue the task from where it stopped.";

impl Cli {
    /// The usual launch line, parsed without clap: `--account NAME`, with
    /// only `--mode`, `--session`, `--wait`, `--private-tmp` or
    /// `--shared-tmp`, `--keep-env`, `--dry-run`, `--config` and `-v`
    /// around it, each at most once (`--keep-env` as often as wanted), as
    /// `--NAME VALUE` or `--NAME=VALUE`, then `--` and the command. That is
    /// what clap would make of it, and a test holds them equal. Anything
    /// else (help, a subcommand, an unknown, repeated or conflicting
    /// option, a value that starts with `-` or is empty, a non-UTF-8
    /// argument before `--`) is None: clap parses it, and words its errors.
    /// Building clap's parser costs more than the rest of cf-run's start.
    fn plain_launch(args: &[OsString]) -> Option<Self> {
        let mut launch = LaunchArgs {
            account: None,
            failover: false,
            continue_prompt: CONTINUE.into(),
            handover_note: None,
            mode: None,
            dry_run: false,
            session: None,
            wait: false,
            private_tmp: false,
            shared_tmp: false,
            keep_env: vec![],
            command: vec![],
        };
        let (mut config, mut verbose) = (None, false);
        let mut rest = args.get(1..)?.iter();
        let set = |flag: &mut bool| (!std::mem::replace(flag, true)).then_some(());
        while let Some(arg) = rest.next() {
            let arg = arg.to_str()?;
            if arg == "--" {
                launch.command = rest.cloned().collect();
                break;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (arg, None),
            };
            let mut value = || -> Option<&str> {
                let value = match inline {
                    Some(value) => value,
                    None => rest.next()?.to_str()?,
                };
                (!value.is_empty() && !value.starts_with('-')).then_some(value)
            };
            match name {
                "--account" if launch.account.is_none() => launch.account = Some(value()?.into()),
                "--mode" if launch.mode.is_none() => {
                    launch.mode = Some(match value()? {
                        "auto" => ModeArg::Auto,
                        "userns" => ModeArg::Userns,
                        "privileged" => ModeArg::Privileged,
                        "symlink" => ModeArg::Symlink,
                        _ => return None,
                    })
                }
                "--session" if launch.session.is_none() => {
                    launch.session = Some(uuid(value()?).ok()?)
                }
                "--keep-env" => launch.keep_env.push(credential(value()?).ok()?),
                "--config" if config.is_none() => config = Some(PathBuf::from(value()?)),
                _ if inline.is_some() => return None,
                "--wait" => set(&mut launch.wait)?,
                "--private-tmp" => set(&mut launch.private_tmp)?,
                "--shared-tmp" => set(&mut launch.shared_tmp)?,
                "--dry-run" => set(&mut launch.dry_run)?,
                "-v" | "--verbose" => set(&mut verbose)?,
                _ => return None,
            }
        }
        if launch.account.is_none() || launch.private_tmp && launch.shared_tmp {
            return None;
        }
        Some(Cli {
            config,
            verbose,
            command: None,
            launch,
        })
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List this user's live sessions launched by cf-run
    Ps(PsArgs),
    /// Stop a session: SIGTERM, then SIGKILL at the timeout
    Stop(StopArgs),
    /// Follow a session's transcript until it records a usage limit
    Watch(WatchArgs),
    /// Run a headless task, moving to the next account on a usage limit
    Failover(FailoverArgs),
    /// Write the config and merge every account's projects into the shared dir
    Init(InitArgs),
    /// Check what a launch needs, each with a one-line fix; exit 1 if one would fail
    Doctor(DoctorArgs),
    /// Show each account: how it logs in, its last known usage, its
    /// cool-down, its live sessions; add or remove one
    #[command(visible_alias = "account")]
    Accounts(AccountsArgs),
    /// cf-run's statusline and hooks inside a session (the client runs it)
    #[command(hide = true)]
    Tap {
        #[arg(value_enum)]
        event: TapEvent,
    },
    /// Claude Code's launcher hook (processWrapper): run what the client starts
    /// in the background in place inside a session, else under the account of
    /// its CLAUDE_CONFIG_DIR
    Wrap(WrapArgs),
}

#[derive(Debug, clap::Args)]
pub struct AccountsArgs {
    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,

    /// End this account's cool-down now (after buying more usage, say)
    #[arg(long, value_name = "NAME")]
    pub clear_cooldown: Option<String>,

    /// Print only the names, one per line (for shell completion)
    #[arg(long, conflicts_with_all = ["json", "clear_cooldown"])]
    pub names: bool,

    /// Print every dir the config names, one per line: the shared dir, each
    /// [share] dir, then each account's dir (what a backup takes)
    #[arg(long, conflicts_with_all = ["json", "clear_cooldown", "names"])]
    pub dirs: bool,

    #[command(subcommand)]
    pub change: Option<AccountChange>,
}

#[derive(Debug, clap::Subcommand)]
pub enum AccountChange {
    /// Add an account to the config, last in failover order, and make its
    /// dir (mode 0700); every other line of the config is kept
    Add {
        /// Its name in the config
        name: String,
        /// Its dir [default: ~/.claude-NAME]
        dir: Option<String>,
    },
    /// Remove an account from the config; its dir is left as it is
    Remove {
        /// Its name in the config
        name: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TapEvent {
    Statusline,
    TurnEnded,
}

#[derive(Debug, clap::Args)]
pub struct WrapArgs {
    /// The program the client starts, and its arguments, as the client gives them
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub command: Vec<OsString>,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The shared transcripts dir (created when missing)
    #[arg(long, value_name = "DIR")]
    pub shared: String,

    /// An account and its config dir; repeat for each, in failover order
    #[arg(long = "account", value_name = "NAME=DIR", required = true, value_parser = name_dir)]
    pub accounts: Vec<(String, String)>,

    /// A further dir under ~/.claude that every account shares (file-history,
    /// plans, tasks, todos, agents, commands, skills, plugins) and the shared
    /// dir its contents merge into (created when missing); repeat for each
    #[arg(long = "share", value_name = "NAME=DIR", value_parser = name_dir)]
    pub shares: Vec<(String, String)>,

    /// What each account's projects becomes: an empty dir the shared dir is
    /// bound over, or a symlink to the shared dir
    #[arg(long, value_enum, default_value_t = LayoutArg::Namespace)]
    pub layout: LayoutArg,

    /// Print what would move and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Replace an existing config that says something else
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    /// An empty dir, over which a namespace launch binds the shared dir
    Namespace,
    /// A symlink to the shared dir, the older layout (and symlink mode's)
    Symlink,
}

/// `NAME=DIR`, as `--account` of `init` takes it.
fn name_dir(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => Ok((name.into(), dir.into())),
        _ => Err("write NAME=DIR, like compte1=~/.claude-compte1".into()),
    }
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print one JSON object: {ok, mode, checks: [{id, name, status, detail,
    /// fix, account, path}]}
    #[arg(long)]
    pub json: bool,

    /// List every check, not only the problems
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Print a JSON array of {pid, account, session, cwd, started, mode}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// The session's id (a UUID)
    #[arg(long, value_name = "ID", value_parser = uuid)]
    pub session: String,

    /// Seconds between SIGTERM and SIGKILL
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The session's id (a UUID)
    #[arg(long, value_name = "ID", value_parser = uuid)]
    pub session: String,

    /// Print the event as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct FailoverArgs {
    /// Accounts to try, in order [default: the config's order]
    #[arg(long, value_delimiter = ',', value_name = "A,B,...")]
    pub accounts: Vec<String>,

    /// The prompt sent when the task moves to the next account
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "Continue the task from where it stopped."
    )]
    pub continue_prompt: String,

    /// How long an account that hit a limit with no known reset time is skipped
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub cooldown: u64,

    /// The prompt, then any further arguments for claude
    #[arg(last = true, required = true, value_name = "PROMPT")]
    pub prompt: Vec<OsString>,
}

/// A session id: a UUID, so that it can never name a path.
fn uuid(s: &str) -> Result<String, String> {
    if crate::claude_args::is_uuid(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("a session id is a UUID (like 3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f)".into())
    }
}

/// A variable that cf-run removes from the command's environment.
fn credential(s: &str) -> Result<String, String> {
    if crate::environ::is_credential(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "cf-run passes {s} on anyway; --keep-env takes one of: {}",
            crate::environ::CREDENTIALS.join(", ")
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Privileged where the binary holds cap_sys_admin, else userns where
    /// user namespaces are allowed, else symlink
    Auto,
    /// A user namespace of your own owns the session's mount namespace
    Userns,
    /// A mount namespace made with the binary's cap_sys_admin (setcap)
    Privileged,
    /// No namespace: each account's projects is a symlink to the shared dir
    Symlink,
}

#[derive(Debug, clap::Args)]
pub struct LaunchArgs {
    /// The account to run as: a name from the config's [accounts] tables
    /// [with --failover, default: the first in config order not cooling down]
    #[arg(long, value_name = "NAME", required_unless_present = "failover")]
    pub account: Option<String>,

    /// Stay with the session in this terminal: when it hits a usage limit, end
    /// it and resume it under the next account, by itself
    #[arg(long, conflicts_with_all = ["dry_run", "session"])]
    pub failover: bool,

    /// With --failover: what the session is told when it goes on under the next account
    #[arg(long, value_name = "TEXT", default_value = CONTINUE)]
    pub continue_prompt: String,

    /// With --failover, for the next client: the line its resumed session shows
    #[arg(long, hide = true, value_name = "TEXT")]
    pub handover_note: Option<String>,

    /// How to isolate the session [default: the config's mode, else auto]
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,

    /// Print the plan (mode and why, checks, mounts, environment) and exit
    #[arg(long)]
    pub dry_run: bool,

    /// Lock this session (a UUID) for as long as the command runs [default:
    /// the id in the command's --resume/-r/--session-id]
    #[arg(long, value_name = "ID", value_parser = uuid)]
    pub session: Option<String>,

    /// Wait for the session's lock instead of failing when another launch
    /// holds it; with --failover: when every account is at its usage limit,
    /// wait for the first reset instead of ending
    #[arg(long)]
    pub wait: bool,

    /// Give the session an empty /tmp of its own [default: yes in the
    /// namespace modes, unless the config says private_tmp = false]
    #[arg(long, conflicts_with = "shared_tmp")]
    pub private_tmp: bool,

    /// Let the session share the host's /tmp (tmux's and X11's sockets, other
    /// sessions' files): the private /tmp's opt-out, for one launch
    #[arg(long)]
    pub shared_tmp: bool,

    /// Pass this credential variable (ANTHROPIC_API_KEY, ...) from your
    /// environment to the command; cf-run removes them otherwise, so that the
    /// account's own credentials are the ones used
    #[arg(long, value_name = "NAME", value_parser = credential)]
    pub keep_env: Vec<String>,

    /// The command to run [default: claude]
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any argument list parses or gives a usage error: never a panic.
        #[test]
        fn parsing_never_panics(args in proptest::collection::vec("(--?[a-z-]{0,10}|[a-z=]{0,6}|--)", 0..8)) {
            let _ = Cli::parse_args(std::iter::once("cf-run".to_owned()).chain(args));
        }
    }

    #[test]
    fn global_options_go_before_or_after_a_subcommand_and_launch_options_nowhere_near_one() {
        let parse =
            |args: &[&str]| Cli::parse_args(std::iter::once("cf-run").chain(args.iter().copied()));
        for args in [
            &["-v", "ps"][..],
            &["ps", "-v"],
            &["--config", "/c", "doctor"],
            &["doctor", "--config", "/c"],
        ] {
            let cli = parse(args).unwrap();
            assert!(cli.command.is_some(), "{args:?}");
            assert!(
                cli.verbose || cli.config.as_deref() == Some(std::path::Path::new("/c")),
                "{args:?}"
            );
        }
        for args in [
            &["--account", "a", "ps"][..],
            &["--mode", "userns", "ps"],
            &["--dry-run", "doctor"],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
        }
        let cli = parse(&["--account", "a", "--", "ps"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.launch.command, ["ps"]);
    }

    /// The words a launch line is made of, and some that clap refuses.
    const WORDS: &[&str] = &[
        "--account",
        "--account=a",
        "a",
        "b",
        "--mode",
        "userns",
        "auto",
        "privileged",
        "symlink",
        "bogus",
        "--mode=userns",
        "--mode=",
        "--session",
        "3F0C2A1E-9B7D-4C55-8E21-0A1B2C3D4E5F",
        "--session=not-a-uuid",
        "--wait",
        "--wait=1",
        "--private-tmp",
        "--shared-tmp",
        "--keep-env",
        "ANTHROPIC_API_KEY",
        "HOME",
        "--keep-env=ANTHROPIC_AUTH_TOKEN",
        "--dry-run",
        "--config",
        "/c",
        "--config=/d",
        "-v",
        "-vv",
        "--verbose",
        "--",
        "ps",
        "--failover",
        "--handover-note",
        "-x",
        "-",
        "",
        "=",
        "--help",
        "-V",
        "--continue-prompt",
    ];

    proptest::proptest! {
        /// What the plain parser takes, clap takes too, and makes the same of.
        #[test]
        fn a_plain_launch_is_what_clap_makes_of_it(
            words in proptest::collection::vec(proptest::sample::select(WORDS), 0..9)
        ) {
            let args: Vec<OsString> =
                std::iter::once("cf-run").chain(words).map(Into::into).collect();
            if let Some(plain) = Cli::plain_launch(&args) {
                let clap = Cli::try_parse_from(&args);
                proptest::prop_assert!(clap.is_ok(), "clap refuses {args:?}: {clap:?}");
                proptest::prop_assert_eq!(format!("{plain:?}"), format!("{:?}", clap.unwrap()));
            }
        }
    }

    #[test]
    fn the_usual_launch_lines_are_plain() {
        for line in [
            "cf-run --account a",
            "cf-run --mode userns --account a -- /bin/true",
            "cf-run --account=a --wait --session 3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f -- claude -r x",
            "cf-run -v --config /c --private-tmp --keep-env ANTHROPIC_API_KEY --account a --",
        ] {
            let args: Vec<OsString> = line.split(' ').map(Into::into).collect();
            let plain = Cli::plain_launch(&args);
            assert!(plain.is_some(), "{line}");
            let clap = Cli::try_parse_from(&args).unwrap();
            assert_eq!(
                format!("{:?}", plain.unwrap()),
                format!("{clap:?}"),
                "{line}"
            );
        }
        let args: Vec<OsString> = ["cf-run", "--account", "a", "--", "-x", "--mode"]
            .map(Into::into)
            .into();
        let plain = Cli::plain_launch(&args).unwrap();
        assert_eq!(plain.launch.command, ["-x", "--mode"]);
        assert_eq!(plain.launch.mode, None);
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
