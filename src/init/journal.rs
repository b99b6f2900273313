//! The journal, in the work dir under the shared dir. The disk itself is the
//! state of a merge: every op is atomic, and a rerun plans again from what is
//! left and reaches the same end. The journal adds what the disk cannot tell:
//! that a run was cut short, and what it did, so that the report of the run
//! that finishes the job names every conflict. It also holds the run's lock
//! and its copies in flight, and goes when the job is done.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use super::places::WORK_DIR;
use super::steps::Event;
use crate::exit::{self, Exit};

pub struct Journal {
    dir: PathBuf,
    file: File,
    _lock: File,
}

/// Whether an earlier run on `shared` was cut short.
pub fn interrupted(shared: &Path) -> bool {
    shared.join(WORK_DIR).join("journal").exists()
}

impl Journal {
    /// Opens the work dir (creating it) and takes its lock. Also returns the
    /// events an earlier, interrupted run recorded.
    pub fn open(shared: &Path) -> Result<(Journal, Vec<Event>)> {
        let dir = shared.join(WORK_DIR);
        let shown = dir.display();
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(e).with_context(|| format!("cannot create {shown}"));
            }
            _ if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) => {
                return Err(anyhow!(
                    "{shown} is in the way and is not a directory; move it elsewhere and retry"
                ));
            }
            _ => {}
        }
        let lock = open(&dir.join("lock"), OpenOptions::new().write(true))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Exit::new(
                    exit::TEMPFAIL,
                    format!(
                        "another cf-run init is merging into {} (it holds {shown}/lock); wait for it to finish",
                        shared.display()
                    ),
                )
                .into());
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("flock({shown}/lock)"));
            }
        }
        let path = dir.join("journal");
        let mut text = String::new();
        match checked(&path, OpenOptions::new().read(true)) {
            Ok(mut file) => {
                file.read_to_string(&mut text)
                    .with_context(|| format!("cannot read {}", path.display()))?;
            }
            Err(e)
                if e.downcast_ref::<io::Error>()
                    .is_some_and(|e| e.kind() == io::ErrorKind::NotFound) => {}
            Err(e) => return Err(e),
        }
        // A line torn by a kill mid-write is skipped.
        let earlier = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        // Copies in flight when a run was killed: each one's source is still
        // in place (it goes only after the copy is renamed into place).
        let tmp = dir.join("tmp");
        match fs::remove_dir_all(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot clear {}", tmp.display()));
            }
            _ => {}
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut file = open(&path, OpenOptions::new().append(true))?;
        if !text.is_empty() && !text.ends_with('\n') {
            // End the torn line, so that the next event starts a line of its own.
            file.write_all(b"\n")
                .with_context(|| format!("cannot write the journal {}", path.display()))?;
        }
        Ok((
            Journal {
                dir,
                file,
                _lock: lock,
            },
            earlier,
        ))
    }

    /// Where copies across filesystems are made.
    pub fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Records a batch's events before the batch runs: one write, one fsync.
    pub fn record<'a>(&mut self, events: impl Iterator<Item = &'a Event>) -> Result<()> {
        let mut text = String::new();
        for event in events {
            text += &serde_json::to_string(event)?;
            text.push('\n');
        }
        let path = self.dir.join("journal");
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("cannot write the journal {}", path.display()))
    }

    /// The job is done: the work dir goes.
    pub fn finish(self) -> Result<()> {
        fs::remove_dir_all(&self.dir)
            .with_context(|| format!("cannot remove {}", self.dir.display()))
    }
}

fn open(path: &Path, options: &mut OpenOptions) -> Result<File> {
    checked(path, options.create(true).mode(0o600))
}

/// Opens a file of the work dir, never through a symlink, never blocking
/// on a FIFO, and only if it is a plain file with one link: one that init
/// made, not something planted to be written through or to hang on.
fn checked(path: &Path, options: &mut OpenOptions) -> Result<File> {
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.nlink() != 1 {
        bail!(
            "{} is not a file cf-run init made (a FIFO, a device or a hard link); \
             move it away and run cf-run init again",
            path.display()
        );
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_events_and_skips_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("cf-run-journal-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (mut journal, earlier) = Journal::open(&dir).unwrap();
        assert!(earlier.is_empty());
        let moved = Event::Moved {
            from: "a".into(),
            path: "p/x.jsonl".into(),
            over_prefix: false,
        };
        journal.record([&moved].into_iter()).unwrap();
        journal.file.write_all(b"{\"event\":\"mov").unwrap();
        drop(journal);
        assert!(interrupted(&dir));
        let (mut journal, earlier) = Journal::open(&dir).unwrap();
        assert_eq!(earlier, std::slice::from_ref(&moved));
        journal.record([&moved].into_iter()).unwrap();
        drop(journal);
        let (journal, earlier) = Journal::open(&dir).unwrap();
        assert_eq!(earlier, [moved.clone(), moved]);
        journal.finish().unwrap();
        assert!(!interrupted(&dir));
        fs::remove_dir_all(&dir).unwrap();
    }
}
