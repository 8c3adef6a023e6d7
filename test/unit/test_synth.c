/*
 * Unit tests of the synthetic photographs: the same seed gives the same
 * pixels (with any number of threads), the recorded disc box is the box of
 * the painted disc, the disc is where eye and framing put it and as large as
 * in real photographs, every camera size works, bad parameters and failed
 * allocations are reported, and the record says what was painted.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fundus/fundus.h"
#include "harness.h"
#include "synth/dmath.h"
#include "synth/synth_int.h"
#include "testutil.h"

/* Parameters for small, quick photographs. */
static void small(struct fundus_synth_params *p, int w, int h)
{
	fundus_synth_params_default(p);
	p->width = w;
	p->height = h;
}

TEST(same_seed_same_pixels)
{
	struct fundus_synth_params p;
	struct fundus_image *a, *b, *c;
	struct fundus_synth_truth ta, tb;

	small(&p, 240, 180);
	p.lesions = 1;
	CHECK_OK(fundus_synth_image(&p, 42, &a, &ta));
	CHECK_OK(fundus_synth_image(&p, 42, &b, &tb));
	CHECK_OK(fundus_synth_image(&p, 43, &c, NULL));
	CHECK_INT_EQ(a->width, 240);
	CHECK_INT_EQ(a->height, 180);
	CHECK_INT_EQ(a->format, FUNDUS_PIX_RGB8);
	CHECK(tu_same_pixels(a, b));
	CHECK(!tu_same_pixels(a, c));
	CHECK(memcmp(&ta, &tb, sizeof ta) == 0);
	CHECK(ta.seed == 42);
	fundus_image_free(a);
	fundus_image_free(b);
	fundus_image_free(c);
}

/*
 * A pinned value: a checksum of one photograph. It changes when the painting
 * changes on purpose (then update it), and must never change with the
 * machine, the compiler (GCC and Clang agree), the optimisation level or the
 * number of threads.
 */
TEST(pixels_pinned)
{
	struct fundus_synth_params p;
	struct fundus_image *img;
	uint64_t h = 1469598103934665603ULL;

	small(&p, 160, 120);
	CHECK_OK(fundus_synth_image(&p, 7, &img, NULL));
	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width * 3; x++)
			h = (h ^ img->data[(size_t)y * img->stride + x]) * 1099511628211ULL;
	fundus_image_free(img);
	CHECK(h == UINT64_C(0x9d598b4ae3aa6d72));
	if (h != UINT64_C(0x9d598b4ae3aa6d72))
		printf("checksum of seed 7, 160x120: %016llx\n", (unsigned long long)h);
}

TEST(threads_do_not_change_pixels)
{
	struct fundus_synth_params p;
	struct fundus_pool *pool2, *pool3;
	struct fundus_image *a, *b, *c;

	small(&p, 500, 333);
	p.lesions = 1;
	CHECK_OK(fundus_pool_new(&pool2, 2));
	CHECK_OK(fundus_pool_new(&pool3, 3));
	CHECK_OK(fundus_synth_image(&p, 5, &a, NULL));
	p.pool = pool2;
	CHECK_OK(fundus_synth_image(&p, 5, &b, NULL));
	p.pool = pool3;
	CHECK_OK(fundus_synth_image(&p, 5, &c, NULL));
	CHECK(tu_same_pixels(a, b));
	CHECK(tu_same_pixels(a, c));
	fundus_image_free(a);
	fundus_image_free(b);
	fundus_image_free(c);
	fundus_pool_free(pool2);
	fundus_pool_free(pool3);
}

TEST(seeds_of_a_run)
{
	/* Neighbouring images and neighbouring runs are unrelated. */
	CHECK(fundus_synth_seed(1, 0) != fundus_synth_seed(1, 1));
	CHECK(fundus_synth_seed(1, 1) != fundus_synth_seed(2, 0));
	CHECK(fundus_synth_seed(1, 0) != fundus_synth_seed(2, 0));
	CHECK(fundus_synth_seed(1, 5) == fundus_synth_seed(1, 5));
}

/*
 * The box is the box of the painted disc. Paint a scene without vessels,
 * lesions or noise, with a disc of saturated white and a sharp rim: the
 * white pixels are then exactly those the disc covers, and their tight box
 * must be the recorded box.
 */
