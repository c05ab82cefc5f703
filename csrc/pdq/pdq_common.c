/* The ISA-independent part of PDQ: quality metric, 64->16 DCT, lower median,
 * bit packing and the dihedral variants. All of it works on 64x64 or 16x16
 * buffers, so it is cheap; loops are ordered so that each output keeps the
 * reference's summation order while neighbouring outputs can share a vector. */
#include <math.h>
#include <string.h>

#include "pdq.h"
#include "pdq_layout.h"
#include "../common/select_kth.h"

static float g_dct[16][64];  /* D[i][j], i = frequency 1..16 */
static float g_dct_t[64][16]; /* transposed, for B = T * D^T */
static int g_dct_ready;

void pdq_init(void) {
    if (g_dct_ready) return;
    /* The reference rounds the scale to float, then multiplies it by a double
     * cosine and stores the double product as float. */
    const float scale = (float)sqrt(2.0 / 64.0);
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 64; j++) {
            double arg = (pi / 2.0 / 64.0) * (double)(i + 1) * (double)(2 * j + 1);
            g_dct[i][j] = (float)((double)scale * cos(arg));
            g_dct_t[j][i] = g_dct[i][j];
        }
    }
    g_dct_ready = 1;
}

static int quality_metric(const float a[64][64]) {
    int gradient_sum = 0;
    for (int i = 0; i < 63; i++) {
        for (int j = 0; j < 64; j++) {
            float t = (a[i][j] - a[i + 1][j]) * 100.0f;
            int d = (int)(t / 255.0f);
            gradient_sum += d < 0 ? -d : d;
        }
    }
    for (int i = 0; i < 64; i++) {
        for (int j = 0; j < 63; j++) {
            float t = (a[i][j] - a[i][j + 1]) * 100.0f;
            int d = (int)(t / 255.0f);
            gradient_sum += d < 0 ? -d : d;
        }
    }
    int quality = gradient_sum / 90;
    return quality > 100 ? 100 : quality;
}

/* B = D A D^T. Each output is one float accumulator summed over k = 0..63 in
 * order, as in the reference; the inner loop runs across outputs, not k. */
static void dct64_to_16(const float a[64][64], float b[16][16]) {
    float t[16][64];
    for (int i = 0; i < 16; i++) {
        float acc[64] = {0};
        for (int k = 0; k < 64; k++) {
            const float d = g_dct[i][k];
            for (int j = 0; j < 64; j++) acc[j] += d * a[k][j];
        }
        memcpy(t[i], acc, sizeof acc);
    }
    for (int i = 0; i < 16; i++) {
        float acc[16] = {0};
        for (int k = 0; k < 64; k++) {
            const float v = t[i][k];
            for (int j = 0; j < 16; j++) acc[j] += v * g_dct_t[k][j];
        }
        memcpy(b[i], acc, sizeof acc);
    }
}

TH_DEFINE_SELECT_KTH(select_kth_float, float)

/* The 128th smallest of 256 values (the reference's Torben median returns the
 * lower median for even n). Quickselect on a copy. */
static float lower_median_256(const float *values) {
    float v[256];
    memcpy(v, values, sizeof v);
    return select_kth_float(v, 256, 127);
}

static void to_bits(const float b[16][16], uint8_t out[PDQ_HASH_BYTES]) {
    const float median = lower_median_256(&b[0][0]);
    uint16_t words[16];
    for (int i = 0; i < 16; i++) {
        uint16_t w = 0;
        for (int j = 0; j < 16; j++) {
            if (b[i][j] > median) w |= (uint16_t)(1u << j);
        }
        words[i] = w;
    }
    /* The reference prints word 15 first, each as %04x. */
    for (int w = 0; w < 16; w++) {
        out[2 * (15 - w)] = (uint8_t)(words[w] >> 8);
        out[2 * (15 - w) + 1] = (uint8_t)(words[w] & 0xff);
    }
}

/* Dihedral variants from the DCT alone (PDQ.md step 10): a variant is a
 * transpose and/or a sign pattern on odd frequencies. */
