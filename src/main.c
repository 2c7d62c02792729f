/*
 * main.c - the surge binary's entry point. Deliberately thin: every
 * command lives in src/cli/ and every mechanism in the libraries, so the
 * tests link exactly what ships.
 */
#include "core/sg.h"

#include "cli/cli.h"

int main(int argc, char **argv)
{
    return sg_cli_main(argc, argv);
}
