/* fuzz_entropy_decode.c: libFuzzer harness of vq_entropy_decode (spec §4.2), the C entry point
 * that reads an entropy-coded payload. Input layout: harness.h. Checks, for every input:
 *
 * - the status is VQ_ERR_OVERRUN or a byte count in 4..size (nothing else, ever);
 * - the work is bounded by the payload: a decode that succeeds consumed enough bytes for its
 *   labels (payload_pays_for, harness.h: the spec's "more than 3 + pixels / 11,412" bytes);
 * - determinism: a second decode, with working memory and output full of garbage, agrees;
 * - decode(encode(labels)) == labels, consuming exactly the encoder's bytes; the encoder
 *   refuses (VQ_ERR_FULL, no write past it) a budget one byte short.
 *   Not encode(decode(payload)) == payload: the spec lets a literal equal a candidate and
 *   any code value inside the last interval decodes the same, so re-encoding a valid
 *   payload need not reproduce it; VQ_FUZZ_STATS=1 counts how often it does;
 * - pixels: decoding into out's tail and gathering in place (as module.c's entropy_decode
 *   does; this is the second, dirty decode) equals a gather from a separate labels buffer,
 *   equals the packed path (vq_pack then vq_expand), equals codebook[label] for every label
 *   inside the codebook, and the status says whether a label is outside.
 *
 * Mode bit set (the bound check of issue 14): width and height are taken whole (up to 2**32
 * labels), the payload is cut to HUGE_PAYLOAD bytes, and the labels live in a reserved but
 * uncommitted mapping. The decoder must return (within libFuzzer's -timeout) having written
 * no label past what the payload can pay for: mincore() sees no page touched beyond it.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define BOUND_PER_BYTE 11400u /* decisions one payload byte can pay for, rounded up */
#define HUGE_PAYLOAD 32 /* at most 11,400 * 33 decisions if the bound holds: 0.1 s */

static struct {
    int on;
    unsigned long decoded, reproduced;
} stats;

/* An encoder budget no label map can exceed: at most 4 + bits decisions a label, each at
 * most 11.01 bits (a probability clamped to 32/65536, range >= 2**24), plus the flush. */
static size_t encode_capacity(uint64_t count, int bits) {
    return (size_t)(count * (4 + bits) * 12 / 8 + 16);
}

