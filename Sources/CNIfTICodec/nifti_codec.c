// The NIfTI shim (see include/CNIfTICodec.h). libnifti2 keeps its options in globals and is not
// documented as thread-safe, so every call into it holds one mutex; it prints its errors to
// stderr unless its debug level is 0, which is set once: the shim writes its own messages.

#include "CNIfTICodec.h"

#include </usr/include/nifti/nifti2_io.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dk_nifti_handle {
    nifti_image *image;
    int loaded;
};

static pthread_mutex_t dk_nifti_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t dk_nifti_once = PTHREAD_ONCE_INIT;

static void dk_nifti_quiet(void) { nifti_set_debug_level(0); }

static int dk_fail(dk_nifti_header *header, int code, const char *message) {
    if (header) snprintf(header->message, DK_NIFTI_MESSAGE_SIZE, "%s", message);
    return code;
}

static int dk_supported(int datatype) {
    switch (datatype) {
    case DT_UINT8: case DT_INT8: case DT_INT16: case DT_UINT16: case DT_INT32: case DT_UINT32:
    case DT_INT64: case DT_UINT64: case DT_FLOAT32: case DT_FLOAT64:
        return 1;
    default:
        return 0;
    }
}

static void dk_fill_header(const nifti_image *nim, dk_nifti_header *header) {
    for (int i = 0; i < 8; i++) {
        header->dims[i] = nim->dim[i];
        header->pixdim[i] = nim->pixdim[i];
    }
    header->datatype = nim->datatype;
    header->scl_slope = nim->scl_slope;
    header->scl_inter = nim->scl_inter;
    header->nifti_type = nim->nifti_type;
    header->qform_code = nim->qform_code;
    header->sform_code = nim->sform_code;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            header->sto_xyz[r][c] = nim->sto_xyz.m[r][c];
            header->qto_xyz[r][c] = nim->qto_xyz.m[r][c];
        }
    header->xyz_units = nim->xyz_units;
    header->message[0] = 0;
}

int dk_nifti_open(const char *path, int64_t max_voxels, dk_nifti_handle **out, dk_nifti_header *header) {
    if (!path || !out || !header) return dk_fail(header, DK_NIFTI_INVALID, "invalid arguments");
    *out = NULL;
    memset(header, 0, sizeof *header);
    pthread_once(&dk_nifti_once, dk_nifti_quiet);
    pthread_mutex_lock(&dk_nifti_lock);
    nifti_image *nim = nifti_image_read(path, 0);
    pthread_mutex_unlock(&dk_nifti_lock);
    if (!nim) return dk_fail(header, DK_NIFTI_UNREADABLE, "not a NIfTI-1 or NIfTI-2 image (no valid header)");
    dk_fill_header(nim, header);
    char text[DK_NIFTI_MESSAGE_SIZE];
    int code = DK_NIFTI_OK;
    int64_t ndim = nim->dim[0];
    if (ndim < 1 || ndim > 7) {
        snprintf(text, sizeof text, "%lld dimensions in the header; expected 1 to 7", (long long)ndim);
        code = DK_NIFTI_BAD_HEADER;
    } else if (ndim > 5) {
        snprintf(text, sizeof text, "%lld dimensions; expected at most 5 (x, y, z, time, channels)", (long long)ndim);
        code = DK_NIFTI_BAD_HEADER;
    }
    int64_t voxels = 1;
    for (int64_t i = 1; code == DK_NIFTI_OK && i <= ndim; i++) {
        if (nim->dim[i] < 1) {
            snprintf(text, sizeof text, "extent %lld of axis %lld in the header; expected >= 1",
                     (long long)nim->dim[i], (long long)i);
            code = DK_NIFTI_BAD_HEADER;
        } else if (nim->dim[i] > max_voxels / voxels) {
            snprintf(text, sizeof text, "more than %lld voxels in the header; expected at most that",
                     (long long)max_voxels);
            code = DK_NIFTI_TOO_LARGE;
        } else {
            voxels *= nim->dim[i];
        }
    }
    if (code == DK_NIFTI_OK && !dk_supported(nim->datatype)) {
        snprintf(text, sizeof text, "datatype %s (%d); expected an integer or float32/float64 type",
                 nifti_datatype_string(nim->datatype), nim->datatype);
        code = DK_NIFTI_BAD_HEADER;
    }
    if (code == DK_NIFTI_OK && !(isfinite(nim->scl_slope) && isfinite(nim->scl_inter))) {
        snprintf(text, sizeof text, "a non-finite scl_slope or scl_inter; expected finite scaling");
        code = DK_NIFTI_BAD_HEADER;
    }
    if (code != DK_NIFTI_OK) {
        pthread_mutex_lock(&dk_nifti_lock);
        nifti_image_free(nim);
        pthread_mutex_unlock(&dk_nifti_lock);
        return dk_fail(header, code, text);
    }
    dk_nifti_handle *handle = calloc(1, sizeof *handle);
    if (!handle) {
        pthread_mutex_lock(&dk_nifti_lock);
        nifti_image_free(nim);
        pthread_mutex_unlock(&dk_nifti_lock);
        return dk_fail(header, DK_NIFTI_INVALID, "out of memory");
    }
    handle->image = nim;
    *out = handle;
    return DK_NIFTI_OK;
}

