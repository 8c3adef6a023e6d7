/*
 * fundus/draw.h: drawing on images: boxes, lines, text, labelled detection
 * overlays, contact sheets and line plots.
 *
 * For people to check results at a glance: fundus-detect draws its boxes
 * and scores on the photograph, puts many such overlays on one contact
 * sheet, and fundus-train plots loss and mAP per epoch to a PNG. Nothing
 * here is meant for pixel-exact graphics work: no anti-aliasing, one
 * built-in bitmap font (printable ASCII; every other byte is drawn as '?').
 *
 * Rules for the whole header:
 *
 * - Drawing functions change an RGB8 image (struct fundus_image of format
 *   FUNDUS_PIX_RGB8) in place; any other format gives FUNDUS_EINVAL and
 *   leaves the image untouched. They clip to the image: a shape partly or
 *   wholly outside it (negative or huge coordinates included) is drawn
 *   where it overlaps and is not an error. They allocate nothing.
 * - Colours are three bytes, red, green, blue (const uint8_t rgb[3]).
 * - Pixel coordinates: pixel (x, y) covers [x, x+1) x [y, y+1), as in
 *   struct fundus_box (fundus/record.h). Integer arguments (x, y, w, h)
 *   name whole pixels.
 * - Errors and ownership follow fundus/core.h: 0 or a negative FUNDUS_E...
 *   code with fundus_errmsg(); images returned through **out belong to the
 *   caller (fundus_image_free()).
 * - Threads: no global state; distinct images and plots may be drawn on
 *   concurrently.
 *
 * Overlay of detections on a photograph:
 *
 *     uint8_t rgb[3];
 *     char tag[64];
 *     fundus_draw_palette(0, rgb);
 *     snprintf(tag, sizeof tag, "%s %.2f", obj->label, obj->score);
 *     fundus_draw_label_box(img, &obj->bbox, tag, rgb, 0);
 *     fundus_image_save(img, "overlay.jpg", NULL);
 *
 * Training curves:
 *
 *     struct fundus_plot *p;
 *     struct fundus_image *png;
 *     fundus_plot_new(&p, "od-v3", "epoch");
 *     fundus_plot_axis(p, FUNDUS_PLOT_LEFT, "loss", 1, NAN, NAN);
 *     fundus_plot_axis(p, FUNDUS_PLOT_RIGHT, "mAP", 0, 0.0, 1.0);
 *     fundus_plot_series(p, "train loss", FUNDUS_PLOT_LEFT, NULL, epoch, loss, n);
 *     fundus_plot_series(p, "mAP@0.5", FUNDUS_PLOT_RIGHT, NULL, epoch, map50, n);
 *     if (fundus_plot_render(p, 1000, 600, &png) == 0)
 *             fundus_image_save(png, "train.png", NULL);
 *     fundus_image_free(png);
 *     fundus_plot_free(p);
 */
#ifndef FUNDUS_DRAW_H
#define FUNDUS_DRAW_H

#include <stdint.h>

#include "fundus/core.h"
#include "fundus/image.h"
#include "fundus/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest text scale and line thickness accepted, in pixels per font pixel / pixels. */
#define FUNDUS_DRAW_MAX_SCALE     64
#define FUNDUS_DRAW_MAX_THICKNESS 1024

/*
 * Font cell at scale 1, in pixels: each character advances
 * FUNDUS_DRAW_FONT_W pixels; each line is FUNDUS_DRAW_FONT_H pixels high
 * (a blank row above the capitals, room for descenders below). Glyphs are
 * 5 x 7 (capitals) with 2 rows of descender.
 */
#define FUNDUS_DRAW_FONT_W 6
#define FUNDUS_DRAW_FONT_H 10

/*
 * Outlines box with lines thickness pixels wide, growing inward from the
 * box's edges: the pixels whose centres lie inside the box are the outer
 * boundary of the outline. A box thinner than twice the thickness is
 * filled. Errors: FUNDUS_EINVAL for a non-RGB8 image, a box with a
 * coordinate that is not finite, or thickness outside 1 ..
 * FUNDUS_DRAW_MAX_THICKNESS. An empty or inverted box draws nothing.
 */