TEST(box_is_the_painted_disc)
{
	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct fundus_synth_params p;
		struct fundus__scene s;
		struct fundus_image *img;
		int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;

		small(&p, 300 + 37 * (int)seed, 220 + 11 * (int)seed);
		p.poor = 0;
		p.lesions = 0;
		CHECK_OK(fundus__scene_plan(&s, &p, seed));
		s.nsegs = 0;
		s.nblobs = 0;
		s.noise = 0;
		s.ppa = 0;
		s.disc_edge = 1e-6;
		s.disc_tex = 0;
		for (int c = 0; c < 3; c++)
			s.rim_col[c] = s.cup_col[c] = 1000;
		CHECK_OK(fundus_image_new(&img, s.w, s.h, FUNDUS_PIX_RGB8));
		CHECK_OK(fundus__scene_render(&s, img, NULL));
		for (int y = 0; y < s.h; y++)
			for (int x = 0; x < s.w; x++) {
				const uint8_t *px = fundus_image_pixel(img, x, y);

				if (px[0] == 255 && px[1] == 255 && px[2] == 255) {
					x0 = x < x0 ? x : x0;
					x1 = x > x1 ? x : x1;
					y0 = y < y0 ? y : y0;
					y1 = y > y1 ? y : y1;
				}
			}
		fundus_image_free(img);
		fundus__scene_free(&s);
		CHECK_INT_EQ(x0, (int)s.disc_box.x0);
		CHECK_INT_EQ(y0, (int)s.disc_box.y0);
		CHECK_INT_EQ(x1 + 1, (int)s.disc_box.x1);
		CHECK_INT_EQ(y1 + 1, (int)s.disc_box.y1);
	}
}

/* Mean green inside an ellipse of radii (a, b) and outside it up to (c, d). */
static void disc_contrast(const struct fundus_image *img, double cx, double cy, double r,
			  double *inside, double *around)
{
	double si = 0, so = 0;
	long ni = 0, no = 0;

	for (int y = (int)(cy - 2.2 * r); y <= (int)(cy + 2.2 * r); y++)
		for (int x = (int)(cx - 2.2 * r); x <= (int)(cx + 2.2 * r); x++) {
			double dx = x + 0.5 - cx, dy = y + 0.5 - cy, d = sqrt(dx * dx + dy * dy);

			if (x < 0 || y < 0 || x >= img->width || y >= img->height)
				continue;
			if (d < 0.7 * r) {
				si += fundus_image_pixel(img, x, y)[1];
				ni++;
			} else if (d > 1.5 * r && d < 2.2 * r) {
				so += fundus_image_pixel(img, x, y)[1];
				no++;
			}
		}
	*inside = ni ? si / ni : 0;
	*around = no ? so / no : 0;
}

/* In good photographs without lesions the disc is the bright thing in its box. */
TEST(disc_is_bright_and_where_the_box_is)
{
	int brighter = 0, n = 0;

	for (uint64_t seed = 100; seed < 112; seed++) {
		struct fundus_synth_params p;
		struct fundus_synth_truth t;
		struct fundus_image *img;
		double in, out;

		small(&p, 360, 240);
		p.poor = 0;
		p.lesions = 0;
		CHECK_OK(fundus_synth_image(&p, seed, &img, &t));
		disc_contrast(img, (t.disc_box.x0 + t.disc_box.x1) / 2,
			      (t.disc_box.y0 + t.disc_box.y1) / 2,
			      (t.disc_box.x1 - t.disc_box.x0) / 2, &in, &out);
		fundus_image_free(img);
		n++;
		brighter += in > out + 10;
		CHECK(in > out);
	}
	/* Dull discs exist, but they are few. */
	CHECK_INT_GE(brighter, n * 3 / 4);
}

/* Size and shape as in real photographs, inside the field and the frame. */
TEST(disc_size_and_place)
{
	for (uint64_t seed = 1; seed <= 60; seed++) {
		struct fundus_synth_params p;
		struct fundus__scene s;
		struct fundus_box b;
		double w, h, dfov, cx, cy;

		small(&p, 600, 400);
		CHECK_OK(fundus__scene_plan(&s, &p, seed));
		fundus__scene_free(&s); /* only the geometry is needed */
		b = s.disc_box;
		w = b.x1 - b.x0;
		h = b.y1 - b.y0;
		dfov = 2 * s.R;
		/* IDRiD boxes are 0.13 to 0.17 of the field's diameter, DIARETDB1's 0.135. */
		CHECK(w / dfov > 0.11 && w / dfov < 0.19);
		CHECK(h / w > 0.95 && h / w < 1.25);
		CHECK(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= s.w && b.y1 <= s.h);
		cx = (b.x0 + b.x1) / 2 - s.cx;
		cy = (b.y0 + b.y1) / 2 - s.cy;
		CHECK(sqrt(cx * cx + cy * cy) + h / 2 < s.R);
		/* The fovea is 2.2 to 2.8 disc diameters from the disc. */
		{
			double d =
			    sqrt((s.fx - s.dx) * (s.fx - s.dx) + (s.fy - s.dy) * (s.fy - s.dy));

			CHECK(d / s.unit > 2.15 && d / s.unit < 2.85);
		}
	}
}

