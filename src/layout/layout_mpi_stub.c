/* The MPI entry points when azstream is built without MPI (mpi_layout.c is not compiled):
 * --layout mpi fails with a message that says so. */
#ifndef AZS_HAVE_MPI
#include "common/error.h"
#include "layouts.h"

int azs_mpi_built(void) { return 0; }

azs_status azs_mpi_init(int *argc, char ***argv, int *rank, int *size)
{
    (void)argc, (void)argv;
    if (rank)
        *rank = 0;
    if (size)
        *size = 1;
    return azs_fail(AZS_ERR_UNSUPPORTED, "this azstream was built without MPI (install libopenmpi-dev and rebuild)");
}

void azs_mpi_finalize(void) {}

int azs_mpi_all_ok(int ok) { return ok; }

static azs_status validate_mpi(const azs_source_info *info, const azs_run_options *o)
{
    (void)info, (void)o;
    return azs_fail(AZS_ERR_UNSUPPORTED, "layout mpi: this azstream was built without MPI");
}

const azs_layout_driver azs_driver_mpi = {"mpi", validate_mpi, NULL};
#else
typedef int azs_layout_mpi_stub_unused; /* ISO C: no empty translation unit */
#endif
