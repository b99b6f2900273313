//! `cf-run init`: write the config and merge every account's `projects` into
//! the shared dir, and each `--share NAME=DIR`'s `NAME` (`file-history`, ...)
//! into its DIR, losslessly, in a way a kill at any point cannot spoil.
//!
//! Everything is checked before anything changes. Then the trees are walked
//! (never following a symlink), each relative path is decided on its own
//! (`merge`: identical, prefix or diverged), and the steps run in batches,
//! each recorded in the journal first. A rerun plans again from what is left
//! on disk and finishes the job; with nothing left it changes nothing.

mod apply;
mod configfile;
mod journal;
mod merge;
mod movein;
mod places;
mod progress;
mod report;
mod scan;
mod steps;

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::unistd::Uid;

use crate::config::{Account, Config, Share};
use crate::output::printable;
use crate::policy::{self, Policy};
use crate::resolve::{self, Entry};
use crate::session::{self, State};
use crate::symlink;
use crate::user::User;

pub use self::journal::interrupted;
use self::places::{CLAUDE_LABEL, SHARED_LABEL};

use self::configfile::Existing;
use self::report::Report;
use self::scan::{Kind, Source};
use self::steps::Event;

/// How many paths go between two journal records.
const BATCH: usize = 2000;

/// What each account's `projects`, and each other shared entry, becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// An empty dir, over which a namespace launch binds the shared dir
    Namespace,
    /// A symlink to the shared dir, the older layout (and symlink mode's)
    Symlink,
}

/// What `cf-run init` is asked.
pub struct Request {
    /// The shared transcripts dir, as written (`~` allowed).
    pub shared: String,
    /// Each account and its dir, in failover order.
    pub accounts: Vec<(String, String)>,
    /// Each further shared entry and its shared dir.
    pub shares: Vec<(String, String)>,
    pub layout: Layout,
    pub dry_run: bool,
    /// Replace a config that says something else.
    pub force: bool,
}

