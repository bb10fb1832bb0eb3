/* pack.c: the packed label coding (spec §4.1) and the codebook lookup.
 *
 * Labels are bits bits each, MSB first, row-major, the last byte zero-padded. Eight labels
 * fill exactly bits bytes, so the general path works a group of eight at a time through one
 * 64-bit word; 8 bits is a plain copy.
 */
#include <string.h>

#include "vqcore.h"

size_t vq_packed_size(uint64_t count, int bits) { return (size_t)((count * bits + 7) / 8); }

void vq_pack(const uint8_t *labels, uint64_t count, int bits, uint8_t *out) {
    if (bits == 8) {
        memcpy(out, labels, (size_t)count);
        return;
    }
    uint64_t groups = count / 8;
    for (uint64_t g = 0; g < groups; g++) {
        const uint8_t *l = labels + g * 8;
        uint64_t word = 0;
        for (int i = 0; i < 8; i++) word = word << bits | l[i];
        uint8_t *o = out + g * bits;
        for (int b = 0; b < bits; b++) o[b] = (uint8_t)(word >> (8 * (bits - 1 - b)));
    }
    uint64_t rest = count - groups * 8;
    if (rest) { /* the last group, padded with zero labels, cut at its last whole byte */
        uint64_t word = 0;
        for (uint64_t i = 0; i < 8; i++) word = word << bits | (i < rest ? labels[groups * 8 + i] : 0);
        uint8_t *o = out + groups * bits;
        size_t tail = vq_packed_size(count, bits) - (size_t)groups * bits;
        for (size_t b = 0; b < tail; b++) o[b] = (uint8_t)(word >> (8 * (bits - 1 - b)));
    }
}

static inline void unpack_group(const uint8_t *in, int bits, uint8_t *l) {
    uint64_t word = 0;
    for (int b = 0; b < bits; b++) word = word << 8 | in[b];
    const uint64_t mask = (1u << bits) - 1;
    for (int i = 0; i < 8; i++) l[i] = (uint8_t)(word >> (bits * (7 - i)) & mask);
}

/* Labels first .. first + n - 1 (first a multiple of 8) out of a payload of count labels. */
static void unpack_range(const uint8_t *payload, uint64_t count, int bits, uint64_t first,
                         uint64_t n, uint8_t *labels) {
    if (bits == 8) {
        memcpy(labels, payload + first, (size_t)n);
        return;
    }
    uint64_t groups = n / 8;
    const uint8_t *in = payload + first / 8 * bits;
    for (uint64_t g = 0; g < groups; g++) unpack_group(in + g * bits, bits, labels + g * 8);
    uint64_t rest = n - groups * 8;
    if (rest) { /* a short last group: its bytes stop at the payload's end */
        uint8_t bytes[8] = {0}, last[8];
        size_t have = vq_packed_size(count, bits) - (size_t)((first / 8 + groups) * bits);
        memcpy(bytes, in + groups * bits, have < (size_t)bits ? have : (size_t)bits);
        unpack_group(bytes, bits, last);
        memcpy(labels + groups * 8, last, (size_t)rest);
    }
}

void vq_unpack(const uint8_t *payload, uint64_t count, int bits, uint8_t *labels) {
    unpack_range(payload, count, bits, 0, count, labels);
}

int vq_gather(const uint8_t *labels, uint64_t count, const uint8_t *codebook, int entries,
              int channels, uint8_t *out) {
    /* A full 256-entry table (zeros past the codebook) keeps the loop free of bounds
     * branches; one flag collects whether any label was outside the codebook. */
    uint8_t table[256 * 4] = {0};
    memcpy(table, codebook, (size_t)entries * channels);
    unsigned outside = 0;
    if (channels == 1) {
        for (uint64_t i = 0; i < count; i++) {
            outside |= labels[i] >= entries;
            out[i] = table[labels[i]];
        }
    } else if (channels == 3) {
        for (uint64_t i = 0; i < count; i++) {
            unsigned l = labels[i];
            outside |= l >= (unsigned)entries;
            out[3 * i] = table[3 * l];
            out[3 * i + 1] = table[3 * l + 1];
            out[3 * i + 2] = table[3 * l + 2];
        }
    } else {
        for (uint64_t i = 0; i < count; i++) {
            unsigned l = labels[i];
            outside |= l >= (unsigned)entries;
            memcpy(out + 4 * i, table + 4 * l, 4);
        }
    }
    return outside ? VQ_ERR_LABEL : VQ_OK;
}

/* bits 1, 2, 4: a byte holds 8 / bits whole labels, so a 256-row table maps each payload
 * byte straight to its pixels (unpacking and lookup in one copy of a constant size). */
