/*
 * Boxes from mask images, as public fundus datasets ship them (IDRiD's
 * optic-disc masks, REFUGE's label maps): a box per connected region of
 * non-zero pixels, or a box per label value. Masks are read through the
 * image layer (any format it reads, EXIF orientation applied).
 *
 * Regions are found on runs of non-zero pixels, row by row, joined with a
 * union-find when they touch (8-neighbours), so memory follows the number
 * of runs, not of pixels.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fundus/image.h"
#include "internal.h"

struct run {
	int x0, x1; /* [x0, x1) */
	int y;
	size_t parent;
};

/* The root of run i, halving the path on the way. */
static size_t find_root(struct run *r, size_t i)
{
	while (r[i].parent != i) {
		r[i].parent = r[r[i].parent].parent;
		i = r[i].parent;
	}
	return i;
}

/* Joins the regions of runs a and b; the older root stays, so regions keep raster order. */
static void join(struct run *r, size_t a, size_t b)
{
	a = find_root(r, a);
	b = find_root(r, b);
	if (a == b)
		return;
	if (a < b)
		r[b].parent = a;
	else
		r[a].parent = b;
}

/* The value of pixel x of a row: gray, or 0xRRGGBB; alpha is not a value. */
static uint32_t pixel_value(const struct fundus_image *img, const uint8_t *row, int x)
{
	switch (img->format) {
	case FUNDUS_PIX_GRAY8: return row[x];
	case FUNDUS_PIX_GRAYA8: return row[2 * x];
	case FUNDUS_PIX_GRAY16: return ((const uint16_t *)(const void *)row)[x];
	case FUNDUS_PIX_GRAYA16: return ((const uint16_t *)(const void *)row)[2 * x];
	case FUNDUS_PIX_RGB8:
		return (uint32_t)row[3 * x] << 16 | (uint32_t)row[3 * x + 1] << 8 | row[3 * x + 2];
	case FUNDUS_PIX_RGBA8:
		return (uint32_t)row[4 * x] << 16 | (uint32_t)row[4 * x + 1] << 8 | row[4 * x + 2];
	default: {
		/* 16-bit colour: the high bytes make the value. */
		const uint16_t *p = (const uint16_t *)(const void *)row;
		int c = img->format == FUNDUS_PIX_RGBA16 ? 4 : 3;

		return (uint32_t)(p[c * x] >> 8) << 16 | (uint32_t)(p[c * x + 1] >> 8) << 8 |
		       (uint32_t)(p[c * x + 2] >> 8);
	}
	}
}

/* One box per 8-connected region of non-zero pixels, in raster order of their first pixel. */
static int regions(const struct fundus_image *img, const char *label, struct fundus_record *r)
{
	struct run *runs = NULL;
	size_t n = 0, cap = 0, prev_start = 0, prev_end = 0;
	int rc = 0;

	for (int y = 0; y < img->height; y++) {
		const uint8_t *row = img->data + (size_t)y * img->stride;
		size_t start = n;

		for (int x = 0; x < img->width;) {
			int x0;

			while (x < img->width && pixel_value(img, row, x) == 0)
				x++;
			if (x == img->width)
				break;
			x0 = x;
			while (x < img->width && pixel_value(img, row, x) != 0)
				x++;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				struct run *v = fundus_realloc(runs, nc * sizeof *v);

				if (v == NULL) {
					fundus_free(runs);
					return FUNDUS_ENOMEM;
				}
				runs = v;
				cap = nc;
			}
			runs[n] = (struct run){x0, x, y, n};
			/* Touching a run of the row above (sides or corners)? */
			for (size_t k = prev_start; k < prev_end; k++)
				if (runs[k].x0 <= x && x0 <= runs[k].x1)
					join(runs, k, n);
			n++;
		}
		prev_start = start;
		prev_end = n;
	}
	/* Boxes of the roots, in the order of the roots (first pixel in raster order). */
	{
		size_t *box_of = fundus_malloc((n + 1) * sizeof *box_of);
		struct fundus_box *boxes = fundus_malloc((n + 1) * sizeof *boxes);
		size_t nb = 0;

		if (box_of == NULL || boxes == NULL) {
			fundus_free(box_of);
			fundus_free(boxes);
			fundus_free(runs);
			return FUNDUS_ENOMEM;
		}
		for (size_t i = 0; i < n; i++) {
			size_t root = find_root(runs, i);

			if (root == i) {
				box_of[i] = nb;
				boxes[nb++] =
				    (struct fundus_box){INFINITY, INFINITY, -INFINITY, -INFINITY};
			}
		}
		for (size_t i = 0; i < n; i++) {
			struct fundus_box *b = &boxes[box_of[find_root(runs, i)]];

			b->x0 = fmin(b->x0, runs[i].x0);
			b->x1 = fmax(b->x1, runs[i].x1);
			b->y0 = fmin(b->y0, runs[i].y);
			b->y1 = fmax(b->y1, runs[i].y + 1);
		}
		for (size_t i = 0; i < nb && rc == 0; i++)
			rc = fundus_record_add_object(r, label, &boxes[i], NAN, NULL);
		fundus_free(box_of);
		fundus_free(boxes);
	}
	fundus_free(runs);
	return rc;
}

