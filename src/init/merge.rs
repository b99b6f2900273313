//! The merge decision for one relative path held in several places. Pure, so
//! that a rerun after a crash, deciding again from what is left, reaches the
//! same end as a run that was never interrupted.

use std::io::{self, Read};

/// How version `a` relates to version `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Same,
    /// `a` is a strict prefix of `b`: transcripts only grow, so `b` holds all of `a`.
    Prefix,
    /// `b` is a strict prefix of `a`.
    Extends,
    Diverged,
}

/// Compares two byte streams a chunk at a time, never loading a file whole.
pub fn compare(mut a: impl Read, mut b: impl Read) -> io::Result<Relation> {
    const CHUNK: usize = 64 * 1024;
    let (mut buf_a, mut buf_b) = (vec![0; CHUNK], vec![0; CHUNK]);
    loop {
        let na = fill(&mut a, &mut buf_a)?;
        let nb = fill(&mut b, &mut buf_b)?;
        let n = na.min(nb);
        if buf_a[..n] != buf_b[..n] {
            return Ok(Relation::Diverged);
        }
        // A short chunk means that stream ended.
        match (na == CHUNK, nb == CHUNK) {
            (true, true) => continue,
            _ if na == nb => return Ok(Relation::Same),
            _ if na < nb => return Ok(Relation::Prefix),
            _ => return Ok(Relation::Extends),
        }
    }
}

/// Reads until `buf` is full or the stream ends; how many bytes were read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What becomes of one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Kept at the path Claude reads.
    Keep,
    /// Dropped: identical to, or a prefix of, version `of`, which is kept
    /// (at the path or as a conflict copy).
    Drop { same: bool, of: usize },
    /// Diverged from the kept version and older: put aside as a conflict copy.
    Conflict,
}