TEST(eye_and_framing_place_the_disc)
{
	static const enum fundus_synth_framing fr[] = {
	    FUNDUS_SYNTH_FRAMING_MACULA, FUNDUS_SYNTH_FRAMING_DISC, FUNDUS_SYNTH_FRAMING_POLE};

	for (int e = 0; e < 2; e++)
		for (int f = 0; f < 3; f++)
			for (uint64_t seed = 1; seed <= 8; seed++) {
				struct fundus_synth_params p;
				struct fundus__scene s;
				double dx, dy, fx, fy, R;

				small(&p, 640, 480);
				p.eye = e ? 'R' : 'L';
				p.framing = fr[f];
				CHECK_OK(fundus__scene_plan(&s, &p, seed));
				fundus__scene_free(&s); /* only the geometry is needed */
				CHECK_INT_EQ(s.eye, p.eye);
				CHECK_INT_EQ(s.framing, fr[f]);
				/* A right eye's disc is right of its fovea (nasal), as the camera
				 * shows it. */
				if (p.eye == 'R')
					CHECK(s.dx > s.fx);
				else
					CHECK(s.dx < s.fx);
				R = s.R;
				dx = s.dx - s.cx;
				dy = s.dy - s.cy;
				fx = s.fx - s.cx;
				fy = s.fy - s.cy;
				if (fr[f] == FUNDUS_SYNTH_FRAMING_MACULA) {
					CHECK(sqrt(fx * fx + fy * fy) < 0.25 * R);
					/* In macula-centred photographs the disc is off to its
					 * side. */
					CHECK(p.eye == 'R' ? dx > 0.3 * R : dx < -0.3 * R);
				} else if (fr[f] == FUNDUS_SYNTH_FRAMING_DISC) {
					CHECK(sqrt(dx * dx + dy * dy) < 0.25 * R);
				} else {
					CHECK(fabs(dx) < 0.6 * R && fabs(fx) < 0.6 * R);
				}
			}
}

/*
 * Every camera size of the table is planned (camera, anatomy, vessels,
 * lesions, box), and painted at its size up to 2048 pixels wide; the two
 * largest take seconds under the sanitizers, and the painting does not
 * depend on the size beyond what the smaller ones show.
 */
TEST(every_table_size)
{
	const struct fundus_synth_size *t;
	size_t n = fundus_synth_sizes(&t);
	struct fundus_pool *pool;

	CHECK(n >= 8);
	CHECK_INT_EQ(t[0].width, 4288);
	CHECK_INT_EQ(t[0].height, 2848);
	CHECK_OK(fundus_pool_new(&pool, 2));
	for (size_t i = 0; i < n; i++) {
		struct fundus_synth_params p;
		struct fundus_synth_truth tr;
		struct fundus_image *img;

		small(&p, t[i].width, t[i].height);
		p.pool = pool;
		p.lesions = 1;
		CHECK(t[i].camera != NULL);
		if (t[i].width > 2048) {
			struct fundus__scene s;
			int ok;

			CHECK_OK(fundus__scene_plan(&s, &p, 1000 + i));
			ok = s.w == t[i].width && s.h == t[i].height && s.nsegs > 100 &&
			     s.disc_box.x1 > s.disc_box.x0;
			fundus__scene_free(&s);
			CHECK(ok);
			continue;
		}
		CHECK_OK(fundus_synth_image(&p, 1000 + i, &img, &tr));
		CHECK_INT_EQ(img->width, t[i].width);
		CHECK_INT_EQ(img->height, t[i].height);
		CHECK_INT_EQ(tr.width, t[i].width);
		CHECK(tr.disc_box.x1 > tr.disc_box.x0 && tr.disc_box.x1 <= t[i].width);
		fundus_image_free(img);
	}
	fundus_pool_free(pool);
}

