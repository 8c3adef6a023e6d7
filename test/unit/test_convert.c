/*
 * Tests of lib/convert: exact numbers, and thousands of random annotation
 * sets through every format and back, compared field by field (as record
 * lines, which hold every field). Seeded: a failure repeats.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/internal.h"
#include "fundus/fundus.h"
#include "harness.h"
#include "testutil.h"

/* Numbers. */

TEST(decimal_add)
{
	static const struct {
		const char *in;
		int delta;
		const char *out;
	} cases[] = {
	    {"174.0", -1, "173"}, {"1", -1, "0"},
	    {"0.5", -1, "-0.5"},  {"-0.5", 1, "0.5"},
	    {"0.1", 1, "1.1"},    {"1e-7", 1, "1.0000001"},
	    {"-1", 1, "0"},       {"-0", 1, "1"},
	    {"9.99", 1, "10.99"}, {"-10.25", 1, "-9.25"},
	    {"1.5e2", -1, "149"}, {".5", 1, "1.5"},
	    {"5.", -1, "4"},      {"-0.0001", -1, "-1.0001"},
	    {"0.00", -1, "-1"},   {"1E+3", 1, "1001"},
	};
	char buf[100];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int n = fundus__cv_decimal_add(cases[i].in, strlen(cases[i].in), cases[i].delta,
					       buf, sizeof buf);

		CHECK_INT_GT(n, 0);
		CHECK_STR_EQ(buf, cases[i].out);
	}
	CHECK_INT_EQ(fundus__cv_decimal_add("abc", 3, 1, buf, sizeof buf), -1);
	CHECK_INT_EQ(fundus__cv_decimal_add("1e999", 5, 1, buf, sizeof buf), -1);
	CHECK_INT_EQ(fundus__cv_decimal_add("1e300", 5, 1, buf, 10), -1);
}

TEST(parse_number_strict)
{
	double d;

	CHECK_INT_EQ(fundus__cv_parse_number("12.5", 4, 0, &d), 0);
	CHECK(d == 12.5);
	CHECK_INT_EQ(fundus__cv_parse_number("0,358", 5, 1, &d), 0);
	CHECK(d == 0.358);
	CHECK_INT_EQ(fundus__cv_parse_number("0,358", 5, 0, &d), -1);
	CHECK_INT_EQ(fundus__cv_parse_number("inf", 3, 0, &d), -1);
	CHECK_INT_EQ(fundus__cv_parse_number("nan", 3, 0, &d), -1);
	CHECK_INT_EQ(fundus__cv_parse_number("0x10", 4, 0, &d), -1);
	CHECK_INT_EQ(fundus__cv_parse_number("1e999", 5, 0, &d), -1);
	CHECK_INT_EQ(fundus__cv_parse_number(" 1", 2, 0, &d), -1);
	CHECK_INT_EQ(fundus__cv_parse_number("", 0, 0, &d), -1);
	CHECK_INT_EQ(fundus__cv_parse_number("-", 1, 0, &d), -1);
	CHECK_INT_EQ(fundus__cv_parse_number("1e", 2, 0, &d), -1);
}

/* A random coordinate of one of the kinds annotation files hold, in [0, span). */
static double random_coord(struct fundus_rng *rng, double span)
{
	double u = fundus_rng_uniform(rng) * span;

	switch (fundus_rng_below(rng, 6)) {
	case 0: return floor(u);                     /* integer pixels */
	case 1: return floor(u * 2) / 2;             /* half pixels */
	case 2: return floor(u * 100) / 100;         /* CVAT's 2 decimals */
	case 3: return floor(u * 1000) / 1000 + 0.0; /* 3 decimals */
	case 4: return u;                            /* any double */
	default: return fundus_rng_below(rng, 3) == 0 ? 0 : floor(u * 8) / 8;
	}
}

/* A coordinate with at most 6 decimals (what files hold), or any double. */

static double decimal_coord(struct fundus_rng *rng, double span, int any)
{
	double x = random_coord(rng, span);

	return any ? x : round(x * 1e6) / 1e6;
}

