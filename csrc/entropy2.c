/* entropy2.c: the entropy2 label coding (label_coding 2, spec §4.3).
 *
 * One adaptive multi-symbol decision per pixel instead of a chain of binary ones, so the
 * decoder does one table search and one state update where coding 1 does four to twelve:
 *
 * - flat context (W = N = NE = NW = r): a run symbol says how far along the flat span of
 *   the row above the row stays r (the whole span, none of it, or a length in
 *   Elias-style buckets plus raw bits); one symbol can cover up to RUN_CAP pixels;
 * - otherwise one 5-ary symbol: the label equals W, N, NE or NW (the first that matches),
 *   or it is a literal;
 * - a literal is one 16-ary symbol (bits <= 4), or a high nibble and a low nibble, in
 *   contexts of the median prediction P of W, N and W + N - NW (LOCO-I's; 1.5% smaller
 *   files over the corpus than the clamped gradient W + N - NW);
 * - or, for bits > 4 when the payload's first symbol says so (mode 1), a residual: the
 *   label's rank in order of distance from P, the neighbours it cannot be left out, as an
 *   Exp-Golomb bucket in contexts of the local activity plus raw bits. Where labels are
 *   gray levels this is 9-13% smaller than nibbles; where they index colours in no useful
 *   order it is larger, so the writer tries both.
 *
 * Models are 15-bit cumulative frequency tables moved towards the coded symbol by a shift;
 * the update target keeps every frequency >= FLOOR (proof in spec §4.3.1). The coder is
 * rANS with two interleaved 32-bit states and 16-bit big-endian words.
 *
 * rANS codes backwards, the models run forwards: the encoder first runs the model and
 * records each symbol's (start, frequency), then codes the records from the last. To keep
 * its memory bounded on any image, the records are made in chunks of about CHUNK_SYMBOLS:
 * the first pass keeps a copy of the model state at each chunk's first row, and chunks
 * are re-modelled and coded from the last one back (spec-invisible: same bytes).
 *
 * The CDF search and update are fixed-length loops over 8 or 16 lanes, written so that a
 * compiler can vectorize them; there are no intrinsics.
 */
#include <stdlib.h>
#include <string.h>

#include "vqcore.h"

#define PROB_BITS 15
#define TOTAL (1u << PROB_BITS) /* every model's total frequency */
#define FLOOR 4                 /* the least frequency a model symbol can have */
#define RANS_LOW (1u << 16)     /* states stay in [RANS_LOW, 2**32) between symbols */
#define MAX_RATE 6
#define COUNT_CAP 15 /* update counts saturate here; the rate is already MAX_RATE at 10 */
#define RUN_CAP 256  /* pixels one run symbol can cover */
#define RUN_CONTEXTS 9 /* floor(log2 M) for M = 1..RUN_CAP */
#define CAND_CONTEXTS 256 /* pattern * 4 + a */
#define LIT_CONTEXTS 64   /* a * 16 + prediction (or its high nibble) */
#define LO_CONTEXTS (4 * 16 * 18) /* (a * 16 + hi) * 18 + relation to the prediction */
#define RES_CONTEXTS 9 /* 0 after a run, else 1 + floor(log2 activity), at most 8 */
#define CHUNK_SYMBOLS ((size_t)1 << 21) /* encoder records per chunk (8 MiB) */

/* A model of N symbols is its CDF c[1..N-1] in lanes 0..N-2 (c[0] = 0 and c[N] = TOTAL
 * are implicit); lanes from N-1 on hold TOTAL, so neither search nor update needs N. */

/* The kinds of model by symbol count, for adapt's targets: 5 (candidates), lit_symbols,
 * 16 (low nibbles and runs) and res_symbols. */
enum { CAND_KIND, LIT_KIND, SIXTEEN_KIND, RES_KIND, KINDS };

