/* Unit tests of drawing: shapes, text, overlays, contact sheets and plots. */
#include <limits.h>
#include <stdint.h>

#include "fundus/draw.h"
#include "harness.h"
#include "testutil.h"

static const uint8_t black[3] = {0, 0, 0};
static const uint8_t red[3] = {255, 0, 0};
static const uint8_t green[3] = {0, 255, 0};
static const uint8_t blue[3] = {0, 0, 255};
static const uint8_t white[3] = {255, 255, 255};

/* A new image of one colour; NULL on failure (the caller's CHECK catches it). */
static struct fundus_image *canvas(int w, int h, const uint8_t rgb[3])
{
	struct fundus_image *img;

	if (fundus_image_new(&img, w, h, FUNDUS_PIX_RGB8) < 0)
		return NULL;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			memcpy(fundus_image_pixel(img, x, y), rgb, 3);
	return img;
}

static int is(const struct fundus_image *img, int x, int y, const uint8_t rgb[3])
{
	return memcmp(fundus_image_pixel(img, x, y), rgb, 3) == 0;
}

/* Pixels of colour rgb, and their bounding box [*x0, *x1) x [*y0, *y1) (any may be NULL). */
static long count_colour(const struct fundus_image *img, const uint8_t rgb[3], int *x0, int *y0,
			 int *x1, int *y1)
{
	long n = 0;
	int bx0 = INT_MAX, by0 = INT_MAX, bx1 = INT_MIN, by1 = INT_MIN;

	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width; x++)
			if (is(img, x, y, rgb)) {
				n++;
				bx0 = x < bx0 ? x : bx0;
				by0 = y < by0 ? y : by0;
				bx1 = x + 1 > bx1 ? x + 1 : bx1;
				by1 = y + 1 > by1 ? y + 1 : by1;
			}
	if (x0)
		*x0 = bx0;
	if (y0)
		*y0 = by0;
	if (x1)
		*x1 = bx1;
	if (y1)
		*y1 = by1;
	return n;
}

/* Non-zero when (x, y) lies on the t-wide outline of the pixel rectangle [x0, x1) x [y0, y1). */
static int on_outline(int x, int y, int x0, int y0, int x1, int y1, int t)
{
	if (x < x0 || x >= x1 || y < y0 || y >= y1)
		return 0;
	return x < x0 + t || x >= x1 - t || y < y0 + t || y >= y1 - t;
}

TEST(rect_exact_pixels)
{
	struct fundus_image *img = canvas(20, 15, black);
	struct fundus_box b = {2, 3, 10, 9};
	/* Edges at pixel centres and beyond: pixels whose centres lie inside count. */
	struct fundus_box frac = {2.4, 3.6, 9.5, 8.5};

	CHECK(img != NULL);
	for (int t = 1; t <= 2; t++) {
		memset(img->data, 0, img->stride * (size_t)img->height);
		CHECK_OK(fundus_draw_rect(img, &b, t, red));
		for (int y = 0; y < 15; y++)
			for (int x = 0; x < 20; x++)
				if (is(img, x, y, red) != on_outline(x, y, 2, 3, 10, 9, t))
					HARNESS_FAIL("thickness %d: pixel %d,%d is %s", t, x, y,
						     is(img, x, y, red) ? "drawn" : "not drawn");
	}
	memset(img->data, 0, img->stride * (size_t)img->height);
	CHECK_OK(fundus_draw_rect(img, &frac, 1, red));
	for (int y = 0; y < 15; y++)
		for (int x = 0; x < 20; x++)
			if (is(img, x, y, red) != on_outline(x, y, 2, 4, 9, 8, 1))
				HARNESS_FAIL("fractional box: pixel %d,%d", x, y);
	/* A box thinner than twice the line is filled. */
	memset(img->data, 0, img->stride * (size_t)img->height);
	b = (struct fundus_box){5, 5, 8, 12};
	CHECK_OK(fundus_draw_rect(img, &b, 2, red));
	CHECK_INT_EQ(count_colour(img, red, NULL, NULL, NULL, NULL), 3 * 7);
	fundus_image_free(img);
}

TEST(rect_clipped_and_refused)
{
	struct fundus_image *img = canvas(20, 15, black), *gray;
	struct fundus_box far = {-5, -5, 30, 30}, corner = {-1, -1, 5, 5};
	struct fundus_box huge = {-1e300, -1e300, 1e300, 1e300}, bad = {0, 0, NAN, 4};
	struct fundus_box inverted = {10, 10, 2, 2};
	int x0, y0, x1, y1;

	CHECK(img != NULL);
	/* The outline of a box larger than the image lies outside it entirely. */
	CHECK_OK(fundus_draw_rect(img, &far, 3, red));
	CHECK_INT_EQ(count_colour(img, red, NULL, NULL, NULL, NULL), 0);
	CHECK_OK(fundus_draw_rect(img, &huge, FUNDUS_DRAW_MAX_THICKNESS, red));
	CHECK_INT_EQ(count_colour(img, red, NULL, NULL, NULL, NULL), 0);
	CHECK_OK(fundus_draw_rect(img, &inverted, 1, red));
	CHECK_INT_EQ(count_colour(img, red, NULL, NULL, NULL, NULL), 0);
	/* Pixels -1..4: the outline of width 2 shows as x = 0, y = 0 and x, y = 3..4. */
	CHECK_OK(fundus_draw_rect(img, &corner, 2, red));
	/* Rows 0, 3 and 4 whole (15), and x = 0, 3 and 4 on rows 1 and 2 (6). */
	CHECK_INT_EQ(count_colour(img, red, &x0, &y0, &x1, &y1), 21);
	CHECK_INT_EQ(x0, 0);
	CHECK_INT_EQ(y0, 0);
	CHECK_INT_EQ(x1, 5);
	CHECK_INT_EQ(y1, 5);
	CHECK(!is(img, 1, 1, red) && !is(img, 2, 2, red));
	CHECK_INT_EQ(fundus_draw_rect(img, &bad, 1, red), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_rect(img, &corner, 0, red), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_rect(img, &corner, FUNDUS_DRAW_MAX_THICKNESS + 1, red),
		     FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_rect(img, NULL, 1, red), FUNDUS_EINVAL);
	/* Only RGB8 images; the others are left as they are. */
	CHECK_OK(fundus_image_new(&gray, 8, 8, FUNDUS_PIX_GRAY8));
	CHECK_INT_EQ(fundus_draw_rect(gray, &corner, 1, red), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "rgb8");
	CHECK_INT_EQ(fundus_draw_fill(gray, 0, 0, 8, 8, red, 255), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_line(gray, 0, 0, 8, 8, 1, red), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_text(gray, 0, 0, "x", 1, red, NULL), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_label_box(gray, &corner, "x", red, 0), FUNDUS_EINVAL);
	for (int i = 0; i < 64; i++)
		CHECK_INT_EQ(gray->data[i], 0);
	CHECK_INT_EQ(fundus_draw_rect(NULL, &corner, 1, red), FUNDUS_EINVAL);
	fundus_image_free(gray);
	fundus_image_free(img);
}