TEST(exact_extent_ratio_centre)
{
	struct fundus_rng rng;
	long fails[3] = {0, 0, 0};
	double worst = 0;

	fundus_rng_seed(&rng, 7);
	for (int i = 0; i < 20000; i++) {
		double s = (double)(1 + fundus_rng_below(&rng, 6000));
		double a = random_coord(&rng, s), b = a + random_coord(&rng, s), c, w, q, x, y;

		/* COCO: exact for every double. */
		w = fundus__cv_extent(a, b);
		fails[0] += a + w != b;
		/* Open Images and YOLO: exact for decimals, within tolerance for any double. */
		a = decimal_coord(&rng, s, 0);
		b = round((a + decimal_coord(&rng, s, 0)) * 1e6) / 1e6;
		q = fundus__cv_ratio(a, s);
		fails[1] += fundus__cv_scale(q, s) != a;
		fundus__cv_centre(a, b, s, &c, &w);
		fundus__cv_edges(c, w, s, &x, &y);
		fails[2] += x != a || y != b;
		a = decimal_coord(&rng, s, 1);
		b = a + decimal_coord(&rng, s, 1);
		fundus__cv_centre(a, b, s, &c, &w);
		fundus__cv_edges(c, w, s, &x, &y);
		worst = fmax(worst, fmax(fabs(x - a), fabs(y - b)));
	}
	if (fails[0] || fails[1] || fails[2])
		fprintf(stderr, "inexact: extent %ld, ratio %ld, centre %ld of 20000\n", fails[0],
			fails[1], fails[2]);
	CHECK_INT_EQ(fails[0], 0);
	CHECK_INT_EQ(fails[1], 0);
	CHECK_INT_EQ(fails[2], 0);
	CHECK(worst <= 2e-10);
}

TEST(shortest_forms)
{
	double c, w;
	char buf[480];

	/* 0.7 - 0.1 is 0.59999999999999998 in doubles; 0.6 gives 0.7 back exactly. */
	CHECK(fundus__cv_extent(0.1, 0.7) == 0.6);
	fundus__cv_centre(100, 300, 400, &c, &w);
	CHECK(c == 0.5 && w == 0.5);
	fundus__cv_format_plus_one(0.1, buf);
	CHECK_STR_EQ(buf, "1.1");
	fundus__cv_format_plus_one(-1, buf);
	CHECK_STR_EQ(buf, "0");
	fundus__cv_format_plus_one(1e-300, buf);
	CHECK_INT_EQ(strlen(buf), 302);
}

/* Random annotation sets. */

static const char *const labels_pool[] = {"optic_disc",
					  "cup",
					  "a b",
					  "x,y",
					  "q\"uote",
					  "\xc3\xbc"
					  "ber",
					  "fovea",
					  "<tag>&"};

enum carry {
	C_SCORE = 1,
	C_BY = 2,
	C_META = 4,     /* id, source, meta, answers, record extras */
	C_EXTRA = 8,    /* object extras */
	C_VOC = 16,     /* VOC flags and "voc" members */
	C_NOSIZE = 32,  /* no width and height */
	C_SIZE = 64,    /* width and height always */
	C_DECIMAL = 128 /* coordinates with at most 6 decimals */
};

