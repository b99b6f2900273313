//! The raw syscalls that nix does not wrap: the new mount API (Linux 5.12+),
//! and what the C entry point must do itself.
//!
//! Every `unsafe` block of cf-run lives here. Each mount function works on
//! descriptors, never on paths, so what gets mounted is exactly what the
//! caller opened and checked.

use std::ffi::{CStr, OsStr, OsString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::NixPath;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigAction, Signal, sigaction};
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, Pid};

/// The empty path that, with `*_EMPTY_PATH`, makes a call act on the descriptor itself.
const EMPTY: &CStr = c"";

/// Whether this process runs in secure-execution mode (AT_SECURE: file
/// capabilities or set-id), in which a glibc build dropped variables such
/// as TMPDIR.
pub fn secure_exec() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Opens /dev/null on whichever of descriptors 0-2 is closed, so that no
/// file cf-run opens becomes its stdin, stdout or stderr.
pub fn open_stdio() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 && Errno::last() == Errno::EBADF {
            // The lowest free number is `fd` itself; it stays open for good.
            if let Ok(null) = nix::fcntl::open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
                let _ = null.into_raw_fd();
            }
        }
    }
}

/// Calls `each` with the name of each entry of the directory open for
/// reading at `dir` (`.` and `..` included), read with getdents64 straight
/// into a buffer here (no stdio `DIR`: its fdopendir's fstat and fcntls and
/// its rewind on close), until `each` returns false or the entries end.
pub fn dir_names(dir: BorrowedFd, mut each: impl FnMut(&[u8]) -> bool) -> Result<(), Errno> {
    // linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name.
    const NAME: usize = 19;
    // Not zeroed first: only what the kernel wrote is read.
    let mut buf = std::mem::MaybeUninit::<[u64; 512]>::uninit();
    loop {
        // SAFETY: the kernel writes at most the buffer's length in bytes
        // into it, which is aligned for the records' u64 fields.
        let filled = check(unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                std::mem::size_of_val(&buf),
            )
        })? as usize;
        if filled == 0 {
            return Ok(());
        }
        // SAFETY: the kernel filled the first `filled` bytes of `buf`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), filled) };
        let mut at = 0;
        while at < filled {
            let len = bytes
                .get(at + 16..at + 18)
                .map_or(0, |l| usize::from(u16::from_ne_bytes([l[0], l[1]])));
            let Some(record) = bytes.get(at..at + len).filter(|_| len > NAME) else {
                return Err(Errno::EIO);
            };
            let name = &record[NAME..];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if !each(name) {
                return Ok(());
            }
            at += len;
        }
    }
}

/// Reads what the socket `fd` holds now into `buf`, without waiting
/// (recv with MSG_DONTWAIT: no fcntl to make it non-blocking and back):
/// `Ok(0)` when the other end is closed, `EAGAIN` when nothing is there yet.
pub fn recv_now(fd: BorrowedFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let got = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    check(got as libc::c_long).map(|n| n as usize)
}

/// Turns a raw syscall return value into a result.
fn check(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

/// Takes ownership of a descriptor a syscall just returned.
fn owned(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    let fd = check(ret)? as libc::c_int;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A descriptor of process `pid` that polls readable once it has exited
/// (pidfd_open, Linux 5.3+); it stays bound to that process, whatever reuses
/// its pid later.
pub fn pidfd_open(pid: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) })
}

/// A detached copy of the mount tree at `src` (open_tree with OPEN_TREE_CLONE|AT_RECURSIVE).
pub fn clone_tree(src: BorrowedFd) -> Result<OwnedFd, Errno> {
    let flags = libc::OPEN_TREE_CLONE
        | libc::OPEN_TREE_CLOEXEC
        | libc::AT_EMPTY_PATH as libc::c_uint
        | libc::AT_RECURSIVE as libc::c_uint;
    // SAFETY: plain syscall on a valid descriptor and a NUL-terminated path.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, src.as_raw_fd(), EMPTY.as_ptr(), flags) })
}

