/* kmeans.c: the colour quantizer's loops (vqcodec.quantize): distinct colours, weighted
 * k-means, and the exact nearest-codeword search.
 *
 * Distinct colours of an RGB image: a 2**24-bit presence map plus the running count of set
 * bits before each 64-bit word (3 MiB in all). The rank of a colour among the present ones
 * is then a table read and a popcount, and the colours come out in ascending order.
 *
 * k-means works on the distinct colours weighted by their pixel counts, coarse to fine:
 * seeding and Lloyd on 5-bit-per-channel bins (each bin is the mean of its colours), then
 * Lloyd on the exact colours (or, for very many colours, on the finest bins that fit
 * FINE_MAX points). Every point carries its weight and its weighted coordinate sums as
 * integers, so a centre is an exact integer sum divided once in double: the update has no
 * rounding drift and does not depend on the order points join or leave a cluster.
 * Assignment is Hamerly's algorithm (an upper bound to the own centre, a lower bound to all
 * others, both moved by how far the centres moved) and a point whose bounds fail searches
 * the centres in order of their distance to its current one, stopping at the first that
 * the triangle inequality rules out (Phillips' sort-means).
 *
 * Determinism: one thread, a fixed order of every floating-point operation, and no fused
 * multiply-adds (the build passes -ffp-contract=off), so the same input and seed give the
 * same centres on any IEEE machine. The final mapping (vq_nearest) is integer arithmetic.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vqcore.h"

#define MAX_K 256
#define COARSE_BITS 5         /* bits per channel of the bins the seeding runs on */
#define FINE_MAX (1u << 18)   /* the fine pass runs on at most this many points */
#define COARSE_ITERATIONS 40
#define FINE_ITERATIONS 30
#define SMALL_K 16            /* up to this many centres, the coarse pass runs RESTARTS times */
#define RESTARTS 4

/* ---- small helpers -------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform(uint64_t *state) {
    return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

static inline uint32_t popcount64(uint64_t x) {
    x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
    return (uint32_t)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/* Squared distance of two 4-float points (RGB points carry a zero fourth coordinate). */
static inline float dist2(const float *a, const float *b) {
    float d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2], d3 = a[3] - b[3];
    return d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
}

/* Sort n 64-bit keys ascending (bottom-up merge sort; tmp holds n keys). */
static void sort_keys(uint64_t *keys, uint64_t *tmp, size_t n) {
    uint64_t *src = keys, *dst = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = src[i] <= src[j] ? src[i++] : src[j++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != keys) memcpy(keys, src, n * sizeof *keys);
}

/* The bits of a non-negative float, which order like the floats themselves. */
static inline uint32_t float_key(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- distinct colours of an RGB image ------------------------------------------------- */

#define RGB_WORDS (UINT32_C(1) << 18) /* 2**24 presence bits in 64-bit words */

size_t vq_rgb_index_bytes(void) { return (size_t)RGB_WORDS * (sizeof(uint64_t) + sizeof(uint32_t)); }

static inline uint32_t rgb_key(const uint8_t *p) {
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

uint32_t vq_rgb_index(const uint8_t *pixels, uint64_t count, void *index) {
    uint64_t *present = index;
    uint32_t *before = (uint32_t *)(present + RGB_WORDS);
    memset(present, 0, (size_t)RGB_WORDS * sizeof *present);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t key = rgb_key(pixels + 3 * i);
        present[key >> 6] |= UINT64_C(1) << (key & 63);
    }
    uint32_t total = 0;
    for (uint32_t w = 0; w < RGB_WORDS; w++) {
        before[w] = total;
        total += popcount64(present[w]);
    }
    return total;
}

/* Rank of key among the present colours, or UINT32_MAX if it is not present. */
static inline uint32_t rgb_rank(const uint64_t *present, const uint32_t *before, uint32_t key) {
    uint64_t word = present[key >> 6], bit = UINT64_C(1) << (key & 63);
    if (!(word & bit)) return UINT32_MAX;
    return before[key >> 6] + popcount64(word & (bit - 1));
}

int vq_rgb_histogram(const uint8_t *pixels, uint64_t count, const void *index,
                     uint32_t colours, uint8_t *rgb, uint64_t *counts) {
    const uint64_t *present = index;
    const uint32_t *before = (const uint32_t *)(present + RGB_WORDS);
    uint32_t n = 0;
    for (uint32_t w = 0; w < RGB_WORDS; w++) {
        for (uint64_t word = present[w]; word; word &= word - 1) {
            if (n == colours) return VQ_ERR_ARGS;
            uint32_t key = w << 6 | popcount64((word & (0 - word)) - 1);
            rgb[3 * n] = (uint8_t)(key >> 16);
            rgb[3 * n + 1] = (uint8_t)(key >> 8);
            rgb[3 * n + 2] = (uint8_t)key;
            n++;
        }
    }
    if (n != colours) return VQ_ERR_ARGS;
    memset(counts, 0, (size_t)colours * sizeof *counts);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t r = rgb_rank(present, before, rgb_key(pixels + 3 * i));
        if (r >= colours) return VQ_ERR_ARGS;
        counts[r]++;
    }
    return VQ_OK;
}

