// LAPACKE, the C interface to LAPACK. Debian's libopenblas carries no LAPACKE symbols, so the
// module links liblapacke. The two defines make the complex types import as plain structs.
#define HAVE_LAPACK_CONFIG_H
#define LAPACK_COMPLEX_STRUCTURE
#include <lapacke.h>
