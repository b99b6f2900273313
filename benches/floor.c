/* The floor: the least any launcher can do for cf-run's isolation, and
 * nothing else, for scripts/bench.sh to measure cf-run against.
 *
 *   floor [-b SRC:DST]... [-c DIR]... [-t DIR]... -- CMD [ARGS]...
 *
 * User, mount and PID namespaces with the uid and gid maps; / made private;
 * each -b a recursive bind (nosuid, nodev), each -c an empty read-only tmpfs
 * (nosuid, nodev, noexec), each -t an empty tmpfs (1777, nosuid, nodev), in
 * the order given; then pid 1 mounts /proc, sets no_new_privs, the
 * TIOCSTI/TIOCLINUX filter and Landlock's scopes (abstract sockets,
 * signals), forks CMD and waits for it, while the parent waits for pid 1.
 * No checks, no lock, no registry, no config: what cf-run adds on top is
 * what the bench measures. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(125); }

static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) die(path);
    close(fd);
}

static int wait_for(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void guard_terminal(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCLINUX, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) die("seccomp");
}

/* Landlock ABI 6's ruleset, spelled out: older headers lack `scoped`. */
struct ruleset { unsigned long long fs, net, scoped; };
enum { SCOPE_ABSTRACT_UNIX_SOCKET = 1, SCOPE_SIGNAL = 2 };

static void scope(void) {
    struct ruleset attr = {.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL};
    int fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (fd < 0) return; /* as cf-run: best effort where the kernel lacks it */
    if (syscall(SYS_landlock_restrict_self, fd, 0)) die("landlock_restrict_self");
    close(fd);
}

int main(int argc, char **argv) {
    char map[64];
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID)) die("unshare");
    put("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "%u %u 1", uid, uid);
    put("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "%u %u 1", gid, gid);
    put("/proc/self/gid_map", map);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("mount(/, private)");
    int opt;
    while ((opt = getopt(argc, argv, "+b:c:t:")) != -1) {
        char *dst = optarg;
        switch (opt) {
        case 'b':
            dst = strchr(optarg, ':');
            if (!dst) die("-b SRC:DST");
            *dst++ = 0;
            if (mount(optarg, dst, NULL, MS_BIND | MS_REC, NULL) ||
                mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL))
                die(dst);
            break;
        case 'c':
            if (mount("tmpfs", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755"))
                die(dst);
            break;
        case 't':
            if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")) die(dst);
            break;
        default:
            return 2;
        }
    }
    if (optind >= argc) return 2;
    pid_t init = fork();
    if (init < 0) die("fork");
    if (init > 0) return wait_for(init);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) die("mount(/proc)");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("no_new_privs");
    guard_terminal();
    scope();
    pid_t cmd = fork();
    if (cmd < 0) die("fork");
    if (cmd == 0) {
        execvp(argv[optind], argv + optind);
        die(argv[optind]);
    }
    return wait_for(cmd);
}