TEST(fill_blends_and_clips)
{
	const uint8_t grey[3] = {100, 100, 100};
	struct fundus_image *img = canvas(10, 10, grey);

	CHECK(img != NULL);
	CHECK_OK(fundus_draw_fill(img, 2, 2, 3, 3, white, 128));
	/* (255 * 128 + 100 * 127) / 255, rounded, is 178. */
	CHECK_INT_EQ(fundus_image_pixel(img, 2, 2)[0], 178);
	CHECK_INT_EQ(fundus_image_pixel(img, 4, 4)[2], 178);
	CHECK_INT_EQ(fundus_image_pixel(img, 5, 4)[0], 100);
	CHECK_INT_EQ(fundus_image_pixel(img, 1, 2)[0], 100);
	CHECK_OK(fundus_draw_fill(img, 0, 0, 10, 10, red, 0));
	CHECK_INT_EQ(count_colour(img, red, NULL, NULL, NULL, NULL), 0);
	/* Negative origin and a width to the end of int: clipped, no overflow. */
	CHECK_OK(fundus_draw_fill(img, -10, 7, INT_MAX, INT_MAX, red, 255));
	CHECK_INT_EQ(count_colour(img, red, NULL, NULL, NULL, NULL), 30);
	CHECK_OK(fundus_draw_fill(img, INT_MAX, INT_MAX, INT_MAX, INT_MAX, blue, 255));
	CHECK_OK(fundus_draw_fill(img, INT_MIN, INT_MIN, 5, 5, blue, 255));
	CHECK_OK(fundus_draw_fill(img, 0, 0, -3, 4, blue, 255));
	CHECK_INT_EQ(count_colour(img, blue, NULL, NULL, NULL, NULL), 0);
	CHECK_INT_EQ(fundus_draw_fill(img, 0, 0, 1, 1, red, 256), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_fill(img, 0, 0, 1, 1, red, -1), FUNDUS_EINVAL);
	fundus_image_free(img);
}

TEST(line_pixels_any_direction)
{
	struct fundus_image *img = canvas(20, 20, black);
	int x0, y0, x1, y1;

	CHECK(img != NULL);
	CHECK_OK(fundus_draw_line(img, 2, 5, 12, 5, 1, red));
	CHECK_INT_EQ(count_colour(img, red, &x0, &y0, &x1, &y1), 11);
	CHECK(x0 == 2 && x1 == 13 && y0 == 5 && y1 == 6);
	/* The same pixels drawn backwards. */
	CHECK_OK(fundus_draw_line(img, 12, 5, 2, 5, 1, blue));
	CHECK_INT_EQ(count_colour(img, blue, NULL, NULL, NULL, NULL), 11);
	memset(img->data, 0, img->stride * 20);
	CHECK_OK(fundus_draw_line(img, 9, 9, 0, 0, 1, red));
	CHECK_INT_EQ(count_colour(img, red, NULL, NULL, NULL, NULL), 10);
	for (int i = 0; i < 10; i++)
		CHECK(is(img, i, i, red));
	/* Steep, both ends included, one pixel a row. */
	memset(img->data, 0, img->stride * 20);
	CHECK_OK(fundus_draw_line(img, 3, 1, 6, 16, 1, red));
	CHECK_INT_EQ(count_colour(img, red, &x0, &y0, &x1, &y1), 16);
	CHECK(is(img, 3, 1, red) && is(img, 6, 16, red));
	/* Three wide: rows 4 to 6. */
	memset(img->data, 0, img->stride * 20);
	CHECK_OK(fundus_draw_line(img, 2, 5, 12, 5, 3, red));
	CHECK_INT_EQ(count_colour(img, red, &x0, &y0, &x1, &y1), 13 * 3);
	CHECK(x0 == 1 && x1 == 14 && y0 == 4 && y1 == 7);
	/* Two wide: the pen's extra pixel goes right and down. */
	memset(img->data, 0, img->stride * 20);
	CHECK_OK(fundus_draw_line(img, 2, 5, 2, 12, 2, red));
	CHECK_INT_EQ(count_colour(img, red, &x0, &y0, &x1, &y1), 9 * 2);
	CHECK(x0 == 2 && x1 == 4 && y0 == 5 && y1 == 14);
	/* From end to end of int through the image: clipped, its direction kept. */
	memset(img->data, 0, img->stride * 20);
	CHECK_OK(fundus_draw_line(img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, 1, red));
	for (int i = 0; i < 20; i++)
		CHECK(is(img, i, i, red));
	CHECK_INT_EQ(count_colour(img, red, NULL, NULL, NULL, NULL), 20);
	memset(img->data, 0, img->stride * 20);
	CHECK_OK(fundus_draw_line(img, -100, 30, 100, 25, 5, red));
	CHECK_OK(fundus_draw_line(img, INT_MIN, -1, INT_MAX, -1, 1, red));
	CHECK_INT_EQ(count_colour(img, red, NULL, NULL, NULL, NULL), 0);
	CHECK_INT_EQ(fundus_draw_line(img, 0, 0, 1, 1, 0, red), FUNDUS_EINVAL);
	fundus_image_free(img);
}