typedef struct {
    uint16_t cand[CAND_CONTEXTS][8];
    uint16_t lit[LIT_CONTEXTS][16];
    uint16_t lo[LO_CONTEXTS][16];
    uint16_t run[RUN_CONTEXTS][16];
    uint16_t res[RES_CONTEXTS][16];
    uint8_t cand_n[CAND_CONTEXTS], lit_n[LIT_CONTEXTS], lo_n[LO_CONTEXTS], run_n[RUN_CONTEXTS];
    uint8_t res_n[RES_CONTEXTS];
    uint16_t targets[KINDS][16][16]; /* adapt's targets: [kind][coded symbol][lane] */
    int lit_symbols; /* 2**bits, or 2**(bits - 4) for the high nibble */
    int res_symbols; /* residual buckets: 2 * bits */
    int residual;    /* mode 1: literals as residuals (bits > 4 only) */
} models_t;

size_t vq_entropy2_work_bytes(uint32_t width) {
    return sizeof(models_t) + 3 * ((size_t)width + 3);
}

static void init_cdf(uint16_t *c, int lanes, int symbols) {
    for (int l = 0; l < lanes; l++)
        c[l] = (uint16_t)(l + 1 < symbols ? (uint32_t)(l + 1) * TOTAL / (uint32_t)symbols : TOTAL);
}

/* Where adapt moves each lane of a model of `symbols` symbols after coding s: lane l (that
 * is, c[l+1]) towards FLOOR (l + 1) below s, towards TOTAL - FLOOR (symbols - 1 - l) from s
 * on, and TOTAL in the padding lanes. Tabled once an image: in the decoder's loop a load
 * costs less than computing them (decode 13% faster, measured on the corpus). */
static void init_targets(uint16_t targets[16][16], int symbols) {
    uint32_t high = TOTAL - FLOOR * (uint32_t)(symbols - 1);
    for (uint32_t s = 0; s < 16; s++)
        for (uint32_t l = 0; l < 16; l++) {
            uint32_t up = high + FLOOR * l;
            targets[s][l] = (uint16_t)(l < s ? FLOOR * (l + 1) : up < TOTAL ? up : TOTAL);
        }
}

static void init_models(models_t *m, int bits, int residual) {
    int lit_symbols = 1 << (bits <= 4 ? bits : bits - 4);
    m->res_symbols = 2 * bits;
    m->residual = residual;
    for (int i = 0; i < RES_CONTEXTS; i++) init_cdf(m->res[i], 16, m->res_symbols);
    memset(m->res_n, 0, sizeof m->res_n);
    for (int i = 0; i < CAND_CONTEXTS; i++) init_cdf(m->cand[i], 8, 5);
    for (int i = 0; i < LIT_CONTEXTS; i++) init_cdf(m->lit[i], 16, lit_symbols);
    for (int i = 0; i < LO_CONTEXTS; i++) init_cdf(m->lo[i], 16, 16);
    for (int i = 0; i < RUN_CONTEXTS; i++) init_cdf(m->run[i], 16, 16);
    memset(m->cand_n, 0, sizeof m->cand_n);
    memset(m->lit_n, 0, sizeof m->lit_n);
    memset(m->lo_n, 0, sizeof m->lo_n);
    memset(m->run_n, 0, sizeof m->run_n);
    m->lit_symbols = lit_symbols;
    int symbols[KINDS] = {5, lit_symbols, 16, m->res_symbols};
    for (int kind = 0; kind < KINDS; kind++) init_targets(m->targets[kind], symbols[kind]);
}

/* The adaptation shift: base + n / 2 after n updates, at most MAX_RATE. */
static inline int next_rate(uint8_t *count, int base) {
    int rate = base + *count / 2;
    *count = (uint8_t)(*count + (*count < COUNT_CAP));
    return rate < MAX_RATE ? rate : MAX_RATE;
}

/* Moves the CDF c towards the targets t of the coded symbol (init_targets), lane by lane,
 * by floor((t - c[l]) / 2**rate). In unsigned arithmetic: t + TOTAL - c[l] is in
 * [0, 2 TOTAL) and TOTAL is a multiple of 2**rate, so shifting it and subtracting
 * TOTAL >> rate is the floor division without shifting a negative number; all of it fits
 * 16 bits, so a compiler can use 16-bit lanes. `lanes` (8 or 16) is a constant at every
 * call, so once inlined the loop vectorizes; restrict: the targets are not the CDF. */
