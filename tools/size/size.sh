#!/usr/bin/env sh
# Code size of meshota_core + nanopb + the generated messages for an ESP32-C3/C6 class target:
# riscv64-unknown-elf-gcc -march=rv32imc -mabi=ilp32 -Os, per part, in total and linked with
# --gc-sections, and a check that the core references no heap function.
#
#   tools/size/size.sh          every configuration below
#   tools/size/size.sh --check  the release configuration only (what a device ships: every
#                               method and the relay); exit 1 when its linked .text exceeds
#                               16384 bytes or the core references a heap function
#
# Only objects are measured (no libc): libc functions the code calls (memcpy, strcmp, ...) live
# in the ESP32 ROM and are not counted; a small header stands in for the target's string.h.
# nanopb's sources come from $NANOPB_SRC, else from the Debian source package of the installed
# libnanopb-dev version (fetched once into tools/size/.cache).
set -eu
check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
limit=16384
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC_RISCV:-riscv64-unknown-elf-gcc}
size=${SIZE_RISCV:-riscv64-unknown-elf-size}
nm=${NM_RISCV:-riscv64-unknown-elf-nm}
cache=$root/tools/size/.cache
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# nanopb's source package, fetched with apt-get under a private configuration: the machine's
# own apt sources turned into deb-src entries, with lists and caches kept in $cache/apt so the
# system's apt state is left untouched. Only the upstream tarball is unpacked (no dpkg-source).
fetch_nanopb() { # debian version (e.g. 0.4.7-2), destination directory
    apt=$cache/apt
    rm -rf "$apt/etc"
    mkdir -p "$apt/etc/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/src"
    : > "$apt/etc/sources.list"
    if [ -f /etc/apt/sources.list ]; then
        sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >> "$apt/etc/sources.list"
    fi
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        case $f in
        *.sources) sed 's/^Types:.*/Types: deb-src/' "$f" > "$apt/etc/sources.list.d/$(basename "$f")" ;;
        *.list) sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" > "$apt/etc/sources.list.d/$(basename "$f")" ;;
        esac
    done
    set -- "$1" "$2" -o Dir::Etc::SourceList="$apt/etc/sources.list" \
        -o Dir::Etc::SourceParts="$apt/etc/sources.list.d" -o Dir::State::Lists="$apt/lists" \
        -o Dir::Cache="$apt/cache" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    ver=$1 dest=$2
    shift 2
    # apt downloads as the _apt user when run as root: let it write where the files go.
    if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
        chown _apt "$apt/src"
    fi
    apt-get -qq "$@" update >&2
    (cd "$apt/src" && apt-get -qq "$@" source --download-only "nanopb=$ver" >&2)
    # Upstream version: no epoch, no Debian revision.
    up=$(printf '%s' "$ver" | sed 's/^[0-9]*://; s/-[^-]*$//')
    set -- "$apt/src"/nanopb_"$up".orig.tar.*
    [ -f "$1" ] || { echo "size.sh: no nanopb_$up.orig.tar.* downloaded" >&2; exit 1; }
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    tar xf "$1" -C "$dest.tmp"
    # The tarball holds one top-level directory (nanopb-<version> upstream).
    top=$(find "$dest.tmp" -mindepth 1 -maxdepth 1 -type d)
    [ -f "$top/pb_decode.c" ] || { echo "size.sh: $1 holds no pb_decode.c" >&2; exit 1; }
    rm -rf "$dest" && mv "$top" "$dest" && rm -rf "$dest.tmp"
    rm -rf "$apt" # the package lists (about 20 MB) are not needed once the source is unpacked
}

if [ -z "${NANOPB_SRC:-}" ]; then
    ver=$(dpkg-query -W -f='${Version}' libnanopb-dev)
    NANOPB_SRC=$cache/nanopb-$(printf '%s' "$ver" | sed 's/^[0-9]*://; s/-[^-]*$//')
    if [ ! -f "$NANOPB_SRC/pb_decode.c" ]; then
        fetch_nanopb "$ver" "$NANOPB_SRC"
    fi
fi

mkdir -p "$work/inc"
cat > "$work/inc/string.h" <<'H'
#include <stddef.h>
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
size_t strlen(const char *);
int strcmp(const char *, const char *);
H

base="-march=rv32imc -mabi=ilp32 -Os -ffreestanding -fbuiltin -ffunction-sections -fdata-sections
 -std=c11 -Wall -Werror -I$work/inc -I$NANOPB_SRC -I$root/firmware/components/meshota_proto/include
 -I$root/firmware/components/meshota_proto/gen -I$root/firmware/components/meshota_core/include"
core=$root/firmware/components/meshota_core/src
gen=$root/firmware/components/meshota_proto/gen/meshota/v1

