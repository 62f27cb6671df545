// CPUID and XGETBV behind two plain functions, so that Swift can read the CPU's features, cache
// geometry and model without inline assembly (no instruction here needs a build flag), and a
// dlsym that looks only into libraries already loaded.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include "dk_platform.h"

void *dk_loaded_symbol(const void *anchor, const char *name) {
    Dl_info info;
    if (anchor && dladdr(anchor, &info) && info.dli_fname) {
        // RTLD_NOLOAD: a handle only if the library is already mapped (it is: anchor lies in it).
        void *library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (library) {
            void *symbol = dlsym(library, name);
            dlclose(library);  // drops the reference NOLOAD added; the library stays mapped
            if (symbol) return symbol;
        }
    }
    return dlsym(RTLD_DEFAULT, name);
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

int dk_cpuid(unsigned int leaf, unsigned int subleaf, dk_cpuid_regs *out) {
    unsigned int a = 0, b = 0, c = 0, d = 0;
    // __get_cpuid_count checks the leaf against the highest leaf of its range first.
    if (!__get_cpuid_count(leaf, subleaf, &a, &b, &c, &d)) {
        out->eax = out->ebx = out->ecx = out->edx = 0;
        return 0;
    }
    out->eax = a; out->ebx = b; out->ecx = c; out->edx = d;
    return 1;
}

unsigned long long dk_xcr0(void) {
    unsigned int a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;  // OSXSAVE
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

#else

int dk_cpuid(unsigned int leaf, unsigned int subleaf, dk_cpuid_regs *out) {
    (void)leaf; (void)subleaf;
    out->eax = out->ebx = out->ecx = out->edx = 0;
    return 0;
}

unsigned long long dk_xcr0(void) { return 0; }

#endif
