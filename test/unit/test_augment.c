/*
 * Unit tests of the training augmentation: boxes against the pixels they
 * should bound (drawn ellipses found again after the warp), the identity
 * against an independent letterbox, flips, determinism, the photometry's
 * promises (black stays black, noise of the drawn sigma, flat stays flat
 * under blur), bad arguments, and no allocation.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "augment/internal.h"
#include "fundus/augment.h"
#include "fundus/core.h"
#include "fundus/image.h"
#include "fundus/rng.h"
#include "harness.h"
#include "testutil.h"

/* The ellipse's colour in the geometry tests: R - G = 230, and 0 for any gray. */
static const uint8_t ell_rgb[3] = {250, 20, 200};

/* Options with the geometry of a and no photometry at all. */
static struct fundus_augment geometry_only(const struct fundus_augment *a)
{
	struct fundus_augment g;

	fundus_augment_none(&g);
	g.zoom_min = a->zoom_min;
	g.zoom_max = a->zoom_max;
	g.translate = a->translate;
	g.rotate = a->rotate;
	g.flip_h = a->flip_h;
	g.flip_v = a->flip_v;
	g.min_visible = a->min_visible;
	return g;
}

/* A new RGB8 image, every sample from the generator (or 0 when rng is NULL). */
static struct fundus_image *new_image(int w, int h, struct fundus_rng *rng)
{
	struct fundus_image *img = NULL;

	if (fundus_image_new(&img, w, h, FUNDUS_PIX_RGB8) < 0)
		return NULL;
	for (int y = 0; rng && y < h; y++)
		for (int x = 0; x < 3 * w; x++)
			img->data[(size_t)y * img->stride + x] =
			    (uint8_t)fundus_rng_below(rng, 256);
	return img;
}

/* Fills img with gray noise in [60, 140]: R = G = B, so no marker. */
static void gray_background(struct fundus_image *img, struct fundus_rng *rng)
{
	for (int y = 0; y < img->height; y++) {
		for (int x = 0; x < img->width; x++) {
			uint8_t *p = fundus_image_pixel(img, x, y);

			p[0] = p[1] = p[2] = (uint8_t)(60 + fundus_rng_below(rng, 81));
		}
	}
}

/*
 * Draws the axis-aligned ellipse inscribed in box b, antialiased (8 x 8
 * samples per pixel), in colour rgb over what is there.
 */
static void draw_ellipse(struct fundus_image *img, struct fundus_box b, const uint8_t rgb[3])
{
	double cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;
	double ax = (b.x1 - b.x0) / 2, ay = (b.y1 - b.y0) / 2;

	for (int y = (int)floor(b.y0); y < (int)ceil(b.y1); y++) {
		for (int x = (int)floor(b.x0); x < (int)ceil(b.x1); x++) {
			int in = 0;
			uint8_t *p;

			if (x < 0 || y < 0 || x >= img->width || y >= img->height)
				continue;
			for (int sy = 0; sy < 8; sy++) {
				for (int sx = 0; sx < 8; sx++) {
					double u = (x + (sx + 0.5) / 8 - cx) / ax;
					double v = (y + (sy + 0.5) / 8 - cy) / ay;

					in += u * u + v * v <= 1;
				}
			}
			p = fundus_image_pixel(img, x, y);
			for (int c = 0; c < 3; c++)
				p[c] =
				    (uint8_t)floor((in * rgb[c] + (64 - in) * p[c]) / 64.0 + 0.5);
		}
	}
}

/*
 * The bounding box, in edge coordinates, of the pixels whose marker
 * (R - G) / 230 is at least 0.5, i.e. mostly the ellipse's colour. Returns
 * the number of such pixels.
 */
static int marker_box(const struct fundus_image *img, struct fundus_box *box)
{
	int n = 0, x0 = img->width, y0 = img->height, x1 = -1, y1 = -1;

	for (int y = 0; y < img->height; y++) {
		for (int x = 0; x < img->width; x++) {
			const uint8_t *p = fundus_image_pixel(img, x, y);

			if (p[0] - p[1] < 115)
				continue;
			n++;
			x0 = x < x0 ? x : x0;
			y0 = y < y0 ? y : y0;
			x1 = x > x1 ? x : x1;
			y1 = y > y1 ? y : y1;
		}
	}
	box->x0 = x0;
	box->y0 = y0;
	box->x1 = x1 + 1;
	box->y1 = y1 + 1;
	return n;
}

/* Clips the polygon (x, y) of *n vertices to the half-plane s * (coordinate k) <= e, in place. */
static void clip_polygon(double *x, double *y, int *n, int k, double s, double e)
{
	static double ox[9000], oy[9000];
	int m = 0;

	for (int i = 0; i < *n; i++) {
		int j = (i + 1) % *n;
		double pi = s * (k ? y[i] : x[i]) - e, pj = s * (k ? y[j] : x[j]) - e;

		if (pi <= 0) {
			ox[m] = x[i];
			oy[m++] = y[i];
		}
		if ((pi < 0 && pj > 0) || (pi > 0 && pj < 0)) {
			double t = pi / (pi - pj);

			ox[m] = x[i] + t * (x[j] - x[i]);
			oy[m++] = y[i] + t * (y[j] - y[i]);
		}
	}
	memcpy(x, ox, sizeof(double) * (size_t)m);
	memcpy(y, oy, sizeof(double) * (size_t)m);
	*n = m;
}

/*
 * Box b's inscribed ellipse under d's forward map, as a polygon of 8192
 * vertices: its bound in *whole, and the bound of its part inside
 * [0, w] x [0, h] (Sutherland-Hodgman) in *part. Returns 0 when no part
 * is inside. A second way to what the library computes in closed form.
 */
