/* tty TEXT: pushes TEXT into its terminal's input (TIOCSTI), then tries
 * TIOCLINUX; prints `TIOCSTI: ok|ERROR` and `TIOCLINUX: ok|ERROR`. Built
 * for x86_64 and, as tty32, for i386 (the kernel's other ABI). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
int main(int argc, char **argv) {
    int sti = 0;
    for (const char *c = argv[1]; *c && sti == 0; c++) sti = ioctl(0, TIOCSTI, c);
    printf("TIOCSTI: %s\n", sti == 0 ? "ok" : strerror(errno));
    char get_shift_state = 6;
    int paste = ioctl(0, TIOCLINUX, &get_shift_state);
    printf("TIOCLINUX: %s\n", paste == 0 ? "ok" : strerror(errno));
    return 0;
}