int vq_rgb_labels(const uint8_t *pixels, uint64_t count, const void *index,
                  const uint8_t *colour_labels, uint32_t colours, uint8_t *labels) {
    const uint64_t *present = index;
    const uint32_t *before = (const uint32_t *)(present + RGB_WORDS);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t r = rgb_rank(present, before, rgb_key(pixels + 3 * i));
        if (r >= colours) return VQ_ERR_ARGS;
        labels[i] = colour_labels[r];
    }
    return VQ_OK;
}

/* ---- weighted point sets -------------------------------------------------------------- */

typedef struct {
    uint32_t n;
    float *p;     /* n x 4: the point (a bin's mean colour) */
    int64_t *sum; /* n x 4: weight x point, exact */
    uint64_t *w;  /* n: weight (pixels) */
} points;

static void points_free(points *s) {
    free(s->p);
    free(s->sum);
    free(s->w);
    s->p = NULL;
    s->sum = NULL;
    s->w = NULL;
}

static int points_alloc(points *s, uint32_t n) {
    s->n = n;
    s->p = malloc((size_t)n * 4 * sizeof *s->p);
    s->sum = malloc((size_t)n * 4 * sizeof *s->sum);
    s->w = malloc((size_t)n * sizeof *s->w);
    if (!s->p || !s->sum || !s->w) {
        points_free(s);
        return VQ_ERR_NOMEM;
    }
    return VQ_OK;
}

static void points_finish(points *s) {
    for (uint32_t i = 0; i < s->n; i++)
        for (int c = 0; c < 4; c++)
            s->p[4 * i + c] = s->w[i] ? (float)((double)s->sum[4 * i + c] / (double)s->w[i]) : 0.0f;
}

/* The exact colours as points. */
static int exact_points(const uint8_t *colours, const uint64_t *counts, uint32_t n,
                        int channels, points *s) {
    if (points_alloc(s, n)) return VQ_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        s->w[i] = counts[i];
        for (int c = 0; c < 4; c++) {
            uint8_t v = c < channels ? colours[(size_t)i * channels + c] : 0;
            s->sum[4 * i + c] = (int64_t)counts[i] * v;
            s->p[4 * i + c] = (float)v;
        }
    }
    return VQ_OK;
}

static inline uint32_t bin_key(const uint8_t *colour, int channels, int bits) {
    uint32_t key = 0;
    for (int c = 0; c < channels; c++) key = key << bits | (uint32_t)(colour[c] >> (8 - bits));
    return key;
}

static inline uint32_t hash32(uint32_t x) {
    x ^= x >> 16;
    x *= UINT32_C(0x7feb352d);
    x ^= x >> 15;
    x *= UINT32_C(0x846ca68b);
    return x ^ (x >> 16);
}

/* Group the colours by their top bits bits per channel, bins numbered in order of first
 * appearance; bin_of[i] is colour i's bin. Returns the number of bins, or 0 on no memory. */