/// Sets mount flags on every mount of the (detached) tree `tree` (mount_setattr).
pub fn set_attrs(tree: BorrowedFd, attrs: u64) -> Result<(), Errno> {
    let mut attr = libc::mount_attr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint;
    // SAFETY: `attr` outlives the call and its size is passed along with it.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            EMPTY.as_ptr(),
            flags,
            &mut attr as *mut libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
    .map(drop)
}

/// Attaches the detached mount `tree` on top of the directory `target` (move_mount).
pub fn attach(tree: BorrowedFd, target: BorrowedFd) -> Result<(), Errno> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: plain syscall on two valid descriptors and NUL-terminated paths.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            EMPTY.as_ptr(),
            target.as_raw_fd(),
            EMPTY.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// A new, detached filesystem of type `fs` with the string `options`,
/// mounted with `attrs` (fsopen, fsconfig, fsmount).
pub fn new_fs(fs: &CStr, options: &[(&CStr, &CStr)], attrs: u64) -> Result<OwnedFd, Errno> {
    // SAFETY: NUL-terminated name; the result is checked before use.
    let ctx = owned(unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), libc::FSOPEN_CLOEXEC) })?;
    let fsconfig = |cmd: libc::c_uint, key: Option<&CStr>, value: Option<&CStr>| {
        let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
        // SAFETY: `ctx` is a valid fs context; key and value are NUL-terminated or null.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                cmd,
                ptr(key),
                ptr(value),
                0,
            )
        })
    };
    for (key, value) in options {
        fsconfig(libc::FSCONFIG_SET_STRING, Some(key), Some(value))?;
    }
    fsconfig(libc::FSCONFIG_CMD_CREATE, None, None)?;
    // SAFETY: plain syscall on a valid fs context.
    owned(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs,
        )
    })
}

