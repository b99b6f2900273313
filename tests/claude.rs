//! Cross-account resume with the real Claude Code client, offline, against a
//! loopback mock of the Messages API, in every mode, as an unprivileged user.
//! Each account's key lives in its own settings.json (apiKeyHelper), so the
//! mock sees which account calls.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use support::client::{claude, offline_env, setup, slug};
use support::layout::{TestUser, stderr, stdout};
use support::mock_api::{MockApi, Recorded};
use support::modes::{MODES, Mode};

/// `cf-run --mode M --account A -- claude ARGS -p PROMPT --output-format json` in ~/proj.
fn claude_cmd(
    user: &TestUser,
    mock: &MockApi,
    mode: Mode,
    account: &str,
    args: &[&str],
) -> Command {
    let mut cf = vec!["--mode", mode.name(), "--account", account, "--", claude()];
    cf.extend(args);
    cf.extend(["--output-format", "json"]);
    let env = offline_env(mock);
    let mut cmd = user.command(mode.bin(), &cf, &env.each());
    cmd.current_dir(user.path("proj"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run_claude(user: &TestUser, mock: &MockApi, mode: Mode, account: &str, args: &[&str]) -> Output {
    claude_cmd(user, mock, mode, account, args)
        .output()
        .unwrap()
}

/// The one JSON result a `-p --output-format json` run prints.
fn result(out: &Output) -> Value {
    serde_json::from_str(stdout(out).trim())
        .unwrap_or_else(|e| panic!("no JSON result ({e}): {}\n{}", stdout(out), stderr(out)))
}

fn session_id(out: &Output) -> String {
    let r = result(out);
    assert_eq!(r["is_error"], false, "{r}\n{}", stderr(out));
    r["session_id"].as_str().unwrap().to_owned()
}

/// The Messages API requests of one session.
fn requests_of(mock: &MockApi, session: &str) -> Vec<Recorded> {
    mock.messages_requests()
        .into_iter()
        .filter(|r| r.session_id() == Some(session))
        .collect()
}

fn transcript(user: &TestUser, session: &str) -> PathBuf {
    let name = format!("{}/{session}.jsonl", slug(&user.path("proj")));
    user.path(".claude-projects-shared").join(name)
}

#[test]
fn a_session_started_under_one_account_resumes_under_the_other() {
    let user = setup();
    let mock = MockApi::start();
    for mode in MODES {
        let first = format!("first prompt in {mode:?}");
        let out = run_claude(&user, &mock, mode, "compte1", &["-p", &first]);
        let id = session_id(&out);
        let resumed = run_claude(
            &user,
            &mock,
            mode,
            "compte2",
            &["--resume", &id, "-p", "second prompt"],
        );
        assert_eq!(
            session_id(&resumed),
            id,
            "{mode:?}: the resume started another session"
        );

        let requests = requests_of(&mock, &id);
        assert_eq!(requests.len(), 2, "{mode:?}: {requests:?}");
        assert_eq!(requests[0].key(), Some("KEY-compte1"), "{mode:?}");
        assert_eq!(requests[1].key(), Some("KEY-compte2"), "{mode:?}");
        assert!(
            requests[1].raw_body.contains(&first),
            "{mode:?}: the resume did not send the first turn"
        );
        assert!(requests[1].raw_body.contains("second prompt"), "{mode:?}");

        // One transcript, in the shared dir, holding both turns.
        let text = std::fs::read_to_string(transcript(&user, &id)).unwrap();
        assert!(
            text.contains(&first) && text.contains("second prompt"),
            "{mode:?}"
        );
        if mode != Mode::Symlink {
            // The binds wrote through to the shared dir: the account's own stays empty.
            let own = std::fs::read_dir(user.path(".claude-compte1/projects")).unwrap();
            assert_eq!(
                own.count(),
                0,
                "{mode:?}: a transcript landed in compte1's own projects"
            );
        }
    }
    // Each account keeps its own .claude.json; the user's ~/.claude.json is never made.
    for account in ["compte1", "compte2"] {
        let state = user.path(&format!(".claude-{account}/.claude.json"));
        assert!(state.is_file(), "{account} has no .claude.json");
    }
    assert!(
        !user.path(".claude.json").exists(),
        "~/.claude.json was created"
    );
}

#[test]
fn two_accounts_run_sessions_at_the_same_time() {
    let user = setup();
    let mock = MockApi::start();
    for mode in MODES {
        let spawn = |account| -> Child {
            let prompt = format!("concurrent {account} {mode:?}");
            claude_cmd(&user, &mock, mode, account, &["-p", &prompt])
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("compte1"), spawn("compte2"));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        for (out, account) in [(a, "compte1"), (b, "compte2")] {
            let id = session_id(&out);
            let requests = requests_of(&mock, &id);
            assert_eq!(requests.len(), 1, "{mode:?} {account}");
            assert_eq!(
                requests[0].key(),
                Some(format!("KEY-{account}").as_str()),
                "{mode:?}"
            );
            assert!(
                requests[0]
                    .raw_body
                    .contains(&format!("concurrent {account}")),
                "{mode:?}"
            );
        }
    }
}

#[test]
fn continue_picks_up_the_other_accounts_latest_session() {
    for mode in MODES {
        // A fresh home each time: --continue takes the newest session of the dir.
        let user = setup();
        let mock = MockApi::start();
        let out = run_claude(
            &user,
            &mock,
            mode,
            "compte1",
            &["-p", "the task to continue"],
        );
        let id = session_id(&out);
        let cont = run_claude(
            &user,
            &mock,
            mode,
            "compte2",
            &["--continue", "-p", "go on"],
        );
        assert_eq!(session_id(&cont), id, "{mode:?}");
        let last = mock.messages_requests().pop().unwrap();
        assert_eq!(last.key(), Some("KEY-compte2"), "{mode:?}");
        assert!(last.raw_body.contains("the task to continue"), "{mode:?}");
    }
}

#[test]
fn a_rate_limited_session_goes_on_under_the_next_account() {
    let user = setup();
    let mock = MockApi::start();
    mock.rate_limit_key("KEY-compte1");
    for mode in MODES {
        let out = run_claude(
            &user,
            &mock,
            mode,
            "compte1",
            &["-p", "work until the limit"],
        );
        let r = result(&out);
        assert_eq!(out.status.code(), Some(1), "{mode:?}: {r}");
        assert_eq!(
            (r["is_error"].clone(), r["api_error_status"].clone()),
            (true.into(), 429.into()),
            "{r}"
        );
        let id = r["session_id"].as_str().unwrap().to_owned();
        let text = std::fs::read_to_string(transcript(&user, &id)).unwrap();
        assert!(
            text.contains("\"isApiErrorMessage\":true")
                && text.contains("\"error\":\"rate_limit\"")
        );

        let resumed = run_claude(
            &user,
            &mock,
            mode,
            "compte2",
            &["--resume", &id, "-p", "continue"],
        );
        assert_eq!(session_id(&resumed), id, "{mode:?}");
        let last = mock.messages_requests().pop().unwrap();
        assert_eq!(last.key(), Some("KEY-compte2"));
        assert!(last.raw_body.contains("work until the limit"), "{mode:?}");
    }
}

/// The control: the same client, the same account dirs, but no shared
/// projects bind: the resume must fail, or the tests above prove nothing.
#[test]
fn without_the_shared_bind_the_resume_fails() {
    let user = setup();
    let mock = MockApi::start();
    let id = session_id(&run_claude(
        &user,
        &mock,
        Mode::Userns,
        "compte1",
        &["-p", "only here"],
    ));
    let mut direct = user.command(
        Path::new(claude()),
        &["--resume", &id, "-p", "again", "--output-format", "json"],
        &[
            (
                "CLAUDE_CONFIG_DIR",
                user.path(".claude-compte2").to_str().unwrap(),
            ),
            ("ANTHROPIC_BASE_URL", &mock.base_url()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ],
    );
    let out = direct.current_dir(user.path("proj")).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("No conversation found with session ID: {id}")),
        "{err}"
    );
    assert_eq!(
        requests_of(&mock, &id).len(),
        1,
        "the failed resume reached the API"
    );
}
