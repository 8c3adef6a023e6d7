/* Internal interface between the files of the drawing module. */
#ifndef FUNDUS_DRAW_INTERNAL_H
#define FUNDUS_DRAW_INTERNAL_H

#include "fundus/draw.h"

/* FUNDUS_EINVAL, with a message, unless img is a non-NULL RGB8 image. */
int fundus__draw_check(const struct fundus_image *img);

/*
 * Paints the pixels [x0, x1) x [y0, y1), clipped to img, with rgb. The
 * bounds are 64-bit so that callers can pass sums of user coordinates.
 */
void fundus__draw_span(struct fundus_image *img, int64_t x0, int64_t y0, int64_t x1, int64_t y1,
		       const uint8_t rgb[3]);

/*
 * Draws a line like fundus_draw_line() between points given as doubles
 * (pixel centres at whole numbers), any values, NaN excepted; clips before
 * rounding, so that far-away ends keep the line's direction. img must be
 * RGB8 and thickness in range.
 */
void fundus__draw_line_d(struct fundus_image *img, double x0, double y0, double x1, double y1,
			 int thickness, const uint8_t rgb[3]);

/*
 * Writes s at (x, y) like fundus_draw_text(), but cuts it to at most
 * max_w pixels, ending in "..." when it had to be cut. img must be RGB8.
 */
void fundus__draw_text_fit(struct fundus_image *img, int x, int y, const char *s, int scale,
			   const uint8_t fg[3], int max_w);

/* Black or white, whichever reads better on rgb. */
void fundus__draw_contrast(const uint8_t rgb[3], uint8_t out[3]);

#endif
