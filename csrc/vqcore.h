/* vqcore.h: the per-pixel kernels of vqcodec, in plain C99.
 *
 * No Python here: each kernel takes whole buffers with their lengths, allocates nothing the
 * size of the image, and reports how it ended with a status code. The CPython glue in
 * module.c checks every length and shape before calling, releases the GIL around the call,
 * and maps the status codes to exceptions in one place. The fuzz harnesses in fuzz/ call
 * these functions directly.
 */
#ifndef VQCORE_H
#define VQCORE_H

#include <stddef.h>
#include <stdint.h>

/* Status codes. */
enum {
    VQ_OK = 0,
    VQ_ERR_OVERRUN = -1,   /* the coded labels need bytes past the end of the payload */
    VQ_ERR_RUN = -2,       /* entropy2: a run length at or past its span (spec §4.3) */
    VQ_ERR_LABEL = -3,     /* a label at or past the codebook's size */
    VQ_ERR_FULL = -4,      /* encoder: the output buffer (the byte budget) is full */
    VQ_ERR_NOMEM = -5,     /* a small working buffer could not be allocated */
    VQ_ERR_ARGS = -6,      /* arguments out of range (the glue never lets this happen) */
    VQ_ERR_STATE = -7      /* entropy2: a coder state where no valid payload starts or ends */
};

/* ---- entropy coding, label_coding 1 (spec §4.2) ------------------------------------- */

/* Working memory of the coder: the adaptive models plus three rows of width + 3 labels. */
size_t vq_entropy_work_bytes(uint32_t width);

/* Code the width x height labels (row-major, each < 2**bits) into out[0..capacity).
 * Returns the number of bytes written, or VQ_ERR_FULL when they do not fit. */
int64_t vq_entropy_encode(const uint8_t *labels, uint32_t width, uint32_t height, int bits,
                          uint8_t *out, size_t capacity, void *work);

/* Decode payload[0..size) into width x height labels; returns the bytes consumed (the
 * caller rejects a payload with bytes left over). Stops at the first read past the
 * payload's end (VQ_ERR_OVERRUN), so its work is bounded by the payload's length. */
int64_t vq_entropy_decode(const uint8_t *payload, size_t size, uint32_t width,
                          uint32_t height, int bits, uint8_t *labels, void *work);

/* ---- entropy2 coding, label_coding 2 (spec §4.3) ----------------------------------- */

/* Working memory of the coder: the adaptive models (about 45 KB) plus three rows of
 * width + 3 labels. */
size_t vq_entropy2_work_bytes(uint32_t width);

/* Code the width x height labels (row-major, each < 2**bits) into out[0..capacity).
 * Returns the number of bytes written, VQ_ERR_FULL when they do not fit, or VQ_ERR_NOMEM.
 * Besides work it allocates the symbol records of one chunk (about 2**21 + 3 width + 1
 * records of 4 bytes) and, for images of more than one chunk, a copy of work per chunk. */
int64_t vq_entropy2_encode(const uint8_t *labels, uint32_t width, uint32_t height, int bits,
                           int residual, uint8_t *out, size_t capacity, void *work);

/* vq_entropy2_encode with about chunk records per chunk (0: the default, 2**21): the same
 * bytes whatever the chunk; small chunks let tests reach the multi-chunk path. */
int64_t vq_entropy2_encode_chunked(const uint8_t *labels, uint32_t width, uint32_t height,
                                   int bits, int residual, uint8_t *out, size_t capacity,
                                   void *work, size_t chunk);

/* Decode payload[0..size) into width x height labels; returns the bytes consumed (the
 * caller rejects a payload with bytes left over), VQ_ERR_OVERRUN at the first read past
 * the payload's end, VQ_ERR_RUN for a run longer than its span, VQ_ERR_LABEL for a
 * residual literal ranked past the last label, VQ_ERR_STATE for initial
 * or final states a valid payload cannot have. Works in place of nothing but labels and
 * work: labels may be the tail of the caller's pixel buffer (see vq_gather). */