/* Fills set with a random annotation set carrying only what flags allow. */
static void random_set(struct fundus_rng *rng, unsigned flags, struct fundus_convert_set *set)
{
	size_t n = (size_t)fundus_rng_below(rng, 7);

	for (size_t i = 0; i < n; i++) {
		struct fundus_record *r;
		char name[64];
		size_t no = (size_t)fundus_rng_below(rng, 5);
		double W, H;

		fundus_record_new(&r);
		snprintf(name, sizeof name, "img/%zu_%u.jpg", i,
			 (unsigned)fundus_rng_below(rng, 1000));
		fundus_record_set_string(&r->image, name);
		if (!(flags & C_NOSIZE) && ((flags & C_SIZE) || fundus_rng_below(rng, 4))) {
			r->width = 1 + (int64_t)fundus_rng_below(rng, 5000);
			r->height = 1 + (int64_t)fundus_rng_below(rng, 5000);
		}
		W = r->width ? (double)r->width : 3000;
		H = r->height ? (double)r->height : 2000;
		for (size_t j = 0; j < no; j++) {
			struct fundus_box b;
			const char *label = labels_pool[fundus_rng_below(rng, 8)];
			double score = NAN;

			b.x0 = random_coord(rng, W);
			b.y0 = random_coord(rng, H);
			b.x1 = b.x0 + random_coord(rng, W / 2);
			b.y1 = b.y0 + random_coord(rng, H / 2);
			if (flags & C_DECIMAL) {
				b.x0 = round(b.x0 * 1e6) / 1e6;
				b.y0 = round(b.y0 * 1e6) / 1e6;
				b.x1 = round(b.x1 * 1e6) / 1e6;
				b.y1 = round(b.y1 * 1e6) / 1e6;
			}
			if ((flags & C_SCORE) && fundus_rng_below(rng, 2))
				score = fundus_rng_uniform(rng);
			fundus_record_add_object(
			    r, label, &b, score,
			    (flags & C_BY) && fundus_rng_below(rng, 2) ? "alice" : NULL);
			if ((flags & C_VOC) && fundus_rng_below(rng, 2)) {
				cJSON **e = &r->objects[j].extra;

				fundus__cv_extra_add(e, "pose", cJSON_CreateString("Left"));
				fundus__cv_extra_add(
				    e, "difficult",
				    cJSON_CreateNumber((double)fundus_rng_below(rng, 2)));
				fundus__cv_extra_add(e, "truncated", cJSON_CreateNumber(1));
				if (fundus_rng_below(rng, 2)) {
					cJSON *voc =
					    cJSON_Parse("{\"part\":[{\"name\":\"head\"},"
							"{\"name\":\"hand\"}],\"x\":\"1\"}");
					fundus__cv_extra_add(e, "voc", voc);
				}
			}
			if ((flags & C_EXTRA) && fundus_rng_below(rng, 2)) {
				cJSON **e = &r->objects[j].extra;

				fundus__cv_extra_add(e, "note", cJSON_CreateString("seen, twice"));
				fundus__cv_extra_add(e, "segmentation",
						     cJSON_Parse("[[1,2,3,4,5,6]]"));
				fundus__cv_extra_add(e, "iscrowd", cJSON_CreateNumber(1));
			}
		}
		if ((flags & C_META) && fundus_rng_below(rng, 2)) {
			fundus_record_set_string(&r->id, "sha256:00ff");
			r->meta = cJSON_Parse("{\"laterality\":\"R\"}");
			r->answers =
			    cJSON_Parse("{\"abnormal\":{\"value\":\"no\",\"by\":\"bob\"}}");
			r->source = cJSON_Parse("{\"path\":\"a/b.dcm\",\"format\":\"dicom\"}");
			fundus__cv_extra_add(&r->extra, "site", cJSON_CreateString("Nanded"));
		}
		if ((flags & C_VOC) && fundus_rng_below(rng, 2))
			fundus__cv_extra_add(
			    &r->extra, "voc",
			    cJSON_Parse("{\"@verified\":\"yes\",\"folder\":\"VOC\","
					"\"source\":{\"database\":\"x\"},"
					"\"segmented\":\"0\"}"));
		fundus_convert_set_add(set, r);
	}
}

/* Checks that two sets hold the same records, line for line. */
static int same_sets(const struct fundus_convert_set *a, const struct fundus_convert_set *b,
		     const char *what, int trial)
{
	if (a->n != b->n) {
		fprintf(stderr, "%s, trial %d: %zu records, then %zu\n", what, trial, a->n, b->n);
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		char *la, *lb;
		int same;

		if (fundus_record_format(a->rec[i], &la, NULL) < 0 ||
		    fundus_record_format(b->rec[i], &lb, NULL) < 0) {
			fprintf(stderr, "%s: cannot format: %s\n", what, fundus_errmsg());
			return 0;
		}
		same = strcmp(la, lb) == 0;
		if (!same)
			fprintf(stderr, "%s, trial %d, record %zu:\n  before %s  after  %s", what,
				trial, i, la, lb);
		fundus_free(la);
		fundus_free(lb);
		if (!same)
			return 0;
	}
	return 1;
}

TEST(property_coco)
{
	struct fundus_convert_options o;
	struct fundus_rng rng;

	fundus_convert_options_default(&o);
	o.read_headers = 0;
	fundus_rng_seed(&rng, 1);
	for (int t = 0; t < 1500; t++) {
		struct fundus_convert_set *a, *b;
		struct fundus_convert_report rep;
		char *text;
		size_t len;

		fundus_convert_set_new(&a);
		fundus_convert_set_new(&b);
		random_set(&rng, C_SCORE | C_BY | C_META | C_EXTRA | C_VOC, a);
		CHECK_OK(fundus_convert_format_coco(a, &o, 0, &text, &len, &rep));
		CHECK_INT_EQ(rep.n_loss, 0);
		CHECK_OK(fundus_convert_parse_coco(text, len, &o, b, &rep, NULL));
		fundus_free(text);
		CHECK(same_sets(a, b, "records -> COCO -> records", t));
		fundus_convert_set_free(a);
		fundus_convert_set_free(b);
	}
}

