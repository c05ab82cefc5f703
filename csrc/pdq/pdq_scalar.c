/* PDQ downscale, serial reference: one image line per "vector". */
#include "pdq_layout.h"

#define LANES 1
typedef float vfloat;
static inline vfloat v_load(const float *p) { return *p; }
static inline void v_store(float *p, vfloat v) { *p = v; }
static inline vfloat v_add(vfloat a, vfloat b) { return a + b; }
static inline vfloat v_sub(vfloat a, vfloat b) { return a - b; }
static inline vfloat v_div(vfloat a, vfloat b) { return a / b; }
static inline vfloat v_set1(float x) { return x; }

static void luma_row(const uint8_t *p, int64_t cols, int channels, float *out) {
    if (channels == 1) {
        for (int64_t j = 0; j < cols; j++) out[j] = (float)p[j];
        return;
    }
    for (int64_t j = 0; j < cols; j++, p += channels) {
        out[j] = PDQ_LUMA_R * (float)p[0] + PDQ_LUMA_G * (float)p[1] + PDQ_LUMA_B * (float)p[2];
    }
}

static void transpose_in(const float *src, int64_t stride, int64_t n, float *dst) {
    (void)stride;
    for (int64_t j = 0; j < n; j++) dst[j] = src[j];
}

static void transpose_out(const float *src, int64_t n, float *dst_rows[1]) {
    for (int64_t j = 0; j < n; j++) dst_rows[0][j] = src[j];
}

#define KERNEL_NAME pdq_downscale_scalar
#include "pdq_downscale_body.h"
