//! What cf-run knows of each account's usage: the cool-downs that follow a
//! usage limit (`limits.json`, kept across reboots), and the last usage the
//! client showed (`usage.json` in the runtime dir), which cf-run's statusline
//! tap hands to the session's parent.
//!
//! A usage record comes from inside a session, so it is a claim of that
//! session's alone: it is bounded and checked, it is filed under the account
//! its launch runs as (never one the file names), and all it can change is
//! which account a move picks and what `cf-run accounts` shows.

use std::collections::BTreeMap;

use anyhow::Result;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::session::State;

/// No usage window is longer than seven days: a time further ahead than this
/// was not written by cf-run or the client, and is not believed.
pub const LONGEST: SignedDuration = SignedDuration::from_hours(8 * 24);

/// Accounts that hit a limit, and until when, kept across runs.
#[derive(Default)]
pub struct Limits(BTreeMap<String, Timestamp>);

impl Limits {
    const FILE: &str = "limits.json";

    pub fn load(state: &State) -> Result<Self> {
        Ok(Self::parse(state.read(Self::FILE)?, Timestamp::now()))
    }

    /// What the file says, as far as it can be believed at `now`: entries
    /// that have ended, or end further ahead than any window, are dropped;
    /// a file that is not a map of times counts as empty.
    fn parse(bytes: Option<Vec<u8>>, now: Timestamp) -> Self {
        let mut map: BTreeMap<String, Timestamp> = bytes
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        map.retain(|_, until| *until > now && *until <= now + LONGEST);
        Self(map)
    }

    /// Until when `account` is cooling down, if it still is at `now`.
    pub fn cooling(&self, account: &str, now: Timestamp) -> Option<Timestamp> {
        self.0.get(account).copied().filter(|until| *until > now)
    }

    /// Records that `account` cools down until `until` (`None`: no longer),
    /// into the file as it is now (another session's cool-downs are kept),
    /// and this copy becomes that file's.
    pub fn set(&mut self, state: &State, account: &str, until: Option<Timestamp>) -> Result<()> {
        let now = Timestamp::now();
        *self = state.update(Self::FILE, |bytes| {
            let mut limits = Self::parse(bytes, now);
            match until {
                Some(until) => limits
                    .0
                    .insert(account.to_owned(), until.min(now + LONGEST)),
                None => limits.0.remove(account),
            };
            Ok((serde_json::to_vec_pretty(&limits.0)?, limits))
        })?;
        Ok(())
    }
}

/// One usage window as the client shows it: the share used (0 to 100) and
/// when the window starts again.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub used_percentage: f64,
    /// Seconds since the epoch.
    pub resets_at: i64,
}

impl Window {
    /// The share used at `now`: none once the window has reset.
    pub fn used(&self, now: Timestamp) -> f64 {
        if self.resets_at > now.as_second() {
            self.used_percentage
        } else {
            0.0
        }
    }

    pub fn resets(&self) -> Timestamp {
        Timestamp::from_second(self.resets_at).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// A window from the client's `rate_limits`, if it can be believed at
    /// `now`: a finite share in 0..=100, a reset within the longest window.
    fn from_client(value: &Value, now: Timestamp) -> Option<Self> {
        let used = value["used_percentage"].as_f64()?;
        let resets_at = value["resets_at"].as_i64()?;
        let ahead = resets_at - now.as_second();
        ((0.0..=100.0).contains(&used) && ahead > 0 && ahead <= LONGEST.as_secs()).then_some(Self {
            used_percentage: used,
            resets_at,
        })
    }
}

/// An account's last known usage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub five_hour: Option<Window>,
    pub seven_day: Option<Window>,
    /// When the client showed it.
    pub seen: Timestamp,
}

impl Usage {
    /// What the tap recorded (the client's `rate_limits`), seen at `now`;
    /// `None` when it holds no window that can be believed.
    pub fn claimed(bytes: &[u8], now: Timestamp) -> Option<Self> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        let usage = Self {
            five_hour: Window::from_client(&value["five_hour"], now),
            seven_day: Window::from_client(&value["seven_day"], now),
            seen: now,
        };
        (usage.five_hour.is_some() || usage.seven_day.is_some()).then_some(usage)
    }

    /// What is left before the nearer of the two limits, in percent.
    pub fn room(&self, now: Timestamp) -> f64 {
        let used = |w: Option<Window>| w.map_or(0.0, |w| w.used(now));
        100.0 - used(self.five_hour).max(used(self.seven_day))
    }
}

/// The share of each window at which `--failover` moves a session before
/// the limit, from the config's `[failover]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub five_hour: u8,
    pub seven_day: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            five_hour: 90,
            seven_day: 95,
        }
    }
}

/// A window this close to its reset is waited out rather than moved from.
const NEAR_RESET: SignedDuration = SignedDuration::from_mins(5);

