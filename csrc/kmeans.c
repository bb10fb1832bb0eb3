/* kmeans.c: the colour quantizer's loops (vqcodec.quantize): distinct colours, weighted
 * k-means, and the exact nearest-codeword search.
 *
 * Distinct colours of an RGB image: a 2**24-bit presence map plus the running count of set
 * bits before each 64-bit word (3 MiB whatever the image). The rank of a colour among the
 * present ones is a table read and a popcount, and the colours come out sorted.
 *
 * k-means runs on the distinct colours weighted by their pixel counts, coarse to fine:
 *  1. seeding on bins of the top 5 or 6 bits per channel (each bin the mean of its
 *     colours): variance splitting, as in Wu's quantizer; for k <= SMALL_K, where local
 *     minima differ most, also a second splitting rule and greedy k-means++, keeping the
 *     best after Lloyd;
 *  2. Lloyd on those bins;
 *  3. Lloyd on the exact colours (or, past FINE_MAX of them, the finest bins that fit);
 *  4. for larger k, one round of split and merge: the centres whose points would cost least
 *     at their second-nearest centres move into the clusters a cut lowers most, then Lloyd.
 * Every point carries its weight and weighted coordinate sums as integers, so a centre is
 * an exact integer sum divided once: the update has no rounding drift and does not depend
 * on the order in which points join or leave clusters. The update is over-relaxed (the
 * centre moves RELAX past the mean) for all but the last three iterations of a pass, which
 * takes fewer iterations to the same error.
 *
 * Assignment is Hamerly's algorithm: an upper bound on each point's distance to its own
 * centre and a lower bound on its distance to every other, both moved by how far centres
 * move; the lower bound treats the MOVERS centres that moved most one by one. A point whose
 * bounds fail searches the centres in order of distance from its own (Phillips'
 * sort-means), stopping once the triangle inequality rules out the rest.
 *
 * Determinism: one thread, a fixed order of every floating-point operation, and no fused
 * multiply-adds (the build passes -ffp-contract=off), so the same colours and seed give the
 * same centres on any IEEE-754 machine. The final mapping (vq_nearest) is integer
 * arithmetic, exact, with ties to the lower index.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vqcore.h"

#define MAX_K 256
#define FINE_MAX (UINT32_C(1) << 18) /* the exact pass runs on at most this many points */
#define SMALL_K 16  /* up to this k: RESTARTS seedings, more coarse iterations, no swaps */
#define RESTARTS 4
#define RELAX 0.6   /* over-relaxation: the centre moves to mean + RELAX * (mean - old) */
#define MOVERS 16   /* centres whose moves the lower bounds take one by one */
#define SWAP_FACTOR 2.0 /* a swap is tried if the cut's gain is over removal / SWAP_FACTOR */

/* The schedule: bits of the seeding bins, Lloyd iterations on them and on the exact
 * colours, split-and-merge rounds and the iterations after each. Measured on photos: the
 * bins are a poor guide to the exact optimum, so past SMALL_K the work goes to the exact
 * colours. */
typedef struct {
    int seed_bits, restarts, coarse_iterations, fine_iterations, swap_rounds, swap_iterations;
} schedule;

static schedule schedule_for(int k) {
    if (k <= SMALL_K) return (schedule){5, RESTARTS, 40, 10, 0, 0};
    return (schedule){k > 32 ? 6 : 5, 1, 10, 8, 1, 5};
}

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

void vq_rgb_mark(const uint8_t *pixels, uint64_t count, void *index) {
    uint64_t *present = index;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t key = rgb_key(pixels + 3 * i);
        present[key >> 6] |= UINT64_C(1) << (key & 63);
    }
}

