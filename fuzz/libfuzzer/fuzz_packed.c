/* fuzz_packed.c: libFuzzer harness of the packed path (spec §4.1): vq_expand, vq_unpack,
 * vq_gather and vq_pack. Input layout: harness.h; the payload is the packed labels.
 *
 * Mode bit clear: the payload is taken as it is; when it is shorter than width * height
 * labels need, the label count is cut to what it holds (at least one). Mode bit set: the
 * count is width * height (cut to MAX_LABELS) and the payload is the input's repeated to
 * the packed size (zeros when empty), to reach large counts and many of vq_expand's groups
 * from a short input. Either way the kernels get a buffer of exactly the packed size, so
 * ASan sees a read one byte past it. Checks:
 *
 * - vq_unpack equals a bit-by-bit reference reader (MSB first, no gaps);
 * - vq_pack(vq_unpack(x)) is x with its padding bits cleared (x itself when they are 0);
 * - vq_expand equals vq_unpack then vq_gather, and equals an in-place gather with the labels
 *   in out's tail (the entropy path's layout); every pixel of a label inside the codebook is
 *   its codeword; each status is VQ_ERR_LABEL exactly when some label >= entries.
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input_t in;
    if (!parse_input(data, size, &in)) return 0;
    int bits = in.bits, channels = in.channels, entries = in.entries;
    cut_labels(&in, MAX_LABELS);
    uint64_t count = in.count;
    if (!in.mode && vq_packed_size(count, bits) > in.size) {
        count = (uint64_t)in.size * 8 / bits;
        if (count == 0) return 0;
    }
    size_t packed_size = vq_packed_size(count, bits);
    uint8_t *payload = malloc(packed_size);
    if (in.mode) {
        for (size_t i = 0; i < packed_size; i++)
            payload[i] = in.size ? in.payload[i % in.size] : 0;
    } else {
        memcpy(payload, in.payload, packed_size);
    }

    uint8_t *labels = malloc(count);
    vq_unpack(payload, count, bits, labels);
    for (uint64_t i = 0; i < count; i++)
        CHECK(labels[i] == reference_label(payload, i, bits),
              "label %llu of %llu at bits %d: %d, the reference reads %u",
              (unsigned long long)i, (unsigned long long)count, bits, labels[i],
              reference_label(payload, i, bits));

    /* Packing the labels again gives the payload, with its padding bits cleared. */
    int padding = (int)(packed_size * 8 - count * bits); /* 0..7 */
    uint8_t last_mask = (uint8_t)(0xFF << padding);
    uint8_t *repacked = malloc(packed_size);
    vq_pack(labels, count, bits, repacked);
    CHECK(memcmp(repacked, payload, packed_size - 1) == 0, "repacked bytes differ");
    CHECK(repacked[packed_size - 1] == (payload[packed_size - 1] & last_mask),
          "last byte repacked to %02x from %02x (%d padding bits)", repacked[packed_size - 1],
          payload[packed_size - 1], padding);

    /* Expand against unpack + gather, and against an in-place gather. */
    uint8_t *codebook = make_codebook(entries, channels);
    int want = any_label_outside(labels, count, entries) ? VQ_ERR_LABEL : VQ_OK;
    uint8_t *expanded = malloc(count * channels);
    int status_expand = vq_expand(payload, count, bits, codebook, entries, channels, expanded);
    uint8_t *gathered = malloc(count * channels);
    int status_gather = vq_gather(labels, count, codebook, entries, channels, gathered);
    uint8_t *in_place = malloc(count * channels);
    uint8_t *tail = in_place + count * (channels - 1);
    memcpy(tail, labels, count);
    int status_in_place = vq_gather(tail, count, codebook, entries, channels, in_place);
    CHECK(status_expand == want, "expand status %d, want %d", status_expand, want);
    CHECK(status_gather == want, "gather status %d, want %d", status_gather, want);
    CHECK(status_in_place == want, "in-place gather status %d, want %d", status_in_place, want);
    check_pixels("expand", expanded, labels, count, codebook, entries, channels);
    check_pixels("gather", gathered, labels, count, codebook, entries, channels);
    check_pixels("in-place gather", in_place, labels, count, codebook, entries, channels);
    if (want == VQ_OK) {
        CHECK(memcmp(expanded, gathered, count * channels) == 0, "expand != unpack + gather");
        CHECK(memcmp(in_place, gathered, count * channels) == 0, "in-place != gather");
    }

    free(in_place);
    free(gathered);
    free(expanded);
    free(codebook);
    free(repacked);
    free(labels);
    free(payload);
    return 0;
}
