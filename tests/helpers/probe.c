/* probe SUBCOMMAND ...: tries one attack and prints `label arg: ok|ERRNO`. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/inotify.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x1
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

struct attr { unsigned long long set, clr, propagation, userns_fd; };

static void say(const char *label, const char *arg, long ret) {
    if (ret >= 0) printf("%s %s: ok\n", label, arg);
    else printf("%s %s: %s\n", label, arg, strerrorname_np(errno));
    fflush(stdout);
}

static void show(const char *label, int dir, const char *path) {
    char buf[256] = {0};
    int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { say(label, path, -1); return; }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) { say(label, path, -1); return; }
    buf[strcspn(buf, "\n")] = 0;
    printf("%s %s: ok %s\n", label, path, buf);
    fflush(stdout);
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
    close(fd);
    return r;
}

/* Every way to get under or around the cover at COVER (another account's dir
 * in HOME); SCRATCH is an empty dir the caller owns. */
static void escape(const char *cover, const char *home, const char *scratch) {
    char path[4096];
    const char *name = strrchr(cover, '/') + 1;
    struct attr a = {0, MOUNT_ATTR_RDONLY, 0, 0};
    say("umount", cover, umount2(cover, MNT_DETACH));
    say("remount-rw", cover, mount(NULL, cover, NULL, MS_REMOUNT | MS_BIND, NULL));
    say("setattr-rw", cover, syscall(SYS_mount_setattr, AT_FDCWD, cover, 0, &a, sizeof a));
    long r = mount(home, scratch, NULL, MS_BIND, NULL);
    say("bind", home, r);
    if (r == 0) {
        snprintf(path, sizeof path, "%s/%s/.credentials.json", scratch, name);
        show("read-under", AT_FDCWD, path);
        umount2(scratch, MNT_DETACH);
    }
    r = mount(home, scratch, NULL, MS_BIND | MS_REC, NULL);
    say("rbind", home, r);
    if (r == 0) {
        snprintf(path, sizeof path, "%s/%s", scratch, name);
        say("umount-copy", path, umount2(path, MNT_DETACH));
        snprintf(path, sizeof path, "%s/%s/.credentials.json", scratch, name);
        show("read-copy", AT_FDCWD, path);
    }
    long tree = syscall(SYS_open_tree, AT_FDCWD, home, OPEN_TREE_CLONE | O_CLOEXEC);
    say("open_tree", home, tree);
    if (tree >= 0) {
        snprintf(path, sizeof path, "%s/.credentials.json", name);
        show("read-tree", (int)tree, path);
    }
    snprintf(path, sizeof path, "%s/.credentials.json", cover);
    show("read", AT_FDCWD, path);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "read") && argc == 3) {
        show("read", AT_FDCWD, argv[2]);
        return 0;
    }
    if (!strcmp(cmd, "escape") && argc == 5) {
        escape(argv[2], argv[3], argv[4]);
        return 0;
    }
    if (!strcmp(cmd, "nested-escape") && argc == 5) {
        char map[64];
        unsigned uid = getuid(), gid = getgid();
        int r = unshare(CLONE_NEWUSER | CLONE_NEWNS);
        say("unshare", "user+mnt", r);
        if (r < 0) return 0;
        write_file("/proc/self/setgroups", "deny");
        snprintf(map, sizeof map, "0 %u 1", uid);
        say("uid_map", "root", write_file("/proc/self/uid_map", map));
        snprintf(map, sizeof map, "0 %u 1", gid);
        say("gid_map", "root", write_file("/proc/self/gid_map", map));
        escape(argv[2], argv[3], argv[4]);
        return 0;
    }
    if (!strcmp(cmd, "ptrace") && argc == 3) {
        pid_t pid = atoi(argv[2]);
        char path[64];
        long r = ptrace(PTRACE_SEIZE, pid, 0, 0);
        say("ptrace-seize", argv[2], r);
        if (r == 0) ptrace(PTRACE_DETACH, pid, 0, 0);
        const char *files[] = {"environ", "mem", "auxv", "cmdline"};
        for (unsigned i = 0; i < 4; i++) {
            char c;
            snprintf(path, sizeof path, "/proc/%d/%s", pid, files[i]);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            r = fd < 0 ? -1 : (i == 1 ? 0 : read(fd, &c, 1));
            say("open", path, r);
            if (fd >= 0) close(fd);
        }
        char link[512];
        snprintf(path, sizeof path, "/proc/%d/fd/0", pid);
        say("readlink", path, readlink(path, link, sizeof link));
        const char *dirs[] = {"root/", "cwd/"};
        for (unsigned i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "/proc/%d/%s", pid, dirs[i]);
            DIR *d = opendir(path);
            say("opendir", path, d ? 0 : -1);
            if (d) closedir(d);
        }
        snprintf(path, sizeof path, "/proc/%d/ns/mnt", pid);
        int ns = open(path, O_RDONLY | O_CLOEXEC);
        say("open", path, ns);
        if (ns >= 0) say("setns", path, setns(ns, CLONE_NEWNS));
        long pidfd = syscall(SYS_pidfd_open, pid, 0);
        for (int fd = 3; pidfd >= 0 && fd < 8; fd++) {
            snprintf(path, sizeof path, "%d", fd);
            say("pidfd_getfd", path, syscall(SYS_pidfd_getfd, (int)pidfd, fd, 0));
        }
        return 0;
    }
    if (!strcmp(cmd, "fds") && argc == 3) {
        /* Where this process's descriptors 0-2 lead, one a line, into FILE. */
        char lines[3][512];
        for (int fd = 0; fd < 3; fd++) {
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(path, lines[fd], sizeof lines[fd] - 1);
            strcpy(n < 0 ? lines[fd] : lines[fd] + n, n < 0 ? "closed" : "");
        }
        FILE *f = fopen(argv[2], "a");
        if (!f) return 1;
        for (int fd = 0; fd < 3; fd++) fprintf(f, "%s\n", lines[fd]);
        return fclose(f) ? 1 : 0;
    }
    if (!strcmp(cmd, "inotify-hog") && argc == 3) {
        /* Takes every inotify instance the user may have, writes how many
         * and why no more into FILE, then holds them. */
        int n = 0;
        while (inotify_init1(IN_CLOEXEC) >= 0) n++;
        const char *why = strerrorname_np(errno);
        FILE *f = fopen(argv[2], "w");
        if (!f || fprintf(f, "%d %s\n", n, why) < 0 || fclose(f)) return 1;
        for (;;) pause();
    }
    if (!strcmp(cmd, "inotify") && argc == 2) {
        say("inotify_init1", "-", inotify_init1(IN_CLOEXEC));
        return 0;
    }
    if (!strcmp(cmd, "execdup") && argc >= 6) {
        /* exec argv[5..] with NAME=V1 and NAME=V2 both in its environment. */
        extern char **environ;
        size_t n = 0, k = 0;
        while (environ[n]) n++;
        char **env = calloc(n + 3, sizeof *env);
        for (size_t i = 0; i < n; i++) env[k++] = environ[i];
        if (asprintf(&env[k++], "%s=%s", argv[2], argv[3]) < 0) return 125;
        if (asprintf(&env[k++], "%s=%s", argv[2], argv[4]) < 0) return 125;
        execve(argv[5], argv + 5, env);
        say("execve", argv[5], -1);
        return 127;
    }
    fprintf(stderr, "probe: bad arguments\n");
    return 2;
}