static int polygon_bound(const struct fundus__augment_draw *d, struct fundus_box b, double w,
			 double h, struct fundus_box *whole, struct fundus_box *part)
{
	enum { N = 8192 };
	static double x[9000], y[9000];
	double cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;
	double ax = (b.x1 - b.x0) / 2, ay = (b.y1 - b.y0) / 2;
	int n = N;

	for (int k = 0; k < N; k++) {
		double t = k * (2 * M_PI / N);
		double sx = cx + ax * cos(t), sy = cy + ay * sin(t);

		x[k] = d->fwd[0][0] * sx + d->fwd[0][1] * sy + d->fwd[0][2];
		y[k] = d->fwd[1][0] * sx + d->fwd[1][1] * sy + d->fwd[1][2];
	}
	for (int pass = 0; pass < 2; pass++) {
		struct fundus_box *r = pass ? part : whole;

		if (pass) {
			clip_polygon(x, y, &n, 0, -1, 0);
			clip_polygon(x, y, &n, 0, 1, w);
			clip_polygon(x, y, &n, 1, -1, 0);
			clip_polygon(x, y, &n, 1, 1, h);
		}
		*r = (struct fundus_box){INFINITY, INFINITY, -INFINITY, -INFINITY};
		for (int k = 0; k < n; k++) {
			r->x0 = fmin(r->x0, x[k]);
			r->y0 = fmin(r->y0, y[k]);
			r->x1 = fmax(r->x1, x[k]);
			r->y1 = fmax(r->y1, y[k]);
		}
	}
	return n > 0;
}

/* The largest difference between the edges of two boxes. */
static double box_diff(struct fundus_box a, struct fundus_box b)
{
	return fmax(fmax(fabs(a.x0 - b.x0), fabs(a.y0 - b.y0)),
		    fmax(fabs(a.x1 - b.x1), fabs(a.y1 - b.y1)));
}

/* Option sets for the geometry tests: the defaults, and wilder ones. */
static void geometry_case(int k, struct fundus_augment *a)
{
	fundus_augment_defaults(a);
	*a = geometry_only(a);
	if (k % 3 == 1) {
		a->zoom_min = 0.5f;
		a->zoom_max = 2;
		a->translate = 0.5f;
		a->rotate = 180;
		a->flip_v = 0.5f;
		a->min_visible = 0.3f;
	} else if (k % 3 == 2) {
		a->min_visible = 0.9f;
	}
}

/*
 * (1) Geometry only: a drawn ellipse of a unique colour is found again
 * after many random warps within 1.5 pixels of its transformed box on
 * every edge; the box agrees with an outline walk; kept and dropped
 * follow the visible fraction of that walk's box.
 */
TEST(boxes_bound_the_pixels)
{
	struct fundus_rng rng, gen;
	struct fundus_image *src, *dst;
	int kept = 0, dropped = 0, clipped = 0;

	fundus_rng_seed(&gen, 11);
	src = new_image(200, 140, NULL);
	dst = new_image(128, 112, NULL);
	CHECK(src && dst);
	for (int it = 0; it < 240; it++) {
		struct fundus_augment a;
		struct fundus__augment_draw d;
		struct fundus_box box, out, u, c, found;
		int label = 7, out_label = -1, n_out = -1, n_pix;
		double ax = 12 + fundus_rng_range(&gen, 0, 18),
		       ay = ax * fundus_rng_range(&gen, 0.6, 1.4);
		double cx = fundus_rng_range(&gen, ax + 2, 200 - ax - 2);
		double cy = fundus_rng_range(&gen, ay + 2, 140 - ay - 2);
		double frac;
		int visible;

		geometry_case(it, &a);
		box = (struct fundus_box){cx - ax, cy - ay, cx + ax, cy + ay};
		gray_background(src, &gen);
		draw_ellipse(src, box, ell_rgb);
		fundus_rng_seed(&rng, 1000 + (uint64_t)it);
		{
			struct fundus_rng copy = rng;

			fundus__augment_draw(&a, &copy, src->width, src->height, dst->width,
					     dst->height, &d);
		}
		CHECK_OK(fundus_augment_apply(&a, &rng, src, &box, &label, 1, dst, &out, &out_label,
					      &n_out));
		visible = polygon_bound(&d, box, dst->width, dst->height, &u, &c);
		/* The visible fraction is judged on the boxes, clipped against whole. */
		frac = fmax(0, fmin(u.x1, dst->width) - fmax(u.x0, 0)) *
		       fmax(0, fmin(u.y1, dst->height) - fmax(u.y0, 0)) /
		       ((u.x1 - u.x0) * (u.y1 - u.y0));
		if (fabs(frac - a.min_visible) < 1e-3)
			continue; /* too close to the line to judge */
		if (frac < a.min_visible || !visible) {
			CHECK_INT_EQ(n_out, 0);
			dropped++;
			continue;
		}
		CHECK_INT_EQ(n_out, 1);
		CHECK_INT_EQ(out_label, 7);
		kept++;
		clipped += frac < 1;
		/* The closed form against the polygon (which is good to 1e-4 here). */
		if (box_diff(out, c) > 1e-3)
			HARNESS_FAIL("iteration %d: box [%g %g %g %g], polygon [%g %g %g %g]", it,
				     out.x0, out.y0, out.x1, out.y1, c.x0, c.y0, c.x1, c.y1);
		n_pix = marker_box(dst, &found);
		CHECK_INT_GT(n_pix, 0);
		if (box_diff(out, found) > 1.5)
			HARNESS_FAIL("iteration %d (zoom %.3f, angle %.1f, flips %d %d): box "
				     "[%.2f %.2f %.2f %.2f], pixels [%g %g %g %g]",
				     it, d.zoom, d.angle * 180 / M_PI, d.flip_h, d.flip_v, out.x0,
				     out.y0, out.x1, out.y1, found.x0, found.y0, found.x1,
				     found.y1);
	}
	/* The cases must all have happened. */
	CHECK_INT_GT(kept, 100);
	CHECK_INT_GT(dropped, 10);
	CHECK_INT_GT(clipped, 10);
	fundus_image_free(src);
	fundus_image_free(dst);
}

