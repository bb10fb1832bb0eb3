/* harness.h: what the libFuzzer harnesses share: the input layout, a derived codebook, checks.
 *
 * Input layout (make_seeds.py writes it from real .vq files):
 *
 *   byte 0     bits 0-2: bits - 1 (1..8); bits 3-4: channels (0: 1, 1: 3, 2: 4, 3: 1);
 *              bit 5: the harness's second mode (see each harness); bits 6-7 ignored
 *   bytes 1-2  width - 1, u16 little-endian (1..65536)
 *   bytes 3-4  height - 1, u16 little-endian (1..65536)
 *   byte 5     codebook entries - 1 (1..256; any, not only <= 2**bits, to reach the label check)
 *   bytes 6..  the payload (entropy-coded or packed labels, or raw labels for the round trip)
 *
 * Outside the decoder's bound check, width * height is cut (cut_labels, cut_decisions) so
 * that no input takes more than a fraction of libFuzzer's -timeout=1 under the sanitizers.
 */
#ifndef VQ_HARNESS_H
#define VQ_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqcore.h"

#define HEADER_BYTES 6
#define MAX_LABELS (1u << 15)    /* the packed harness: 4096 groups of 8 labels */
#define MAX_DECISIONS (1u << 16) /* the entropy harnesses, see cut_decisions */

/* A failed check prints where and why, then aborts: libFuzzer saves the input as crash-*. */
#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n  ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

typedef struct {
    int bits, channels, entries, mode;
    uint32_t width, height;
    uint64_t count; /* width * height, after the cut */
    const uint8_t *payload;
    size_t size;
} input_t;

/* Spec §4.1 read bit by bit: label i of a packed payload, bits (1..16) MSB first. */
static inline unsigned reference_label(const uint8_t *payload, uint64_t i, int bits) {
    unsigned v = 0;
    for (int b = 0; b < bits; b++) {
        uint64_t at = i * bits + b;
        v = v << 1 | ((payload[at / 8] >> (7 - at % 8)) & 1);
    }
    return v;
}

static inline int parse_input(const uint8_t *data, size_t size, input_t *in) {
    static const int channel_counts[4] = {1, 3, 4, 1};
    if (size < HEADER_BYTES) return 0;
    in->bits = (data[0] & 7) + 1;
    in->channels = channel_counts[(data[0] >> 3) & 3];
    in->mode = (data[0] >> 5) & 1;
    in->width = (uint32_t)(data[1] | data[2] << 8) + 1;
    in->height = (uint32_t)(data[3] | data[4] << 8) + 1;
    in->entries = data[5] + 1;
    in->count = (uint64_t)in->width * in->height;
    in->payload = data + HEADER_BYTES;
    in->size = size - HEADER_BYTES;
    return 1;
}

/* Spec §4.2: every label costs at least one decision, and each decision shrinks the coder's
 * range by at least 0.000702 bits (a factor 1 - 2**-11 + 2**-19 at worst, range >= 2**24),
 * so n payload bytes hold at most 11,398 * (n - 3) labels; the spec states "more than
 * 3 + pixels / 11,412" bytes, and its header rule asks for 3 + floor(pixels / 16384). */
static inline int payload_pays_for(uint64_t bytes, uint64_t labels) {
    return bytes >= 4 && (bytes - 3) * 11412 > labels;
}

/* Cut width * height to at most max labels: height first, then width. */
static inline void cut_labels(input_t *in, uint64_t max) {
    if (in->count <= max) return;
    if (in->width > max) in->width = (uint32_t)max;
    in->height = (uint32_t)(max / in->width);
    in->count = (uint64_t)in->width * in->height;
}

/* The entropy harnesses' cut: at most MAX_DECISIONS decisions a pass (4 + bits a label at
 * most). Under the sanitizers a decision costs 40-200 ns (without and with trace-cmp hooks)
 * and a harness runs the coder five or six times an input: the slowest input stays near
 * 0.1 s, well inside -timeout=1, and the typical one is much faster. */
static inline void cut_decisions(input_t *in) { cut_labels(in, MAX_DECISIONS / (4 + in->bits)); }

