/* entropy.c: the entropy label coding (label_coding 1, spec §4.2).
 *
 * A context model over already coded neighbours and LZMA's binary range coder. Each label is
 * "equals W?", "equals N?", "equals NE?", "equals NW?" (skipping candidates equal to an
 * earlier one), and when none matches, its bits from the top, in a binary tree whose
 * contexts follow the gradient prediction W + N - NW. Encoder and decoder run the same
 * model code (code_labels below, instantiated twice), so the two cannot drift apart.
 */
#include <stdlib.h>
#include <string.h>

#include "vqcore.h"

#define PROBABILITY_ONE (1 << 16) /* P(bit = 1) in units of 2**-16 */
#define PROBABILITY_MIN 32
#define PROBABILITY_MAX (PROBABILITY_ONE - 32)
#define MAX_SHIFT 5 /* adaptation shift: 1 + updates / 4, at most this */
#define CANDIDATES 4
#define PATTERNS 64 /* six equality bits between neighbours */
#define ACTIVITY_CLASSES 4
#define TREE_NODES 256
#define TREE_STATES 4
#define FLAG_MODELS (CANDIDATES * PATTERNS * ACTIVITY_CLASSES)
#define MODELS (FLAG_MODELS + ACTIVITY_CLASSES * TREE_NODES * TREE_STATES)
#define TOP (1u << 24) /* renormalise while the range is below this */

/* A model: its probability and how many updates it has seen (capped), side by side so that
 * one decision touches one cache line. */
typedef struct {
    uint16_t probability;
    uint16_t updates;
} model_t;

typedef struct {
    model_t model[MODELS];
} models_t;

/* The adaptation shift after n updates: 1 + n / 4, at most MAX_SHIFT. */
static const uint8_t SHIFT[4 * MAX_SHIFT + 1] = {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4,
                                                 5, 5, 5, 5, 5};

size_t vq_entropy_work_bytes(uint32_t width) {
    return sizeof(models_t) + 3 * ((size_t)width + 3);
}

/* The coder's state. The encoder's low can carry into bit 32, so it is 64 bits wide; the
 * decoder keeps its code value in low. */
typedef struct {
    uint32_t range;
    uint64_t low;
    uint8_t cache;
    uint64_t pending;
    size_t pos;
    int started; /* encoder: the first byte out is always 0 and is not stored */
    int failed;  /* encoder: out is full; decoder: read past the end */
    uint8_t *out;
    const uint8_t *in;
    size_t size;
} coder_t;

static void shift_low(coder_t *c) {
    if (c->low < 0xFF000000u || c->low > 0xFFFFFFFFu) {
        uint8_t carry = (uint8_t)(c->low >> 32);
        uint8_t byte = c->cache;
        while (c->pending > 0) {
            if (c->started) {
                if (c->pos < c->size)
                    c->out[c->pos] = (uint8_t)(byte + carry);
                else
                    c->failed = 1;
                c->pos++;
            } else {
                c->started = 1;
            }
            byte = 0xFF;
            c->pending--;
        }
        c->cache = (uint8_t)(c->low >> 24);
    }
    c->pending++;
    c->low = (c->low & 0x00FFFFFFu) << 8;
}

static inline void adapt(model_t *s, int bit) {
    int n = s->updates;
    int shift = SHIFT[n];
    int p = s->probability;
    /* Towards 65536 for a 1, towards 0 for a 0; both computed, one kept (no branch). */
    int up = (PROBABILITY_ONE - p) >> shift, down = p >> shift;
    p += bit ? up : -down;
    p = p < PROBABILITY_MIN ? PROBABILITY_MIN : p > PROBABILITY_MAX ? PROBABILITY_MAX : p;
    s->probability = (uint16_t)p;
    s->updates = (uint16_t)(n + (n < 4 * MAX_SHIFT));
}

static inline int encode_bit(coder_t *c, models_t *m, int model, int bit) {
    model_t *s = &m->model[model];
    uint32_t bound = (c->range >> 16) * s->probability;
    if (bit) {
        c->range = bound;
    } else {
        c->low += bound;
        c->range -= bound;
    }
    while (c->range < TOP) {
        c->range <<= 8;
        shift_low(c);
    }
    adapt(s, bit);
    return bit;
}

/* Returns the bit, or -1 at the first read past the payload's end: a valid payload never
 * needs one (the encoder's flush writes every byte the decoder will read). */
static inline int decode_bit(coder_t *c, models_t *m, int model) {
    model_t *s = &m->model[model];
    uint32_t bound = (c->range >> 16) * s->probability;
    uint32_t code = (uint32_t)c->low;
    int bit = code < bound;
    /* Branchless: the bit is what the coder cannot predict. */
    uint32_t keep = 0u - (uint32_t)bit; /* all ones for a 1 */
    code -= bound & ~keep;
    c->range = (bound & keep) | ((c->range - bound) & ~keep);
    while (c->range < TOP) {
        if (c->pos >= c->size) return -1;
        c->range <<= 8;
        code = (code << 8) | c->in[c->pos++];
    }
    c->low = code;
    adapt(s, bit);
    return bit;
}

