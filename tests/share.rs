//! `[share]`: further dirs under ~/.claude that every account sees the same,
//! in every mode, as an unprivileged user; and a faithful resume with the real
//! client, whose file-history backup made under one account is there under the next.

mod support;

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};
use support::client::{claude, offline_env, setup};
use support::layout::{STANDARD_CONFIG, TestUser, bins, stderr, stdout};
use support::mock_api::MockApi;
use support::modes::{MODES, launch, sh};

const SHARE: &str = "[share]\nfile-history = \"~/.claude-shared/file-history\"\nplans = \"~/.claude-shared/plans\"\n";

#[test]
fn shared_dirs_are_the_same_under_every_account_and_others_stay_apart() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.config(&format!("{STANDARD_CONFIG}\n{SHARE}"));
    for mode in MODES {
        let id = format!("session-{}", mode.name());
        let write = format!(
            "mkdir -p \"$CLAUDE_CONFIG_DIR/file-history/{id}\" \"$CLAUDE_CONFIG_DIR/sessions\" && \
             echo backup > \"$CLAUDE_CONFIG_DIR/file-history/{id}/f@v1\" && \
             echo plan > \"$CLAUDE_CONFIG_DIR/plans/{id}.md\" && \
             echo mine > \"$CLAUDE_CONFIG_DIR/sessions/{id}.json\""
        );
        let out = launch(&user, mode, "compte1", &sh(&write));
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        let read = format!(
            "cat \"$CLAUDE_CONFIG_DIR/file-history/{id}/f@v1\" \"$CLAUDE_CONFIG_DIR/plans/{id}.md\"; \
             cat \"$CLAUDE_CONFIG_DIR/sessions/{id}.json\""
        );
        let out = launch(&user, mode, "compte2", &sh(&read));
        assert_eq!(stdout(&out), "backup\nplan\n", "{mode:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("No such file"),
            "{mode:?}: sessions/ was shared"
        );
        // On disk the files are in the shared dirs, not in compte1's.
        assert!(
            user.path(&format!(".claude-shared/file-history/{id}/f@v1"))
                .is_file(),
            "{mode:?}"
        );
    }
    // The shared dirs were made on first use, private to the user.
    let mode = std::fs::metadata(user.path(".claude-shared/plans"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn dry_run_shows_the_shared_dirs() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.config(&format!("{STANDARD_CONFIG}\n{SHARE}"));
    let home = user.home.display().to_string();
    let out = stdout(&user.run(&bins().plain, &["--account", "compte1", "--dry-run"]));
    let want =
        format!("mount: bind {home}/.claude-shared/plans over {home}/.claude-compte1/plans ");
    assert!(out.contains(&want), "{out}");
    assert!(
        out.contains(&format!(
            "change: create {home}/.claude-shared/file-history (mode 0700) if missing"
        )),
        "{out}"
    );
    assert!(
        !user.path(".claude-shared").exists(),
        "--dry-run created the shared dirs"
    );
}

#[test]
fn bad_share_entries_are_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.mkdir("elsewhere");
    user.symlink("linked", user.path("elsewhere"));
    let cases: [(&str, &[&str]); 6] = [
        (
            "sessions = \"~/s\"",
            &[
                "\"sessions\" cannot be shared",
                "allowed: file-history, plans",
            ],
        ),
        (
            "projects = \"~/p\"",
            &["\"projects\" cannot be shared", "shared_projects"],
        ),
        (
            "plans = \"shared/plans\"",
            &["share.plans", "relative path"],
        ),
        (
            "plans = \"~/.claude-compte1/plans\"",
            &["share.plans", "inside account \"compte1\"'s dir"],
        ),
        ("plans = \"~/.claude-projects-shared\"", &["same directory"]),
        ("plans = \"~/linked/plans\"", &["linked is a symlink"]),
    ];
    for (entry, want) in cases {
        user.config(&format!("{STANDARD_CONFIG}\n[share]\n{entry}\n"));
        for mode in MODES {
            let before = user.snapshot();
            let out = user.run(
                mode.bin(),
                &["--mode", mode.name(), "--account", "compte1", "--", "true"],
            );
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(125), "{entry} {mode:?}: {err}");
            for w in want {
                assert!(err.contains(w), "{entry} {mode:?}: want {w:?} in {err}");
            }
            assert_eq!(user.snapshot(), before, "{entry} {mode:?} changed the disk");
        }
    }
}

