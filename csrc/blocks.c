/* blocks.c: block vector quantization (spec §3, §4.1 for labels wider than 8 bits, §4.4).
 *
 * A block file's labels index code vectors of block_width x block_height pixels. Here: the
 * packing of labels of up to 16 bits, the decoder's painting of each block's code vector
 * into the image (cut at its right and bottom edges), and the encoder's nearest-codeword
 * search over block vectors with the centroid sums of a Lloyd step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vqcore.h"

/* ---- labels of 1..16 bits, MSB first (spec §4.1) ------------------------------------- */

void vq_pack_wide(const uint16_t *labels, uint64_t count, int bits, uint8_t *out) {
    uint32_t acc = 0; /* at most 7 + 16 pending bits */
    int pending = 0;
    for (uint64_t i = 0; i < count; i++) {
        acc = acc << bits | labels[i];
        pending += bits;
        while (pending >= 8) {
            pending -= 8;
            *out++ = (uint8_t)(acc >> pending);
        }
        acc &= (1u << pending) - 1;
    }
    if (pending) *out = (uint8_t)(acc << (8 - pending));
}

void vq_unpack_wide(const uint8_t *payload, uint64_t count, int bits, uint16_t *labels) {
    uint32_t acc = 0, mask = (1u << bits) - 1;
    int have = 0;
    for (uint64_t i = 0; i < count; i++) {
        while (have < bits) {
            acc = acc << 8 | *payload++;
            have += 8;
        }
        have -= bits;
        labels[i] = (uint16_t)(acc >> have & mask);
        acc &= (1u << have) - 1;
    }
}

/* ---- decoding: each label's code vector into its block of the image ------------------ */

/* One row of blocks, each block row a copy of wide bytes: one instance per common size
 * (below), so that the copies are constant-size moves, not calls. */
static inline unsigned paint_row(const uint16_t *labels, uint32_t columns, int tall,
                                 const uint8_t *codebook, unsigned entries, size_t entry,
                                 size_t block_row, size_t image_row, size_t wide, uint8_t *top) {
    unsigned outside = 0;
    for (uint32_t bx = 0; bx < columns; bx++) {
        unsigned label = labels[bx];
        outside |= label >= entries;
        const uint8_t *code = codebook + (label < entries ? label : 0) * entry;
        uint8_t *o = top + bx * block_row;
        for (int r = 0; r < tall; r++) memcpy(o + r * image_row, code + r * block_row, wide);
    }
    return outside;
}

int vq_paint(const uint16_t *labels, uint32_t width, uint32_t height, int block_width,
             int block_height, const uint8_t *codebook, int entries, int channels,
             uint8_t *out) {
    /* In 64 bits: width + block_width - 1 would wrap in 32 near 2**32. */
    const uint32_t columns = (uint32_t)(((uint64_t)width + block_width - 1) / block_width);
    const uint32_t rows = (uint32_t)(((uint64_t)height + block_height - 1) / block_height);
    const size_t entry = (size_t)block_width * block_height * channels;
    const size_t block_row = (size_t)block_width * channels, image_row = (size_t)width * channels;
    /* Whole blocks, then the last column's, cut at the right edge. */
    const uint32_t whole = width / block_width;
    const size_t last = (width - (size_t)whole * block_width) * channels;
    unsigned outside = 0;
    for (uint32_t by = 0; by < rows; by++) {
        const uint64_t y = (uint64_t)by * block_height;
        const int tall = height - y < (uint64_t)block_height ? (int)(height - y) : block_height;
        const uint16_t *row = labels + (size_t)by * columns;
        uint8_t *top = out + y * image_row;
#define PAINT(WIDE)                                                                          \
    paint_row(row, whole, tall, codebook, (unsigned)entries, entry, block_row, image_row, WIDE, \
              top)
        switch (block_row) {
        case 2: outside |= PAINT(2); break;
        case 3: outside |= PAINT(3); break;
        case 4: outside |= PAINT(4); break;
        case 6: outside |= PAINT(6); break;
        case 8: outside |= PAINT(8); break;
        case 12: outside |= PAINT(12); break;
        case 16: outside |= PAINT(16); break;
        default: outside |= PAINT(block_row); break;
        }
#undef PAINT
        if (last)
            outside |= paint_row(row + whole, 1, tall, codebook, (unsigned)entries, entry,
                                 block_row, image_row, last, top + whole * block_row);
    }
    return outside ? VQ_ERR_LABEL : VQ_OK;
}

/* ---- encoding: the nearest codeword of each block vector ------------------------------ */

/* Codewords in ascending order of their component sums. For a vector x of sum s and spread
 * u = |x - mean(x)| (its distance from its own flat block), and a codeword c of sum t and
 * spread w, |x - c|**2 = (s - t)**2 / dim + |(x - mean x) - (c - mean c)|**2, at least
 * (s - t)**2 / dim + (u - w)**2. So the search walks out from x's place in this order and
 * stops in each direction once the first term alone passes the best distance found
 * (mean-ordered search), skips a codeword whose two terms pass it (Lee and Chen's
 * variance bound), and stops summing a distance once it passes it (partial distance). */
typedef struct {
    float sum;     /* an integer for integer codewords: exact in float (at most 255 x 256) */
    double spread; /* irrational in general: in double, so that the margin below covers it */
    int index;
} ranked;

static int by_sum(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->sum != y->sum) return x->sum < y->sum ? -1 : 1;
    return x->index - y->index;
}

/* |x - c|**2, or a value above best as soon as the partial sum passes it. Eight lanes, each
 * summing every eighth component in a fixed order, so that the loop vectorizes without
 * reassociating any sum (the result does not depend on the compiler). */