pub fn run(args: &Request, config_path: &Path, user: &User) -> Result<()> {
    let cwd = std::env::current_dir().context("getcwd")?;
    let written = |dir: &str| configfile::written(dir, &user.home, &cwd);
    let (accounts, movein) = movein::plan(&args.accounts, &user.home, written);
    let (mut text, mut config) =
        configfile::build(&args.shared, &accounts, &args.shares, &user.home, &cwd)?;
    // Over a config that is there, what init writes is laid over it: what
    // init does not write stays.
    let old = crate::config::text(config_path, user.uid).ok();
    // Why the old config's keys could not be kept, when they could not.
    let mut dropped = None;
    if let Some(old) = &old {
        match configfile::merged(old, &text)
            .and_then(|merged| Ok((Config::parse(&merged, &user.home)?, merged)))
        {
            Ok((parsed, merged)) => (text, config) = (merged, parsed),
            Err(e) => dropped = Some(format!("{e:#}")),
        }
    }
    // The failover order is the config's: accounts it has keep their place.
    let asked: Vec<&str> = args.accounts.iter().map(|(n, _)| n.as_str()).collect();
    let order: Vec<&str> = config.accounts.iter().map(|a| a.name.as_str()).collect();
    if order.iter().filter(|n| asked.contains(n)).ne(asked.iter()) {
        let line = format!(
            "note: the failover order stays as {} has it ({}); edit it there to change it",
            config_path.display(),
            order.join(", ")
        );
        println!("{}", printable(&line));
    }
    Policy::load(Path::new(policy::PATH))?.permit(&config)?;
    let existing = configfile::existing(config_path, &config, user.uid, &user.home);
    if let Existing::Different(how) = &existing
        && !args.force
    {
        bail!(
            "the config {} already exists, and init would change it: {how}; pass --force to change it \
             (its other keys and comments stay, the old text is kept as {0}.bak), or \
             --config FILE to write another",
            config_path.display()
        );
    }
    let dirs: Vec<PathBuf> = config.accounts.iter().map(|a| a.dir.clone()).collect();
    movein.check(&user.home, &dirs)?;
    if args.dry_run {
        if let Some(line) = movein.describe() {
            println!("{}", printable(&line));
        }
    } else {
        refuse_live_sessions(user)?;
        movein.apply(&user.home)?;
        for account in &config.accounts {
            if matches!(resolve::entry(&account.dir)?, Entry::Missing) {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&account.dir)
                    .with_context(|| format!("cannot create {}", account.dir.display()))?;
                let line = format!(
                    "created: account {}'s dir {}; log it in once with: cf-run --account {0} -- \
                     claude, then /login",
                    account.name,
                    account.dir.display()
                );
                println!("{}", printable(&line));
            }
        }
    }
    let jobs = config
        .all_shares()
        .into_iter()
        .map(|share| Job::plan(&config, share, user))
        .collect::<Result<Vec<_>>>()?;
    if args.dry_run {
        print_dry_run(&config, jobs, args.layout, user.uid, &existing, config_path);
        return Ok(());
    }

    for job in jobs.iter().filter(|job| !job.exists) {
        let dir = &job.share.dir;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the shared dir {}", dir.display()))?;
        resolve::owned_dir(dir, user.uid, &what(&job.share))?;
        println!(
            "{}",
            printable(&format!("created: the shared dir {}", dir.display()))
        );
    }
    if !matches!(existing, Existing::Same) {
        if let Some(old) = &old {
            let mut backup = config_path.as_os_str().to_owned();
            backup.push(".bak");
            crate::config::write(Path::new(&backup), old)?;
        }
        crate::config::write(config_path, &text)?;
        Config::load(config_path, user.uid, &user.home)
            .context("the config cf-run init just wrote does not load")?;
    }
    let mut line = config_line(&existing, config_path, false);
    if old.is_some() && !matches!(existing, Existing::Same) {
        line.push_str(&match &dropped {
            Some(why) => format!(
                " anew: the old one could not be kept ({why}), and none of its own keys is in \
                 the new one; its text is in {}.bak",
                config_path.display()
            ),
            None => format!("; the old text is in {}.bak", config_path.display()),
        });
    }
    println!("{}", printable(&line));
    let (mut left, mut unsettled, mut why) = (0, Vec::new(), None);
    for job in jobs {
        let report = job.run(&config.accounts, args.layout, (user.uid, &State::of(user)))?;
        left += report.left.len();
        unsettled.extend(report.unsettled);
        // What to do about the first cause that has a known fix (a full disk, say).
        why = why.or_else(|| {
            report
                .left
                .iter()
                .find_map(|(_, why)| crate::exit::hint(why))
        });
    }
    if left + unsettled.len() == 0 {
        return Ok(());
    }
    let unsettled = if unsettled.is_empty() {
        String::new()
    } else {
        format!(", not settled: {}", unsettled.join(", "))
    };
    let fix = why.map_or(String::new(), |hint| {
        format!(" ({})", hint.replace("the path above", "the paths above"))
    });
    bail!(
        "not finished: {} left in place{unsettled} (the lines above say which \
         and why); fix them{fix} and run cf-run init again: it picks up where it stopped",
        crate::output::count(left, "entry", "entries")
    )
}

/// One shared dir (`projects`, or a `[share]` entry) and the merge into it
/// of every account's entry of that name. Every share is merged on its own,
/// exactly as `projects` is: its shared dir holds its own work dir
/// (`.cf-init`: journal, lock, copies in flight) and its own `.cf-conflicts`,
/// so a journal never needs to say which share it is for.
struct Job {
    share: Share,
    /// Whether the shared dir exists already.
    exists: bool,
    sources: Vec<Source>,
    /// The directories in the trees, which the merge empties.
    dirs: Vec<PathBuf>,
    planned: steps::Steps,
}

