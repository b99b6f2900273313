// Runs commands in turn, one run of each per round, the order rotating
// from round to round, and prints each one's median with its ratio to the
// first command's. Load on a small VM drifts over seconds; hyperfine runs
// each command as one block, so the drift lands on whole commands and
// moves their ratios. Here it lands on every command alike.
//
//   interleave RUNS WARMUP NAME CMD [ARGS...] [:: NAME CMD [ARGS...]]...
//
// CMD is an absolute path, run with stdin, stdout and stderr on /dev/null;
// a command that fails stops the run (exit 1).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MOST 32

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: interleave RUNS WARMUP NAME CMD [ARGS...] [:: NAME CMD...]...\n");
        return 2;
    }
    int runs = atoi(argv[1]), warmup = atoi(argv[2]), n = 0;
    char *name[MOST], **cmd[MOST];
    for (int i = 3; i < argc && n < MOST; n++) {
        name[n] = argv[i];
        cmd[n] = &argv[i + 1];
        int j = i + 1;
        while (j < argc && strcmp(argv[j], "::") != 0) j++;
        argv[j < argc ? j : argc] = NULL;
        i = j + 1;
    }
    double *times = calloc((size_t)n * (size_t)runs, sizeof(double));
    int null = open("/dev/null", O_RDWR);
    if (runs < 1 || !times || null < 0) return 2;
    for (int round = -warmup; round < runs; round++) {
        for (int k = 0; k < n; k++) {
            int c = (k + (round < 0 ? 0 : round)) % n;
            double start = now_ms();
            pid_t pid = fork();
            if (pid == 0) {
                dup2(null, 0), dup2(null, 1), dup2(null, 2);
                execv(cmd[c][0], cmd[c]);
                _exit(127);
            }
            int status;
            if (pid < 0 || waitpid(pid, &status, 0) < 0) return 2;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "interleave: %s failed (status %d)\n", name[c], status);
                return 1;
            }
            if (round >= 0) times[c * runs + round] = now_ms() - start;
        }
    }
    printf("| command | median ms | x %s |\n| --- | ---: | ---: |\n", name[0]);
    double base = 0;
    for (int c = 0; c < n; c++) {
        double *mine = times + c * runs;
        qsort(mine, (size_t)runs, sizeof(double), by_value);
        double median = mine[runs / 2];
        if (c == 0) base = median;
        printf("| %s | %.3f | %.2f |\n", name[c], median, median / base);
    }
    return 0;
}
