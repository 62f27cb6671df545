// A small C shim around libjpeg-turbo. libjpeg reports errors by calling a handler that must not
// return; the shim's handler longjmps back to the setjmp in the same C function, so no longjmp
// ever crosses a Swift frame, and a corrupt file becomes an error code with libjpeg's message.
#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result codes of the JPEG functions.
enum {
    DK_JPEG_OK = 0,
    DK_JPEG_CORRUPT = 1,      ///< libjpeg rejected the data (message says why)
    DK_JPEG_TRUNCATED = 2,    ///< the data ends before the image does
    DK_JPEG_TOO_LARGE = 3,    ///< width × height exceeds the caller's limit
    DK_JPEG_UNSUPPORTED = 4,  ///< a colour space other than grey, YCbCr or RGB (CMYK, YCCK)
    DK_JPEG_NO_MEMORY = 5,    ///< malloc failed
    DK_JPEG_INVALID = 6       ///< bad arguments to the encoder
};

/// Size of the message buffers (libjpeg's JMSG_LENGTH_MAX is 200).
#define DK_JPEG_MESSAGE_SIZE 256

/// A decoded image: `height` rows of `width` pixels of `channels` (1 or 3) bytes, malloc'd.
typedef struct {
    unsigned char *pixels;
    int width;
    int height;
    int channels;
    char message[DK_JPEG_MESSAGE_SIZE];
} dk_jpeg_image;

/// Decodes a JPEG held in memory. Grey files give 1 channel, YCbCr and RGB files 3 (RGB).
/// Warnings (e.g. a premature end of data) are treated as errors. On success `out->pixels` must
/// be released with `dk_jpeg_free`; on failure it is NULL and `out->message` says why.
/// `max_pixels` bounds width × height before anything is allocated; `max_scans` bounds the
/// number of progressive scans (a crafted file can otherwise hold thousands).
int dk_jpeg_decode(const unsigned char *data, size_t size, uint64_t max_pixels, int max_scans,
                   dk_jpeg_image *out);

/// Encodes 8-bit grey (channels 1) or RGB (channels 3) pixels at `quality` (1…100) into a
/// malloc'd buffer (`*out`, `*out_size`), released with `dk_jpeg_free`.
int dk_jpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                   unsigned char **out, size_t *out_size, char *message);

/// Releases memory returned by the functions above (NULL is ignored).
void dk_jpeg_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
