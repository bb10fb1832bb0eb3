/* fuzz_entropy2_roundtrip.c: libFuzzer harness of the entropy2 encoder against its decoder
 * (label_coding 2, spec §4.3), from label maps the fuzzer chooses. Input layout: harness.h,
 * with byte 0's bits 6-7 choosing how the payload becomes width * height labels (each masked
 * to bits bits):
 *
 *   0 raw:    one label a byte, repeated to fill the image (zeros when empty);
 *   1 runs:   pairs (label, length code), repeated: runs of 1..128 or 64..8128 labels;
 *   2 rows:   triples (label, rows - 1 (low 4 bits), edit): constant rows, each with one label
 *             changed (to label ^ 1) at x = edit * width / 256 unless edit is 0, repeated;
 *   3 sparse: all labels the first byte, then pairs (gap, label) put single labels gap**2 + 1
 *             apart, not repeated: long flat stretches, for the run mode at scale.
 *
 * Layouts 0-2 are cut to MAX_PIXELS2 labels (harness.h), layout 3 to SPARSE_PIXELS: most of its
 * labels are in runs, which cost the coder little, and it is where the header rule's pixels
 * per byte are tightest. Mode bit set: the budget is the packed size, as the writer's (a file
 * is never larger than packed), else one no label map can exceed.
 *
 * Checks: the encoder succeeds within the budget (or, in mode, says VQ_ERR_FULL), with at
 * least the bytes spec §4.3's header rule asks of that many pixels (entropy2_pays_for: the
 * reader refuses a shorter payload); decode(encode(labels)) == labels, consuming exactly the
 * encoder's bytes (also when more bytes follow); one byte fewer is a decoder error; a budget
 * of exactly the coded size gives the same bytes, also encoded in chunks of 256 * entries
 * records (byte 5; vq_entropy2_encode_chunked, the multi-chunk path that large images take
 * with the default chunk); one byte fewer, half, and none give
 * VQ_ERR_FULL, never a write past the budget (each buffer is exactly that long, and the one
 * of none a canary byte).
 */
#include "harness.h"

#define SPARSE_PIXELS (1u << 18)

