/* Unit tests of in-memory image operations: formats, crops, orientation, resampling. */
#include <limits.h>
#include <stdint.h>

#include "fundus/image.h"
#include "harness.h"
#include "image/codec.h"
#include "testutil.h"

/* An rgb8 image whose pixel (x, y) is (x, y, x + y) modulo 256. */
static struct fundus_image *ramp(int w, int h, enum fundus_pixfmt fmt)
{
	struct fundus_image *img, *rgb;

	if (fundus_image_new(&rgb, w, h, FUNDUS_PIX_RGB8) < 0)
		return NULL;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *p = fundus_image_pixel(rgb, x, y);
			p[0] = (uint8_t)x;
			p[1] = (uint8_t)y;
			p[2] = (uint8_t)(x + y);
		}
	if (fmt == FUNDUS_PIX_RGB8)
		return rgb;
	if (fundus_image_convert(rgb, fmt, &img) < 0)
		img = NULL;
	fundus_image_free(rgb);
	return img;
}

TEST(new_rejects_bad_sizes)
{
	struct fundus_image *img = (void *)1;

	CHECK_INT_EQ(fundus_image_new(&img, 0, 5, FUNDUS_PIX_RGB8), FUNDUS_EINVAL);
	CHECK(img == NULL);
	CHECK_INT_EQ(fundus_image_new(&img, 5, 5, FUNDUS_PIX_NONE), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_image_new(&img, INT32_MAX, INT32_MAX, FUNDUS_PIX_RGBA16),
		     FUNDUS_EOVERFLOW);
	fundus_image_free(NULL);
}

TEST(convert_round_trips)
{
	static const enum fundus_pixfmt fmts[] = {
		FUNDUS_PIX_RGB8, FUNDUS_PIX_RGBA8, FUNDUS_PIX_RGB16, FUNDUS_PIX_RGBA16};
	struct fundus_image *src = ramp(40, 30, FUNDUS_PIX_RGB8), *a, *b;

	CHECK(src != NULL);
	/* Colour formats of any depth carry 8-bit colour exactly. */
	for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
		CHECK_OK(fundus_image_convert(src, fmts[i], &a));
		CHECK_OK(fundus_image_convert(a, FUNDUS_PIX_RGB8, &b));
		CHECK(tu_same_pixels(src, b));
		fundus_image_free(a);
		fundus_image_free(b);
	}
	/* Gray: Rec. 601 luma, then back to colour as three equal samples. */
	CHECK_OK(fundus_image_convert(src, FUNDUS_PIX_GRAY8, &a));
	{
		const uint8_t *s = fundus_image_pixel(src, 10, 20), *g = fundus_image_pixel(a, 10, 20);
		CHECK_INT_EQ(g[0], (299 * s[0] + 587 * s[1] + 114 * s[2] + 500) / 1000);
	}
	CHECK_OK(fundus_image_convert(a, FUNDUS_PIX_RGB16, &b));
	CHECK_INT_EQ(((uint16_t *)fundus_image_pixel(b, 10, 20))[2],
		     fundus_image_pixel(a, 10, 20)[0] * 257);
	fundus_image_free(a);
	fundus_image_free(b);
	/* Alpha is opaque when added. */
	CHECK_OK(fundus_image_convert(src, FUNDUS_PIX_GRAYA16, &a));
	CHECK_INT_EQ(((uint16_t *)fundus_image_pixel(a, 3, 3))[1], 65535);
	fundus_image_free(a);
	fundus_image_free(src);
}

TEST(sixteen_to_eight_rounds)
{
	struct fundus_image *a, *b;

	CHECK_OK(fundus_image_new(&a, 3, 1, FUNDUS_PIX_GRAY16));
	((uint16_t *)a->data)[0] = 128;   /* 0.498 -> 0 */
	((uint16_t *)a->data)[1] = 129;   /* 0.502 -> 1 */
	((uint16_t *)a->data)[2] = 65535; /* 255 */
	CHECK_OK(fundus_image_convert(a, FUNDUS_PIX_GRAY8, &b));
	CHECK_INT_EQ(b->data[0], 0);
	CHECK_INT_EQ(b->data[1], 1);
	CHECK_INT_EQ(b->data[2], 255);
	fundus_image_free(a);
	fundus_image_free(b);
}