int dk_nifti_load(dk_nifti_handle *image, dk_nifti_header *header) {
    // The voxels are read here, through znzlib (NIfTI's gzip layer), not by nifti_image_load:
    // that function replaces NaN and infinite floats by 0 without saying so, and the caller must
    // be able to refuse them.
    if (!image || !header) return dk_fail(header, DK_NIFTI_INVALID, "invalid arguments");
    if (image->loaded) return DK_NIFTI_OK;
    nifti_image *nim = image->image;
    size_t bytes = (size_t)nim->nvox * (size_t)nim->nbyper;
    void *data = malloc(bytes ? bytes : 1);
    if (!data) return dk_fail(header, DK_NIFTI_INVALID, "out of memory");
    znzFile file = znzopen(nim->iname, "rb", nifti_is_gzfile(nim->iname));
    if (znz_isnull(file)) {
        free(data);
        return dk_fail(header, DK_NIFTI_UNREADABLE, "the voxel data file cannot be opened");
    }
    size_t got = 0;
    if (znzseek(file, (znz_off_t)nim->iname_offset, SEEK_SET) >= 0) got = znzread(data, 1, bytes, file);
    znzclose(file);
    if (got < bytes) {
        free(data);
        return dk_fail(header, DK_NIFTI_TRUNCATED, "the voxel data is shorter than the header says");
    }
    if (nim->swapsize > 1 && nim->byteorder != nifti_short_order()) nifti_swap_Nbytes(nim->nvox, nim->swapsize, data);
    nim->data = data;
    image->loaded = 1;
    return DK_NIFTI_OK;
}

/// Voxel i of the loaded data as a double, unscaled.
static double dk_voxel(const nifti_image *nim, int64_t i) {
    const void *d = nim->data;
    switch (nim->datatype) {
    case DT_UINT8: return ((const uint8_t *)d)[i];
    case DT_INT8: return ((const int8_t *)d)[i];
    case DT_INT16: return ((const int16_t *)d)[i];
    case DT_UINT16: return ((const uint16_t *)d)[i];
    case DT_INT32: return ((const int32_t *)d)[i];
    case DT_UINT32: return ((const uint32_t *)d)[i];
    case DT_INT64: return (double)((const int64_t *)d)[i];
    case DT_UINT64: return (double)((const uint64_t *)d)[i];
    case DT_FLOAT32: return ((const float *)d)[i];
    default: return ((const double *)d)[i];
    }
}

static int dk_check_count(const dk_nifti_handle *image, int64_t count, dk_nifti_header *header) {
    if (!image || !header || !image->loaded) return dk_fail(header, DK_NIFTI_INVALID, "the image is not loaded");
    if (count != image->image->nvox) return dk_fail(header, DK_NIFTI_INVALID, "a buffer of another voxel count");
    return DK_NIFTI_OK;
}