/* With width = height = 0, sizes come from the table, within max_width. */
TEST(random_sizes_from_the_table)
{
	const struct fundus_synth_size *t;
	size_t n = fundus_synth_sizes(&t);
	int seen_big = 0;

	for (uint64_t seed = 1; seed <= 80; seed++) {
		struct fundus_synth_params p;
		struct fundus__scene s;
		int found = 0;

		fundus_synth_params_default(&p);
		if (seed % 2)
			p.max_width = 1500;
		CHECK_OK(fundus__scene_plan(&s, &p, seed));
		fundus__scene_free(&s);
		for (size_t i = 0; i < n; i++)
			found |= t[i].width == s.w && t[i].height == s.h;
		CHECK(found);
		if (p.max_width)
			CHECK(s.w <= 1500);
		seen_big |= s.w > 1500;
	}
	CHECK(seen_big);
}

TEST(lesions_and_quality)
{
	int with = 0, bright = 0, poor = 0, dims = 0;

	for (uint64_t seed = 1; seed <= 120; seed++) {
		struct fundus_synth_params p;
		struct fundus__scene s;

		small(&p, 320, 240);
		p.lesions = 1;
		p.poor = 0.5;
		CHECK_OK(fundus__scene_plan(&s, &p, seed));
		fundus__scene_free(&s);
		with += s.n_exudates + s.n_haemorrhages + s.n_microaneurysms + s.n_cotton_wool +
			    s.n_drusen >
			0;
		bright += s.bright_lesion;
		poor += s.quality != FUNDUS_SYNTH_QUALITY_GOOD;
		dims += s.quality == FUNDUS_SYNTH_QUALITY_DIM;
	}
	CHECK_INT_GE(with, 110);
	CHECK_INT_GE(bright, 10);
	CHECK(poor > 35 && poor < 85);
	CHECK_INT_GE(dims, 10);
	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct fundus_synth_params p;
		struct fundus__scene s;

		small(&p, 320, 240);
		p.lesions = 0;
		p.poor = 0;
		CHECK_OK(fundus__scene_plan(&s, &p, seed));
		fundus__scene_free(&s);
		CHECK_INT_EQ(s.nblobs, 0);
		CHECK_INT_EQ(s.quality, FUNDUS_SYNTH_QUALITY_GOOD);
	}
}

TEST(bad_parameters)
{
	struct fundus_synth_params p;
	struct fundus_image *img = (struct fundus_image *)&p;

	small(&p, 320, 0);
	CHECK_INT_EQ(fundus_synth_image(&p, 1, &img, NULL), FUNDUS_EINVAL);
	CHECK(img == NULL);
	small(&p, 20, 20);
	CHECK_INT_EQ(fundus_synth_params_check(&p), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "out of range");
	small(&p, 320, 240);
	p.lesions = 1.5;
	CHECK_INT_EQ(fundus_synth_params_check(&p), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "lesions");
	small(&p, 320, 240);
	p.lesions = NAN;
	CHECK_INT_EQ(fundus_synth_params_check(&p), FUNDUS_EINVAL);
	small(&p, 320, 240);
	p.eye = 'X';
	CHECK_INT_EQ(fundus_synth_params_check(&p), FUNDUS_EINVAL);
	small(&p, 320, 240);
	p.framing = (enum fundus_synth_framing)9;
	CHECK_INT_EQ(fundus_synth_params_check(&p), FUNDUS_EINVAL);
	small(&p, 320, 240);
	p.blur = 0.5;
	CHECK_INT_EQ(fundus_synth_params_check(&p), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "blur");
	p.blur = -1;
	p.noise = 0;
	CHECK_OK(fundus_synth_params_check(&p));
	fundus_synth_params_default(&p);
	p.max_width = 100;
	CHECK_INT_EQ(fundus_synth_params_check(&p), FUNDUS_EINVAL);
}

/* Every allocation that fails is reported, and nothing leaks (ASan checks). */
TEST(allocation_failures)
{
	struct fundus_synth_params p;
	int done = 0;

	small(&p, 96, 64);
	p.lesions = 1;
	for (long n = 0; n < 10000 && !done; n++) {
		struct fundus_image *img = NULL;
		int rc;

		fundus_alloc_fail_after(n);
		rc = fundus_synth_image(&p, 3, &img, NULL);
		fundus_alloc_fail_after(-1);
		if (rc == 0) {
			done = 1;
			CHECK(img != NULL);
		} else {
			CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
			CHECK(img == NULL);
		}
		fundus_image_free(img);
	}
	CHECK(done);
}