TEST(text_size)
{
	int w = -1, h = -1;

	CHECK_OK(fundus_draw_text_size("Ab", 2, &w, &h));
	CHECK_INT_EQ(w, 2 * FUNDUS_DRAW_FONT_W * 2);
	CHECK_INT_EQ(h, FUNDUS_DRAW_FONT_H * 2);
	CHECK_OK(fundus_draw_text_size("a\nbcd\n", 1, &w, &h));
	CHECK_INT_EQ(w, 3 * FUNDUS_DRAW_FONT_W);
	CHECK_INT_EQ(h, 3 * FUNDUS_DRAW_FONT_H);
	CHECK_OK(fundus_draw_text_size("", 3, &w, &h));
	CHECK_INT_EQ(w, 0);
	CHECK_INT_EQ(h, 3 * FUNDUS_DRAW_FONT_H);
	CHECK_INT_EQ(fundus_draw_text_size("x", 0, &w, &h), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_text_size("x", FUNDUS_DRAW_MAX_SCALE + 1, &w, &h), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_text_size(NULL, 1, &w, &h), FUNDUS_EINVAL);
}

TEST(text_stays_in_its_box)
{
	struct fundus_image *img = canvas(120, 80, black);
	const char *s = "Hg|_\n0.97";
	int w, h, x0, y0, x1, y1;

	CHECK(img != NULL);
	/* One line: from the first column, a blank row on top, the descender to the last row. */
	CHECK_OK(fundus_draw_text_size("Hg|_", 3, &w, &h));
	CHECK_OK(fundus_draw_text(img, 5, 7, "Hg|_", 3, white, NULL));
	CHECK_INT_GT(count_colour(img, white, &x0, &y0, &x1, &y1), 50);
	CHECK_INT_EQ(x0, 5);
	CHECK_INT_EQ(y0, 7 + 3);
	CHECK_INT_EQ(x1, 5 + w - 3);
	CHECK_INT_EQ(y1, 7 + h);
	/* Two lines. */
	memset(img->data, 0, img->stride * 80);
	CHECK_OK(fundus_draw_text_size(s, 3, &w, &h));
	CHECK_OK(fundus_draw_text(img, 5, 7, s, 3, white, NULL));
	CHECK_INT_GT(count_colour(img, white, &x0, &y0, &x1, &y1), 50);
	CHECK_INT_GE(x0, 5);
	CHECK_INT_GE(y0, 7);
	CHECK_INT_LE(x1, 5 + w);
	CHECK_INT_LE(y1, 7 + h);
	CHECK_INT_GT(y1, 7 + h / 2 + 15); /* the second line is there */
	/* With a background, exactly the box changes. */
	memset(img->data, 0, img->stride * 80);
	CHECK_OK(fundus_draw_text(img, 5, 7, s, 3, white, blue));
	CHECK_INT_EQ(count_colour(img, black, NULL, NULL, NULL, NULL), 120 * 80 - (long)w * h);
	CHECK_INT_GT(count_colour(img, white, NULL, NULL, NULL, NULL), 50);
	/* Off the image on every side: clipped, no crash. */
	CHECK_OK(fundus_draw_text(img, -20, -5, "clipped text", 4, red, green));
	CHECK_OK(fundus_draw_text(img, INT_MAX - 5, INT_MIN + 5, "far", 64, red, green));
	CHECK_OK(fundus_draw_text(img, INT_MIN, 10, "far away", 64, red, green));
	CHECK_INT_GT(count_colour(img, red, NULL, NULL, NULL, NULL), 0);
	fundus_image_free(img);
}

/* The pixels one character draws at scale 1, as a 60-bit pattern in *bits. */
static int glyph_bits(char c, uint64_t *bits)
{
	struct fundus_image *img = canvas(FUNDUS_DRAW_FONT_W, FUNDUS_DRAW_FONT_H, black);
	char s[2] = {c, 0};
	int n = 0;

	*bits = 0;
	if (!img || fundus_draw_text(img, 0, 0, s, 1, white, NULL) < 0) {
		fundus_image_free(img);
		return -1;
	}
	for (int y = 0; y < FUNDUS_DRAW_FONT_H; y++)
		for (int x = 0; x < FUNDUS_DRAW_FONT_W; x++, n++)
			if (is(img, x, y, white))
				*bits |= UINT64_C(1) << n;
	fundus_image_free(img);
	return 0;
}

TEST(font_glyphs_distinct)
{
	uint64_t bits[95], q, hi;

	for (int c = 32; c <= 126; c++) {
		CHECK_INT_EQ(glyph_bits((char)c, &bits[c - 32]), 0);
		/* The blank top row and right column stay blank. */
		CHECK((bits[c - 32] & UINT64_C(0x3f)) == 0);
		for (int y = 0; y < FUNDUS_DRAW_FONT_H; y++)
			CHECK((bits[c - 32] >> (y * 6 + 5) & 1) == 0);
		if (c != ' ')
			CHECK(bits[c - 32] != 0);
	}
	CHECK(bits[0] == 0);
	for (int a = 0; a < 95; a++)
		for (int b = a + 1; b < 95; b++)
			if (bits[a] == bits[b])
				HARNESS_FAIL("'%c' and '%c' look the same", a + 32, b + 32);
	/* Bytes outside printable ASCII are drawn as '?'. */
	CHECK_INT_EQ(glyph_bits((char)0xc3, &hi), 0);
	CHECK_INT_EQ(glyph_bits('\t', &q), 0);
	CHECK(hi == bits['?' - 32]);
	CHECK(q == bits['?' - 32]);
}

