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
    /// What is checked, the same on every host (`account_dir`, `mode`):
    /// a key for scripts, where `name` is for people.
    pub id: &'static str,
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
    /// The account the check is about, if one.
    pub account: Option<String>,
    /// The path the check is about, if one.
    pub path: Option<std::path::PathBuf>,
}

impl Item {
    /// This item as check `id`, about `account` and `path`.
    pub fn about(
        mut self,
        id: &'static str,
        account: Option<&str>,
        path: Option<&std::path::Path>,
    ) -> Self {
        self.id = id;
        self.account = account.map(str::to_owned);
        self.path = path.map(std::path::Path::to_path_buf);
        self
    }

    pub fn id(self, id: &'static str) -> Self {
        self.about(id, None, None)
    }
}

pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Item {
    Item {
        id: "",
        name: name.into(),
        status: Status::Ok,
        detail: detail.into(),
        fix: None,
        account: None,
        path: None,
    }
}

pub fn bad(
    status: Status,
    name: impl Into<String>,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Item {
    Item {
        id: "",
        name: name.into(),
        status,
        detail: detail.into(),
        fix: Some(fix.into()),
        account: None,
        path: None,
    }
}

/// The report: every check (`all`), else each problem, with its fix, then
/// a line that sums up.
pub fn render(items: &[Item], all: bool) -> String {
    let mut out = String::new();
    for item in items.iter().filter(|i| all || i.status != Status::Ok) {
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
    let count = |status| items.iter().filter(|i| i.status == status).count();
    let (warn, fail) = (count(Status::Warn), count(Status::Fail));
    let passed = items.len() - warn - fail;
    let _ = match (fail, warn) {
        (0, 0) => writeln!(out, "all {passed} checks pass (--all lists them)"),
        (0, w) => writeln!(
            out,
            "{passed} checks pass, {w} warn (a launch works; worth fixing)"
        ),
        (f, _) => writeln!(out, "{passed} checks pass, {f} fail: a launch would fail"),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_problem_with_its_fix_then_a_summary_and_all_on_asking() {
        let items = [
            ok("config", "fine"),
            bad(Status::Fail, "claude", "not found", "install it"),
        ];
        assert_eq!(
            render(&items, false),
            "FAIL  claude: not found\n      fix: install it\n\
             1 checks pass, 1 fail: a launch would fail\n"
        );
        assert_eq!(
            render(&items, true),
            "ok    config: fine\nFAIL  claude: not found\n      fix: install it\n\
             1 checks pass, 1 fail: a launch would fail\n"
        );
        assert_eq!(
            render(&items[..1], false),
            "all 1 checks pass (--all lists them)\n"
        );
    }
}
