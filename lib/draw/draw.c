/*
 * Shapes on RGB8 images: filled and outlined rectangles, lines, the
 * labelled detection box, and the palette. Every shape is clipped to the
 * image with 64-bit arithmetic, so that coordinates anywhere in the range
 * of their types are safe.
 */
#include <math.h>
#include <string.h>

#include "draw/internal.h"

int fundus__draw_check(const struct fundus_image *img)
{
	if (!img || !img->data)
		return fundus_error_set(FUNDUS_EINVAL, "no image to draw on");
	if (img->format != FUNDUS_PIX_RGB8)
		return fundus_error_set(FUNDUS_EINVAL, "can draw only on rgb8 images, not %s",
					fundus_pixfmt_name(img->format));
	return 0;
}

/* Clips [*x0, *x1) x [*y0, *y1) to img; returns 0 when nothing of it is left. */
static int clip_rect(const struct fundus_image *img, int64_t *x0, int64_t *y0, int64_t *x1,
		     int64_t *y1)
{
	*x0 = *x0 < 0 ? 0 : *x0;
	*y0 = *y0 < 0 ? 0 : *y0;
	*x1 = *x1 > img->width ? img->width : *x1;
	*y1 = *y1 > img->height ? img->height : *y1;
	return *x0 < *x1 && *y0 < *y1;
}

void fundus__draw_span(struct fundus_image *img, int64_t x0, int64_t y0, int64_t x1, int64_t y1,
		       const uint8_t rgb[3])
{
	if (!clip_rect(img, &x0, &y0, &x1, &y1))
		return;
	for (int64_t y = y0; y < y1; y++) {
		uint8_t *p = fundus_image_pixel(img, (int)x0, (int)y);

		for (int64_t x = x0; x < x1; x++, p += 3) {
			p[0] = rgb[0];
			p[1] = rgb[1];
			p[2] = rgb[2];
		}
	}
}

int fundus_draw_fill(struct fundus_image *img, int x, int y, int w, int h, const uint8_t rgb[3],
		     int alpha)
{
	int64_t x0 = x, y0 = y, x1 = (int64_t)x + w, y1 = (int64_t)y + h;
	int rc = fundus__draw_check(img);

	if (rc < 0)
		return rc;
	if (alpha < 0 || alpha > 255)
		return fundus_error_set(FUNDUS_EINVAL, "alpha %d is not in 0..255", alpha);
	if (alpha == 0)
		return 0;
	if (alpha == 255) {
		fundus__draw_span(img, x0, y0, x1, y1, rgb);
		return 0;
	}
	if (!clip_rect(img, &x0, &y0, &x1, &y1))
		return 0;
	for (int64_t yy = y0; yy < y1; yy++) {
		uint8_t *p = fundus_image_pixel(img, (int)x0, (int)yy);

		for (int64_t xx = x0; xx < x1; xx++, p += 3)
			for (int c = 0; c < 3; c++)
				p[c] =
				    (uint8_t)((rgb[c] * alpha + p[c] * (255 - alpha) + 127) / 255);
	}
	return 0;
}

/* The first pixel whose centre is at or after the edge v, as a 64-bit index. */
static int64_t edge_pixel(double v)
{
	/* Beyond 2^40 every image is missed anyway; the clamp keeps the cast defined. */
	const double big = 1099511627776.0;

	v = v < -big ? -big : (v > big ? big : v);
	return (int64_t)ceil(v - 0.5);
}

