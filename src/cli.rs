//! The command line.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::mode::ModeChoice;

/// Run Claude Code (or any command) under one of several accounts, in a
/// private mount namespace where that account's dir is ~/.claude and the
/// shared transcripts are ~/.claude/projects.
#[derive(Debug, Parser)]
#[command(name = "cf-run", version, about, long_about = None)]
#[command(override_usage = "cf-run [OPTIONS] --account NAME [-- COMMAND [ARGS]...]")]
pub struct Cli {
    /// Config file [default: $CF_RUN_CONFIG, else $XDG_CONFIG_HOME/claude-failover/config.toml,
    /// else ~/.config/claude-failover/config.toml]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Log each step to stderr (RUST_LOG works too)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(flatten)]
    pub launch: LaunchArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any argument list parses or gives a usage error: never a panic.
        #[test]
        fn parsing_never_panics(args in proptest::collection::vec("(--?[a-z-]{0,10}|[a-z=]{0,6}|--)", 0..8)) {
            let _ = Cli::try_parse_from(std::iter::once("cf-run".to_owned()).chain(args));
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

#[derive(Debug, clap::Args)]
pub struct LaunchArgs {
    /// The account to run as: a name from the config's [accounts] tables
    #[arg(long, value_name = "NAME")]
    pub account: String,

    /// How to isolate the session [default: the config's mode, else auto]
    #[arg(long, value_enum)]
    pub mode: Option<ModeChoice>,

    /// Print the plan (mode and why, checks, mounts, environment) and exit
    #[arg(long)]
    pub dry_run: bool,

    /// The command to run [default: claude]
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}
