/* dither.c: Floyd-Steinberg error diffusion onto a fixed codebook (vqcodec.quantize.dither).
 *
 * At 2-4 bits a smooth gradient becomes flat bands. Passing each pixel's error on to the
 * neighbours not yet labelled (7/16 ahead, 3/16 behind below, 5/16 below, 1/16 ahead
 * below) makes the local mean of the output follow the original's instead.
 *
 * Choices:
 *  - Serpentine scan: even rows left to right, odd rows right to left, the weights
 *    mirrored. A raster scan pushes the error the same way on every row, which draws
 *    diagonal "worms" in flat areas; alternating costs nothing.
 *  - Integer arithmetic only, so the labels are the same bytes on every machine and
 *    compiler: targets and errors are in 1/65536 of a level (Q16); the error passed on is
 *    scaled by strength / VQ_DITHER_FULL and split 7:3:5:1 by truncating division (toward
 *    zero in C99, so no bias by sign), the last share taking the remainder so that the
 *    diffusion neither loses nor makes error.
 *  - Targets are clamped, per channel, to the range the codewords span (for RGBA, the
 *    codewords that are not fully transparent): a level outside it cannot be reached by any
 *    mix of codewords, and the error of trying would pile up and smear into the
 *    neighbouring region, which could be matched.
 *  - Error leaving the image at its borders is dropped.
 *  - RGBA: colour is diffused, alpha is not: dithered alpha makes noisy half-visible edges
 *    and would turn hidden pixels visible. A pixel passes on its colour error times
 *    alpha / 255, the part of it that shows; a fully transparent pixel gets its plain label
 *    (the same whatever its hidden colour), and passes on no error and keeps none.
 */
#include <string.h>

#include "vqcore.h"

#define Q 16                            /* fraction bits of targets and errors */
#define HALF (INT32_C(1) << (Q - 1))

typedef struct {
    vq_search *search;
    uint8_t code[256][4]; /* our copy: the caller's codebook may change meanwhile */
    int32_t lo[3], hi[3]; /* the targets' range per channel (Q16) */
    int channels, diffused, strength;
} ditherer;

size_t vq_dither_work_bytes(uint32_t width, int channels) {
    (void)channels; /* room for three colour errors per slot whatever the channels */
    const size_t per_slot = 2 * 3 * sizeof(int32_t);
    if ((uint64_t)width + 2 > SIZE_MAX / per_slot) return 0;
    return ((size_t)width + 2) * per_slot;
}

static inline int32_t clamp(int32_t t, int32_t lo, int32_t hi) {
    return t < lo ? lo : t > hi ? hi : t;
}

/* The range of each diffused channel over the codewords (for RGBA, those with alpha > 0;
 * if there are none, 0..255). */
static void target_range(ditherer *d, int entries) {
    for (int c = 0; c < d->diffused; c++) {
        int lo = 255, hi = 0;
        for (int j = 0; j < entries; j++) {
            if (d->channels == 4 && d->code[j][3] == 0) continue;
            lo = d->code[j][c] < lo ? d->code[j][c] : lo;
            hi = d->code[j][c] > hi ? d->code[j][c] : hi;
        }
        if (lo > hi) {
            lo = 0;
            hi = 255;
        }
        d->lo[c] = (int32_t)lo << Q;
        d->hi[c] = (int32_t)hi << Q;
    }
}

/* Share e among the four neighbours not yet labelled, 7:3:5:1 of 16, losing nothing. */
static inline void spread(int32_t e, int32_t *ahead, int32_t *behind_below, int32_t *below,
                          int32_t *ahead_below) {
    int32_t seven = e * 7 / 16, three = e * 3 / 16, five = e * 5 / 16;
    *ahead += seven;
    *behind_below += three;
    *below += five;
    *ahead_below += e - seven - three - five;
}

/* One row, forwards or backwards. cur holds the error this row has received, next the
 * error for the row below; slot x + 1 is pixel x, slots 0 and width + 1 take (and drop)
 * what leaves the image. Returns the last label, where the next row's search starts. */
static int dither_row(const ditherer *d, const uint8_t *row, uint32_t width, int backwards,
                      int32_t *cur, int32_t *next, int last, uint8_t *labels) {
    const int n = d->diffused;
    const ptrdiff_t step = backwards ? -n : n;
    for (uint32_t i = 0; i < width; i++) {
        uint32_t x = backwards ? width - 1 - i : i;
        const uint8_t *p = row + (size_t)x * d->channels;
        if (d->channels == 4 && p[3] == 0) {
            last = vq_search_find(d->search, p, last);
            labels[x] = (uint8_t)last;
            continue;
        }
        int32_t *here = cur + (size_t)(x + 1) * n, *below = next + (size_t)(x + 1) * n;
        int32_t t[3];
        uint8_t target[4];
        for (int c = 0; c < n; c++) {
            t[c] = clamp(((int32_t)p[c] << Q) + here[c], 0, INT32_C(255) << Q);
            target[c] = (uint8_t)((t[c] + HALF) >> Q); /* t >= 0: the shift is exact */
            t[c] = clamp(t[c], d->lo[c], d->hi[c]);
        }
        if (d->channels == 4) target[3] = p[3];
        last = vq_search_find(d->search, target, last);
        labels[x] = (uint8_t)last;
        /* |error| < 2**24 and scale <= 2**16: the product fits int64, the share int32. */
        const int64_t scale = (int64_t)d->strength * (d->channels == 4 ? p[3] : 255);
        for (int c = 0; c < n; c++) {
            int64_t error = (int64_t)t[c] - ((int64_t)d->code[last][c] << Q);
            int32_t e = (int32_t)(error * scale / (255 * VQ_DITHER_FULL));
            spread(e, here + step + c, below - step + c, below + c, below + step + c);
        }
    }
    return last;
}

int vq_dither(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
              const uint8_t *codebook, int entries, int strength, void *work, uint8_t *labels) {
    if (width < 1 || height < 1 || (channels != 1 && channels != 3 && channels != 4) ||
        entries < 1 || entries > 256 || strength < 0 || strength > VQ_DITHER_FULL)
        return VQ_ERR_ARGS;
    ditherer d;
    d.search = vq_search_new(codebook, entries, channels, channels == 4);
    if (!d.search) return VQ_ERR_NOMEM;
    memset(d.code, 0, sizeof d.code);
    for (int j = 0; j < entries; j++)
        for (int c = 0; c < channels; c++) d.code[j][c] = codebook[j * channels + c];
    d.channels = channels;
    d.diffused = channels == 1 ? 1 : 3;
    d.strength = strength;
    target_range(&d, entries);
    const size_t slots = ((size_t)width + 2) * (size_t)d.diffused;
    int32_t *cur = work, *next = cur + slots;
    memset(cur, 0, 2 * slots * sizeof *cur);
    int last = 0;
    for (uint32_t y = 0; y < height; y++) {
        last = dither_row(&d, pixels + (size_t)y * width * channels, width, y & 1, cur, next,
                          last, labels + (size_t)y * width);
        int32_t *t = cur;
        cur = next;
        next = t;
        memset(next, 0, slots * sizeof *next);
    }
    vq_search_free(d.search);
    return VQ_OK;
}
