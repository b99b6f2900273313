/* Single-steps a program and the processes it forks (until they exec), and
 * writes to descriptor 3, once each and in the order first run, the offsets
 * from the program's load address of the instructions they ran, in hex, a
 * line each. scripts/launch-order.sh turns them into function names.
 *   steptrace PROGRAM [ARGS...] 3>offsets */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS (1u << 24)
static unsigned char *seen;

int main(int argc, char **argv) {
    FILE *out = fdopen(3, "w");
    seen = calloc(SLOTS, 1);
    if (argc < 2 || !out || !seen || fcntl(3, F_SETFD, FD_CLOEXEC)) {
        fprintf(stderr, "usage: steptrace PROGRAM [ARGS...] 3>offsets\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid == 0) {
        personality(ADDR_NO_RANDOMIZE);
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        execv(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    ptrace(PTRACE_SETOPTIONS, pid, 0,
           PTRACE_O_TRACEFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
    ptrace(PTRACE_CONT, pid, 0, 0);
    /* Not stepped until it execs the program. */
    waitpid(pid, &status, 0);
    unsigned long base = 0;
    {
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/%d/maps", pid);
        FILE *maps = fopen(path, "r");
        while (maps && fgets(line, sizeof line, maps))
            if (strstr(line, " 00000000 ")) { base = strtoul(line, NULL, 16); break; }
        if (maps) fclose(maps);
    }
    ptrace(PTRACE_SINGLESTEP, pid, 0, 0);
    int live = 1;
    while (live > 0) {
        pid_t p = waitpid(-1, &status, __WALL);
        if (p < 0) break;
        if (WIFEXITED(status) || WIFSIGNALED(status)) { live--; continue; }
        int event = status >> 16;
        if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_VFORK) {
            live++; /* the new process stops (SIGSTOP), and is stepped from there */
            ptrace(PTRACE_SINGLESTEP, p, 0, 0);
            continue;
        }
        if (event == PTRACE_EVENT_EXEC) { /* another program now: let it go */
            ptrace(PTRACE_DETACH, p, 0, 0);
            live--;
            continue;
        }
        int sig = WSTOPSIG(status);
        struct user_regs_struct r;
        if (sig == SIGTRAP || sig == SIGSTOP) {
            if (ptrace(PTRACE_GETREGS, p, 0, &r) == 0) {
                unsigned long off = r.rip - base;
                if (off < SLOTS && !seen[off]) { seen[off] = 1; fprintf(out, "%lx\n", off); }
            }
            sig = 0;
        }
        ptrace(PTRACE_SINGLESTEP, p, 0, sig);
    }
    return fclose(out) ? 1 : 0;
}
