/* Line parser for hash lists: plain hex, python-threatexchange "pdq <hex>" and the
 * PDQ C++ tool's "hash,quality,filename" CSV, one hash a line.
 *
 * Scalar C99, no allocation, no I/O: the caller passes a buffer of lines and owns
 * every output array. The parser takes the lines it is sure of and stops at the
 * first line it does not take, reporting where that line is and why, so the caller
 * can report it (or hand it to a slower parser) and call again after it. See
 * README.md for the grammar. */
#ifndef TIDEHASH_HEXLINES_H
#define TIDEHASH_HEXLINES_H

#include <stdint.h>

#include "../common/status.h"

#define HEXLINES_MAX_HASH_BYTES 32

/* Line grammars. */
enum {
    HEXLINES_PLAIN = 0,  /* <hex> */
    HEXLINES_PYTX = 1,   /* pdq<blank>+<hex>              (nbytes must be 32) */
    HEXLINES_PDQCSV = 2  /* <hex>,<quality>[,<filename>]  (nbytes must be 32) */
};

/* Return values: why the parser returned. */
enum {
    HEXLINES_DONE = 0,   /* every complete line is consumed (a partial last line is left
                            unless `final`) */
    HEXLINES_FULL = 1,   /* an output array is full: drain it and call again */
    HEXLINES_STOP = 2,   /* the line [stop_start, stop_end) was not taken: see `code` */
    HEXLINES_EBADARG = TH_EBADARG
};

/* Why a line was not taken (hexlines_result.code). */
enum {
    HEXLINE_OK = 0,
    HEXLINE_LENGTH = 1,   /* hash field of hex digits, but not 2 * nbytes of them */
    HEXLINE_NONHEX = 2,   /* hash field holds a character that is not a hex digit */
    HEXLINE_ZERO = 3,     /* all-zero hash: the PDQ reference's output for unhashable images */
    HEXLINE_QUALITY = 4,  /* CSV quality is not an integer in 0..100 */
    HEXLINE_SYNTAX = 5,   /* CSV line without a ",quality" field */
    HEXLINE_OTHER = 6     /* not for the fast path (a pytx tag other than "pdq", a CSV
                             "hash=..." details line): the caller decides */
};

typedef struct {
    uint8_t *hashes;        /* cap x nbytes */
    int64_t *line_numbers;  /* cap: the line number of each hash */
    int16_t *quality;       /* cap, PDQCSV only: quality, -1 when the field is empty */
    int64_t *label_ends;    /* cap, PDQCSV only: end of each filename in `labels` */
    uint8_t *labels;        /* labels_cap bytes, PDQCSV only: filenames, back to back */
    int64_t cap;
    int64_t labels_cap;
} hexlines_out;

typedef struct {
    int64_t parsed;       /* hashes written */
    int64_t consumed;     /* bytes done: resume at buf + consumed */
    int64_t lines;        /* complete lines done (blank and comment lines included) */
    int64_t label_bytes;  /* bytes written to labels */
    int64_t stop_start;   /* HEXLINES_STOP: the line not taken, without its '\n'; its */
    int64_t stop_end;     /*   number is first_line + lines */
    int32_t code;         /* HEXLINES_STOP: a HEXLINE_* reason */
} hexlines_result;

/* Parses the lines of buf[0, len). A line ends at '\n' (CRLF too); leading blanks and
 * trailing blanks and '\r' are ignored; empty lines and lines starting with '#' are
 * skipped. Hex digits are either case. Unless `final`, a last line without '\n' is left
 * for the next call (it may continue in the next chunk). `first_line` is the number of
 * the line at buf[0]. With `reject_zero`, an all-zero hash stops the parser. */
int hexlines_parse(const uint8_t *buf, int64_t len, int final, int mode, int nbytes,
                   int reject_zero, int64_t first_line, const hexlines_out *out,
                   hexlines_result *res);

#endif