static inline void adapt(uint16_t *restrict c, const uint16_t *restrict t, uint32_t lanes,
                         int rate) {
    uint16_t sub = (uint16_t)(TOTAL >> rate);
    for (uint32_t l = 0; l < lanes; l++) {
        uint16_t d = (uint16_t)(t[l] + TOTAL - c[l]);
        c[l] = (uint16_t)(c[l] + (d >> rate) - sub);
    }
}

/* The symbol whose interval [c[s], c[s+1]) holds slot: the number of lanes <= slot, as
 * the CDF strictly increases to TOTAL (spec §4.3.1) and slot < TOTAL. Counted four lanes
 * at a time in 64-bit words: slot + 2**15 - c[l] is in [0, 2**16), so the lanes never
 * borrow from each other, and its bit 15 is set exactly when c[l] <= slot. The count of
 * those bits is gathered into the top lane by one multiplication. (The lanes' order in a
 * word does not matter to a count, so neither does the machine's byte order.) */
#define LANE_TOPS 0x8000800080008000u
#define LANE_ONES 0x0001000100010001u

static inline uint64_t lanes_at_most(const uint16_t *c, uint64_t at) {
    uint64_t word;
    memcpy(&word, c, sizeof word);
    return (((at | LANE_TOPS) - word) & LANE_TOPS) >> 15;
}

static inline int find(const uint16_t *c, uint32_t lanes, uint32_t slot) {
    uint64_t at = slot * LANE_ONES, ones = 0;
    for (uint32_t l = 0; l < lanes; l += 4) ones += lanes_at_most(c + l, at);
    return (int)((ones * LANE_ONES) >> 48);
}

static inline int activity_class(int activity) {
    return activity == 0 ? 0 : activity == 1 ? 1 : activity <= 3 ? 2 : 3;
}

static inline int floor_log2(uint32_t v) {
    int k = 0;
    while (v >>= 1) k++;
    return k;
}

/* The residual context of a literal after a candidate symbol (activity >= 1). */
static inline int res_context(int activity) {
    int k = 1 + floor_log2((uint32_t)activity);
    return k < RES_CONTEXTS - 1 ? k : RES_CONTEXTS - 1;
}

/* A label's rank by distance from the prediction p (0..top): p, p+1, p-1, p+2, p-2, ...
 * while both sides last, then the longer side on its own (LOCO-I's error mapping). */
static inline int fold(int v, int p, int top) {
    int e = v - p, m = p < top - p ? p : top - p;
    if (e >= -m && e <= m) return e >= 0 ? 2 * e : -2 * e - 1;
    return m + (e < 0 ? -e : e);
}

static inline int unfold(int z, int p, int top) {
    int m = p < top - p ? p : top - p;
    if (z <= 2 * m) return z & 1 ? p - (z + 1) / 2 : p + z / 2;
    return p < top - p ? p + (z - m) : p - (z - m);
}

/* The ranks of the distinct excluded labels (the candidates a literal cannot be), sorted;
 * returns how many. */
static inline int excluded_ranks(const int *label, int count, int p, int top, int *rank) {
    int k = 0;
    for (int i = 0; i < count; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= label[j] == label[i];
        if (seen) continue;
        int z = fold(label[i], p, top), at = k++;
        for (; at > 0 && rank[at - 1] > z; at--) rank[at] = rank[at - 1];
        rank[at] = z;
    }
    return k;
}

/* M: how many pixels from x on have the run value r at their NE in the row above (column
 * width being its right border), at most RUN_CAP. At least 1 where it is asked (NE = r). */
static inline int run_span(const uint8_t *up, ptrdiff_t x, uint32_t width, int r) {
    ptrdiff_t limit = (ptrdiff_t)width - x;
    if (limit > RUN_CAP) limit = RUN_CAP;
    ptrdiff_t m = 0;
    while (m < limit && up[x + m + 1] == r) m++;
    return (int)m;
}

/* LOCO-I's median edge detector: min(W, N) or max(W, N) where NW says there is an edge,
 * else the gradient W + N - NW (which then lies between W and N, so needs no clamp). */
static inline int predict(int w, int n, int nw) {
    int lo = w < n ? w : n, hi = w < n ? n : w;
    return nw >= hi ? lo : nw <= lo ? hi : w + n - nw;
}