/*
 * (2) With all the photometry on, the same rng state gives the same boxes
 * as geometry alone, and a white ellipse on black is found again in the
 * changed pixels (half its own median brightness) within 2 pixels of its
 * box: the photometry, blur included, moves nothing.
 */
TEST(photometry_moves_nothing)
{
	struct fundus_rng rng, gen;
	struct fundus_image *src, *geo, *dst;
	static const uint8_t white[3] = {255, 255, 255};
	int judged = 0, blurred = 0;
	double shift[2] = {0, 0};

	fundus_rng_seed(&gen, 12);
	src = new_image(200, 140, NULL);
	geo = new_image(128, 128, NULL);
	dst = new_image(128, 128, NULL);
	CHECK(src && geo && dst);
	for (int it = 0; it < 120; it++) {
		struct fundus_augment a, g;
		struct fundus__augment_draw d;
		struct fundus_box box, out_g, out_p;
		int n_g = -1, n_p = -1, nin = 0, hist[766] = {0}, half, median = 0;
		int x0 = dst->width, y0 = dst->height, x1 = -1, y1 = -1;
		double ax = 12 + fundus_rng_range(&gen, 0, 15),
		       ay = ax * fundus_rng_range(&gen, 0.7, 1.3);
		double cx = fundus_rng_range(&gen, ax + 2, 200 - ax - 2);
		double cy = fundus_rng_range(&gen, ay + 2, 140 - ay - 2);
		struct fundus_rng r0;

		fundus_augment_defaults(&a);
		a.blur_p = 0.5f; /* blur more often than in training */
		g = geometry_only(&a);
		box = (struct fundus_box){cx - ax, cy - ay, cx + ax, cy + ay};
		memset(src->data, 0, src->stride * (size_t)src->height);
		draw_ellipse(src, box, white);
		fundus_rng_seed(&r0, 5000 + (uint64_t)it);
		rng = r0;
		fundus__augment_draw(&a, &rng, src->width, src->height, dst->width, dst->height,
				     &d);
		rng = r0;
		CHECK_OK(
		    fundus_augment_apply(&g, &rng, src, &box, NULL, 1, geo, &out_g, NULL, &n_g));
		rng = r0;
		CHECK_OK(
		    fundus_augment_apply(&a, &rng, src, &box, NULL, 1, dst, &out_p, NULL, &n_p));
		CHECK_INT_EQ(n_p, n_g);
		if (n_g == 0)
			continue;
		CHECK(memcmp(&out_p, &out_g, sizeof out_p) == 0);
		/* The ellipse's brightness where geometry alone says it is fully there. */
		for (int y = 0; y < dst->height; y++) {
			for (int x = 0; x < dst->width; x++) {
				const uint8_t *q = fundus_image_pixel(geo, x, y);
				const uint8_t *p = fundus_image_pixel(dst, x, y);

				if (q[0] >= 250) {
					hist[p[0] + p[1] + p[2]]++;
					nin++;
				}
			}
		}
		if (nin < 20)
			continue;
		for (int s = 0, seen = 0; s < 766; s++) {
			seen += hist[s];
			if (2 * seen >= nin) {
				median = s;
				break;
			}
		}
		if (median < 60)
			continue; /* darkened into the noise: nothing to see */
		half = median / 2;
		for (int y = 0; y < dst->height; y++) {
			for (int x = 0; x < dst->width; x++) {
				const uint8_t *p = fundus_image_pixel(dst, x, y);

				if (p[0] + p[1] + p[2] < half)
					continue;
				x0 = x < x0 ? x : x0;
				y0 = y < y0 ? y : y0;
				x1 = x > x1 ? x : x1;
				y1 = y > y1 ? y : y1;
			}
		}
		{
			struct fundus_box found = {x0, y0, x1 + 1, y1 + 1};

			if (box_diff(out_p, found) > 2)
				HARNESS_FAIL("iteration %d (blur %.2f, noise %.2f, gain %.2f): box "
					     "[%.2f %.2f %.2f %.2f], pixels [%g %g %g %g]",
					     it, d.blur_sigma, d.noise, d.gain, out_p.x0, out_p.y0,
					     out_p.x1, out_p.y1, found.x0, found.y0, found.x1,
					     found.y1);
		}
		judged++;
		blurred += d.blur_sigma > 0;
		/* A shift would show in the centres, which a blur leaves alone. */
		shift[0] += (x0 + x1 + 1) / 2.0 - (out_p.x0 + out_p.x1) / 2;
		shift[1] += (y0 + y1 + 1) / 2.0 - (out_p.y0 + out_p.y1) / 2;
	}
	CHECK_INT_GT(judged, 40);
	CHECK_INT_GT(blurred, 10);
	CHECK_NEAR(shift[0] / judged, 0, 0.25);
	CHECK_NEAR(shift[1] / judged, 0, 0.25);
	fundus_image_free(src);
	fundus_image_free(geo);
	fundus_image_free(dst);
}

