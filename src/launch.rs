//! Carrying out a plan, in one ordered sequence, then exec'ing the command.

use std::convert::Infallible;

use anyhow::{Context, Result};

use crate::plan::{Action, Plan};
use crate::session::{self, Entry, Lock};
use crate::{checks, exec, mounts, namespace, resolve, symlink};

pub fn run(plan: &Plan) -> Result<Infallible> {
    let uid = plan.uid;
    // 0. In privileged mode: not dumpable, capability not effective.
    let privilege = namespace::Privilege::for_mode(plan.mode)?;
    // 1. Every check before any change, so a refused launch changes nothing.
    //    They run as the plain user, on the host's view, owners shown as they are;
    //    step 3 re-checks what it acts on through its own descriptors.
    for check in &plan.checks {
        checks::verify(check, uid)?;
    }
    // 1b. The session's lock, inherited by the command: no process stays to hold it.
    let _lock = match &plan.session {
        Some(id) => Some(Lock::acquire(
            &plan.state,
            id,
            &plan.account.name,
            plan.wait,
        )?),
        None => None,
    };
    // 2. A private mount namespace (none in symlink mode).
    namespace::enter(plan.mode, uid, plan.gid, &privilege)?;
    // 3. The changes, in order, each through descriptors opened without
    //    following symlinks.
    let mut made = vec![];
    for action in &plan.actions {
        let mount = match action {
            Action::Bind { src, dst } => mounts::bind(src, dst, uid, &privilege)?,
            Action::Cover { dir } => mounts::cover(dir, uid, &privilege)?,
            Action::Link { link, to } => symlink::link(link, to, uid).map(|()| None)?,
            Action::MakeDir { path } => resolve::make_dirs(path, uid).map(|_| None)?,
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
    let entry = Entry::this_process(&plan.account.name, plan.session.as_deref(), &mode, cwd);
    session::register(&plan.state, &entry)?;
    // 3c. Privileged mode: a user namespace of the session's own.
    namespace::seal(plan.mode, uid, plan.gid, &privilege)?;
    // 4. Nothing privileged survives into the command.
    namespace::drop_privileges(plan.no_new_privs)?;
    // 5. The command takes cf-run's place.
    exec::exec(&plan.command, &plan.unset, &plan.env)
}
