/* The fused luma + two-pass Jarosz filter + 64x64 decimation, written once and
 * compiled once per instruction set. The including file defines:
 *
 *   LANES                 floats per vector (1, 8 or 16)
 *   vfloat                the vector type
 *   v_load/v_store        aligned load/store of LANES floats
 *   v_add/v_sub/v_div     lane-wise IEEE single operations (never fused)
 *   v_set1                broadcast
 *   luma_row(p, cols, channels, out)      one image line to floats
 *   transpose_in(src, stride, n, dst)     LANES lines of n floats -> n x LANES
 *   transpose_out(src, n, dst_rows)       n x LANES -> LANES lines of n floats
 *   KERNEL_NAME           the exported function name
 *
 * Why this shape: the reference runs four full-image 1-D box passes (row,
 * column, row, column), each a sequential running sum. We keep every output's
 * exact operation sequence but stream the image once, line by line:
 *   - a block of LANES lines is converted to luma and transposed, so the row
 *     pass runs with one image line per vector lane;
 *   - the column passes run with one image column per lane over a ring of the
 *     last win_cols + LANES lines;
 *   - the second row pass only divides at the 64 sampled columns and the second
 *     column pass only at the 64 sampled rows, because decimation reads nothing
 *     else. The running sums themselves still visit every sample in order. */

#include <string.h>

#include "pdq_layout.h"

/* Line r of the image, the bytes luma_row reads. An including file may define it to
 * make lines on demand (the page's WebAssembly: a JPEG's Y'CbCr planes converted to RGB
 * one line at a time, never the whole RGB image); each line is read once, in order. */
#ifndef PDQ_IMAGE_LINE
#define PDQ_IMAGE_LINE(px, r) ((px)->data + (r) * (px)->row_stride)
#endif

/* One 1-D box filter along `n` samples for LANES independent lines at once
 * (sample s of lane k at in[s * LANES + k]). The phases and the order of adds
 * and subtracts follow the reference's box1DFloat exactly. With `need` given,
 * outputs are written (and divided) only where need[o] is set. */
static void box_lanes(const float *in, float *out, int64_t n, int64_t w, const uint8_t *need) {
    const int64_t half = (w + 2) / 2;
    const int64_t phase1 = half - 1, phase2 = w - half + 1, phase3 = n - w, phase4 = half - 1;
    int64_t li = 0, ri = 0, oi = 0, count = 0;
    vfloat sum = v_set1(0.0f);
    for (int64_t i = 0; i < phase1; i++, ri++, count++) {
        sum = v_add(sum, v_load(in + ri * LANES));
    }
    for (int64_t i = 0; i < phase2; i++, ri++, oi++) {
        sum = v_add(sum, v_load(in + ri * LANES));
        count++;
        if (need == NULL || need[oi]) v_store(out + oi * LANES, v_div(sum, v_set1((float)count)));
    }
    const vfloat full = v_set1((float)count);
    for (int64_t i = 0; i < phase3; i++, ri++, li++, oi++) {
        sum = v_add(sum, v_load(in + ri * LANES));
        sum = v_sub(sum, v_load(in + li * LANES));
        if (need == NULL || need[oi]) v_store(out + oi * LANES, v_div(sum, full));
    }
    for (int64_t i = 0; i < phase4; i++, li++, oi++) {
        sum = v_sub(sum, v_load(in + li * LANES));
        count--;
        if (need == NULL || need[oi]) v_store(out + oi * LANES, v_div(sum, v_set1((float)count)));
    }
}

typedef struct {
    const pdq_layout *lay;
    float *base;
    int64_t col_sample[64], row_sample[64];
    int64_t half;       /* (win_cols + 2) / 2 */
    int64_t count1, count2;
    int64_t emitted2;   /* lines of pass-1 column output produced so far */
    int next_out_row;   /* next row of the 64x64 output to fill */
    float *out;
} stream_state;

#define AT(st, field) ((st)->base + (st)->lay->field)

/* Pass-2 column filter fed one decimated line (64 floats) at a time. */
static void emit_out_rows(stream_state *st, int64_t line, int64_t count) {
    const float *sum = AT(st, sum2);
    while (st->next_out_row < 64 && st->row_sample[st->next_out_row] == line) {
        float *dst = st->out + (int64_t)st->next_out_row * 64;
        const float c = (float)count;
        for (int j = 0; j < 64; j++) dst[j] = sum[j] / c;
        st->next_out_row++;
    }
}

static void column_pass2_step(stream_state *st, int64_t t) {
    const pdq_layout *lay = st->lay;
    const int64_t w = lay->win_cols;
    float *sum = AT(st, sum2);
    const float *x = AT(st, ring2) + (t % lay->ring_rows) * 64;
    if (t < w) {
        for (int j = 0; j < 64; j++) sum[j] += x[j];
        st->count2++;
        if (t >= st->half - 1) emit_out_rows(st, t - (st->half - 1), st->count2);
    } else {
        const float *leaving = AT(st, ring2) + ((t - w) % lay->ring_rows) * 64;
        for (int j = 0; j < 64; j++) {
            float s = sum[j] + x[j];
            sum[j] = s - leaving[j];
        }
        emit_out_rows(st, t - (st->half - 1), st->count2);
    }
}

