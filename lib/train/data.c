/*
 * Training data: photographs decoded once at a reduced scale, with their
 * boxes, split and subset without decoding again.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/file.h"
#include "fundus/pool.h"
#include "fundus/rng.h"
#include "fundus/sha256.h"
#include "train/internal.h"

void fundus_train_data_defaults(struct fundus_train_data_params *p)
{
	memset(p, 0, sizeof *p);
	p->min_side = 512;
	p->threads = 1;
}

/* Frees what an item holds. */
static void item_clear(struct fundus__titem *it)
{
	fundus_image_free(it->img);
	fundus_free(it->boxes);
	fundus_free(it->labels);
	fundus_record_free(it->rec);
	memset(it, 0, sizeof *it);
}

void fundus_train_data_free(struct fundus_train_data *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		item_clear(&d->items[i]);
	fundus_free(d->items);
	for (int i = 0; i < d->nlabels; i++)
		fundus_free(d->labels[i]);
	fundus_free(d->labels);
	fundus_free(d);
}

size_t fundus_train_data_count(const struct fundus_train_data *d)
{
	return d->n;
}

int fundus_train_data_labels(const struct fundus_train_data *d, const char *const **labels)
{
	*labels = (const char *const *)d->labels;
	return d->nlabels;
}

int fundus__tdata_alloc(struct fundus_train_data **out, const struct fundus_train_data *d,
			size_t n)
{
	struct fundus_train_data *o = fundus_calloc(1, sizeof *o);

	*out = NULL;
	if (o == NULL)
		return FUNDUS_ENOMEM;
	o->items = fundus_calloc(n ? n : 1, sizeof *o->items);
	o->labels = fundus_calloc((size_t)d->nlabels + 1, sizeof *o->labels);
	if (o->items == NULL || o->labels == NULL)
		goto nomem;
	for (int i = 0; i < d->nlabels; i++) {
		o->labels[i] = fundus_strdup(d->labels[i]);
		if (o->labels[i] == NULL)
			goto nomem;
		o->nlabels++;
	}
	*out = o;
	return 0;
nomem:
	fundus_train_data_free(o);
	return FUNDUS_ENOMEM;
}

int fundus__titem_copy(struct fundus__titem *dst, const struct fundus__titem *src)
{
	size_t nb = (size_t)(src->n ? src->n : 1);

	memset(dst, 0, sizeof *dst);
	dst->orig_w = src->orig_w;
	dst->orig_h = src->orig_h;
	dst->n = src->n;
	memcpy(dst->hash, src->hash, sizeof dst->hash);
	dst->boxes = fundus_malloc(nb * sizeof *dst->boxes);
	dst->labels = fundus_malloc(nb * sizeof *dst->labels);
	if (dst->boxes == NULL || dst->labels == NULL || fundus_image_dup(src->img, &dst->img) < 0 ||
	    fundus_record_dup(src->rec, &dst->rec) < 0) {
		item_clear(dst);
		return FUNDUS_ENOMEM;
	}
	memcpy(dst->boxes, src->boxes, (size_t)src->n * sizeof *dst->boxes);
	memcpy(dst->labels, src->labels, (size_t)src->n * sizeof *dst->labels);
	return 0;
}

/* The index of a label name, or -1. */
static int label_index(char *const *labels, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(labels[i], name) == 0)
			return i;
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends a copy of name to d's labels, growing them (cap) as needed. */
static int push_label(struct fundus_train_data *d, size_t *cap, const char *name)
{
	if (d->nlabels >= FUNDUS_NET_MAX_LABELS)
		return fundus_error_set(FUNDUS_ELIMIT, "more than %d labels", FUNDUS_NET_MAX_LABELS);
	if ((size_t)d->nlabels + 1 >= *cap) {
		char **nl = fundus_realloc(d->labels, 2 * *cap * sizeof *nl);

		if (nl == NULL)
			return FUNDUS_ENOMEM;
		d->labels = nl;
		*cap *= 2;
	}
	d->labels[d->nlabels] = fundus_strdup(name);
	if (d->labels[d->nlabels] == NULL)
		return FUNDUS_ENOMEM;
	d->nlabels++;
	return 0;
}

/* The label names: given, or every label of the records, sorted. */
static int collect_labels(struct fundus_train_data *d, struct fundus_record *const *r, size_t n,
			  const struct fundus_train_data_params *p)
{
	size_t cap = 8;
	int rc;

	d->labels = fundus_calloc(cap, sizeof *d->labels);
	if (d->labels == NULL)
		return FUNDUS_ENOMEM;
	if (p->labels) {
		for (int i = 0; i < p->nlabels; i++)
			if ((rc = push_label(d, &cap, p->labels[i])) < 0)
				return rc;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < r[i]->n_objects; j++) {
			const char *name = r[i]->objects[j].label;

			if (label_index(d->labels, d->nlabels, name) < 0 &&
			    (rc = push_label(d, &cap, name)) < 0)
				return rc;
		}
	qsort(d->labels, (size_t)d->nlabels, sizeof *d->labels, cmp_str);
	return 0;
}

