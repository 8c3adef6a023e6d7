# fundus-annotate-tui driven in tmux over synthetic photographs: a box drawn
# by hand with the keys and one with the mouse, a proposal accepted with
# one key, questions answered, undo and redo, skip, flag; then the journal
# and the export. Prints the keys (and mouse actions) each image took.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
. "$FUNDUS_SOURCE/test/shell/annotate_tmux.inc"

make_photos 6 img
run fundus-annotate-tui init ws --question gradable:yesno --question quality:choice:good,fair,poor \
  --question note:text
expect_status 0 "init"
run fundus-annotate-tui add ws img.jsonl
expect_status 0 "add"
expect_match "$T/err" "img.jsonl: 6 images added" "add says how many"
# Proposals for image 1 only: the disc box moved by a few pixels, as a detector would give it.
jq -c 'select(.meta.index == 1) | {image, objects: [.objects[0]
  | .bbox |= [.[0] + 3, .[1] - 2, .[2] + 4, .[3] - 1] | .score = 0.93 | .by = "model:test"]}' \
  img.jsonl >preds.jsonl
run fundus-annotate-tui add ws --predictions preds.jsonl
expect_status 0 "add --predictions"
gt() { jq -r "select(.meta.index == $1) | .objects[0].bbox | map(tostring) | join(\" \")" img.jsonl; }

tui_start alice ws
tui_wait 'alice \| 1 of 6 .*synth-000000.jpg' "first image"

# Image 0: a box by hand with the keys: to the disc's top-left corner, b,
# to the bottom-right one, b; then the questions; then Enter.
read -r x0 y0 x1 y1 <<<"$(gt 0)"
keys=0
tui_goto "${x0%.*}" "${y0%.*}"
tui_keys b
tui_wait 'first corner set' "b starts a box"
tui_goto "${x1%.*}" "${y1%.*}"
tui_keys b
tui_wait 'Boxes 1' "b closes the box"
keys_box=$keys
tui_keys 1 2
tui_wait 'quality: fair' "digits answer the questions in turn"
tui_keys Enter
tui_wait 'alice \| 2 of 6 .*synth-000001.jpg' "Enter saves and moves on"
keys_hand=$keys
wait_journal ws alice 1
line=$(sed -n 1p ws/journals/alice.jsonl)
box=$(jq -r '.objects[0].bbox | map(tostring) | join(" ")' <<<"$line")
expect_eq "$(jq -r '.objects | length' <<<"$line")" 1 "image 0: one box"
expect_ge "$(iou "$box" "$(gt 0)")" 0.8 "image 0: the box drawn with the keys ($box) on the disc ($(gt 0))"
expect_eq "$(jq -r '.answers.gradable.value' <<<"$line")" yes "image 0: gradable"
expect_eq "$(jq -r '.answers.quality.value' <<<"$line")" fair "image 0: quality"
expect_eq "$(jq -r '.annotation.status' <<<"$line")" done "image 0: status"
expect_ge "$(jq -r '.annotation.seconds' <<<"$line")" 0.1 "image 0: time recorded"

# Image 1: the proposal is shown; one key accepts it and moves on.
tui_wait 'optic_disc 0\.93' "the proposal is listed"
keys=0
tui_keys A
tui_wait 'alice \| 3 of 6 .*synth-000002.jpg' "A accepts and moves on"
keys_proposal=$keys
wait_journal ws alice 2
line=$(sed -n 2p ws/journals/alice.jsonl)
expect_eq "$(jq -c '.objects[0].bbox' <<<"$line")" "$(jq -c '.objects[0].bbox' preds.jsonl)" \
  "image 1: the proposal's box, exactly"
expect_eq "$(jq -r '.objects[0].from' <<<"$line")" model:test "image 1: where the box came from"
expect_eq "$(jq -r '.objects[0].by' <<<"$line")" alice "image 1: by the annotator"