/* Row pass 2 on a block of `nb` column-filtered lines starting at line t0. */
static void row_pass2_block(stream_state *st, int64_t t0, int64_t nb) {
    const pdq_layout *lay = st->lay;
    float *cin = AT(st, cols_in), *cout = AT(st, cols_out);
    transpose_in(AT(st, block2), lay->padded_cols, lay->padded_cols, cin);
    box_lanes(cin, cout, lay->cols, lay->win_rows, (const uint8_t *)AT(st, need));
    for (int64_t k = 0; k < nb; k++) {
        const int64_t t = t0 + k;
        float *x = AT(st, ring2) + (t % lay->ring_rows) * 64;
        for (int j = 0; j < 64; j++) x[j] = cout[st->col_sample[j] * LANES + k];
        column_pass2_step(st, t);
    }
}

/* Pass-1 column output line: divide the running sums into the next slot of block2. */
static void emit_line2(stream_state *st) {
    const pdq_layout *lay = st->lay;
    const int64_t pc = lay->padded_cols;
    const float *sum = AT(st, sum1);
    float *dst = AT(st, block2) + (st->emitted2 % LANES) * pc;
    const vfloat c = v_set1((float)st->count1);
    for (int64_t j = 0; j < pc; j += LANES) v_store(dst + j, v_div(v_load(sum + j), c));
    st->emitted2++;
    if (st->emitted2 % LANES == 0) row_pass2_block(st, st->emitted2 - LANES, LANES);
}

static void column_pass1_step(stream_state *st, int64_t t) {
    const pdq_layout *lay = st->lay;
    const int64_t pc = lay->padded_cols, w = lay->win_cols;
    float *sum = AT(st, sum1);
    const float *x = AT(st, ring1) + (t % lay->ring_rows) * pc;
    if (t < w) {
        for (int64_t j = 0; j < pc; j += LANES) v_store(sum + j, v_add(v_load(sum + j), v_load(x + j)));
        st->count1++;
        if (t >= st->half - 1) emit_line2(st);
    } else {
        const float *leaving = AT(st, ring1) + ((t - w) % lay->ring_rows) * pc;
        float *dst = AT(st, block2) + (st->emitted2 % LANES) * pc;
        const vfloat c = v_set1((float)st->count1);
        for (int64_t j = 0; j < pc; j += LANES) {
            vfloat s = v_add(v_load(sum + j), v_load(x + j));
            s = v_sub(s, v_load(leaving + j));
            v_store(sum + j, s);
            v_store(dst + j, v_div(s, c));
        }
        st->emitted2++;
        if (st->emitted2 % LANES == 0) row_pass2_block(st, st->emitted2 - LANES, LANES);
    }
}

void KERNEL_NAME(const th_pixels *px, float *scratch, float *out64x64) {
    pdq_layout lay;
    if (!pdq_layout_compute(px->rows, px->cols, &lay)) return;
    stream_state st;
    st.lay = &lay;
    st.base = pdq_align64(scratch);
    st.out = out64x64;
    st.half = (lay.win_cols + 2) / 2;
    st.count1 = st.count2 = 0;
    st.emitted2 = 0;
    st.next_out_row = 0;
    /* Lanes past the image (the last block's padding lines and columns) are
     * computed and thrown away; zeroing keeps them finite and cheap. */
    memset(st.base, 0, (size_t)(lay.total - PDQ_MAX_LANES) * sizeof(float));
    uint8_t *need = (uint8_t *)AT(&st, need);
    for (int i = 0; i < 64; i++) {
        st.col_sample[i] = pdq_sample_index(i, lay.cols);
        st.row_sample[i] = pdq_sample_index(i, lay.rows);
        need[st.col_sample[i]] = 1;
    }

    const int64_t pc = lay.padded_cols, rows = lay.rows;
    float *block = AT(&st, block), *cin = AT(&st, cols_in), *cout = AT(&st, cols_out);
    for (int64_t r0 = 0; r0 < rows; r0 += LANES) {
        const int64_t nb = rows - r0 < LANES ? rows - r0 : LANES;
        for (int64_t k = 0; k < nb; k++) {
            luma_row(PDQ_IMAGE_LINE(px, r0 + k), lay.cols, px->channels, block + k * pc);
        }
        transpose_in(block, pc, pc, cin);
        box_lanes(cin, cout, lay.cols, lay.win_rows, NULL);
        float *dst_rows[LANES];
        for (int64_t k = 0; k < LANES; k++) {
            dst_rows[k] = k < nb ? AT(&st, ring1) + ((r0 + k) % lay.ring_rows) * pc : AT(&st, junk);
        }
        transpose_out(cout, pc, dst_rows);
        for (int64_t k = 0; k < nb; k++) column_pass1_step(&st, r0 + k);
    }
    /* Phase 4 of the pass-1 column filter: only subtracts, no new lines. */
    for (int64_t m = 0; m < st.half - 1; m++) {
        float *sum = AT(&st, sum1);
        const float *leaving = AT(&st, ring1) + ((rows - lay.win_cols + m) % lay.ring_rows) * pc;
        for (int64_t j = 0; j < pc; j += LANES) v_store(sum + j, v_sub(v_load(sum + j), v_load(leaving + j)));
        st.count1--;
        emit_line2(&st);
    }
    if (st.emitted2 % LANES != 0) {
        const int64_t nb = st.emitted2 % LANES;
        row_pass2_block(&st, st.emitted2 - nb, nb);
    }
    /* Phase 4 of the pass-2 column filter. */
    for (int64_t m = 0; m < st.half - 1; m++) {
        float *sum = AT(&st, sum2);
        const float *leaving = AT(&st, ring2) + ((rows - lay.win_cols + m) % lay.ring_rows) * 64;
        for (int j = 0; j < 64; j++) sum[j] -= leaving[j];
        st.count2--;
        emit_out_rows(&st, rows - st.half + 1 + m, st.count2);
    }
}
