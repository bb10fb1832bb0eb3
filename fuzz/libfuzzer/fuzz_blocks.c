/* fuzz_blocks.c: libFuzzer harness of the block decoder's kernels (spec §4.1 at 1..16 bits,
 * §4.4): vq_unpack_wide, vq_pack_wide and vq_paint. Its own input layout (a block file's
 * fields, which harness.h's 6 bytes cannot hold):
 *
 *   byte 0     bits 0-3: bits - 1 (1..16); bits 4-5: channels (0: 1, 1: 3, 2: 4, 3: 1)
 *   byte 1     bits 0-2: block width - 1; bits 3-5: block height - 1 (1..8 each)
 *   bytes 2-3  width - 1, u16 little-endian;  bytes 4-5  height - 1
 *   bytes 6-7  codebook entries - 1, u16 little-endian (cut to MAX_ENTRIES)
 *   bytes 8..  the packed labels; the label count is cut to what they hold (at least one)
 *
 * The image is cut to at most MAX_PIXELS pixels (height first). Checks:
 * - vq_unpack_wide equals a bit-by-bit reference reader;
 * - vq_pack_wide(vq_unpack_wide(x)) is x with its padding bits cleared;
 * - vq_paint's status is VQ_ERR_LABEL exactly when a label is >= entries, and every pixel
 *   is its block's codeword component (entry 0 for a label outside the codebook), read
 *   straight from spec §4.4's formula; ASan sees any write past the image.
 */
#include "harness.h"

#define MAX_PIXELS (1u << 16)
#define MAX_ENTRIES 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int channel_counts[4] = {1, 3, 4, 1};
    if (size < 9) return 0;
    const int bits = (data[0] & 15) + 1, channels = channel_counts[(data[0] >> 4) & 3];
    const int bw = (data[1] & 7) + 1, bh = ((data[1] >> 3) & 7) + 1;
    uint32_t width = (uint32_t)(data[2] | data[3] << 8) + 1;
    uint32_t height = (uint32_t)(data[4] | data[5] << 8) + 1;
    uint32_t entries = (uint32_t)(data[6] | data[7] << 8) + 1;
    if (entries > MAX_ENTRIES) entries = MAX_ENTRIES;
    const uint8_t *packed = data + 8;
    const size_t have = size - 8;
    if (width > MAX_PIXELS) width = MAX_PIXELS;
    if ((uint64_t)width * height > MAX_PIXELS) height = MAX_PIXELS / width;
    uint32_t columns = (width + bw - 1) / bw, rows = (height + bh - 1) / bh;
    uint64_t count = (uint64_t)columns * rows;
    if (vq_packed_size(count, bits) > have) { /* fewer rows of blocks: what the bytes hold */
        rows = (uint32_t)(have * 8 / bits / columns);
        if (rows == 0) return 0;
        if ((uint64_t)rows * bh < height) height = rows * bh;
        rows = (height + bh - 1) / bh;
        count = (uint64_t)columns * rows;
    }
    size_t packed_size = vq_packed_size(count, bits);
    uint8_t *payload = malloc(packed_size); /* exactly the packed size: ASan sees overreads */
    memcpy(payload, packed, packed_size);

    uint16_t *labels = malloc(count * sizeof(uint16_t));
    vq_unpack_wide(payload, count, bits, labels);
    int outside = 0;
    for (uint64_t i = 0; i < count; i++) {
        CHECK(labels[i] == reference_label(payload, i, bits),
              "label %llu at bits %d: %u, the reference reads %u", (unsigned long long)i, bits,
              labels[i], reference_label(payload, i, bits));
        outside |= labels[i] >= entries;
    }
    int padding = (int)(packed_size * 8 - count * bits);
    uint8_t *repacked = malloc(packed_size);
    vq_pack_wide(labels, count, bits, repacked);
    CHECK(memcmp(repacked, payload, packed_size - 1) == 0, "repacked bytes differ");
    CHECK(repacked[packed_size - 1] == (payload[packed_size - 1] & (uint8_t)(0xFF << padding)),
          "last byte repacked to %02x from %02x", repacked[packed_size - 1],
          payload[packed_size - 1]);

    const size_t entry = (size_t)bw * bh * channels;
    uint8_t *codebook = malloc(entries * entry);
    for (size_t i = 0; i < entries * entry; i++) codebook[i] = (uint8_t)(i * 131 + i / 7);
    uint8_t *image = malloc((size_t)width * height * channels);
    int status = vq_paint(labels, width, height, bw, bh, codebook, (int)entries, channels, image);
    CHECK(status == (outside ? VQ_ERR_LABEL : VQ_OK), "paint status %d, %s", status,
          outside ? "a label is outside" : "every label inside");
    for (uint32_t y = 0; y < height; y++)
        for (uint32_t x = 0; x < width; x++) {
            unsigned label = labels[(size_t)(y / bh) * columns + x / bw];
            if (label >= entries) label = 0;
            const uint8_t *want =
                codebook + label * entry + ((size_t)(y % bh) * bw + x % bw) * channels;
            CHECK(memcmp(image + ((size_t)y * width + x) * channels, want, channels) == 0,
                  "pixel (%u, %u) of %ux%u, blocks %dx%d", x, y, width, height, bw, bh);
        }

    free(image);
    free(codebook);
    free(repacked);
    free(labels);
    free(payload);
    return 0;
}
