# fundus-synth --sheet: the errors a user can reach with a contact sheet:
# thumbnails that cannot fit the width asked for (nothing made), and a sheet
# that cannot be written (exit 1, the sheet's file named).
. "$FUNDUS_SOURCE/test/shell/lib.sh"

command -v fundus-synth >/dev/null || skip "fundus-synth is not built"

# 100 thumbnails a row need more than 100 x 16 pixels; 200 is too narrow.
run fundus-synth -n 100 --size 200x160 -o narrow --sheet narrow.png --sheet-width 200 \
  --sheet-columns 100
expect_status 1 "100 columns in 200 pixels"
expect_match "$T/err" "^fundus-synth: cannot make the contact sheet 'narrow\.png': 100 thumbnails a row do not fit in 200 pixels" \
  "the sheet and the reason are named"
expect_empty "$T/out" "no records when the sheet cannot be made"
checks=$((checks + 1))
[ ! -e narrow/synth-000000.jpg ] || fail "photographs made although the sheet cannot be"

# The photographs are made; the sheet, written last, goes to a missing folder.
run fundus-synth -n 2 --size 200x160 -o made --sheet nodir/sheet.png
expect_status 1 "--sheet in a missing folder"
expect_match "$T/err" "^fundus-synth: cannot write 'nodir/sheet\.png': " "the sheet's file is named"
checks=$((checks + 1))
[ ! -e nodir/sheet.png ] || fail "a sheet written into a missing folder"
finish
