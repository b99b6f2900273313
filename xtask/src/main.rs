//! Build-time tasks for cf-run, kept out of the binary that ships (it starts
//! before every session and links no generator):
//!
//!   cargo run -p xtask -- gen OUTDIR
//!
//! writes, from the very clap definitions cf-run parses with (src/cli.rs):
//! OUTDIR/cf-run.1 (the man page: every subcommand in one page), and the
//! completions OUTDIR/cf-run.bash, OUTDIR/_cf-run (zsh), OUTDIR/cf-run.fish.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

// src/cli.rs uses only std, clap and these two std-only modules. The xtask
// needs the definitions alone, not the parsing helpers around them.
#[allow(dead_code)]
#[path = "../../src/claude_args.rs"]
mod claude_args;
#[allow(dead_code)]
#[path = "../../src/cli.rs"]
mod cli;
#[allow(dead_code)]
#[path = "../../src/environ.rs"]
mod environ;

const BIN: &str = "cf-run";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [task, out] if task == "gen" => match generate(Path::new(out)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask gen: {out}: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo run -p xtask -- gen OUTDIR");
            ExitCode::from(2)
        }
    }
}

fn generate(out: &Path) -> io::Result<()> {
    fs::create_dir_all(out)?;
    let mut man = Vec::new();
    man_page(&mut man)?;
    fs::write(out.join(format!("{BIN}.1")), man)?;
    for (shell, file) in [
        (Shell::Bash, format!("{BIN}.bash")),
        (Shell::Zsh, format!("_{BIN}")),
        (Shell::Fish, format!("{BIN}.fish")),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command(), BIN, &mut script);
        if shell == Shell::Bash {
            let hidden = hidden(&command());
            script = bash_fixed(&String::from_utf8_lossy(&script), &hidden).into_bytes();
        }
        fs::write(out.join(file), script)?;
    }
    Ok(())
}

/// clap_complete's bash script, mended:
/// - for a name with a hyphen it sets `cmd` to `cf__run__subcmd__init` but
///   matches `cf__subcmd__run__subcmd__init`, so no subcommand's option
///   completes (clap issue 6421);
/// - an account name completes from the config (`cf-run accounts --names`),
///   a live session's id from `cf-run ps`, not as a file name;
/// - hidden options and subcommands (cf-run's own plumbing) are not offered;
/// - after `--` comes a command: it completes as if typed alone (bash-
///   completion's `_command_offset`, as `sudo` does), else as a command name.
fn bash_fixed(script: &str, hidden: &[String]) -> String {
    let names = r#"$(cf-run accounts --names 2>/dev/null)"#;
    let ids = r#"$(cf-run ps 2>/dev/null | awk 'NR > 1 && $3 != "-" { print $3 }')"#;
    let mut out = script.replace("cf__subcmd__run__", "cf__run__");
    let file_names = |option: &str| {
        format!("{option})\n                    COMPREPLY=($(compgen -f \"${{cur}}\"))")
    };
    let words = |option: &str, words: &str| {
        format!(
            "{option})\n                    COMPREPLY=($(compgen -W \"{words}\" -- \"${{cur}}\"))"
        )
    };
    for option in ["--account", "--clear-cooldown"] {
        out = out.replace(&file_names(option), &words(option, names));
    }
    // `stop` and `watch` name a live session; a launch's `--session` names a new one.
    for sub in ["stop", "watch"] {
        let head = format!("        cf__run__subcmd__{sub})\n");
        let start = out
            .find(&head)
            .expect("a subcommand's case in clap's script");
        let end = start + out[start..].find("\n            ;;\n").expect("its end");
        let block = out[start..end].replace(&file_names("--session"), &words("--session", ids));
        out.replace_range(start..end, &block);
    }
    let remove = "        cf__run__subcmd__accounts__subcmd__remove)\n            opts=\"";
    out = out.replace(remove, &format!("{remove}{names} "));
    out = out
        .lines()
        .map(|line| match line.trim_start().strip_prefix("opts=\"") {
            Some(words) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                let kept: Vec<&str> = words
                    .trim_end_matches('"')
                    .split(' ')
                    .filter(|word| !hidden.iter().any(|h| h == word))
                    .collect();
                format!("{indent}opts=\"{}\"", kept.join(" "))
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let after_dash = r#"    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == -- ]]; then
            if declare -F _command_offset >/dev/null; then
                _command_offset $((i + 1))
            elif ((i + 1 == COMP_CWORD)); then
                COMPREPLY=($(compgen -c -- "${COMP_WORDS[COMP_CWORD]}"))
            else
                COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
            fi
            return 0
        fi
    done
"#;
    let top = "    local i cur prev opts cmd\n";
    out.replacen(top, &format!("{top}{after_dash}"), 1)
}

/// The names of hidden options and subcommands, anywhere in the tree.
fn hidden(cmd: &clap::Command) -> Vec<String> {
    let mut out: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_hide_set())
        .flat_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() {
            out.push(sub.get_name().to_owned());
        }
        out.extend(hidden(sub));
    }
    out
}