static inline int lo_context(int a, int hi, int p) {
    int ph = p >> 4;
    int relation = hi == ph ? (p & 15) : 16 + (hi > ph);
    return (a * 16 + hi) * 18 + relation;
}

/* ---- encoder ------------------------------------------------------------------------ */

/* A record: the symbol's start in bits 16..30, its frequency (< 2**15) in bits 0..15. */
#define RECORD(start, freq) ((uint32_t)(start) << 16 | (uint32_t)(freq))

static inline uint32_t record(const uint16_t *c, int s) {
    uint32_t start = s ? c[s - 1] : 0;
    return RECORD(start, c[s] - start);
}

/* A uniform symbol of k raw bits (1 <= k <= 14) holding value. */
#define RAW_RECORD(value, k) RECORD((uint32_t)(value) << (PROB_BITS - (k)), 1u << (PROB_BITS - (k)))

/* The residual literal v (mode 1): its rank q among the labels other than the excluded ones,
 * by distance from p, as a bucket symbol (q itself below 4, else 4 + 2 (g - 2) + h for
 * q = (2 + h) 2**(g - 1) + u, g = floor(log2 q)) and the g - 1 raw bits u. */
static inline size_t model_residual(models_t *m, uint32_t *rec, size_t nrec, int v, int ctx,
                                    int p, int bits, const int *excluded, int count) {
    int top = (1 << bits) - 1;
    int z = fold(v, p, top), q = z;
    /* Less the distinct excluded labels ranked before v: a count, so no sort (the decoder
     * needs them in order; here it took 60% of a noisy gray image's encode). */
    for (int i = 0; i < count; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= excluded[j] == excluded[i];
        q -= !seen & (fold(excluded[i], p, top) < z);
    }
    int b = q, g = 0;
    if (q >= 4) {
        g = floor_log2((uint32_t)q);
        b = 4 + 2 * (g - 2) + ((q >> (g - 1)) & 1);
    }
    rec[nrec++] = record(m->res[ctx], b);
    adapt(m->res[ctx], m->targets[RES_KIND][b], 16, next_rate(&m->res_n[ctx], 2));
    if (g) rec[nrec++] = RAW_RECORD(q & ((1 << (g - 1)) - 1), g - 1);
    return nrec;
}

/* The literal v with prediction p in activity class a: one or two symbols. */
static inline size_t model_literal(models_t *m, uint32_t *rec, size_t nrec, int v, int a, int p,
                                   int bits) {
    int hi = bits <= 4 ? v : v >> 4, ctx = a * 16 + (bits <= 4 ? p : p >> 4);
    rec[nrec++] = record(m->lit[ctx], hi);
    adapt(m->lit[ctx], m->targets[LIT_KIND][hi], 16, next_rate(&m->lit_n[ctx], 2));
    if (bits > 4) {
        int lo = v & 15;
        ctx = lo_context(a, hi, p);
        rec[nrec++] = record(m->lo[ctx], lo);
        adapt(m->lo[ctx], m->targets[SIXTEEN_KIND][lo], 16, next_rate(&m->lo_n[ctx], 2));
    }
    return nrec;
}

/* Runs the model over rows y.. and appends each symbol's record to rec. Stops after row
 * `end` - 1, or at the first row end where nrec has reached `chunk`; returns the next row.
 * A label takes at most 3 records (a candidate symbol and a two-symbol literal), and so does
 * a run with the literal after it, per label: with raw bits (a run of 2 or more) that is 4
 * records for 3 labels or more, without, 3 for 1 or more. So a row takes at most 3 width
 * records, and row 0 one more, the mode symbol: a chunk holds fewer than chunk + 3 width
 * + 1 records. */
