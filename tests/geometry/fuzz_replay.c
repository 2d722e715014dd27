/* Runs the fuzz entry point over every file named on the command line (or in a named
 * directory): the seed corpus as a normal test, in the release and ASan builds. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return 1; }
    static uint8_t buf[1 << 21];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    /* exact-size copy so that ASan sees any overread past the input */
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0, err = 0;
    for (int k = 1; k < argc; k++) {
        struct stat st;
        if (stat(argv[k], &st) != 0) { perror(argv[k]); return 1; }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[k]);
            struct dirent *e;
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", argv[k], e->d_name);
                err |= run_file(p);
                files++;
            }
            if (d) closedir(d);
        } else {
            err |= run_file(argv[k]);
            files++;
        }
    }
    printf("replayed %d input(s)\n", files);
    return err || files == 0;
}
