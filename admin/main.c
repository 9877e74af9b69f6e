/* sshgate-admin: the admin CLI. Everything is in admin_main (cli.c). */
#include "admin/admin.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    return admin_main(argc, argv, stdin, stdout, stderr);
}
