//! Walking the trees to merge. Nothing is followed: a symlink inside a tree is
//! an entry like a file, and moves as a symlink.

use std::collections::BTreeMap;
use std::fs::FileType;
use std::io;
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, access};

use super::places::WORK_DIR;

/// A tree that takes part in the merge: the shared dir itself (first), then
/// each account's entry of the share's name (`projects`, `plans`, ...).
#[derive(Debug, Clone)]
pub struct Source {
    /// The account's name; for trees that are not an account's, a name
    /// starting with '.', which no account can have.
    pub label: String,
    pub root: PathBuf,
}

/// What a path holds, as far as the merge cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Link,
    /// A fifo, socket or device: moved as is, never read.
    Special,
}

impl Kind {
    pub fn of(t: FileType) -> Kind {
        if t.is_dir() {
            Kind::Dir
        } else if t.is_file() {
            Kind::File
        } else if t.is_symlink() {
            Kind::Link
        } else {
            Kind::Special
        }
    }
}

/// Everything the sources hold.
#[derive(Debug, Default)]
pub struct Tree {
    /// Each relative path held by some source, with who holds it (index into
    /// the sources) and what. Sorted, so a dir comes before what it holds.
    pub paths: BTreeMap<PathBuf, Vec<(usize, Kind)>>,
    /// Paths that cannot be read, and why: they stay where they are.
    pub left: Vec<(PathBuf, String)>,
}

/// Walks every source but the first (the shared dir, which is looked at
/// path by path instead).
pub fn scan(sources: &[Source]) -> Tree {
    let mut tree = Tree::default();
    for (index, source) in sources.iter().enumerate().skip(1) {
        let mut todo = vec![PathBuf::new()];
        while let Some(rel) = todo.pop() {
            let dir = source.root.join(&rel);
            let listing = match std::fs::read_dir(&dir) {
                Ok(listing) => listing,
                Err(e) => {
                    tree.left.push((dir, why(&e)));
                    continue;
                }
            };
            for entry in listing {
                let (entry, kind) = match entry.and_then(|e| Ok((e.file_type()?, e))) {
                    Ok((t, e)) => (e, Kind::of(t)),
                    Err(e) => {
                        tree.left.push((dir.clone(), why(&e)));
                        continue;
                    }
                };
                let path = rel.join(entry.file_name());
                if path == Path::new(WORK_DIR) {
                    let why = "its name is the one cf-run init keeps its journal under";
                    tree.left.push((entry.path(), why.into()));
                    continue;
                }
                if kind == Kind::File
                    && let Err(e) = access(&entry.path(), AccessFlags::R_OK)
                {
                    tree.left
                        .push((entry.path(), format!("cannot read it ({e})")));
                    continue;
                }
                if kind == Kind::Dir {
                    todo.push(path.clone());
                }
                tree.paths.entry(path).or_default().push((index, kind));
            }
        }
    }
    tree
}

fn why(e: &io::Error) -> String {
    format!("cannot list it ({e})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_paths_put_a_dir_right_before_what_it_holds() {
        let mut paths: Vec<PathBuf> = ["a-b", "a/z", "a", "a/b/c", "b"]
            .iter()
            .map(PathBuf::from)
            .collect();
        paths.sort();
        assert_eq!(paths, ["a", "a/b/c", "a/z", "a-b", "b"].map(PathBuf::from));
    }
}