int fundus_draw_rect(struct fundus_image *img, const struct fundus_box *box, int thickness,
		     const uint8_t rgb[3]);

/*
 * Fills the w x h pixels from (x, y), clipped, blending rgb over what is
 * there: alpha 255 paints, 0 leaves the image as it was, between mixes
 * (new = (rgb * alpha + old * (255 - alpha)) / 255, rounded). w or h of 0
 * or less draws nothing. Errors: FUNDUS_EINVAL for a non-RGB8 image or
 * alpha outside 0..255.
 */
int fundus_draw_fill(struct fundus_image *img, int x, int y, int w, int h, const uint8_t rgb[3],
		     int alpha);

/*
 * Draws a straight line between the centres of pixels (x0, y0) and
 * (x1, y1), both included, in any direction, thickness pixels wide (a
 * square pen centred on the line), clipped. Errors: FUNDUS_EINVAL for a
 * non-RGB8 image or thickness outside 1 .. FUNDUS_DRAW_MAX_THICKNESS.
 */
int fundus_draw_line(struct fundus_image *img, int x0, int y0, int x1, int y1, int thickness,
		     const uint8_t rgb[3]);

/*
 * Writes s with the built-in font, each font pixel a scale x scale block,
 * the top-left corner of the text's box at (x, y). '\n' starts a new line
 * under the first; every byte outside 32..126 is drawn as '?'. With bg not
 * NULL, the whole box that fundus_draw_text_size() gives is first filled
 * with bg, so that the text reads on any background; without, only the
 * glyphs' pixels change. Nothing is drawn outside that box. Errors:
 * FUNDUS_EINVAL for a non-RGB8 image, s NULL, or scale outside 1 ..
 * FUNDUS_DRAW_MAX_SCALE.
 */
int fundus_draw_text(struct fundus_image *img, int x, int y, const char *s, int scale,
		     const uint8_t fg[3], const uint8_t *bg);

/*
 * The size of the box fundus_draw_text() draws s in: *w = the longest
 * line's length in bytes x FUNDUS_DRAW_FONT_W x scale, *h = the number of
 * lines x FUNDUS_DRAW_FONT_H x scale. The empty string is 0 wide and one
 * line high. Errors: FUNDUS_EINVAL for s NULL or a scale out of range,
 * FUNDUS_ELIMIT for a text whose box would not fit in an int.
 */
int fundus_draw_text_size(const char *s, int scale, int *w, int *h);

/*
 * The text scale and line thickness fundus_draw_label_box() uses for an
 * image of width x height, chosen so that a label reads at the same size
 * relative to the picture on a 4288-pixel photograph (scale 6, thickness
 * 9) and on a 256-pixel one (scale 1, thickness 1). Either pointer may be
 * NULL. Never fails; sizes below 1 count as 1.
 */
void fundus_draw_auto_size(int width, int height, int *scale, int *thickness);

/*
 * The detection overlay: outlines box in rgb (thickness from
 * fundus_draw_auto_size()) and, when text is not NULL or empty, puts text
 * (one line, e.g. "disc 0.97") on a tag filled with rgb, in black or white,
 * whichever reads better on rgb. The tag sits on the box's top edge, just
 * above the box, or inside the box's top when there is no room above; it
 * is moved left to stay in the image where it would leave it on the right.
 * A box wholly outside the image draws nothing.
 * scale_hint 0 chooses the text scale from the image size; 1 ..
 * FUNDUS_DRAW_MAX_SCALE forces one. Errors: those of fundus_draw_rect(),
 * and FUNDUS_EINVAL for scale_hint out of range.
 */
int fundus_draw_label_box(struct fundus_image *img, const struct fundus_box *box, const char *text,
			  const uint8_t rgb[3], int scale_hint);

/*
 * Colour i of a palette of distinguishable colours, chosen to stand out on
 * the orange-red of a fundus photograph and on the white of a plot; the
 * palette repeats after FUNDUS_DRAW_PALETTE_SIZE colours, and negative i
 * count from its end. Colour 0 is a bright green.
 */
#define FUNDUS_DRAW_PALETTE_SIZE 8
void fundus_draw_palette(int i, uint8_t rgb[3]);