#[test]
fn an_accounts_own_non_empty_dir_is_never_hidden() {
    let user = TestUser::acquire();
    user.standard_layout();
    user.config(&format!("{STANDARD_CONFIG}\n{SHARE}"));
    user.write(".claude-compte1/file-history/old/f@v1", "precious\n");
    for mode in MODES {
        let before = user.snapshot();
        let out = user.run(
            mode.bin(),
            &["--mode", mode.name(), "--account", "compte1", "--", "true"],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(125), "{mode:?}: {err}");
        assert!(
            err.contains(".claude-compte1/file-history holds 0 transcripts (1 file)"),
            "{err}"
        );
        assert_eq!(user.snapshot(), before, "{mode:?}");
    }
}

/// The client's own file checkpoints, made under compte1, are there under
/// compte2, and the resumed conversation carries the tool call and its result.
#[test]
fn a_resume_keeps_the_file_history_claude_made_under_another_account() {
    for mode in MODES {
        let user = setup();
        user.config(&format!("{STANDARD_CONFIG}\n{SHARE}"));
        for account in ["compte1", "compte2"] {
            let settings = format!("{{\"apiKeyHelper\": \"echo KEY-{account}\"}}\n");
            user.write(&format!(".claude-{account}/settings.json"), &settings);
        }
        let file = user
            .write("proj/notes.txt", "old notes\n")
            .display()
            .to_string();
        let mock = MockApi::start();
        // Claude must read a file before it may overwrite it.
        mock.push_tool_use("Read", json!({"file_path": file}));
        mock.push_tool_use(
            "Write",
            json!({"file_path": file, "content": "new notes\n"}),
        );
        let env = offline_env(&mock);
        let mut env = env.each();
        // -p runs keep no file checkpoints unless asked.
        env.push(("CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING", "1"));
        let run = |account: &str, claude_args: &[&str]| {
            let mut args = vec!["--mode", mode.name(), "--account", account, "--", claude()];
            args.extend(claude_args);
            args.extend([
                "--permission-mode",
                "acceptEdits",
                "--output-format",
                "json",
            ]);
            let out = user
                .command(mode.bin(), &args, &env)
                .current_dir(user.path("proj"))
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{mode:?} {account}: {}",
                stderr(&out)
            );
            serde_json::from_str::<Value>(stdout(&out).trim()).unwrap()
        };
        let first = run("compte1", &["-p", "rewrite the notes"]);
        let id = first["session_id"].as_str().unwrap().to_owned();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "new notes\n",
            "{mode:?}"
        );

        // The backup of the old content, seen from compte2's session.
        let list = user.run(
            mode.bin(),
            &[
                "--mode",
                mode.name(),
                "--account",
                "compte2",
                "--",
                "sh",
                "-c",
                &format!("cat \"$CLAUDE_CONFIG_DIR\"/file-history/{id}/*"),
            ],
        );
        assert_eq!(stdout(&list), "old notes\n", "{mode:?}: {}", stderr(&list));

        let resumed = run("compte2", &["--resume", &id, "-p", "what did you change?"]);
        assert_eq!(resumed["session_id"], id.as_str());
        let last = mock.messages_requests().pop().unwrap();
        assert_eq!(last.key(), Some("KEY-compte2"));
        let messages = last.body["messages"].to_string();
        assert!(
            messages.contains("\"tool_use\"") && messages.contains("new notes"),
            "{mode:?}: no tool call in history"
        );
        assert!(
            messages.contains("\"tool_result\""),
            "{mode:?}: no tool result in history"
        );
    }
}
