/*
 * standalone.c - a main() for the fuzz targets without libFuzzer: feed
 * every file named on the command line, or found directly inside a folder
 * named there, to LLVMFuzzerTestOneInput once, in name order. This is how
 * the normal build replays the committed corpora and crashers (libgit2's
 * method), so a fixed crash stays fixed under gcc as well as clang.
 *
 * Exit status: 0 when every input ran, 1 when none was found or one could
 * not be read. A crashing input crashes this program, which ctest reports.
 */
#include "fuzz.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#define NAMES_MAX 100000

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long len;
    int rc = -1;

    if (!f)
        goto out;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0)
        goto out;
    /* An exact-size copy, so a read past the end is caught by ASan. */
    data = malloc(len > 0 ? (size_t)len : 1);
    if (!data || (len > 0 && fread(data, 1, (size_t)len, f) != (size_t)len))
        goto out;
    LLVMFuzzerTestOneInput(data, (size_t)len);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "standalone: cannot read %s\n", path);
    free(data);
    if (f)
        fclose(f);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file directly in dir, sorted; *n_out counts them. */
static int run_dir(const char *dir, size_t *n_out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL && n < NAMES_MAX) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = realloc(names, ncap * sizeof(*names));

            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (!names[n]) {
            rc = -1;
            break;
        }
        snprintf(names[n], strlen(dir) + strlen(e->d_name) + 2, "%s/%s", dir,
                 e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;

        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(names[i]) != 0)
                rc = -1;
            else
                (*n_out)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 0;
    int bad = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "standalone: no such file or folder: %s\n",
                    argv[i]);
            bad = 1;
        } else if (S_ISDIR(st.st_mode)) {
            bad |= run_dir(argv[i], &n) != 0;
        } else if (run_file(argv[i]) != 0) {
            bad = 1;
        } else {
            n++;
        }
    }
    printf("standalone: replayed %zu inputs\n", n);
    if (n == 0) {
        fprintf(stderr, "standalone: no inputs; give corpus folders or "
                        "files\n");
        return 1;
    }
    return bad;
}