static uint32_t bin_points(const uint8_t *colours, const uint64_t *counts, uint32_t n,
                           int channels, int bits, uint32_t *bin_of, points *s) {
    uint32_t capacity = 64;
    while (capacity < 2 * (uint64_t)n && capacity < (UINT32_C(1) << 31)) capacity *= 2;
    uint32_t *slot_key = malloc((size_t)capacity * sizeof *slot_key);
    uint32_t *slot_bin = malloc((size_t)capacity * sizeof *slot_bin);
    if (!slot_key || !slot_bin) {
        free(slot_key);
        free(slot_bin);
        return 0;
    }
    memset(slot_bin, 0xff, (size_t)capacity * sizeof *slot_bin);
    uint32_t bins = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t key = bin_key(colours + (size_t)i * channels, channels, bits);
        uint32_t h = hash32(key) & (capacity - 1);
        while (slot_bin[h] != UINT32_MAX && slot_key[h] != key) h = (h + 1) & (capacity - 1);
        if (slot_bin[h] == UINT32_MAX) {
            slot_key[h] = key;
            slot_bin[h] = bins++;
        }
        bin_of[i] = slot_bin[h];
    }
    free(slot_key);
    free(slot_bin);
    if (points_alloc(s, bins)) return 0;
    memset(s->sum, 0, (size_t)bins * 4 * sizeof *s->sum);
    memset(s->w, 0, (size_t)bins * sizeof *s->w);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b = bin_of[i];
        s->w[b] += counts[i];
        for (int c = 0; c < channels; c++)
            s->sum[4 * b + c] += (int64_t)counts[i] * colours[(size_t)i * channels + c];
    }
    points_finish(s);
    return bins;
}

/* ---- the model: centres, their sums, and the centre-to-centre distances ----------------- */

typedef struct {
    int k;
    float c[MAX_K][4];
    int64_t sum[MAX_K][4];
    uint64_t w[MAX_K];
    float half[MAX_K];           /* half the distance to the nearest other centre */
    float cc[MAX_K][MAX_K];      /* centre-to-centre distances */
    uint8_t order[MAX_K][MAX_K]; /* other centres by distance from each, nearest first */
    uint32_t sorted[MAX_K];      /* order[j] is valid when sorted[j] == stamp */
    uint32_t stamp;
    uint64_t keys[2 * MAX_K];
} model;

static void centre_distances(model *m) {
    int k = m->k;
    m->stamp++;
    for (int j = 0; j < k; j++) m->half[j] = INFINITY;
    for (int j = 0; j < k; j++) {
        m->cc[j][j] = 0.0f;
        for (int i = j + 1; i < k; i++) {
            float d = sqrtf(dist2(m->c[j], m->c[i]));
            m->cc[j][i] = m->cc[i][j] = d;
            if (d < m->half[j]) m->half[j] = d;
            if (d < m->half[i]) m->half[i] = d;
        }
    }
    for (int j = 0; j < k; j++) m->half[j] *= 0.5f;
}

static const uint8_t *neighbours(model *m, int a) {
    if (m->sorted[a] != m->stamp) {
        int n = 0;
        for (int j = 0; j < m->k; j++)
            if (j != a) m->keys[n++] = (uint64_t)float_key(m->cc[a][j]) << 8 | (uint64_t)j;
        sort_keys(m->keys, m->keys + MAX_K, (size_t)n);
        for (int i = 0; i < n; i++) m->order[a][i] = (uint8_t)m->keys[i];
        m->sorted[a] = m->stamp;
    }
    return m->order[a];
}

/* Nearest centre to x, searched outward from centre a: centres c with d(a, c) - d(x, a)
 * above the best distance so far cannot be nearer. Sets *best (distance to the nearest)
 * and *second (a lower bound on the distance to every other centre). Ties: lower index. */
static int nearest_from(model *m, const float *x, int a, float *best, float *second) {
    const uint8_t *order = neighbours(m, a);
    float r2 = dist2(x, m->c[a]), r = sqrtf(r2);
    float best2 = r2, second2 = INFINITY, floor = INFINITY;
    int b = a;
    for (int i = 0; i < m->k - 1; i++) {
        int j = order[i];
        float reach = m->cc[a][j] - r;
        if (reach > 0.0f && reach * reach > best2) {
            floor = reach;
            break;
        }
        float d2 = dist2(x, m->c[j]);
        if (d2 < best2 || (d2 == best2 && j < b)) {
            second2 = best2;
            best2 = d2;
            b = j;
        } else if (d2 < second2) {
            second2 = d2;
        }
    }
    *best = sqrtf(best2);
    float s = sqrtf(second2);
    *second = s < floor ? s : floor;
    return b;
}

static void model_from_assignment(model *m, const points *s, const uint8_t *a) {
    memset(m->sum, 0, sizeof m->sum);
    memset(m->w, 0, sizeof m->w);
    for (uint32_t i = 0; i < s->n; i++) {
        int j = a[i];
        m->w[j] += s->w[i];
        for (int c = 0; c < 4; c++) m->sum[j][c] += s->sum[4 * i + c];
    }
}

