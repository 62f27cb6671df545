// What the hand-run C drivers of Scripts/ (kernel_costs.c, conv_costs.c) share: a monotonic
// clock and the CPU line printed at the head of every run, so that each figure names its CPU.
#ifndef DK_DRIVER_SUPPORT_H
#define DK_DRIVER_SUPPORT_H

#include <stdio.h>
#include <string.h>
#include <time.h>

/// Seconds on the monotonic clock.
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/// Prints "CPU: <model name> (family F model M; <vector flags>)" from /proc/cpuinfo's first
/// processor: the flags among avx2, fma, avx512f, avx512_bf16, amx_tile and amx_bf16 it lists.
static void cpu_model(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192], name[256] = "unknown", family[32] = "?", model[32] = "?", flags[128] = "";
    static const char *wanted[] = {"avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"};
    while (f && fgets(line, sizeof line, f)) {
        const char *value = strchr(line, ':');
        if (!value) continue;
        value += value[1] == ' ' ? 2 : 1;
        if (strncmp(line, "model name", 10) == 0) {
            snprintf(name, sizeof name, "%.*s", (int)strcspn(value, "\n"), value);
        } else if (strncmp(line, "cpu family", 10) == 0) {
            snprintf(family, sizeof family, "%.*s", (int)strcspn(value, "\n"), value);
        } else if (strncmp(line, "model\t", 6) == 0) {
            snprintf(model, sizeof model, "%.*s", (int)strcspn(value, "\n"), value);
        } else if (strncmp(line, "flags", 5) == 0) {
            char list[sizeof line + 2], padded[32];  // the flags with a space on each side
            snprintf(list, sizeof list, " %.*s ", (int)strcspn(value, "\n"), value);
            for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
                snprintf(padded, sizeof padded, " %s ", wanted[i]);
                if (strstr(list, padded)) {
                    strncat(flags, flags[0] ? " " : "", sizeof flags - strlen(flags) - 1);
                    strncat(flags, wanted[i], sizeof flags - strlen(flags) - 1);
                }
            }
            break;  // the first processor's block ends after its flags
        }
    }
    if (f) fclose(f);
    printf("CPU: %s (family %s model %s; %s)\n", name, family, model, flags[0] ? flags : "no AVX2");
}

#endif
