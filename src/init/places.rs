//! The names `init` uses for its own places and for where a copy came from.

/// Under the shared dir: the journal, the lock and copies in flight.
pub const WORK_DIR: &str = ".cf-init";
/// Under the shared dir: diverged copies set aside, by the account they came from.
pub const CONFLICTS_DIR: &str = ".cf-conflicts";
/// The shared dir's own copies (no account can be named with a leading '.').
pub const SHARED_LABEL: &str = ".shared";
/// What `~/.claude/NAME` held (the single-account layout of old).
pub const CLAUDE_LABEL: &str = ".claude";