TEST(property_coco_results)
{
	struct fundus_convert_options o;
	struct fundus_rng rng;

	fundus_convert_options_default(&o);
	o.read_headers = 0;
	fundus_rng_seed(&rng, 2);
	for (int t = 0; t < 500; t++) {
		struct fundus_convert_set *a, *b;
		struct fundus_convert_report rep;
		char *text;
		size_t len;

		fundus_convert_set_new(&a);
		fundus_convert_set_new(&b);
		random_set(&rng, C_SCORE | C_NOSIZE, a);
		/* Results name images and categories by id only: records of that shape. */
		for (size_t i = 0; i < a->n; i++) {
			fundus_record_set_string(&a->rec[i]->image, NULL);
			a->rec[i]->width = a->rec[i]->height = 0;
			fundus__cv_extra_add(&a->rec[i]->extra, "coco_id",
					     cJSON_CreateNumber((double)(10 + i)));
			for (size_t j = 0; j < a->rec[i]->n_objects; j++) {
				struct fundus_object *ob = &a->rec[i]->objects[j];
				int id = 1 + (int)fundus_rng_below(&rng, 20);
				char l[8];

				snprintf(l, sizeof l, "%d", id);
				fundus_record_set_string(&ob->label, l);
				ob->score = fundus_rng_uniform(&rng);
				fundus__cv_extra_add(&ob->extra, "category_id",
						     cJSON_CreateNumber((double)id));
			}
		}
		/* Results cannot list an image without objects. */
		for (size_t i = 0; i < a->n;)
			if (a->rec[i]->n_objects == 0) {
				fundus_record_free(a->rec[i]);
				memmove(a->rec + i, a->rec + i + 1,
					(a->n - i - 1) * sizeof *a->rec);
				a->n--;
			} else {
				i++;
			}
		CHECK_OK(fundus_convert_format_coco(a, &o, 1, &text, &len, &rep));
		CHECK_INT_EQ(rep.n_loss, 0);
		CHECK_OK(fundus_convert_parse_coco(text, len, &o, b, &rep, NULL));
		fundus_free(text);
		CHECK(same_sets(a, b, "records -> COCO results -> records", t));
		fundus_convert_set_free(a);
		fundus_convert_set_free(b);
	}
}

TEST(property_voc)
{
	struct fundus_convert_options o;
	struct fundus_rng rng;

	fundus_convert_options_default(&o);
	o.image_dir = "img";
	fundus_rng_seed(&rng, 3);
	for (int t = 0; t < 1500; t++) {
		struct fundus_convert_set *a, *b;
		struct fundus_convert_report rep;

		fundus_convert_set_new(&a);
		fundus_convert_set_new(&b);
		memset(&rep, 0, sizeof rep);
		random_set(&rng, C_VOC, a);
		for (size_t i = 0; i < a->n; i++) {
			char *text;
			size_t len;

			CHECK_OK(fundus_convert_format_voc(a->rec[i], &o, &text, &len, &rep));
			CHECK_OK(fundus_convert_parse_voc(text, len, &o, b));
			fundus_free(text);
		}
		if (rep.n_loss) {
			char line[500];

			fprintf(stderr, "%s\n",
				fundus_convert_report_line(&rep, line, sizeof line));
		}
		CHECK_INT_EQ(rep.n_loss, 0);
		CHECK(same_sets(a, b, "records -> VOC -> records", t));
		fundus_convert_set_free(a);
		fundus_convert_set_free(b);
	}
}