static void dihedral(const float b[16][16], int which, float out[16][16]) {
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 16; j++) {
            const float v = b[i][j];
            const int oi = i & 1, oj = j & 1, oij = (i + j) & 1;
            switch (which) {
            case 1: out[j][i] = oj ? v : -v; break;   /* rot90 */
            case 2: out[i][j] = oij ? -v : v; break;  /* rot180 */
            case 3: out[j][i] = oi ? v : -v; break;   /* rot270 */
            case 4: out[i][j] = oi ? v : -v; break;   /* flipx */
            case 5: out[i][j] = oj ? v : -v; break;   /* flipy */
            case 6: out[j][i] = v; break;             /* flipp */
            case 7: out[j][i] = oij ? -v : v; break;  /* flipm */
            default: out[i][j] = v; break;            /* original */
            }
        }
    }
}

static pdq_downscale_fn downscale_for(th_isa isa) {
    switch (isa) {
#if defined(__wasm_simd128__)
    /* the page's SIMD128 module has one level, and it is this kernel */
    case TH_ISA_SCALAR: return pdq_downscale_wasm128;
#else
    case TH_ISA_SCALAR: return pdq_downscale_scalar;
#endif
#if defined(__x86_64__) || defined(_M_X64)
    case TH_ISA_AVX2: return pdq_downscale_avx2;
    case TH_ISA_AVX512: return pdq_downscale_avx512;
#endif
#if defined(__aarch64__)
    case TH_ISA_NEON: return pdq_downscale_scalar; /* no NEON PDQ kernel yet */
#endif
    default: return NULL;
    }
}

size_t pdq_scratch_floats(int64_t rows, int64_t cols) {
    pdq_layout lay;
    if (!pdq_layout_compute(rows, cols, &lay)) return 0;
    return lay.total;
}

static void luma_64x64(const th_pixels *px, float out[64][64]) {
    for (int i = 0; i < 64; i++) {
        const uint8_t *p = px->data + (int64_t)i * px->row_stride;
        for (int j = 0; j < 64; j++, p += px->channels) {
            if (px->channels == 1) {
                out[i][j] = (float)p[0];
            } else {
                out[i][j] = PDQ_LUMA_R * (float)p[0] + PDQ_LUMA_G * (float)p[1] +
                            PDQ_LUMA_B * (float)p[2];
            }
        }
    }
}

int pdq_hash(const th_pixels *px, th_isa isa, int dihedral_wanted, float *scratch,
             uint8_t hashes[][PDQ_HASH_BYTES], int *quality) {
    if (px == NULL || hashes == NULL || quality == NULL || px->data == NULL ||
        px->rows <= 0 || px->cols <= 0 ||
        (px->channels != 1 && px->channels != 3 && px->channels != 4) ||
        px->row_stride < px->cols * px->channels) {
        return TH_EBADARG;
    }
    const int nhash = dihedral_wanted ? PDQ_NUM_DIHEDRAL : 1;
    if (px->rows < PDQ_MIN_DIM || px->cols < PDQ_MIN_DIM) {
        memset(hashes, 0, (size_t)nhash * PDQ_HASH_BYTES);
        *quality = 0;
        return TH_OK;
    }
    pdq_downscale_fn downscale = downscale_for(isa);
    if (downscale == NULL || !th_isa_supported(isa)) return TH_EISA;
    pdq_init();

    float a[64][64];
    if (!dihedral_wanted && px->rows == 64 && px->cols == 64) {
        /* The reference's single-hash entry point takes a 64x64 image as is. */
        luma_64x64(px, a);
    } else {
        if (scratch == NULL) return TH_EBADARG;
        downscale(px, scratch, &a[0][0]);
    }
    *quality = quality_metric((const float(*)[64])a);
    float b[16][16];
    dct64_to_16((const float(*)[64])a, b);
    to_bits((const float(*)[16])b, hashes[0]);
    for (int v = 1; v < nhash; v++) {
        float bv[16][16];
        dihedral((const float(*)[16])b, v, bv);
        to_bits((const float(*)[16])bv, hashes[v]);
    }
    return TH_OK;
}
