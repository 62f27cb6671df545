// See include/dicekit_allocator.h.
#include "dicekit_allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#include <limits.h>

int dicekit_keep_freed_memory(int mmap_threshold) {
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
}
#else
int dicekit_keep_freed_memory(int mmap_threshold) {
    (void)mmap_threshold;
    return 0;
}
#endif
