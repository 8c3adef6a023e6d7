# Every program follows the conventions of tools/common/tool.h: --help on
# stdout with status 0, --version, misuse on stderr with status 2 and a
# pointer to --help, and a checked close of standard output.
. "$FUNDUS_SOURCE/test/shell/lib.sh"

n=0
for p in $(programs); do
  name=$(basename "$p")
  n=$((n + 1))

  run "$p" --help
  expect_status 0 "$name --help"
  expect_match "$T/out" "^Usage: $name " "$name --help prints usage on stdout"
  expect_match "$T/out" "Exit status" "$name --help lists exit statuses"
  expect_empty "$T/err" "$name --help writes nothing on stderr"

  run "$p" --version
  expect_status 0 "$name --version"
  expect_match "$T/out" "^$name \(fundus\) [0-9]+\.[0-9]+\.[0-9]+$" "$name --version"

  run "$p" --no-such-option
  expect_status 2 "$name with an unknown option"
  expect_match "$T/err" "^$name: unknown option '--no-such-option'$" "$name names the bad option"
  expect_match "$T/err" "Try '$name --help'" "$name points to --help"
  expect_empty "$T/out" "$name misuse writes nothing on stdout"

  run "$p" --version=1
  expect_status 2 "$name --version=1"
  expect_match "$T/err" "^$name: option '--version' takes no argument$" "$name names the flag given a value"
  expect_empty "$T/out" "$name --version=1 prints no version"

  # A full disk on stdout is an error, not lost data in silence.
  if [ -w /dev/full ]; then
    "$p" --help >/dev/full 2>"$T/err"
    status=$?
    expect_status 1 "$name --help >/dev/full"
    expect_match "$T/err" "^$name: cannot write to standard output" "$name reports the write error"
  fi
done
[ "$n" -gt 0 ] || fail "no programs found under $FUNDUS_BUILD/tools"
finish