/*
 * Contact sheets: many images as thumbnails on a grid, each with an
 * optional one-line caption under it, on a dark grey background.
 *
 * The one-shot form: tiles[0..n-1] (any pixel format; NULL leaves a cell
 * empty) are each scaled to fit tile_w x tile_w, keeping their aspect
 * ratio (fundus_image_resize()), and laid out in columns columns. Each
 * cell is tile_w wide and as high as the tallest scaled tile (so
 * landscape photographs make landscape cells), plus a caption line when
 * captions is not NULL; captions[i] may be NULL, and a caption too long
 * for its cell is cut and ends in "...". The new sheet goes to *out.
 * Errors: FUNDUS_EINVAL for n < 1, columns < 1, tile_w < 16, tiles NULL;
 * FUNDUS_ELIMIT when n > FUNDUS_DRAW_SHEET_MAX_TILES, tile_w >
 * FUNDUS_DRAW_SHEET_MAX_TILE or the sheet would have more than
 * FUNDUS_DRAW_SHEET_MAX_PIXELS pixels; FUNDUS_ENOMEM.
 */
#define FUNDUS_DRAW_SHEET_MAX_TILES  10000
#define FUNDUS_DRAW_SHEET_MAX_TILE   4096
#define FUNDUS_DRAW_SHEET_MAX_PIXELS (INT64_C(1) << 28)
int fundus_draw_sheet(const struct fundus_image *const *tiles, const char *const *captions, int n,
		      int columns, int tile_w, struct fundus_image **out);

/*
 * The incremental form, for a program that makes its images one at a time
 * and should not keep them all (fundus-synth --sheet, fundus-detect over a
 * folder): fundus_draw_sheet_new() makes an empty sheet of n cells of
 * tile_w x tile_h (plus a caption line under each when captions is
 * non-zero); fundus_draw_sheet_put() scales tile to fit cell i (0 .. n-1,
 * filled left to right, top to bottom) and writes caption under it
 * (NULL for none). When placed is not NULL it receives the rectangle of
 * the sheet the scaled tile covers, so that the caller can map a box of
 * the tile onto the sheet: X = placed->x0 + x * (placed->x1 - placed->x0)
 * / tile->width. fundus_draw_sheet_image() lends the sheet's image (valid
 * until fundus_draw_sheet_free(); the caller may draw on it);
 * fundus_draw_sheet_take() hands it over to the caller and leaves the
 * sheet without one (fundus_draw_sheet_image() then returns NULL and put
 * fails). Errors as for fundus_draw_sheet(), tile_h with the
 * same limits as tile_w; put: FUNDUS_EINVAL for i out of range or tile
 * NULL, FUNDUS_ENOMEM.
 */
struct fundus_sheet;
int fundus_draw_sheet_new(struct fundus_sheet **out, int n, int columns, int tile_w, int tile_h,
			  int captions);
int fundus_draw_sheet_put(struct fundus_sheet *sh, int i, const struct fundus_image *tile,
			  const char *caption, struct fundus_box *placed);
struct fundus_image *fundus_draw_sheet_image(struct fundus_sheet *sh);
struct fundus_image *fundus_draw_sheet_take(struct fundus_sheet *sh);
void fundus_draw_sheet_free(struct fundus_sheet *sh);

/*
 * The largest tile_w whose sheet of columns columns is at most width
 * pixels wide (cells and the gaps between and around them), for a program
 * that is given the sheet's width; 0 when even the smallest tile (16) does
 * not fit. Never fails.
 */
int fundus_draw_sheet_fit(int width, int columns);

/*
 * Line plots: a title, an x axis, a left y axis and optionally a right y
 * axis (its own scale, for a second quantity: loss on the left, mAP 0..1
 * on the right), up to FUNDUS_PLOT_MAX_SERIES named series drawn as lines
 * with a dot at each point, a legend under the title. Axes have "nice"
 * ticks (1, 2 or 5 x 10^k; powers of ten on a log axis; whole numbers
 * only on an x axis whose values are all whole, such as epochs) with
 * labels, and light grid lines at the ticks of the x and left axes.
 *
 * A struct fundus_plot holds copies of everything given to it; render it
 * as often as wanted, at any size. One thread at a time.
 */