TEST(crop_checks_bounds)
{
	struct fundus_image *src = ramp(20, 10, FUNDUS_PIX_RGB8), *c;

	CHECK_OK(fundus_image_crop(src, 5, 2, 10, 8, &c));
	CHECK_INT_EQ(c->width, 10);
	CHECK_INT_EQ(fundus_image_pixel(c, 0, 0)[0], 5);
	CHECK_INT_EQ(fundus_image_pixel(c, 9, 7)[1], 9);
	fundus_image_free(c);
	CHECK_INT_EQ(fundus_image_crop(src, 15, 0, 6, 1, &c), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_image_crop(src, -1, 0, 6, 1, &c), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_image_crop(src, 0, 0, 0, 1, &c), FUNDUS_EINVAL);
	fundus_image_free(src);
}

/* Where each orientation puts the stored top-left pixel, in the displayed image. */
TEST(orientations_follow_exif)
{
	struct fundus_image *src = ramp(4, 3, FUNDUS_PIX_RGB8), *o;
	/* Displayed (x, y) of stored (0, 0) for orientations 1..8 on a 4 x 3 image. */
	static const int corner[9][2] = {{0, 0}, {0, 0}, {3, 0}, {3, 2}, {0, 2},
					 {0, 0}, {2, 0}, {2, 3}, {0, 3}};

	for (int k = 1; k <= 8; k++) {
		const uint8_t *p;

		CHECK_OK(fundus_image_orient(src, k, &o));
		CHECK_INT_EQ(o->width, k >= 5 ? 3 : 4);
		CHECK_INT_EQ(o->height, k >= 5 ? 4 : 3);
		p = fundus_image_pixel(o, corner[k][0], corner[k][1]);
		if (p[0] != 0 || p[1] != 0)
			HARNESS_FAIL("orientation %d: stored (0,0) is not at (%d,%d)", k,
				     corner[k][0], corner[k][1]);
		fundus_image_free(o);
	}
	CHECK_INT_EQ(fundus_image_orient(src, 9, &o), FUNDUS_EINVAL);
	fundus_image_free(src);
}

/* A displayed region maps to the stored pixels that orientation puts there. */
TEST(region_to_stored_matches_orient)
{
	struct fundus_image *src = ramp(13, 7, FUNDUS_PIX_RGB8);

	for (int k = 1; k <= 8; k++) {
		struct fundus_image *disp, *dcrop, *scrop, *scrop_or;
		int dw, dh, sx, sy, sw, sh;

		CHECK_OK(fundus_image_orient(src, k, &disp));
		dw = disp->width;
		dh = disp->height;
		CHECK_OK(fundus_image_crop(disp, 1, 2, dw - 3, dh - 4, &dcrop));
		fundus__region_to_stored(k, dw, dh, 1, 2, dw - 3, dh - 4, &sx, &sy, &sw, &sh);
		CHECK_OK(fundus_image_crop(src, sx, sy, sw, sh, &scrop));
		CHECK_OK(fundus_image_orient(scrop, k, &scrop_or));
		if (!tu_same_pixels(dcrop, scrop_or))
			HARNESS_FAIL("orientation %d: region maps to the wrong stored pixels", k);
		fundus_image_free(disp);
		fundus_image_free(dcrop);
		fundus_image_free(scrop);
		fundus_image_free(scrop_or);
	}
	fundus_image_free(src);
}

TEST(shrink_averages_blocks)
{
	struct fundus_image *src, *s;

	CHECK_OK(fundus_image_new(&src, 5, 3, FUNDUS_PIX_GRAY8));
	for (int i = 0; i < 15; i++)
		src->data[(i / 5) * src->stride + i % 5] = (uint8_t)(i * 10);
	CHECK_OK(fundus_image_shrink(src, 2, &s));
	CHECK_INT_EQ(s->width, 3);
	CHECK_INT_EQ(s->height, 2);
	CHECK_INT_EQ(s->data[0], (0 + 10 + 50 + 60 + 2) / 4);   /* 30 */
	CHECK_INT_EQ(s->data[2], (40 + 90 + 1) / 2);            /* partial column: 65 */
	CHECK_INT_EQ(s->data[s->stride + 2], 140);              /* the lone corner */
	fundus_image_free(s);
	/* A factor past the size is one block, the mean of all: (0 + 10 + ... + 140) / 15. */
	CHECK_OK(fundus_image_shrink(src, INT_MAX, &s));
	CHECK_INT_EQ(s->width, 1);
	CHECK_INT_EQ(s->height, 1);
	CHECK_INT_EQ(s->data[0], 70);
	fundus_image_free(s);
	CHECK_INT_EQ(fundus_image_shrink(src, 0, &s), FUNDUS_EINVAL);
	fundus_image_free(src);
}

