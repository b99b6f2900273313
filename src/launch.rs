//! Carrying out a plan, in one ordered sequence, then running the command:
//! under cf-run as its parent in the namespace modes, in its place in symlink mode.

use std::convert::Infallible;
use std::path::Path;

use anyhow::{Context, Result};

use crate::monitor::{self, Role};
use crate::plan::{Action, Plan};
use crate::session::{self, Lock, Record, State};
use crate::usage::{Known, Usage};
use crate::{checks, exec, mounts, namespace, resolve, scope, seccomp, symlink, tap};

pub fn run(plan: &Plan) -> Result<Infallible> {
    let uid = plan.uid;
    // 0. In privileged mode: not dumpable, capability not effective.
    let privilege = namespace::Privilege::for_mode(plan.mode)?;
    // 1. Every check before any change, so a refused launch changes nothing.
    //    They run as the plain user, on the host's view, owners shown as they are;
    //    step 3 re-checks what it acts on through its own descriptors.
    checks::verify_all(&plan.checks, uid)?;
    // 1b. The session's lock, held by this process for the session's life.
    let mut lock = match &plan.session {
        Some(id) => Some(Lock::acquire(
            &plan.state,
            id,
            &plan.account.name,
            plan.wait,
        )?),
        None => None,
    };
    // 2. Private mount and PID namespaces (none in symlink mode).
    namespace::enter(plan.mode, uid, plan.gid, &privilege)?;
    // 2b. cf-run's runtime state dir, opened in the new namespace (where its
    //     dirs can be bound from): the session's parent keeps using it once
    //     step 3 has covered it.
    let state = plan.state.pinned()?;
    //     The sockets the config lets the session reach, opened here too,
    //     before the session's own /tmp and runtime dir hide them.
    let mut sockets = vec![];
    for action in &plan.actions {
        if let Action::KeepSocket { path } = action {
            sockets.push(checks::owned_socket(path, uid)?);
        }
    }
    let mut sockets = sockets.into_iter();
    // 3. The changes, in order, each through descriptors opened without
    //    following symlinks. A covered dir that another mount also reaches
    //    (a bind of /home elsewhere) is covered there too.
    let covers = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Cover { .. }));
    let aliases = if covers {
        let mountinfo = crate::sys::read_proc(c"/proc/self/mountinfo")
            .map_err(|e| anyhow::anyhow!("read(/proc/self/mountinfo) => {e}"))?;
        let table = mounts::MountTable::parse(&mountinfo);
        plan.actions
            .iter()
            .filter_map(|a| match a {
                Action::Cover { dir } => Some(table.aliases(dir)),
                _ => None,
            })
            .flatten()
            .map(|dir| Action::Cover { dir })
            .collect()
    } else {
        vec![]
    };
    let mut made = vec![];
    // The dir a MakeDir just made (or found), for the Cover of the same dir
    // that follows it to mount on as it was opened and checked.
    let mut last_made: Option<(&Path, resolve::Entry)> = None;
    for action in plan.actions.iter().chain(&aliases) {
        let just_made = last_made.take();
        let mount = match action {
            Action::Bind { src, dst } => mounts::bind(src, dst, uid, &privilege)?,
            Action::BindReadOnly { src, dst } => mounts::bind_ro(src, dst, uid, &privilege)?,
            Action::Cover { dir } => match just_made {
                Some((path, found)) if path == dir.as_path() => {
                    mounts::cover_onto((dir, found), uid, &privilege)?
                }
                _ => mounts::cover(dir, uid, &privilege)?,
            },
            Action::Link { link, to } => symlink::link(link, to, uid).map(|()| None)?,
            Action::MakeDir { path } => {
                let (fd, st) = resolve::make_dirs_stat(path, uid)?;
                last_made = Some((path, resolve::Entry::Dir(fd, st)));
                None
            }
            Action::Tmpfs { dir } => mounts::tmpfs(dir, &privilege)?,
            Action::PrivateRuntime { dir } => mounts::private_runtime(dir, uid, &privilege)?,
            Action::KeepSocket { path } => {
                let socket = sockets.next().context("a socket not opened")?;
                mounts::keep_socket(socket, path, uid, &privilege)?
            }
            Action::DaemonSockets { dir } => {
                let (path, own) = state.daemon_dir(&plan.account.name)?;
                // A dir someone else made first (or anything but a dir of
                // the user's) is left alone: the session gets a /tmp of its
                // own, where the path is free.
                let found = resolve::entry(dir)?;
                let foreign = match &found {
                    resolve::Entry::Missing => false,
                    resolve::Entry::Dir(_, st) => st.st_uid != uid.as_raw(),
                    _ => true,
                };
                if foreign {
                    let line = format!(
                        "cf-run: warning: {} is not a directory of yours (another user may \
                         have made it): this session gets a private /tmp",
                        dir.display()
                    );
                    eprintln!("{}", crate::output::printable(&line));
                    made.extend(mounts::tmpfs(Path::new("/tmp"), &privilege)?);
                    // The new /tmp hides what was found: look again.
                    mounts::bind_fd(own, &path, dir, uid, &privilege)?
                } else {
                    // Found missing or the user's own: the bind takes it as found.
                    mounts::bind_fd_onto(own, &path, (dir, found), uid, &privilege)?
                }
            }
            // Only over a real dir the client made (cf-run makes none in an
            // account); anything else is left to the account's own bind,
            // which checks the whole way again.
            Action::ClientFiles { dir } => match resolve::entry(dir) {
                Ok(resolve::Entry::Dir(..)) => {
                    let (path, own) = state.client_dir(std::process::id())?;
                    mounts::bind_fd(own, &path, dir, uid, &privilege)?
                }
                _ => None,
            },
        };
        made.extend(mount);
    }
    //     Each mount is where the plan says, with its flags.
    mounts::confirm(&made)?;
    // 3a. Re-enter the working dir through the new mounts, so a cwd inside a
    //     covered account's dir does not keep the way in.
    let cwd = std::env::current_dir().context("getcwd")?;
    if plan.mode.namespaced() {
        let _ = std::env::set_current_dir(&cwd);
    }
    // 3b. The registry entry `cf-run ps` reads.
    let mode = plan.mode.to_string();
    let entry = Record::this_process(&plan.account.name, plan.session.as_deref(), &mode, cwd);
    session::register(&state, &entry)?;
    // 4. Symlink mode: nothing to supervise; behind the same filter, the
    //    command takes cf-run's place and inherits the lock's descriptor.
    if !plan.mode.namespaced() {
        namespace::drop_privileges(plan.no_new_privs)?;
        seccomp::guard_terminal(&privilege, plan.no_new_privs)?;
        scope::confine(&privilege, plan.no_new_privs)?;
        if let Some(lock) = &lock {
            lock.inherit()?;
        }
        return exec::exec(&plan.command, &plan.unset, &plan.env);
    }
    // 5. This process stays outside as the session's parent, holding the
    //    lock; its child is pid 1 of the new PID namespace. The command's
    //    argv and environment are made first, once, for pid 2 to exec;
    //    but for a binary with file capabilities only pid 2 may read the
    //    environment as it was at exec (/proc/self/environ, once dumpable).
    let command = (!crate::sys::secure_exec())
        .then(|| exec::prepare(&plan.command, &plan.unset, &plan.env))
        .transpose()?;
    //    The Landlock ruleset too, which pid 1 enforces (step 7).
    let scopes = scope::prepare(&privilege, plan.no_new_privs)?;
    match monitor::split()? {
        Role::Parent(parent) => {
            drop(scopes);
            namespace::drop_privileges(plan.no_new_privs)?;
            // The lock, `ps` and `watch` follow the session the client is on
            // (`/resume` and the picker switch it inside the client).
            let (mut entry, mut refused, mut filed) = (entry, None, None);
            let end = parent.wait(|| {
                follow(plan, &state, &mut entry, &mut lock, &mut refused);
                file_usage(&plan.account.name, &state, entry.pid, &mut filed);
            })?;
            // What the client showed last, after the last tick, is kept too.
            file_usage(&plan.account.name, &state, entry.pid, &mut filed);
            state.remove_client_dir(entry.pid);
            end.exit()
        }
        Role::Pid1(pid1) => {
            // 6. The namespace's own /proc: none of the user's other processes.
            mounts::proc(&privilege)?;
            // 7. No process of the session may type into the terminal, nor
            //    reach an abstract socket or signal a process outside it.
            seccomp::guard_terminal(&privilege, plan.no_new_privs)?;
            scope::apply(scopes, &privilege)?;
            // 8. Nothing privileged survives into the session.
            namespace::drop_privileges(plan.no_new_privs)?;
            // 9. The command, pid 2, forked by pid 1.
            pid1.serve(|| match &command {
                Some(command) => command.exec(),
                None => exec::exec(&plan.command, &plan.unset, &plan.env),
            })
        }
    }
}

