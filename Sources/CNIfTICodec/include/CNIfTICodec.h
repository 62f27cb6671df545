// A small C shim around Debian's NIfTI library (libnifti2: NIfTI-1 and NIfTI-2, .nii, .nii.gz and
// .hdr/.img). It keeps the library's structures in C: Swift sees an opaque handle, a plain header
// record and conversion functions, and every failure is a code with a message, never a print.
#ifndef CNIFTICODEC_H
#define CNIFTICODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result codes.
enum {
    DK_NIFTI_OK = 0,
    DK_NIFTI_UNREADABLE = 1,   ///< not a NIfTI-1/NIfTI-2 header, or the file cannot be opened
    DK_NIFTI_BAD_HEADER = 2,   ///< a header whose dimensions, datatype or spacing make no sense
    DK_NIFTI_TOO_LARGE = 3,    ///< more voxels than the caller allows
    DK_NIFTI_TRUNCATED = 4,    ///< the voxel data could not be read in full
    DK_NIFTI_NOT_INTEGER = 5,  ///< a label volume holds a value that is not a whole number in range
    DK_NIFTI_WRITE_FAILED = 6, ///< the file could not be written, or did not read back whole
    DK_NIFTI_INVALID = 7       ///< bad arguments
};

/// Size of the message buffers.
#define DK_NIFTI_MESSAGE_SIZE 256

/// What DiceKit reads of a header. Extents are NIfTI's: `dims[1]` = nx (fastest), `dims[2]` = ny,
/// `dims[3]` = nz, `dims[4]` = nt, `dims[5]` = nu; `dims[0]` is the dimension count.
typedef struct {
    int64_t dims[8];
    double pixdim[8];
    int datatype;          ///< NIfTI's DT_* code
    double scl_slope;      ///< 0 means no scaling
    double scl_inter;
    int nifti_type;        ///< 1 = NIfTI-1 (.nii), 2 = NIfTI-1 pair, 4 = NIfTI-2, …
    int qform_code;
    int sform_code;
    double sto_xyz[4][4];  ///< voxel (i, j, k) → world (x, y, z), when sform_code > 0
    double qto_xyz[4][4];  ///< the same from the quaternion, when qform_code > 0
    int xyz_units;         ///< NIFTI_UNITS_* code of the spacing
    char message[DK_NIFTI_MESSAGE_SIZE];
} dk_nifti_header;

/// An open NIfTI image (header, and voxel data once loaded).
typedef struct dk_nifti_handle dk_nifti_handle;

/// Reads the header of `path` and checks it: every used extent ≥ 1, at most 5 dimensions, a
/// known datatype, at most `max_voxels` voxels. The voxels are not read yet. On success `*out`
/// must be released with `dk_nifti_close`.
int dk_nifti_open(const char *path, int64_t max_voxels, dk_nifti_handle **out, dk_nifti_header *header);

/// Reads the voxel data of an open image (once; later calls do nothing).
int dk_nifti_load(dk_nifti_handle *image, dk_nifti_header *header);

/// The loaded voxels as Float, in file order (x fastest), with scl_slope/scl_inter applied when
/// the slope is non-zero. `count` must be the voxel count.
int dk_nifti_copy_float(const dk_nifti_handle *image, float *out, int64_t count, dk_nifti_header *header);

/// The loaded voxels as class indices (scaling applied), each checked to be a whole number in
/// [INT32_MIN, INT32_MAX]; the first offending voxel is named in the message.
int dk_nifti_copy_labels(const dk_nifti_handle *image, int32_t *out, int64_t count, dk_nifti_header *header);

/// Writes a 3-D label volume of nx × ny × nz voxels (x fastest) to `path` (.nii or .nii.gz),
/// taking spacing, units, qform and sform from `reference` (which may be 4-D or 5-D: only its
/// first three axes are used) or, when `reference` is NULL, the spacing `spacing_xyz` (dx, dy,
/// dz in mm; NULL: 1 mm) on the scanner axes (a diagonal qform and sform). The
/// datatype is uint8 when every label is in 0…255, else int16 when it fits, else int32. The file
/// is read back after writing and its voxels compared; `DK_NIFTI_WRITE_FAILED` otherwise.
int dk_nifti_write_labels(
    const char *path, const dk_nifti_handle *reference, const double *spacing_xyz, int64_t nx, int64_t ny,
    int64_t nz, const int32_t *labels, dk_nifti_header *header);

/// Writes a Float volume of nx × ny × nz × nt voxels (x fastest, t slowest: one 3-D volume per
/// channel) as float32, with the reference's geometry as in `dk_nifti_write_labels`.
int dk_nifti_write_float(
    const char *path, const dk_nifti_handle *reference, const double *spacing_xyz, int64_t nx, int64_t ny,
    int64_t nz, int64_t nt, const float *values, dk_nifti_header *header);

/// Releases an image (NULL is allowed).
void dk_nifti_close(dk_nifti_handle *image);

#ifdef __cplusplus
}
#endif

#endif