/* (3) The same seed gives the same bytes and boxes; another seed does not. */
TEST(deterministic)
{
	struct fundus_rng gen, r1, r2, r3;
	struct fundus_image *src, *d1, *d2, *d3;
	struct fundus_augment a, none;
	struct fundus_box box = {60, 50, 100, 90}, o1, o2, o3;
	int n1, n2, n3;

	fundus_rng_seed(&gen, 13);
	src = new_image(180, 120, &gen);
	d1 = new_image(96, 96, NULL);
	d2 = new_image(96, 96, NULL);
	d3 = new_image(96, 96, NULL);
	CHECK(src && d1 && d2 && d3);
	fundus_augment_defaults(&a);
	a.blur_p = 1; /* every stage, noise included */
	for (int k = 0; k < 5; k++) {
		fundus_rng_seed(&r1, 77 + (uint64_t)k);
		fundus_rng_seed(&r2, 77 + (uint64_t)k);
		fundus_rng_seed(&r3, 78 + (uint64_t)k);
		CHECK_OK(fundus_augment_apply(&a, &r1, src, &box, NULL, 1, d1, &o1, NULL, &n1));
		CHECK_OK(fundus_augment_apply(&a, &r2, src, &box, NULL, 1, d2, &o2, NULL, &n2));
		CHECK_OK(fundus_augment_apply(&a, &r3, src, &box, NULL, 1, d3, &o3, NULL, &n3));
		CHECK(tu_same_pixels(d1, d2));
		CHECK_INT_EQ(n1, n2);
		CHECK(n1 == 0 || memcmp(&o1, &o2, sizeof o1) == 0);
		CHECK(memcmp(&r1, &r2, sizeof r1) == 0);
		CHECK(!tu_same_pixels(d1, d3));
	}
	/* A call advances rng by the same amount whatever the options. */
	fundus_augment_none(&none);
	fundus_rng_seed(&r1, 5);
	fundus_rng_seed(&r2, 5);
	CHECK_OK(fundus_augment_apply(&a, &r1, src, NULL, NULL, 0, d1, NULL, NULL, &n1));
	CHECK_OK(fundus_augment_apply(&none, &r2, src, NULL, NULL, 0, d2, NULL, NULL, &n2));
	CHECK_INT_EQ(n1, 0);
	CHECK(memcmp(&r1, &r2, sizeof r1) == 0);
	fundus_image_free(src);
	fundus_image_free(d1);
	fundus_image_free(d2);
	fundus_image_free(d3);
}

/*
 * The plain letterbox, computed independently in doubles: src scaled by
 * min(dw / sw, dh / sh), centred, sampled bilinearly at each pixel centre
 * with black beyond src. Returns the largest difference from img and adds
 * the number of differing samples to *ndiff.
 */
static int letterbox_diff(const struct fundus_image *src, const struct fundus_image *img,
			  long *ndiff)
{
	double s = fmin((double)img->width / src->width, (double)img->height / src->height);
	double ox = (img->width - s * src->width) / 2, oy = (img->height - s * src->height) / 2;
	int worst = 0;

	for (int j = 0; j < img->height; j++) {
		for (int i = 0; i < img->width; i++) {
			double x = (i + 0.5 - ox) / s - 0.5, y = (j + 0.5 - oy) / s - 0.5;
			int xi = (int)floor(x), yi = (int)floor(y);
			double fx = x - xi, fy = y - yi;
			const uint8_t *p = fundus_image_pixel(img, i, j);

			for (int c = 0; c < 3; c++) {
				double v = 0;
				int d;

				for (int k = 0; k < 4; k++) {
					int xx = xi + (k & 1), yy = yi + (k >> 1);
					double w = (k & 1 ? fx : 1 - fx) * (k >> 1 ? fy : 1 - fy);

					if (xx >= 0 && yy >= 0 && xx < src->width &&
					    yy < src->height)
						v += w * fundus_image_pixel(src, xx, yy)[c];
				}
				d = abs(p[c] - (int)floor(v + 0.5));
				worst = d > worst ? d : worst;
				*ndiff += d != 0;
			}
		}
	}
	return worst;
}

/*
 * (4) fundus_augment_none() is the plain letterbox: against an independent
 * one (within one level for the fixed-point weights), exactly for equal
 * sizes and for halving, and boxes map by the scale and offset.
 */
TEST(identity_is_letterbox)
{
	static const int sizes[][4] = {
	    {300, 200, 128, 128}, {200, 300, 128, 128}, {150, 100, 96, 160},
	    {64, 48, 200, 200},   {97, 61, 97, 61},     {128, 96, 64, 48},
	};
	struct fundus_rng gen, rng;
	struct fundus_augment a;

	fundus_augment_none(&a);
	fundus_rng_seed(&gen, 14);
	for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
		int sw = sizes[t][0], sh = sizes[t][1], dw = sizes[t][2], dh = sizes[t][3];
		struct fundus_image *src = new_image(sw, sh, &gen), *dst = new_image(dw, dh, NULL);
		double s = fmin((double)dw / sw, (double)dh / sh);
		double ox = (dw - s * sw) / 2, oy = (dh - s * sh) / 2;
		struct fundus_box in[3] = {{10, 5, 40, 30}, {0, 0, sw, sh}, {-5, 10, 40, 30}};
		struct fundus_box out[3];
		int labels[3] = {1, 2, 3}, out_labels[3], n_out, worst;
		long ndiff = 0;

		CHECK(src && dst);
		memset(dst->data, 0x5a, dst->stride * (size_t)dh); /* all must be written */
		fundus_rng_seed(&rng, t);
		CHECK_OK(fundus_augment_apply(&a, &rng, src, in, labels, 3, dst, out, out_labels,
					      &n_out));
		worst = letterbox_diff(src, dst, &ndiff);
		if (worst > 1 || ndiff * 20 > (long)dw * dh * 3)
			HARNESS_FAIL("%dx%d -> %dx%d: off by up to %d, %ld samples differ", sw, sh,
				     dw, dh, worst, ndiff);
		if (sw == dw && sh == dh)
			CHECK(tu_same_pixels(src, dst));
		if (sw == 2 * dw && sh == 2 * dh) {
			/* Halving samples the middle of each 2 x 2 block: its mean, rounded up at
			 * .5. */
			for (int y = 0; y < dh; y++) {
				for (int x = 0; x < dw; x++) {
					for (int c = 0; c < 3; c++) {
						int sum = 0;

						for (int k = 0; k < 4; k++)
							sum +=
							    fundus_image_pixel(src, 2 * x + (k & 1),
									       2 * y + (k >> 1))[c];
						CHECK_INT_EQ(fundus_image_pixel(dst, x, y)[c],
							     (sum + 2) / 4);
					}
				}
			}
		}
		/* Every box touches dst, none is cut below min_visible 0, labels follow. */
		CHECK_INT_EQ(n_out, 3);
		for (int k = 0; k < 3; k++) {
			struct fundus_box e = {
			    fmax(s * in[k].x0 + ox, 0), fmax(s * in[k].y0 + oy, 0),
			    fmin(s * in[k].x1 + ox, dw), fmin(s * in[k].y1 + oy, dh)};

			CHECK_NEAR(box_diff(out[k], e), 0, 1e-9);
			CHECK_INT_EQ(out_labels[k], labels[k]);
		}
		fundus_image_free(src);
		fundus_image_free(dst);
	}
}

