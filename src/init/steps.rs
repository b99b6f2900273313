//! From what the trees hold to the steps that merge them, path by path, each
//! with the events the report and the journal record.

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AT_FDCWD, OFlag};
use serde::{Deserialize, Serialize};

use super::merge::{self, Fate, Relation};
use super::places::{CLAUDE_LABEL, CONFLICTS_DIR, SHARED_LABEL};
use super::scan::{Kind, Source, Tree};
use crate::resolve;

/// A file's size and modification time when it was compared: a copy that
/// no longer matches has changed since, and is not removed or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub mtime: i128,
}

impl Stamp {
    pub fn of(m: &Metadata) -> Stamp {
        Stamp {
            len: m.len(),
            mtime: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        }
    }
}

/// One change on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Remove a copy whose content another copy holds, as it was compared.
    Remove { src: PathBuf, was: Stamp },
    /// Move `src` to `dst`; with `replace`, over the shorter copy there, as
    /// it was compared.
    Move {
        src: PathBuf,
        dst: PathBuf,
        replace: Option<Stamp>,
    },
    /// Make a real directory, unless one is there.
    MkDir { path: PathBuf, mode: u32 },
}

/// What happened to one version, for the report and the journal. `from` is
/// a source's label, `path` relative to the trees.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// Moved to the same path in the shared dir, replacing a shorter copy of
    /// it there when `over_prefix`.
    Moved {
        from: String,
        path: PathBuf,
        over_prefix: bool,
    },
    /// Removed: `kept` (who) holds the same content.
    Same {
        from: String,
        path: PathBuf,
        kept: String,
    },
    /// Removed: a prefix of the copy `kept` (who) holds.
    Prefix {
        from: String,
        path: PathBuf,
        kept: String,
    },
    /// Diverged and older than `kept`'s: set aside at `to` (relative to the
    /// shared dir).
    Conflict {
        from: String,
        path: PathBuf,
        kept: String,
        to: PathBuf,
    },
}

/// The ops for one path, in order, each with the event it stands for.
pub type Step = Vec<(Op, Option<Event>)>;

/// The whole merge.
#[derive(Debug, Default)]
pub struct Steps {
    pub steps: Vec<Step>,
    /// Paths left in place, and why.
    pub left: Vec<(PathBuf, String)>,
}

/// Decides every path's steps. `sources[0]` is the shared dir.
pub fn plan(sources: &[Source], tree: Tree) -> Steps {
    let shared = &sources[0].root;
    let mut out = Steps {
        steps: Vec::new(),
        left: tree.left,
    };
    // Paths that are real directories in the shared dir: only below them can
    // the shared dir hold anything (never look through a symlink there).
    let mut shared_dirs: HashSet<PathBuf> = HashSet::new();
    for (rel, holders) in tree.paths {
        let parent_is_dir = rel
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty() || shared_dirs.contains(p));
        let at_shared = parent_is_dir
            .then(|| std::fs::symlink_metadata(shared.join(&rel)).ok())
            .flatten()
            .map(|m| (0, Kind::of(m.file_type())));
        let versions: Vec<(usize, Kind)> = at_shared.into_iter().chain(holders).collect();
        let mut step = if versions.iter().any(|v| v.1 == Kind::Dir) {
            shared_dirs.insert(rel.clone());
            dir_step(sources, &rel, &versions)
        } else {
            match entry_step(sources, &rel, &versions) {
                Ok(step) => step,
                Err(e) => {
                    out.left
                        .push((rel.clone(), format!("cannot compare its copies ({e})")));
                    continue;
                }
            }
        };
        if !step.is_empty() {
            // Most steps hold one op; 100,000 of them add up.
            step.shrink_to_fit();
            out.steps.push(step);
        }
    }
    out
}

fn path_of(sources: &[Source], index: usize, rel: &Path) -> PathBuf {
    sources[index].root.join(rel)
}

/// A path that is a directory somewhere: it becomes one in the shared dir;
/// whatever else holds that path there or in an account is set aside.
fn dir_step(sources: &[Source], rel: &Path, versions: &[(usize, Kind)]) -> Step {
    let mut step = Step::new();
    for &(index, _) in versions.iter().filter(|v| v.1 != Kind::Dir) {
        step.push(set_aside(sources, index, rel, "a directory".into()));
    }
    if !versions.contains(&(0, Kind::Dir)) {
        let first = versions
            .iter()
            .find(|v| v.1 == Kind::Dir)
            .map_or(0, |v| v.0);
        let mode = std::fs::symlink_metadata(path_of(sources, first, rel))
            .map_or(0o700, |m| m.mode() & 0o777);
        let path = path_of(sources, 0, rel);
        step.push((Op::MkDir { path, mode }, None));
    }
    step
}