# Sections of one object: code (.text*), read-only data (.rodata*, .srodata*), .data, .bss.
sections() {
    $size -A "$1" | awk '/^\.text/ { t += $2 } /^\.s?rodata/ { r += $2 }
        /^\.s?data/ { d += $2 } /^\.s?bss/ { b += $2 } END { print t + 0, r + 0, d + 0, b + 0 }'
}

measure() { # title, extra compiler flags
    echo "== $1"
    echo "   ($2)"
    printf '%-22s %7s %7s %7s %7s\n' object .text .rodata .data .bss
    rm -rf "$work/o"
    for part in core nanopb proto; do
        mkdir -p "$work/o/$part"
        case $part in
        core) srcs="$core/meshota_node.c $core/meshota_relay.c $core/meshota_image.c $core/meshota_stream.c" ;;
        nanopb) srcs="$NANOPB_SRC/pb_common.c $NANOPB_SRC/pb_decode.c $NANOPB_SRC/pb_encode.c" ;;
        proto) srcs="$gen/common.pb.c $gen/control.pb.c $gen/data.pb.c $root/firmware/components/meshota_proto/src/meshota_codec.c" ;;
        esac
        pt=0 pr=0 pd=0 pb=0
        for src in $srcs; do
            obj=$work/o/$part/$(basename "$src" .c).o
            # shellcheck disable=SC2086
            $cc $base $2 -c "$src" -o "$obj"
            set -- "$1" "$2" $(sections "$obj")
            printf '  %-20s %7d %7d %7d %7d\n' "$(basename "$obj")" "$3" "$4" "$5" "$6"
            pt=$((pt + $3)) pr=$((pr + $4)) pd=$((pd + $5)) pb=$((pb + $6))
            set -- "$1" "$2"
        done
        printf '%-22s %7d %7d %7d %7d\n' "$part" "$pt" "$pr" "$pd" "$pb"
        eval "t_$part=$pt r_$part=$pr"
    done
    # shellcheck disable=SC2154
    printf '%-22s %7d %7d\n' "total" "$((t_core + t_nanopb + t_proto))" "$((r_core + r_nanopb + r_proto))"
    heap=$($nm -u "$work"/o/core/*.o | grep -E ' (malloc|calloc|realloc|free)$' || true)
    if [ -n "$heap" ]; then
        echo "heap use in meshota_core: $heap"
        exit 1
    fi
    echo "heap functions referenced by meshota_core: none"

    # Linked as on the device: unreferenced functions dropped (--gc-sections), libc left out.
    keep=""
    for sym in meshota_node_init meshota_node_on_control meshota_node_on_data meshota_node_poll \
        meshota_node_net_connected meshota_node_net_recv meshota_node_net_closed; do
        keep="$keep -Wl,-u,$sym"
    done
    # shellcheck disable=SC2086
    $cc -march=rv32imc -mabi=ilp32 -nostdlib -Wl,--gc-sections -Wl,-e,meshota_node_init \
        -Wl,--unresolved-symbols=ignore-all $keep "$work"/o/*/*.o -o "$work/linked.elf"
    # Small constants (.srodata) land in the linker's .sdata output section.
    linked=$($size -A "$work/linked.elf" | awk '/^\.text/ { t += $2 } /^\.(s?rodata|sdata)/ { r += $2 }
        /^\.s?bss/ { b += $2 } END { print t + 0, r + 0, b + 0 }')
    # shellcheck disable=SC2086
    set -- $linked
    printf '%-22s %7d %7d %7s %7d\n' "linked (gc-sections)" "$1" "$2" "-" "$3"
    linked_text=$1
}

# The release configuration is what ESP-IDF builds by default: ESP_PLATFORM (the compiler
# definition ESP-IDF sets for every component) selects MESHOTA_LOG_LEVEL 2 in meshota_config.h,
# every method and the relay are built in (the meshota_config.h defaults), and nanopb gets the
# options the project sets for it (docs/firmware.md, "Size"). The schema has no 64-bit fields and
# no callback fields, and the core decodes only from buffers.
nanopb_release="-DPB_WITHOUT_64BIT -DPB_BUFFER_ONLY -DPB_NO_ERRMSG"
release="-DESP_PLATFORM $nanopb_release"

if [ "$check" = 1 ]; then
    measure "release: every method and the relay" "$release"
    if [ "$linked_text" -gt "$limit" ]; then
        echo "size check failed: linked .text is $linked_text bytes, $((linked_text - limit)) over the $limit-byte budget"
        exit 1
    fi
    echo "size check passed: linked .text is $linked_text of $limit bytes ($((limit - linked_text)) to spare)"
    exit 0
fi

measure "debug: every method, the relay, all log messages, nanopb defaults" "-DMESHOTA_LOG_LEVEL=4"
measure "release: every method and the relay" "$release"
measure "release mesh + ESP-NOW receiver" "$release -DMESHOTA_WITH_TCP=0 -DMESHOTA_WITH_WIFI=0 \
-DMESHOTA_WITH_RELAY=0"
