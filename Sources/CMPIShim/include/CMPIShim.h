// The predefined MPI handles as functions. In Open MPI, MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...
// are macros over the addresses of globals, which Swift cannot import; these return them.

#ifndef DICEKIT_CMPISHIM_H
#define DICEKIT_CMPISHIM_H

#include <mpi.h>

MPI_Comm dicekit_mpi_comm_world(void);
MPI_Datatype dicekit_mpi_float(void);
MPI_Datatype dicekit_mpi_double(void);
MPI_Datatype dicekit_mpi_int64(void);
MPI_Op dicekit_mpi_sum(void);
MPI_Op dicekit_mpi_max(void);
MPI_Errhandler dicekit_mpi_errors_return(void);
MPI_Request dicekit_mpi_request_null(void);
MPI_Status *dicekit_mpi_status_ignore(void);
MPI_Status *dicekit_mpi_statuses_ignore(void);
/// MPI_THREAD_FUNNELED: only the thread that initialised MPI calls it.
int dicekit_mpi_thread_funneled(void);
/// MPI_SUCCESS.
int dicekit_mpi_success(void);
/// MPI_MAX_ERROR_STRING.
int dicekit_mpi_max_error_string(void);

#endif
