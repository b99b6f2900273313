//! What each check of `doctor` reports, and how the report prints.

use std::fmt::Write as _;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Worth fixing, but a launch works.
    Warn,
    /// A launch would fail.
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Item {
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Item {
    Item {
        name: name.into(),
        status: Status::Ok,
        detail: detail.into(),
        fix: None,
    }
}

pub fn bad(
    status: Status,
    name: impl Into<String>,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Item {
    Item {
        name: name.into(),
        status,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

pub fn render(items: &[Item]) -> String {
    let mut out = String::new();
    for item in items {
        let status = match item.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let _ = writeln!(out, "{status:<4}  {}: {}", item.name, item.detail);
        if let Some(fix) = &item.fix {
            let _ = writeln!(out, "      fix: {fix}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line_per_check_and_the_fix_below_a_problem() {
        let items = [
            ok("config", "fine"),
            bad(Status::Fail, "claude", "not found", "install it"),
        ];
        assert_eq!(
            render(&items),
            "ok    config: fine\nFAIL  claude: not found\n      fix: install it\n"
        );
    }
}
