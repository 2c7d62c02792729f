/*
 * main.c - the surge binary's entry point. Deliberately thin: every
 * command lives in src/cli/ and every mechanism in the libraries, so the
 * tests link exactly what ships.
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "core/json.h"

int main(int argc, char **argv)
{
    sg_json_init();
    return sg_cli_main(argc, argv);
}
