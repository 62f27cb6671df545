#include "CMPIShim.h"

MPI_Comm dicekit_mpi_comm_world(void) { return MPI_COMM_WORLD; }
MPI_Datatype dicekit_mpi_float(void) { return MPI_FLOAT; }
MPI_Datatype dicekit_mpi_double(void) { return MPI_DOUBLE; }
MPI_Datatype dicekit_mpi_int64(void) { return MPI_INT64_T; }
MPI_Op dicekit_mpi_sum(void) { return MPI_SUM; }
MPI_Op dicekit_mpi_max(void) { return MPI_MAX; }
MPI_Errhandler dicekit_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
MPI_Request dicekit_mpi_request_null(void) { return MPI_REQUEST_NULL; }
MPI_Status *dicekit_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
MPI_Status *dicekit_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
int dicekit_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
int dicekit_mpi_success(void) { return MPI_SUCCESS; }
int dicekit_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