static inline void move_point(model *m, const points *s, uint32_t i, int from, int to) {
    m->w[from] -= s->w[i];
    m->w[to] += s->w[i];
    for (int c = 0; c < 4; c++) {
        m->sum[from][c] -= s->sum[4 * i + c];
        m->sum[to][c] += s->sum[4 * i + c];
    }
}

/* Weighted squared error of the points under assignment a. */
static double sse(const model *m, const points *s, const uint8_t *a) {
    double total = 0.0;
    for (uint32_t i = 0; i < s->n; i++)
        total += (double)s->w[i] * (double)dist2(s->p + 4 * i, m->c[a[i]]);
    return total;
}

/* Lloyd iterations (Hamerly's bounds) from the centres in m, each point's search starting
 * at its centre in a (a hint: any valid index). Leaves a nearest assignment in a, the
 * centres at their means, and returns the weighted squared error. u, l: n floats. */
static double lloyd(model *m, const points *s, uint8_t *a, float *u, float *l, int iterations) {
    uint32_t n = s->n;
    int k = m->k;
    centre_distances(m);
    for (uint32_t i = 0; i < n; i++) a[i] = (uint8_t)nearest_from(m, s->p + 4 * i, a[i], u + i, l + i);
    model_from_assignment(m, s, a);
    for (int iteration = 0;; iteration++) {
        /* Empty clusters take the point that costs most where it is (u bounds its cost). */
        for (int j = 0; j < k; j++) {
            if (m->w[j]) continue;
            double worst = -1.0;
            uint32_t pick = UINT32_MAX;
            for (uint32_t i = 0; i < n; i++) {
                double cost = (double)s->w[i] * (double)u[i] * (double)u[i];
                if (m->w[a[i]] > s->w[i] && cost > worst) {
                    worst = cost;
                    pick = i;
                }
            }
            if (pick == UINT32_MAX) break;
            move_point(m, s, pick, a[pick], j);
            a[pick] = (uint8_t)j;
            u[pick] = 0.0f;
            l[pick] = 0.0f;
        }
        /* Centres to their means; bounds follow the moves. */
        float moved[MAX_K], most = 0.0f, next = 0.0f;
        int farthest = 0;
        for (int j = 0; j < k; j++) {
            float old[4];
            memcpy(old, m->c[j], sizeof old);
            if (m->w[j])
                for (int c = 0; c < 4; c++)
                    m->c[j][c] = (float)((double)m->sum[j][c] / (double)m->w[j]);
            moved[j] = sqrtf(dist2(old, m->c[j]));
            if (moved[j] > most) {
                next = most;
                most = moved[j];
                farthest = j;
            } else if (moved[j] > next) {
                next = moved[j];
            }
        }
        if (most == 0.0f || iteration >= iterations) break;
        centre_distances(m);
        uint32_t changed = 0;
        for (uint32_t i = 0; i < n; i++) {
            int own = a[i];
            u[i] += moved[own];
            l[i] -= own == farthest ? next : most;
            float bound = l[i] > m->half[own] ? l[i] : m->half[own];
            if (u[i] <= bound) continue;
            const float *x = s->p + 4 * i;
            u[i] = sqrtf(dist2(x, m->c[own]));
            if (u[i] <= bound) continue;
            int b = nearest_from(m, x, own, u + i, l + i);
            if (b != own) {
                move_point(m, s, i, own, b);
                a[i] = (uint8_t)b;
                changed++;
            }
        }
        if (!changed) break;
    }
    return sse(m, s, a);
}

/* ---- seeding ---------------------------------------------------------------------------- */

/* Greedy k-means++ (Arthur & Vassilvitskii): each next centre is the best, by total weighted
 * squared distance, of 2 + ln k candidates drawn with probability proportional to weight x
 * squared distance to the nearest centre so far. near, trial: n floats; mass: n doubles. */