/// Voxel i with the header's scaling (scl_slope, scl_inter) applied; a slope of 0 means none.
static double dk_scaled_voxel(const nifti_image *nim, int64_t i) {
    double v = dk_voxel(nim, i), slope = nim->scl_slope, inter = nim->scl_inter;
    return slope != 0 && (slope != 1 || inter != 0) ? v * slope + inter : v;
}

int dk_nifti_copy_float(const dk_nifti_handle *image, float *out, int64_t count, dk_nifti_header *header) {
    int code = dk_check_count(image, count, header);
    if (code != DK_NIFTI_OK) return code;
    for (int64_t i = 0; i < count; i++) out[i] = (float)dk_scaled_voxel(image->image, i);
    return DK_NIFTI_OK;
}

int dk_nifti_copy_labels(const dk_nifti_handle *image, int32_t *out, int64_t count, dk_nifti_header *header) {
    int code = dk_check_count(image, count, header);
    if (code != DK_NIFTI_OK) return code;
    for (int64_t i = 0; i < count; i++) {
        double v = dk_scaled_voxel(image->image, i);
        if (!(v == floor(v)) || v < (double)INT32_MIN || v > (double)INT32_MAX) {
            char text[DK_NIFTI_MESSAGE_SIZE];
            snprintf(text, sizeof text, "voxel %lld holds %g; expected a whole class index", (long long)i, v);
            return dk_fail(header, DK_NIFTI_NOT_INTEGER, text);
        }
        out[i] = (int32_t)v;
    }
    return DK_NIFTI_OK;
}

/// Copies the reference's geometry (first three axes) onto a new image, or sets `spacing` (dx,
/// dy, dz in mm) on the scanner axes.
static void dk_copy_geometry(nifti_image *nim, const nifti_image *ref, const double *spacing) {
    if (!ref) {
        if (!spacing) return;
        for (int i = 1; i <= 3; i++) nim->pixdim[i] = spacing[i - 1];
        nim->dx = spacing[0];
        nim->dy = spacing[1];
        nim->dz = spacing[2];
        nim->xyz_units = NIFTI_UNITS_MM;
        nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
        nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
        nim->quatern_b = nim->quatern_c = nim->quatern_d = 0;
        nim->qoffset_x = nim->qoffset_y = nim->qoffset_z = 0;
        nim->qfac = 1;
        nim->pixdim[0] = 1;
        nim->qto_xyz = nifti_quatern_to_dmat44(0, 0, 0, 0, 0, 0, spacing[0], spacing[1], spacing[2], 1);
        nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
        nim->sto_xyz = nim->qto_xyz;
        nim->sto_ijk = nim->qto_ijk;
        return;
    }
    for (int i = 1; i <= 3; i++) nim->pixdim[i] = ref->pixdim[i];
    nim->dx = ref->dx;
    nim->dy = ref->dy;
    nim->dz = ref->dz;
    nim->xyz_units = ref->xyz_units;
    nim->qform_code = ref->qform_code;
    nim->sform_code = ref->sform_code;
    nim->quatern_b = ref->quatern_b;
    nim->quatern_c = ref->quatern_c;
    nim->quatern_d = ref->quatern_d;
    nim->qoffset_x = ref->qoffset_x;
    nim->qoffset_y = ref->qoffset_y;
    nim->qoffset_z = ref->qoffset_z;
    nim->qfac = ref->qfac;
    nim->qto_xyz = ref->qto_xyz;
    nim->qto_ijk = ref->qto_ijk;
    nim->sto_xyz = ref->sto_xyz;
    nim->sto_ijk = ref->sto_ijk;
    nim->pixdim[0] = ref->pixdim[0];
}

