// Allocator tuning (glibc's mallopt, which Swift's Glibc module does not export).
#ifndef DICEKIT_ALLOCATOR_H
#define DICEKIT_ALLOCATOR_H

/// Serves blocks up to `mmap_threshold` bytes from the heap and keeps freed memory; returns 1 on
/// success, 0 when the C library has no mallopt.
int dicekit_keep_freed_memory(int mmap_threshold);

#endif