/* ---- label_coding 2, "entropy2" (spec §4.3) ------------------------------------------- */

/* The entropy2 harnesses' cut: at most MAX_PIXELS2 labels a pass outside the bound check. The
 * coder makes one multi-symbol decision a label (a few on a literal), so a pass costs about
 * what one of entropy's 2**16-decision passes costs (fuzz/README.md has the timings). */
#define MAX_PIXELS2 (1u << 14)

static inline void cut_pixels2(input_t *in) { cut_labels(in, MAX_PIXELS2); }

/* Labels one payload byte can pay for. Spec §4.3's header rule allows 2**25; the coder obeys
 * a tighter bound, which the harnesses check instead: the cheapest symbol is a run symbol
 * of at most 256 labels at a frequency of at most 32768 - 4 * 15, at least 0.0026 bits, so
 * at most about 776,000 labels a byte beyond the states' 4 free bytes (< 2**20). */
#define ENT2_PIXELS_PER_BYTE 1048576u
#define ENT2_LEAST 8u
#define HUGE_PAYLOAD2 32

/* Spec §4.3's header rule: a payload of bytes bytes is long enough for labels labels. */
static inline int entropy2_pays_for(uint64_t bytes, uint64_t labels) {
    return bytes >= ENT2_LEAST && bytes >= 4 + labels / ENT2_PIXELS_PER_BYTE;
}

/* The most labels a payload of bytes bytes can pay for under that rule. */
static inline uint64_t entropy2_payable(uint64_t bytes) {
    return bytes < 4 ? 0 : (bytes - 4 + 1) * ENT2_PIXELS_PER_BYTE - 1;
}

/* An encoder budget no label map can exceed. */
static inline size_t entropy2_capacity(uint64_t count, int bits) {
    (void)bits;
    return (size_t)(count * 5 + 64);
}

/* The decoder's errors (vqcore.h): a read past the end, a run past its span, a state no
 * valid payload has. Never VQ_ERR_ARGS: the harnesses pass valid dimensions and bits. */
static inline int entropy2_decode_error(int64_t status) {
    return status == VQ_ERR_OVERRUN || status == VQ_ERR_RUN || status == VQ_ERR_STATE ||
           status == VQ_ERR_LABEL; /* a residual literal ranked past the last label */
}

/* The literal mode of an entropy2 payload of that many bits (spec §4.3): symbol 0, one raw
 * bit, is the top bit of the first state's 15-bit slot; 0 for bits <= 4 (no mode symbol). */
static inline int entropy2_mode(const uint8_t *payload, size_t size, int bits) {
    return bits > 4 && size >= 4 ? (payload[2] >> 6) & 1 : 0;
}

/* A codebook whose entries differ in every channel (37 and 101 are odd), so that a label
 * mixed up with another shows in the pixels. Exactly entries * channels bytes on the heap. */
static inline uint8_t *make_codebook(int entries, int channels) {
    uint8_t *codebook = malloc((size_t)entries * channels);
    for (int i = 0; i < entries; i++)
        for (int c = 0; c < channels; c++)
            codebook[i * channels + c] = (uint8_t)(i * 37 + c * 101 + 13);
    return codebook;
}

static inline int any_label_outside(const uint8_t *labels, uint64_t count, int entries) {
    for (uint64_t i = 0; i < count; i++)
        if (labels[i] >= entries) return 1;
    return 0;
}

/* out (some gather of labels) against the codebook, pixel by pixel, for every label inside
 * it (vqcore.h leaves the pixels of a label outside the codebook unspecified). */
static inline void check_pixels(const char *what, const uint8_t *out, const uint8_t *labels,
                                uint64_t count, const uint8_t *codebook, int entries,
                                int channels) {
    for (uint64_t i = 0; i < count; i++) {
        if (labels[i] >= entries) continue;
        for (int c = 0; c < channels; c++) {
            uint8_t want = codebook[labels[i] * channels + c];
            CHECK(out[i * channels + c] == want, "%s: pixel %llu channel %d is %d, label %d"
                  " gives %d", what, (unsigned long long)i, c, out[i * channels + c],
                  labels[i], want);
        }
    }
}

#endif