/// cf-run's command line, built as cf-run builds it (the `help` subcommand
/// is clap's own and gets no section of the man page).
fn command() -> clap::Command {
    let mut cmd = cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// One page: cf-run's own sections, then each subcommand's synopsis and
/// options, then what `--help` cannot say (exit status, environment, files).
fn man_page(w: &mut dyn Write) -> io::Result<()> {
    let cmd = command();
    let version = cmd.get_version().unwrap_or_default().to_owned();
    let man = Man::new(cmd.clone())
        .source(format!("{BIN} {version}"))
        .manual("User Commands");
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    // clap_mangen refers each subcommand to a page of its own (cf-run-ps(1));
    // here each has a section below.
    let mut list = Vec::new();
    man.render_subcommands_section(&mut list)?;
    let mut list = String::from_utf8_lossy(&list).into_owned();
    for sub in cmd.get_subcommands() {
        let name = sub.get_name().replace('-', "\\-");
        list = list.replace(
            &format!("cf\\-run\\-{name}(1)\n"),
            &format!(
                "\\fB{name}\\fR (see \\fBCF\\-RUN {}\\fR below)\n",
                name.to_uppercase()
            ),
        );
    }
    w.write_all(list.as_bytes())?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        writeln!(
            w,
            ".SH \"{} {}\"",
            BIN.to_uppercase(),
            sub.get_name().to_uppercase()
        )?;
        let sub_man = Man::new(sub.clone());
        let mut text = Vec::new();
        sub_man.render_description_section(&mut text)?;
        sub_man.render_synopsis_section(&mut text)?;
        sub_man.render_options_section(&mut text)?;
        // The subcommand's sections become subsections of its own.
        let text = String::from_utf8_lossy(&text)
            .replace(".SH DESCRIPTION\n", "")
            .replace(".SH SYNOPSIS\n", ".SS Synopsis\n")
            .replace(".SH OPTIONS\n", ".SS Options\n");
        w.write_all(text.as_bytes())?;
        // Its own subcommands (`accounts add`, `accounts remove`): each a
        // subsection with its synopsis, what it does and its arguments.
        for nested in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("{} {}", sub.get_name(), nested.get_name());
            writeln!(w, ".SS \"{name}\"")?;
            let nested_man = Man::new(nested.clone().bin_name(format!("{BIN} {name}")));
            let mut text = Vec::new();
            nested_man.render_synopsis_section(&mut text)?;
            nested_man.render_description_section(&mut text)?;
            nested_man.render_options_section(&mut text)?;
            let text = String::from_utf8_lossy(&text)
                .replace(".SH SYNOPSIS\n", "")
                .replace(".SH DESCRIPTION\n", ".PP\n")
                .replace(".SH OPTIONS\n", ".PP\n");
            w.write_all(text.as_bytes())?;
        }
    }
    write_extra(w)
}

