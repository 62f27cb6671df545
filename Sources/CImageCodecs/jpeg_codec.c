// JPEG decoding and encoding through libjpeg-turbo with libjpeg's error exit replaced.
//
// libjpeg's default error handler prints and calls exit(); the documented alternative is a
// handler that longjmps to a setjmp placed before the library calls (libjpeg.txt, "Error
// handling"). Both live in this file, in the same C function as the libjpeg calls, so the jump
// never unwinds a Swift frame. Warnings (libjpeg's "corrupt data" family, and the premature end
// of a truncated file, after which libjpeg would fill the rest with grey) are errors here too:
// a damaged file must not train silently on invented pixels.

#include "CImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;  // first, so a j_common_ptr's err can be cast to this type
    jmp_buf jump;
    int code;
    int max_scans;
    char *message;               // DK_JPEG_MESSAGE_SIZE bytes
} guarded_error;

static void fail(j_common_ptr info, int code) {
    guarded_error *error = (guarded_error *)info->err;
    error->code = code;
    (*info->err->format_message)(info, error->message);
    longjmp(error->jump, 1);
}

static void on_error_exit(j_common_ptr info) {
    int code = info->err->msg_code == JERR_INPUT_EOF || info->err->msg_code == JERR_INPUT_EMPTY
                   ? DK_JPEG_TRUNCATED : DK_JPEG_CORRUPT;
    if (info->err->msg_code == JERR_OUT_OF_MEMORY) code = DK_JPEG_NO_MEMORY;
    fail(info, code);
}

static void on_message(j_common_ptr info, int level) {
    if (level < 0) {  // a warning: corrupt data that libjpeg would paper over
        fail(info, info->err->msg_code == JWRN_JPEG_EOF ? DK_JPEG_TRUNCATED : DK_JPEG_CORRUPT);
    }
    // Trace messages (level ≥ 0) are dropped; nothing is ever printed.
}

static void on_output(j_common_ptr info) { (void)info; }

static void on_progress(j_common_ptr info) {
    if (!info->is_decompressor) return;
    j_decompress_ptr decoder = (j_decompress_ptr)info;
    guarded_error *error = (guarded_error *)info->err;
    if (decoder->input_scan_number > error->max_scans) {
        error->code = DK_JPEG_CORRUPT;
        snprintf(error->message, DK_JPEG_MESSAGE_SIZE, "more than %d progressive scans", error->max_scans);
        longjmp(error->jump, 1);
    }
}

static void install(guarded_error *error, char *message, int max_scans) {
    jpeg_std_error(&error->base);
    error->base.error_exit = on_error_exit;
    error->base.emit_message = on_message;
    error->base.output_message = on_output;
    error->code = DK_JPEG_OK;
    error->max_scans = max_scans;
    error->message = message;
    message[0] = 0;
}