# Image 2: a box (B, the last size), undo, redo, undo; a question; a flag; a free text.
tui_keys B
tui_wait 'Boxes 1' "B drops a box"
tui_keys u
tui_wait 'Boxes 0' "u undoes it"
tui_keys r
tui_wait 'Boxes 1' "r redoes it"
tui_keys u
tui_wait 'Boxes 0' "u undoes it again"
tui_keys 2
tui_wait 'gradable: no' "2 answers no"
tui_keys f
tui_wait 'FLAGGED' "f flags"
tui_keys ']' t
tui_wait 'note: _' "t opens the text answer"
tmux -L "$TUI_SOCK" send-keys -t alice -l 'small pupil'
tui_keys Enter
tui_wait 'note: small pupil' "the text answer is kept"
tui_keys u
tui_wait 'note: -' "undo takes the text answer back"
tui_keys r
tui_wait 'note: small pupil' "and redo brings it again"
tui_keys Enter
tui_wait 'alice \| 4 of 6 .*synth-000003.jpg' "saved"
wait_journal ws alice 3
line=$(sed -n 3p ws/journals/alice.jsonl)
expect_eq "$(jq -r '.objects | length' <<<"$line")" 0 "image 2: the undone box is not saved"
expect_eq "$(jq -r '.answers.gradable.value' <<<"$line")" no "image 2: gradable"
expect_eq "$(jq -r '.answers.note.value' <<<"$line")" "small pupil" "image 2: note"
expect_eq "$(jq -r '.annotation.flag' <<<"$line")" true "image 2: flagged"

# Image 3: skipped.
tui_keys s
tui_wait 'alice \| 5 of 6 .*synth-000004.jpg' "s skips"
wait_journal ws alice 4
expect_eq "$(sed -n 4p ws/journals/alice.jsonl | jq -r .annotation.status)" skipped "image 3: skipped"

# Image 4: a box dragged with the mouse: press on the disc's top-left
# corner, drag, release on the bottom-right one. The cells come from the
# view: the picture fills 69 x 27 cells, 2 pixels per cell upright.
read -r x0 y0 x1 y1 <<<"$(gt 4)"
cell() { # image x y -> col row, for an 800x600 image fitted to 69x54 screen pixels
  awk -v x="$1" -v y="$2" 'BEGIN { s = 800 / 69; if (600 / 54 > s) s = 600 / 54;
    vy = (600 - 54 * s) / 2; printf "%d %d\n", x / s, 1 + int((y - vy) / s / 2) }'
}
read -r c0 r0 <<<"$(cell "$x0" "$y0")"
read -r c1 r1 <<<"$(cell "$x1" "$y1")"
drag() {
  tui_mouse 0 "$c0" "$r0"
  tui_mouse 32 "$(((c0 + c1) / 2))" "$(((r0 + r1) / 2))"
  tui_mouse 3 "$c1" "$r1"
  keys=$((keys + 1))
}
keys=0
drag
# Once in a few dozen runs on a loaded machine a report sent through tmux
# never arrives; a person would drag again, and so does the test (counted).
if ! tui_appears 'Boxes 1' 4; then
  echo "note: the first mouse drag was lost on the way; dragging again"
  drag
fi
tui_wait 'Boxes 1' "a mouse drag draws a box"
tui_keys Enter
tui_wait 'alice \| 6 of 6' "saved"
keys_mouse=$keys
wait_journal ws alice 5
box=$(sed -n 5p ws/journals/alice.jsonl | jq -r '.objects[0].bbox | map(tostring) | join(" ")')
expect_ge "$(iou "$box" "$(gt 4)")" 0.7 "image 4: the box dragged with the mouse ($box) on the disc ($(gt 4))"

# Back to image 0 with p: its saved box is shown; forward with n; then the last image.
tui_keys p
tui_wait 'alice \| 5 of 6 \(done before\)' "p goes back"
tui_keys p p p p
tui_wait 'alice \| 1 of 6 \(done before\).*synth-000000.jpg' "back to the first image"
tui_wait 'Boxes 1' "its box is shown"
tui_wait 'gradable: yes' "its answers are shown"
tui_keys n n n n n
tui_wait 'alice \| 6 of 6 .*synth-000005.jpg' "n comes forward to the new image"