static inline float distance(const float *x, const float *c, int dim, float best) {
    float lanes[8] = {0};
    int d = 0;
    for (; d + 8 <= dim; d += 8) {
        for (int j = 0; j < 8; j++) {
            float e = x[d + j] - c[d + j];
            lanes[j] += e * e;
        }
        if ((d & 15) == 8 || d + 16 > dim) { /* every 16 components: passed best yet? */
            float total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                          ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
            if (total > best) return total;
        }
    }
    float total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                  ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (; d < dim; d++) {
        float e = x[d] - c[d];
        total += e * e;
    }
    return total;
}

/* The sum and spread (see above) of dim values, in double. */
static void sum_and_spread(const float *x, int dim, double *sum, double *spread) {
    double s = 0, squares = 0;
    for (int d = 0; d < dim; d++) s += x[d], squares += (double)x[d] * x[d];
    double deviation = squares - s * s / dim;
    *sum = s;
    *spread = deviation > 0 ? sqrt(deviation) : 0;
}

/* The bounds are compared with a relative margin, so that rounding never prunes a codeword
 * that could win: the answer is the exact nearest whenever the distances are exact. */
static inline int beyond(double bound, float best) {
    return bound > (double)best * (1 + 1e-6) + 1e-3;
}

typedef struct {
    const float *x;
    double sum, spread;
    int dim, found;
    float best;
} search;

/* Consider codeword k (in sorted order): 0 when the sums alone rule it and every codeword
 * farther in its direction out, else 1. */
static inline int consider(search *q, const ranked *order, const float *sorted, int k) {
    double gap = order[k].sum - q->sum;
    double first = gap * gap / q->dim;
    if (beyond(first, q->best)) return 0;
    double apart = q->spread - order[k].spread;
    if (beyond(first + apart * apart, q->best)) return 1;
    float e = distance(q->x, sorted + (size_t)k * q->dim, q->dim, q->best);
    if (e < q->best || (e == q->best && order[k].index < order[q->found].index))
        q->best = e, q->found = k;
    return 1;
}

int vq_block_nearest(const uint8_t *vectors, uint64_t n, int dim, const float *codebook,
                     int entries, uint16_t *labels, float *distances) {
    if (dim < 1 || dim > VQ_MAX_BLOCK_DIM || entries < 1 || entries > 65536) return VQ_ERR_ARGS;
    /* A NaN or infinite component would make the order below inconsistent. */
    for (size_t i = 0; i < (size_t)entries * dim; i++)
        if (!isfinite(codebook[i])) return VQ_ERR_ARGS;
    ranked *order = malloc(sizeof(ranked) * entries);
    float *sorted = malloc(sizeof(float) * entries * dim);
    float *sums = malloc(sizeof(float) * entries);
    if (!order || !sorted || !sums) {
        free(order), free(sorted), free(sums);
        return VQ_ERR_NOMEM;
    }
    for (int k = 0; k < entries; k++) {
        double s, spread;
        sum_and_spread(codebook + (size_t)k * dim, dim, &s, &spread);
        order[k] = (ranked){(float)s, spread, k};
    }
    qsort(order, entries, sizeof(ranked), by_sum);
    for (int k = 0; k < entries; k++) {
        memcpy(sorted + (size_t)k * dim, codebook + (size_t)order[k].index * dim,
               sizeof(float) * dim);
        sums[k] = order[k].sum;
    }
    float x[VQ_MAX_BLOCK_DIM];
    int previous = -1;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *v = vectors + i * dim;
        for (int d = 0; d < dim; d++) x[d] = v[d];
        search q = {x, 0, 0, dim, 0, 0};
        sum_and_spread(x, dim, &q.sum, &q.spread);
        int low = 0, high = entries; /* the first codeword whose sum is >= x's */
        while (low < high) {
            int mid = (low + high) / 2;
            if (sums[mid] < q.sum) low = mid + 1;
            else high = mid;
        }
        const int start = low < entries ? low : entries - 1;
        /* Neighbouring blocks are often alike: the previous vector's codeword, tried first,
         * makes the bounds tight from the start (the answer does not depend on it). */
        q.found = previous >= 0 ? previous : start;
        q.best = distance(x, sorted + (size_t)q.found * dim, dim, 3.4e38f);
        if (q.found != start) consider(&q, order, sorted, start);
        /* Outward from x's place in the order, up and down in turn, each direction until
         * its bound fails. */
        int up = start + 1, down = start - 1;
        while (up < entries || down >= 0) {
            if (up < entries) up = consider(&q, order, sorted, up) ? up + 1 : entries;
            if (down >= 0) down = consider(&q, order, sorted, down) ? down - 1 : -1;
        }
        previous = q.found;
        labels[i] = (uint16_t)order[q.found].index;
        if (distances) distances[i] = q.best;
    }
    free(order), free(sorted), free(sums);
    return VQ_OK;
}

int vq_block_sums(const uint8_t *vectors, uint64_t n, int dim, const uint16_t *labels,
                  int entries, double *sums, uint64_t *counts) {
    memset(sums, 0, sizeof(double) * entries * dim);
    memset(counts, 0, sizeof(uint64_t) * entries);
    for (uint64_t i = 0; i < n; i++) {
        unsigned k = labels[i];
        if (k >= (unsigned)entries) return VQ_ERR_LABEL;
        const uint8_t *v = vectors + i * dim;
        double *s = sums + (size_t)k * dim;
        for (int d = 0; d < dim; d++) s[d] += v[d];
        counts[k]++;
    }
    return VQ_OK;
}
