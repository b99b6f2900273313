//! `cf-run init`, run as a built binary by an unprivileged user: the merge of
//! several accounts' transcripts, the layouts it leaves, reruns, dry runs,
//! refusals, and runs killed at any point.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant, SystemTime};

use support::layout::{TestUser, bins, stderr, stdout};

/// Two accounts, each logged in, no shared dir and no config yet.
fn accounts(user: &TestUser) {
    for account in ["compte1", "compte2"] {
        user.write(&format!(".claude-{account}/who"), &format!("{account}\n"));
        user.write(&format!(".claude-{account}/.credentials.json"), "{}\n");
    }
}

/// `cf-run init` for the two accounts, shared dir `shared` (relative to the home).
fn init_args(user: &TestUser, shared: &str, more: &[&str]) -> Vec<String> {
    let home = user.home.display();
    let mut args = vec![
        "init".to_owned(),
        "--shared".into(),
        if shared.starts_with('/') {
            shared.to_owned()
        } else {
            format!("{home}/{shared}")
        },
        "--account".into(),
        format!("compte1={home}/.claude-compte1"),
        "--account".into(),
        format!("compte2={home}/.claude-compte2"),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

fn init(user: &TestUser, more: &[&str]) -> Output {
    let args = init_args(user, ".claude-projects-shared", more);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    user.run(&bins().plain, &args)
}

fn assert_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}stderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

fn read(user: &TestUser, rel: &str) -> String {
    fs::read_to_string(user.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Sets a file's modification time, in seconds since the epoch.
fn set_mtime(path: &Path, secs: u64) {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

fn is_empty_dir(path: &Path) -> bool {
    let meta = fs::symlink_metadata(path).unwrap();
    meta.is_dir() && fs::read_dir(path).unwrap().next().is_none()
}

/// Writes the three kinds of overlap between the two accounts, and entries
/// that only one account holds.
fn overlapping_layout(user: &TestUser) {
    accounts(user);
    let p1 = ".claude-compte1/projects/-home-p";
    let p2 = ".claude-compte2/projects/-home-p";
    user.write(&format!("{p1}/same.jsonl"), "{\"n\":1}\n");
    user.write(&format!("{p2}/same.jsonl"), "{\"n\":1}\n");
    user.write(&format!("{p1}/grow.jsonl"), "{\"n\":1}\n");
    user.write(&format!("{p2}/grow.jsonl"), "{\"n\":1}\n{\"n\":2}\n");
    let newer = user.write(&format!("{p1}/fork.jsonl"), "{\"n\":1}\n{\"b\":1}\n");
    let older = user.write(&format!("{p2}/fork.jsonl"), "{\"n\":1}\n{\"c\":1}\n");
    set_mtime(&newer, 2_000_000_000);
    set_mtime(&older, 1_000_000_000);
    user.write(&format!("{p1}/only1.jsonl"), "one\n");
    user.write(&format!("{p1}/only1/subagents/agent-a1.jsonl"), "agent\n");
    user.write(&format!("{p2}/memory/MEMORY.md"), "remember\n");
    user.mkdir(".claude-compte1/projects/-home-empty");
    user.symlink(&format!("{p2}/outside"), "/etc/hostname");
}

#[test]
fn merges_identical_prefix_and_diverged_copies_and_moves_the_rest() {
    let user = TestUser::acquire();
    overlapping_layout(&user);
    let out = init(&user, &[]);
    assert_ok(&out);
    let o = stdout(&out);
    let s = ".claude-projects-shared/-home-p";
    assert_eq!(read(&user, &format!("{s}/same.jsonl")), "{\"n\":1}\n");
    assert_eq!(
        read(&user, &format!("{s}/grow.jsonl")),
        "{\"n\":1}\n{\"n\":2}\n"
    );
    // The newer copy stays where Claude reads it; the other is set aside.
    assert_eq!(
        read(&user, &format!("{s}/fork.jsonl")),
        "{\"n\":1}\n{\"b\":1}\n"
    );
    assert_eq!(
        read(
            &user,
            ".claude-projects-shared/.cf-conflicts/compte2/-home-p/fork.jsonl"
        ),
        "{\"n\":1}\n{\"c\":1}\n"
    );
    assert_eq!(read(&user, &format!("{s}/only1.jsonl")), "one\n");
    assert_eq!(
        read(&user, &format!("{s}/only1/subagents/agent-a1.jsonl")),
        "agent\n"
    );
    assert_eq!(read(&user, &format!("{s}/memory/MEMORY.md")), "remember\n");
    assert!(is_empty_dir(
        &user.path(".claude-projects-shared/-home-empty")
    ));
    // A symlink moves as a symlink: never followed.
    let link = user.path(&format!("{s}/outside"));
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("/etc/hostname"));
    for want in [
        "same: -home-p/same.jsonl: compte2's copy is identical to compte1's; one is kept",
        "prefix: -home-p/grow.jsonl: compte1's copy is a prefix of compte2's, which is kept",
        "conflict: -home-p/fork.jsonl: compte1's stays there; compte2's differs and goes to \
         .cf-conflicts/compte2/-home-p/fork.jsonl",
        "compte1: projects is an empty dir",
        "compte2: projects is an empty dir",
        "1 identical copy dropped, 1 prefix of a longer copy dropped, 1 conflict set aside, 0 left in place",
    ] {
        assert!(o.contains(want), "want {want:?} in:\n{o}");
    }
    for account in ["compte1", "compte2"] {
        assert!(is_empty_dir(
            &user.path(&format!(".claude-{account}/projects"))
        ));
    }
    assert!(!user.path(".claude-projects-shared/.cf-init").exists());
    // The config it wrote is the user's, 0600, and a launch works with it.
    let config = user.path(".config/claude-failover/config.toml");
    let meta = fs::metadata(&config).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, user.uid));
    let launched = user.run(
        &bins().plain,
        &[
            "--account",
            "compte2",
            "--",
            "sh",
            "-c",
            "cat ~/.claude/who ~/.claude/projects/-home-p/fork.jsonl",
        ],
    );
    assert_ok(&launched);
    assert_eq!(stdout(&launched), "compte2\n{\"n\":1}\n{\"b\":1}\n");
}

#[test]
fn the_symlink_layout_links_each_projects_to_the_shared_dir() {
    let user = TestUser::acquire();
    overlapping_layout(&user);
    assert_ok(&init(&user, &["--layout", "symlink"]));
    let shared = user.path(".claude-projects-shared");
    for account in ["compte1", "compte2"] {
        let link = user.path(&format!(".claude-{account}/projects"));
        assert_eq!(fs::read_link(&link).unwrap(), shared);
    }
    for mode in ["symlink", "userns"] {
        let out = user.run(
            &bins().plain,
            &[
                "--mode",
                mode,
                "--account",
                "compte1",
                "--",
                "sh",
                "-c",
                "cat \"$CLAUDE_CONFIG_DIR/projects/-home-p/grow.jsonl\"",
            ],
        );
        assert_ok(&out);
        assert_eq!(stdout(&out), "{\"n\":1}\n{\"n\":2}\n", "{mode}");
    }
}

#[test]
fn the_older_symlink_layout_is_recognised_and_the_shared_copies_take_part() {
    let user = TestUser::acquire();
    accounts(&user);
    let shared = user.path(".claude-projects-shared");
    // compte1 already links to the shared dir; compte2 kept its own projects.
    user.write(".claude-projects-shared/-p/kept.jsonl", "shared\n");
    let new = user.write(".claude-projects-shared/-p/newer.jsonl", "shared new\n");
    let old = user.write(".claude-projects-shared/-p/older.jsonl", "shared old\n");
    user.symlink(".claude-compte1/projects", &shared);
    let mine_old = user.write(".claude-compte2/projects/-p/newer.jsonl", "mine old\n");
    let mine_new = user.write(".claude-compte2/projects/-p/older.jsonl", "mine new\n");
    user.write(
        ".claude-compte2/projects/-p/kept.jsonl",
        "shared\nand more\n",
    );
    set_mtime(&new, 2_000_000_000);
    set_mtime(&mine_old, 1_000_000_000);
    set_mtime(&old, 1_000_000_000);
    set_mtime(&mine_new, 2_000_000_000);
    // The single-account ~/.claude of old, with a transcript of its own.
    user.write(".claude/projects/-p/solo.jsonl", "solo\n");
    let out = init(&user, &[]);
    assert_ok(&out);
    let o = stdout(&out);
    assert_eq!(
        read(&user, ".claude-projects-shared/-p/newer.jsonl"),
        "shared new\n"
    );
    assert_eq!(
        read(
            &user,
            ".claude-projects-shared/.cf-conflicts/compte2/-p/newer.jsonl"
        ),
        "mine old\n"
    );
    assert_eq!(
        read(&user, ".claude-projects-shared/-p/older.jsonl"),
        "mine new\n"
    );
    assert_eq!(
        read(
            &user,
            ".claude-projects-shared/.cf-conflicts/.shared/-p/older.jsonl"
        ),
        "shared old\n"
    );
    assert_eq!(
        read(&user, ".claude-projects-shared/-p/kept.jsonl"),
        "shared\nand more\n"
    );
    assert_eq!(
        read(&user, ".claude-projects-shared/-p/solo.jsonl"),
        "solo\n"
    );
    assert!(
        o.contains(
            "longer: -p/kept.jsonl: compte2's copy replaces the shared dir's, a prefix of it"
        ),
        "{o}"
    );
    assert!(
        o.contains("conflict: -p/older.jsonl: compte2's stays there; the shared dir's differs"),
        "{o}"
    );
    assert!(o.contains("compte1: projects is now an empty dir"), "{o}");
    assert!(is_empty_dir(&user.path(".claude-compte1/projects")));
    assert!(is_empty_dir(&user.path(".claude/projects")));
    let out = user.run(
        &bins().plain,
        &[
            "--account",
            "compte1",
            "--",
            "cat",
            ".claude/projects/-p/solo.jsonl",
        ],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "solo\n");
}

#[test]
fn a_second_run_changes_nothing() {
    let user = TestUser::acquire();
    overlapping_layout(&user);
    assert_ok(&init(&user, &[]));
    let before = user.snapshot();
    let again = init(&user, &[]);
    assert_ok(&again);
    assert_eq!(user.snapshot(), before, "the second run changed the disk");
    let o = stdout(&again);
    assert!(o.contains("already says this; left as it is"), "{o}");
    assert!(o.contains("done: 0 moved,"), "{o}");
    assert!(!o.contains("failover order"), "{o}");

    // The accounts given in another order: the config's order stays, and
    // init says so.
    let mut reversed = init_args(&user, ".claude-projects-shared", &[]);
    reversed.swap(4, 6);
    let reversed: Vec<&str> = reversed.iter().map(String::as_str).collect();
    let again = user.run(&bins().plain, &reversed);
    assert_ok(&again);
    assert_eq!(
        user.snapshot(),
        before,
        "the reordered run changed the disk"
    );
    let config = user.path(".config/claude-failover/config.toml");
    assert!(
        stdout(&again).contains(&format!(
            "note: the failover order stays as {} has it (compte1, compte2); edit it there",
            config.display()
        )),
        "{}",
        stdout(&again)
    );
}

#[test]
fn dry_run_prints_what_would_move_and_changes_nothing() {
    let user = TestUser::acquire();
    overlapping_layout(&user);
    let before = user.snapshot();
    let out = init(&user, &["--dry-run"]);
    assert_ok(&out);
    assert_eq!(user.snapshot(), before, "--dry-run changed the disk");
    let o = stdout(&out);
    let home = user.home.display();
    for want in [
        "dry run: nothing is changed".to_owned(),
        format!("create: the shared dir {home}/.claude-projects-shared"),
        format!("config: write {home}/.config/claude-failover/config.toml"),
        "move: compte1: -home-p/only1.jsonl".into(),
        "move: compte2: -home-p/memory/MEMORY.md".into(),
        "conflict: -home-p/fork.jsonl".into(),
        "compte1: projects ends as an empty dir".into(),
        "would do: 7 moved".into(),
    ] {
        assert!(o.contains(&want), "want {want:?} in:\n{o}");
    }
}

/// A config that is there and says something else: init says what it
/// would change and changes nothing; with `--force` it changes that alone,
/// keeping every key and comment it does not write (an account's `env`,
/// `private_tmp`), with the old text kept as `config.toml.bak`.
#[test]
fn refuses_to_replace_a_different_config_without_force() {
    let user = TestUser::acquire();
    overlapping_layout(&user);
    let mine = "# mine\nprivate_tmp = true  # by hand\nshared_projects = \"~/elsewhere\"\n\
                [accounts.compte1]\ndir = \"~/.claude-compte1\"\n\
                [accounts.compte1.env]\nFOO = \"1\"\n";
    user.config(mine);
    let before = user.snapshot();
    let out = init(&user, &[]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let e = stderr(&out);
    let home = user.home.display();
    for want in [
        "cf-run: the config".to_owned(),
        format!("shared_projects {home}/elsewhere becomes {home}/.claude-projects-shared"),
        format!("account compte2 ({home}/.claude-compte2) is added"),
        "pass --force to change it".into(),
    ] {
        assert!(e.contains(&want), "want {want:?} in {e}");
    }
    assert_eq!(user.snapshot(), before, "a refusal changed the disk");
    let forced = init(&user, &["--force"]);
    assert_ok(&forced);
    let path = user.path(".config/claude-failover/config.toml");
    assert!(
        stdout(&forced).contains(&format!(
            "config: wrote {}; the old text is in {0}.bak",
            path.display()
        )),
        "{}",
        stdout(&forced)
    );
    let config = read(&user, ".config/claude-failover/config.toml");
    for want in [
        "shared_projects = \"~/.claude-projects-shared\"",
        "# mine\nprivate_tmp = true  # by hand\n",
        "[accounts.compte1.env]\nFOO = \"1\"\n",
        "[accounts.compte2]\ndir = \"~/.claude-compte2\"",
    ] {
        assert!(config.contains(want), "want {want:?} in:\n{config}");
    }
    assert_eq!(read(&user, ".config/claude-failover/config.toml.bak"), mine);

    // A config that cannot be used (a top-level key written last, inside
    // the last table): init cannot keep its keys, and says so.
    let broken = format!("{mine}private_tmp = true\n");
    user.config(&broken);
    let forced = init(&user, &["--force"]);
    assert_ok(&forced);
    let said = stdout(&forced);
    assert!(
        said.contains(&format!(
            "config: wrote {} anew: the old one could not be kept (",
            path.display()
        )) && said.contains(&format!("its text is in {}.bak", path.display())),
        "{said}"
    );
    assert_eq!(
        read(&user, ".config/claude-failover/config.toml.bak"),
        broken
    );
}

#[test]
fn an_unreadable_file_is_left_in_place_and_reported() {
    let user = TestUser::acquire();
    overlapping_layout(&user);
    let secret = user.write(".claude-compte1/projects/-home-p/secret.jsonl", "secret\n");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let out = init(&user, &[]);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        o.contains(&format!(
            "left in place: {}: cannot read it",
            secret.display()
        )),
        "{o}"
    );
    assert!(
        o.contains("compte1: ") && o.contains("still holds entries"),
        "{o}"
    );
    assert!(
        e.contains("1 entry left in place")
            && e.contains("fix them (you may not use the paths above: check its owner and mode")
            && e.contains("run cf-run init again"),
        "{e}"
    );
    assert_eq!(fs::read_to_string(&secret).unwrap(), "secret\n");
    // Everything else moved.
    assert_eq!(
        read(&user, ".claude-projects-shared/-home-p/only1.jsonl"),
        "one\n"
    );
    // Once readable, a rerun finishes the job.
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
    assert_ok(&init(&user, &[]));
    assert_eq!(
        read(&user, ".claude-projects-shared/-home-p/secret.jsonl"),
        "secret\n"
    );
    assert!(is_empty_dir(&user.path(".claude-compte1/projects")));
}

#[test]
fn a_tree_that_is_the_shared_dir_itself_loses_nothing() {
    let user = TestUser::acquire();
    accounts(&user);
    user.write(".claude-projects-shared/-p/a.jsonl", "shared\n");
    user.mkdir(".claude-compte1/projects");
    // As inside a session: compte1's projects is the shared dir, bound over it.
    let args = init_args(&user, ".claude-projects-shared", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let inner = user.command(&bins().plain, &args, &[]);
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" \"$1\" && shift && exec \"$@\"")
        .arg(user.path(".claude-projects-shared"))
        .arg(user.path(".claude-compte1/projects"))
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(&user.home)
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(
        stdout(&out).contains("compte1: projects is the shared dir itself (a bind mount)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        read(&user, ".claude-projects-shared/-p/a.jsonl"),
        "shared\n"
    );
    // A file reached twice (here a hard link) is left for the user to sort out.
    let twice = user.path(".claude-compte2/projects/-p/a.jsonl");
    user.mkdir(".claude-compte2/projects/-p");
    fs::hard_link(user.path(".claude-projects-shared/-p/a.jsonl"), &twice).unwrap();
    let out = init(&user, &[]);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    assert!(stdout(&out).contains("the same file"), "{}", stdout(&out));
    assert_eq!(
        read(&user, ".claude-projects-shared/-p/a.jsonl"),
        "shared\n"
    );
    assert_eq!(fs::read_to_string(&twice).unwrap(), "shared\n");
}

// Further shares: file-history, plans, ... merged as projects is.

const SESSION1: &str = "1b5c9f1e-9b7d-4c55-8e21-0a1b2c3d4e5f";
const SESSION2: &str = "2f0c2a1e-9b7d-4c55-8e21-0a1b2c3d4e5f";

const SHARES: [&str; 4] = [
    "--share",
    "file-history=~/.claude-shared/fh",
    "--share",
    "plans=~/.claude-shared/plans",
];

/// Besides a transcript, each account keeps file-history (by session) and
/// plans: one plan identical in both, one diverged (compte2's is newer).
fn shares_layout(user: &TestUser) {
    accounts(user);
    user.write(".claude-compte1/projects/-p/a.jsonl", "a\n");
    let fh1 = format!(".claude-compte1/file-history/{SESSION1}");
    user.write(&format!("{fh1}/3f2a@v1"), "before\n");
    user.write(&format!("{fh1}/3f2a@v2"), "after\n");
    let fh2 = format!(".claude-compte2/file-history/{SESSION2}");
    user.write(&format!("{fh2}/9c1d@v1"), "other\n");
    for account in ["compte1", "compte2"] {
        user.write(&format!(".claude-{account}/plans/same.md"), "# plan\n");
    }
    let older = user.write(".claude-compte1/plans/fork.md", "# plan A\n");
    let newer = user.write(".claude-compte2/plans/fork.md", "# plan B\n");
    set_mtime(&older, 1_000_000_000);
    set_mtime(&newer, 2_000_000_000);
}

/// The report's part for each shared dir, by the share's name.
fn sections(report: &str) -> BTreeMap<String, String> {
    report
        .split("\n== ")
        .skip(1)
        .filter_map(|part| Some((part.split_once(':')?.0.to_owned(), part.to_owned())))
        .collect()
}

fn assert_has(text: &str, wants: &[String]) {
    for want in wants {
        assert!(text.contains(want.as_str()), "want {want:?} in:\n{text}");
    }
}

#[test]
fn shares_merge_as_projects_do_and_go_into_the_config() {
    let user = TestUser::acquire();
    shares_layout(&user);
    let home = user.home.display();
    let before = user.snapshot();
    let dry = init(&user, &[&SHARES[..], &["--dry-run"]].concat());
    assert_ok(&dry);
    assert_eq!(user.snapshot(), before, "--dry-run changed the disk");
    let o = stdout(&dry);
    assert_has(
        &o,
        &[format!(
            "create: the shared dir {home}/.claude-shared/plans (mode 700)"
        )],
    );
    let parts = sections(&o);
    assert_has(
        &parts["plans"],
        &[
            "conflict: fork.md: compte2's stays there; compte1's differs and goes to \
             .cf-conflicts/compte1/fork.md"
                .into(),
            "compte1: plans ends as an empty dir".into(),
        ],
    );
    assert_has(
        &parts["file-history"],
        &[format!("move: compte1: {SESSION1}/3f2a@v2")],
    );

    let out = init(&user, &SHARES);
    assert_ok(&out);
    let parts = sections(&stdout(&out));
    assert_has(
        &parts["plans"],
        &[
            format!("plans: {home}/.claude-shared/plans\n"),
            "same: same.md: compte2's copy is identical to compte1's; one is kept".into(),
            "conflict: fork.md: compte2's stays there; compte1's differs and goes to \
             .cf-conflicts/compte1/fork.md"
                .into(),
            "compte1: plans is an empty dir".into(),
            "compte2: plans is an empty dir".into(),
            "1 identical copy dropped, 0 prefixes of a longer copy dropped, \
             1 conflict set aside, 0 left in place"
                .into(),
        ],
    );
    assert_has(
        &parts["file-history"],
        &[
            "compte2: file-history is an empty dir".into(),
            "done: 3 moved (2 from compte1, 1 from compte2), 0 identical copies dropped, \
             0 prefixes of a longer copy dropped, 0 conflicts set aside, 0 left in place"
                .into(),
        ],
    );
    assert_has(
        &parts["projects"],
        &["done: 1 moved (1 from compte1)".into()],
    );
    let fh = ".claude-shared/fh";
    assert_eq!(read(&user, &format!("{fh}/{SESSION1}/3f2a@v1")), "before\n");
    assert_eq!(read(&user, &format!("{fh}/{SESSION1}/3f2a@v2")), "after\n");
    assert_eq!(read(&user, &format!("{fh}/{SESSION2}/9c1d@v1")), "other\n");
    assert_eq!(read(&user, ".claude-shared/plans/same.md"), "# plan\n");
    assert_eq!(read(&user, ".claude-shared/plans/fork.md"), "# plan B\n");
    assert_eq!(
        read(&user, ".claude-shared/plans/.cf-conflicts/compte1/fork.md"),
        "# plan A\n"
    );
    for dir in [fh, ".claude-shared/plans"] {
        let meta = fs::metadata(user.path(dir)).unwrap();
        assert_eq!(
            (meta.mode() & 0o777, meta.uid()),
            (0o700, user.uid),
            "{dir}"
        );
        assert!(!user.path(&format!("{dir}/.cf-init")).exists(), "{dir}");
    }
    for account in ["compte1", "compte2"] {
        for name in ["projects", "file-history", "plans"] {
            let entry = user.path(&format!(".claude-{account}/{name}"));
            assert!(is_empty_dir(&entry), "{}", entry.display());
        }
    }
    let config = read(&user, ".config/claude-failover/config.toml");
    assert!(
        config.contains(
            "\n[share]\nfile-history = \"~/.claude-shared/fh\"\nplans = \"~/.claude-shared/plans\"\n"
        ),
        "{config}"
    );
    let before = user.snapshot();
    let again = init(&user, &SHARES);
    assert_ok(&again);
    assert_eq!(user.snapshot(), before, "the second run changed the disk");
    let o = stdout(&again);
    assert!(o.contains("already says this; left as it is"), "{o}");
    let parts = sections(&o);
    assert_eq!(parts.len(), 3, "{o}");
    for (name, part) in parts {
        assert!(
            part.contains("done: 0 moved, 0 identical"),
            "{name}: {part}"
        );
    }
    // A launch sees the merged files.
    let launched = user.run(
        &bins().plain,
        &[
            "--account",
            "compte1",
            "--",
            "sh",
            "-c",
            "cat ~/.claude/plans/fork.md && ls ~/.claude/file-history",
        ],
    );
    assert_ok(&launched);
    assert_eq!(
        stdout(&launched),
        format!("# plan B\n{SESSION1}\n{SESSION2}\n")
    );
}

#[test]
fn the_symlink_layout_links_each_share_to_its_shared_dir() {
    let user = TestUser::acquire();
    shares_layout(&user);
    assert_ok(&init(
        &user,
        &[&SHARES[..], &["--layout", "symlink"]].concat(),
    ));
    for account in ["compte1", "compte2"] {
        for (name, dir) in [("file-history", "fh"), ("plans", "plans")] {
            let link = user.path(&format!(".claude-{account}/{name}"));
            let shared = user.path(&format!(".claude-shared/{dir}"));
            assert_eq!(fs::read_link(&link).unwrap(), shared);
        }
    }
    for mode in ["symlink", "userns"] {
        let out = user.run(
            &bins().plain,
            &[
                "--mode",
                mode,
                "--account",
                "compte1",
                "--",
                "sh",
                "-c",
                "cat \"$CLAUDE_CONFIG_DIR/plans/fork.md\"",
            ],
        );
        assert_ok(&out);
        assert_eq!(stdout(&out), "# plan B\n", "{mode}");
    }
}

#[test]
fn refuses_a_share_it_cannot_share_naming_the_allowed_ones() {
    let user = TestUser::acquire();
    shares_layout(&user);
    let before = user.snapshot();
    let out = init(&user, &["--share", "sessions=~/.claude-shared/sessions"]);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    let e = stderr(&out);
    assert!(
        e.contains(
            "\"sessions\" cannot be shared; allowed: file-history, plans, tasks, todos, \
             agents, commands, skills, plugins"
        ),
        "{e}"
    );
    // A shared dir obeys the rules --shared does.
    let out = init(&user, &["--share", "plans=~/.claude-compte1/plans"]);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("is inside account"),
        "{}",
        stderr(&out)
    );
    let out = init(&user, &["--share", "plans"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(user.snapshot(), before, "a refusal changed the disk");
}

// Crash safety: many entries, overlapping in every way, killed again and again.

/// Each account's (relative path, content, mtime), and what the shared dir
/// (with `.cf-conflicts`) must hold once merged.
struct Generated {
    files: Vec<(&'static str, String, String, u64)>,
    expected: BTreeMap<String, String>,
}

fn generate(n: usize) -> Generated {
    let mut files = vec![];
    let mut expected = BTreeMap::new();
    for i in 0..n {
        let rel = format!("-home-p{}/s{i}.jsonl", i % 37);
        let line = format!("{{\"i\":{i}}}\n");
        let longer = format!("{line}{{\"more\":{i}}}\n");
        let other = format!("{line}{{\"other\":{i}}}\n");
        let mut add = |account, content: &str, mtime| {
            files.push((account, rel.clone(), content.to_owned(), mtime))
        };
        match i % 5 {
            0 => add("compte1", &line, 1_000),
            1 => add("compte2", &line, 1_000),
            2 => {
                add("compte1", &line, 1_000);
                add("compte2", &line, 2_000);
            }
            3 => {
                add("compte1", &line, 3_000);
                add("compte2", &longer, 1_000);
            }
            _ => {
                add("compte1", &longer, 1_000);
                add("compte2", &other, 2_000);
            }
        }
        match i % 5 {
            3 => expected.insert(rel.clone(), longer),
            4 => {
                expected.insert(format!(".cf-conflicts/compte1/{rel}"), longer);
                expected.insert(rel.clone(), other)
            }
            _ => expected.insert(rel.clone(), line),
        };
    }
    Generated { files, expected }
}

/// Writes `g` into each account's entry `name` (`projects`, ...).
fn write_generated(user: &TestUser, name: &str, g: &Generated) {
    accounts(user);
    for (account, rel, content, mtime) in &g.files {
        let path = user.write(&format!(".claude-{account}/{name}/{rel}"), content);
        set_mtime(&path, *mtime);
    }
}

/// One share merged under kills: the accounts' entry `name` holds `g` and
/// merges into `shared`.
struct Merged<'a> {
    name: &'static str,
    shared: PathBuf,
    g: &'a Generated,
}

/// Every regular file below `dir`: relative path and content.
fn files_below(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// Nothing lost at any point: every original content is still somewhere
/// (an account, the shared dir or a conflict copy) in full, or within a
/// longer copy of the same path.
fn assert_nothing_lost(user: &TestUser, m: &Merged, round: usize) {
    let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for account in ["compte1", "compte2"] {
        let own = user.path(&format!(".claude-{account}/{}", m.name));
        for (rel, content) in files_below(&own) {
            held.entry(rel).or_default().push(content);
        }
    }
    for (rel, content) in files_below(&m.shared) {
        if rel.starts_with(".cf-init/") {
            continue;
        }
        let rel = match rel.strip_prefix(".cf-conflicts/") {
            Some(rest) => rest.split_once('/').unwrap().1.to_owned(),
            None => rel,
        };
        held.entry(rel).or_default().push(content);
    }
    for (_, rel, content, _) in &m.g.files {
        let found = held
            .get(rel)
            .is_some_and(|copies| copies.iter().any(|c| c.starts_with(content.as_str())));
        assert!(
            found,
            "round {round}: {}: {rel} ({content:?}) was lost",
            m.name
        );
    }
}

/// Kills `cf-run init` (SIGKILL) after longer and longer delays, each run
/// going on from what the last one left, until one finishes on its own;
/// checks that nothing is lost after each kill, and that the end holds
/// exactly what an uninterrupted merge gives. Returns, for each share, its
/// part of the report of the run that finished its merge (the last one that
/// was not a no-op: the job may end in a run killed after it reported).
fn kill_until_done(
    user: &TestUser,
    args: &[String],
    merges: &[Merged],
) -> BTreeMap<String, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut delay, mut killed) = (Duration::from_millis(2), 0);
    // For each share, how many kills came while its journal was there.
    let mut mid_merge = vec![0; merges.len()];
    let start = Instant::now();
    // A file, not a pipe: a run must never block on a reader that is not there.
    let report = std::env::temp_dir().join(format!("cf-run-init-report-{}", user.name));
    let mut last_report = BTreeMap::new();
    loop {
        let mut child = user
            .command(&bins().plain, &args, &[])
            .stdout(fs::File::create(&report).unwrap())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let done = child.try_wait().unwrap().is_some();
        if !done {
            child.kill().unwrap();
        }
        let status = child.wait().unwrap();
        let text = fs::read_to_string(&report).unwrap();
        for (name, part) in sections(&text) {
            if part.contains("done: ") && !part.contains("done: 0 moved, 0 identical") {
                last_report.insert(name, part);
            }
        }
        if done {
            assert!(status.success(), "the last run failed: {status}");
            break;
        }
        killed += 1;
        for (m, mid) in merges.iter().zip(&mut mid_merge) {
            *mid += usize::from(m.shared.join(".cf-init/journal").exists());
            assert_nothing_lost(user, m, killed);
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no run finished"
        );
        delay = delay.mul_f64(1.1) + Duration::from_millis(1);
    }
    // Runs were cut short mid-merge twice at least, once at least in the
    // last share's merge (which comes after every other's).
    assert!(
        killed >= 3 && mid_merge.iter().sum::<usize>() >= 2 && mid_merge.last() >= Some(&1),
        "killed {killed}, mid-merge {mid_merge:?}"
    );
    for m in merges {
        let name = m.name;
        assert_eq!(
            files_below(&m.shared),
            m.g.expected,
            "{name} after {killed} kills"
        );
        for account in ["compte1", "compte2"] {
            assert!(is_empty_dir(
                &user.path(&format!(".claude-{account}/{name}"))
            ));
        }
    }
    // And once done, a further run changes nothing.
    let before = user.snapshot();
    assert!(user.run(&bins().plain, &args).status.success());
    assert_eq!(user.snapshot(), before);
    let _ = fs::remove_file(&report);
    last_report
}

#[test]
fn a_merge_killed_at_any_point_finishes_on_rerun_with_nothing_lost_or_duplicated() {
    let user = TestUser::acquire();
    let g = generate(4000);
    write_generated(&user, "projects", &g);
    let merged = Merged {
        name: "projects",
        shared: user.path(".claude-projects-shared"),
        g: &g,
    };
    let args = init_args(&user, ".claude-projects-shared", &[]);
    let report = &kill_until_done(&user, &args, &[merged])["projects"];
    // The report of the run that finished counts what the killed ones did too.
    assert!(
        report.contains(
            "done: 4000 moved (1600 from compte1, 2400 from compte2), 800 identical copies dropped, \
             800 prefixes of a longer copy dropped, 800 conflicts set aside, 0 left in place"
        ),
        "{report}"
    );
}

#[test]
fn a_killed_merge_of_projects_and_a_share_finishes_both_on_rerun() {
    let user = TestUser::acquire();
    // Most in the share, merged second, for kills to land in its merge.
    let (projects, fh) = (generate(500), generate(4000));
    write_generated(&user, "projects", &projects);
    write_generated(&user, "file-history", &fh);
    let merges = [
        Merged {
            name: "projects",
            shared: user.path(".claude-projects-shared"),
            g: &projects,
        },
        Merged {
            name: "file-history",
            shared: user.path(".claude-shared/fh"),
            g: &fh,
        },
    ];
    let args = init_args(
        &user,
        ".claude-projects-shared",
        &["--share", "file-history=~/.claude-shared/fh"],
    );
    let reports = kill_until_done(&user, &args, &merges);
    assert!(
        reports["projects"].contains(
            "done: 500 moved (200 from compte1, 300 from compte2), 100 identical copies \
             dropped, 100 prefixes of a longer copy dropped, 100 conflicts set aside, \
             0 left in place"
        ),
        "{reports:?}"
    );
    assert!(
        reports["file-history"].contains(
            "done: 4000 moved (1600 from compte1, 2400 from compte2), 800 identical copies \
             dropped, 800 prefixes of a longer copy dropped, 800 conflicts set aside, \
             0 left in place"
        ),
        "{reports:?}"
    );
}

/// A shared dir on another filesystem (a tmpfs), removed when dropped.
struct OtherFs(PathBuf);

impl Drop for OtherFs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn across_filesystems_a_killed_merge_also_finishes_with_nothing_lost_or_duplicated() {
    let user = TestUser::acquire();
    let shared = OtherFs(PathBuf::from(format!("/dev/shm/cf-run-init-{}", user.name)));
    let _ = fs::remove_dir_all(&shared.0);
    let dev = |p: &Path| fs::metadata(p).unwrap().dev();
    assert_ne!(
        dev(Path::new("/dev/shm")),
        dev(&user.home),
        "/dev/shm is not another filesystem here"
    );
    let g = generate(1500);
    write_generated(&user, "projects", &g);
    let merged = Merged {
        name: "projects",
        shared: shared.0.clone(),
        g: &g,
    };
    let args = init_args(&user, shared.0.to_str().unwrap(), &[]);
    let report = &kill_until_done(&user, &args, &[merged])["projects"];
    assert!(
        report.contains(", 300 conflicts set aside, 0 left in place"),
        "{report}"
    );
    // Copies keep their times: the diverged decisions hold across filesystems.
    let moved = shared.0.join("-home-p0/s0.jsonl");
    assert_eq!(fs::metadata(moved).unwrap().mtime(), 1_000);
}

/// `cf-run account add` and `remove` edit the config in place: the lines,
/// comments and keys written by hand stay, the old text is kept as
/// `config.toml.bak`, a new account's dir is made (0700). A name already
/// there, a name the config cannot hold, or the only account left is
/// refused (125) with the config unchanged; a removed account's dir stays.
#[test]
fn account_add_and_remove_edit_the_config_in_place() {
    let user = TestUser::acquire();
    user.standard_layout();
    let mine = format!(
        "# written by hand\nprivate_tmp = true  # my /tmp\n{}\n[accounts.compte2.env]\nFOO = \"1\"\n",
        support::layout::STANDARD_CONFIG
    );
    let path = user.config(&mine);
    let cf = |args: &[&str]| user.run(&bins().plain, args);
    let added = cf(&["account", "add", "work"]);
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    assert!(
        stdout(&added).contains("added: account work (")
            && stdout(&added).contains("cf-run --account work -- claude, then /login"),
        "{}",
        stdout(&added)
    );
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(mine.trim_end()), "{text}");
    assert!(
        text.contains("[accounts.work]\ndir = \"~/.claude-work\"\n"),
        "{text}"
    );
    let backup = PathBuf::from(format!("{}.bak", path.display()));
    assert_eq!(fs::read_to_string(&backup).unwrap(), mine);
    let dir = fs::metadata(user.path(".claude-work")).unwrap();
    assert_eq!(dir.mode() & 0o777, 0o700);
    let listed = cf(&["accounts", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(rows[2]["name"], "work", "{rows}");
    assert_eq!(rows[2]["login"], "none", "{rows}");
    for (args, says) in [
        (
            &["account", "add", "work"][..],
            "account work is in the config already",
        ),
        (
            &["account", "add", "no/pe"],
            "account name \"no/pe\" is not allowed",
        ),
    ] {
        let refused = cf(args);
        assert_eq!(refused.status.code(), Some(125), "{args:?}");
        assert!(stderr(&refused).contains(says), "{}", stderr(&refused));
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
    }
    let removed = cf(&["account", "remove", "work"]);
    assert_eq!(removed.status.code(), Some(0), "{}", stderr(&removed));
    assert!(stdout(&removed).contains("is left as it is"));
    let after = fs::read_to_string(&path).unwrap();
    assert_eq!(after.trim_end(), mine.trim_end());
    assert!(user.path(".claude-work").is_dir());
    assert_eq!(cf(&["account", "remove", "compte1"]).status.code(), Some(0));
    let last = cf(&["account", "remove", "compte2"]);
    assert_eq!(last.status.code(), Some(125));
    assert!(
        stderr(&last).contains("the config's only one"),
        "{}",
        stderr(&last)
    );
}

/// A big merge: past 50 paths held twice, the terminal gets one line per
/// project with its counts, and the full list is in a file of cf-run's own
/// state dir (which no session can plant in), one line per path.
#[test]
fn a_big_merge_is_summed_up_per_project_and_listed_in_full_in_a_file() {
    let user = TestUser::acquire();
    accounts(&user);
    for (project, n) in [("-home-p", 40), ("-home-q", 20)] {
        for i in 0..n {
            let path = format!("projects/{project}/{i}.jsonl");
            user.write(&format!(".claude-compte1/{path}"), "{\"a\":1}\n");
            user.write(&format!(".claude-compte2/{path}"), "{\"b\":1}\n");
        }
        user.write(
            &format!(".claude-compte1/projects/{project}/same.jsonl"),
            "{}\n",
        );
        user.write(
            &format!(".claude-compte2/projects/{project}/same.jsonl"),
            "{}\n",
        );
    }
    let out = init(&user, &[]);
    assert_ok(&out);
    let o = stdout(&out);
    assert!(!o.contains("conflict: "), "{o}");
    for want in [
        "-home-p: 40 conflicts set aside, 1 identical copy dropped, 0 prefixes of a longer copy dropped",
        "-home-q: 20 conflicts set aside, 1 identical copy dropped, 0 prefixes of a longer copy dropped",
        "done: 62 moved",
    ] {
        assert!(o.contains(want), "want {want:?} in:\n{o}");
    }
    let file = user.path(".local/state/cf-run/init-projects.txt");
    assert!(
        o.contains(&format!(
            "every path and what became of it: {}",
            file.display()
        )),
        "{o}"
    );
    let list = fs::read_to_string(&file).unwrap();
    assert_eq!(
        list.lines().filter(|l| l.starts_with("conflict: ")).count(),
        60
    );
    assert_eq!(list.lines().filter(|l| l.starts_with("same: ")).count(), 2);
}

/// `~/.claude` given as an account whose new dir is there already: the dry
/// run refuses it as the real run does (125, naming both), and neither
/// changes anything.
#[test]
fn a_dry_run_refuses_the_move_in_the_real_run_would_refuse() {
    let user = TestUser::acquire();
    user.write(".claude/settings.json", "{}");
    user.write(".claude-main/settings.json", "{\"other\": 1}");
    let before = user.snapshot();
    for more in [&["--dry-run"][..], &[]] {
        let mut args = vec![
            "init",
            "--shared",
            "~/.claude-shared/projects",
            "--account",
            "main=~/.claude",
        ];
        args.extend(more);
        let out = user.run(&bins().plain, &args);
        assert_eq!(out.status.code(), Some(125), "{more:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains(&format!(
                "{} cannot move to {}, which exists already",
                user.path(".claude").display(),
                user.path(".claude-main").display()
            )),
            "{more:?}: {}",
            stderr(&out)
        );
        assert_eq!(user.snapshot(), before, "{more:?} changed the disk");
    }
}
