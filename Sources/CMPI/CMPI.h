// Open MPI's C API (Debian: libopenmpi-dev, pkg-config name ompi-c).
#include <mpi.h>