static uint32_t model_rows(models_t *m, uint8_t *rows, const uint8_t *labels, uint32_t width,
                           uint32_t y, uint32_t end, int bits, uint32_t *rec, size_t *count,
                           size_t chunk) {
    size_t stride = (size_t)width + 3, nrec = *count;
    for (; y < end && nrec < chunk; y++) {
        if (y == 0 && bits > 4) rec[nrec++] = RAW_RECORD(m->residual, 1); /* the mode */
        uint8_t *cur = rows + (y % 3) * stride + 2;
        const uint8_t *up = rows + ((y + 2) % 3) * stride + 2;
        const uint8_t *up2 = rows + ((y + 1) % 3) * stride + 2;
        const uint8_t *row = labels + (size_t)y * width;
        cur[-1] = cur[-2] = up[0];
        for (ptrdiff_t x = 0; x < (ptrdiff_t)width; x++) {
            int w = cur[x - 1], ww = cur[x - 2];
            int n = up[x], nw = up[x - 1], ne = up[x + 1], nn = up2[x];
            int activity = abs(w - nw) + abs(n - nw) + abs(n - ne);
            int a = activity_class(activity);
            int v = row[x];
            if (a == 0) {
                int span = run_span(up, x, width, w), length = 0;
                while (length < span && row[x + length] == w) length++;
                int e = length == span ? 0 : length == 0 ? 1 : 2 + floor_log2((uint32_t)length);
                int ctx = floor_log2((uint32_t)span);
                rec[nrec++] = record(m->run[ctx], e);
                adapt(m->run[ctx], m->targets[SIXTEEN_KIND][e], 16, next_rate(&m->run_n[ctx], 2));
                if (e >= 3) rec[nrec++] = RAW_RECORD(length - (1 << (e - 2)), e - 2);
                memset(cur + x, w, (size_t)length);
                x += length;
                if (length == span) {
                    x--;
                    continue;
                }
                v = row[x];
                if (m->residual)
                    nrec = model_residual(m, rec, nrec, v, 0, w, bits, &w, 1);
                else
                    nrec = model_literal(m, rec, nrec, v, 0, w, bits);
                cur[x] = (uint8_t)v;
                continue;
            }
            int pattern = (w == n) | (n == ne) << 1 | (n == nw) << 2 | (w == nw) << 3 |
                          (w == ww) << 4 | (n == nn) << 5;
            int ctx = pattern * 4 + a;
            int s = v == w ? 0 : v == n ? 1 : v == ne ? 2 : v == nw ? 3 : 4;
            rec[nrec++] = record(m->cand[ctx], s);
            adapt(m->cand[ctx], m->targets[CAND_KIND][s], 8, next_rate(&m->cand_n[ctx], 1));
            if (s == 4 && m->residual) {
                int excluded[4] = {w, n, ne, nw};
                nrec = model_residual(m, rec, nrec, v, res_context(activity), predict(w, n, nw),
                                      bits, excluded, 4);
            } else if (s == 4) {
                nrec = model_literal(m, rec, nrec, v, a, predict(w, n, nw), bits);
            }
            cur[x] = (uint8_t)v;
        }
        cur[width] = cur[width - 1];
    }
    *count = nrec;
    return y;
}

/* Codes records rec[0..n), whose global symbol indices start at first, from the last one
 * back; words go down from out[*top], never below out[8] (the states' place). */
static int put_records(const uint32_t *rec, size_t n, uint64_t first, uint32_t state[2],
                       uint8_t *out, size_t *top) {
    size_t pos = *top;
    for (size_t i = n; i-- > 0;) {
        uint32_t *x = &state[(first + i) & 1];
        uint32_t start = rec[i] >> 16, freq = rec[i] & 0xFFFF;
        /* Keep x below freq * 2**17, so that the coded state stays below 2**32. */
        if (*x >= freq << 17) {
            if (pos < 8 + 2) return VQ_ERR_FULL;
            out[--pos] = (uint8_t)*x;
            out[--pos] = (uint8_t)(*x >> 8);
            *x >>= 16;
        }
        *x = ((*x / freq) << PROB_BITS) + *x % freq + start;
    }
    *top = pos;
    return VQ_OK;
}

/* One copy of the model state (models and the three rows) at a chunk's first row. */
typedef struct {
    uint32_t y;
    uint64_t first; /* global index of the chunk's first symbol */
} chunk_t;