struct vbox {
	uint32_t value;
	struct fundus_box b;
};

/* Orders value boxes by value. */
static int cmp_value(const void *a, const void *b)
{
	uint32_t x = ((const struct vbox *)a)->value, y = ((const struct vbox *)b)->value;

	return (x > y) - (x < y);
}

/* One box per non-zero value, around all its pixels, by increasing value. */
static int values(const struct fundus_image *img, const struct fundus_convert_labels *labels,
		  struct fundus_record *r)
{
	struct fundus__cv_index ix = {0};
	struct vbox *v = NULL;
	size_t n = 0, cap = 0, at;
	int rc = 0;

	for (int y = 0; y < img->height && rc >= 0; y++) {
		const uint8_t *row = img->data + (size_t)y * img->stride;

		for (int x = 0; x < img->width; x++) {
			uint32_t val = pixel_value(img, row, x);

			if (val == 0)
				continue;
			if (!fundus__cv_index_get_int(&ix, val, &at)) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 16;
					struct vbox *nv;

					if (nc > 100000) {
						rc = fundus_error_set(
						    FUNDUS_ELIMIT, "more than 100000 label values");
						break;
					}
					nv = fundus_realloc(v, nc * sizeof *nv);
					if (nv == NULL) {
						rc = FUNDUS_ENOMEM;
						break;
					}
					v = nv;
					cap = nc;
				}
				v[n] = (struct vbox){val, {x, y, x + 1, y + 1}};
				if ((rc = fundus__cv_index_put_int(&ix, val, n)) < 0)
					break;
				at = n++;
			}
			v[at].b.x0 = fmin(v[at].b.x0, x);
			v[at].b.x1 = fmax(v[at].b.x1, x + 1);
			v[at].b.y1 = y + 1;
		}
	}
	fundus__cv_index_free(&ix);
	if (rc >= 0 && n)
		qsort(v, n, sizeof *v, cmp_value);
	for (size_t i = 0; i < n && rc >= 0; i++) {
		const struct fundus_convert_label *l =
		    fundus_convert_labels_find_id(labels, (int64_t)v[i].value);
		char name[32];

		snprintf(name, sizeof name, "value_%" PRIu32, v[i].value);
		rc = fundus_record_add_object(r, l ? l->name : name, &v[i].b, NAN, NULL);
	}
	fundus_free(v);
	return rc < 0 ? rc : 0;
}

int fundus_convert_mask_boxes(const char *mask_path, enum fundus_mask_mode mode, const char *label,
			      const struct fundus_convert_labels *labels, struct fundus_record *r)
{
	struct fundus_read_options ro;
	struct fundus_image *img;
	int rc;

	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	if ((rc = fundus_image_load(mask_path, &ro, &img)) < 0)
		return rc;
	if (r->width == 0 || r->height == 0) {
		r->width = img->width;
		r->height = img->height;
	}
	rc = mode == FUNDUS_MASK_VALUES ? values(img, labels, r)
					: regions(img, label ? label : "object", r);
	fundus_image_free(img);
	return rc;
}