TEST(property_csv)
{
	static const char *const layouts[] = {
	    "image,xmin,ymin,xmax,ymax,label",
	    "filename,width,height,class,xmin,ymin,xmax,ymax",
	    "none",
	    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,note",
	};
	struct fundus_rng rng;

	fundus_rng_seed(&rng, 4);
	for (int t = 0; t < 2000; t++) {
		struct fundus_convert_options o;
		struct fundus_convert_set *a, *b;
		struct fundus_convert_report rep;
		int k = (int)fundus_rng_below(&rng, 4);
		unsigned flags = k == 1 || k == 3 ? C_SIZE : C_NOSIZE;
		char *text;
		size_t len;

		fundus_convert_options_default(&o);
		o.read_headers = 0;
		o.csv_columns = layouts[k];
		o.csv_coords =
		    k == 0 && fundus_rng_below(&rng, 2) ? FUNDUS_CSV_VOC : FUNDUS_CSV_NATIVE;
		fundus_convert_set_new(&a);
		fundus_convert_set_new(&b);
		random_set(&rng, flags | (k == 3 ? C_SCORE | C_DECIMAL : 0), a);
		if (k == 3) {
			/* Open Images needs the size; it is learnt from the known images. */
			for (size_t i = 0; i < a->n; i++)
				for (size_t j = 0; j < a->rec[i]->n_objects; j++)
					if (fundus_rng_below(&rng, 2))
						fundus__cv_extra_add(&a->rec[i]->objects[j].extra,
								     "note",
								     cJSON_CreateString("x\ny"));
			o.images = a;
		}
		CHECK_OK(fundus_convert_format_csv(a, &o, &text, &len, &rep));
		if (k != 3) /* Open Images has no size columns: the sizes are lost */
			CHECK_INT_EQ(rep.n_loss, 0);
		CHECK_OK(fundus_convert_parse_csv(text, len, &o, b));
		fundus_free(text);
		if (k == 3) {
			/* What the file does not hold: the sizes, from o.images. */
			for (size_t i = 0; i < b->n; i++)
				if (b->rec[i]->n_objects == 0)
					b->rec[i]->width = a->rec[i]->width,
					b->rec[i]->height = a->rec[i]->height;
		}
		CHECK(same_sets(a, b, layouts[k], t));
		fundus_convert_set_free(a);
		fundus_convert_set_free(b);
	}
}

TEST(property_yolo)
{
	struct fundus_rng rng;
	long objects = 0;

	fundus_rng_seed(&rng, 5);
	for (int t = 0; t < 2000; t++) {
		struct fundus_convert_options o;
		struct fundus_convert_set *a, *b;
		struct fundus_convert_labels *classes;
		struct fundus_convert_report rep;

		fundus_convert_options_default(&o);
		fundus_convert_set_new(&a);
		fundus_convert_set_new(&b);
		memset(&rep, 0, sizeof rep);
		random_set(&rng, C_SIZE | C_SCORE | C_DECIMAL, a);
		CHECK_OK(fundus__cv_yolo_classes(a, &o, &classes));
		for (size_t i = 0; i < a->n; i++) {
			struct fundus_record *r;
			char *text;
			size_t len;

			CHECK_OK(fundus_convert_format_yolo(a->rec[i], classes, &text, &len, &rep));
			fundus_record_new(&r);
			fundus_record_set_string(&r->image, a->rec[i]->image);
			r->width = a->rec[i]->width;
			r->height = a->rec[i]->height;
			CHECK_OK(fundus_convert_parse_yolo(text, len, classes, r, b));
			fundus_free(text);
			objects += (long)a->rec[i]->n_objects;
		}
		fundus_convert_labels_free(classes);
		/* The class numbers a reader notes are the writer's: not kept. */
		for (size_t i = 0; i < b->n; i++)
			for (size_t j = 0; j < b->rec[i]->n_objects; j++) {
				cJSON **e = &b->rec[i]->objects[j].extra;

				cJSON_DeleteItemFromObjectCaseSensitive(*e, "yolo_class");
				if (*e && (*e)->child == NULL) {
					cJSON_Delete(*e);
					*e = NULL;
				}
			}
		CHECK_INT_EQ(rep.n_loss, 0);
		CHECK(same_sets(a, b, "records -> YOLO -> records", t));
		fundus_convert_set_free(a);
		fundus_convert_set_free(b);
	}
	CHECK_INT_GT(objects, 5000);
}

int main(int argc, char **argv)
{
	RUN(decimal_add);
	RUN(parse_number_strict);
	RUN(exact_extent_ratio_centre);
	RUN(shortest_forms);
	RUN(property_coco);
	RUN(property_coco_results);
	RUN(property_voc);
	RUN(property_csv);
	RUN(property_yolo);
	return harness_done();
}
