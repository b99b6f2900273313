//! What `init` tells, once for each shared dir: every path held in more
//! than one place and what became of each copy, what was left in place and
//! why, each account's entry (`projects`, ...), and the counts. On stdout,
//! one plain line each.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::steps::{Event, whose};
use crate::output::count;

#[derive(Debug, Default)]
pub struct Report {
    pub events: Vec<Event>,
    /// Left in place, and why.
    pub left: Vec<(PathBuf, String)>,
    /// Each account's entry (its `projects`, ...), as it ends (or would end).
    pub layout: Vec<String>,
    /// Accounts' entries that still hold something, like "compte1's projects".
    pub unsettled: Vec<String>,
}

/// Past this many, the paths merged are summed up per project on the
/// terminal, and listed in full in a file.
pub const MOST_LINES: usize = 50;

impl Report {
    /// One line for each path held in more than one place (every move too,
    /// with `dry`).
    pub fn path_lines(&self, dry: bool) -> Vec<String> {
        self.events.iter().filter_map(|e| line(e, dry)).collect()
    }

    /// The report's lines; with `dry`, every move is listed. Past
    /// [`MOST_LINES`] paths, each project gets one line with its counts
    /// instead, and `full` names where the list is.
    pub fn lines(&self, dry: bool, full: Option<&std::path::Path>) -> Vec<String> {
        let mut lines = self.path_lines(dry);
        if let Some(full) = full.filter(|_| lines.len() > MOST_LINES) {
            lines = self.per_project();
            lines.push(format!(
                "every path and what became of it: {}",
                full.display()
            ));
        }
        for (path, why) in &self.left {
            lines.push(format!("left in place: {}: {why}", path.display()));
        }
        lines.extend(self.layout.iter().cloned());
        lines.push(self.counts(dry));
        lines
    }

    /// Each project (the first part of a path) with what its paths held in
    /// more than one place came to.
    fn per_project(&self) -> Vec<String> {
        let mut by: BTreeMap<String, [usize; 3]> = BTreeMap::new();
        for e in &self.events {
            let (path, i) = match e {
                Event::Conflict { path, .. } => (path, 0),
                Event::Same { path, .. } => (path, 1),
                Event::Prefix { path, .. } => (path, 2),
                Event::Moved { .. } => continue,
            };
            let project = path
                .iter()
                .next()
                .map_or(String::new(), |p| p.to_string_lossy().into());
            by.entry(project).or_default()[i] += 1;
        }
        by.into_iter()
            .map(|(project, [conflicts, same, prefix])| {
                format!(
                    "{project}: {}, {}, {}",
                    count(conflicts, "conflict set aside", "conflicts set aside"),
                    count(same, "identical copy dropped", "identical copies dropped"),
                    count(
                        prefix,
                        "prefix of a longer copy dropped",
                        "prefixes of a longer copy dropped"
                    ),
                )
            })
            .collect()
    }

    fn counts(&self, dry: bool) -> String {
        let mut moved: BTreeMap<&str, usize> = BTreeMap::new();
        let (mut same, mut prefix, mut conflicts) = (0, 0, 0);
        for e in &self.events {
            match e {
                Event::Moved { from, .. } => *moved.entry(from).or_default() += 1,
                Event::Same { .. } => same += 1,
                Event::Prefix { .. } => prefix += 1,
                Event::Conflict { .. } => conflicts += 1,
            }
        }
        let total: usize = moved.values().sum();
        let from: Vec<_> = moved
            .iter()
            .map(|(label, n)| format!("{n} from {}", whose(label)))
            .collect();
        let from = if from.is_empty() {
            String::new()
        } else {
            format!(" ({})", from.join(", "))
        };
        format!(
            "{}: {total} moved{from}, {}, {}, {}, {} left in place",
            if dry { "would do" } else { "done" },
            count(same, "identical copy dropped", "identical copies dropped"),
            count(
                prefix,
                "prefix of a longer copy dropped",
                "prefixes of a longer copy dropped"
            ),
            count(conflicts, "conflict set aside", "conflicts set aside"),
            self.left.len()
        )
    }
}

fn line(event: &Event, dry: bool) -> Option<String> {
    Some(match event {
        Event::Moved {
            from,
            path,
            over_prefix: true,
        } => format!(
            "longer: {}: {}'s copy replaces the shared dir's, a prefix of it",
            path.display(),
            whose(from)
        ),
        Event::Moved { from, path, .. } if dry => {
            format!("move: {}: {}", whose(from), path.display())
        }
        Event::Moved { .. } => return None,
        Event::Same { from, path, kept } => format!(
            "same: {}: {}'s copy is identical to {kept}; one is kept",
            path.display(),
            whose(from)
        ),
        Event::Prefix { from, path, kept } => format!(
            "prefix: {}: {}'s copy is a prefix of {kept}, which is kept",
            path.display(),
            whose(from)
        ),
        Event::Conflict {
            from,
            path,
            kept,
            to,
        } => match super::steps::session_of(to) {
            Some(new) => format!(
                "conflict: {}: {kept} stays there; {}'s differs and goes on as session {new} \
                 (claude --resume {new})",
                path.display(),
                whose(from),
            ),
            None => format!(
                "conflict: {}: {kept} stays there; {}'s differs and goes to {}",
                path.display(),
                whose(from),
                to.display()
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_merges_and_counts_moves() {
        let report = Report {
            events: vec![
                Event::Moved {
                    from: "a".into(),
                    path: "p/1.jsonl".into(),
                    over_prefix: false,
                },
                Event::Conflict {
                    from: "a".into(),
                    path: "p/2.jsonl".into(),
                    kept: "b's".into(),
                    to: ".cf-conflicts/a/p/2.jsonl".into(),
                },
            ],
            left: vec![("/h/a/projects/p/3.jsonl".into(), "cannot read it".into())],
            ..Report::default()
        };
        let real = report.lines(false, None);
        assert_eq!(
            real,
            [
                "conflict: p/2.jsonl: b's stays there; a's differs and goes to .cf-conflicts/a/p/2.jsonl",
                "left in place: /h/a/projects/p/3.jsonl: cannot read it",
                "done: 1 moved (1 from a), 0 identical copies dropped, \
                 0 prefixes of a longer copy dropped, 1 conflict set aside, 1 left in place",
            ]
        );
        assert_eq!(report.lines(true, None)[0], "move: a: p/1.jsonl");
    }
}