static inline int expand_bytes(const uint8_t *payload, uint64_t count, const uint8_t *table,
                               const uint8_t *outside, int per_byte, int row, uint8_t *out) {
    uint64_t whole = count / per_byte;
    unsigned bad = 0;
    for (uint64_t i = 0; i < whole; i++) {
        uint8_t b = payload[i];
        bad |= outside[b];
        memcpy(out + i * row, table + b * row, (size_t)row);
    }
    uint64_t rest = count - whole * per_byte;
    if (rest) { /* padding bits are cleared here so that they read as label 0: the kernel
                 * judges only real labels, whatever the caller checks of the padding */
        int used_bits = (int)rest * (8 / per_byte);
        uint8_t b = payload[whole] & (uint8_t)(0xFF << (8 - used_bits));
        bad |= outside[b];
        memcpy(out + whole * row, table + b * row, (size_t)(rest * (row / per_byte)));
    }
    return bad ? VQ_ERR_LABEL : VQ_OK;
}

static int expand_by_table(const uint8_t *payload, uint64_t count, int bits,
                           const uint8_t *codebook, int entries, int channels, uint8_t *out) {
    uint8_t table[256 * 32], outside[256];
    int per_byte = 8 / bits, row = per_byte * channels;
    for (int b = 0; b < 256; b++) {
        outside[b] = 0;
        for (int k = 0; k < per_byte; k++) {
            int label = b >> (bits * (per_byte - 1 - k)) & ((1 << bits) - 1);
            outside[b] |= label >= entries;
            for (int c = 0; c < channels; c++)
                table[b * row + k * channels + c] =
                    label < entries ? codebook[label * channels + c] : 0;
        }
    }
    /* One instance per row size, so that each copy is a constant-size move. */
#define EXPAND(ROW) return expand_bytes(payload, count, table, outside, per_byte, ROW, out)
    switch (row) {
    case 3: EXPAND(3);
    case 4: EXPAND(4);
    case 6: EXPAND(6);
    case 8: EXPAND(8);
    case 12: EXPAND(12);
    case 16: EXPAND(16);
    case 24: EXPAND(24);
    case 32: EXPAND(32);
    default: EXPAND(row); /* 1, 2: gray at 4 and 2 bits */
    }
#undef EXPAND
}

/* bits 3, 5, 6, 7: each group of 8 labels (bits bytes, one 64-bit word) goes straight to
 * its 8 pixels, without a label buffer. Every codeword sits in a 4-byte slot, so a pixel is
 * one 4-byte store; for 3 channels the store's 4th byte is overwritten by the next pixel's,
 * which is why the last group always takes the buffered path (no store past out's end). */
static inline unsigned expand_whole_groups(const uint8_t *payload, uint64_t groups, int bits,
                                           const uint8_t *slots, int entries, int channels,
                                           uint8_t *out) {
    const uint64_t mask = (1u << bits) - 1;
    unsigned outside = 0;
    for (uint64_t g = 0; g < groups; g++) {
        const uint8_t *in = payload + g * bits;
        uint64_t word = 0;
        for (int b = 0; b < bits; b++) word = word << 8 | in[b];
        uint8_t *o = out + g * 8 * channels;
        for (int i = 0; i < 8; i++) {
            unsigned label = (unsigned)(word >> (bits * (7 - i)) & mask);
            outside |= label >= (unsigned)entries;
            if (channels == 1)
                o[i] = slots[4 * label];
            else
                memcpy(o + i * channels, slots + 4 * label, 4);
        }
    }
    return outside;
}

static int expand_groups(const uint8_t *payload, uint64_t count, int bits,
                         const uint8_t *codebook, int entries, int channels, uint8_t *out) {
    uint8_t slots[256 * 4] = {0};
    for (int e = 0; e < entries; e++) memcpy(slots + 4 * e, codebook + e * channels, channels);
    uint64_t groups = count / 8;
    groups = groups ? groups - 1 : 0; /* the last whole group too goes the buffered way */
    /* One instance per channel count, so that each store is of a constant size. */
    unsigned outside =
        channels == 1   ? expand_whole_groups(payload, groups, bits, slots, entries, 1, out)
        : channels == 3 ? expand_whole_groups(payload, groups, bits, slots, entries, 3, out)
                        : expand_whole_groups(payload, groups, bits, slots, entries, 4, out);
    uint64_t first = groups * 8;
    uint8_t labels[16];
    unpack_range(payload, count, bits, first, count - first, labels);
    if (vq_gather(labels, count - first, codebook, entries, channels, out + first * channels))
        outside = 1;
    return outside ? VQ_ERR_LABEL : VQ_OK;
}

int vq_expand(const uint8_t *payload, uint64_t count, int bits, const uint8_t *codebook,
              int entries, int channels, uint8_t *out) {
    if (bits == 1 || bits == 2 || bits == 4)
        return expand_by_table(payload, count, bits, codebook, entries, channels, out);
    if (bits == 8) return vq_gather(payload, count, codebook, entries, channels, out);
    return expand_groups(payload, count, bits, codebook, entries, channels, out);
}