/*
 * Boxes cut by the frame give the bound of what shows of their ellipse:
 * a disc centred on a corner shows a quarter, a huge one all of dst, and
 * one whose box but not its ellipse reaches into dst nothing.
 */
TEST(boxes_cut_by_the_frame)
{
	static const struct {
		struct fundus_box in, out;
		int kept;
	} cases[] = {
	    {{-60, -60, 60, 60}, {0, 0, 60, 60}, 1},
	    {{-1000, -1000, 1100, 1100}, {0, 0, 100, 100}, 1},
	    {{-20, 20, 10, 80},
	     {0, 50 - 30 * 0.94280904158206337, 10, 50 + 30 * 0.94280904158206337},
	     1},
	    {{-59, -59, 1, 1}, {0, 0, 0, 0}, 0},
	};
	struct fundus_rng rng;
	struct fundus_image *src, *dst;
	struct fundus_augment a;

	src = new_image(100, 100, NULL);
	dst = new_image(100, 100, NULL);
	CHECK(src && dst);
	fundus_augment_none(&a);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct fundus_box out;
		int n = -1;

		fundus_rng_seed(&rng, 1);
		CHECK_OK(fundus_augment_apply(&a, &rng, src, &cases[k].in, NULL, 1, dst, &out, NULL,
					      &n));
		CHECK_INT_EQ(n, cases[k].kept);
		if (n && box_diff(out, cases[k].out) > 1e-9)
			HARNESS_FAIL("case %zu: [%.12g %.12g %.12g %.12g]", k, out.x0, out.y0,
				     out.x1, out.y1);
	}
	fundus_image_free(src);
	fundus_image_free(dst);
}

/* (5) A flip mirrors the letterbox and maps a box to its mirror image. */
TEST(flips_mirror)
{
	struct fundus_rng gen, rng;
	struct fundus_image *src, *id, *fl;
	struct fundus_augment a;
	struct fundus_box box = {30, 20, 75, 50}, bi, bf;
	int ni, nf;

	fundus_rng_seed(&gen, 15);
	src = new_image(170, 110, &gen);
	id = new_image(100, 90, NULL);
	fl = new_image(100, 90, NULL);
	CHECK(src && id && fl);
	fundus_augment_none(&a);
	fundus_rng_seed(&rng, 1);
	CHECK_OK(fundus_augment_apply(&a, &rng, src, &box, NULL, 1, id, &bi, NULL, &ni));
	for (int mode = 1; mode <= 3; mode++) {
		long off = 0;

		fundus_augment_none(&a);
		a.flip_h = mode & 1 ? 1.0f : 0.0f;
		a.flip_v = mode & 2 ? 1.0f : 0.0f;
		fundus_rng_seed(&rng, 1);
		CHECK_OK(fundus_augment_apply(&a, &rng, src, &box, NULL, 1, fl, &bf, NULL, &nf));
		CHECK_INT_EQ(ni, 1);
		CHECK_INT_EQ(nf, 1);
		for (int y = 0; y < fl->height; y++) {
			for (int x = 0; x < fl->width; x++) {
				int mx = mode & 1 ? fl->width - 1 - x : x;
				int my = mode & 2 ? fl->height - 1 - y : y;
				const uint8_t *p = fundus_image_pixel(fl, x, y);
				const uint8_t *q = fundus_image_pixel(id, mx, my);

				for (int c = 0; c < 3; c++) {
					CHECK_INT_LE(abs(p[c] - q[c]), 1);
					off += p[c] != q[c];
				}
			}
		}
		/* Positions agree to rounding: hardly a sample may differ. */
		CHECK_INT_LT(off, 100 * 90 * 3 / 50);
		if (mode & 1) {
			CHECK_NEAR(bf.x0, 100 - bi.x1, 1e-9);
			CHECK_NEAR(bf.x1, 100 - bi.x0, 1e-9);
		} else {
			CHECK_NEAR(bf.x0, bi.x0, 1e-9);
			CHECK_NEAR(bf.x1, bi.x1, 1e-9);
		}
		if (mode & 2) {
			CHECK_NEAR(bf.y0, 90 - bi.y1, 1e-9);
			CHECK_NEAR(bf.y1, 90 - bi.y0, 1e-9);
		} else {
			CHECK_NEAR(bf.y0, bi.y0, 1e-9);
			CHECK_NEAR(bf.y1, bi.y1, 1e-9);
		}
	}
	fundus_image_free(src);
	fundus_image_free(id);
	fundus_image_free(fl);
}

/*
 * Non-zero when every source pixel near where dst pixel (i, j) samples (the
 * 4 x 4 around its bilinear neighbours, so that rounding cannot matter)
 * is black or outside src.
 */