impl Job {
    /// Checks the shared dir and every tree, walks them and plans the steps:
    /// nothing is changed.
    fn plan(config: &Config, share: Share, user: &User) -> Result<Job> {
        let exists = match resolve::entry(&share.dir)? {
            Entry::Missing => false,
            _ => {
                resolve::owned_dir(&share.dir, user.uid, &what(&share))?;
                true
            }
        };
        let sources = sources(config, &share, user)?;
        let tree = scan::scan(&sources);
        let dirs = tree
            .paths
            .iter()
            .flat_map(|(rel, holders)| {
                let sources = &sources;
                holders
                    .iter()
                    .filter(|h| h.1 == Kind::Dir)
                    .map(move |h| sources[h.0].root.join(rel))
            })
            .collect();
        let planned = steps::plan(&sources, tree);
        Ok(Job {
            share,
            exists,
            sources,
            dirs,
            planned,
        })
    }

    /// The line that starts this share's part of the report.
    fn heading(&self) -> String {
        format!("== {}: {}", self.share.name, self.share.dir.display())
    }

    /// Merges, settles each account's entry and prints the report.
    fn run(
        self,
        accounts: &[Account],
        layout: Layout,
        (uid, state): (Uid, &State),
    ) -> Result<Report> {
        println!("{}", printable(&self.heading()));
        let shared = &self.share.dir;
        let (mut report, journal) = if self.planned.steps.is_empty()
            && !journal::interrupted(shared)
        {
            let report = Report {
                left: self.planned.left,
                ..Report::default()
            };
            (report, None)
        } else {
            let (report, journal) = merge(&self.sources, self.planned.steps, self.planned.left)?;
            (report, Some(journal))
        };
        // Directories the merge emptied; rmdir leaves any that still hold something.
        for dir in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        settle_all(accounts, &self.share, layout, uid, false, &mut report);
        // A long list goes to a file in cf-run's own state dir, which no
        // session can reach (the shared dir is every session's to plant in).
        let paths = report.path_lines(false);
        let full = if paths.len() > report::MOST_LINES {
            let name = format!("init-{}.txt", self.share.name);
            state.update(&name, |_| Ok(((paths.join("\n") + "\n").into_bytes(), ())))?;
            Some(state.keep.join(name))
        } else {
            None
        };
        report
            .lines(false, full.as_deref())
            .iter()
            .for_each(|l| println!("{}", printable(l)));
        // Last: a run killed before this leaves the journal, and the next run
        // reports everything again.
        if let Some(journal) = journal {
            journal.finish()?;
        }
        Ok(report)
    }
}

/// How messages name a share's dir.
fn what(share: &Share) -> String {
    format!("the shared {} dir", share.name)
}

/// What a run would do, changing nothing.
fn print_dry_run(
    config: &Config,
    jobs: Vec<Job>,
    layout: Layout,
    uid: Uid,
    existing: &Existing,
    config_path: &Path,
) {
    println!("dry run: nothing is changed; cf-run init would:");
    for job in jobs.iter().filter(|job| !job.exists) {
        let line = format!(
            "create: the shared dir {} (mode 700)",
            job.share.dir.display()
        );
        println!("{}", printable(&line));
    }
    println!("{}", printable(&config_line(existing, config_path, true)));
    for job in jobs {
        println!("{}", printable(&job.heading()));
        if journal::interrupted(&job.share.dir) {
            println!("resume: an earlier cf-run init on this shared dir was interrupted");
        }
        let mut report = Report {
            events: job
                .planned
                .steps
                .iter()
                .flatten()
                .filter_map(|s| s.1.clone())
                .collect(),
            left: job.planned.left,
            ..Report::default()
        };
        settle_all(&config.accounts, &job.share, layout, uid, true, &mut report);
        report
            .lines(true, None)
            .iter()
            .for_each(|l| println!("{}", printable(l)));
    }
}

fn config_line(existing: &Existing, path: &Path, dry: bool) -> String {
    let shown = path.display();
    match (existing, dry) {
        (Existing::Same, _) => format!("config: {shown} already says this; left as it is"),
        (Existing::Missing, true) => format!("config: write {shown} (mode 600)"),
        (Existing::Different(_), true) => format!("config: replace {shown} (--force)"),
        (_, false) => format!("config: wrote {shown}"),
    }
}

