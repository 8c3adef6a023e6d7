/*
 * Helpers shared by the ingest tests (header-only: each test file is its
 * own program): synthetic photographs, an ingest that collects its
 * records and failures, and pixel comparisons.
 */
#ifndef FUNDUS_TEST_INGEST_UTIL_H
#define FUNDUS_TEST_INGEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/image.h"
#include "fundus/ingest.h"
#include "fundus/record.h"
#include "fundus/sha256.h"
#include "fundus/synth.h"
#include "testutil.h"

#define IU_MAX 64

/* tu_path(name) in a buffer of its own that stays valid (tu_path() rotates 8 buffers). */
static __attribute__((unused)) const char *iu_path(const char *name)
{
	static char bufs[128][512];
	static int n;
	char *b = bufs[n++ % 128];

	snprintf(b, sizeof bufs[0], "%s", tu_path(name));
	return b;
}

/* What one ingest reported. */
struct iu_result {
	struct fundus_record *recs[IU_MAX];
	int added[IU_MAX];
	int nrecs;
	char *failed[IU_MAX]; /* "path: reason" */
	int nfailed;
	struct fundus_ingest_stats st;
	int rc;
};

static __attribute__((unused)) int iu_on_record(void *ud, const struct fundus_record *r, int added)
{
	struct iu_result *res = ud;

	if (res->nrecs < IU_MAX && fundus_record_dup(r, &res->recs[res->nrecs]) == 0)
		res->added[res->nrecs++] = added;
	return 0;
}

static __attribute__((unused)) void iu_on_error(void *ud, const char *path, int code,
						const char *reason)
{
	struct iu_result *res = ud;
	char buf[2048];

	(void)code;
	snprintf(buf, sizeof buf, "%s: %s", path, reason);
	if (res->nfailed < IU_MAX)
		res->failed[res->nfailed++] = strdup(buf);
}

static __attribute__((unused)) void iu_free(struct iu_result *res)
{
	for (int i = 0; i < res->nrecs; i++)
		fundus_record_free(res->recs[i]);
	for (int i = 0; i < res->nfailed; i++)
		free(res->failed[i]);
	memset(res, 0, sizeof *res);
}

/* Ingests n inputs into dataset with options o (may be NULL: defaults). */
static __attribute__((unused)) void iu_ingest(struct iu_result *res, const char *dataset,
					      const char *const *inputs, size_t n,
					      const struct fundus_ingest_options *o)
{
	struct fundus_ingest_options opt;

	if (o)
		opt = *o;
	else
		fundus_ingest_options_default(&opt);
	memset(res, 0, sizeof *res);
	opt.dataset = dataset;
	opt.on_record = iu_on_record;
	opt.on_error = iu_on_error;
	opt.ud = res;
	res->rc = fundus_ingest_run(&opt, inputs, n, &res->st);
}

/* A synthetic photograph w x h, its truth in *t (may be NULL). */
static __attribute__((unused)) struct fundus_image *iu_synth(int w, int h, uint64_t seed,
							     struct fundus_synth_truth *t)
{
	struct fundus_synth_params p;
	struct fundus_image *img = NULL;

	fundus_synth_params_default(&p);
	p.width = w;
	p.height = h;
	p.poor = 0;
	if (fundus_synth_image(&p, seed, &img, t) < 0)
		return NULL;
	return img;
}

/* Largest difference of any sample between two images of one size and format; -1 if they differ in
 * shape. */
static __attribute__((unused)) int iu_maxdiff(const struct fundus_image *a,
					      const struct fundus_image *b)
{
	int m = 0, n;

	if (a->width != b->width || a->height != b->height || a->format != b->format)
		return -1;
	n = a->width * fundus_pixfmt_channels(a->format) * fundus_pixfmt_bytes(a->format);
	for (int y = 0; y < a->height; y++) {
		const uint8_t *p = a->data + (size_t)y * a->stride,
			      *q = b->data + (size_t)y * b->stride;

		for (int x = 0; x < n; x++) {
			int d = abs(p[x] - q[x]);

			m = d > m ? d : m;
		}
	}
	return m;
}

/* Mean absolute difference inside a box (the disc), both images rgb8 or gray8 of one size. */
static __attribute__((unused)) double iu_box_meandiff(const struct fundus_image *a,
						      const struct fundus_image *b,
						      const struct fundus_box *box)
{
	int ch = fundus_pixfmt_channels(a->format);
	double sum = 0;
	long n = 0;

	for (int y = (int)box->y0; y < (int)box->y1 && y < a->height; y++)
		for (int x = (int)box->x0 * ch; x < (int)box->x1 * ch && x < a->width * ch; x++) {
			sum += abs(a->data[(size_t)y * a->stride + x] -
				   b->data[(size_t)y * b->stride + x]);
			n++;
		}
	return n ? sum / n : 1e9;
}

/* Loads an image file as format fmt, or NULL. */
static __attribute__((unused)) struct fundus_image *iu_load(const char *path,
							    enum fundus_pixfmt fmt)
{
	struct fundus_read_options ro;
	struct fundus_image *img = NULL;

	fundus_read_options_default(&ro);
	ro.format = fmt;
	if (fundus_image_load(path, &ro, &img) < 0)
		fprintf(stderr, "cannot load %s: %s\n", path, fundus_errmsg());
	return img;
}

/* The "sha256:<hex>" of a file, in a static buffer. */
static __attribute__((unused)) const char *iu_file_id(const char *path)
{
	static char id[80];
	uint8_t d[FUNDUS_SHA256_BYTES];
	char hex[FUNDUS_SHA256_HEX];

	if (fundus_sha256_file(path, d) < 0)
		return "";
	fundus_sha256_hex(d, hex);
	snprintf(id, sizeof id, "sha256:%s", hex);
	return id;
}

/* Counts the lines of a file. */
static __attribute__((unused)) int iu_count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;

	if (f == NULL)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

#endif