static void seed_kmeanspp(model *m, const points *s, uint64_t *rng, float *near, float *trial,
                          float *keep, double *mass) {
    uint32_t n = s->n;
    int k = m->k, trials = 2 + (int)log((double)k);
    double total = 0.0;
    for (uint32_t i = 0; i < n; i++) total += (double)s->w[i];
    double target = uniform(rng) * total, run = 0.0;
    uint32_t first = n - 1;
    for (uint32_t i = 0; i < n; i++) {
        run += (double)s->w[i];
        if (run > target) {
            first = i;
            break;
        }
    }
    memcpy(m->c[0], s->p + 4 * first, sizeof m->c[0]);
    for (uint32_t i = 0; i < n; i++) near[i] = dist2(s->p + 4 * i, m->c[0]);
    for (int j = 1; j < k; j++) {
        run = 0.0;
        for (uint32_t i = 0; i < n; i++) {
            run += (double)s->w[i] * (double)near[i];
            mass[i] = run;
        }
        if (run <= 0.0) { /* every point is a centre already: repeat the last one */
            for (; j < k; j++) memcpy(m->c[j], m->c[j - 1], sizeof m->c[j]);
            return;
        }
        double best_cost = INFINITY;
        uint32_t best_pick = 0;
        for (int t = 0; t < trials; t++) {
            double r = uniform(rng) * run;
            uint32_t lo = 0, hi = n - 1; /* first i with mass[i] > r */
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (mass[mid] > r) hi = mid;
                else lo = mid + 1;
            }
            const float *pick = s->p + 4 * lo;
            double cost = 0.0;
            for (uint32_t i = 0; i < n; i++) {
                float d = dist2(s->p + 4 * i, pick);
                trial[i] = d < near[i] ? d : near[i];
                cost += (double)s->w[i] * (double)trial[i];
            }
            if (cost < best_cost) {
                best_cost = cost;
                best_pick = lo;
                memcpy(keep, trial, (size_t)n * sizeof *keep);
            }
        }
        memcpy(m->c[j], s->p + 4 * best_pick, sizeof m->c[j]);
        memcpy(near, keep, (size_t)n * sizeof *near);
    }
}

/* ---- the whole fit ---------------------------------------------------------------------- */

int vq_kmeans(const uint8_t *colours, const uint64_t *counts, uint32_t n, int channels, int k,
              uint64_t seed, double *centres, uint8_t *assignment) {
    if (n < 1 || k < 1 || k > MAX_K || (uint32_t)k > n || (channels != 3 && channels != 4))
        return VQ_ERR_ARGS;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (counts[i] > (UINT64_C(1) << 48) - total) return VQ_ERR_ARGS; /* sums fit int64 */
        total += counts[i];
    }
    int status = VQ_ERR_NOMEM;
    model *m = calloc(1, sizeof *m);
    model *best = calloc(1, sizeof *best);
    uint32_t *bin_of = malloc((size_t)n * sizeof *bin_of);
    uint32_t *fine_of = NULL;
    points coarse = {0}, fine = {0};
    uint8_t *a = NULL, *a_best = NULL, *fa = NULL;
    float *f1 = NULL, *f2 = NULL, *f3 = NULL;
    double *mass = NULL;
    if (!m || !best || !bin_of) goto done;
    m->k = best->k = k;

    /* Fine level: the exact colours, or the finest bins with at most FINE_MAX points. */
    if (n <= FINE_MAX) {
        if (exact_points(colours, counts, n, channels, &fine)) goto done;
    } else {
        fine_of = malloc((size_t)n * sizeof *fine_of);
        if (!fine_of) goto done;
        for (int bits = 7;; bits--) {
            if (!bin_points(colours, counts, n, channels, bits, fine_of, &fine)) goto done;
            if (fine.n <= FINE_MAX || bits == 1) break;
            points_free(&fine);
        }
    }
    /* Coarse level: the bins the seeding runs on; the fine level itself when they are few. */
    uint32_t coarse_n = bin_points(colours, counts, n, channels, COARSE_BITS, bin_of, &coarse);
    if (!coarse_n) goto done;
    int use_coarse = coarse_n >= 2 * (uint32_t)k && coarse_n < fine.n;
    const points *seeds = use_coarse ? &coarse : &fine;
    uint32_t sn = seeds->n, fn = fine.n;
    uint32_t most = sn > fn ? sn : fn;
    a = malloc(most);
    a_best = malloc(most);
    fa = malloc(fn);
    f1 = malloc((size_t)most * sizeof *f1);
    f2 = malloc((size_t)most * sizeof *f2);
    f3 = malloc((size_t)most * sizeof *f3);
    mass = malloc((size_t)most * sizeof *mass);
    if (!a || !a_best || !fa || !f1 || !f2 || !f3 || !mass) goto done;

    uint64_t rng = seed;
    int restarts = k <= SMALL_K ? RESTARTS : 1;
    double best_error = INFINITY;
    for (int run = 0; run < restarts; run++) {
        seed_kmeanspp(m, seeds, &rng, f1, f2, f3, mass);
        memset(a, 0, sn);
        double error = lloyd(m, seeds, a, f1, f2, use_coarse ? COARSE_ITERATIONS : FINE_ITERATIONS);
        if (error < best_error) {
            best_error = error;
            memcpy(best, m, sizeof *m);
            memcpy(a_best, a, sn);
        }
    }
    if (use_coarse) {
        /* Each fine point starts its search at its coarse bin's centre. */
        for (uint32_t i = 0; i < n; i++) fa[fine_of ? fine_of[i] : i] = a_best[bin_of[i]];
        lloyd(best, &fine, fa, f1, f2, FINE_ITERATIONS);
    } else {
        memcpy(fa, a_best, fn);
    }
    for (int j = 0; j < k; j++)
        for (int c = 0; c < channels; c++) centres[j * channels + c] = (double)best->c[j][c];
    for (uint32_t i = 0; i < n; i++) assignment[i] = fa[fine_of ? fine_of[i] : i];
    status = VQ_OK;