/* One loop for both directions; DECODING is a compile-time constant in each instance. */
#define CODE_LABELS(NAME, DECODING)                                                          \
    static int64_t NAME(coder_t *c, uint8_t *labels, uint32_t width, uint32_t height,       \
                        int bits, void *work) {                                             \
        models_t *m = (models_t *)work;                                                     \
        size_t stride = (size_t)width + 3;                                                  \
        uint8_t *rows = (uint8_t *)work + sizeof(models_t);                                 \
        const int top = (1 << bits) - 1;                                                    \
        for (int i = 0; i < MODELS; i++) {                                                  \
            m->model[i].probability = PROBABILITY_ONE / 2;                                  \
            m->model[i].updates = 0;                                                        \
        }                                                                                   \
        /* Three rows of width + 3: two border columns left, one right (spec §4.2). The    \
         * rows above the image are zero. */                                                \
        memset(rows, 0, 3 * stride);                                                        \
        for (uint32_t y = 0; y < height; y++) {                                             \
            uint8_t *cur = rows + (y % 3) * stride + 2;                                     \
            const uint8_t *up = rows + ((y + 2) % 3) * stride + 2;                          \
            const uint8_t *up2 = rows + ((y + 1) % 3) * stride + 2;                         \
            uint8_t *row_labels = labels + (size_t)y * width;                               \
            cur[-1] = cur[-2] = up[0];                                                      \
            for (ptrdiff_t x = 0; x < (ptrdiff_t)width; x++) {                              \
                int w = cur[x - 1], ww = cur[x - 2];                                        \
                int n = up[x], nw = up[x - 1], ne = up[x + 1], nn = up2[x];                 \
                int pattern = (w == n) | (n == ne) << 1 | (n == nw) << 2 | (w == nw) << 3 | \
                              (w == ww) << 4 | (n == nn) << 5;                              \
                int activity = abs(w - nw) + abs(n - nw) + abs(n - ne);                     \
                int a = activity == 0 ? 0 : activity == 1 ? 1 : activity <= 3 ? 2 : 3;     \
                int v = DECODING ? 0 : row_labels[x];                                       \
                int matched = 0;                                                            \
                for (int k = 0; k < CANDIDATES && !matched; k++) {                          \
                    int cand;                                                               \
                    if (k == 0) {                                                           \
                        cand = w;                                                           \
                    } else if (k == 1) {                                                    \
                        if (n == w) continue;                                               \
                        cand = n;                                                           \
                    } else if (k == 2) {                                                    \
                        if (ne == w || ne == n) continue;                                   \
                        cand = ne;                                                          \
                    } else {                                                                \
                        if (nw == w || nw == n || nw == ne) continue;                       \
                        cand = nw;                                                          \
                    }                                                                       \
                    int model = (k * PATTERNS + pattern) * ACTIVITY_CLASSES + a;            \
                    int bit = DECODING ? decode_bit(c, m, model)                            \
                                       : encode_bit(c, m, model, v == cand);                \
                    if (bit < 0) return VQ_ERR_OVERRUN;                                     \
                    if (bit) {                                                              \
                        v = cand;                                                           \
                        matched = 1;                                                        \
                    }                                                                       \
                }                                                                           \
                if (!matched) {                                                             \
                    int prediction = w + n - nw;                                            \
                    prediction = prediction < 0 ? 0 : prediction > top ? top : prediction;  \
                    int node = 1, tree_state = 0;                                           \
                    for (int b = bits - 1; b >= 0; b--) {                                   \
                        int predicted = (prediction >> b) & 1;                              \
                        int s = tree_state >= 2 ? tree_state : predicted;                   \
                        int model =                                                         \
                            FLAG_MODELS + (a * TREE_NODES + node) * TREE_STATES + s;        \
                        int bit = DECODING ? decode_bit(c, m, model)                        \
                                           : encode_bit(c, m, model, (v >> b) & 1);         \
                        if (bit < 0) return VQ_ERR_OVERRUN;                                 \
                        if (tree_state < 2 && bit != predicted) tree_state = 2 + bit;       \
                        node = 2 * node + bit;                                              \
                    }                                                                       \
                    v = node - (1 << bits);                                                 \
                }                                                                           \
                cur[x] = (uint8_t)v;                                                        \
                if (DECODING) row_labels[x] = (uint8_t)v;                                   \
            }                                                                               \
            cur[width] = cur[width - 1];                                                    \
            if (!DECODING && c->failed) return VQ_ERR_FULL; /* past the budget: stop */     \
        }                                                                                   \
        return VQ_OK;                                                                       \
    }

CODE_LABELS(encode_labels, 0)
CODE_LABELS(decode_labels, 1)

int64_t vq_entropy_encode(const uint8_t *labels, uint32_t width, uint32_t height, int bits,
                          uint8_t *out, size_t capacity, void *work) {
    if (bits < 1 || bits > 8 || width == 0 || height == 0) return VQ_ERR_ARGS;
    coder_t c = {0xFFFFFFFFu, 0, 0, 1, 0, 0, 0, out, NULL, capacity};
    /* The encoder only reads labels; the cast lets one loop serve both directions. */
    int64_t status = encode_labels(&c, (uint8_t *)labels, width, height, bits, work);
    if (status < 0) return status;
    for (int i = 0; i < 5; i++) shift_low(&c); /* flush: pending bytes and low's four */
    return c.failed ? VQ_ERR_FULL : (int64_t)c.pos;
}

int64_t vq_entropy_decode(const uint8_t *payload, size_t size, uint32_t width,
                          uint32_t height, int bits, uint8_t *labels, void *work) {
    if (bits < 1 || bits > 8 || width == 0 || height == 0) return VQ_ERR_ARGS;
    if (size < 4) return VQ_ERR_OVERRUN;
    coder_t c = {0xFFFFFFFFu, 0, 0, 0, 4, 0, 0, NULL, payload, size};
    c.low = (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
            (uint32_t)payload[2] << 8 | payload[3];
    int64_t status = decode_labels(&c, labels, width, height, bits, work);
    return status < 0 ? status : (int64_t)c.pos;
}
