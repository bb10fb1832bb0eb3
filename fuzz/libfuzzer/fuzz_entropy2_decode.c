/* fuzz_entropy2_decode.c: libFuzzer harness of vq_entropy2_decode (label_coding 2, spec §4.3),
 * the C entry point that reads an entropy2 payload. Input layout: harness.h. For every input:
 *
 * - the status is one of the decoder's errors (VQ_ERR_OVERRUN, VQ_ERR_RUN, VQ_ERR_STATE,
 *   VQ_ERR_LABEL) or a byte count in 8..size (two 4-byte states at least), nothing else;
 * - every decoded label is below 2**bits, and the decode never reads past the payload (the
 *   payload is libFuzzer's own buffer, exactly that long: ASan sees any read past it);
 * - the work is bounded by the payload: a decode that succeeds consumed at least the bytes
 *   spec §4.3's header rule asks of that many pixels (entropy2_pays_for, harness.h); a
 *   reader refuses a shorter payload from the header alone, so an encoding under the rule
 *   would be a file the writer makes and the reader refuses, and a decoder that decodes more
 *   pixels than the rule allows per byte breaks the bound the pixel limit relies on;
 * - the verdict depends on the consumed bytes only: decoding a copy of exactly those bytes
 *   (a heap block that long) gives the same status and labels;
 * - determinism: a second decode, with working memory and output full of garbage, into the
 *   tail of a pixel buffer (as module.c does with a codebook) agrees, and the in-place
 *   gather from that tail equals a gather from a separate buffer;
 * - the round-trip law on the decoded labels: encode(labels) decodes to the same labels,
 *   consuming exactly the encoder's bytes; the encoder refuses a budget one byte short with
 *   VQ_ERR_FULL and no write past it. Not encode(decode(payload)) == payload (a payload
 *   need not be the encoder's; VQ_FUZZ_STATS=1 counts how often it is).
 *
 * Mode bit set (the bound check of issue 14, for entropy2): width and height are taken whole
 * (up to 2**32 labels), the payload is cut to HUGE_PAYLOAD bytes and the labels live in a
 * reserved but uncommitted mapping. The decoder must return within libFuzzer's -timeout with
 * no page of labels written past what the payload pays for under spec §4.3's rule.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

static struct {
    int on;
    unsigned long decoded, reproduced;
} stats;

static int status_ok(int64_t status, size_t size) {
    return entropy2_decode_error(status) || (status >= 8 && (size_t)status <= size);
}

static int huge(const input_t *in) {
    size_t size = in->size < HUGE_PAYLOAD2 ? in->size : HUGE_PAYLOAD2;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t mapped = (size_t)((in->count + page - 1) / page * page);
    uint8_t *labels = mmap(NULL, mapped, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (labels == MAP_FAILED) return 0;
    madvise(labels, mapped, MADV_NOHUGEPAGE); /* one written label = one resident page */
    /* The payload in a block of exactly size bytes (the input's own is longer here). */
    uint8_t *payload = malloc(size ? size : 1);
    memcpy(payload, in->payload, size);
    void *work = malloc(vq_entropy2_work_bytes(in->width));
    int64_t used = vq_entropy2_decode(payload, size, in->width, in->height, in->bits, labels,
                                      work);
    CHECK(status_ok(used, size), "status %lld for a payload of %zu bytes", (long long)used,
          size);
    if (used >= 0)
        CHECK(entropy2_pays_for((uint64_t)used, in->count), "%llu labels from %lld bytes",
              (unsigned long long)in->count, (long long)used);
    /* No page past the one holding the last label size + 1 bytes could pay for. */
    uint64_t payable = entropy2_payable(size + 1);
    if (payable < in->count) {
        size_t first = (size_t)(payable / page + 1) * page;
        static unsigned char resident[1 << 16];
        for (size_t at = first; at < mapped; at += sizeof resident * page) {
            size_t length =
                mapped - at < sizeof resident * page ? mapped - at : sizeof resident * page;
            CHECK(mincore(labels + at, length, resident) == 0, "mincore failed");
            for (size_t p = 0; p < (length + page - 1) / page; p++)
                CHECK(!(resident[p] & 1),
                      "%ux%u, %zu payload bytes (%llu labels payable, status %lld): label "
                      "page at %zu written", in->width, in->height, size,
                      (unsigned long long)payable, (long long)used, at + p * page);
        }
    }
    free(work);
    free(payload);
    munmap(labels, mapped);
    return 0;
}