/// A file, symlink or special file held in one or more places.
fn entry_step(sources: &[Source], rel: &Path, versions: &[(usize, Kind)]) -> io::Result<Step> {
    let paths: Vec<PathBuf> = versions
        .iter()
        .map(|v| path_of(sources, v.0, rel))
        .collect();
    let metas = if versions.len() == 1 {
        Vec::new()
    } else {
        paths
            .iter()
            .map(std::fs::symlink_metadata)
            .collect::<io::Result<Vec<_>>>()?
    };
    let stamp = |i: usize| Stamp::of(&metas[i]);
    let inodes: HashSet<(u64, u64)> = metas.iter().map(|m| (m.dev(), m.ino())).collect();
    if inodes.len() < metas.len() {
        // Removing one would remove the other: a hard link, or a bind mount.
        return Err(io::Error::other(
            "two of its copies are the same file (a hard link or a bind mount); remove one yourself",
        ));
    }
    let fates = if versions.len() == 1 {
        vec![Fate::Keep]
    } else {
        let mtimes: Vec<i128> = (0..metas.len()).map(|i| stamp(i).mtime).collect();
        merge::fates(&mtimes, |a, b| {
            relation(
                (&paths[a], versions[a].1, &metas[a]),
                (&paths[b], versions[b].1, &metas[b]),
            )
        })?
    };
    let label = |i: usize| sources[versions[i].0].label.as_str();
    let winner = fates.iter().position(|f| *f == Fate::Keep).unwrap_or(0);
    let holder = |i: usize| match fates[i] {
        Fate::Conflict => format!("{}'s conflict copy", whose(label(i))),
        _ => format!("{}'s", whose(label(i))),
    };
    let mut drops = Step::new();
    let mut asides = Step::new();
    for (i, fate) in fates.iter().enumerate() {
        let from = label(i).to_owned();
        let path = rel.to_path_buf();
        match *fate {
            // The shared dir's shorter copy gives way when the winner moves over it.
            Fate::Drop { .. } if versions[i].0 == 0 => {}
            Fate::Drop { same, of } => {
                let kept = holder(of);
                let event = if same {
                    Event::Same { from, path, kept }
                } else {
                    Event::Prefix { from, path, kept }
                };
                drops.push((
                    Op::Remove {
                        src: paths[i].clone(),
                        was: stamp(i),
                    },
                    Some(event),
                ));
            }
            Fate::Conflict => asides.push(set_aside(sources, versions[i].0, rel, holder(winner))),
            Fate::Keep => {}
        }
    }
    // Drops first, then conflicts, then the winner: a run cut short anywhere
    // leaves versions that, decided again, come to the same end.
    let mut step = drops;
    step.append(&mut asides);
    if versions[winner].0 != 0 {
        // The shared dir's own copy is a prefix of the winner's (set aside otherwise).
        let over_prefix = versions[0].0 == 0 && matches!(fates[0], Fate::Drop { .. });
        step.push((
            Op::Move {
                src: paths[winner].clone(),
                dst: path_of(sources, 0, rel),
                replace: over_prefix.then(|| stamp(0)),
            },
            Some(Event::Moved {
                from: label(winner).to_owned(),
                path: rel.to_path_buf(),
                over_prefix,
            }),
        ));
    }
    Ok(step)
}

/// Sets a version aside in the shared dir (see [`aside`]), or removes it
/// when an earlier run already set the same content aside there.
fn set_aside(sources: &[Source], index: usize, rel: &Path, kept: String) -> (Op, Option<Event>) {
    let (src, from) = (path_of(sources, index, rel), sources[index].label.clone());
    let shared = &sources[0].root;
    let mut n = 0;
    loop {
        let to = aside(rel, &from, n);
        let dst = shared.join(&to);
        let Ok(there) = std::fs::symlink_metadata(&dst) else {
            let event = Event::Conflict {
                from,
                path: rel.to_path_buf(),
                kept,
                to,
            };
            let op = Op::Move {
                src,
                dst,
                replace: None,
            };
            return (op, Some(event));
        };
        let mine = std::fs::symlink_metadata(&src).ok().filter(|m| {
            let a = (src.as_path(), Kind::of(m.file_type()), m);
            let b = (dst.as_path(), Kind::of(there.file_type()), &there);
            matches!(relation(a, b), Ok(Relation::Same))
        });
        if let Some(m) = mine {
            let kept = format!("its copy at {} from an earlier run", to.display());
            let event = Event::Same {
                from,
                path: rel.to_path_buf(),
                kept,
            };
            let was = Stamp::of(&m);
            return (Op::Remove { src, was }, Some(event));
        }
        n += 1;
    }
}