static int samples_black(const struct fundus__augment_draw *d, const struct fundus_image *src,
			 int i, int j)
{
	double x = d->inv[0][0] * (i + 0.5) + d->inv[0][1] * (j + 0.5) + d->inv[0][2] - 0.5;
	double y = d->inv[1][0] * (i + 0.5) + d->inv[1][1] * (j + 0.5) + d->inv[1][2] - 0.5;
	int xi = (int)floor(x), yi = (int)floor(y);

	for (int yy = yi - 1; yy <= yi + 2; yy++) {
		for (int xx = xi - 1; xx <= xi + 2; xx++) {
			const uint8_t *p;

			if (xx < 0 || yy < 0 || xx >= src->width || yy >= src->height)
				continue;
			p = fundus_image_pixel(src, xx, yy);
			if (p[0] || p[1] || p[2])
				return 0;
		}
	}
	return 1;
}

/*
 * Black (the letterbox, the surround of a photograph) stays exactly black
 * through every photometric change but noise and blur, and each change
 * does change something.
 */
TEST(photometry_keeps_black)
{
	struct fundus_rng gen, rng, r0;
	struct fundus_image *src, *geo, *dst;
	struct fundus_augment a, g;
	int changed[8] = {0}, black = 0;

	fundus_rng_seed(&gen, 16);
	src = new_image(160, 100, &gen);
	geo = new_image(100, 100, NULL);
	dst = new_image(100, 100, NULL);
	CHECK(src && geo && dst);
	/* A black surround inside src as well as the letterbox's. */
	for (int y = 0; y < 100; y++)
		for (int x = 0; x < 160; x++)
			if (hypot(x - 80, y - 50) > 48)
				memset(fundus_image_pixel(src, x, y), 0, 3);
	for (int it = 0; it < 40; it++) {
		for (int op = 0; op < 8; op++) {
			struct fundus__augment_draw d;

			fundus_augment_defaults(&a);
			g = geometry_only(&a);
			a = g;
			switch (op) {
			case 0: a.gamma = 0.5f; break;
			case 1: a.darken_p = 1, a.darken = 0.7f; break;
			case 2: a.bright = 0.3f; break;
			case 3: a.illum = 0.6f; break;
			case 4: a.mix = 0.2f; break;
			case 5: a.desaturate_p = 1; break;
			case 6: a.contrast = 0.3f; break;
			default: /* all of them */
				fundus_augment_defaults(&a);
				a.blur_p = 0;
				a.noise = 0;
			}
			fundus_rng_seed(&r0, 100 * (uint64_t)it + (uint64_t)op);
			rng = r0;
			fundus__augment_draw(&a, &rng, 160, 100, 100, 100, &d);
			rng = r0;
			CHECK_OK(fundus_augment_apply(&g, &rng, src, NULL, NULL, 0, geo, NULL, NULL,
						      &(int){0}));
			rng = r0;
			CHECK_OK(fundus_augment_apply(&a, &rng, src, NULL, NULL, 0, dst, NULL, NULL,
						      &(int){0}));
			for (int y = 0; y < 100; y++) {
				for (int x = 0; x < 100; x++) {
					const uint8_t *p = fundus_image_pixel(dst, x, y);

					if (!samples_black(&d, src, x, y))
						continue;
					black++;
					if (p[0] || p[1] || p[2])
						HARNESS_FAIL(
						    "op %d: black became %d %d %d at %d, %d", op,
						    p[0], p[1], p[2], x, y);
				}
			}
			changed[op] += !tu_same_pixels(geo, dst);
		}
	}
	CHECK_INT_GT(black, 40 * 8 * 1000);
	for (int op = 0; op < 8; op++)
		if (changed[op] < 30)
			HARNESS_FAIL("photometric change %d changed only %d of 40 images", op,
				     changed[op]);
	fundus_image_free(src);
	fundus_image_free(geo);
	fundus_image_free(dst);
}

/* Noise has the deviation drawn, around the level it is added to; blur keeps flat flat. */
TEST(noise_and_blur)
{
	struct fundus_rng rng, r0;
	struct fundus_image *src, *dst;
	struct fundus_augment a;
	int noisy = 0;

	src = new_image(120, 120, NULL);
	dst = new_image(120, 120, NULL);
	CHECK(src && dst);
	memset(src->data, 128, src->stride * 120);
	for (int it = 0; it < 20; it++) {
		struct fundus__augment_draw d;
		double sum = 0, sum2 = 0, n = 120.0 * 120 * 3, mean, sd;

		fundus_augment_none(&a);
		a.noise = 12;
		fundus_rng_seed(&r0, 300 + (uint64_t)it);
		rng = r0;
		fundus__augment_draw(&a, &rng, 120, 120, 120, 120, &d);
		rng = r0;
		CHECK_OK(
		    fundus_augment_apply(&a, &rng, src, NULL, NULL, 0, dst, NULL, NULL, &(int){0}));
		for (int y = 0; y < 120; y++) {
			for (int x = 0; x < 360; x++) {
				double v = dst->data[(size_t)y * dst->stride + x];

				sum += v;
				sum2 += v * v;
			}
		}
		mean = sum / n;
		sd = sqrt(sum2 / n - mean * mean);
		CHECK_NEAR(mean, 128, 0.2);
		/* Rounding to levels adds 1/12 to the variance. */
		CHECK_NEAR(sd, sqrt((double)d.noise * d.noise + 1.0 / 12), 0.03 * d.noise + 0.1);
		noisy += d.noise > 1;
	}
	CHECK_INT_GT(noisy, 10);
	/* A blur of every size leaves a flat image (nothing outside it) flat. */
	for (int it = 0; it < 10; it++) {
		fundus_augment_none(&a);
		a.blur_p = 1;
		a.blur = 8;
		fundus_rng_seed(&rng, 400 + (uint64_t)it);
		CHECK_OK(
		    fundus_augment_apply(&a, &rng, src, NULL, NULL, 0, dst, NULL, NULL, &(int){0}));
		CHECK(tu_same_pixels(src, dst));
	}
	fundus_image_free(src);
	fundus_image_free(dst);
}