# Image 5: the quick way with the keys: the cursor to the disc's centre and
# B, a box of the last one's size around it; then Enter.
read -r x0 y0 x1 y1 <<<"$(gt 5)"
keys=0
tui_goto "$(((${x0%.*} + ${x1%.*}) / 2))" "$(((${y0%.*} + ${y1%.*}) / 2))"
tui_keys B
tui_wait 'Boxes 1' "B drops a box at the cursor"
keys_centre=$((keys + 1)) # and Enter
# Then, not counted: pixel-exact work. Zoomed in past 1:1 a step is one
# image pixel: the top-left corner moves right by exactly one pixel.
read -r bx0 by0 < <(tui_screen | sed -nE 's/.*>1 optic_disc ([0-9]+),([0-9]+) .*/\1 \2/p')
tui_keys m
tui_wait 'arrows move the top-left corner' "m picks the top-left corner"
tui_keys z z z z
tui_wait 'zoom 16 +step 1 px' "zoomed in, one step is one pixel"
tui_keys l
tui_wait ">1 optic_disc $((bx0 + 1)),$by0 " "the corner moved by one pixel"
# The terminal shrinks to 80x24 and grows back: the screen follows.
tmux -L "$TUI_SOCK" resize-window -t alice -x 80 -y 24
tui_wait '^Enter save +A accept\+next .* p back$' "the key help fits 80 columns"
tmux -L "$TUI_SOCK" resize-window -t alice -x 100 -y 30
tui_wait 'f flag +z zoom' "and 100 again"
tui_keys Enter
tui_wait 'Nothing left to annotate' "the end"
wait_journal ws alice 6
box=$(sed -n 6p ws/journals/alice.jsonl | jq -r '.objects[0].bbox | map(tostring) | join(" ")')
expect_ge "$(iou "$box" "$(gt 5)")" 0.6 "image 5: the box dropped with B ($box) on the disc ($(gt 5))"
expect_eq "${box%% *}" "$((bx0 + 1))" "image 5: the corner moved by one pixel"
tui_keys q
tui_gone
expect_eq "$(journal_count ws alice)" 6 "six journal lines"

# The export: the five images done (not the skipped one), boxes and answers by alice.
run fundus-annotate-tui export ws --report report.json -o out.jsonl
expect_status 0 "export"
expect_empty "$T/out" "export -o writes nothing on stdout"
expect_eq "$(wc -l <out.jsonl)" 5 "export: one record per image done"
expect_eq "$(jq -r 'select(.meta.index == 3)' out.jsonl)" "" "export: the skipped image is left out"
expect_eq "$(jq -c 'select(.meta.index == 1) | .objects[0].bbox' out.jsonl)" \
  "$(jq -c '.objects[0].bbox' preds.jsonl)" "export: the accepted proposal"
expect_eq "$(jq -r 'select(.meta.index == 0) | .answers.quality.value' out.jsonl)" fair \
  "export: the answers"
expect_eq "$(jq -r 'select(.meta.index == 2) | .flagged[0]' out.jsonl)" alice "export: the flag"
expect_eq "$(jq -r 'select(.meta.index == 0) | .annotators[0]' out.jsonl)" alice "export: who"
expect_eq "$(jq -r 'select(.meta.index == 0) | .source.format' out.jsonl)" jpeg \
  "export: the image record's fields are kept"
expect_eq "$(jq -r '.annotators[0] | [.done, .skipped, .flagged, .from_proposals] | join(" ")' report.json)" \
  "5 1 1 1" "report: counts"
expect_ge "$(jq -r '.annotators[0].median_seconds' report.json)" 0.1 "report: median seconds"
# The journal and the export are record streams that fundus-info reads.
if command -v fundus-info >/dev/null; then
  run fundus-info --records ws/journals/alice.jsonl out.jsonl
  expect_status 0 "fundus-info reads the journal and the export"
fi

echo "keys per image: proposal accepted $keys_proposal; box by hand with the keys $keys_hand" \
  "($keys_box to draw it corner to corner, the rest to answer two questions and save);" \
  "box dropped at the disc's centre with B $keys_centre (with Enter); box with the mouse" \
  "$keys_mouse (one drag and Enter)"
finish