/* The caps on primitives are the numbers they say, not the next doubling of the array. */
TEST(primitive_caps_hold)
{
	static struct fundus__scene s;
	struct fundus__seg seg = {0};
	struct fundus__blob blob = {0};
	size_t n = 0;
	int rc;

	while ((rc = fundus__scene_add_seg(&s, &seg)) == 0)
		n++;
	CHECK_INT_EQ(rc, FUNDUS_ELIMIT);
	CHECK_INT_EQ(n, 400000);
	for (n = 0; (rc = fundus__scene_add_blob(&s, &blob)) == 0;)
		n++;
	CHECK_INT_EQ(rc, FUNDUS_ELIMIT);
	CHECK_INT_EQ(n, 20000);
	fundus__scene_free(&s);
}

TEST(record_of_a_photograph)
{
	struct fundus_synth_params p;
	struct fundus_synth_truth t;
	struct fundus_image *img;
	struct fundus_record *r;
	char *line;
	size_t len;

	small(&p, 320, 240);
	p.eye = 'R';
	p.framing = FUNDUS_SYNTH_FRAMING_DISC;
	CHECK_OK(fundus_synth_image(&p, fundus_synth_seed(9, 4), &img, &t));
	fundus_image_free(img);
	CHECK_OK(fundus_synth_record(&t, "out/synth-000004.jpg", "jpeg", 9, 4, &r));
	CHECK_STR_EQ(r->image, "out/synth-000004.jpg");
	CHECK_INT_EQ(r->width, 320);
	CHECK_INT_EQ(r->height, 240);
	CHECK_INT_EQ(r->n_objects, 1);
	CHECK_STR_EQ(r->objects[0].label, "optic_disc");
	CHECK_STR_EQ(r->objects[0].by, "synth");
	CHECK(isnan(r->objects[0].score));
	CHECK(memcmp(&r->objects[0].bbox, &t.disc_box, sizeof t.disc_box) == 0);
	CHECK_OK(fundus_record_format(r, &line, &len));
	CHECK_STR_CONTAINS(line, "\"laterality\":\"R\"");
	CHECK_STR_CONTAINS(line, "\"framing\":\"disc\"");
	CHECK_STR_CONTAINS(line, "\"seed\":9,\"index\":4");
	CHECK_STR_CONTAINS(line, "\"synthetic\":true");
	CHECK_STR_CONTAINS(line, "\"format\":\"jpeg\"");
	fundus_free(line);
	fundus_record_free(r);
	CHECK_INT_EQ(fundus_synth_record(&t, NULL, NULL, UINT64_C(1) << 53, 0, &r), FUNDUS_EINVAL);
	CHECK(r == NULL);
	CHECK_OK(fundus_synth_record(&t, NULL, NULL, 1, 0, &r));
	CHECK(r->image == NULL && r->source == NULL);
	fundus_record_free(r);
}

/* The elementary functions that replace libm's agree with it. */
TEST(dmath_agrees_with_libm)
{
	double worst = 0;

	for (int i = -20000; i <= 20000; i++) {
		double x = i * 1e-3, e;

		e = fabs(dm_exp(x * 0.03) - exp(x * 0.03)) / exp(x * 0.03);
		worst = e > worst ? e : worst;
		e = fabs(dm_log(fabs(x) + 1e-3) - log(fabs(x) + 1e-3));
		worst = e > worst ? e : worst;
		e = fabs(dm_sin(x) - sin(x)) + fabs(dm_cos(x) - cos(x));
		worst = e > worst ? e : worst;
		e = fabs(dm_atan2(x, 1.7 - x * 0.3) - atan2(x, 1.7 - x * 0.3));
		worst = e > worst ? e : worst;
		e = fabs(dm_acos(i / 20000.0) - acos(i / 20000.0));
		worst = e > worst ? e : worst;
	}
	CHECK(worst < 1e-12);
	CHECK_NEAR(dm_cbrt(27), 3, 1e-12);
	CHECK_NEAR(dm_pow(2, 10), 1024, 1e-9);
	CHECK(dm_exp(-800) == 0);
}

int main(int argc, char **argv)
{
	RUN(same_seed_same_pixels);
	RUN(pixels_pinned);
	RUN(threads_do_not_change_pixels);
	RUN(seeds_of_a_run);
	RUN(box_is_the_painted_disc);
	RUN(disc_is_bright_and_where_the_box_is);
	RUN(disc_size_and_place);
	RUN(eye_and_framing_place_the_disc);
	RUN(every_table_size);
	RUN(random_sizes_from_the_table);
	RUN(lesions_and_quality);
	RUN(bad_parameters);
	RUN(allocation_failures);
	RUN(primitive_caps_hold);
	RUN(record_of_a_photograph);
	RUN(dmath_agrees_with_libm);
	return harness_done();
}