#define FUNDUS_PLOT_MAX_SERIES 8
#define FUNDUS_PLOT_MAX_POINTS 1000000 /* per series */
#define FUNDUS_PLOT_MIN_SIZE   160     /* render width and height, pixels */
#define FUNDUS_PLOT_MAX_SIZE   8192

enum fundus_plot_axis {
	FUNDUS_PLOT_LEFT = 0,  /* y axis on the left */
	FUNDUS_PLOT_RIGHT = 1, /* y axis on the right; shown only when a series uses it */
	FUNDUS_PLOT_X = 2,     /* the x axis (fundus_plot_axis() only) */
};

struct fundus_plot;

/*
 * Makes an empty plot. title and xlabel may be NULL (none); they are
 * copied. Errors: FUNDUS_ENOMEM.
 */
int fundus_plot_new(struct fundus_plot **out, const char *title, const char *xlabel);

/* Frees a plot; accepts NULL. */
void fundus_plot_free(struct fundus_plot *p);

/*
 * Adds a series of n points (x[i], y[i]), drawn against axis (LEFT or
 * RIGHT), in colour rgb (NULL: fundus_draw_palette() of the series' index,
 * 0 for the first series added). A point with x or y not finite (NAN), or
 * not above 0 on a log axis, is a gap: the line breaks there. name (NULL
 * or "" for none in the legend) and the points are copied; n may be 0.
 * Errors: FUNDUS_EINVAL for an axis other than LEFT or RIGHT, n < 0, x or y
 * NULL with n > 0; FUNDUS_ELIMIT for the 9th series or n >
 * FUNDUS_PLOT_MAX_POINTS; FUNDUS_ENOMEM.
 */
int fundus_plot_series(struct fundus_plot *p, const char *name, enum fundus_plot_axis axis,
		       const uint8_t *rgb, const double *x, const double *y, int n);

/*
 * Sets an axis: its label (copied; NULL for none), log scale (non-zero:
 * base 10, for y axes only), and its range, each end NAN to take it from
 * the data (widened to the nearest tick). Without a call, an axis is linear
 * with no label and an automatic range. Errors: FUNDUS_EINVAL for an
 * unknown axis, log on the x axis, min >= max when both are given, an end
 * that is infinite, or an end at or below 0 on a log axis; FUNDUS_ENOMEM.
 */
int fundus_plot_axis(struct fundus_plot *p, enum fundus_plot_axis axis, const char *label, int log,
		     double min, double max);

/*
 * Renders the plot into a new width x height RGB8 image, white background,
 * text scaled to the size. A plot without points renders its frame and
 * title. Errors: FUNDUS_EINVAL for width or height below
 * FUNDUS_PLOT_MIN_SIZE, FUNDUS_ELIMIT above FUNDUS_PLOT_MAX_SIZE,
 * FUNDUS_ENOMEM.
 */
int fundus_plot_render(const struct fundus_plot *p, int width, int height,
		       struct fundus_image **out);

/*
 * The tick values the plot puts on an axis from lo to hi: on a linear axis
 * the multiples of a step of 1, 2 or 5 x 10^k that lie in [lo, hi], the
 * step chosen so that there are at most max_ticks and as many as possible
 * (0..1 with max_ticks 6 gives 0, 0.2, 0.4, 0.6, 0.8, 1); on a log axis
 * (log non-zero) the powers of ten in [lo, hi] (every second, third, ...
 * when there are more than max_ticks; with fewer than two, 2 and 5 times
 * them as well). Values within a millionth of a step of a bound count as
 * inside; a value that is zero up to rounding is exactly 0. Writes at most
 * cap values to ticks and returns how many there are (which may be more
 * than cap). Errors: FUNDUS_EINVAL for lo or hi not finite, lo >= hi,
 * max_ticks < 2, cap < 0, ticks NULL with cap > 0, lo <= 0 on a log axis.
 */
int fundus_plot_ticks(double lo, double hi, int log, int max_ticks, double *ticks, int cap);

#ifdef __cplusplus
}
#endif
#endif