TEST(resize_area_average_and_bilinear)
{
	struct fundus_image *src, *d;
	double sum_src = 0, sum_dst = 0;

	src = ramp(64, 48, FUNDUS_PIX_RGB16);
	CHECK(src != NULL);
	/* An integer ratio is a plain block mean. */
	CHECK_OK(fundus_image_resize(src, 16, 12, &d));
	CHECK_INT_EQ(((uint16_t *)fundus_image_pixel(d, 0, 0))[0], 386); /* 385.5 rounds up */
	fundus_image_free(d);
	/* A non-integer ratio keeps the mean of a smooth image. */
	CHECK_OK(fundus_image_resize(src, 23, 17, &d));
	for (int y = 0; y < 48; y++)
		for (int x = 0; x < 64; x++)
			sum_src += ((uint16_t *)fundus_image_pixel(src, x, y))[1];
	for (int y = 0; y < 17; y++)
		for (int x = 0; x < 23; x++)
			sum_dst += ((uint16_t *)fundus_image_pixel(d, x, y))[1];
	CHECK_NEAR(sum_dst / (23 * 17), sum_src / (64 * 48), 2.0);
	fundus_image_free(d);
	fundus_image_free(src);
	/* Enlarging a constant image keeps it constant; a ramp stays monotonic. */
	src = ramp(8, 8, FUNDUS_PIX_RGB8);
	CHECK_OK(fundus_image_resize(src, 29, 31, &d));
	for (int x = 1; x < 29; x++)
		CHECK_INT_GE(fundus_image_pixel(d, x, 5)[0], fundus_image_pixel(d, x - 1, 5)[0]);
	CHECK_INT_EQ(fundus_image_pixel(d, 0, 0)[0], 0);
	CHECK_INT_EQ(fundus_image_pixel(d, 28, 0)[0], 7);
	fundus_image_free(d);
	CHECK_INT_EQ(fundus_image_resize(src, 0, 3, &d), FUNDUS_EINVAL);
	fundus_image_free(src);
}

TEST(fit_scale_keeps_min_side)
{
	CHECK_INT_EQ(fundus_image_fit_scale(4288, 2848, 512), 8);
	CHECK_INT_EQ(fundus_image_fit_scale(4288, 2848, 600), 4);
	CHECK_INT_EQ(fundus_image_fit_scale(1500, 1152, 512), 2);
	CHECK_INT_EQ(fundus_image_fit_scale(565, 584, 512), 1);
	CHECK_INT_EQ(fundus_image_fit_scale(100, 100, 1000), 1);
}

TEST(image_ops_survive_allocation_failures)
{
	struct fundus_image *src = ramp(33, 21, FUNDUS_PIX_RGBA8), *d;
	int ok = 0;

	for (long n = 0; n < 100 && !ok; n++) {
		int rc;

		fundus_alloc_fail_after(n);
		rc = fundus_image_resize(src, 17, 9, &d);
		fundus_alloc_fail_after(-1);
		if (rc == 0) {
			ok = 1;
			fundus_image_free(d);
		} else {
			CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
			CHECK(d == NULL);
		}
	}
	CHECK(ok);
	fundus_image_free(src);
}

int main(int argc, char **argv)
{
	RUN(new_rejects_bad_sizes);
	RUN(convert_round_trips);
	RUN(sixteen_to_eight_rounds);
	RUN(crop_checks_bounds);
	RUN(orientations_follow_exif);
	RUN(region_to_stored_matches_orient);
	RUN(shrink_averages_blocks);
	RUN(resize_area_average_and_bilinear);
	RUN(fit_scale_keeps_min_side);
	RUN(image_ops_survive_allocation_failures);
	return harness_done();
}