TEST(label_box_tag_placement)
{
	struct fundus_image *img = canvas(256, 256, black);
	struct fundus_box b = {100, 100, 150, 150}, top = {20, 0, 80, 40};
	struct fundus_box right = {230, 100, 250, 150}, out = {300, 300, 400, 400};
	int scale, thick, tw, th, x0, y0, x1, y1;
	uint8_t c[3];

	CHECK(img != NULL);
	fundus_draw_auto_size(256, 256, &scale, &thick);
	CHECK_INT_EQ(scale, 1);
	CHECK_INT_EQ(thick, 1);
	fundus_draw_palette(0, c);
	CHECK_OK(fundus_draw_text_size("disc 0.97", 1, &tw, &th));
	CHECK_OK(fundus_draw_label_box(img, &b, "disc 0.97", c, 0));
	/* The tag sits on the box: its colour spans from the tag's top to the box's bottom. */
	CHECK_INT_GT(count_colour(img, c, &x0, &y0, &x1, &y1), 200);
	CHECK_INT_EQ(x0, 100);
	CHECK_INT_EQ(y0, 100 - th);
	CHECK_INT_EQ(x1, 100 + tw + 1 > 150 ? 100 + tw + 1 : 150);
	CHECK_INT_EQ(y1, 150);
	/* Black text on the green tag, inside it. */
	CHECK_INT_GT(count_colour(img, black, NULL, NULL, NULL, NULL), 0);
	for (int y = 0; y < 256; y++)
		for (int x = 0; x < 256; x++)
			if (!is(img, x, y, black) && !is(img, x, y, c))
				HARNESS_FAIL("pixel %d,%d is neither", x, y);
	CHECK(is(img, 110, 101, black) && is(img, 100, 120, c));

	/* No room above: inside the top of the box. */
	memset(img->data, 0, img->stride * 256);
	CHECK_OK(fundus_draw_label_box(img, &top, "disc", c, 0));
	CHECK_INT_GT(count_colour(img, c, &x0, &y0, &x1, &y1), 100);
	CHECK_INT_EQ(y0, 0);
	CHECK_INT_EQ(y1, 40);
	CHECK(is(img, 21, 3, c)); /* filled tag inside: row 3 is inside it, not on the outline */

	/* At the right border the tag moves left to stay whole. */
	memset(img->data, 0, img->stride * 256);
	CHECK_OK(fundus_draw_label_box(img, &right, "disc 0.97", c, 2));
	CHECK_OK(fundus_draw_text_size("disc 0.97", 2, &tw, &th));
	CHECK_INT_GT(count_colour(img, c, &x0, &y0, &x1, &y1), 100);
	CHECK_INT_EQ(x1, 256);
	CHECK_INT_EQ(x0, 256 - tw - 2);
	CHECK_INT_EQ(y0, 100 - th);

	/* A box outside the image draws nothing, not even a tag at the border. */
	memset(img->data, 0, img->stride * 256);
	CHECK_OK(fundus_draw_label_box(img, &out, "disc", c, 0));
	CHECK_INT_EQ(count_colour(img, black, NULL, NULL, NULL, NULL), 256 * 256);
	CHECK_OK(fundus_draw_label_box(img, &b, NULL, c, 0));
	CHECK_INT_EQ(fundus_draw_label_box(img, &b, "x", c, -1), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_label_box(img, &b, "x", c, FUNDUS_DRAW_MAX_SCALE + 1),
		     FUNDUS_EINVAL);
	fundus_image_free(img);
}

TEST(auto_size_and_palette)
{
	int s, t;
	uint8_t a[3], b[3];

	fundus_draw_auto_size(4288, 2848, &s, &t);
	CHECK_INT_EQ(s, 6);
	CHECK_INT_EQ(t, 9);
	fundus_draw_auto_size(0, -5, &s, &t);
	CHECK_INT_EQ(s, 1);
	CHECK_INT_EQ(t, 1);
	fundus_draw_auto_size(INT_MAX, INT_MAX, &s, &t);
	CHECK_INT_EQ(s, FUNDUS_DRAW_MAX_SCALE);
	CHECK_INT_EQ(t, FUNDUS_DRAW_MAX_THICKNESS);
	fundus_draw_auto_size(1000, 1000, NULL, NULL);
	for (int i = 0; i < FUNDUS_DRAW_PALETTE_SIZE; i++)
		for (int j = i + 1; j < FUNDUS_DRAW_PALETTE_SIZE; j++) {
			fundus_draw_palette(i, a);
			fundus_draw_palette(j, b);
			/* Distinguishable: apart by 100 levels in some channel at least. */
			if (abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) < 100)
				HARNESS_FAIL("palette colours %d and %d are too alike", i, j);
		}
	fundus_draw_palette(FUNDUS_DRAW_PALETTE_SIZE, a);
	fundus_draw_palette(0, b);
	CHECK(memcmp(a, b, 3) == 0);
	fundus_draw_palette(-1, a);
	fundus_draw_palette(FUNDUS_DRAW_PALETTE_SIZE - 1, b);
	CHECK(memcmp(a, b, 3) == 0);
	fundus_draw_palette(INT_MIN, a);
}

/* Checks that ticks are exactly want[0..n-1] (to 1e-12 relative). */
#define CHECK_TICKS(lo, hi, log, max, ...)                                                         \
	do {                                                                                       \
		const double want_[] = {__VA_ARGS__};                                              \
		int nw_ = (int)(sizeof want_ / sizeof want_[0]);                                   \
		double got_[32];                                                                   \
		int n_ = fundus_plot_ticks(lo, hi, log, max, got_, 32);                            \
		CHECK_INT_EQ(n_, nw_);                                                             \
		for (int i_ = 0; i_ < nw_; i_++)                                                   \
			CHECK_NEAR(got_[i_], want_[i_], 1e-12 * fmax(1, fabs(want_[i_])));         \
	} while (0)

