# `cmake --install` gives a usable library: the example program builds
# against the installed headers through pkg-config and runs.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v pkg-config >/dev/null || skip "pkg-config is not installed"
run cmake --install "$FUNDUS_BUILD" --prefix "$T/prefix"
expect_status 0 "cmake --install"
for f in include/fundus/fundus.h lib/pkgconfig/fundus.pc lib/cmake/Fundus/FundusConfig.cmake \
         bin/fundus-info share/man/man5/fundus-formats.5; do
  checks=$((checks + 1))
  [ -e "$T/prefix/$f" ] || fail "not installed: $f"
done
export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig"
run cc ${FUNDUS_TEST_CFLAGS:-} "$FUNDUS_SOURCE/examples/c/thumbnail.c" -o thumbnail \
  $(pkg-config --cflags --static --libs fundus)
expect_status 0 "building examples/c/thumbnail.c against the installed library"
fundus-synth --quiet -n 1 --size 640x480 -o in >/dev/null
run ./thumbnail in/*.jpg 100 thumb.png
expect_status 0 "running the example"
expect_match "$T/out" "640 x 480 -> thumb.png: 100 x 75" "thumbnail size"
run fundus-info thumb.png
expect_match "$T/out" '"width":100,"height":75' "thumbnail readable"
finish
