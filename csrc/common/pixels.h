/* The one description of an 8-bit image that the pixel kernels (PDQ, pHash) take.
 * No allocation, no I/O: the caller owns the pixels. */
#ifndef TIDEHASH_PIXELS_H
#define TIDEHASH_PIXELS_H

#include <stdint.h>

/* `rows` lines of `cols` pixels, `channels` bytes per pixel, the bytes of a line
 * adjacent and consecutive lines `row_stride` bytes apart.
 *   channels 1: grey (Pillow "L")
 *   channels 3: packed RGB
 *   channels 4: RGBX / RGBA as Pillow stores them; the 4th byte is ignored.
 * Which strides a kernel accepts is its own rule (pdq_hash: row_stride >= cols *
 * channels; phash_rows: any, also negative or 0, as it only reads). */
typedef struct {
    const uint8_t *data;
    int64_t rows;
    int64_t cols;
    int64_t row_stride;
    int channels;
} th_pixels;

#endif