TEST(plot_ticks_nice)
{
	double t[4];

	CHECK_TICKS(0, 1, 0, 6, 0, 0.2, 0.4, 0.6, 0.8, 1);
	CHECK_TICKS(0, 1, 0, 11, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1);
	CHECK_TICKS(0, 47, 0, 6, 0, 10, 20, 30, 40);
	CHECK_TICKS(1, 40, 0, 9, 5, 10, 15, 20, 25, 30, 35, 40);
	CHECK_TICKS(-1, 1, 0, 5, -1, -0.5, 0, 0.5, 1);
	CHECK_TICKS(0.013, 0.0172, 0, 5, 0.013, 0.014, 0.015, 0.016, 0.017);
	CHECK_TICKS(0.01, 10, 1, 6, 0.01, 0.1, 1, 10);
	CHECK_TICKS(1, 1e12, 1, 5, 1, 1e3, 1e6, 1e9, 1e12);
	CHECK_TICKS(0.15, 0.9, 1, 6, 0.2, 0.5);
	CHECK_TICKS(3, 30, 1, 6, 5, 10, 20);
	/* Zero is exactly zero, not 1e-17 from adding steps. */
	CHECK_INT_EQ(fundus_plot_ticks(-0.3, 0.3, 0, 7, NULL, 0), 7);
	{
		double z[7];

		CHECK_INT_EQ(fundus_plot_ticks(-0.3, 0.3, 0, 7, z, 7), 7);
		CHECK(z[3] == 0.0);
	}
	/* More ticks than room: the count, and cap of them written. */
	CHECK_INT_EQ(fundus_plot_ticks(0, 1, 0, 11, t, 4), 11);
	CHECK_NEAR(t[3], 0.3, 1e-12);
	CHECK_INT_EQ(fundus_plot_ticks(1, 1, 0, 5, t, 4), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_ticks(2, 1, 0, 5, t, 4), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_ticks(NAN, 1, 0, 5, t, 4), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_ticks(0, INFINITY, 0, 5, t, 4), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_ticks(0, 1, 1, 5, t, 4), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_ticks(0, 1, 0, 1, t, 4), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_ticks(0, 1, 0, 5, NULL, 4), FUNDUS_EINVAL);
	/* Extreme but finite ranges end. */
	CHECK_INT_GT(fundus_plot_ticks(-1e300, 1e300, 0, 10, t, 4), 1);
	CHECK_INT_GT(fundus_plot_ticks(1e-300, 1e300, 1, 10, t, 4), 1);
	CHECK_INT_GT(fundus_plot_ticks(1, 1 + 1e-12, 0, 10, t, 4), 1);
}

/* Centre of the pixels of colour rgb, or -1, -1. */
static void centroid(const struct fundus_image *img, const uint8_t rgb[3], double *cx, double *cy)
{
	double sx = 0, sy = 0;
	long n = 0;

	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width; x++)
			if (is(img, x, y, rgb)) {
				sx += x;
				sy += y;
				n++;
			}
	*cx = n ? sx / n : -1;
	*cy = n ? sy / n : -1;
}

/*
 * Finds the plot area from a series drawn corner to corner past both ends
 * of the axes (so that only its line shows, clipped to the area): the x of
 * the first and last column, the y of the bottom and top row.
 */
static void plot_area(const struct fundus_image *img, const uint8_t rgb[3], int *left, int *right,
		      int *bottom, int *top)
{
	int x0, y0, x1, y1;

	count_colour(img, rgb, &x0, &y0, &x1, &y1);
	*left = x0;
	*right = x1 - 1;
	*bottom = y1 - 1;
	*top = y0;
}

TEST(plot_points_where_expected)
{
	struct fundus_plot *p;
	struct fundus_image *img;
	const uint8_t magenta[3] = {255, 0, 255};
	const double dx[2] = {-1, 11}, dy[2] = {-1, 11}, px[1] = {2}, py[1] = {8};
	const double rx[1] = {5}, ry[1] = {25}, lx[1] = {8}, ly[1] = {10};
	const double high_x[2] = {3, 7}, high_y[2] = {5, 1000};
	int left, right, bottom, top, x0, y0, x1, y1;
	double cx, cy;

	CHECK_OK(fundus_plot_new(&p, "where", "x"));
	CHECK_OK(fundus_plot_axis(p, FUNDUS_PLOT_X, "x", 0, 0, 10));
	CHECK_OK(fundus_plot_axis(p, FUNDUS_PLOT_LEFT, "left", 0, 0, 10));
	CHECK_OK(fundus_plot_axis(p, FUNDUS_PLOT_RIGHT, "right", 0, 0, 100));
	CHECK_OK(fundus_plot_series(p, NULL, FUNDUS_PLOT_LEFT, blue, dx, dy, 2));
	CHECK_OK(fundus_plot_series(p, NULL, FUNDUS_PLOT_LEFT, red, px, py, 1));
	CHECK_OK(fundus_plot_series(p, NULL, FUNDUS_PLOT_RIGHT, green, rx, ry, 1));
	CHECK_OK(fundus_plot_series(p, NULL, FUNDUS_PLOT_LEFT, magenta, high_x, high_y, 2));
	CHECK_OK(fundus_plot_render(p, 500, 400, &img));
	CHECK_INT_EQ(img->width, 500);
	CHECK_INT_EQ(img->height, 400);
	CHECK_INT_EQ(img->format, FUNDUS_PIX_RGB8);
	plot_area(img, blue, &left, &right, &bottom, &top);
	CHECK_INT_GT(right - left, 300);
	CHECK_INT_GT(bottom - top, 200);
	/* The red dot at (2, 8). */
	centroid(img, red, &cx, &cy);
	CHECK_NEAR(cx, left + 0.2 * (right - left), 1);
	CHECK_NEAR(cy, bottom - 0.8 * (bottom - top), 1);
	/* Green on the right axis: 25 of 100 is a quarter of the way up. */
	centroid(img, green, &cx, &cy);
	CHECK_NEAR(cx, left + 0.5 * (right - left), 1);
	CHECK_NEAR(cy, bottom - 0.25 * (bottom - top), 1);
	/* A line that leaves the range is cut at the area's edge, not drawn over the frame. */
	CHECK_INT_GT(count_colour(img, magenta, &x0, &y0, &x1, &y1), 20);
	CHECK_INT_EQ(y0, top);
	CHECK_INT_LT(x1, left + 0.5 * (right - left));
	fundus_image_free(img);
	fundus_plot_free(p);

	/* A log axis: 10 is half-way from 1 to 100. */
	CHECK_OK(fundus_plot_new(&p, NULL, NULL));
	CHECK_OK(fundus_plot_axis(p, FUNDUS_PLOT_X, NULL, 0, 0, 10));
	CHECK_OK(fundus_plot_axis(p, FUNDUS_PLOT_LEFT, NULL, 1, 1, 100));
	{
		const double ddx[2] = {-1, 11}, ddy[2] = {pow(10, -0.2), pow(10, 2.2)};

		CHECK_OK(fundus_plot_series(p, NULL, FUNDUS_PLOT_LEFT, blue, ddx, ddy, 2));
	}
	CHECK_OK(fundus_plot_series(p, NULL, FUNDUS_PLOT_LEFT, red, lx, ly, 1));
	CHECK_OK(fundus_plot_render(p, 400, 300, &img));
	plot_area(img, blue, &left, &right, &bottom, &top);
	CHECK_INT_GT(right - left, 200);
	centroid(img, red, &cx, &cy);
	CHECK_NEAR(cx, left + 0.8 * (right - left), 1);
	CHECK_NEAR(cy, (bottom + top) / 2.0, 1);
	fundus_image_free(img);
	fundus_plot_free(p);
}