/// The trees to merge into the share's dir: that dir first, then each
/// account's entry of the share's name, then `~/.claude/NAME` when it is a
/// real directory. An account's entry that is already a symlink to the
/// shared dir (the older layout) holds nothing of its own.
fn sources(config: &Config, share: &Share, user: &User) -> Result<Vec<Source>> {
    let mut sources = vec![Source {
        label: SHARED_LABEL.into(),
        root: share.dir.clone(),
    }];
    // A tree that is the shared dir itself (a bind mount) holds nothing to move.
    let shared = match resolve::entry(&share.dir)? {
        Entry::Dir(fd, _) => Some(fd),
        _ => None,
    };
    let is_shared = |fd: &OwnedFd| {
        shared
            .as_ref()
            .is_some_and(|s| resolve::same_inode(s.as_fd(), fd.as_fd()))
    };
    for account in &config.accounts {
        // A new account's dir, which the run makes: nothing in it to move.
        if matches!(resolve::entry(&account.dir)?, Entry::Missing) {
            continue;
        }
        let what = format!("account {:?}'s dir", account.name);
        resolve::owned_dir(&account.dir, user.uid, &what)?;
        let own = account.dir.join(&share.name);
        match resolve::entry(&own)? {
            Entry::Missing => {}
            Entry::Dir(fd, _) if is_shared(&fd) => {}
            Entry::Dir(_, st) => {
                resolve::check_owner(&own, &st, user.uid, &format!("{} dir", share.name))?;
                sources.push(Source {
                    label: account.name.clone(),
                    root: own,
                });
            }
            Entry::Link(to) if resolve::link_leads_to(&own, &to, &share.dir) => {}
            Entry::Link(to) => bail!(
                "{} is a symlink to {}, not to the shared dir {}; cf-run init does not follow \
                 symlinks out of the trees it moves: move what {1} holds into {2} yourself, \
                 then remove the link (rm {0})",
                own.display(),
                to.display(),
                share.dir.display()
            ),
            Entry::Other => bail!(
                "{} is not a directory; move it out of the way and retry",
                own.display()
            ),
        }
    }
    if let Entry::Dir(..) = resolve::entry(&config.target)? {
        let own = config.target.join(&share.name);
        if let Entry::Dir(fd, st) = resolve::entry(&own)?
            && st.st_uid == user.uid.as_raw()
            && !is_shared(&fd)
        {
            sources.push(Source {
                label: CLAUDE_LABEL.into(),
                root: own,
            });
        }
    }
    Ok(sources)
}

/// Transcripts must not move under a running session: it could go on
/// writing to a copy that was just set aside.
fn refuse_live_sessions(user: &User) -> Result<()> {
    let live = session::live(&State::of(user))?;
    if let Some(first) = live.first() {
        bail!(
            "{} cf-run session(s) are running (cf-run ps lists them); stop them first \
             (cf-run stop --session ID, or end pid {}), then run cf-run init again",
            live.len(),
            first.pid
        );
    }
    Ok(())
}

/// Runs the steps in batches, each recorded in the journal before it runs.
/// The journal is returned for the caller to close once all is reported.
fn merge(
    sources: &[Source],
    all: Vec<steps::Step>,
    left: Vec<(PathBuf, String)>,
) -> Result<(Report, journal::Journal)> {
    let shared = &sources[0].root;
    let (mut journal, earlier) = journal::Journal::open(shared)?;
    let mut report = Report {
        events: happened(earlier, sources),
        left,
        ..Report::default()
    };
    if !report.events.is_empty() {
        println!("resumed: an earlier cf-run init was interrupted; finishing its job");
    }
    let mut mover = apply::Mover::new(journal.tmp(), shared);
    let mut progress = progress::Progress::new(all.len());
    for batch in all.chunks(BATCH) {
        journal.record(batch.iter().flatten().filter_map(|s| s.1.as_ref()))?;
        for step in batch {
            for (op, event) in step {
                tracing::debug!("{op:?}");
                if let Err(e) = mover.apply(op) {
                    // The rest of this path's steps wait for a rerun: nothing is lost.
                    report.left.push((shown(op), e.to_string()));
                    break;
                }
                report.events.extend(event.clone());
            }
            progress.step();
        }
        report.left.extend(mover.commit());
    }
    progress.finish();
    Ok((report, journal))
}