/* (6) Bad arguments: FUNDUS_EINVAL with a reason, and nothing written or drawn. */
TEST(bad_arguments)
{
	struct fundus_rng rng, r0;
	struct fundus_image *src, *dst, *gray, view;
	struct fundus_augment a;
	struct fundus_box box = {10, 10, 20, 20}, out = {0, 0, 0, 0};
	int label = 1, out_label = 0, n = 42;
	static const struct {
		size_t off;
		float v;
	} opts[] = {
	    {offsetof(struct fundus_augment, zoom_min), 0},
	    {offsetof(struct fundus_augment, zoom_min), NAN},
	    {offsetof(struct fundus_augment, zoom_max), 0.5f}, /* below zoom_min */
	    {offsetof(struct fundus_augment, translate), -0.1f},
	    {offsetof(struct fundus_augment, rotate), 181},
	    {offsetof(struct fundus_augment, flip_h), 1.5f},
	    {offsetof(struct fundus_augment, min_visible), INFINITY},
	    {offsetof(struct fundus_augment, gamma), -1},
	    {offsetof(struct fundus_augment, darken), 1.1f},
	    {offsetof(struct fundus_augment, illum), 2},
	    {offsetof(struct fundus_augment, mix), 0.5f},
	    {offsetof(struct fundus_augment, contrast), 0.6f},
	    {offsetof(struct fundus_augment, blur), 9},
	    {offsetof(struct fundus_augment, noise), 65},
	};

	fundus_rng_seed(&rng, 17);
	src = new_image(50, 40, &rng);
	dst = new_image(32, 32, &rng);
	CHECK(src && dst);
	CHECK_OK(fundus_image_new(&gray, 32, 32, FUNDUS_PIX_GRAY8));
	fundus_augment_defaults(&a);
	r0 = rng;
#define EINVAL_CASE(expr)                                                                          \
	do {                                                                                       \
		fundus_error_clear();                                                              \
		CHECK_INT_EQ((expr), FUNDUS_EINVAL);                                               \
		CHECK_STR_CONTAINS(fundus_errmsg(), "augment: ");                                  \
		CHECK(memcmp(&rng, &r0, sizeof rng) == 0);                                         \
	} while (0)
	EINVAL_CASE(
	    fundus_augment_apply(NULL, &rng, src, &box, &label, 1, dst, &out, &out_label, &n));
	EINVAL_CASE(
	    fundus_augment_apply(&a, NULL, src, &box, &label, 1, dst, &out, &out_label, &n));
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, NULL, &box, &label, 1, dst, &out, &out_label, &n));
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, &box, &label, 1, NULL, &out, &out_label, &n));
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, &box, &label, 1, dst, &out, &out_label, NULL));
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, &box, &label, 1, gray, &out, &out_label, &n));
	CHECK_STR_CONTAINS(fundus_errmsg(), "gray8");
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, &box, &label, -1, dst, &out, &out_label, &n));
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, NULL, &label, 1, dst, &out, &out_label, &n));
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, &box, &label, 1, dst, NULL, &out_label, &n));
	EINVAL_CASE(fundus_augment_apply(&a, &rng, src, &box, &label, 1, dst, &out, NULL, &n));
	/* Sizes, strides, overlap. */
	view = *dst;
	view.width = 0;
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, &box, &label, 1, &view, &out, &out_label, &n));
	view = *dst;
	view.height = 40000;
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, &box, &label, 1, &view, &out, &out_label, &n));
	view = *dst;
	view.stride = 3 * 32 - 1;
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, &box, &label, 1, &view, &out, &out_label, &n));
	view = *src;
	view.width = 10;
	view.height = 10;
	view.data = src->data + 3 * 20;
	EINVAL_CASE(
	    fundus_augment_apply(&a, &rng, src, &box, &label, 1, &view, &out, &out_label, &n));
	CHECK_STR_CONTAINS(fundus_errmsg(), "overlap");
	/* Boxes. */
	{
		struct fundus_box bads[] = {
		    {20, 10, 10, 20}, {10, 20, 20, 10}, {NAN, 10, 20, 20}, {10, 10, INFINITY, 20}};

		for (size_t k = 0; k < sizeof bads / sizeof bads[0]; k++)
			EINVAL_CASE(fundus_augment_apply(&a, &rng, src, &bads[k], &label, 1, dst,
							 &out, &out_label, &n));
		CHECK_STR_CONTAINS(fundus_errmsg(), "box 0");
	}
	/* Options, one bad field at a time. */
	for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
		struct fundus_augment o;

		fundus_augment_defaults(&o);
		memcpy((char *)&o + opts[k].off, &opts[k].v, sizeof(float));
		EINVAL_CASE(fundus_augment_apply(&o, &rng, src, &box, &label, 1, dst, &out,
						 &out_label, &n));
	}
	/* Nothing was written by any of them. */
	CHECK_INT_EQ(n, 42);
	CHECK_INT_EQ(out_label, 0);
	CHECK(out.x0 == 0 && out.x1 == 0);
	{
		struct fundus_rng again;
		struct fundus_image *orig;

		fundus_rng_seed(&again, 17);
		orig = new_image(50, 40, &again);
		CHECK(orig);
		CHECK(tu_same_pixels(src, orig));
		fundus_image_free(orig);
		orig = new_image(32, 32, &again);
		CHECK(orig);
		CHECK(tu_same_pixels(dst, orig));
		fundus_image_free(orig);
	}
	/* The edges of the ranges are fine, and boxes may be transformed in place. */
	fundus_augment_defaults(&a);
	a.zoom_min = a.zoom_max = 100;
	a.translate = 4;
	a.rotate = 180;
	a.gamma = 10;
	a.bright = 10;
	a.mix = 0.45f;
	a.contrast = 0.5f;
	a.blur_p = 1;
	a.blur = 8;
	a.noise = 64;
	CHECK_OK(fundus_augment_apply(&a, &rng, src, &box, &label, 1, dst, &box, &label, &n));
	a.zoom_min = a.zoom_max = 0.01f;
	CHECK_OK(fundus_augment_apply(&a, &rng, src, NULL, NULL, 0, dst, NULL, NULL, &n));
	CHECK_INT_EQ(n, 0);
	fundus_image_free(src);
	fundus_image_free(dst);
	fundus_image_free(gray);
}