TEST(plot_gaps_and_ranges)
{
	struct fundus_plot *p;
	struct fundus_image *img;
	const double x[5] = {0, 1, 2, 3, 4}, y[5] = {5, 5, NAN, 5, 5};
	const double ly[5] = {1, 0, -1, 10, 100};
	int x0, y0, x1, y1;

	CHECK_OK(fundus_plot_new(&p, "gaps", "x"));
	CHECK_OK(fundus_plot_series(p, NULL, FUNDUS_PLOT_LEFT, red, x, y, 5));
	CHECK_OK(fundus_plot_render(p, 400, 300, &img));
	/* One horizontal line with a hole in the middle third. */
	CHECK_INT_GT(count_colour(img, red, &x0, &y0, &x1, &y1), 20);
	CHECK_INT_LT(y1 - y0, 10);
	CHECK(!is(img, (x0 + x1) / 2, (y0 + y1) / 2, red));
	CHECK(is(img, x0 + (x1 - x0) / 8, (y0 + y1) / 2, red));
	CHECK(is(img, x1 - (x1 - x0) / 8, (y0 + y1) / 2, red));
	fundus_image_free(img);
	fundus_plot_free(p);

	/* On a log axis, values at or below 0 are gaps, not errors. */
	CHECK_OK(fundus_plot_new(&p, NULL, NULL));
	CHECK_OK(fundus_plot_axis(p, FUNDUS_PLOT_LEFT, "loss", 1, NAN, NAN));
	CHECK_OK(fundus_plot_series(p, "loss", FUNDUS_PLOT_LEFT, red, x, ly, 5));
	CHECK_OK(fundus_plot_render(p, 300, 200, &img));
	fundus_image_free(img);
	/* Empty series and a plot of nothing render their frame. */
	CHECK_OK(fundus_plot_series(p, "empty", FUNDUS_PLOT_RIGHT, NULL, NULL, NULL, 0));
	CHECK_OK(fundus_plot_render(p, FUNDUS_PLOT_MIN_SIZE, FUNDUS_PLOT_MIN_SIZE, &img));
	fundus_image_free(img);
	fundus_plot_free(p);
	CHECK_OK(fundus_plot_new(&p, "nothing", NULL));
	CHECK_OK(fundus_plot_render(p, 300, 200, &img));
	CHECK_INT_LT(count_colour(img, white, NULL, NULL, NULL, NULL), 300 * 200);
	fundus_image_free(img);
	/* One value only, and huge values: a range is made up around them. */
	{
		const double one_x[1] = {3}, one_y[1] = {0.5}, big_x[2] = {2, 4};
		const double big[2] = {-1e308, 1e308};

		CHECK_OK(fundus_plot_series(p, "one", FUNDUS_PLOT_LEFT, red, one_x, one_y, 1));
		CHECK_OK(fundus_plot_series(p, "big", FUNDUS_PLOT_RIGHT, blue, big_x, big, 2));
		CHECK_OK(fundus_plot_render(p, 300, 200, &img));
		CHECK_INT_GT(count_colour(img, red, NULL, NULL, NULL, NULL), 0);
		fundus_image_free(img);
	}
	fundus_plot_free(p);
}

TEST(plot_errors)
{
	struct fundus_plot *p;
	struct fundus_image *img = NULL;
	double v[2] = {1, 2};

	CHECK_OK(fundus_plot_new(&p, NULL, NULL));
	CHECK_INT_EQ(fundus_plot_render(p, FUNDUS_PLOT_MIN_SIZE - 1, 300, &img), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_render(p, 300, -1, &img), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_render(p, FUNDUS_PLOT_MAX_SIZE + 1, 300, &img), FUNDUS_ELIMIT);
	CHECK_INT_EQ(fundus_plot_render(p, 300, INT_MAX, &img), FUNDUS_ELIMIT);
	CHECK(img == NULL);
	CHECK_INT_EQ(fundus_plot_series(p, "x", FUNDUS_PLOT_X, NULL, v, v, 2), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_series(p, "x", FUNDUS_PLOT_LEFT, NULL, NULL, v, 2), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_series(p, "x", FUNDUS_PLOT_LEFT, NULL, v, v, -1), FUNDUS_EINVAL);
	CHECK_INT_EQ(
	    fundus_plot_series(p, "x", FUNDUS_PLOT_LEFT, NULL, v, v, FUNDUS_PLOT_MAX_POINTS + 1),
	    FUNDUS_ELIMIT);
	for (int i = 0; i < FUNDUS_PLOT_MAX_SERIES; i++)
		CHECK_OK(fundus_plot_series(p, "s", FUNDUS_PLOT_LEFT, NULL, v, v, 2));
	CHECK_INT_EQ(fundus_plot_series(p, "s", FUNDUS_PLOT_LEFT, NULL, v, v, 2), FUNDUS_ELIMIT);
	CHECK_INT_EQ(fundus_plot_axis(p, (enum fundus_plot_axis)3, NULL, 0, NAN, NAN),
		     FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_axis(p, FUNDUS_PLOT_X, NULL, 1, NAN, NAN), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_axis(p, FUNDUS_PLOT_LEFT, NULL, 0, 2, 1), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_axis(p, FUNDUS_PLOT_LEFT, NULL, 0, 1, 1), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_axis(p, FUNDUS_PLOT_LEFT, NULL, 0, -INFINITY, 1), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_axis(p, FUNDUS_PLOT_LEFT, NULL, 1, 0, 1), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_plot_axis(p, FUNDUS_PLOT_LEFT, NULL, 1, NAN, -1), FUNDUS_EINVAL);
	/* A given end on the wrong side of all the data still renders. */
	CHECK_OK(fundus_plot_axis(p, FUNDUS_PLOT_LEFT, NULL, 0, 5, NAN));
	CHECK_OK(fundus_plot_axis(p, FUNDUS_PLOT_X, NULL, 0, NAN, -3));
	CHECK_OK(fundus_plot_render(p, 300, 200, &img));
	fundus_image_free(img);
	fundus_plot_free(p);
	fundus_plot_free(NULL);
	CHECK_INT_EQ(fundus_plot_render(NULL, 300, 300, &img), FUNDUS_EINVAL);
}