int64_t vq_entropy2_decode(const uint8_t *payload, size_t size, uint32_t width,
                           uint32_t height, int bits, uint8_t *labels, void *work);

/* ---- packed labels (spec §4.1) and the codebook lookup ------------------------------- */

size_t vq_packed_size(uint64_t count, int bits);

/* Pack count labels at bits bits each, MSB first; out holds vq_packed_size(count, bits). */
void vq_pack(const uint8_t *labels, uint64_t count, int bits, uint8_t *out);

/* Unpack count labels from vq_packed_size(count, bits) bytes. */
void vq_unpack(const uint8_t *payload, uint64_t count, int bits, uint8_t *labels);

/* Every label to its codeword: out[i * channels + c] = codebook[labels[i] * channels + c].
 * VQ_ERR_LABEL when a label is >= entries (out is then partly written). labels may lie at
 * the end of out itself (labels == out + count * (channels - 1)): the expansion runs
 * forward and never overwrites a label it has yet to read. */
int vq_gather(const uint8_t *labels, uint64_t count, const uint8_t *codebook, int entries,
              int channels, uint8_t *out);

/* Packed payload straight to pixels (unpack and gather in one pass). */
int vq_expand(const uint8_t *payload, uint64_t count, int bits, const uint8_t *codebook,
              int entries, int channels, uint8_t *out);

/* ---- blocks (blocks.c): labels of up to 16 bits, painting, nearest search ----------- */

/* The most components a block vector has: 8 x 8 pixels of 4 channels (spec §2). */
#define VQ_MAX_BLOCK_DIM 256

/* vq_pack and vq_unpack for labels of 1..16 bits held as uint16 (spec §4.1). */
void vq_pack_wide(const uint16_t *labels, uint64_t count, int bits, uint8_t *out);
void vq_unpack_wide(const uint8_t *payload, uint64_t count, int bits, uint16_t *labels);

/* The width x height image (channels bytes a pixel) from its labels, one a block of
 * block_width x block_height pixels, ceil(width / block_width) blocks a row, row-major
 * (spec §4.4): each block's code vector (its pixels row-major, entries x block_width x
 * block_height x channels bytes in all) is copied into the image, the parts past the
 * right and bottom edges dropped. VQ_ERR_LABEL if a label is >= entries (its block is
 * painted with entry 0). */
int vq_paint(const uint16_t *labels, uint32_t width, uint32_t height, int block_width,
             int block_height, const uint8_t *codebook, int entries, int channels,
             uint8_t *out);

/* Each of n vectors (n x dim bytes, 1 <= dim <= VQ_MAX_BLOCK_DIM) to its nearest of entries
 * (1..65536) codewords (entries x dim floats): squared Euclidean distance, ties to the lower
 * index; distances (n floats, or NULL) gets each one's. With integer-valued codewords every
 * distance is an integer below 2**24, exact in float, so the answer is exact. Allocates
 * O(entries x dim); VQ_ERR_ARGS (also for a NaN or infinite component) or VQ_ERR_NOMEM. */
int vq_block_nearest(const uint8_t *vectors, uint64_t n, int dim, const float *codebook,
                     int entries, uint16_t *labels, float *distances);

/* Lloyd's update: the component sums (entries x dim doubles) and counts of the vectors
 * labelled with each codeword. VQ_ERR_LABEL if a label is >= entries. */
int vq_block_sums(const uint8_t *vectors, uint64_t n, int dim, const uint16_t *labels,
                  int entries, double *sums, uint64_t *counts);

/* ---- colour k-means (kmeans.c; vqcodec.quantize) --------------------------------------- */

/* Distinct colours of an RGB image through an index of vq_rgb_index_bytes() bytes: a
 * 2**24-bit presence map and the count of set bits before each 64-bit word of it. */
size_t vq_rgb_index_bytes(void);

/* Set the presence bits of count RGB pixels (3 bytes each) in the index, others left as
 * they are: an image is indexed by clearing the presence map (the index's first 2**18
 * words), marking its pixels and ranking; or, on several threads, by marking parts into
 * separate indexes, OR-ing their presence maps and ranking the result. */
