//! Symlinks planted where cf-run reads, mounts or links.

use super::*;

/// Attack: `~/.claude-compte1` is a symlink to a root-owned dir (/etc, or a
/// world-writable root dir): the session would get root's files as its
/// account, and a mount over or into a system dir.
/// Outcome: refused in every mode, naming the symlink; nothing mounted or created there.
#[test]
fn a_symlinked_account_dir_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    fs::rename(user.path(".claude-compte1"), user.path("real")).unwrap();
    for target in [Path::new("/etc"), &tools().root_dir] {
        user.symlink(".claude-compte1", target);
        let shown = format!(".claude-compte1 is a symlink (to {})", target.display());
        for mode in MODES {
            refused(
                &user,
                mode,
                &["account \"compte1\"'s dir", &shown, "not follow symlinks"],
            );
        }
        fs::remove_file(user.path(".claude-compte1")).unwrap();
    }
    outside.assert_same("symlinked account dir");
}

/// Attack: the shared projects dir is a symlink to compte2's dir (so
/// compte1's session would see compte2's credentials as its transcripts) or
/// to /etc.
/// Outcome: refused in every mode.
#[test]
fn a_symlinked_shared_dir_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    fs::remove_dir_all(user.path(".claude-projects-shared")).unwrap();
    for target in [user.path(".claude-compte2"), PathBuf::from("/etc")] {
        user.symlink(".claude-projects-shared", &target);
        for mode in MODES {
            refused(
                &user,
                mode,
                &[
                    "the shared projects dir",
                    ".claude-projects-shared is a symlink",
                ],
            );
        }
        fs::remove_file(user.path(".claude-projects-shared")).unwrap();
    }
    outside.assert_same("symlinked shared dir");
}

/// Attack: the mount target `~/.claude` is a symlink to /etc or to a
/// world-writable root dir, so that the account bind lands on a system dir.
/// Outcome: refused in both namespace modes; symlink mode never uses
/// `~/.claude` and leaves the link alone (harmless).
#[test]
fn a_symlinked_mount_target_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    for target in [Path::new("/etc"), &tools().root_dir] {
        user.symlink(".claude", target);
        for mode in NAMESPACED {
            refused(&user, mode, &["the mount target", ".claude is a symlink"]);
        }
        let out = launch(
            &user,
            Mode::Symlink,
            "compte1",
            &sh("cat \"$CLAUDE_CONFIG_DIR/who\""),
        );
        assert_eq!(stdout(&out), "compte1\n", "{}", stderr(&out));
        assert_eq!(fs::read_link(user.path(".claude")).unwrap(), target);
        fs::remove_file(user.path(".claude")).unwrap();
    }
    outside.assert_same("symlinked mount target");
}

/// Attack: the account's `projects` (mounted over, or replaced in symlink
/// mode) or `~/.claude/projects` is a symlink to /etc or to a root dir.
/// Outcome: refused in every mode that touches it; symlink mode ignores
/// `~/.claude/projects` (harmless).
#[test]
fn a_symlinked_projects_entry_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    let outside = Outside::now();
    for target in [Path::new("/etc"), &tools().root_dir] {
        user.symlink(".claude-compte1/projects", target);
        let shown = format!("projects is a symlink to {}", target.display());
        for mode in MODES {
            refused(&user, mode, &[&shown, "not to the shared dir"]);
        }
        fs::remove_file(user.path(".claude-compte1/projects")).unwrap();
        user.mkdir(".claude");
        user.symlink(".claude/projects", target);
        for mode in NAMESPACED {
            refused(&user, mode, &[".claude/projects is a symlink to"]);
        }
        let out = launch(&user, Mode::Symlink, "compte1", &["true"]);
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        fs::remove_dir_all(user.path(".claude")).unwrap();
        fs::remove_file(user.path(".claude-compte1/projects")).unwrap();
    }
    outside.assert_same("symlinked projects");
}

/// Attack: the config is reached through a symlinked parent (`~/.config`,
/// `~/.config/claude-failover`), or through /dev/stdin or a
/// /proc/PID/fd/N magic link.
/// Outcome: refused in every mode ("is or passes through a symlink").
#[test]
fn a_config_through_a_symlink_or_magic_link_is_refused() {
    let user = TestUser::acquire();
    user.standard_layout();
    fs::rename(user.path(".config/claude-failover"), user.path("real-cf")).unwrap();
    user.symlink(".config/claude-failover", user.path("real-cf"));
    for mode in MODES {
        refused(&user, mode, &["is or passes through a symlink"]);
    }
    fs::remove_file(user.path(".config/claude-failover")).unwrap();
    user.mkdir("real-config");
    fs::rename(
        user.path("real-cf"),
        user.path("real-config/claude-failover"),
    )
    .unwrap();
    fs::remove_dir_all(user.path(".config")).unwrap();
    user.symlink(".config", user.path("real-config"));
    for mode in MODES {
        refused(&user, mode, &["is or passes through a symlink"]);
    }
    let config = user.path("real-config/claude-failover/config.toml");
    let config = config.to_str().unwrap();
    for mode in MODES {
        // /dev/stdin -> /proc/self/fd/0: a symlink, then a magic link.
        let script = format!(
            "exec {} --config /dev/stdin --mode {} --account compte1 -- true < {config}",
            bin_str(mode),
            mode.name()
        );
        let out = user.run(Path::new("/bin/sh"), &["-c", &script]);
        assert_eq!(code(&out), Some(125), "{mode:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("is or passes through a symlink"));
        // $$ is the shell that becomes cf-run: /proc/PID/fd/5 is cf-run's own descriptor.
        let script = format!(
            "exec 5<{config}; exec {} --config /proc/$$/fd/5 --mode {} --account compte1 -- true",
            bin_str(mode),
            mode.name()
        );
        let out = user.run(Path::new("/bin/sh"), &["-c", &script]);
        assert_eq!(code(&out), Some(125), "{mode:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is or passes through a symlink"),
            "{mode:?}: {}",
            stderr(&out)
        );
    }
}