fn shown(op: &steps::Op) -> PathBuf {
    match op {
        steps::Op::Remove { src, .. } | steps::Op::Move { src, .. } => src.clone(),
        steps::Op::MkDir { path, .. } => path.clone(),
    }
}

/// The events an interrupted run recorded that did take place, each once.
fn happened(events: Vec<Event>, sources: &[Source]) -> Vec<Event> {
    let gone = |from: &str, path: &Path| {
        sources
            .iter()
            .find(|s| s.label == from)
            .is_none_or(|s| std::fs::symlink_metadata(s.root.join(path)).is_err())
    };
    let mut seen = HashSet::new();
    events
        .into_iter()
        .filter(|e| match e {
            // The name was free when the run chose it.
            Event::Conflict { to, .. } => {
                std::fs::symlink_metadata(sources[0].root.join(to)).is_ok()
            }
            Event::Moved { from, path, .. }
            | Event::Same { from, path, .. }
            | Event::Prefix { from, path, .. } => gone(from, path),
        })
        .filter(|e| seen.insert(e.clone()))
        .collect()
}

fn settle_all(
    accounts: &[Account],
    share: &Share,
    layout: Layout,
    uid: Uid,
    dry: bool,
    report: &mut Report,
) {
    for account in accounts {
        match settle(account, share, layout, uid, dry) {
            Ok(line) => report.layout.push(line),
            Err(e) => {
                report.layout.push(format!("{}: {e:#}", account.name));
                report
                    .unsettled
                    .push(format!("{}'s {}", account.name, share.name));
            }
        }
    }
}

/// Makes the account's entry of the share's name (its `projects`, ...) an
/// empty dir or a symlink to the shared dir, once it holds nothing; says
/// what it is (with `dry`, what it would be).
fn settle(account: &Account, share: &Share, layout: Layout, uid: Uid, dry: bool) -> Result<String> {
    let (name, shared) = (&share.name, &share.dir);
    let own = account.dir.join(name);
    let entry = resolve::entry(&own)?;
    if let (Entry::Dir(fd, _), Entry::Dir(shared_fd, _)) = (&entry, resolve::entry(shared)?)
        && resolve::same_inode(fd.as_fd(), shared_fd.as_fd())
    {
        return Ok(format!(
            "{}: {name} is the shared dir itself (a bind mount); left as it is",
            account.name
        ));
    }
    if let Entry::Dir(fd, _) = &entry
        && !dry
        && !resolve::is_empty_dir(fd.as_fd()).unwrap_or(false)
    {
        bail!(
            "{} still holds entries that were left in place; it stays as it is",
            own.display()
        );
    }
    let linked = matches!(&entry, Entry::Link(to) if resolve::link_leads_to(&own, to, shared));
    let what = match (layout, &entry) {
        (Layout::Namespace, Entry::Dir(..)) if dry => "ends as an empty dir",
        (Layout::Namespace, Entry::Dir(..)) => "is an empty dir",
        (Layout::Namespace, _) if dry => "becomes an empty dir",
        (Layout::Namespace, _) => {
            // Missing, or the older layout's symlink: removing a link loses nothing.
            if linked {
                std::fs::remove_file(&own)
                    .with_context(|| format!("cannot remove the symlink {}", own.display()))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&own)
                .with_context(|| format!("cannot create {}", own.display()))?;
            "is now an empty dir"
        }
        (Layout::Symlink, _) if linked => "is a symlink to the shared dir",
        (Layout::Symlink, _) if dry => "becomes a symlink to the shared dir",
        (Layout::Symlink, _) => {
            symlink::link(&own, shared, uid)?;
            "is now a symlink to the shared dir"
        }
    };
    Ok(format!("{}: {name} {what}", account.name))
}
