#!/usr/bin/env python3
"""Renders a terminal capture with colours (tmux capture-pane -p -e) to PNG.

    ansi2png.py screen.ansi screen.png [COLUMNS ROWS]

Cells are 10 x 20 pixels. The upper half block (U+2580) is drawn as two
exact squares of its foreground and background colours, as a terminal
shows it; other characters are drawn with ImageMagick's `convert` in DejaVu
Sans Mono. Only the Python standard library and ImageMagick are needed.
A tool to make the screenshots of examples/, not part of the tests.
"""
import os
import re
import subprocess
import sys
import tempfile

CW, CH = 10, 20
BASE16 = [
    (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16),
    (36, 114, 200), (188, 63, 188), (17, 168, 205), (229, 229, 229),
    (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
    (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255),
]
DEFAULT_FG, DEFAULT_BG = (204, 204, 204), (24, 24, 24)


def xterm(n):
    """The RGB of an xterm 256-colour index."""
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        lv = [0, 95, 135, 175, 215, 255]
        return (lv[n // 36], lv[n // 6 % 6], lv[n % 6])
    g = 8 + 10 * (n - 232)
    return (g, g, g)


def parse(text, cols, rows):
    """A grid of (char, fg, bg, bold) from text with SGR escapes."""
    grid = [[(" ", DEFAULT_FG, DEFAULT_BG, False)] * cols for _ in range(rows)]
    fg, bg, bold, rev = None, None, False, False
    for y, line in enumerate(text.split("\n")[:rows]):
        x = 0
        for tok in re.findall(r"\x1b\[[0-9;]*m|\x1b[()][0-9A-B]|.", line):
            if tok.startswith("\x1b["):
                ps = [int(p) if p else 0 for p in tok[2:-1].split(";")]
                i = 0
                while i < len(ps):
                    p = ps[i]
                    if p == 0:
                        fg, bg, bold, rev = None, None, False, False
                    elif p == 1:
                        bold = True
                    elif p == 22:
                        bold = False
                    elif p == 7:
                        rev = True
                    elif p == 27:
                        rev = False
                    elif 30 <= p <= 37:
                        fg = BASE16[p - 30]
                    elif 90 <= p <= 97:
                        fg = BASE16[p - 90 + 8]
                    elif 40 <= p <= 47:
                        bg = BASE16[p - 40]
                    elif 100 <= p <= 107:
                        bg = BASE16[p - 100 + 8]
                    elif p == 39:
                        fg = None
                    elif p == 49:
                        bg = None
                    elif p in (38, 48) and i + 1 < len(ps):
                        if ps[i + 1] == 5 and i + 2 < len(ps):
                            c = xterm(ps[i + 2])
                            i += 2
                        elif ps[i + 1] == 2 and i + 4 < len(ps):
                            c = tuple(ps[i + 2:i + 5])
                            i += 4
                        else:
                            c = None
                        if p == 38:
                            fg = c
                        else:
                            bg = c
                    i += 1
                continue
            if tok.startswith("\x1b"):
                continue
            if x < cols:
                f, b = fg or DEFAULT_FG, bg or DEFAULT_BG
                if bold and fg in BASE16[:8]:
                    f = BASE16[BASE16.index(fg) + 8]
                if rev:
                    f, b = b, f
                grid[y][x] = (tok, f, b, bold)
            x += 1
    return grid


def main():
    src, dst = sys.argv[1], sys.argv[2]
    text = open(src, encoding="utf-8").read()
    lines = text.rstrip("\n").split("\n")
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else len(lines)
    grid = parse(text, cols, rows)
    w, h = cols * CW, rows * CH
    pix = bytearray(w * h * 3)

    def fill(x0, y0, x1, y1, c):
        row = bytes(c) * (x1 - x0)
        for yy in range(y0, y1):
            o = (yy * w + x0) * 3
            pix[o:o + len(row)] = row

    runs = []  # (x, y, text, colour): characters of one colour side by side
    for y in range(rows):
        for x in range(cols):
            ch, f, b, bold = grid[y][x]
            if ch == "\u2580":
                fill(x * CW, y * CH, (x + 1) * CW, y * CH + CH // 2, f)
                fill(x * CW, y * CH + CH // 2, (x + 1) * CW, (y + 1) * CH, b)
                continue
            fill(x * CW, y * CH, (x + 1) * CW, (y + 1) * CH, b)
            if ch == " ":
                continue
            if runs and runs[-1][1] == y and runs[-1][3] == f and \
                    runs[-1][0] + len(runs[-1][2]) == x:
                runs[-1] = (runs[-1][0], y, runs[-1][2] + ch, f)
            else:
                runs.append((x, y, ch, f))
    args = []
    for x, y, t, f in runs:
        # One -draw per character keeps the cell grid exact whatever the font's advance.
        for k, ch in enumerate(t):
            esc = ch.replace("\\", "\\\\").replace("'", "\\'")
            args += ["-fill", "rgb(%d,%d,%d)" % f, "-draw",
                     "text %d,%d '%s'" % ((x + k) * CW, y * CH + 15, esc)]
    with tempfile.TemporaryDirectory() as tmp:
        ppm = os.path.join(tmp, "cells.ppm")
        with open(ppm, "wb") as fh:
            fh.write(b"P6 %d %d 255\n" % (w, h) + bytes(pix))
        subprocess.run(["convert", ppm, "-font", "DejaVu-Sans-Mono", "-pointsize", "16"]
                       + args + [dst], check=True)


if __name__ == "__main__":
    main()