impl Thresholds {
    /// The window of `usage` at or past its threshold at `now`, and not about
    /// to reset: its name and the window.
    pub fn crossed(&self, usage: &Usage, now: Timestamp) -> Option<(&'static str, Window)> {
        [
            ("five-hour", usage.five_hour, self.five_hour),
            ("seven-day", usage.seven_day, self.seven_day),
        ]
        .into_iter()
        .find_map(|(name, window, at)| {
            let w = window?;
            (w.used(now) >= f64::from(at) && w.resets() > now + NEAR_RESET).then_some((name, w))
        })
    }
}

/// Every account's last known usage, in the runtime dir.
#[derive(Debug, Default)]
pub struct Known(BTreeMap<String, Usage>);

impl Known {
    const FILE: &str = "usage.json";

    pub fn load(state: &State) -> Self {
        Self::parse(state.read_runtime(Self::FILE).ok().flatten())
    }

    /// What the file says; a file that is not such a map counts as empty.
    fn parse(bytes: Option<Vec<u8>>) -> Self {
        Self(
            bytes
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default(),
        )
    }

    pub fn of(&self, account: &str) -> Option<&Usage> {
        self.0.get(account)
    }

    /// What is left of `account` at `now`: all of it when unknown.
    pub fn room(&self, account: &str, now: Timestamp) -> f64 {
        self.of(account).map_or(100.0, |u| u.room(now))
    }

    /// Files `usage` as `account`'s latest, unless a later one is there.
    pub fn record(state: &State, account: &str, usage: Usage) -> Result<()> {
        state.update_runtime(Self::FILE, |bytes| {
            let mut known = Self::parse(bytes);
            if known.of(account).is_none_or(|old| old.seen <= usage.seen) {
                known.0.insert(account.to_owned(), usage);
            }
            Ok((serde_json::to_vec_pretty(&known.0)?, ()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-25T14:00:00Z".parse().unwrap()
    }

    fn at(hours: i64) -> i64 {
        now().as_second() + hours * 3600
    }

    #[test]
    fn a_claim_keeps_only_windows_that_can_be_believed() {
        let claim = |five: Value, seven: Value| {
            let text = serde_json::json!({"five_hour": five, "seven_day": seven}).to_string();
            Usage::claimed(text.as_bytes(), now())
        };
        let ok = serde_json::json!({"used_percentage": 93, "resets_at": at(2)});
        let u = claim(ok.clone(), serde_json::json!(null)).unwrap();
        assert_eq!(u.five_hour.unwrap().used_percentage, 93.0);
        assert_eq!(u.seven_day, None);
        assert_eq!(u.seen, now());
        for bad in [
            serde_json::json!({"used_percentage": 101, "resets_at": at(2)}),
            serde_json::json!({"used_percentage": -1, "resets_at": at(2)}),
            serde_json::json!({"used_percentage": "93", "resets_at": at(2)}),
            serde_json::json!({"used_percentage": 50, "resets_at": at(-1)}),
            serde_json::json!({"used_percentage": 50, "resets_at": at(24 * 9)}),
            serde_json::json!({"used_percentage": 50}),
        ] {
            assert_eq!(claim(bad.clone(), bad.clone()), None, "{bad}");
        }
        assert_eq!(Usage::claimed(b"not json", now()), None);
        assert_eq!(Usage::claimed(b"[1]", now()), None);
    }

    #[test]
    fn room_is_left_before_the_nearer_limit_and_a_reset_window_is_empty() {
        let w = |used, hours| {
            Some(Window {
                used_percentage: used,
                resets_at: at(hours),
            })
        };
        let u = |five, seven| Usage {
            five_hour: five,
            seven_day: seven,
            seen: now(),
        };
        assert_eq!(u(w(30.0, 2), w(80.0, 48)).room(now()), 20.0);
        assert_eq!(u(w(95.0, -1), None).room(now()), 100.0);
        assert_eq!(Known::default().room("never-seen", now()), 100.0);
        let t = Thresholds::default();
        assert_eq!(t.crossed(&u(w(89.9, 2), w(94.0, 48)), now()), None);
        assert_eq!(
            t.crossed(&u(w(90.0, 2), None), now()).unwrap().0,
            "five-hour"
        );
        assert_eq!(
            t.crossed(&u(w(10.0, 2), w(95.0, 48)), now()).unwrap().0,
            "seven-day"
        );
        // Four minutes from its reset: waited out.
        let soon = Some(Window {
            used_percentage: 99.0,
            resets_at: now().as_second() + 240,
        });
        assert_eq!(t.crossed(&u(soon, None), now()), None);
    }

    #[test]
    fn limits_believe_only_times_ahead_within_a_window() {
        let text = serde_json::json!({
            "a": now() + SignedDuration::from_hours(1),
            "past": now() - SignedDuration::from_hours(1),
            "far": now() + SignedDuration::from_hours(24 * 9),
        });
        let limits = Limits::parse(Some(text.to_string().into_bytes()), now());
        assert!(limits.cooling("a", now()).is_some());
        assert!(limits.cooling("past", now()).is_none());
        assert!(limits.cooling("far", now()).is_none());
        assert!(Limits::parse(Some(b"[]".to_vec()), now()).0.is_empty());
    }
}