int64_t vq_entropy2_encode_chunked(const uint8_t *labels, uint32_t width, uint32_t height,
                                   int bits, int residual, uint8_t *out, size_t capacity,
                                   void *work, size_t chunk) {
    if (bits < 1 || bits > 8 || width == 0 || height == 0) return VQ_ERR_ARGS;
    if (residual != 0 && (residual != 1 || bits <= 4)) return VQ_ERR_ARGS;
    if (chunk == 0) chunk = CHUNK_SYMBOLS;
    if (capacity < 8) return VQ_ERR_FULL;
    size_t work_bytes = vq_entropy2_work_bytes(width);
    size_t stride = (size_t)width + 3;
    models_t *m = (models_t *)work;
    uint8_t *rows = (uint8_t *)work + sizeof(models_t);
    /* Records: at most 3 a pixel and the mode, fewer than chunk + 3 width + 1 in a chunk. */
    uint64_t pixels = (uint64_t)width * height;
    uint64_t most = pixels > (UINT64_MAX - 1) / 3 ? UINT64_MAX : 3 * pixels + 1;
    if (chunk > most) chunk = (size_t)most;
    uint64_t room =
        most - chunk < 3 * (uint64_t)width + 1 ? most : chunk + 3 * (uint64_t)width + 1;
    if (room > SIZE_MAX / sizeof(uint32_t)) return VQ_ERR_NOMEM;
    uint32_t *rec = malloc((size_t)room * sizeof *rec);
    chunk_t *chunks = NULL;
    uint8_t *saved = NULL; /* one work copy per chunk after the first */
    size_t nchunks = 1, nrec = 0;
    int64_t status = VQ_OK;
    if (!rec) return VQ_ERR_NOMEM;

    /* Pass 1: model every row; keep the state at each chunk's start, and the last chunk's
     * records. */
    init_models(m, bits, residual);
    memset(rows, 0, 3 * stride);
    uint32_t y = 0;
    uint64_t total = 0, first_last = 0;
    for (;;) {
        y = model_rows(m, rows, labels, width, y, height, bits, rec, &nrec, chunk);
        if (y == height) break;
        /* A chunk ended before the image: remember where the next one starts. */
        total += nrec;
        nrec = 0;
        if (nchunks == 1 || (nchunks & (nchunks - 1)) == 0) {
            size_t grow = nchunks * 2;
            chunk_t *c = realloc(chunks, grow * sizeof *c);
            if (c) chunks = c;
            uint8_t *s = c && work_bytes <= SIZE_MAX / grow ? realloc(saved, grow * work_bytes)
                                                           : NULL;
            if (!s) {
                status = VQ_ERR_NOMEM;
                goto done;
            }
            saved = s;
        }
        chunks[nchunks - 1].y = y;
        chunks[nchunks - 1].first = total;
        memcpy(saved + (nchunks - 1) * work_bytes, work, work_bytes);
        nchunks++;
        first_last = total;
    }

    /* Pass 2: code the last chunk's records, then re-model each earlier chunk from its
     * saved state and code it, back to the first. */
    uint32_t state[2] = {RANS_LOW, RANS_LOW};
    size_t top = capacity;
    status = put_records(rec, nrec, first_last, state, out, &top);
    for (size_t k = nchunks - 1; status == VQ_OK && k-- > 0;) {
        uint32_t y0 = k ? chunks[k - 1].y : 0, y1 = chunks[k].y;
        uint64_t first = k ? chunks[k - 1].first : 0;
        if (k) {
            memcpy(work, saved + (k - 1) * work_bytes, work_bytes);
        } else {
            init_models(m, bits, residual);
            memset(rows, 0, 3 * stride);
        }
        nrec = 0;
        model_rows(m, rows, labels, width, y0, y1, bits, rec, &nrec, SIZE_MAX);
        status = put_records(rec, nrec, first, state, out, &top);
    }
    if (status == VQ_OK) {
        /* The states, big-endian, first the one symbol 0 uses. */
        top -= 8;
        for (int i = 0; i < 2; i++)
            for (int b = 0; b < 4; b++) out[top + 4 * i + b] = (uint8_t)(state[i] >> (24 - 8 * b));
        status = (int64_t)(capacity - top);
        memmove(out, out + top, capacity - top);
    }
done:
    free(rec);
    free(chunks);
    free(saved);
    return status;
}