int fundus_draw_rect(struct fundus_image *img, const struct fundus_box *box, int thickness,
		     const uint8_t rgb[3])
{
	int64_t x0, y0, x1, y1, t = thickness;
	int rc = fundus__draw_check(img);

	if (rc < 0)
		return rc;
	if (!box || !isfinite(box->x0) || !isfinite(box->y0) || !isfinite(box->x1) ||
	    !isfinite(box->y1))
		return fundus_error_set(FUNDUS_EINVAL,
					"a box to draw needs four finite coordinates");
	if (thickness < 1 || thickness > FUNDUS_DRAW_MAX_THICKNESS)
		return fundus_error_set(FUNDUS_EINVAL, "line thickness %d is not in 1..%d",
					thickness, FUNDUS_DRAW_MAX_THICKNESS);
	x0 = edge_pixel(box->x0);
	y0 = edge_pixel(box->y0);
	x1 = edge_pixel(box->x1);
	y1 = edge_pixel(box->y1);
	if (x0 >= x1 || y0 >= y1)
		return 0;
	if (x1 - x0 <= 2 * t || y1 - y0 <= 2 * t) {
		fundus__draw_span(img, x0, y0, x1, y1, rgb);
		return 0;
	}
	fundus__draw_span(img, x0, y0, x1, y0 + t, rgb);
	fundus__draw_span(img, x0, y1 - t, x1, y1, rgb);
	fundus__draw_span(img, x0, y0 + t, x0 + t, y1 - t, rgb);
	fundus__draw_span(img, x1 - t, y0 + t, x1, y1 - t, rgb);
	return 0;
}

/*
 * Cuts the segment from (*x0, *y0) to (*x1, *y1) to the rectangle
 * [lo_x, hi_x] x [lo_y, hi_y] (Liang-Barsky); returns 0 when nothing of it
 * is left.
 */
static int clip_segment(double *x0, double *y0, double *x1, double *y1, double lo_x, double lo_y,
			double hi_x, double hi_y)
{
	double dx = *x1 - *x0, dy = *y1 - *y0, t0 = 0, t1 = 1;
	double p[4] = {-dx, dx, -dy, dy};
	double q[4] = {*x0 - lo_x, hi_x - *x0, *y0 - lo_y, hi_y - *y0};

	for (int i = 0; i < 4; i++) {
		if (p[i] == 0) {
			if (q[i] < 0)
				return 0;
			continue;
		}
		double r = q[i] / p[i];

		if (p[i] < 0) {
			if (r > t1)
				return 0;
			if (r > t0)
				t0 = r;
		} else {
			if (r < t0)
				return 0;
			if (r < t1)
				t1 = r;
		}
	}
	*x1 = *x0 + t1 * dx;
	*y1 = *y0 + t1 * dy;
	*x0 = *x0 + t0 * dx;
	*y0 = *y0 + t0 * dy;
	return 1;
}

void fundus__draw_line_d(struct fundus_image *img, double x0, double y0, double x1, double y1,
			 int thickness, const uint8_t rgb[3])
{
	int64_t ax, ay, bx, by, dx, dy, sx, sy, err, before;

	/* Only the part within a pen's width of the image can touch it. */
	if (!clip_segment(&x0, &y0, &x1, &y1, -thickness, -thickness,
			  (double)img->width + thickness, (double)img->height + thickness))
		return;
	ax = (int64_t)lround(x0);
	ay = (int64_t)lround(y0);
	bx = (int64_t)lround(x1);
	by = (int64_t)lround(y1);
	before = (thickness - 1) / 2;
	dx = bx > ax ? bx - ax : ax - bx;
	dy = by > ay ? ay - by : by - ay; /* -|dy|, as Bresenham's error term wants */
	sx = ax < bx ? 1 : -1;
	sy = ay < by ? 1 : -1;
	err = dx + dy;
	for (;;) {
		fundus__draw_span(img, ax - before, ay - before, ax - before + thickness,
				  ay - before + thickness, rgb);
		if (ax == bx && ay == by)
			break;
		int64_t e2 = 2 * err;

		if (e2 >= dy) {
			err += dy;
			ax += sx;
		}
		if (e2 <= dx) {
			err += dx;
			ay += sy;
		}
	}
}

int fundus_draw_line(struct fundus_image *img, int x0, int y0, int x1, int y1, int thickness,
		     const uint8_t rgb[3])
{
	int rc = fundus__draw_check(img);

	if (rc < 0)
		return rc;
	if (thickness < 1 || thickness > FUNDUS_DRAW_MAX_THICKNESS)
		return fundus_error_set(FUNDUS_EINVAL, "line thickness %d is not in 1..%d",
					thickness, FUNDUS_DRAW_MAX_THICKNESS);
	fundus__draw_line_d(img, x0, y0, x1, y1, thickness, rgb);
	return 0;
}