/* What the decoding threads share. */
struct load_job {
	struct fundus_train_data *d;
	struct fundus_record *const *r;
	const struct fundus_train_data_params *p;
	int *rc;       /* per item */
	char **msg;    /* per item, on failure */
	long done;
	pthread_mutex_t mu;
};

/* Decodes item i: the file read once, hashed, decoded from memory. */
static int load_one(struct load_job *j, size_t i)
{
	struct fundus__titem *it = &j->d->items[i];
	const struct fundus_record *r = j->r[i];
	struct fundus_image_source *src = NULL;
	const struct fundus_image_info *info;
	struct fundus_read_options ro;
	uint8_t *bytes = NULL, dg[FUNDUS_SHA256_BYTES];
	char hex[FUNDUS_SHA256_HEX];
	size_t len = 0, nb = r->n_objects ? r->n_objects : 1;
	double kx, ky;
	int rc;

	if (r->image == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "record %zu has no image path", i + 1);
	rc = fundus_file_read(r->image, (size_t)1 << 31, &bytes, &len);
	if (rc < 0)
		return rc;
	fundus_sha256(bytes, len, dg);
	fundus_sha256_hex(dg, hex);
	snprintf(it->hash, sizeof it->hash, "sha256:%s", hex);
	rc = fundus_image_open_memory(&src, bytes, len, NULL);
	if (rc < 0)
		goto out;
	info = fundus_image_source_info(src);
	fundus_read_options_default(&ro);
	ro.scale = fundus_image_fit_scale(info->width, info->height, j->p->min_side);
	rc = fundus_image_read(src, &ro, &it->img);
	if (rc < 0)
		goto out;
	/*
	 * Shrunk by averaging to little more than the network needs: the
	 * augmentation samples bilinearly, which would alias fine vessels
	 * from a source more than twice its size, where detection averages.
	 */
	if (j->p->max_side > 0 && (it->img->width > j->p->max_side || it->img->height > j->p->max_side)) {
		struct fundus_image *small = NULL;
		double k = (double)j->p->max_side /
			   (it->img->width > it->img->height ? it->img->width : it->img->height);
		int w = (int)lround(it->img->width * k), h = (int)lround(it->img->height * k);

		rc = fundus_image_resize(it->img, w > 0 ? w : 1, h > 0 ? h : 1, &small);
		if (rc < 0)
			goto out;
		fundus_image_free(it->img);
		it->img = small;
	}
	it->orig_w = info->width;
	it->orig_h = info->height;
	kx = (double)it->img->width / info->width;
	ky = (double)it->img->height / info->height;
	it->boxes = fundus_malloc(nb * sizeof *it->boxes);
	it->labels = fundus_malloc(nb * sizeof *it->labels);
	if (it->boxes == NULL || it->labels == NULL || fundus_record_dup(r, &it->rec) < 0) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < r->n_objects; k++) {
		const struct fundus_object *o = &r->objects[k];
		int li = label_index(j->d->labels, j->d->nlabels, o->label);

		if (li < 0) {
			rc = fundus_error_set(FUNDUS_EINVAL, "label '%s' is not one of the model's",
					      o->label);
			goto out;
		}
		it->boxes[it->n].x0 = o->bbox.x0 * kx;
		it->boxes[it->n].y0 = o->bbox.y0 * ky;
		it->boxes[it->n].x1 = o->bbox.x1 * kx;
		it->boxes[it->n].y1 = o->bbox.y1 * ky;
		it->labels[it->n++] = li;
	}
out:
	fundus_image_close(src);
	fundus_free(bytes);
	return rc;
}

/* Decodes the items [b, e). */
static void load_range(void *arg, size_t b, size_t e, int worker)
{
	struct load_job *j = arg;

	for (size_t i = b; i < e; i++) {
		long done;

		j->rc[i] = load_one(j, i);
		if (j->rc[i] < 0)
			j->msg[i] = fundus_strdup(fundus_errmsg());
		pthread_mutex_lock(&j->mu);
		done = ++j->done;
		pthread_mutex_unlock(&j->mu);
		if (worker == 0 && j->p->progress)
			fundus_progress_report(j->p->progress, "decoding", done, (int64_t)j->d->n);
	}
}

