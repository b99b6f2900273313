//! Paths: nesting, traversal, length, odd characters, names.

use super::*;

/// Attack: account dirs, the shared dir and `~/.claude` nested in or equal to
/// one another under different spellings (`~`, `/`, `~/./.claude`,
/// `~//x/`), so that one bind hides or exposes another.
/// Outcome: refused in every mode, naming both.
#[test]
fn nested_or_overlapping_dirs_are_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let cases = [
        (
            "~/.claude-projects-shared",
            "~",
            "~/.claude-compte2",
            "is inside",
        ),
        (
            "~/.claude-projects-shared",
            "/",
            "~/.claude-compte2",
            "is inside",
        ),
        (
            "~/.claude-projects-shared",
            "~/./.claude",
            "~/.claude-compte2",
            "same directory",
        ),
        (
            "~/.claude",
            "~/.claude-compte1",
            "~/.claude-compte2",
            "same directory",
        ),
        (
            "~/.claude-compte2/projects",
            "~/.claude-compte1",
            "~/.claude-compte2",
            "is inside account \"compte2\"'s dir",
        ),
        (
            "~/.claude-projects-shared",
            "~/.claude-compte1",
            "~//.claude-compte1/",
            "same directory",
        ),
        (
            "~/.claude-projects-shared",
            "~/.claude/compte1",
            "~/.claude-compte2",
            "is inside the mount target",
        ),
    ];
    for (shared, one, two, want) in cases {
        user.config(&format!(
            "shared_projects = \"{shared}\"\n[accounts.compte1]\ndir = \"{one}\"\n[accounts.compte2]\ndir = \"{two}\"\n"
        ));
        for mode in MODES {
            refused(&user, mode, &[want]);
        }
    }
}

/// Attack: relative paths, `..` (also spelled with TOML `\u002e` escapes),
/// and `~user` pointing into another home.
/// Outcome: refused in every mode, naming the key.
#[test]
fn relative_dotdot_and_tilde_user_paths_are_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let cases = [
        ("rel/dir", "relative path"),
        ("./.claude-compte1", "relative path"),
        ("~/../cfrun-t0/.claude-compte1", "contains '..'"),
        ("~/x/\\u002e\\u002e/.claude-compte2", "contains '..'"),
        ("/home/\\u002E\\u002E/etc", "contains '..'"),
        ("~root/.claude", "not ~user"),
        ("~cfrun-t0/.claude-compte1", "not ~user"),
    ];
    for (dir, want) in cases {
        user.config(&format!(
            "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"{dir}\"\n"
        ));
        for mode in MODES {
            refused(&user, mode, &["accounts.compte1.dir", want]);
        }
    }
}

/// Attack: very long paths: one just under PATH_MAX that exists (deep
/// nesting), and one over PATH_MAX.
/// Outcome: the deep one works like any other (its own `who` at
/// `~/.claude`); the one over PATH_MAX is refused (ENAMETOOLONG), no crash.
#[test]
fn paths_near_and_over_path_max_are_handled() {
    let user = TestUser::acquire();
    user.standard_layout();
    let part = "d".repeat(200);
    let deep = vec![part.as_str(); 19].join("/");
    user.write(&format!("{deep}/acc/who"), "deep\n");
    assert!(user.path(&deep).as_os_str().len() > 3800);
    user.config(&format!(
        "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"~/{deep}/acc\"\n[accounts.compte2]\ndir = \"~/.claude-compte2\"\n"
    ));
    for mode in MODES {
        let out = launch(
            &user,
            mode,
            "compte1",
            &sh("cat \"$CLAUDE_CONFIG_DIR/who\""),
        );
        assert_eq!(stdout(&out), "deep\n", "{mode:?}: {}", stderr(&out));
    }
    let too_long = vec![part.as_str(); 22].join("/");
    user.config(&format!(
        "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"~/{too_long}/acc\"\n"
    ));
    for mode in MODES {
        refused(&user, mode, &["ENAMETOOLONG"]);
    }
}