static int dk_write(const char *path, const dk_nifti_handle *reference, const double *spacing,
                    const int64_t dims[8], int datatype, void *data, size_t bytes, dk_nifti_header *header) {
    pthread_once(&dk_nifti_once, dk_nifti_quiet);
    pthread_mutex_lock(&dk_nifti_lock);
    nifti_image *nim = nifti_make_new_nim(dims, datatype, 0);
    int code = DK_NIFTI_OK;
    if (!nim) {
        code = DK_NIFTI_WRITE_FAILED;
    } else {
        dk_copy_geometry(nim, reference ? reference->image : NULL, spacing);
        nim->data = data;
        if (nifti_set_filenames(nim, path, 0, 1) != 0) {
            code = DK_NIFTI_INVALID;
        } else {
            nifti_image_write(nim);
        }
        nim->data = NULL;
        nifti_image_free(nim);
    }
    nifti_image *back = code == DK_NIFTI_OK ? nifti_image_read(path, 1) : NULL;
    if (code == DK_NIFTI_OK) {
        int same = back && back->data && back->datatype == datatype && (size_t)back->nvox * back->nbyper == bytes
                   && memcmp(back->data, data, bytes) == 0;
        for (int i = 1; same && i <= dims[0]; i++) same = back->dim[i] == dims[i];
        if (!same) code = DK_NIFTI_WRITE_FAILED;
    }
    if (back) nifti_image_free(back);
    pthread_mutex_unlock(&dk_nifti_lock);
    if (code == DK_NIFTI_INVALID)
        return dk_fail(header, code, "not a NIfTI file name (expected .nii or .nii.gz)");
    if (code != DK_NIFTI_OK)
        return dk_fail(header, code, "the file did not read back as written (disk full or not writable?)");
    return DK_NIFTI_OK;
}

int dk_nifti_write_labels(const char *path, const dk_nifti_handle *reference, const double *spacing_xyz, int64_t nx,
                          int64_t ny, int64_t nz, const int32_t *labels, dk_nifti_header *header) {
    if (!path || !labels || !header || nx < 1 || ny < 1 || nz < 1)
        return dk_fail(header, DK_NIFTI_INVALID, "invalid arguments");
    header->message[0] = 0;
    int64_t count = nx * ny * nz;
    int32_t low = 0, high = 0;
    for (int64_t i = 0; i < count; i++) {
        if (labels[i] < low) low = labels[i];
        if (labels[i] > high) high = labels[i];
    }
    int datatype = (low >= 0 && high <= 255) ? DT_UINT8 : (low >= INT16_MIN && high <= INT16_MAX) ? DT_INT16 : DT_INT32;
    size_t size = datatype == DT_UINT8 ? 1 : datatype == DT_INT16 ? 2 : 4;
    void *data = malloc((size_t)count * size);
    if (!data) return dk_fail(header, DK_NIFTI_INVALID, "out of memory");
    for (int64_t i = 0; i < count; i++) {
        if (datatype == DT_UINT8) ((uint8_t *)data)[i] = (uint8_t)labels[i];
        else if (datatype == DT_INT16) ((int16_t *)data)[i] = (int16_t)labels[i];
        else ((int32_t *)data)[i] = labels[i];
    }
    int64_t dims[8] = {3, nx, ny, nz, 1, 1, 1, 1};
    int code = dk_write(path, reference, spacing_xyz, dims, datatype, data, (size_t)count * size, header);
    free(data);
    return code;
}

int dk_nifti_write_float(const char *path, const dk_nifti_handle *reference, const double *spacing_xyz, int64_t nx,
                         int64_t ny, int64_t nz, int64_t nt, const float *values, dk_nifti_header *header) {
    if (!path || !values || !header || nx < 1 || ny < 1 || nz < 1 || nt < 1)
        return dk_fail(header, DK_NIFTI_INVALID, "invalid arguments");
    header->message[0] = 0;
    int64_t dims[8] = {nt > 1 ? 4 : 3, nx, ny, nz, nt, 1, 1, 1};
    size_t bytes = (size_t)(nx * ny * nz * nt) * sizeof(float);
    return dk_write(path, reference, spacing_xyz, dims, DT_FLOAT32, (void *)values, bytes, header);
}

void dk_nifti_close(dk_nifti_handle *image) {
    if (!image) return;
    pthread_mutex_lock(&dk_nifti_lock);
    nifti_image_free(image->image);
    pthread_mutex_unlock(&dk_nifti_lock);
    free(image);
}