static void check_round_trip(const uint8_t *labels, const input_t *in, const uint8_t *payload,
                             int64_t used, void *work) {
    uint64_t count = in->count;
    size_t capacity = (size_t)used + 16;
    uint8_t *coded = malloc(capacity);
    int mode = entropy2_mode(payload, (size_t)used, in->bits); /* the payload's own */
    int64_t size = vq_entropy2_encode(labels, in->width, in->height, in->bits, mode, coded,
                                      capacity, work);
    if (size == VQ_ERR_FULL) { /* re-encoding can be longer than a payload not the encoder's */
        free(coded);
        capacity = entropy2_capacity(count, in->bits);
        coded = malloc(capacity);
        size = vq_entropy2_encode(labels, in->width, in->height, in->bits, mode, coded,
                                  capacity, work);
    }
    CHECK(size >= 8 && (size_t)size <= capacity, "encoder status %lld (budget %zu)",
          (long long)size, capacity);
    CHECK(entropy2_pays_for((uint64_t)size, count), "%llu labels encoded in %lld bytes",
          (unsigned long long)count, (long long)size);
    if (stats.on) {
        stats.decoded++;
        stats.reproduced += size == used && memcmp(coded, payload, (size_t)used) == 0;
    }

    /* The encoder's bytes, in a block exactly that long, decode to the labels, all of them. */
    uint8_t *exact = malloc((size_t)size);
    memcpy(exact, coded, (size_t)size);
    uint8_t *again = malloc(count);
    int64_t used_again = vq_entropy2_decode(exact, (size_t)size, in->width, in->height,
                                            in->bits, again, work);
    CHECK(used_again == size, "re-encoded: %lld bytes, the decoder consumed %lld",
          (long long)size, (long long)used_again);
    CHECK(memcmp(again, labels, count) == 0, "re-encoded labels decode differently");

    /* A budget one byte short is refused, without a write past it (ASan: exactly that long). */
    uint8_t *short_by_one = malloc((size_t)size - 1 ? (size_t)size - 1 : 1);
    int64_t refused = vq_entropy2_encode(labels, in->width, in->height, in->bits, mode,
                                         short_by_one, (size_t)size - 1, work);
    CHECK(refused == VQ_ERR_FULL, "a budget of %lld - 1 bytes: status %lld", (long long)size,
          (long long)refused);
    free(short_by_one);
    free(again);
    free(exact);
    free(coded);
}

/* The in-place gather from the tail of pixels (module.c's path) against a separate one. */
static void check_gather(const uint8_t *labels, uint8_t *pixels, const input_t *in) {
    uint64_t count = in->count;
    int channels = in->channels, entries = in->entries;
    uint8_t *codebook = make_codebook(entries, channels);
    int want = any_label_outside(labels, count, entries) ? VQ_ERR_LABEL : VQ_OK;
    uint8_t *tail = pixels + count * (channels - 1);
    int status_in_place = vq_gather(tail, count, codebook, entries, channels, pixels);
    uint8_t *separate = malloc(count * channels);
    int status_separate = vq_gather(labels, count, codebook, entries, channels, separate);
    CHECK(status_in_place == want && status_separate == want, "gather statuses %d, %d; want %d",
          status_in_place, status_separate, want);
    check_pixels("in-place gather", pixels, labels, count, codebook, entries, channels);
    if (want == VQ_OK)
        CHECK(memcmp(pixels, separate, count * channels) == 0, "in-place != separate");
    free(separate);
    free(codebook);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input_t in;
    if (!parse_input(data, size, &in)) return 0;
    if (in.mode) return huge(&in);
    cut_pixels2(&in);
    uint64_t count = in.count;
    size_t work_bytes = vq_entropy2_work_bytes(in.width);

    void *work = malloc(work_bytes);
    uint8_t *labels = malloc(count);
    int64_t used = vq_entropy2_decode(in.payload, in.size, in.width, in.height, in.bits, labels,
                                      work);
    CHECK(status_ok(used, in.size), "status %lld for a payload of %zu bytes", (long long)used,
          in.size);

    /* Again, as module.c does with a codebook: into the tail of the pixels' buffer, with
     * working memory and output full of garbage. */
    void *dirty_work = malloc(work_bytes);
    memset(dirty_work, 0xA5, work_bytes);
    uint8_t *pixels = malloc(count * in.channels);
    memset(pixels, 0x5A, count * in.channels);
    uint8_t *tail = pixels + count * (in.channels - 1);
    int64_t used_again = vq_entropy2_decode(in.payload, in.size, in.width, in.height, in.bits,
                                            tail, dirty_work);
    CHECK(used_again == used, "status %lld, then %lld", (long long)used, (long long)used_again);

    if (used >= 0) {
        CHECK(memcmp(labels, tail, count) == 0, "two decodes differ");
        for (uint64_t i = 0; i < count; i++)
            CHECK(labels[i] >> in.bits == 0, "label %llu is %d at bits %d",
                  (unsigned long long)i, labels[i], in.bits);
        CHECK(entropy2_pays_for((uint64_t)used, count), "%llu labels from %lld bytes",
              (unsigned long long)count, (long long)used);
        /* Only the consumed bytes count: a copy of exactly them decodes the same. */
        uint8_t *consumed = malloc((size_t)used);
        memcpy(consumed, in.payload, (size_t)used);
        uint8_t *labels_consumed = malloc(count);
        CHECK(vq_entropy2_decode(consumed, (size_t)used, in.width, in.height, in.bits,
                                 labels_consumed, work) == used,
              "the %lld consumed bytes alone do not decode", (long long)used);
        CHECK(memcmp(labels_consumed, labels, count) == 0, "the consumed bytes decode otherwise");
        free(labels_consumed);
        free(consumed);
        check_round_trip(labels, &in, in.payload, used, work);
        check_gather(labels, pixels, &in);
    }
    free(pixels);
    free(dirty_work);
    free(labels);
    free(work);
    return 0;
}

static void print_stats(void) {
    if (stats.on)
        fprintf(stderr, "VQ_FUZZ_STATS: %lu decoded, %lu re-encoded to the same bytes\n",
                stats.decoded, stats.reproduced);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *env = getenv("VQ_FUZZ_STATS");
    stats.on = env && *env && *env != '0';
    if (stats.on) atexit(print_stats);
    return 0;
}
