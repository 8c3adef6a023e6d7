#!/usr/bin/env bash
# Makes the screenshots of fundus-annotate-tui in examples/: a session in
# tmux over synthetic photographs, captured as text (plain, and with colours
# as escape sequences) and rendered to PNG by examples/ansi2png.py.
#
#   PATH=build/tools:$PATH examples/annotate-screens.sh [OUTDIR]
#
# Needs tmux, jq, python3 and ImageMagick's convert; OUTDIR defaults to
# examples/. Everything else happens in a scratch folder. With Xvfb and
# xterm installed (not a dependency of fundus: apt-get install xvfb
# xterm), it also takes a screenshot of a real xterm, annotate-xterm.png.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "${1:-$here}" && pwd)
tmp=$(mktemp -d)
base=fundus-screens-$$
n=0
sock=$base-0
pids=
trap 'for k in $(seq 0 $n); do tmux -L $base-$k kill-server 2>/dev/null || true; done
  [ -z "$pids" ] || kill $pids 2>/dev/null || true; rm -rf "$tmp"' EXIT
cd "$tmp"

fundus-synth -n 4 --seed 3 --size 1500x1152 --eye R --lesions 0 -o img >img.jsonl
fundus-annotate-tui init -q ws --label optic_disc:yellow:d --label cup:cyan:c \
  --question gradable:yesno --question quality:choice:good,fair,poor \
  --question findings:multi:haemorrhage,exudate,drusen
fundus-annotate-tui add -q ws img.jsonl
# A detector's proposals: the disc a little off, and a false one elsewhere.
jq -c '{image, objects: [(.objects[0] | .bbox |= [.[0] + 6, .[1] - 4, .[2] + 3, .[3] - 8]
  | .score = 0.62 | .by = "model:od-v3"),
  {label: "optic_disc", bbox: [880, 700, 990, 800], score: 0.41, by: "model:od-v3"}]}' \
  img.jsonl >preds.jsonl
fundus-annotate-tui add -q --predictions ws preds.jsonl

# start COLS ROWS COLORTERM [OPTION]...
start() {
  local cols=$1 rows=$2 ct=$3
  shift 3
  # A fresh server each time: a new session on a server being killed fails.
  tmux -L $sock kill-server 2>/dev/null || true
  n=$((n + 1))
  sock=$base-$n
  tmux -L $sock -f /dev/null new-session -d -x "$cols" -y "$rows" \
    "exec env TERM=tmux-256color LANG=C.UTF-8 COLORTERM=$ct fundus-annotate-tui --user alice $* ws"
}
# wait_for REGEX: polls the screen for up to 10 s.
wait_for() {
  for _ in $(seq 200); do
    tmux -L $sock capture-pane -p | grep -Eq -- "$1" && return 0
    sleep 0.05
  done
  echo "annotate-screens: '$1' did not appear" >&2
  tmux -L $sock capture-pane -p >&2
  exit 1
}
keys() { tmux -L $sock send-keys "$@"; }
# shot NAME COLS ROWS: NAME.txt, NAME.ansi and NAME.png
shot() {
  sleep 0.3
  tmux -L $sock capture-pane -p -N >"$out/$1.txt"
  tmux -L $sock capture-pane -p -e -N >"$out/$1.ansi"
  python3 "$here/ansi2png.py" "$out/$1.ansi" "$out/$1.png" "$2" "$3"
}

# 1. 100x30, 24-bit colour: the first proposal accepted (yellow), the
#    second still proposed (dashed), two questions answered, a third
#    highlighted, the cursor on the disc.
start 100 30 truecolor
wait_for 'alice \| 1 of 4'
keys a Escape 1 2
wait_for 'quality: fair'
keys H H L K l l
shot annotate-screen 100 30

# 2. The same image zoomed in on the disc, its box selected, its
#    top-left corner being moved by steps of a few image pixels.
keys Tab m m m z z
wait_for 'zoom 4'
keys m l l j
shot annotate-zoom 100 30

# 3. 80x24 in the 256-colour palette.
start 80 24 "" --colour 256
wait_for 'alice \| 1 of 4'
keys a Escape 1
wait_for 'gradable: yes'
shot annotate-80x24-256 80 24

# 4. ASCII, for terminals without colour or UTF-8; and the key help.
start 80 24 "" --colour ascii
wait_for 'alice \| 1 of 4'
keys a Escape
wait_for 'Boxes 1'
tmux -L $sock capture-pane -p -N >"$out/annotate-ascii.txt"
keys '?'
wait_for 'any key closes this help'
tmux -L $sock capture-pane -p -N >"$out/annotate-help.txt"
rm -f "$out/annotate-80x24-256.ansi" "$out/annotate-zoom.ansi"

# 5. A real terminal: xterm on a virtual X display, attached to the session.
if command -v Xvfb >/dev/null && command -v xterm >/dev/null && command -v import >/dev/null; then
  Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3>"$tmp/display" 2>/dev/null &
  pids="$!"
  for _ in $(seq 100); do [ -s "$tmp/display" ] && break; sleep 0.05; done
  display=:$(cat "$tmp/display")
  start 140 44 truecolor
  tmux -L $sock set -g terminal-features ',xterm*:RGB' \; set -g status off
  wait_for 'alice \| 1 of 4'
  keys a Escape 1 2
  wait_for 'quality: fair'
  keys H H L K l l
  DISPLAY=$display LANG=C.UTF-8 xterm -geometry 140x44+0+0 -fa 'DejaVu Sans Mono' -fs 10 \
    -bg '#181818' -fg '#cccccc' -e env TERM=xterm-256color tmux -L $sock attach &
  pids="$pids $!"
  sleep 2
  DISPLAY=$display import -window root "$tmp/root.png"
  convert "$tmp/root.png" -trim +repage "$out/annotate-xterm.png"
fi
