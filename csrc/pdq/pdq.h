/* PDQ perceptual hash, bit-identical to Meta's C++ reference (pdq/cpp).
 *
 * The full-resolution stages (luma, two-pass Jarosz box filter, decimation to
 * 64x64) have one implementation per instruction set; everything after the
 * 64x64 buffer is shared scalar code. No function here allocates, does I/O or
 * touches Python: the caller owns every buffer (see pdq_scratch_floats). */
#ifndef TIDEHASH_PDQ_H
#define TIDEHASH_PDQ_H

#include <stddef.h>
#include <stdint.h>

#include "../common/pixels.h"
#include "../common/status.h"
#include "../cpu/cpu.h"

#define PDQ_HASH_BYTES 32
#define PDQ_NUM_DIHEDRAL 8
#define PDQ_MIN_DIM 5
/* Widest vector (floats) any kernel uses; scratch is sized for it. */
#define PDQ_MAX_LANES 16

/* Pixels are a th_pixels (common/pixels.h) with row_stride >= cols * channels;
 * grey pixels are luma as they are, Y = (float)v. */

/* Floats of scratch that pdq_hash needs for an image of this size (0 on overflow). */
size_t pdq_scratch_floats(int64_t rows, int64_t cols);

/* Hashes `px`. With dihedral == 0 follows the reference's single-hash entry point
 * (an exactly 64x64 image skips the filter) and writes hashes[0]; with dihedral != 0
 * follows the dihedral entry point (always filters) and writes the 8 variants in the
 * order original, rot90, rot180, rot270, flipx, flipy, flipp, flipm.
 * Hash bytes are big-endian as the reference prints them (bytes.fromhex(hex)).
 * Returns a th_status: TH_EBADARG for a null pointer, an empty image, a bad
 * channel count or stride (or no scratch where the filter runs), TH_EISA for an
 * ISA this build or CPU lacks. Images under PDQ_MIN_DIM a side hash to zeros, quality 0. */
int pdq_hash(const th_pixels *px, th_isa isa, int dihedral, float *scratch,
             uint8_t hashes[][PDQ_HASH_BYTES], int *quality);

/* Internal: the 64x64 downscale for one ISA (luma + filter + decimation). */
typedef void (*pdq_downscale_fn)(const th_pixels *px, float *scratch, float *out64x64);
void pdq_downscale_scalar(const th_pixels *px, float *scratch, float *out64x64);
void pdq_downscale_avx2(const th_pixels *px, float *scratch, float *out64x64);
void pdq_downscale_avx512(const th_pixels *px, float *scratch, float *out64x64);
void pdq_downscale_wasm128(const th_pixels *px, float *scratch, float *out64x64);

#if defined(__wasm__)
/* The page's WebAssembly only (web/wasm/jpeg_yuv.c): when set, the downscale kernels
 * read line r of the image from pdq_wasm_line_source(r) instead of px->data (lines
 * made on demand, in order). A module is one thread, so one global suffices. */
extern const uint8_t *(*pdq_wasm_line_source)(int64_t r);
#define PDQ_IMAGE_LINE(px, r) \
    (pdq_wasm_line_source ? pdq_wasm_line_source(r) : (px)->data + (r) * (px)->row_stride)
#endif

/* Internal: DCT table, filled once at import (th_cpu_init time). */
void pdq_init(void);

#endif
