/* Placeholder until the daemon lands. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "sshgated: not built yet\n");
    return 1;
}