fn write_extra(w: &mut dyn Write) -> io::Result<()> {
    let credentials = environ::CREDENTIALS.join(", ");
    // The README's and the tests' sample config, hyphens as roff wants them.
    let sample = include_str!("../../docs/config.sample.toml").replace('-', "\\-");
    write!(
        w,
        r#".SH "EXIT STATUS"
.TP
the command's
The command ran (a signal death stays a signal death).
.TP
125
cf\-run failed: bad config, unknown account, refused path, namespace or mount failure; nothing on disk was changed by a refusal.
.TP
126
The command was found but could not be executed.
.TP
127
The command was not found.
.TP
2
Usage error.
.TP
75
The session is locked by another launch; \fBfailover\fR: every account is limited.
.TP
1
\fBstop\fR: no such live session. \fBdoctor\fR: a launch would fail.
.TP
3
\fBwatch\fR: the session ended without a usage limit.
.SH ENVIRONMENT
.TP
\fBCF_RUN_CONFIG\fR
The config file, when \fB\-\-config\fR is not given.
.TP
\fBXDG_CONFIG_HOME\fR
The config file is \fB$XDG_CONFIG_HOME/claude\-failover/config.toml\fR otherwise.
.TP
\fBRUST_LOG\fR
Log level for stderr, as \fB\-v\fR (\fBRUST_LOG=debug\fR).
.TP
\fBCLAUDE_CONFIG_DIR\fR
Set for the command: \fB~/.claude\fR in a namespace mode, the account dir in symlink mode.
.PP
Removed from the command's environment unless \fB\-\-keep\-env\fR names them, so that the account's own credentials are the ones used: {credentials}.
.SH FILES
.TP
\fB~/.config/claude\-failover/config.toml\fR
The config: \fBshared_projects\fR, \fBmode\fR and one \fB[accounts.NAME]\fR table with a \fBdir\fR per account, in failover order. \fBcf\-run init\fR writes it. It must be yours or root's and not writable by group or others. A sample:
.PP
.RS
.nf
{sample}.fi
.RE
.TP
\fB~/.local/state/cf\-run/limits.json\fR
Accounts cooling down after a usage limit, and until when (\fBcf\-run accounts \-\-clear\-cooldown\fR ends one).
.TP
\fB/run/user/UID/cf\-run/\fR, else \fB/tmp/cf\-run\-UID/\fR
Runtime state: session locks, the registry \fBps\fR reads, each launch's client dir, each account's last known usage (\fBusage.json\fR). Covered in every session.
.TP
\fB/etc/claude\-failover/policy.toml\fR
The admin's policy (\fBmodes\fR, \fBroots\fR, \fBsetuid\fR); owned and writable by root only, or every launch is refused.
.TP
\fB/etc/claude\-failover/privileged\fR
Debian package: while this file exists, the package gives \fB/usr/bin/cf\-run\fR cap_sys_admin+p (privileged mode) on every install and upgrade.
.TP
\fB/etc/apparmor.d/cf\-run\fR
The AppArmor profile that lets cf\-run make user namespaces where the kernel restricts them (Ubuntu 23.10 and later). It confines nothing else.
.SH EXAMPLES
Move in from a plain \fB~/.claude\fR and add a second account:
.PP
.RS
.nf
cf\-run init \-\-shared ~/.claude\-shared/projects \-\-account main=~/.claude \-\-account work=~/.claude\-work
cf\-run \-\-account work \-\- claude        # then /login, once
.fi
.RE
.PP
Work in this terminal, moving to the account with the most room at a usage limit, or between turns past 90% of the five\-hour window:
.PP
.RS
.nf
cf\-run \-\-failover \-\- claude
cf\-run \-\-failover \-\-wait \-\- claude \-\-continue
.fi
.RE
.PP
See each account's login, usage and cool\-down; end a cool\-down:
.PP
.RS
.nf
cf\-run accounts
cf\-run accounts \-\-clear\-cooldown work
.fi
.RE
.PP
Add a third account (its dir made, the config edited in place), then log it in:
.PP
.RS
.nf
cf\-run account add perso
cf\-run \-\-account perso \-\- claude      # then /login, once
.fi
.RE
.PP
Resume a session under another account, and see what a launch would do:
.PP
.RS
.nf
cf\-run \-\-account work \-\- claude \-\-resume 3f0c2a1e\-9b7d\-4c55\-8e21\-0a1b2c3d4e5f
cf\-run \-\-account work \-\-dry\-run
.fi
.RE
.PP
A headless task that moves on by itself, and a check of the host:
.PP
.RS
.nf
cf\-run failover \-\- "fix the failing test"
cf\-run doctor
.fi
.RE
.SH "SEE ALSO"
\fB/usr/share/doc/cf\-run/SECURITY.md\fR (what a session can and cannot reach), \fBsetcap\fR(8), \fBnamespaces\fR(7), \fBuser_namespaces\fR(7), \fBapparmor_parser\fR(8)
"#
    )
}