/// Attack: odd Unicode in dir names, written with TOML escapes:
/// right-to-left override, fullwidth solidus and full stops that look like
/// `/..`, combining marks, no-break space.
/// Outcome: each is taken literally as one name: the session sees that
/// dir's own `who`, never /etc; where it does not exist, refused.
#[test]
fn odd_unicode_names_are_taken_literally() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    let names = [
        (".claude-\u{202e}1etpmoc", ".claude-\\u202e1etpmoc"),
        (
            ".claude\u{ff0f}\u{ff0e}\u{ff0e}\u{ff0f}etc",
            ".claude\\uFF0F\\uFF0E\\uFF0E\\uFF0Fetc",
        ),
        (".claude-co\u{301}mpte1", ".claude-co\\u0301mpte1"),
        (".claude\u{a0}compte1", ".claude\\u00a0compte1"),
    ];
    for (name, escaped) in names {
        user.write(&format!("{name}/who"), "literal\n");
        user.config(&format!(
            "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"~/{escaped}\"\n[accounts.compte2]\ndir = \"~/.claude-compte2\"\n"
        ));
        for mode in MODES {
            let out = launch(
                &user,
                mode,
                "compte1",
                &sh("cat \"$CLAUDE_CONFIG_DIR/who\""),
            );
            assert_eq!(
                stdout(&out),
                "literal\n",
                "{mode:?} {name}: {}",
                stderr(&out)
            );
        }
        fs::remove_dir_all(user.path(name)).unwrap();
        for mode in MODES {
            refused(&user, mode, &["does not exist"]);
        }
    }
    outside.assert_same("unicode names");
}

/// Attack: terminal escape sequences in text cf-run prints: another user
/// plants, where the user's account dir should be (in a shared sticky dir),
/// a symlink whose target holds them; a session forges a registry entry
/// whose cwd holds them, for `cf-run ps` to print.
/// Expected: control characters escaped, never raw, in both.
#[test]
fn escape_sequences_are_never_printed_raw() {
    let user = TestUser::acquire();
    user.standard_layout();
    let public = fixture_dir(&user, "public", 0o1777);
    let planted = public.join("acc");
    symlink("\x1b]0;cf-run-pwned\x07\x1b[2J/x", &planted).unwrap();
    lchown(&planted, Some(65534), Some(65534)).unwrap();
    user.config(&format!(
        "shared_projects = \"~/.claude-projects-shared\"\n[accounts.compte1]\ndir = \"{}\"\n",
        planted.display()
    ));
    for mode in MODES {
        let err = refused(&user, mode, &["is a symlink"]);
        assert!(
            !err.contains('\x1b') && !err.contains('\x07'),
            "{mode:?}: raw control characters in {err:?}"
        );
    }
    // The same through `cf-run ps`, from a registry entry a session forged
    // for a live process of the user's (its cwd field holds the sequences).
    let mut sleeper = user
        .command(Path::new("/bin/sleep"), &["30"], &[])
        .spawn()
        .unwrap();
    let pid = sleeper.id();
    forge_entry(&user, pid, "\x1b]0;cf-run-pwned\x07\x1b[2J");
    for mode in [Mode::Userns, Mode::Privileged] {
        let out = user.run(mode.bin(), &["ps"]);
        let o = stdout(&out);
        assert!(
            o.contains(&pid.to_string()),
            "{mode:?}: {o}{}",
            stderr(&out)
        );
        assert!(
            !o.contains('\x1b') && !o.contains('\x07'),
            "{mode:?}: raw control characters in {o:?}"
        );
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

/// Attack: account names with path traversal or odd bytes, on the command
/// line (`../compte2`, `compte1/../compte2`, `.`, `..`, empty, non-UTF-8) and
/// in the config (`..`, `../x`, `a/b`, NUL, non-ASCII letters, leading `-`).
/// Outcome: unknown account (125) or usage error (2) on the command line;
/// the config is refused (125, "is not allowed").
#[test]
fn account_names_with_traversal_are_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    for mode in MODES {
        for name in [
            "../compte2",
            "compte1/../compte2",
            ".",
            "..",
            "",
            "compte1\n",
            "COMPTE1",
        ] {
            assert_refused(
                &user,
                mode,
                &args(mode, name, &["true"]),
                &["unknown account", "compte1, compte2"],
            );
        }
        let argv = as_user(
            &user,
            &[
                mode.bin().as_os_str(),
                OsStr::new("--account"),
                OsStr::from_bytes(b"compte\xff1"),
                OsStr::new("--"),
                OsStr::new("true"),
            ],
        );
        let out = run_argv(&user, &argv);
        assert_eq!(code(&out), Some(2), "{mode:?}: {}", stderr(&out));
    }
    for bad in [
        "\"..\"",
        "\"../x\"",
        "\"a/b\"",
        "\"compte\\u0000\"",
        "\"\\u2160\"",
        "\"-rf\"",
    ] {
        user.config(&format!(
            "{STANDARD_CONFIG}[accounts.{bad}]\ndir = \"~/.claude-x\"\n"
        ));
        for mode in MODES {
            refused(&user, mode, &["is not allowed"]);
        }
    }
}