/// Files the usage the statusline tap last wrote in this launch's client
/// dir (`filed`: when, so each write is filed once), as the usage of the
/// account this launch runs as.
fn file_usage(account: &str, state: &State, pid: u32, filed: &mut Option<(i64, i64)>) {
    let Some((bytes, written)) = state.client_file(pid, tap::USAGE_FILE) else {
        return;
    };
    if filed.replace(written) == Some(written) {
        return;
    }
    if let Some(usage) = Usage::claimed(&bytes, jiff::Timestamp::now())
        && let Err(e) = Known::record(state, account, usage)
    {
        let line = format!("cf-run: warning: cannot keep account {account}'s usage: {e:#}");
        eprintln!("{}", crate::output::printable(&line));
    }
}

/// When the client has moved to another session: takes that session's lock
/// and rewrites the registry entry. A session another launch holds stays
/// theirs: this launch keeps its lock and its entry as they were, and warns
/// once (`refused`). The entry's session is always the one whose lock is
/// held, so a move back never locks that session's file a second time,
/// which would drop the lock (a POSIX record lock goes with any close).
fn follow(
    plan: &Plan,
    state: &State,
    entry: &mut Record,
    lock: &mut Option<Lock>,
    refused: &mut Option<String>,
) {
    let Some(now) = state.client_session(entry.pid) else {
        return;
    };
    if entry.session.as_deref() == Some(now.as_str()) || refused.as_deref() == Some(now.as_str()) {
        return;
    }
    match Lock::acquire(state, &now, &plan.account.name, false) {
        Ok(taken) => *lock = Some(taken),
        Err(e) => {
            let line = format!("cf-run: warning: the client moved to session {now}: {e:#}");
            eprintln!("{}", crate::output::printable(&line));
            *refused = Some(now);
            return;
        }
    }
    *refused = None;
    entry.session = Some(now);
    if let Err(e) = session::register(state, entry) {
        let line = format!("cf-run: warning: cannot update the registry: {e:#}");
        eprintln!("{}", crate::output::printable(&line));
    }
}