/// Decides the fate of each version of one path. Versions come in order of
/// preference (the shared dir's own first, then the accounts in the config's
/// order): among identical copies the first stays, and a tie in `mtimes`
/// goes to the first. `relation(a, b)` compares two versions.
pub fn fates<E>(
    mtimes: &[i128],
    mut relation: impl FnMut(usize, usize) -> Result<Relation, E>,
) -> Result<Vec<Fate>, E> {
    let mut fates = vec![Fate::Keep; mtimes.len()];
    // Versions not yet shown redundant; pairwise diverged.
    let mut kept: Vec<usize> = Vec::new();
    for i in 0..mtimes.len() {
        let mut covered = None;
        let mut superseded = Vec::new();
        for &k in &kept {
            match relation(i, k)? {
                Relation::Same => covered = Some((true, k)),
                Relation::Prefix => covered = Some((false, k)),
                Relation::Extends => superseded.push(k),
                Relation::Diverged => {}
            }
            if covered.is_some() {
                break;
            }
        }
        match covered {
            Some((same, of)) => fates[i] = Fate::Drop { same, of },
            None => {
                for &k in &superseded {
                    fates[k] = Fate::Drop { same: false, of: i };
                }
                kept.retain(|k| !superseded.contains(k));
                kept.push(i);
            }
        }
    }
    // The most recently modified stays at the path; ties go to the first.
    let winner = kept
        .iter()
        .copied()
        .max_by_key(|&i| (mtimes[i], std::cmp::Reverse(i)));
    for &k in &kept {
        fates[k] = if Some(k) == winner {
            Fate::Keep
        } else {
            Fate::Conflict
        };
    }
    // A drop names the version that finally holds its content.
    for i in 0..fates.len() {
        if let Fate::Drop { same, mut of } = fates[i] {
            while let Fate::Drop { of: next, .. } = fates[of] {
                of = next;
            }
            fates[i] = Fate::Drop { same, of };
        }
    }
    Ok(fates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: &[u8], b: &[u8]) -> Relation {
        compare(a, b).unwrap()
    }

    #[test]
    fn compares_identical_prefix_and_diverged() {
        assert_eq!(rel(b"", b""), Relation::Same);
        assert_eq!(rel(b"a\nb\n", b"a\nb\n"), Relation::Same);
        assert_eq!(rel(b"a\n", b"a\nb\n"), Relation::Prefix);
        assert_eq!(rel(b"", b"a"), Relation::Prefix);
        assert_eq!(rel(b"a\nb\n", b"a\n"), Relation::Extends);
        assert_eq!(rel(b"a\nb\n", b"a\nc\n"), Relation::Diverged);
        assert_eq!(rel(b"a\nbc", b"a\nb"), Relation::Extends);
    }

    #[test]
    fn compares_across_chunk_boundaries() {
        let long: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(rel(&long, &long), Relation::Same);
        assert_eq!(rel(&long[..65536], &long), Relation::Prefix);
        assert_eq!(rel(&long, &long[..131_072]), Relation::Extends);
        let mut other = long.clone();
        other[150_000] ^= 1;
        assert_eq!(rel(&long, &other), Relation::Diverged);
    }

    /// Versions as contents and mtimes, resolved by content.
    fn fates(versions: &[(&str, i128)]) -> Vec<Fate> {
        let mtimes: Vec<_> = versions.iter().map(|v| v.1).collect();
        let relation = |a: usize, b: usize| {
            Ok::<_, io::Error>(rel(versions[a].0.as_bytes(), versions[b].0.as_bytes()))
        };
        super::fates(&mtimes, relation).unwrap()
    }

    #[test]
    fn a_single_version_is_kept() {
        assert_eq!(fates(&[("x", 1)]), [Fate::Keep]);
    }

    #[test]
    fn identical_copies_keep_the_first() {
        assert_eq!(
            fates(&[("x\n", 1), ("x\n", 9)]),
            [Fate::Keep, Fate::Drop { same: true, of: 0 }]
        );
    }

    #[test]
    fn a_prefix_gives_way_to_the_longer_copy_whatever_the_times() {
        assert_eq!(
            fates(&[("a\nb\n", 1), ("a\n", 9)]),
            [Fate::Keep, Fate::Drop { same: false, of: 0 }]
        );
        assert_eq!(
            fates(&[("a\n", 9), ("a\nb\n", 1)]),
            [Fate::Drop { same: false, of: 1 }, Fate::Keep]
        );
    }

    #[test]
    fn diverged_copies_keep_the_newest_and_set_the_others_aside() {
        assert_eq!(
            fates(&[("a\nb\n", 1), ("a\nc\n", 5), ("a\nd\n", 3)]),
            [Fate::Conflict, Fate::Keep, Fate::Conflict]
        );
        // A tie goes to the first (the shared dir's own copy, when there is one).
        assert_eq!(fates(&[("b", 5), ("c", 5)]), [Fate::Keep, Fate::Conflict]);
    }

    #[test]
    fn a_chain_of_prefixes_names_the_copy_that_holds_them_all() {
        assert_eq!(
            fates(&[("a", 1), ("ab", 1), ("abc", 1)]),
            [
                Fate::Drop { same: false, of: 2 },
                Fate::Drop { same: false, of: 2 },
                Fate::Keep
            ]
        );
    }

    #[test]
    fn a_prefix_of_a_conflict_copy_is_dropped_not_duplicated() {
        // "a" is a prefix of both diverged copies: nothing of it is lost.
        let f = fates(&[("a", 1), ("ab", 2), ("ac", 3)]);
        assert_eq!(f[0], Fate::Drop { same: false, of: 1 });
        assert_eq!(&f[1..], [Fate::Conflict, Fate::Keep]);
    }

    #[test]
    fn deciding_again_from_what_is_left_reaches_the_same_end() {
        // After a crash some versions are gone (dropped or set aside): the
        // remaining ones keep their fates.
        let all = [("a", 1), ("ab", 2), ("ac", 3), ("ac", 4)];
        let full = fates(&all);
        assert_eq!(
            full,
            [
                Fate::Drop { same: false, of: 1 },
                Fate::Conflict,
                Fate::Keep,
                Fate::Drop { same: true, of: 2 }
            ]
        );
        assert_eq!(fates(&[all[1], all[2]]), [Fate::Conflict, Fate::Keep]);
        assert_eq!(fates(&[all[2]]), [Fate::Keep]);
    }

    proptest::proptest! {
        /// Whatever the versions, every content survives: each dropped one is
        /// equal to or a prefix of a kept or set-aside one, and exactly one is kept.
        #[test]
        fn nothing_is_lost(versions in proptest::collection::vec(("[ab]{0,4}", 0i128..4), 1..6)) {
            let versions: Vec<(&str, i128)> = versions.iter().map(|(s, t)| (s.as_str(), *t)).collect();
            let f = fates(&versions);
            proptest::prop_assert_eq!(f.iter().filter(|f| **f == Fate::Keep).count(), 1);
            for (i, fate) in f.iter().enumerate() {
                if let Fate::Drop { of, .. } = *fate {
                    let holder_kept = !matches!(f[of], Fate::Drop { .. });
                    proptest::prop_assert!(holder_kept);
                    proptest::prop_assert!(versions[of].0.starts_with(versions[i].0));
                }
            }
        }
    }
}