int fundus_train_data_new(struct fundus_train_data **out, struct fundus_record *const *r,
			  size_t n, const struct fundus_train_data_params *p)
{
	struct fundus_train_data *d;
	struct fundus_pool *pool = NULL;
	struct load_job j;
	size_t kept = 0;
	int rc;

	*out = NULL;
	memset(&j, 0, sizeof j);
	d = fundus_calloc(1, sizeof *d);
	if (d == NULL)
		return FUNDUS_ENOMEM;
	rc = collect_labels(d, r, n, p);
	if (rc < 0)
		goto fail;
	d->items = fundus_calloc(n ? n : 1, sizeof *d->items);
	j.rc = fundus_calloc(n ? n : 1, sizeof *j.rc);
	j.msg = fundus_calloc(n ? n : 1, sizeof *j.msg);
	if (d->items == NULL || j.rc == NULL || j.msg == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	d->n = n;
	j.d = d;
	j.r = r;
	j.p = p;
	pthread_mutex_init(&j.mu, NULL);
	rc = fundus_pool_new(&pool, p->threads > 0 ? p->threads : 1);
	if (rc < 0)
		goto fail_mu;
	fundus_pool_for(pool, n, load_range, &j);
	fundus_pool_free(pool);
	/* Report failures in order; drop the items the caller lets go. */
	for (size_t i = 0; i < n; i++) {
		if (j.rc[i] >= 0) {
			if (kept != i) {
				d->items[kept] = d->items[i];
				memset(&d->items[i], 0, sizeof d->items[i]);
			}
			kept++;
			continue;
		}
		if (j.rc[i] == FUNDUS_ENOMEM || p->on_error == NULL ||
		    p->on_error(p->ud, i, r[i]->image ? r[i]->image : "", j.rc[i],
				j.msg[i] ? j.msg[i] : "")) {
			rc = fundus_error_set(j.rc[i], "%s", j.msg[i] ? j.msg[i] : "");
			goto fail_mu;
		}
		item_clear(&d->items[i]);
	}
	d->n = kept;
	rc = 0;
fail_mu:
	pthread_mutex_destroy(&j.mu);
fail:
	if (j.msg)
		for (size_t i = 0; i < n; i++)
			fundus_free(j.msg[i]);
	fundus_free(j.msg);
	fundus_free(j.rc);
	if (rc < 0) {
		fundus_train_data_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int fundus_train_data_split(const struct fundus_train_data *d, double fraction, uint64_t seed,
			    struct fundus_train_data **train, struct fundus_train_data **val)
{
	struct fundus_train_data *t = NULL, *v = NULL;
	struct fundus_rng rng;
	size_t *order = NULL, nv, picked = 0;
	char *side = NULL;
	int rc;

	*train = *val = NULL;
	if (!(fraction >= 0 && fraction < 1))
		return fundus_error_set(FUNDUS_EINVAL, "the validation fraction must be in [0, 1)");
	nv = (size_t)llround((double)d->n * fraction);
	if (fraction > 0 && nv == 0 && d->n > 1)
		nv = 1;
	order = fundus_malloc((d->n ? d->n : 1) * sizeof *order);
	side = fundus_calloc(d->n ? d->n : 1, 1);
	if (order == NULL || side == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	fundus_rng_seed(&rng, seed);
	for (size_t i = 0; i < d->n; i++)
		order[i] = i;
	fundus_rng_shuffle(&rng, order, d->n);
	/* Take images in shuffled order with their twins (same bytes) until nv are taken. */
	for (size_t i = 0; i < d->n && picked < nv; i++) {
		const struct fundus__titem *a = &d->items[order[i]];

		if (side[order[i]])
			continue;
		for (size_t k = 0; k < d->n; k++)
			if (!side[k] && strcmp(d->items[k].hash, a->hash) == 0) {
				side[k] = 1;
				picked++;
			}
	}
	rc = fundus__tdata_alloc(&t, d, d->n - picked);
	if (rc >= 0)
		rc = fundus__tdata_alloc(&v, d, picked);
	for (size_t i = 0; rc >= 0 && i < d->n; i++) {
		struct fundus_train_data *to = side[i] ? v : t;

		rc = fundus__titem_copy(&to->items[to->n], &d->items[i]);
		if (rc >= 0)
			to->n++;
	}
out:
	fundus_free(order);
	fundus_free(side);
	if (rc < 0) {
		fundus_train_data_free(t);
		fundus_train_data_free(v);
		return rc;
	}
	*train = t;
	*val = v;
	return 0;
}

int fundus_train_data_head(const struct fundus_train_data *d, size_t n,
			   struct fundus_train_data **out)
{
	struct fundus_train_data *o;
	int rc;

	*out = NULL;
	if (n > d->n)
		n = d->n;
	rc = fundus__tdata_alloc(&o, d, n);
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		rc = fundus__titem_copy(&o->items[i], &d->items[i]);
		if (rc >= 0)
			o->n++;
	}
	if (rc < 0) {
		fundus_train_data_free(o);
		return rc;
	}
	*out = o;
	return 0;
}