uint32_t vq_rgb_rank(void *index) {
    const uint64_t *present = index;
    uint32_t *before = (uint32_t *)(present + RGB_WORDS);
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
 * appearance; bin_of[i] is colour i's bin. Returns the number of bins; 0 if memory ran
 * out; UINT32_MAX, with nothing allocated, if there would be more than limit bins. */
static uint32_t bin_points(const uint8_t *colours, const uint64_t *counts, uint32_t n,
                           int channels, int bits, uint32_t limit, uint32_t *bin_of, points *s) {
    uint64_t keys = UINT64_C(1) << (bits * channels), most = n < keys ? n : keys;
    uint32_t capacity = 64;
    while (capacity < 2 * most) capacity *= 2; /* most <= 2**28: no overflow */
    uint32_t *slot_key = malloc((size_t)capacity * sizeof *slot_key);
    uint32_t *slot_bin = malloc((size_t)capacity * sizeof *slot_bin);
    if (!slot_key || !slot_bin) {
        free(slot_key);
        free(slot_bin);
        return 0;
    }
    memset(slot_bin, 0xff, (size_t)capacity * sizeof *slot_bin);
    uint32_t bins = 0;
    for (uint32_t i = 0; i < n && bins <= limit; i++) {
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
    if (bins > limit) return UINT32_MAX;
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
    uint32_t sorted[MAX_K];      /* order[j] is sorted when sorted[j] == stamp, unset if 0 */
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

/* The other centres by distance from centre a, nearest first. Centres move little from one
 * iteration to the next, so last iteration's order is re-sorted by insertion, which costs
 * about one comparison per centre when the order still holds. */
static const uint8_t *neighbours(model *m, int a) {
    if (m->sorted[a] == m->stamp) return m->order[a];
    int n = m->k - 1;
    uint64_t *keys = m->keys;
    uint8_t *order = m->order[a];
    if (m->sorted[a] == 0) {
        int t = 0;
        for (int j = 0; j < m->k; j++)
            if (j != a) keys[t++] = (uint64_t)float_key(m->cc[a][j]) << 8 | (uint64_t)j;
        sort_keys(keys, keys + MAX_K, (size_t)n);
    } else {
        for (int t = 0; t < n; t++) {
            uint64_t key = (uint64_t)float_key(m->cc[a][order[t]]) << 8 | order[t];
            int i = t;
            for (; i > 0 && keys[i - 1] > key; i--) keys[i] = keys[i - 1];
            keys[i] = key;
        }
    }
    for (int t = 0; t < n; t++) order[t] = (uint8_t)keys[t];
    m->sorted[a] = m->stamp;
    return order;
}

/* Nearest centre to x, searched outward from centre a: centres c with d(a, c) - d(x, a)
 * above the second-best distance so far can be neither nearest nor second. Sets *best
 * (distance to the nearest), *second (to the second nearest) and, if runner_up is not NULL,
 * the second's index (-1 if k == 1). Ties: lower index. The exact second distance, not
 * just a bound, keeps Hamerly's lower bound as loose as it can be. */
static int nearest_from(model *m, const float *x, int a, float *best, float *second,
                        int *runner_up) {
    const uint8_t *order = neighbours(m, a);
    float r2 = dist2(x, m->c[a]), r = sqrtf(r2);
    float best2 = r2, second2 = INFINITY;
    int b = a, b2 = -1;
    for (int i = 0; i < m->k - 1; i++) {
        int j = order[i];
        float reach = m->cc[a][j] - r;
        if (reach > 0.0f && reach * reach > second2) break;
        float d2 = dist2(x, m->c[j]);
        if (d2 < best2 || (d2 == best2 && j < b)) {
            second2 = best2;
            b2 = b;
            best2 = d2;
            b = j;
        } else if (d2 < second2 || (d2 == second2 && j < b2)) {
            second2 = d2;
            b2 = j;
        }
    }
    *best = sqrtf(best2);
    *second = sqrtf(second2);
    if (runner_up) *runner_up = b2;
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

/* Lloyd iterations with Hamerly's bounds, at most iterations + 1 updates of the centres.
 * Cold (warm == NULL): from the centres in m, each point searching from its entry in a (a
 * hint: any valid index). Warm: a, u, l and m's sums are those of the centres in warm, and
 * m's centres have been moved since (split and merge). Leaves in a each point's nearest
 * centre as of the last assignment and the centres at the means of those clusters (the
 * last three updates are plain means), and returns the weighted squared error.
 * u, l: n floats (the bounds); todo: n indices. */
static double lloyd(model *m, const points *s, uint8_t *a, float *u, float *l, uint32_t *todo,
                    int iterations, const model *warm) {
    uint32_t n = s->n;
    int k = m->k;
    if (!warm) {
        centre_distances(m);
        for (uint32_t i = 0; i < n; i++)
            a[i] = (uint8_t)nearest_from(m, s->p + 4 * i, a[i], u + i, l + i, NULL);
        model_from_assignment(m, s, a);
    }
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
        /* Centres to their means; bounds follow the moves. A warm start has its centres
         * set already, its bounds and sums those of warm's centres. */
        double beta = iteration + 3 < iterations ? RELAX : 0.0;
        float moved[MAX_K], most = 0.0f, next = 0.0f;
        int farthest = 0;
        for (int j = 0; j < k; j++) {
            float old[4];
            memcpy(old, warm && !iteration ? warm->c[j] : m->c[j], sizeof old);
            if (m->w[j] && !(warm && !iteration))
                for (int c = 0; c < 4; c++) {
                    double mean = (double)m->sum[j][c] / (double)m->w[j];
                    m->c[j][c] = (float)(mean + beta * (mean - (double)old[c]));
                }
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
        /* A few centres often move far while the rest hardly move. Against the far movers,
         * a point's lower bound is d(own, mover) - u (triangle inequality) rather than its
         * old bound less the largest move: tau is the largest move of the others. */
        float tau, near_mover[MAX_K];
        {
            uint64_t *keys = m->keys;
            for (int j = 0; j < k; j++) keys[j] = (uint64_t)float_key(moved[j]) << 8 | (uint64_t)j;
            sort_keys(keys, keys + MAX_K, (size_t)k);
            int movers = MOVERS < k - 1 ? MOVERS : k - 1;
            uint32_t bits = (uint32_t)(keys[k - 1 - movers] >> 8);
            memcpy(&tau, &bits, sizeof tau);
            for (int j = 0; j < k; j++) {
                float nearest = INFINITY;
                for (int t = k - movers; t < k; t++) {
                    int c = (int)(keys[t] & 0xff);
                    if (c != j && moved[c] > tau && m->cc[j][c] < nearest) nearest = m->cc[j][c];
                }
                near_mover[j] = nearest;
            }
        }
        /* First, branch-free, the bounds of every point and the list of those they fail;
         * then those alone: tighten u, and search if the bound still fails. */
        uint32_t changed = 0, count = 0;
        for (uint32_t i = 0; i < n; i++) {
            int own = a[i];
            float up = u[i] + moved[own];
            float hamerly = l[i] - (own == farthest ? next : most);
            float others = l[i] - tau, movers = near_mover[own] - up;
            float tiered = others < movers ? others : movers;
            float low = hamerly > tiered ? hamerly : tiered;
            u[i] = up;
            l[i] = low;
            float bound = low > m->half[own] ? low : m->half[own];
            todo[count] = i;
            count += up > bound;
        }
        for (uint32_t t = 0; t < count; t++) {
            uint32_t i = todo[t];
            int own = a[i];
            float bound = l[i] > m->half[own] ? l[i] : m->half[own];
            const float *x = s->p + 4 * i;
            u[i] = sqrtf(dist2(x, m->c[own]));
            if (u[i] <= bound) continue;
            int b = nearest_from(m, x, own, u + i, l + i, NULL);
            if (b != own) {
                move_point(m, s, i, own, b);
                a[i] = (uint8_t)b;
                changed++;
            }
        }
        if (!changed) {
            /* Converged; undo the last over-relaxation, if any: centres at their means. */
            for (int j = 0; j < k; j++)
                if (m->w[j])
                    for (int c = 0; c < 4; c++)
                        m->c[j][c] = (float)((double)m->sum[j][c] / (double)m->w[j]);
            break;
        }
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

/* Variance splitting (Wu's quantizer, on the points themselves): start from one box holding
 * every point and split, k - 1 times, the box whose best cut lowers the weighted squared
 * error most (by_gain) or the box with the largest error, at its best cut: the axis and
 * the position between integer coordinates that lower the error most, found from a
 * 256-slot histogram of the box along each axis. The boxes' means are the centres, and
 * each point's box is its cluster. Cuts for split and merge may also run along the box's
 * principal axis (by power iteration on its covariance), its projections in 256 slots. */
typedef struct {
    uint32_t lo, hi; /* the box's points are order[lo..hi) */
    int axis, cut;   /* the best cut: slot < cut goes left; axis 4: the principal axis */
    double error, gain;
    double mean[4], dir[4], origin, scale; /* the principal axis's slots */
} box;

typedef struct {
    double w[256], sum[256][4];
} slots;

static inline int slot_on(const box *b, const float *p, int axis) {
    if (axis < 4) return (int)p[axis];
    double t = 0.0;
    for (int c = 0; c < 4; c++) t += ((double)p[c] - b->mean[c]) * b->dir[c];
    int v = (int)((t - b->origin) * b->scale);
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

static inline int slot_of(const box *b, const float *p) { return slot_on(b, p, b->axis); }

static void best_cut(const points *s, const uint32_t *order, box *b, int channels, int principal,
                     slots *h) {
    double w = 0.0, sum[4] = {0, 0, 0, 0}, square = 0.0, cross[4][4] = {{0}};
    int low[5] = {255, 255, 255, 255, 0}, high[5] = {0, 0, 0, 0, 255};
    for (uint32_t t = b->lo; t < b->hi; t++) {
        const float *p = s->p + 4 * order[t];
        double wi = (double)s->w[order[t]];
        w += wi;
        for (int c = 0; c < 4; c++) {
            sum[c] += wi * (double)p[c];
            square += wi * (double)p[c] * (double)p[c];
            for (int d = 0; d <= c; d++) cross[c][d] += wi * (double)p[c] * (double)p[d];
        }
        for (int c = 0; c < channels; c++) {
            int v = (int)p[c];
            if (v < low[c]) low[c] = v;
            if (v > high[c]) high[c] = v;
        }
    }
    double whole = (sum[0] * sum[0] + sum[1] * sum[1] + sum[2] * sum[2] + sum[3] * sum[3]) / w;
    b->error = square - whole;
    b->gain = -1.0;
    int axes = channels;
    if (principal && b->hi - b->lo >= 3) {
        /* The principal axis of the box's covariance, by power iteration from the axis of
         * largest variance; its projections span 256 slots. */
        double cov[4][4], v[4] = {0, 0, 0, 0};
        int widest = 0;
        for (int c = 0; c < 4; c++) {
            b->mean[c] = sum[c] / w;
            for (int d = 0; d <= c; d++)
                cov[c][d] = cov[d][c] = cross[c][d] / w - b->mean[c] * b->mean[d];
        }
        for (int c = 1; c < channels; c++)
            if (cov[c][c] > cov[widest][widest]) widest = c;
        v[widest] = 1.0;
        for (int step = 0; step < 8; step++) {
            double x[4] = {0, 0, 0, 0}, norm = 0.0;
            for (int c = 0; c < 4; c++) {
                for (int d = 0; d < 4; d++) x[c] += cov[c][d] * v[d];
                norm += x[c] * x[c];
            }
            if (!(norm > 0.0)) break;
            norm = sqrt(norm);
            for (int c = 0; c < 4; c++) v[c] = x[c] / norm;
        }
        double lo = INFINITY, hi = -INFINITY;
        memcpy(b->dir, v, sizeof v);
        b->origin = 0.0;
        b->scale = 1.0;
        for (uint32_t t = b->lo; t < b->hi; t++) {
            const float *p = s->p + 4 * order[t];
            double x = 0.0;
            for (int c = 0; c < 4; c++) x += ((double)p[c] - b->mean[c]) * v[c];
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
        if (hi - lo > 1e-6) {
            b->origin = lo;
            b->scale = 255.999 / (hi - lo);
            axes = 5;
        }
    }
    for (int axis = 0; axis < axes; axis++) {
        if (axis >= channels && axis < 4) continue;
        if (low[axis] == high[axis]) continue;
        for (int v = low[axis]; v <= high[axis]; v++) {
            h->w[v] = 0.0;
            for (int c = 0; c < 4; c++) h->sum[v][c] = 0.0;
        }
        for (uint32_t t = b->lo; t < b->hi; t++) {
            const float *p = s->p + 4 * order[t];
            double wi = (double)s->w[order[t]];
            int v = slot_on(b, p, axis);
            h->w[v] += wi;
            for (int c = 0; c < 4; c++) h->sum[v][c] += wi * (double)p[c];
        }
        double lw = 0.0, left[4] = {0, 0, 0, 0};
        for (int v = low[axis]; v < high[axis]; v++) {
            if (h->w[v] == 0.0) continue;
            lw += h->w[v];
            double l2 = 0.0, r2 = 0.0;
            for (int c = 0; c < 4; c++) {
                left[c] += h->sum[v][c];
                double r = sum[c] - left[c];
                l2 += left[c] * left[c];
                r2 += r * r;
            }
            double gain = l2 / lw + r2 / (w - lw) - whole;
            if (gain > b->gain) {
                b->gain = gain;
                b->axis = axis;
                b->cut = v + 1;
            }
        }
    }
}

static int seed_split(model *m, const points *s, int channels, int by_gain, uint8_t *cluster) {
    uint32_t n = s->n;
    uint32_t *order = malloc((size_t)n * sizeof *order);
    slots *h = malloc(sizeof *h);
    box boxes[MAX_K];
    if (!order || !h) {
        free(order);
        free(h);
        return VQ_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    int count = 1;
    boxes[0].lo = 0;
    boxes[0].hi = n;
    best_cut(s, order, &boxes[0], channels, 0, h);
    while (count < m->k) {
        int pick = -1;
        double most = 0.0;
        for (int b = 0; b < count; b++) {
            double value = by_gain ? boxes[b].gain : boxes[b].error;
            if (boxes[b].gain > 0.0 && value > most) {
                most = value;
                pick = b;
            }
        }
        if (pick < 0) break;
        box *old = &boxes[pick], *new = &boxes[count++];
        uint32_t i = old->lo, j = old->hi;
        while (i < j) { /* partition: coordinate < cut first */
            if (slot_of(old, s->p + 4 * order[i]) < old->cut) {
                i++;
            } else {
                uint32_t t = order[i];
                order[i] = order[--j];
                order[j] = t;
            }
        }
        new->lo = i;
        new->hi = old->hi;
        old->hi = i;
        best_cut(s, order, old, channels, 0, h);
        best_cut(s, order, new, channels, 0, h);
    }
    for (int b = 0; b < m->k; b++) {
        const box *x = &boxes[b < count ? b : count - 1];
        int64_t sum[4] = {0, 0, 0, 0};
        uint64_t w = 0;
        for (uint32_t t = x->lo; t < x->hi; t++) {
            uint32_t i = order[t];
            w += s->w[i];
            for (int c = 0; c < 4; c++) sum[c] += s->sum[4 * i + c];
            cluster[i] = (uint8_t)b;
        }
        for (int c = 0; c < 4; c++) m->c[b][c] = w ? (float)((double)sum[c] / (double)w) : 0.0f;
    }
    free(order);
    free(h);
    return VQ_OK;
}

/* Split and merge, a step past Lloyd's local minimum: the centres whose points would cost
 * least extra at their second-nearest centres move, each into a cluster whose best cut
 * (along an axis or the principal axis) lowers the error by more than 1 / SWAP_FACTOR of
 * that cost, the two halves' means becoming the two centres; then Lloyd again. The round
 * is kept only if it lowers the error. The estimates ignore the re-centring that follows,
 * hence the factor; a cluster takes part in at most one swap per round, and a cluster
 * that takes a removed centre's points is split by no other. */
typedef struct {
    uint32_t *order, *runner_up;
    slots h;
    model saved;
} swap_work;

static double split_merge(model *m, const points *s, int channels, uint8_t *a, float *u,
                          float *l, uint32_t *todo, double error, int rounds, int iterations,
                          swap_work *w) {
    uint32_t n = s->n;
    int k = m->k;
    if (k < 3) return error;
    for (int round = 0; round < rounds; round++) {
        double removal[MAX_K];
        box cuts[MAX_K];
        uint32_t start[MAX_K + 1];
        uint8_t touched[MAX_K], by_removal[MAX_K], by_gain[MAX_K];
        centre_distances(m);
        memset(removal, 0, sizeof removal);
        memset(start, 0, sizeof start);
        for (uint32_t i = 0; i < n; i++) {
            float d1, d2;
            int r2;
            int b = nearest_from(m, s->p + 4 * i, a[i], &d1, &d2, &r2);
            a[i] = (uint8_t)b;
            u[i] = d1;
            l[i] = d2;
            w->runner_up[i] = (uint32_t)r2;
            removal[b] += (double)s->w[i] * ((double)d2 * (double)d2 - (double)d1 * (double)d1);
            start[b + 1]++;
        }
        model_from_assignment(m, s, a);
        for (int j = 0; j < k; j++) start[j + 1] += start[j];
        {
            uint32_t fill[MAX_K];
            memcpy(fill, start, sizeof fill);
            for (uint32_t i = 0; i < n; i++) w->order[fill[a[i]]++] = i;
        }
        for (int j = 0; j < k; j++) {
            cuts[j].lo = start[j];
            cuts[j].hi = start[j + 1];
            cuts[j].gain = -1.0;
            if (cuts[j].hi - cuts[j].lo >= 2) best_cut(s, w->order, &cuts[j], channels, 1, &w->h);
        }
        /* Rank clusters by removal cost (ascending) and by split gain (descending). */
        for (int j = 0; j < k; j++) by_removal[j] = by_gain[j] = (uint8_t)j;
        for (int t = 1; t < k; t++) {
            for (int i = t; i > 0 && removal[by_removal[i]] < removal[by_removal[i - 1]]; i--) {
                uint8_t x = by_removal[i];
                by_removal[i] = by_removal[i - 1];
                by_removal[i - 1] = x;
            }
            for (int i = t; i > 0 && cuts[by_gain[i]].gain > cuts[by_gain[i - 1]].gain; i--) {
                uint8_t x = by_gain[i];
                by_gain[i] = by_gain[i - 1];
                by_gain[i - 1] = x;
            }
        }
        memcpy(&w->saved, m, sizeof *m);
        memset(touched, 0, sizeof touched);
        int swaps = 0, g_at = 0;
        for (int t = 0; t < k; t++) {
            int r = by_removal[t];
            if (touched[r]) continue;
            while (g_at < k && (touched[by_gain[g_at]] || by_gain[g_at] == r)) g_at++;
            if (g_at >= k) break;
            int g = by_gain[g_at];
            if (cuts[g].gain * SWAP_FACTOR <= removal[r]) break;
            /* r's points go to their runners-up: those clusters change, g must not be one. */
            int clash = 0;
            for (uint32_t q = start[r]; q < start[r + 1]; q++)
                if ((int)w->runner_up[w->order[q]] == g) clash = 1;
            if (clash) continue;
            for (uint32_t q = start[r]; q < start[r + 1]; q++) {
                int x = (int)w->runner_up[w->order[q]];
                if (x >= 0) touched[x] = 1;
            }
            touched[r] = touched[g] = 1;
            int64_t left[4] = {0, 0, 0, 0}, right[4] = {0, 0, 0, 0};
            uint64_t lw = 0, rw = 0;
            for (uint32_t q = start[g]; q < start[g + 1]; q++) {
                uint32_t i = w->order[q];
                int go_left = slot_of(&cuts[g], s->p + 4 * i) < cuts[g].cut;
                if (go_left) lw += s->w[i];
                else rw += s->w[i];
                for (int c = 0; c < 4; c++) {
                    if (go_left) left[c] += s->sum[4 * i + c];
                    else right[c] += s->sum[4 * i + c];
                }
            }
            if (!lw || !rw) continue;
            for (int c = 0; c < 4; c++) {
                m->c[r][c] = (float)((double)left[c] / (double)lw);
                m->c[g][c] = (float)((double)right[c] / (double)rw);
            }
            swaps++;
        }
        if (!swaps) break;
        memcpy(w->runner_up, a, n); /* a's bytes, to restore a failed round */
        double after = lloyd(m, s, a, u, l, todo, iterations, &w->saved);
        if (after >= error) {
            memcpy(m, &w->saved, sizeof *m);
            memcpy(a, w->runner_up, n);
            break;
        }
        error = after;
    }
    return error;
}

/* ---- the whole fit ---------------------------------------------------------------------- */

typedef struct {
    points pts;
    uint32_t *of; /* colour -> point (NULL: the exact colours, one point each) */
} level;

static void level_free(level *v) {
    points_free(&v->pts);
    free(v->of);
    v->of = NULL;
    v->pts.n = 0;
}

/* The colours grouped at bits bits per channel (8: the colours themselves), if that makes
 * at most limit points: VQ_OK, VQ_ERR_NOMEM, or VQ_ERR_FULL when there would be more. */
static int level_make(const uint8_t *colours, const uint64_t *counts, uint32_t n, int channels,
                      int bits, uint32_t limit, level *v) {
    v->of = NULL;
    if (bits >= 8) {
        if (n > limit) return VQ_ERR_FULL;
        return exact_points(colours, counts, n, channels, &v->pts);
    }
    v->of = malloc((size_t)n * sizeof *v->of);
    uint32_t got = v->of ? bin_points(colours, counts, n, channels, bits, limit, v->of, &v->pts)
                         : 0;
    if (got == 0 || got == UINT32_MAX) {
        level_free(v);
        return got ? VQ_ERR_FULL : VQ_ERR_NOMEM;
    }
    return VQ_OK;
}

int vq_kmeans(const uint8_t *colours, const uint64_t *counts, uint32_t n, int channels, int k,
              uint64_t seed, double *centres, uint8_t *assignment) {
    if (n < 1 || k < 1 || k > MAX_K || (uint32_t)k > n || (channels != 3 && channels != 4))
        return VQ_ERR_ARGS;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (counts[i] > (UINT64_C(1) << 48) - total) return VQ_ERR_ARGS; /* sums fit int64 */
        total += counts[i];
    }
    const schedule plan = schedule_for(k);
    int status = VQ_ERR_NOMEM;
    model *m = calloc(1, sizeof *m), *best = calloc(1, sizeof *best);
    swap_work *swaps = NULL;
    level coarse, fine;
    memset(&coarse, 0, sizeof coarse);
    memset(&fine, 0, sizeof fine);
    uint8_t *a = NULL, *a_best = NULL;
    float *f1 = NULL, *f2 = NULL, *f3 = NULL;
    uint32_t *todo = NULL;
    double *mass = NULL;
    if (!m || !best) goto done;
    m->k = best->k = k;

    /* The fine level: the exact colours, or the finest bins with at most FINE_MAX points.
     * The coarse level: the seeding bins, if they leave room for k clusters with points to
     * spare and are at most half as many as the fine level's points. */
    int fine_bits = 8, made;
    while ((made = level_make(colours, counts, n, channels, fine_bits, FINE_MAX, &fine)))
        if (made != VQ_ERR_FULL || --fine_bits == 0) goto done; /* 1 bit: at most 16 bins */
    int two_levels = 0;
    if (plan.seed_bits < fine_bits) {
        if (level_make(colours, counts, n, channels, plan.seed_bits, UINT32_MAX, &coarse))
            goto done;
        two_levels = coarse.pts.n >= 2 * (uint32_t)k && 2 * coarse.pts.n <= fine.pts.n;
        if (!two_levels) level_free(&coarse);
    }
    const level *first = two_levels ? &coarse : &fine;
    uint32_t most = fine.pts.n > first->pts.n ? fine.pts.n : first->pts.n;
    a = malloc(most);
    a_best = malloc(most);
    f1 = malloc((size_t)most * sizeof *f1);
    f2 = malloc((size_t)most * sizeof *f2);
    f3 = malloc((size_t)most * sizeof *f3);
    todo = malloc((size_t)most * sizeof *todo);
    mass = malloc((size_t)most * sizeof *mass);
    if (!a || !a_best || !f1 || !f2 || !f3 || !todo || !mass) goto done;

    /* Seed and run Lloyd on the first level; for small k, the best of several seedings. */
    const points *s0 = &first->pts;
    int first_iterations = two_levels ? plan.coarse_iterations : plan.fine_iterations;
    uint64_t rng = seed;
    double best_error = INFINITY;
    for (int run = 0; run < plan.restarts; run++) {
        if (run < 2) {
            if (seed_split(m, s0, channels, run == 0, a)) goto done;
        } else {
            seed_kmeanspp(m, s0, &rng, f1, f2, f3, mass);
            memset(a, 0, s0->n);
        }
        double error = lloyd(m, s0, a, f1, f2, todo, first_iterations, NULL);
        if (error < best_error) {
            best_error = error;
            memcpy(best, m, sizeof *m);
            memcpy(a_best, a, s0->n);
        }
    }
    double error = best_error;
    if (two_levels) {
        /* Each fine point starts its search at the centre of the bin it lies in. */
        for (uint32_t i = 0; i < n; i++)
            a[fine.of ? fine.of[i] : i] = a_best[coarse.of[i]];
        memcpy(a_best, a, fine.pts.n);
        error = lloyd(best, &fine.pts, a_best, f1, f2, todo, plan.fine_iterations, NULL);
    }
    if (plan.swap_rounds) {
        swaps = malloc(sizeof *swaps);
        if (!swaps) goto done;
        swaps->order = malloc((size_t)fine.pts.n * sizeof *swaps->order);
        swaps->runner_up = malloc((size_t)fine.pts.n * sizeof *swaps->runner_up);
        if (!swaps->order || !swaps->runner_up) goto done;
        split_merge(best, &fine.pts, channels, a_best, f1, f2, todo, error, plan.swap_rounds,
                    plan.swap_iterations, swaps);
    }
    for (int j = 0; j < k; j++)
        for (int c = 0; c < channels; c++) centres[j * channels + c] = (double)best->c[j][c];
    for (uint32_t i = 0; i < n; i++) assignment[i] = a_best[fine.of ? fine.of[i] : i];
    status = VQ_OK;
done:
    if (swaps) {
        free(swaps->order);
        free(swaps->runner_up);
        free(swaps);
    }
    level_free(&coarse);
    level_free(&fine);
    free(m);
    free(best);
    free(a);
    free(a_best);
    free(f1);
    free(f2);
    free(f3);
    free(todo);
    free(mass);
    return status;
}

/* ---- exact nearest codeword ------------------------------------------------------------- */

/* Points and codewords are "lifted" to integer coordinates in which the metric is plain
 * squared Euclidean distance, so one pruned search serves both metrics:
 *  - plain: the bytes themselves (channels coordinates, the rest zero);
 *  - premultiplied (RGBA): (r a, g a, b a, 255 a), 255**2 times premultiplied-alpha colour.
 *    Colour error counts in proportion to alpha, so every fully transparent pixel is at the
 *    same distance from each codeword whatever its hidden colour.
 * Coordinates are below 2**16 and squared distances below 2**35: exact in int64 and in the
 * doubles of the codeword-to-codeword table. */
struct vq_search {
    int entries, channels, premultiplied;
    int32_t code[MAX_K][4]; /* the lifted codewords */
    double *cc;             /* entries x entries codeword-to-codeword distances */
    uint8_t *order;         /* for each codeword, the others by distance, nearest first */
};

static inline void lift(const uint8_t *x, int channels, int premultiplied, int32_t *out) {
    if (premultiplied) {
        int32_t a = x[3];
        out[0] = x[0] * a;
        out[1] = x[1] * a;
        out[2] = x[2] * a;
        out[3] = 255 * a;
        return;
    }
    for (int c = 0; c < 4; c++) out[c] = c < channels ? x[c] : 0;
}

static inline int64_t lifted_dist2(const int32_t *a, const int32_t *b) {
    int64_t total = 0;
    for (int c = 0; c < 4; c++) {
        int64_t d = (int64_t)a[c] - b[c];
        total += d * d;
    }
    return total;
}

void vq_search_free(vq_search *s) {
    if (!s) return;
    free(s->cc);
    free(s->order);
    free(s);
}

vq_search *vq_search_new(const uint8_t *codebook, int entries, int channels, int premultiplied) {
    if (entries < 1 || entries > MAX_K || channels < 1 || channels > 4 ||
        (premultiplied && channels != 4))
        return NULL;
    vq_search *s = malloc(sizeof *s);
    if (!s) return NULL;
    s->entries = entries;
    s->channels = channels;
    s->premultiplied = premultiplied;
    s->cc = malloc((size_t)entries * entries * sizeof *s->cc);
    s->order = malloc((size_t)entries * entries);
    if (!s->cc || !s->order) {
        vq_search_free(s);
        return NULL;
    }
    /* One copy of the codebook, read once: the caller's buffer may change meanwhile. */
    for (int j = 0; j < entries; j++)
        lift(codebook + j * channels, channels, premultiplied, s->code[j]);
    uint64_t keys[2 * MAX_K];
    for (int a = 0; a < entries; a++) {
        int m = 0;
        for (int j = 0; j < entries; j++) {
            int64_t d2 = lifted_dist2(s->code[a], s->code[j]);
            s->cc[a * entries + j] = sqrt((double)d2);
            if (j != a) keys[m++] = (uint64_t)d2 << 8 | (uint64_t)j; /* d2 < 2**35 */
        }
        sort_keys(keys, keys + MAX_K, (size_t)m);
        for (int i = 0; i < m; i++) s->order[a * entries + i] = (uint8_t)keys[i];
    }
    return s;
}

int vq_search_find(const vq_search *s, const uint8_t *point, int start) {
    int32_t x[4];
    lift(point, s->channels, s->premultiplied, x);
    const int entries = s->entries;
    int64_t best2 = lifted_dist2(x, s->code[start]);
    int b = start;
    /* Stop once d(start, c) - d(x, start) exceeds the best distance: by the triangle
     * inequality no later c can be as near. The margin keeps rounding of the square roots
     * (relative error 2**-53 of values below 2**18) from stopping too soon. */
    double r = sqrt((double)best2), best = r;
    const double *cc = s->cc + (size_t)start * entries;
    const uint8_t *others = s->order + (size_t)start * entries;
    for (int t = 0; t < entries - 1; t++) {
        int j = others[t];
        if (cc[j] - r > best + 1e-6) break;
        int64_t d2 = lifted_dist2(x, s->code[j]);
        if (d2 < best2 || (d2 == best2 && j < b)) {
            best2 = d2;
            b = j;
            best = sqrt((double)d2);
        }
    }
    return b;
}

static int nearest_all(const uint8_t *pts, uint64_t n, int channels, int premultiplied,
                       const uint8_t *codebook, int entries, const uint8_t *hint,
                       uint8_t *labels) {
    vq_search *s = vq_search_new(codebook, entries, channels, premultiplied);
    if (!s) return VQ_ERR_NOMEM;
    int previous = 0, status = VQ_OK;
    for (uint64_t i = 0; i < n; i++) {
        int a = hint ? hint[i] : previous; /* read once: the caller's buffer may change */
        if (a >= entries) {
            status = VQ_ERR_LABEL;
            break;
        }
        previous = vq_search_find(s, pts + i * channels, a);
        labels[i] = (uint8_t)previous;
    }
    vq_search_free(s);
    return status;
}

int vq_nearest(const uint8_t *pts, uint64_t n, int channels, const uint8_t *codebook,
               int entries, const uint8_t *hint, uint8_t *labels) {
    if (entries < 1 || entries > MAX_K || (channels != 3 && channels != 4)) return VQ_ERR_ARGS;
    return nearest_all(pts, n, channels, 0, codebook, entries, hint, labels);
}

int vq_nearest_rgba(const uint8_t *pts, uint64_t n, const uint8_t *codebook, int entries,
                    const uint8_t *hint, uint8_t *labels) {
    if (entries < 1 || entries > MAX_K) return VQ_ERR_ARGS;
    return nearest_all(pts, n, 4, 1, codebook, entries, hint, labels);
}