/* Whether a path is a regular file. */
static int is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The image a mask belongs to: its name without the suffix, found on disk; else the mask. */
static char *image_of_mask(const char *mask, const struct fundus_convert_options *o)
{
	static const char *const exts[] = {".jpg",  ".jpeg", ".png", ".tif",
					   ".tiff", ".JPG",  ".PNG", ".TIF"};
	const char *base = fundus__cv_basename(mask);
	size_t stem = fundus__cv_stem_len(base), ns = o->mask_suffix ? strlen(o->mask_suffix) : 0;
	char dir[4096], cand[4096];

	if (ns == 0 || stem <= ns || memcmp(base + stem - ns, o->mask_suffix, ns) != 0)
		return fundus_strdup(mask);
	stem -= ns;
	if (o->image_dir)
		snprintf(dir, sizeof dir, "%s/", o->image_dir);
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(base - mask), mask);
	for (size_t e = 0; e < sizeof exts / sizeof exts[0]; e++) {
		snprintf(cand, sizeof cand, "%s%.*s%s", dir, (int)stem, base, exts[e]);
		if (is_file(cand))
			return fundus_strdup(cand);
	}
	return fundus_strdup(mask);
}

/* Reads one mask into a new record of set. */
static int read_mask(const char *mask, const struct fundus_convert_options *o,
		     struct fundus_convert_set *set)
{
	struct fundus_record *r;
	int rc;

	if ((rc = fundus_record_new(&r)) < 0)
		return rc;
	if ((r->image = image_of_mask(mask, o)) == NULL) {
		fundus_record_free(r);
		return FUNDUS_ENOMEM;
	}
	if ((rc = fundus_convert_mask_boxes(mask, o->mask_mode, o->mask_label, o->labels, r)) < 0 ||
	    (strcmp(r->image, mask) != 0 &&
	     (rc = fundus__cv_extra_add(&r->extra, "mask", cJSON_CreateString(mask))) < 0)) {
		fundus_record_free(r);
		return rc;
	}
	return fundus_convert_set_add(set, r);
}

/* Orders names. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int fundus__cv_read_masks(const char *path, const struct fundus_convert_options *o,
			  struct fundus_convert_set *set)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, first = set->n;
	int rc = 0;

	if (stat(path, &st) != 0)
		return fundus_error_errno(errno == ENOENT ? FUNDUS_ENOENT : FUNDUS_EIO, errno,
					  "cannot open");
	if (!S_ISDIR(st.st_mode))
		return read_mask(path, o, set);
	if ((d = opendir(path)) == NULL)
		return fundus_error_errno(FUNDUS_EIO, errno, "cannot open the folder");
	while ((e = readdir(d)) != NULL) {
		char *p;

		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **v;

			cap = cap ? cap * 2 : 64;
			v = fundus_realloc(names, cap * sizeof *v);
			if (v == NULL) {
				rc = FUNDUS_ENOMEM;
				break;
			}
			names = v;
		}
		p = fundus__cv_join(path, e->d_name);
		if (p == NULL) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		if (!is_file(p)) {
			fundus_free(p);
			continue;
		}
		names[n++] = p;
	}
	closedir(d);
	if (rc == 0 && n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t head[64];
		FILE *f = fopen(names[i], "rb");
		size_t got = f ? fread(head, 1, sizeof head, f) : 0;

		if (f)
			fclose(f);
		/* Only the files the image layer reads are masks; others are skipped. */
		if (fundus_image_probe(head, got) == NULL)
			continue;
		rc = read_mask(names[i], o, set);
		if (rc < 0 && rc != FUNDUS_ENOMEM)
			rc = fundus_error_set(rc, "'%s': %s", fundus__cv_basename(names[i]),
					      fundus_errmsg());
	}
	for (size_t i = 0; i < n; i++)
		fundus_free(names[i]);
	fundus_free(names);
	if (rc < 0)
		while (set->n > first)
			fundus_record_free(set->rec[--set->n]);
	return rc;
}
