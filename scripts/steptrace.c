/* Single-steps a program and the processes it forks (until they exec), and
 * writes to descriptor 3, once for each process and in the order first run,
 * the offsets from the program's load address of the instructions each ran:
 * a line each, the process's number (0 for the program, then 1, 2, ... in
 * the order forked) and the offset in hex. scripts/launch-order.sh turns
 * them into function names. Exits as the program did (1 if killed): a
 * trace of a launch that failed is a trace of its error path.
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
#define MOST 8 /* processes told apart: a bit each in seen[] */
static unsigned char *seen;
static pid_t numbered[MOST];
static int count;

/* The process's number: the order it was first seen in. */
static int number(pid_t pid) {
    for (int i = 0; i < count; i++)
        if (numbered[i] == pid) return i;
    if (count == MOST) return MOST - 1;
    numbered[count] = pid;
    return count++;
}

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
    int live = 1, code = 1;
    while (live > 0) {
        pid_t p = waitpid(-1, &status, __WALL);
        if (p < 0) break;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (p == pid && WIFEXITED(status)) code = WEXITSTATUS(status);
            live--;
            continue;
        }
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
                int n = number(p);
                if (off < SLOTS && !(seen[off] & 1u << n)) {
                    seen[off] |= 1u << n;
                    fprintf(out, "%d %lx\n", n, off);
                }
            }
            sig = 0;
        }
        ptrace(PTRACE_SINGLESTEP, p, 0, sig);
    }
    return fclose(out) ? 1 : code;
}