/// Loads the seccomp filter `program` into this process (seccomp(2),
/// SECCOMP_SET_MODE_FILTER), for it and every process it starts.
pub fn load_filter(program: &[libc::sock_filter]) -> Result<(), Errno> {
    let prog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` and the instructions it points to outlive the call,
    // which only reads them.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    })
    .map(drop)
}

/// Gives back the pages of this program's read-only segments (its code
/// and constants) that are in memory. They are the file's, unchanged:
/// whatever runs next reads its own again from the page cache. A session's
/// parent runs little but its wait loop, for hours, and most of what its
/// start brought in it never runs again. Writable segments (relocated
/// data, the heap) are left alone, as is any page a writable one shares.
#[cfg(target_pointer_width = "64")]
pub fn trim_code() {
    extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _: libc::size_t,
        _: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: sysconf only reads a value.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
        // SAFETY: glibc passes the program's own header table, valid during the call.
        let info = unsafe { &*info };
        let headers = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: `dlpi_phnum` headers start at `dlpi_phdr`.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        let load = |h: &&libc::Elf64_Phdr| h.p_type == libc::PT_LOAD;
        let span = |h: &libc::Elf64_Phdr| {
            let start = info.dlpi_addr as usize + h.p_vaddr as usize;
            (start, start + h.p_memsz as usize)
        };
        let writable: Vec<_> = headers
            .iter()
            .filter(load)
            .filter(|h| h.p_flags & libc::PF_W != 0)
            .map(span)
            .collect();
        for h in headers
            .iter()
            .filter(load)
            .filter(|h| h.p_flags & libc::PF_W == 0)
        {
            let (start, end) = span(h);
            // Whole pages only, none that a writable segment reaches into.
            let (start, end) = (start.next_multiple_of(page), end / page * page);
            let shared = writable
                .iter()
                .any(|&(s, e)| s / page * page < end && e.next_multiple_of(page) > start);
            if page == 0 || start >= end || shared {
                continue;
            }
            // SAFETY: the range holds only whole pages of a read-only,
            // file-backed segment of this program: dropping them loses nothing.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
        // The program comes first; its vDSO is not ours to trim.
        1
    }
    // SAFETY: `each` follows dl_iterate_phdr's contract and keeps nothing.
    unsafe { libc::dl_iterate_phdr(Some(each), std::ptr::null_mut()) };
}

#[cfg(not(target_pointer_width = "64"))]
pub fn trim_code() {}

/// Clears this process's inheritable, effective and permitted capabilities
/// in one capset(2) (the caps crate makes a capget and a capset per set).
pub fn clear_capabilities() -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    // _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set.
    let header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let none = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: both structs are laid out as the kernel reads them, and outlive the call.
    check(unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, none.as_ptr()) })
        .map(drop)
}

/// The whole text of a file under /proc (mountinfo), in as few reads as
/// it takes: /proc files say size 0, so std's reads start small and grow.
pub fn read_proc(path: &CStr) -> Result<String, Errno> {
    let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let mut bytes = Vec::with_capacity(1 << 16);
    loop {
        if bytes.len() == bytes.capacity() {
            bytes.reserve(bytes.capacity());
        }
        let spare = bytes.spare_capacity_mut();
        // SAFETY: the kernel writes at most `spare.len()` bytes into `spare`.
        let n = match check(unsafe {
            libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) as libc::c_long
        }) {
            Err(Errno::EINTR) => continue,
            n => n?,
        };
        if n == 0 {
            break;
        }
        // SAFETY: the kernel wrote `n` bytes past the old length.
        unsafe { bytes.set_len(bytes.len() + n as usize) };
    }
    String::from_utf8(bytes).map_err(|_| Errno::EILSEQ)
}

/// Which side of a fork this process is on.
pub enum Fork {
    Parent(Pid),
    Child,
}

/// fork(2). Sound because cf-run never starts a second thread: the child
/// is a whole copy, free to run anything (unshare relies on the same).
pub fn fork() -> Result<Fork, Errno> {
    // SAFETY: a single-threaded process, see above.
    Ok(match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Fork::Parent(child),
        ForkResult::Child => Fork::Child,
    })
}

/// The caller's SIGXFSZ disposition, while cf-run ignores the signal.
static CALLER_SIGXFSZ: std::sync::OnceLock<SigAction> = std::sync::OnceLock::new();

/// Ignores SIGXFSZ, so that a write over RLIMIT_FSIZE fails with EFBIG,
/// which cf-run reports, instead of killing it half-way.
pub fn ignore_sigxfsz() {
    let ignore = SigAction::new(
        nix::sys::signal::SigHandler::SigIgn,
        nix::sys::signal::SaFlags::empty(),
        nix::sys::signal::SigSet::empty(),
    );
    if let Ok(caller) = set_action(Signal::SIGXFSZ, &ignore) {
        let _ = CALLER_SIGXFSZ.set(caller);
    }
}

/// C strings and the NULL-terminated array of pointers to them that exec
/// takes, made once: the exec then allocates nothing.
pub struct CStrings {
    strings: Vec<std::ffi::CString>,
    pointers: Vec<*const libc::c_char>,
}

impl CStrings {
    /// `strings` must not be empty.
    pub fn new(strings: Vec<std::ffi::CString>) -> Self {
        // Each string's bytes stay where they are as the Vec moves.
        let pointers = strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        Self { strings, pointers }
    }

    pub fn first(&self) -> &CStr {
        &self.strings[0]
    }
}

/// Runs `argv` (searched in $PATH) with the environment `envp` in place of
/// this process; returns only why it could not.
pub fn execvpe(argv: &CStrings, envp: &CStrings) -> Errno {
    // SAFETY: both arrays are NULL-terminated and point into strings they
    // own, alive for the call.
    unsafe {
        libc::execvpe(
            argv.pointers[0],
            argv.pointers.as_ptr(),
            envp.pointers.as_ptr(),
        )
    };
    Errno::last()
}

/// Ends this process at once, as `_exit(2)`: no exit handlers (the C
/// library's and Rust's own, each touching pages of its own for the first
/// time, in the parent and pid 1 alike), no flush of any stream. For
/// cf-run's session processes, which hold nothing buffered: they write
/// stderr unbuffered, and stdout only in whole lines (a line buffer).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process; nothing of it runs afterwards.
    unsafe { libc::_exit(code) }
}

/// Gives the command the caller's SIGXFSZ disposition back.
pub fn restore_sigxfsz() -> Result<(), Errno> {
    match CALLER_SIGXFSZ.get() {
        Some(caller) => set_action(Signal::SIGXFSZ, caller).map(drop),
        None => Ok(()),
    }
}

/// Sets the disposition of `sig`, returning the one it replaces.
pub fn set_action(sig: Signal, action: &SigAction) -> Result<SigAction, Errno> {
    // SAFETY: only SIG_DFL, SIG_IGN or an action taken from sigaction itself
    // is ever passed, or `note_interrupt`, which only stores to an atomic.
    unsafe { sigaction(sig, action) }
}

/// Whether the terminal interrupted (Ctrl-C, Ctrl-\) since it was last asked.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// From now on SIGINT and SIGQUIT only note that they came, in this
/// process: the programs it starts get them as usual, since exec resets a
/// handler (not an ignored signal) to the default.
pub fn note_interrupts() -> Result<(), Errno> {
    let note = SigAction::new(
        nix::sys::signal::SigHandler::Handler(note_interrupt),
        nix::sys::signal::SaFlags::SA_RESTART,
        nix::sys::signal::SigSet::empty(),
    );
    set_action(Signal::SIGINT, &note)?;
    set_action(Signal::SIGQUIT, &note).map(drop)
}

/// Whether SIGINT or SIGQUIT came since the last call.
pub fn interrupted() -> bool {
    INTERRUPTED.swap(false, std::sync::atomic::Ordering::SeqCst)
}

/// Which mount a descriptor is on, and which inode it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub mount: u64,
    pub dev: (u32, u32),
    pub ino: u64,
}

/// The identity of what `fd` names (statx with STATX_MNT_ID, Linux 5.8+):
/// for a detached mount, its id and root inode, the same once attached.
pub fn identity(fd: BorrowedFd) -> Result<Identity, Errno> {
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    let mask = libc::STATX_INO | libc::STATX_MNT_ID;
    // SAFETY: `stx` is a writable statx buffer that outlives the call.
    check(
        unsafe {
            libc::statx(
                fd.as_raw_fd(),
                EMPTY.as_ptr(),
                libc::AT_EMPTY_PATH,
                mask,
                stx.as_mut_ptr(),
            )
        }
        .into(),
    )?;
    // SAFETY: zeroed is a valid statx, and the kernel filled it in.
    let stx = unsafe { stx.assume_init() };
    if stx.stx_mask & mask != mask {
        return Err(Errno::ENOSYS);
    }
    Ok(Identity {
        mount: stx.stx_mnt_id,
        dev: (stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
    })
}

/// The program's arguments, from what C's `main` got: only glibc also hands
/// them to Rust's own start (std::env::args is empty in a musl build).
/// `argc` and `argv` must be `main`'s own.
pub fn main_args(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    (0..usize::try_from(argc).unwrap_or(0))
        // SAFETY: main's argv holds argc NUL-terminated strings, alive as long as the process.
        .map(|i| OsStr::from_bytes(unsafe { CStr::from_ptr(*argv.add(i)) }.to_bytes()).to_owned())
        .collect()
}

/// rename(2) that fails with EEXIST rather than replace what is at `dst`
/// (renameat2's RENAME_NOREPLACE, which nix wraps for glibc builds only).
pub fn rename_noreplace(src: &Path, dst: &Path) -> nix::Result<()> {
    src.with_nix_path(|src| {
        dst.with_nix_path(|dst| {
            // SAFETY: both paths are NUL-terminated and outlive the call.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    libc::AT_FDCWD,
                    src.as_ptr(),
                    libc::AT_FDCWD,
                    dst.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            };
            Errno::result(r).map(drop)
        })
    })??
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_proc_reads_the_whole_file() {
        let ours = read_proc(c"/proc/self/mountinfo").unwrap();
        assert_eq!(
            ours,
            std::fs::read_to_string("/proc/self/mountinfo").unwrap()
        );
        assert_eq!(read_proc(c"/proc/nonexistent"), Err(Errno::ENOENT));
    }
}
