/* getpwuid UID: prints the user's home, through NSS, as a static program. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
int main(int c, char **v) { struct passwd *p = getpwuid(atoi(v[1]));
if (!p) return 1; puts(p->pw_dir); return 0; }
