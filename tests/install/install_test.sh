#!/bin/bash
# cmake --install into a fresh prefix, then use it as a user would. Arguments: cmake, the
# build tree, a work folder (emptied), the install libdir (relative), the expected version,
# the C compiler, this folder (hello.c, the CMake project).
set -euo pipefail
CMAKE=$1 BUILD=$2 WORK=$3 LIBDIR=$4 VERSION=$5 CC=$6 HERE=$7
rm -rf "$WORK" && mkdir -p "$WORK"
PREFIX=$WORK/prefix
"$CMAKE" --install "$BUILD" --prefix "$PREFIX" > "$WORK/install.log"
step() { echo "== $*"; }

step "installed files"
for f in "$LIBDIR/libazstream.so" "$LIBDIR/libazstream.a" "$LIBDIR/pkgconfig/azstream.pc" \
         "$LIBDIR/cmake/azstream/azstreamConfig.cmake" include/azstream/azstream.h \
         include/azstream/version.h bin/azstream; do
  [ -e "$PREFIX/$f" ] || { echo "missing: $f"; exit 1; }
done
soname=$(objdump -p "$PREFIX/$LIBDIR/libazstream.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libazstream.so.${VERSION%%.*}" ] || { echo "SONAME '$soname'"; exit 1; }

step "pkg-config, shared"
export PKG_CONFIG_PATH=$PREFIX/$LIBDIR/pkgconfig
[ "$(pkg-config --modversion azstream)" = "$VERSION" ]
"$CC" -std=c11 -Wall -Wextra -Werror "$HERE/hello.c" -o "$WORK/hello" $(pkg-config --cflags --libs azstream)
out=$(LD_LIBRARY_PATH=$PREFIX/$LIBDIR "$WORK/hello")
[ "$out" = "$VERSION" ] || { echo "hello printed '$out'"; exit 1; }

step "pkg-config --static, libazstream.a"
static_libs=$(pkg-config --static --libs azstream | sed 's/-lazstream//')
"$CC" -std=c11 "$HERE/hello.c" -o "$WORK/hello_static" $(pkg-config --cflags azstream) \
  "$PREFIX/$LIBDIR/libazstream.a" $static_libs
out=$(env -u LD_LIBRARY_PATH "$WORK/hello_static")
[ "$out" = "$VERSION" ] || { echo "hello_static printed '$out'"; exit 1; }
if ldd "$WORK/hello_static" | grep -q libazstream; then echo "hello_static uses libazstream.so"; exit 1; fi

step "every header alone, C11 and C++17"
for h in "$PREFIX"/include/azstream/*.h; do
  inc="#include <azstream/$(basename "$h")>"
  printf '%s\nint main(void) { return 0; }\n' "$inc" | "$CC" -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$PREFIX/include" -x c - \
    || { echo "C11: $h"; exit 1; }
  printf '%s\nint main() { return 0; }\n' "$inc" | g++ -std=c++17 -pedantic -Wall -Wextra -Werror \
    -fsyntax-only -I"$PREFIX/include" -x c++ - || { echo "C++17: $h"; exit 1; }
done
# C++ links the C functions by their C names (extern "C"): a real link, not only syntax.
g++ -std=c++17 -x c++ "$HERE/hello.c" -o "$WORK/hello_cxx" $(pkg-config --cflags --libs azstream)
out=$(LD_LIBRARY_PATH=$PREFIX/$LIBDIR "$WORK/hello_cxx")
[ "$out" = "$VERSION" ] || { echo "hello_cxx printed '$out'"; exit 1; }

step "find_package(azstream)"
"$CMAKE" -S "$HERE/find_package" -B "$WORK/fp" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_C_COMPILER="$CC" > "$WORK/fp.log" 2>&1 || { cat "$WORK/fp.log"; exit 1; }
"$CMAKE" --build "$WORK/fp" >> "$WORK/fp.log" 2>&1 || { cat "$WORK/fp.log"; exit 1; }
out=$("$WORK/fp/hello_fp")  # the build tree's RPATH finds the library
[ "$out" = "$VERSION" ] || { echo "hello_fp printed '$out'"; exit 1; }

step "the installed CLI"
out=$(LD_LIBRARY_PATH=$PREFIX/$LIBDIR "$PREFIX/bin/azstream" --version)
[ "$out" = "azstream $VERSION" ] || { echo "azstream --version printed '$out'"; exit 1; }
echo "ok"