int dk_jpeg_decode(const unsigned char *data, size_t size, uint64_t max_pixels, int max_scans,
                   dk_jpeg_image *out) {
    struct jpeg_decompress_struct decoder;
    struct jpeg_progress_mgr progress;
    guarded_error error;
    unsigned char *volatile pixels = NULL;
    memset(out, 0, sizeof *out);
    install(&error, out->message, max_scans > 0 ? max_scans : 1);
    decoder.err = &error.base;
    if (setjmp(error.jump)) {
        jpeg_destroy_decompress(&decoder);
        free(pixels);
        return error.code;
    }
    jpeg_create_decompress(&decoder);
    progress.progress_monitor = on_progress;
    decoder.progress = &progress;
    if (size == 0 || size > (size_t)0xFFFFFFFFu) {
        snprintf(out->message, DK_JPEG_MESSAGE_SIZE, size == 0 ? "empty file" : "file larger than 4 GiB");
        jpeg_destroy_decompress(&decoder);
        return size == 0 ? DK_JPEG_TRUNCATED : DK_JPEG_TOO_LARGE;
    }
    jpeg_mem_src(&decoder, data, (unsigned long)size);
    jpeg_read_header(&decoder, TRUE);
    // Refuse absurd sizes before libjpeg allocates its buffers (checked in 64 bits).
    uint64_t count = (uint64_t)decoder.image_width * (uint64_t)decoder.image_height;
    if (count > max_pixels) {
        snprintf(out->message, DK_JPEG_MESSAGE_SIZE, "image of %u x %u pixels exceeds the limit of %llu",
                 decoder.image_width, decoder.image_height, (unsigned long long)max_pixels);
        jpeg_destroy_decompress(&decoder);
        return DK_JPEG_TOO_LARGE;
    }
    switch (decoder.jpeg_color_space) {
    case JCS_GRAYSCALE: decoder.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: decoder.out_color_space = JCS_RGB; break;
    default:
        snprintf(out->message, DK_JPEG_MESSAGE_SIZE, "colour space %s with %d components; expected grey, YCbCr or RGB (convert the file to RGB)",
                 decoder.jpeg_color_space == JCS_CMYK ? "CMYK" : decoder.jpeg_color_space == JCS_YCCK ? "YCCK" : "unknown",
                 decoder.num_components);
        jpeg_destroy_decompress(&decoder);
        return DK_JPEG_UNSUPPORTED;
    }
    jpeg_start_decompress(&decoder);
    size_t stride = (size_t)decoder.output_width * (size_t)decoder.output_components;
    uint64_t bytes = (uint64_t)stride * (uint64_t)decoder.output_height;
    if ((uint64_t)decoder.output_width * decoder.output_height > max_pixels || bytes == 0 || bytes > SIZE_MAX) {
        snprintf(out->message, DK_JPEG_MESSAGE_SIZE, "output of %u x %u pixels exceeds the limit", decoder.output_width,
                 decoder.output_height);
        jpeg_destroy_decompress(&decoder);
        return DK_JPEG_TOO_LARGE;
    }
    pixels = malloc((size_t)bytes);
    if (pixels == NULL) {
        snprintf(out->message, DK_JPEG_MESSAGE_SIZE, "cannot allocate %llu bytes", (unsigned long long)bytes);
        jpeg_destroy_decompress(&decoder);
        return DK_JPEG_NO_MEMORY;
    }
    while (decoder.output_scanline < decoder.output_height) {
        JSAMPROW row = pixels + (size_t)decoder.output_scanline * stride;
        jpeg_read_scanlines(&decoder, &row, 1);
    }
    jpeg_finish_decompress(&decoder);
    out->pixels = pixels;
    out->width = (int)decoder.output_width;
    out->height = (int)decoder.output_height;
    out->channels = decoder.output_components;
    jpeg_destroy_decompress(&decoder);
    return DK_JPEG_OK;
}

int dk_jpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                   unsigned char **out, size_t *out_size, char *message) {
    struct jpeg_compress_struct encoder;
    guarded_error error;
    unsigned long length = 0;
    *out = NULL;
    *out_size = 0;
    install(&error, message, 1);
    if (pixels == NULL || width <= 0 || height <= 0 || width > 65500 || height > 65500 || (channels != 1 && channels != 3) ||
        quality < 1 || quality > 100) {
        snprintf(message, DK_JPEG_MESSAGE_SIZE, "%d x %d x %d at quality %d; expected 1…65500 per side, 1 or 3 channels, quality 1…100",
                 width, height, channels, quality);
        return DK_JPEG_INVALID;
    }
    encoder.err = &error.base;
    if (setjmp(error.jump)) {
        jpeg_destroy_compress(&encoder);
        free(*out);  // libjpeg keeps *out pointing at its current buffer
        *out = NULL;
        return error.code;
    }
    jpeg_create_compress(&encoder);
    // The destination pointer lives in the caller's memory, not in a local of this function, so
    // its value is well defined after a longjmp.
    jpeg_mem_dest(&encoder, out, &length);
    encoder.image_width = (JDIMENSION)width;
    encoder.image_height = (JDIMENSION)height;
    encoder.input_components = channels;
    encoder.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&encoder);
    jpeg_set_quality(&encoder, quality, TRUE);
    jpeg_start_compress(&encoder, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (encoder.next_scanline < encoder.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)encoder.next_scanline * stride);
        jpeg_write_scanlines(&encoder, &row, 1);
    }
    jpeg_finish_compress(&encoder);
    *out_size = (size_t)length;
    jpeg_destroy_compress(&encoder);
    return DK_JPEG_OK;
}

void dk_jpeg_free(void *pointer) { free(pointer); }