int64_t vq_entropy2_encode(const uint8_t *labels, uint32_t width, uint32_t height, int bits,
                           int residual, uint8_t *out, size_t capacity, void *work) {
    return vq_entropy2_encode_chunked(labels, width, height, bits, residual, out, capacity, work,
                                      0);
}

/* ---- decoder ------------------------------------------------------------------------ */

/* The two interleaved states: x codes the next symbol, next the one after. */
typedef struct {
    uint32_t x, next;
    const uint8_t *in;
    size_t pos, size;
} decoder_t;

/* After decoding with freq and start: the new state, renormalised with one word if below
 * RANS_LOW (one is enough: the state is then >= 1), and the states swapped. 0 at a read
 * past the end. */
static inline int advance(decoder_t *d, uint32_t freq, uint32_t start, uint32_t slot) {
    uint32_t x = freq * (d->x >> PROB_BITS) + slot - start;
    if (x < RANS_LOW) {
        if (d->size - d->pos < 2) return 0;
        x = x << 16 | (uint32_t)d->in[d->pos] << 8 | d->in[d->pos + 1];
        d->pos += 2;
    }
    d->x = d->next;
    d->next = x;
    return 1;
}

/* The next symbol of the model c of `lanes` lanes (8 or 16), or -1 at a read past the end. */
static inline int decode_symbol(decoder_t *d, const uint16_t *c, uint32_t lanes) {
    uint32_t slot = d->x & (TOTAL - 1);
    int s = find(c, lanes, slot);
    uint32_t start = s ? c[s - 1] : 0;
    return advance(d, c[s] - start, start, slot) ? s : -1;
}

/* k raw bits (1 <= k <= 14) into *value; 0 at a read past the end. */
static inline int decode_raw(decoder_t *d, int k, uint32_t *value) {
    uint32_t slot = d->x & (TOTAL - 1);
    *value = slot >> (PROB_BITS - k);
    return advance(d, 1u << (PROB_BITS - k), *value << (PROB_BITS - k), slot);
}

/* The residual literal (model_residual), or -1 at a read past the end, -2 for a rank
 * past the last label. */
static inline int decode_residual(decoder_t *d, models_t *m, int ctx, int p, int bits,
                                  const int *excluded, int count) {
    int top = (1 << bits) - 1, ranks[4];
    int b = decode_symbol(d, m->res[ctx], 16);
    if (b < 0) return -1;
    adapt(m->res[ctx], m->targets[RES_KIND][b], 16, next_rate(&m->res_n[ctx], 2));
    int z = b;
    if (b >= 4) {
        int g = (b - 4) / 2 + 2;
        uint32_t u;
        if (!decode_raw(d, g - 1, &u)) return -1;
        z = ((2 + ((b - 4) & 1)) << (g - 1)) + (int)u;
    }
    int k = excluded_ranks(excluded, count, p, top, ranks);
    for (int i = 0; i < k; i++) z += ranks[i] <= z;
    return z > top ? -2 : unfold(z, p, top);
}

/* The literal with prediction p in activity class a, or -1 at a read past the end. */
static inline int decode_literal(decoder_t *d, models_t *m, int a, int p, int bits) {
    int ctx = a * 16 + (bits <= 4 ? p : p >> 4);
    int hi = decode_symbol(d, m->lit[ctx], 16);
    if (hi < 0) return -1;
    adapt(m->lit[ctx], m->targets[LIT_KIND][hi], 16, next_rate(&m->lit_n[ctx], 2));
    if (bits <= 4) return hi;
    ctx = lo_context(a, hi, p);
    int lo = decode_symbol(d, m->lo[ctx], 16);
    if (lo < 0) return -1;
    adapt(m->lo[ctx], m->targets[SIXTEEN_KIND][lo], 16, next_rate(&m->lo_n[ctx], 2));
    return hi << 4 | lo;
}