void fundus_draw_palette(int i, uint8_t rgb[3])
{
	/* Green and azure first: they stand out best on the red of a fundus. */
	static const uint8_t pal[FUNDUS_DRAW_PALETTE_SIZE][3] = {
	    {40, 220, 70},   /* green */
	    {30, 140, 255},  /* azure */
	    {255, 60, 200},  /* magenta */
	    {255, 120, 0},   /* orange */
	    {140, 80, 255},  /* violet */
	    {0, 200, 200},   /* cyan */
	    {235, 220, 0},   /* yellow */
	    {128, 128, 128}, /* grey */
	};
	int k = i % FUNDUS_DRAW_PALETTE_SIZE;

	if (k < 0)
		k += FUNDUS_DRAW_PALETTE_SIZE;
	memcpy(rgb, pal[k], 3);
}

void fundus__draw_contrast(const uint8_t rgb[3], uint8_t out[3])
{
	int luma = (299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2]) / 1000;
	uint8_t v = luma >= 140 ? 0 : 255;

	out[0] = out[1] = out[2] = v;
}

void fundus_draw_auto_size(int width, int height, int *scale, int *thickness)
{
	int64_t m = width < height ? width : height;

	m = m < 1 ? 1 : m;
	/* 2848 (the short side of a 4288 x 2848 photograph) gives 6 and 9. */
	if (scale) {
		int64_t s = (m + 250) / 500;

		*scale = (int)(s < 1 ? 1 : (s > FUNDUS_DRAW_MAX_SCALE ? FUNDUS_DRAW_MAX_SCALE : s));
	}
	if (thickness) {
		int64_t t = (m + 150) / 300;

		*thickness =
		    (int)(t < 1 ? 1
				: (t > FUNDUS_DRAW_MAX_THICKNESS ? FUNDUS_DRAW_MAX_THICKNESS : t));
	}
}

int fundus_draw_label_box(struct fundus_image *img, const struct fundus_box *box, const char *text,
			  const uint8_t rgb[3], int scale_hint)
{
	int scale, thick, tw, th, rc;
	int64_t bx, by, x, y, w, h;
	uint8_t ink[3];

	if (scale_hint < 0 || scale_hint > FUNDUS_DRAW_MAX_SCALE)
		return fundus_error_set(FUNDUS_EINVAL, "text scale %d is not in 0..%d", scale_hint,
					FUNDUS_DRAW_MAX_SCALE);
	if ((rc = fundus__draw_check(img)) < 0)
		return rc;
	fundus_draw_auto_size(img->width, img->height, &scale, &thick);
	rc = fundus_draw_rect(img, box, thick, rgb);
	if (rc < 0 || !text || !*text)
		return rc;
	if (scale_hint)
		scale = scale_hint;
	rc = fundus_draw_text_size(text, scale, &tw, &th);
	if (rc < 0)
		return rc;
	/* One font pixel of margin on the left matches the blank column on the right. */
	w = (int64_t)tw + scale;
	h = th;
	bx = edge_pixel(box->x0);
	by = edge_pixel(box->y0);
	/* A box wholly outside the image gets no tag at the border either. */
	if (bx >= img->width || by >= img->height || edge_pixel(box->x1) <= 0 ||
	    edge_pixel(box->y1) <= 0)
		return 0;
	x = bx + w > img->width ? img->width - w : bx;
	x = x < 0 ? 0 : x;
	y = by - h >= 0 ? by - h : (by < 0 ? 0 : by);
	fundus__draw_contrast(rgb, ink);
	fundus__draw_span(img, x, y, x + w, y + h, rgb);
	return fundus_draw_text(img, (int)x + scale, (int)y, text, scale, ink, NULL);
}
