#!/usr/bin/env bash
# The C kernels on a CPU other than x86-64, checked from this x86-64 machine: every file of
# Sources/CDiceKitKernels compiled for aarch64 by the toolchain's clang (as SwiftPM would on an
# arm64 Linux machine: no x86 intrinsic may reach it, no warning allowed), the portable paths
# linked with Scripts/portable_kernels_check.c and run under qemu-user, and their outputs compared
# with the same paths run here (DICEKIT_ISA=portable), and with this CPU's own vector level.
# Docs/Architecture.md, "Other CPU architectures", says what is checked and what is not.
#
#     make check-aarch64            # installs the cross headers, linker and qemu-user when missing
#     Scripts/check_aarch64.sh      # when they are installed
#
# Exit status 0 when everything compiles and every record matches (bit for bit where the kernels
# promise the same bits at every level), 1 otherwise, 2 when a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
CLANG=${CLANG:-$swift_bin/clang}
SYSROOT=/usr/aarch64-linux-gnu
for tool in "$CLANG" aarch64-linux-gnu-gcc qemu-aarch64; do
    if ! command -v "$tool" >/dev/null; then
        echo "check_aarch64: $tool not found; expected the toolchain's clang, gcc-aarch64-linux-gnu and qemu-user (make check-aarch64 installs them)" >&2
        exit 2
    fi
done
if [[ ! -f $SYSROOT/include/stdio.h ]]; then
    echo "check_aarch64: no $SYSROOT/include/stdio.h; expected libc6-dev-arm64-cross (make check-aarch64 installs it)" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kernels=Sources/CDiceKitKernels
mapfile -t sources < <(find "$kernels" -name '*.c' | sort)
driver=Scripts/portable_kernels_check.c

# 1. Every kernel file, for aarch64: errors, warnings and target attributes that name x86
#    features (clang only remarks on those, so they are looked for in its output) all fail.
failed=0
mkdir -p "$work/arm"
for source in "${sources[@]}" "$driver"; do
    object="$work/arm/$(echo "$source" | tr / _).o"
    if ! output=$("$CLANG" --target=aarch64-linux-gnu -O2 -Wall -Werror -isystem "$SYSROOT/include" \
        -I"$kernels/include" -c "$source" -o "$object" 2>&1) || [[ -n "$output" ]]; then
        echo "check_aarch64: $source does not compile cleanly for aarch64:" >&2
        echo "$output" | head -20 >&2
        failed=1
    fi
done
if [[ $failed == 1 ]]; then exit 1; fi
echo "check_aarch64: ${#sources[@]} kernel files compile for aarch64 without a warning"

# 2. The portable paths on both CPUs.
aarch64-linux-gnu-gcc "$work"/arm/*.o -lm -lpthread -o "$work/check-aarch64"
mkdir -p "$work/native"
printf '%s\n' "${sources[@]}" "$driver" | xargs -P "$(nproc)" -I{} sh -c \
    '"$1" -O2 -I"$2/include" -c "$3" -o "$4/native/$(echo "$3" | tr / _).o"' sh "$CLANG" "$kernels" {} "$work"
"$CLANG" "$work"/native/*.o -lm -lpthread -o "$work/check-native"
qemu-aarch64 -L "$SYSROOT" "$work/check-aarch64" run "$work/aarch64.bin"
DICEKIT_ISA=portable "$work/check-native" run "$work/portable.bin"
"$work/check-native" run "$work/native.bin"

status=0
echo "check_aarch64: aarch64 (under qemu-user) against x86-64, both on the portable paths:"
"$work/check-native" compare "$work/portable.bin" "$work/aarch64.bin" || status=1
echo "check_aarch64: x86-64's portable paths against the vector level this CPU runs (DICEKIT_ISA unset):"
"$work/check-native" compare "$work/portable.bin" "$work/native.bin" || status=1
if [[ $status == 0 ]]; then echo "check_aarch64: every record matches"; else echo "check_aarch64: records differ" >&2; fi
exit $status