int64_t vq_entropy2_decode(const uint8_t *payload, size_t size, uint32_t width,
                           uint32_t height, int bits, uint8_t *labels, void *work) {
    if (bits < 1 || bits > 8 || width == 0 || height == 0) return VQ_ERR_ARGS;
    if (size < 8) return VQ_ERR_OVERRUN;
    decoder_t d = {0, 0, payload, 8, size};
    for (int b = 0; b < 4; b++) {
        d.x = d.x << 8 | payload[b];
        d.next = d.next << 8 | payload[4 + b];
    }
    /* An encoder's states are always >= RANS_LOW; below it a symbol might not shrink the
     * state, and the minimum payload size (spec §4.3) would not hold. */
    if (d.x < RANS_LOW || d.next < RANS_LOW) return VQ_ERR_STATE;
    models_t *m = (models_t *)work;
    uint8_t *rows = (uint8_t *)work + sizeof(models_t);
    size_t stride = (size_t)width + 3;
    uint32_t residual = 0;
    if (bits > 4 && !decode_raw(&d, 1, &residual)) return VQ_ERR_OVERRUN;
    init_models(m, bits, (int)residual);
    memset(rows, 0, 3 * stride);
    for (uint32_t y = 0; y < height; y++) {
        uint8_t *cur = rows + (y % 3) * stride + 2;
        const uint8_t *up = rows + ((y + 2) % 3) * stride + 2;
        const uint8_t *up2 = rows + ((y + 1) % 3) * stride + 2;
        uint8_t *row = labels + (size_t)y * width;
        cur[-1] = cur[-2] = up[0];
        for (ptrdiff_t x = 0; x < (ptrdiff_t)width; x++) {
            int w = cur[x - 1], ww = cur[x - 2];
            int n = up[x], nw = up[x - 1], ne = up[x + 1], nn = up2[x];
            int activity = abs(w - nw) + abs(n - nw) + abs(n - ne);
            int a = activity_class(activity);
            int v;
            if (a == 0) {
                int span = run_span(up, x, width, w);
                int ctx = floor_log2((uint32_t)span);
                int e = decode_symbol(&d, m->run[ctx], 16);
                if (e < 0) return VQ_ERR_OVERRUN;
                adapt(m->run[ctx], m->targets[SIXTEEN_KIND][e], 16, next_rate(&m->run_n[ctx], 2));
                int length = e == 0 ? span : 0;
                if (e >= 2) {
                    int k = e - 2;
                    /* length >= 2**k >= span whatever the raw bits: refuse before them. */
                    if ((1 << k) >= span) return VQ_ERR_RUN;
                    uint32_t value = 0;
                    if (k && !decode_raw(&d, k, &value)) return VQ_ERR_OVERRUN;
                    length = (1 << k) + (int)value;
                    if (length >= span) return VQ_ERR_RUN;
                }
                memset(cur + x, w, (size_t)length);
                memset(row + x, w, (size_t)length);
                x += length;
                if (length == span) {
                    x--;
                    continue;
                }
                v = residual ? decode_residual(&d, m, 0, w, bits, &w, 1)
                             : decode_literal(&d, m, 0, w, bits);
            } else {
                int pattern = (w == n) | (n == ne) << 1 | (n == nw) << 2 | (w == nw) << 3 |
                              (w == ww) << 4 | (n == nn) << 5;
                int ctx = pattern * 4 + a;
                int s = decode_symbol(&d, m->cand[ctx], 8);
                if (s < 0) return VQ_ERR_OVERRUN;
                adapt(m->cand[ctx], m->targets[CAND_KIND][s], 8, next_rate(&m->cand_n[ctx], 1));
                if (s < 4) {
                    v = s == 0 ? w : s == 1 ? n : s == 2 ? ne : nw;
                } else if (residual) {
                    int excluded[4] = {w, n, ne, nw};
                    v = decode_residual(&d, m, res_context(activity), predict(w, n, nw), bits,
                                        excluded, 4);
                } else {
                    v = decode_literal(&d, m, a, predict(w, n, nw), bits);
                }
            }
            if (v < 0) return v == -1 ? VQ_ERR_OVERRUN : VQ_ERR_LABEL;
            cur[x] = (uint8_t)v;
            row[x] = (uint8_t)v;
        }
        cur[width] = cur[width - 1];
    }
    /* The encoder started both states at RANS_LOW: a valid payload ends there. */
    if (d.x != RANS_LOW || d.next != RANS_LOW) return VQ_ERR_STATE;
    return (int64_t)d.pos;
}
