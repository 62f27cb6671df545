// The number of processors this process may run on (its CPU affinity mask): mpirun binds each
// rank to its cores, and DiceKit's worker pool sizes itself from this count.

#define _GNU_SOURCE
#include <sched.h>
#include "dk_platform.h"

int dk_allowed_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}