/* A plot made and rendered from nothing; the code of the first failure. */
static int plot_once(void)
{
	struct fundus_plot *p = NULL;
	struct fundus_image *img = NULL;
	const double x[4] = {1, 2, 3, 4}, loss[4] = {2, 1, 0.5, 0.3}, map[4] = {0, 0.4, 0.6, NAN};
	int rc;

	rc = fundus_plot_new(&p, "title", "epoch");
	if (rc == 0)
		rc = fundus_plot_axis(p, FUNDUS_PLOT_LEFT, "loss", 1, NAN, NAN);
	if (rc == 0)
		rc = fundus_plot_axis(p, FUNDUS_PLOT_RIGHT, "mAP", 0, 0, 1);
	if (rc == 0)
		rc = fundus_plot_series(p, "loss", FUNDUS_PLOT_LEFT, NULL, x, loss, 4);
	if (rc == 0)
		rc = fundus_plot_series(p, "mAP", FUNDUS_PLOT_RIGHT, NULL, x, map, 4);
	if (rc == 0)
		rc = fundus_plot_render(p, 320, 240, &img);
	fundus_image_free(img);
	fundus_plot_free(p);
	return rc;
}

/* A contact sheet of a gray and a colour tile, one-shot and incremental. */
static int sheet_once(void)
{
	struct fundus_image *a = NULL, *b = NULL, *out = NULL;
	struct fundus_sheet *sh = NULL;
	const char *caps[2] = {"a", "b"};
	int rc = fundus_image_new(&a, 40, 20, FUNDUS_PIX_GRAY8);

	if (rc == 0)
		rc = fundus_image_new(&b, 16, 16, FUNDUS_PIX_RGB8);
	if (rc == 0) {
		const struct fundus_image *tiles[2] = {a, b};

		rc = fundus_draw_sheet(tiles, caps, 2, 2, 32, &out);
	}
	if (rc == 0)
		rc = fundus_draw_sheet_new(&sh, 2, 1, 32, 20, 1);
	if (rc == 0)
		rc = fundus_draw_sheet_put(sh, 1, a, "caption", NULL);
	fundus_draw_sheet_free(sh);
	fundus_image_free(out);
	fundus_image_free(a);
	fundus_image_free(b);
	return rc;
}

TEST(alloc_failure_sweep)
{
	int (*what[2])(void) = {plot_once, sheet_once};

	for (int k = 0; k < 2; k++) {
		long n;

		for (n = 0; n < 1000; n++) {
			int rc;

			fundus_alloc_fail_after(n);
			rc = what[k]();
			fundus_alloc_fail_after(-1);
			if (rc == 0)
				break;
			CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
		}
		CHECK_INT_GT(n, 3);
		CHECK_INT_LT(n, 1000);
	}
}