static void make_labels(const input_t *in, int layout, uint8_t *labels) {
    uint64_t count = in->count;
    uint8_t mask = (uint8_t)((1u << in->bits) - 1);
    const uint8_t *p = in->payload;
    size_t n = in->size;
    if (layout == 0 || n < 2 + (layout == 2)) {
        for (uint64_t i = 0; i < count; i++) labels[i] = n ? p[i % n] & mask : 0;
        return;
    }
    if (layout == 1) {
        size_t at = 0;
        for (uint64_t i = 0; i < count;) {
            uint8_t label = p[at] & mask, code = p[at + 1];
            uint64_t length = code < 128 ? code + 1u : (code - 127u) * 64u;
            for (uint64_t k = 0; k < length && i < count; k++) labels[i++] = label;
            at = at + 4 <= n ? at + 2 : 0;
        }
        return;
    }
    if (layout == 2) {
        size_t at = 0;
        uint32_t width = in->width;
        for (uint64_t y = 0; y < in->height;) {
            uint8_t label = p[at] & mask;
            uint64_t rows = (p[at + 1] & 15) + 1u, edit = p[at + 2];
            for (uint64_t r = 0; r < rows && y < in->height; r++, y++) {
                memset(labels + y * width, label, width);
                if (edit) labels[y * width + edit * width / 256] = (label ^ 1) & mask;
            }
            at = at + 6 <= n ? at + 3 : 0;
        }
        return;
    }
    memset(labels, p[0] & mask, count);
    uint64_t i = 0;
    for (size_t at = 1; at + 2 <= n; at += 2) {
        i += (uint64_t)p[at] * p[at] + 1;
        if (i >= count) break;
        labels[i] = p[at + 1] & mask;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input_t in;
    if (!parse_input(data, size, &in)) return 0;
    int layout = data[0] >> 6;
    cut_labels(&in, layout == 3 ? SPARSE_PIXELS : MAX_PIXELS2);
    uint64_t count = in.count;
    uint8_t *labels = malloc(count);
    make_labels(&in, layout, labels);
    void *work = malloc(vq_entropy2_work_bytes(in.width));

    size_t capacity = in.mode ? vq_packed_size(count, in.bits) : entropy2_capacity(count, in.bits);
    uint8_t *coded = malloc(capacity);
    /* Both literal modes (bits > 4), chosen by the entry count's parity. */
    int mode = in.bits > 4 && (in.entries & 1);
    int64_t coded_size = vq_entropy2_encode(labels, in.width, in.height, in.bits, mode, coded,
                                            capacity, work);
    if (in.mode && coded_size == VQ_ERR_FULL) goto done; /* larger than packed: stored packed */
    CHECK(coded_size >= 8 && (size_t)coded_size <= capacity, "encoder status %lld (budget %zu)",
          (long long)coded_size, capacity);
    /* Never shorter than the header rule: the reader refuses such a payload unread. */
    CHECK(entropy2_pays_for((uint64_t)coded_size, count), "%llu labels (%ux%u) in %lld bytes",
          (unsigned long long)count, in.width, in.height, (long long)coded_size);

    /* Decoded from a block of exactly the coded bytes: the labels, consuming all of them. */
    uint8_t *exact = malloc((size_t)coded_size);
    memcpy(exact, coded, (size_t)coded_size);
    uint8_t *decoded = malloc(count);
    int64_t used = vq_entropy2_decode(exact, (size_t)coded_size, in.width, in.height, in.bits,
                                      decoded, work);
    CHECK(used == coded_size, "encoded %lld bytes, the decoder consumed %lld",
          (long long)coded_size, (long long)used);
    CHECK(memcmp(decoded, labels, count) == 0, "labels differ after the round trip");
    /* With bytes after them: still exactly the encoder's bytes consumed. */
    uint8_t *longer = malloc((size_t)coded_size + 3);
    memcpy(longer, coded, (size_t)coded_size);
    memset(longer + coded_size, 0xC3, 3);
    used = vq_entropy2_decode(longer, (size_t)coded_size + 3, in.width, in.height, in.bits,
                              decoded, work);
    CHECK(used == coded_size, "with 3 more bytes: consumed %lld of %lld", (long long)used,
          (long long)coded_size);
    CHECK(memcmp(decoded, labels, count) == 0, "labels differ with bytes after the payload");
    free(longer);
    /* The decoder needs every byte: one fewer is an error (and no read past it: ASan). */
    int64_t short_status = vq_entropy2_decode(exact, (size_t)coded_size - 1, in.width,
                                              in.height, in.bits, decoded, work);
    CHECK(entropy2_decode_error(short_status), "without the last byte: status %lld",
          (long long)short_status);

    /* Budgets: exactly the size gives the same bytes; less is VQ_ERR_FULL, never overflowed. */
    CHECK(vq_entropy2_encode(labels, in.width, in.height, in.bits, mode, exact,
                             (size_t)coded_size, work) == coded_size,
          "a budget of exactly the coded size");
    CHECK(memcmp(exact, coded, (size_t)coded_size) == 0, "encoder not deterministic");
    /* In chunks of about 256 * entries records (many chunks here, one by default): the same
     * bytes, in the same exact budget. */
    size_t chunk = 256 * (size_t)in.entries;
    CHECK(vq_entropy2_encode_chunked(labels, in.width, in.height, in.bits, mode, exact,
                                     (size_t)coded_size, work, chunk) == coded_size,
          "in chunks of %zu records: another size", chunk);
    CHECK(memcmp(exact, coded, (size_t)coded_size) == 0, "in chunks of %zu: other bytes", chunk);
    size_t budgets[3] = {(size_t)coded_size - 1, (size_t)coded_size / 2, 0};
    for (int b = 0; b < 3; b++) {
        uint8_t *small = malloc(budgets[b] ? budgets[b] : 1);
        small[0] = 0x3C; /* the canary of the empty budget */
        int64_t status = vq_entropy2_encode(labels, in.width, in.height, in.bits, mode, small,
                                            budgets[b], work);
        CHECK(status == VQ_ERR_FULL, "a budget of %zu bytes for %lld: status %lld", budgets[b],
              (long long)coded_size, (long long)status);
        if (!budgets[b]) CHECK(small[0] == 0x3C, "a budget of 0 bytes written to");
        free(small);
    }
    free(decoded);
    free(exact);
done:
    free(coded);
    free(work);
    free(labels);
    return 0;
}
