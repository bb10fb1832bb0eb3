#!/usr/bin/env bash
# Build the libFuzzer harnesses of the C core (fuzz/README.md): fuzz/build.sh OUTPUT_DIR
#
# Each harness is linked with the kernels that read file data (entropy.c or entropy2.c, and
# pack.c), never with module.c (the CPython glue), under ASan + UBSan with every UBSan finding
# fatal.
# CC overrides the compiler (a clang with libFuzzer: Debian's clang package has it).
#
# -fno-sanitize-coverage=trace-cmp: -fsanitize=fuzzer hooks every comparison, and in the range
# coder those hooks took 80% of the time while their operands (range, code, probabilities)
# are state, not input bytes the fuzzer could copy. Without them: 3.1x the executions and
# more features in the same two minutes (fuzz/README.md). VQ_FUZZ_TRACE_CMP=1 keeps them.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$1"
mkdir -p "$out"
cc="${CC:-clang}"
core="$root/csrc"
flags=(-g -O1 -std=c99 -D_DEFAULT_SOURCE -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I "$core")
if [ "${VQ_FUZZ_TRACE_CMP:-0}" = 0 ]; then
    flags+=(-fno-sanitize-coverage=trace-cmp)
fi
for harness in fuzz_entropy_decode fuzz_packed fuzz_entropy_roundtrip; do
    "$cc" "${flags[@]}" "$root/fuzz/libfuzzer/$harness.c" "$core/entropy.c" "$core/pack.c" \
        -o "$out/$harness"
done
# label_coding 2 (entropy2.c); pack.c for the gather the decoder harness checks.
for harness in fuzz_entropy2_decode fuzz_entropy2_roundtrip; do
    "$cc" "${flags[@]}" "$root/fuzz/libfuzzer/$harness.c" "$core/entropy2.c" "$core/pack.c" \
        -o "$out/$harness"
done
# Block files (blocks.c): labels of up to 16 bits, painted block by block.
"$cc" "${flags[@]}" "$root/fuzz/libfuzzer/fuzz_blocks.c" "$core/blocks.c" "$core/pack.c" -lm \
    -o "$out/fuzz_blocks"
echo "built fuzz_entropy_decode fuzz_packed fuzz_entropy_roundtrip fuzz_entropy2_decode" \
    "fuzz_entropy2_roundtrip fuzz_blocks in $out"