TEST(sheet_layout)
{
	struct fundus_image *wide = canvas(40, 20, red), *tall = canvas(20, 40, green), *out;
	struct fundus_image *gray;
	struct fundus_sheet *sh;
	struct fundus_box placed;
	const char *caps[3] = {"wide", "a caption far too long for a thumbnail of 32 pixels", "x"};
	const uint8_t caption_fg[3] = {225, 225, 225};
	int x0, y0, x1, y1;

	CHECK(wide && tall);
	{
		const struct fundus_image *tiles[3] = {wide, tall, NULL};

		CHECK_OK(fundus_draw_sheet(tiles, caps, 3, 2, 32, &out));
	}
	/* Each tile fitted into 32 x 32, its aspect ratio kept. */
	CHECK_INT_EQ(count_colour(out, red, &x0, &y0, &x1, &y1), 32 * 16);
	CHECK_INT_EQ(x1 - x0, 32);
	CHECK_INT_EQ(y1 - y0, 16);
	CHECK_INT_EQ(count_colour(out, green, &x0, &y0, &x1, &y1), 16 * 32);
	CHECK_INT_EQ(x1 - x0, 16);
	/* Captions under the tiles, the long one cut to its cell. */
	CHECK_INT_GT(count_colour(out, caption_fg, &x0, &y0, &x1, &y1), 20);
	CHECK_INT_GE(y0, 32);
	CHECK_INT_LE(x1, out->width - 2); /* the right margin is 2 pixels at least */
	CHECK_INT_LE(out->width, 2 * 32 + 3 * 8);
	fundus_image_free(out);

	/* Incremental: where a tile lands, and a gray tile in colour. */
	CHECK_OK(fundus_draw_sheet_new(&sh, 4, 3, 64, 48, 0));
	CHECK_OK(fundus_draw_sheet_put(sh, 4 - 1, wide, "no caption line", &placed));
	CHECK_NEAR(placed.x1 - placed.x0, 64, 0);
	CHECK_NEAR(placed.y1 - placed.y0, 32, 0);
	CHECK(is(fundus_draw_sheet_image(sh), (int)placed.x0, (int)placed.y0, red));
	CHECK(is(fundus_draw_sheet_image(sh), (int)placed.x1 - 1, (int)placed.y1 - 1, red));
	CHECK(!is(fundus_draw_sheet_image(sh), (int)placed.x1, (int)placed.y1 - 1, red));
	CHECK_INT_GT(placed.y0, 48); /* cell 3 is on the second row */
	CHECK_OK(fundus_image_new(&gray, 10, 10, FUNDUS_PIX_GRAY8));
	memset(gray->data, 200, gray->stride * 10);
	CHECK_OK(fundus_draw_sheet_put(sh, 0, gray, NULL, &placed));
	CHECK_INT_EQ(fundus_image_pixel(fundus_draw_sheet_image(sh), (int)placed.x0 + 5,
					(int)placed.y0 + 5)[1],
		     200);
	/* Putting a cell again replaces it. */
	CHECK_OK(fundus_draw_sheet_put(sh, 3, tall, NULL, &placed));
	CHECK_INT_EQ(count_colour(fundus_draw_sheet_image(sh), red, NULL, NULL, NULL, NULL), 0);
	CHECK_INT_EQ(fundus_draw_sheet_put(sh, 4, tall, NULL, NULL), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_sheet_put(sh, -1, tall, NULL, NULL), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_draw_sheet_put(sh, 0, NULL, NULL, NULL), FUNDUS_EINVAL);
	out = fundus_draw_sheet_take(sh);
	CHECK(out != NULL && fundus_draw_sheet_image(sh) == NULL);
	CHECK_INT_EQ(fundus_draw_sheet_put(sh, 0, tall, NULL, NULL), FUNDUS_EINVAL);
	fundus_draw_sheet_free(sh);
	fundus_draw_sheet_free(NULL);
	fundus_image_free(out);
	fundus_image_free(gray);

	/* Sizes refused before anything is allocated. */
	{
		const struct fundus_image *tiles[1] = {wide};

		out = NULL;
		CHECK_INT_EQ(fundus_draw_sheet(tiles, NULL, 0, 1, 32, &out), FUNDUS_EINVAL);
		CHECK_INT_EQ(fundus_draw_sheet(tiles, NULL, 1, 0, 32, &out), FUNDUS_EINVAL);
		CHECK_INT_EQ(fundus_draw_sheet(tiles, NULL, 1, 1, 15, &out), FUNDUS_EINVAL);
		CHECK_INT_EQ(
		    fundus_draw_sheet(tiles, NULL, 1, 1, FUNDUS_DRAW_SHEET_MAX_TILE + 1, &out),
		    FUNDUS_ELIMIT);
		CHECK_INT_EQ(fundus_draw_sheet(NULL, NULL, 1, 1, 32, &out), FUNDUS_EINVAL);
		CHECK(out == NULL);
	}
	CHECK_INT_EQ(fundus_draw_sheet_new(&sh, FUNDUS_DRAW_SHEET_MAX_TILES + 1, 10, 32, 32, 0),
		     FUNDUS_ELIMIT);
	CHECK_INT_EQ(fundus_draw_sheet_new(&sh, FUNDUS_DRAW_SHEET_MAX_TILES, 100,
					   FUNDUS_DRAW_SHEET_MAX_TILE, FUNDUS_DRAW_SHEET_MAX_TILE,
					   1),
		     FUNDUS_ELIMIT);
	CHECK_INT_EQ(fundus_draw_sheet_new(&sh, 1, 1, INT_MAX, 32, 1), FUNDUS_ELIMIT);
	CHECK_INT_EQ(fundus_draw_sheet_new(&sh, 1, 1, 32, 8, 1), FUNDUS_EINVAL);
	fundus_image_free(wide);
	fundus_image_free(tall);
}

TEST(sheet_fit_width)
{
	struct fundus_sheet *sh;
	const int widths[4] = {400, 1600, 1000, 16384}, cols[4] = {2, 6, 7, 3};

	for (int k = 0; k < 4; k++) {
		int t = fundus_draw_sheet_fit(widths[k], cols[k]), w;

		CHECK_INT_GE(t, 16);
		CHECK_OK(fundus_draw_sheet_new(&sh, cols[k], cols[k], t, 16, 0));
		w = fundus_draw_sheet_image(sh)->width;
		fundus_draw_sheet_free(sh);
		CHECK_INT_LE(w, widths[k]);
		if (t < FUNDUS_DRAW_SHEET_MAX_TILE) {
			CHECK_OK(fundus_draw_sheet_new(&sh, cols[k], cols[k], t + 1, 16, 0));
			w = fundus_draw_sheet_image(sh)->width;
			fundus_draw_sheet_free(sh);
			CHECK_INT_GT(w, widths[k]);
		}
	}
	CHECK_INT_EQ(fundus_draw_sheet_fit(400, 2), 197); /* fundus-synth's test wants 400 */
	CHECK_INT_EQ(fundus_draw_sheet_fit(200, 100), 0);
	CHECK_INT_EQ(fundus_draw_sheet_fit(INT_MAX, 1), FUNDUS_DRAW_SHEET_MAX_TILE);
	CHECK_INT_EQ(fundus_draw_sheet_fit(100, 0), 0);
}

int main(int argc, char **argv)
{
	RUN(rect_exact_pixels);
	RUN(rect_clipped_and_refused);
	RUN(fill_blends_and_clips);
	RUN(line_pixels_any_direction);
	RUN(text_size);
	RUN(text_stays_in_its_box);
	RUN(font_glyphs_distinct);
	RUN(label_box_tag_placement);
	RUN(auto_size_and_palette);
	RUN(plot_ticks_nice);
	RUN(plot_points_where_expected);
	RUN(plot_gaps_and_ranges);
	RUN(plot_errors);
	RUN(alloc_failure_sweep);
	RUN(sheet_layout);
	RUN(sheet_fit_width);
	return harness_done();
}
