//! The README's backup recipe (restic), run as written there: what a backup
//! holds and leaves out, and a restore that brings a lost session back
//! without replacing anything newer, which the real client then resumes.

mod support;

use std::path::Path;
use std::process::Output;

use support::client::{claude, offline_env, setup, slug};
use support::layout::{TestUser, bins, stderr, stdout};
use support::mock_api::MockApi;

const LOST: &str = "3f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";
const GROWN: &str = "0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";

/// The shell block after `<!-- tested: NAME -->` in the README.
fn readme_block(name: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let marker = format!("<!-- tested: {name} -->\n```sh\n");
    let (_, rest) = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no {marker:?} in the README"));
    rest.split_once("```").unwrap().0.to_owned()
}

struct Backup<'a> {
    user: &'a TestUser,
    path: String,
    repo: String,
    password: String,
}

impl Backup<'_> {
    fn bash(&self, script: &str) -> Output {
        let env = [
            ("PATH", self.path.as_str()),
            ("RESTIC_REPOSITORY", self.repo.as_str()),
            ("RESTIC_PASSWORD_FILE", self.password.as_str()),
        ];
        let out = self.user.run_env(
            Path::new("/bin/bash"),
            &["-e", "-o", "pipefail", "-c", script],
            &env,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{script}\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        out
    }
}

#[test]
fn the_readme_backup_leaves_credentials_out_and_its_restore_brings_a_lost_session_back() {
    let user = setup();
    user.mkdir("bin");
    std::os::unix::fs::symlink(claude(), user.path("bin/claude")).unwrap();
    std::os::unix::fs::symlink(&bins().plain, user.path("bin/cf-run")).unwrap();
    let path = format!("{}:/usr/bin:/bin", user.path("bin").display());
    let mock = MockApi::start();
    let env = offline_env(&mock);
    let mut vars = env.each();
    vars.push(("PATH", &path));
    let client = |account: &str, args: &[&str]| {
        let mut all = vec!["--account", account, "--", "claude", "-p"];
        all.extend(args);
        let out = user
            .command(&bins().plain, &all, &vars)
            .current_dir(user.path("proj"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    };
    client("compte1", &["the lost task", "--session-id", LOST]);
    client("compte1", &["the grown task", "--session-id", GROWN]);
    let backup = Backup {
        user: &user,
        path: path.clone(),
        repo: user.path("backup-repo").to_str().unwrap().to_owned(),
        password: user
            .write(".config/restic-password", "a long passphrase\n")
            .to_str()
            .unwrap()
            .to_owned(),
    };
    backup.bash("restic init");
    backup.bash(&readme_block("backup"));

    let listed = stdout(&backup.bash("restic ls latest"));
    let project = format!(".claude-projects-shared/{}", slug(&user.path("proj")));
    for held in [
        format!("{project}/{LOST}.jsonl"),
        ".claude-compte1/settings.json".into(),
        ".claude-compte2/who".into(),
        ".config/claude-failover/config.toml".into(),
    ] {
        let held = user.path(&held);
        assert!(
            listed.lines().any(|l| Path::new(l) == held),
            "{} is not in the backup:\n{listed}",
            held.display()
        );
    }
    assert!(user.path(".claude-compte1/.credentials.json").is_file());
    assert!(
        !listed.contains(".credentials.json"),
        "a login is in the backup:\n{listed}"
    );

    // After the backup: one session grows, the other is lost.
    client("compte2", &["a turn after the backup", "--resume", GROWN]);
    let lost = user.path(&format!("{project}/{LOST}.jsonl"));
    let was = std::fs::read(&lost).unwrap();
    std::fs::remove_file(&lost).unwrap();
    let grown = user.path(&format!("{project}/{GROWN}.jsonl"));
    let grown_was = std::fs::read(&grown).unwrap();

    backup.bash(&readme_block("restore"));
    assert_eq!(std::fs::read(&lost).unwrap(), was, "not restored as it was");
    assert_eq!(
        std::fs::read(&grown).unwrap(),
        grown_was,
        "the restore replaced a newer transcript"
    );
    let left: Vec<_> = std::fs::read_dir(&user.home)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("restored"))
        .collect();
    assert!(left.is_empty(), "the restore left {left:?}");

    mock.clear_requests();
    client("compte2", &["the next task", "--resume", LOST]);
    let request = mock
        .messages_requests()
        .into_iter()
        .find(|r| r.raw_body.contains("the next task"))
        .expect("no request for the next task");
    assert_eq!(request.session_id(), Some(LOST));
    assert_eq!(request.key(), Some("KEY-compte2"));
    assert!(request.raw_body.contains("the lost task"));
}