void vq_rgb_mark(const uint8_t *pixels, uint64_t count, void *index);

/* Fill the index's counts of set bits before each word; returns the colours present. */
uint32_t vq_rgb_rank(void *index);

/* The index's colours in ascending order (colours x 3 bytes) and each one's pixel count.
 * VQ_ERR_ARGS if the index does not hold exactly colours colours or lacks a pixel's. */
int vq_rgb_histogram(const uint8_t *pixels, uint64_t count, const void *index,
                     uint32_t colours, uint8_t *rgb, uint64_t *counts);

/* labels[i] = colour_labels[rank of pixel i's colour]; VQ_ERR_ARGS if a pixel's colour is
 * not in the index or its rank is >= colours. */
int vq_rgb_labels(const uint8_t *pixels, uint64_t count, const void *index,
                  const uint8_t *colour_labels, uint32_t colours, uint8_t *labels);

/* Weighted k-means of n distinct colours (n x channels bytes, channels 3 or 4) with pixel
 * counts as weights (their total below 2**48), 1 <= k <= min(n, 256): k centres (k x
 * channels doubles) and each colour's cluster. Deterministic for a given seed. */
int vq_kmeans(const uint8_t *colours, const uint64_t *counts, uint32_t n, int channels, int k,
              uint64_t seed, double *centres, uint8_t *assignment);

/* Each of n points (n x channels bytes) to its nearest of entries codewords (squared
 * Euclidean distance, exact; ties to the lower index). hint (n labels, or NULL) is where
 * each point's search starts: any valid labels give the same result, near ones faster.
 * VQ_ERR_LABEL if a hint is >= entries. */
int vq_nearest(const uint8_t *points, uint64_t n, int channels, const uint8_t *codebook,
               int entries, const uint8_t *hint, uint8_t *labels);

/* vq_nearest for straight-alpha RGBA points and codewords under the premultiplied metric
 *     sum over c in r, g, b of (x_c x_a - y_c y_a)**2 + (255 (x_a - y_a))**2
 * (255**2 times the squared distance of the premultiplied colours, exact in integers):
 * colour error weighs in proportion to alpha, and a fully transparent point's hidden
 * colour does not count at all. */
int vq_nearest_rgba(const uint8_t *points, uint64_t n, const uint8_t *codebook, int entries,
                    const uint8_t *hint, uint8_t *labels);

/* The search behind vq_nearest, for kernels that find one point at a time (dither.c): a
 * copy of the codebook with its codeword-to-codeword distances. premultiplied (channels 4
 * only) selects vq_nearest_rgba's metric. NULL if the arguments are out of range or memory
 * ran out. vq_search_find returns the nearest codeword to the point (channels bytes),
 * searching from start (0 <= start < entries; any start gives the same answer). */
typedef struct vq_search vq_search;
vq_search *vq_search_new(const uint8_t *codebook, int entries, int channels, int premultiplied);
int vq_search_find(const vq_search *s, const uint8_t *point, int start);
void vq_search_free(vq_search *s);

/* ---- error diffusion (dither.c) -------------------------------------------------------- */

#define VQ_DITHER_FULL 256 /* strength of full Floyd-Steinberg diffusion */

/* Working memory of vq_dither: two rows of error; 0 if the size would overflow. */
size_t vq_dither_work_bytes(uint32_t width, int channels);

/* Label the width x height pixels (channels 1, 3 or 4, row-major) with Floyd-Steinberg
 * error diffusion onto the codebook, the diffused error scaled by strength /
 * VQ_DITHER_FULL (0..VQ_DITHER_FULL; 0 is the plain nearest mapping). Integer arithmetic
 * only. Channels 4 is straight-alpha RGBA under vq_nearest_rgba's metric: colour error is
 * diffused, alpha is not (see dither.c). VQ_ERR_ARGS or VQ_ERR_NOMEM. */
int vq_dither(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
              const uint8_t *codebook, int entries, int strength, void *work, uint8_t *labels);

#endif
