"""The C kernels' declarations (csrc/), cimported by _native.pyx and nothing else.
Each block mirrors one header; the comments of the header are the documentation."""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t

cdef extern from "common/status.h":
    # every kernel returns one of these (check_status in _native.pyx)
    int TH_OK, TH_EBADARG, TH_EISA, TH_ESINK

cdef extern from "cpu/cpu.h":
    void th_cpu_init()
    uint32_t th_cpu_features()
    int th_isa_supported(int isa)
    int th_best_isa()
    const char *th_isa_name(int isa)
    int TH_ISA_COUNT

cdef extern from "common/pixels.h":
    ctypedef struct th_pixels:
        const uint8_t *data
        int64_t rows
        int64_t cols
        int64_t row_stride
        int channels

cdef extern from "pdq/pdq.h":
    size_t pdq_scratch_floats(int64_t rows, int64_t cols) nogil
    int pdq_hash(const th_pixels *px, int isa, int dihedral, float *scratch,
                 uint8_t hashes[][32], int *quality) nogil
    void pdq_init()

cdef extern from "phash/phash.h":
    ctypedef struct phash_plan:
        int hash_size
        int n
        int64_t width
        int64_t height
        int64_t row_first
        int64_t row_last
    int PHASH_MIN_HASH_SIZE, PHASH_MAX_HASH_SIZE
    size_t phash_workspace_bytes(int64_t width, int64_t height, int hash_size,
                                 int vertical_first) nogil
    size_t phash_table_len(int64_t in_size, int out_size) nogil
    int phash_coeffs_ksize(int64_t in_size, int out_size) nogil
    int phash_table_fill(int64_t in_size, int out_size, int32_t *table, double *dscratch) nogil
    int phash_plan_init(phash_plan *plan, int64_t width, int64_t height, int hash_size,
                        int vertical_first, const int32_t *h_table, const int32_t *v_table,
                        void *workspace) nogil
    int phash_rows(const phash_plan *plan, const th_pixels *px, int64_t first_row,
                   int isa) nogil
    int phash_finish(const phash_plan *plan, int isa, uint8_t *grey) nogil
    ctypedef struct phash_bits_info:
        double median
        double margin
        double tol
        int decided
    size_t phash_bits_work_doubles(int hash_size) nogil
    int phash_bits(const uint8_t *grey, int hash_size, double *work, uint8_t *out, double *low,
                   phash_bits_info *info) nogil
    int phash_finish_bits(const phash_plan *plan, int isa, uint8_t *grey, uint8_t *out,
                          double *low, phash_bits_info *info) nogil

cdef extern from "hamming/hamming.h":
    ctypedef struct hamming_hit:
        int64_t query
        int64_t row
        int32_t distance
    ctypedef int (*hamming_sink)(void *ctx, const hamming_hit *hits, int64_t n) noexcept nogil
    ctypedef struct hamming_db:
        const uint64_t *db
        int64_t n
        int64_t row_base
        int words
    ctypedef struct hamming_kernels:
        int (*distances)(const uint64_t *q, int64_t nq, const hamming_db *db,
                         int32_t *out) noexcept nogil
        int (*range)(const uint64_t *q, int64_t nq, const hamming_db *db, int radius,
                     hamming_sink sink, void *ctx) noexcept nogil
        int (*knn)(const uint64_t *q, int64_t nq, const hamming_db *db, int k, int32_t *dist,
                   int64_t *rows) noexcept nogil
    const hamming_kernels *hamming_kernels_for(int isa)
    int HAMMING_MAX_WORDS

cdef extern from "mih/mih.h":
    int MIH_MAX_TABLES
    ctypedef struct mih_layout:
        int m
        int words
        int start[64]
        int len[64]
    ctypedef struct mih_tables:
        const uint32_t *const *offsets
        const uint32_t *const *rows
        const uint64_t *codes
        int64_t n
    int mih_build_table(const uint64_t *codes, int64_t n, int words, int start, int len,
                        uint32_t *offsets, uint32_t *rows) nogil
    int mih_range_scalar(const mih_layout *lay, const mih_tables *t, const uint64_t *q,
                         int64_t nq, int radius, hamming_sink sink, void *ctx) nogil
    int mih_range_popcnt(const mih_layout *lay, const mih_tables *t, const uint64_t *q,
                         int64_t nq, int radius, hamming_sink sink, void *ctx) nogil
    double mih_probes_per_table(int len, int sub_radius)

cdef extern from "formats/hexlines.h":
    ctypedef struct hexlines_out:
        uint8_t *hashes
        int64_t *line_numbers
        int16_t *quality
        int64_t *label_ends
        uint8_t *labels
        int64_t cap
        int64_t labels_cap
    ctypedef struct hexlines_result:
        int64_t parsed
        int64_t consumed
        int64_t lines
        int64_t label_bytes
        int64_t stop_start
        int64_t stop_end
        int32_t code
    int HEXLINES_PLAIN, HEXLINES_PYTX, HEXLINES_PDQCSV
    int HEXLINES_DONE, HEXLINES_FULL, HEXLINES_STOP, HEXLINES_EBADARG
    int hexlines_parse(const uint8_t *buf, int64_t len, int final, int mode, int nbytes,
                       int reject_zero, int64_t first_line, const hexlines_out *out,
                       hexlines_result *res) nogil

cdef extern from "formats/dedup.h":
    int64_t rows_group(const uint8_t *rows, int64_t n, int width, uint32_t *table,
                       int table_bits, int64_t *group, int64_t *first) nogil
    int rows_group_order(const int64_t *group, int64_t n, int64_t ngroups, int64_t *offsets,
                         int64_t *order) nogil
