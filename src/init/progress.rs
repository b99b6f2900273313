//! Progress on stderr while a large merge runs: a bar on a terminal, a plain
//! line every tenth of the way otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Below this many paths a merge is quick: no progress shown.
const LARGE: usize = 1000;

pub enum Progress {
    Bar(ProgressBar),
    Lines { total: usize, done: usize },
    Quiet,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        if total < LARGE {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} paths merged, {eta} left")
            {
                bar.set_style(style);
            }
            Progress::Bar(bar)
        } else {
            Progress::Lines { total, done: 0 }
        }
    }

    /// One more path merged.
    pub fn step(&mut self) {
        match self {
            Progress::Bar(bar) => bar.inc(1),
            Progress::Lines { total, done } => {
                *done += 1;
                if *done % total.div_ceil(10) == 0 || done == total {
                    eprintln!("cf-run init: {done} of {total} paths merged");
                }
            }
            Progress::Quiet => {}
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