/* (7) A call allocates nothing, so it cannot fail for memory. */
TEST(allocates_nothing)
{
	struct fundus_rng rng;
	struct fundus_image *src, *dst;
	struct fundus_augment a;
	struct fundus_box box = {10, 10, 40, 30}, out;
	int n, rc;

	fundus_rng_seed(&rng, 18);
	src = new_image(80, 60, &rng);
	dst = new_image(64, 64, NULL);
	CHECK(src && dst);
	fundus_augment_defaults(&a);
	a.blur_p = 1;
	fundus_alloc_fail_after(0);
	rc = fundus_augment_apply(&a, &rng, src, &box, NULL, 1, dst, &out, NULL, &n);
	CHECK_INT_EQ(fundus_alloc_count(), 0);
	fundus_alloc_fail_after(-1);
	CHECK_OK(rc);
	fundus_image_free(src);
	fundus_image_free(dst);
}

/* Defaults and none are what the header says. */
/* Dimming: the bright ellipse loses k of its excess over the ring, the rest stays. */
TEST(dimming_takes_the_excess_away)
{
	struct fundus_augment a;
	struct fundus_image *src, *dst;
	struct fundus_box box = {80, 80, 120, 120}, ob;
	int lbl = 0, olbl, n, seen = 0;

	CHECK_OK(fundus_image_new(&src, 200, 200, FUNDUS_PIX_RGB8));
	CHECK_OK(fundus_image_new(&dst, 200, 200, FUNDUS_PIX_RGB8));
	for (int y = 0; y < 200; y++)
		for (int x = 0; x < 200; x++) {
			double u = (x + 0.5 - 100) / 20, v = (y + 0.5 - 100) / 20;
			uint8_t *p = fundus_image_pixel(src, x, y);

			p[0] = p[1] = p[2] = u * u + v * v < 1 ? 200 : 100;
		}
	fundus_augment_none(&a);
	a.dim_p = 1;
	a.dim = 1;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		struct fundus_rng rng, copy;
		struct fundus__augment_draw d;
		int inner = 0, ring = 0;

		fundus_rng_seed(&rng, seed);
		copy = rng;
		fundus__augment_draw(&a, &copy, 200, 200, 200, 200, &d);
		CHECK_OK(fundus_augment_apply(&a, &rng, src, &box, &lbl, 1, dst, &ob, &olbl, &n));
		CHECK_INT_EQ(n, 1);
		inner = fundus_image_pixel(dst, 100, 100)[1];
		ring = fundus_image_pixel(dst, 100, 127)[1];
		/* the inside's mean excess is 100 levels, less its rasterised rim */
		CHECK(fabs(inner - (200 - d.dim * 100)) <= 6);
		CHECK_INT_EQ(ring, 100);
		seen += d.dim > 0.5;
	}
	CHECK_INT_GT(seen, 0);
	/* never with dim_p 0 */
	a.dim_p = 0;
	{
		struct fundus_rng rng;

		fundus_rng_seed(&rng, 3);
		CHECK_OK(fundus_augment_apply(&a, &rng, src, &box, &lbl, 1, dst, &ob, &olbl, &n));
		CHECK_INT_EQ(fundus_image_pixel(dst, 100, 100)[1], 200);
	}
	a.dim = 2;
	{
		struct fundus_rng rng;

		fundus_rng_seed(&rng, 3);
		CHECK_INT_EQ(fundus_augment_apply(&a, &rng, src, &box, &lbl, 1, dst, &ob, &olbl, &n),
			     FUNDUS_EINVAL);
	}
	fundus_image_free(src);
	fundus_image_free(dst);
}

TEST(defaults)
{
	struct fundus_augment a;

	fundus_augment_defaults(&a);
	CHECK_NEAR(a.zoom_min, 0.7, 1e-6);
	CHECK_NEAR(a.zoom_max, 1.4, 1e-6);
	CHECK_NEAR(a.translate, 0.35, 1e-6);
	CHECK_NEAR(a.min_visible, 0.6, 1e-6);
	CHECK_NEAR(a.noise, 3, 1e-6);
	fundus_augment_none(&a);
	CHECK(a.zoom_min == 1 && a.zoom_max == 1 && a.translate == 0 && a.rotate == 0);
	CHECK(a.flip_h == 0 && a.min_visible == 0 && a.gamma == 0 && a.noise == 0);
}

int main(int argc, char **argv)
{
	RUN(boxes_bound_the_pixels);
	RUN(photometry_moves_nothing);
	RUN(deterministic);
	RUN(identity_is_letterbox);
	RUN(boxes_cut_by_the_frame);
	RUN(flips_mirror);
	RUN(photometry_keeps_black);
	RUN(noise_and_blur);
	RUN(bad_arguments);
	RUN(allocates_nothing);
	RUN(dimming_takes_the_excess_away);
	RUN(defaults);
	return harness_done();
}