done:
    points_free(&coarse);
    points_free(&fine);
    free(m);
    free(best);
    free(bin_of);
    free(fine_of);
    free(a);
    free(a_best);
    free(fa);
    free(f1);
    free(f2);
    free(f3);
    free(mass);
    return status;
}

/* ---- exact nearest codeword ------------------------------------------------------------- */

static inline int32_t int_dist2(const uint8_t *a, const uint8_t *b, int channels) {
    int32_t total = 0;
    for (int c = 0; c < channels; c++) {
        int32_t d = (int32_t)a[c] - (int32_t)b[c];
        total += d * d;
    }
    return total;
}

int vq_nearest(const uint8_t *pts, uint64_t n, int channels, const uint8_t *codebook,
               int entries, const uint8_t *hint, uint8_t *labels) {
    if (entries < 1 || entries > MAX_K || (channels != 3 && channels != 4)) return VQ_ERR_ARGS;
    /* Codeword-to-codeword distances (exact as doubles: square roots of integers below
     * 2**20) and, for each codeword, the others by distance, nearest first. */
    double *cc = malloc((size_t)entries * entries * sizeof *cc);
    uint8_t *order = malloc((size_t)entries * entries);
    uint64_t keys[2 * MAX_K];
    if (!cc || !order) {
        free(cc);
        free(order);
        return VQ_ERR_NOMEM;
    }
    for (int a = 0; a < entries; a++) {
        int m = 0;
        for (int j = 0; j < entries; j++) {
            int32_t d2 = int_dist2(codebook + a * channels, codebook + j * channels, channels);
            cc[a * entries + j] = sqrt((double)d2);
            if (j != a) keys[m++] = (uint64_t)d2 << 8 | (uint64_t)j;
        }
        sort_keys(keys, keys + MAX_K, (size_t)m);
        for (int i = 0; i < m; i++) order[a * entries + i] = (uint8_t)keys[i];
    }
    int previous = 0, status = VQ_OK;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *x = pts + i * channels;
        int a = hint ? hint[i] : previous; /* read once: the caller's buffer may change */
        if (a >= entries) {
            status = VQ_ERR_LABEL;
            break;
        }
        int32_t r2 = int_dist2(x, codebook + a * channels, channels), best2 = r2;
        int b = a;
        /* Stop once d(a, c) - d(x, a) exceeds the best distance: no later c can be as near.
         * The margin keeps rounding of the square roots from stopping too soon. */
        double r = sqrt((double)r2), best = r;
        const uint8_t *others = order + a * entries;
        for (int t = 0; t < entries - 1; t++) {
            int j = others[t];
            if (cc[a * entries + j] - r > best + 1e-6) break;
            int32_t d2 = int_dist2(x, codebook + j * channels, channels);
            if (d2 < best2 || (d2 == best2 && j < b)) {
                best2 = d2;
                b = j;
                best = sqrt((double)d2);
            }
        }
        labels[i] = (uint8_t)b;
        previous = b;
    }
    free(cc);
    free(order);
    return status;
}