/// Where the `n`th try sets aside `from`'s version of `rel`, relative to the
/// shared dir. A session's transcript (`<project>/<id>.jsonl`) stays in its
/// project under a new id, so that `claude --resume NEW` goes on with it
/// there (the client resumes a transcript by its file's name). The id is
/// derived from the old one and `from`: a run cut short and run again
/// finds the same name. Anything else goes to `.cf-conflicts/<from>/<rel>`.
pub fn aside(rel: &Path, from: &str, n: u32) -> PathBuf {
    if let Some(id) = session_of(rel) {
        let name = format!("cf-run aside {from} {id} {n}");
        let new = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
        return rel.with_file_name(format!("{new}.jsonl"));
    }
    let base = Path::new(CONFLICTS_DIR).join(from).join(rel);
    if n == 0 {
        return base;
    }
    let mut name = base.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{n}"));
    base.with_file_name(name)
}

/// The session id of a transcript's path, `<project>/<id>.jsonl`.
pub fn session_of(rel: &Path) -> Option<uuid::Uuid> {
    let mut parts = rel.iter();
    let (_, file, None) = (parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let id = file.to_str()?.strip_suffix(".jsonl")?;
    uuid::Uuid::try_parse(id).ok()
}

/// How the report names a source.
pub fn whose(label: &str) -> &str {
    match label {
        SHARED_LABEL => "the shared dir",
        CLAUDE_LABEL => "~/.claude",
        name => name,
    }
}

/// Compares two versions: files by content, symlinks by target; anything
/// else of the same kind counts as the same, and differing kinds diverge.
fn relation(a: (&Path, Kind, &Metadata), b: (&Path, Kind, &Metadata)) -> io::Result<Relation> {
    Ok(match (a.1, b.1) {
        (Kind::File, Kind::File) => merge::compare(open(a.0)?, open(b.0)?)?,
        (Kind::Link, Kind::Link) if std::fs::read_link(a.0)? == std::fs::read_link(b.0)? => {
            Relation::Same
        }
        (Kind::Special, Kind::Special) if a.2.mode() == b.2.mode() && a.2.rdev() == b.2.rdev() => {
            Relation::Same
        }
        _ => Relation::Diverged,
    })
}

/// Opens a file for reading without following any symlink.
pub fn open(path: &Path) -> io::Result<File> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
    let fd = resolve::open_at(AT_FDCWD.as_fd(), path, flags).map_err(io::Error::from)?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn a_version_is_read_without_following_a_symlink_or_blocking_on_a_fifo() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("s.jsonl");
        std::fs::write(&file, "x\n").unwrap();
        let link = t.path().join("link.jsonl");
        symlink(&file, &link).unwrap();
        assert_eq!(open(&link).unwrap_err().raw_os_error(), Some(libc::ELOOP));
        let fifo = t.path().join("fifo.jsonl");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(open(&fifo).is_ok());
        assert_eq!(whose(SHARED_LABEL), "the shared dir");
    }

    #[test]
    fn a_transcript_set_aside_gets_a_new_id_in_its_project() {
        let id = "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";
        let rel = PathBuf::from(format!("-home-u-p/{id}.jsonl"));
        let first = aside(&rel, "compte1", 0);
        assert_eq!(first.parent(), Some(Path::new("-home-u-p")));
        let new = session_of(&first).unwrap().to_string();
        assert_ne!(new, id);
        // The same on a second run; another for another try or account.
        assert_eq!(aside(&rel, "compte1", 0), first);
        assert_ne!(aside(&rel, "compte1", 1), first);
        assert_ne!(aside(&rel, "compte2", 0), first);
        // Anything else keeps its path under .cf-conflicts.
        let sub = PathBuf::from(format!("-home-u-p/{id}/subagents/a.jsonl"));
        assert_eq!(
            aside(&sub, "compte1", 1),
            Path::new(".cf-conflicts/compte1").join(format!("-home-u-p/{id}/subagents/a.jsonl.1"))
        );
        assert_eq!(
            aside(Path::new("-p/notes.jsonl"), "compte1", 0),
            Path::new(".cf-conflicts/compte1/-p/notes.jsonl")
        );
        assert_eq!(whose("compte1"), "compte1");
    }
}