static int huge(const input_t *in) {
    size_t size = in->size < HUGE_PAYLOAD ? in->size : HUGE_PAYLOAD;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t mapped = (size_t)((in->count + page - 1) / page * page);
    uint8_t *labels = mmap(NULL, mapped, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (labels == MAP_FAILED) return 0;
    madvise(labels, mapped, MADV_NOHUGEPAGE); /* one written label = one resident page */
    void *work = malloc(vq_entropy_work_bytes(in->width));
    int64_t used = vq_entropy_decode(in->payload, size, in->width, in->height, in->bits, labels,
                                     work);
    CHECK(used == VQ_ERR_OVERRUN || (used >= 4 && (size_t)used <= size),
          "status %lld for a payload of %zu bytes", (long long)used, size);
    uint64_t payable = (uint64_t)BOUND_PER_BYTE * (size + 1);
    if (used >= 0)
        CHECK(payload_pays_for((uint64_t)used, in->count), "%llu labels from %lld bytes",
              (unsigned long long)in->count, (long long)used);
    /* No page past the one holding label number payable may have been written. */
    size_t first = (size_t)(payable / page + 1) * page;
    static unsigned char resident[1 << 16];
    for (size_t at = first; at < mapped; at += sizeof resident * page) {
        size_t length = mapped - at < sizeof resident * page ? mapped - at : sizeof resident * page;
        CHECK(mincore(labels + at, length, resident) == 0, "mincore failed");
        for (size_t p = 0; p < (length + page - 1) / page; p++)
            CHECK(!(resident[p] & 1),
                  "%ux%u, %zu payload bytes (%llu labels payable, status %lld): label page at "
                  "%zu written", in->width, in->height, size, (unsigned long long)payable,
                  (long long)used, at + p * page);
    }
    free(work);
    munmap(labels, mapped);
    return 0;
}

static void check_round_trip(const uint8_t *labels, const input_t *in, const uint8_t *payload,
                             int64_t used, void *work) {
    uint64_t count = in->count;
    size_t capacity = (size_t)used + 16;
    uint8_t *coded = malloc(capacity);
    int64_t size = vq_entropy_encode(labels, in->width, in->height, in->bits, coded, capacity,
                                     work);
    if (size == VQ_ERR_FULL) { /* re-encoding can be longer than a non-canonical payload */
        free(coded);
        capacity = encode_capacity(count, in->bits);
        coded = malloc(capacity);
        size = vq_entropy_encode(labels, in->width, in->height, in->bits, coded, capacity, work);
    }
    CHECK(size >= 4 && (size_t)size <= capacity, "encoder status %lld", (long long)size);
    if (stats.on) {
        stats.decoded++;
        stats.reproduced += size == used && memcmp(coded, payload, (size_t)used) == 0;
    }

    /* Decoding the encoder's bytes gives the labels back and consumes exactly them. */
    uint8_t *again = malloc(count);
    int64_t used_again = vq_entropy_decode(coded, (size_t)size, in->width, in->height, in->bits,
                                           again, work);
    CHECK(used_again == size, "re-encoded: %lld bytes, decoder consumed %lld", (long long)size,
          (long long)used_again);
    CHECK(memcmp(again, labels, count) == 0, "re-encoded labels decode differently");

    /* A budget one byte short is refused, without a write past it (the buffer is exactly
     * that long: ASan sees any overflow). fuzz_entropy_roundtrip checks the exact budget. */
    uint8_t *short_by_one = malloc((size_t)size - 1);
    CHECK(vq_entropy_encode(labels, in->width, in->height, in->bits, short_by_one,
                            (size_t)size - 1, work) == VQ_ERR_FULL,
          "a budget of %lld - 1 bytes accepted", (long long)size);
    free(short_by_one);
    free(again);
    free(coded);
}

/* in_place: count * channels bytes, the labels already decoded into its tail. */
static void check_pixels_paths(const uint8_t *labels, uint8_t *in_place, const input_t *in) {
    uint64_t count = in->count;
    int channels = in->channels, entries = in->entries;
    uint8_t *codebook = make_codebook(entries, channels);
    int outside = any_label_outside(labels, count, entries);
    int want = outside ? VQ_ERR_LABEL : VQ_OK;

    /* module.c's path: gathered in place from out's tail. */
    uint8_t *tail = in_place + count * (channels - 1);
    int status_in_place = vq_gather(tail, count, codebook, entries, channels, in_place);

    uint8_t *separate = malloc(count * channels);
    int status_separate = vq_gather(labels, count, codebook, entries, channels, separate);
    CHECK(status_separate == want, "gather status %d, want %d", status_separate, want);
    CHECK(status_in_place == want, "in-place gather status %d, want %d", status_in_place, want);
    check_pixels("separate gather", separate, labels, count, codebook, entries, channels);
    check_pixels("in-place gather", in_place, labels, count, codebook, entries, channels);

    /* The packed path on the same labels: the same image. */
    size_t packed_size = vq_packed_size(count, in->bits);
    uint8_t *packed = malloc(packed_size);
    vq_pack(labels, count, in->bits, packed);
    uint8_t *expanded = malloc(count * channels);
    int status_expand = vq_expand(packed, count, in->bits, codebook, entries, channels, expanded);
    CHECK(status_expand == want, "expand status %d, want %d", status_expand, want);
    check_pixels("packed path", expanded, labels, count, codebook, entries, channels);
    if (!outside) {
        CHECK(memcmp(in_place, separate, count * channels) == 0, "in-place != separate");
        CHECK(memcmp(expanded, separate, count * channels) == 0, "packed path != gather");
    }
    free(expanded);
    free(packed);
    free(separate);
    free(codebook);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input_t in;
    if (!parse_input(data, size, &in)) return 0;
    if (in.mode) return huge(&in);
    cut_decisions(&in);
    uint64_t count = in.count;
    size_t work_bytes = vq_entropy_work_bytes(in.width);

    void *work = malloc(work_bytes);
    uint8_t *labels = malloc(count);
    int64_t used = vq_entropy_decode(in.payload, in.size, in.width, in.height, in.bits, labels,
                                     work);
    CHECK(used == VQ_ERR_OVERRUN || (used >= 4 && (size_t)used <= in.size),
          "status %lld for a payload of %zu bytes", (long long)used, in.size);

    /* Again, as module.c does with a codebook: into the tail of the pixels' buffer; with
     * working memory and output full of garbage, for determinism. */
    void *dirty_work = malloc(work_bytes);
    memset(dirty_work, 0xA5, work_bytes);
    uint8_t *pixels = malloc(count * in.channels);
    memset(pixels, 0x5A, count * in.channels);
    uint8_t *tail = pixels + count * (in.channels - 1);
    int64_t used_again = vq_entropy_decode(in.payload, in.size, in.width, in.height, in.bits,
                                           tail, dirty_work);
    CHECK(used_again == used, "status %lld, then %lld", (long long)used,
          (long long)used_again);

    if (used >= 0) {
        CHECK(memcmp(labels, tail, count) == 0, "two decodes differ");
        for (uint64_t i = 0; i < count; i++)
            CHECK(labels[i] >> in.bits == 0, "label %llu is %d at bits %d",
                  (unsigned long long)i, labels[i], in.bits);
        CHECK(payload_pays_for((uint64_t)used, count), "%llu labels from %lld bytes",
              (unsigned long long)count, (long long)used);
        check_round_trip(labels, &in, in.payload, used, dirty_work);
        check_pixels_paths(labels, pixels, &in);
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
