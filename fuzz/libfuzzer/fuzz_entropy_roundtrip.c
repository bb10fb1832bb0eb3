/* fuzz_entropy_roundtrip.c: libFuzzer harness of the entropy encoder against its decoder,
 * from label maps the fuzzer chooses (the decode harness only re-encodes labels that came
 * out of random payloads, which are noise; real maps are flat, periodic, striped). Input
 * layout: harness.h; the payload holds the labels, one a byte, masked to bits bits and
 * repeated to width * height (cut by cut_decisions; zeros when empty). Mode bit set: the
 * budget is the packed size, as the writer's (a file is never larger than packed), else
 * unbounded.
 *
 * Checks: the encoder succeeds within an unbounded budget, with at least the bytes the spec
 * says its labels need (payload_pays_for, and the header rule 3 + floor(pixels / 16384));
 * decode(encode(labels)) == labels, consuming exactly the encoder's bytes; exactly that many
 * bytes of budget suffice, one fewer gives VQ_ERR_FULL without a write past it; a budget
 * that runs out mid-image never writes past it either.
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input_t in;
    if (!parse_input(data, size, &in)) return 0;
    cut_decisions(&in);
    uint64_t count = in.count;
    uint8_t mask = (uint8_t)((1u << in.bits) - 1);
    uint8_t *labels = malloc(count);
    for (uint64_t i = 0; i < count; i++)
        labels[i] = in.size ? in.payload[i % in.size] & mask : 0;
    void *work = malloc(vq_entropy_work_bytes(in.width));

    /* At most 4 + bits decisions a label, each at most 11.01 bits, plus the flush. */
    size_t capacity = (size_t)(count * (4 + in.bits) * 12 / 8 + 16);
    if (in.mode) capacity = vq_packed_size(count, in.bits);
    uint8_t *coded = malloc(capacity);
    int64_t coded_size = vq_entropy_encode(labels, in.width, in.height, in.bits, coded, capacity,
                                           work);
    if (in.mode && coded_size == VQ_ERR_FULL) goto done; /* larger than packed: stored packed */
    CHECK(coded_size >= 4 && (size_t)coded_size <= capacity, "encoder status %lld",
          (long long)coded_size);
    /* Never shorter than the spec's bound, nor than its header rule (the reader refuses a
     * payload under 3 + floor(pixels / 16384) bytes before decoding it). */
    CHECK(payload_pays_for((uint64_t)coded_size, count), "%llu labels in %lld bytes",
          (unsigned long long)count, (long long)coded_size);
    CHECK((uint64_t)coded_size >= 3 + count / 16384, "under the header rule");

    uint8_t *decoded = malloc(count);
    int64_t used = vq_entropy_decode(coded, (size_t)coded_size, in.width, in.height, in.bits,
                                     decoded, work);
    CHECK(used == coded_size, "encoded %lld bytes, the decoder consumed %lld",
          (long long)coded_size, (long long)used);
    CHECK(memcmp(decoded, labels, count) == 0, "labels differ after the round trip");
    /* The decoder needs every byte: one byte short is an overrun. */
    CHECK(vq_entropy_decode(coded, (size_t)coded_size - 1, in.width, in.height, in.bits,
                            decoded, work) == VQ_ERR_OVERRUN, "decoded without the last byte");

    uint8_t *exact = malloc((size_t)coded_size);
    CHECK(vq_entropy_encode(labels, in.width, in.height, in.bits, exact, (size_t)coded_size,
                            work) == coded_size, "a budget of exactly the coded size");
    CHECK(memcmp(exact, coded, (size_t)coded_size) == 0, "encoder not deterministic");
    free(exact);
    uint8_t *short_by_one = malloc((size_t)coded_size - 1);
    CHECK(vq_entropy_encode(labels, in.width, in.height, in.bits, short_by_one,
                            (size_t)coded_size - 1, work) == VQ_ERR_FULL,
          "a budget one byte short accepted");
    free(short_by_one);
    /* A budget of half: refused, never written past (ASan: the buffer is exactly that). */
    size_t half = (size_t)coded_size / 2;
    uint8_t *small = malloc(half);
    CHECK(vq_entropy_encode(labels, in.width, in.height, in.bits, small, half, work) ==
              VQ_ERR_FULL, "a budget of half accepted");
    free(small);
    free(decoded);
done:
    free(coded);
    free(work);
    free(labels);
    return 0;
}
