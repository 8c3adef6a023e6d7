/*
 * The workers. Each thread has its own detection context (one thread
 * each: the threads, not the network, share the cores) and takes whole
 * images in input order: it reads the file once into memory, hashes those
 * bytes for the record's id, decodes them from memory at the smallest
 * scale the network still sees whole, detects, formats the record and
 * draws the overlay. So with two threads one image decodes while the other
 * runs the network, and no file is read twice. The results wait in their
 * input slots until the main thread writes them, in input order.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "fdetect.h"
#include "fundus/file.h"
#include "tool.h"

struct work {
	struct work_options opt;
	const struct jobs *js;
	struct result *res;
	struct fundus_detect_ctx **ctx;
	pthread_t *th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t next; /* the next job a worker takes */
	int stop;
};

struct worker_arg {
	struct work *w;
	struct fundus_detect_ctx *dc;
};

/* Marks a result failed: "<what> '<path>': <the library's message>". */
static void fail(struct result *res, const char *what, const char *path)
{
	const char *why = fundus_errmsg();
	size_t len;

	if (why[0] == '\0')
		why = "unknown error";
	len = strlen(what) + strlen(path) + strlen(why) + 8;
	res->kind = RESULT_FAILED;
	res->msg = fundus_malloc(len);
	if (res->msg)
		snprintf(res->msg, len, "%s '%s': %s", what, path, why);
}

/* Seconds rounded to microseconds, so that records stay short. */
static double usec(double s)
{
	return round(s * 1e6) / 1e6;
}

/*
 * Sets the record's "detect" member: the model's id, the decode scale,
 * and with timings the seconds each step took. Replaces one an input
 * record had (from an earlier detection). 0 or FUNDUS_ENOMEM.
 */
static int add_provenance(const struct work_options *o, struct fundus_record *r, int scale,
			  const double t[5])
{
	cJSON *d = cJSON_CreateObject();

	if (d == NULL)
		return FUNDUS_ENOMEM;
	if (r->extra)
		cJSON_DeleteItemFromObjectCaseSensitive(r->extra, "detect");
	else if ((r->extra = cJSON_CreateObject()) == NULL)
		goto nomem;
	if (!cJSON_AddStringToObject(d, "model", fundus_detector_id(o->det)) ||
	    !cJSON_AddNumberToObject(d, "scale", scale))
		goto nomem;
	if (o->timings) {
		static const char *const names[5] = {"read", "decode", "prepare", "infer", "boxes"};
		cJSON *s = cJSON_AddObjectToObject(d, "seconds");

		if (s == NULL)
			goto nomem;
		for (int i = 0; i < 5; i++)
			if (!cJSON_AddNumberToObject(s, names[i], usec(t[i])))
				goto nomem;
	}
	if (!cJSON_AddItemToObject(r->extra, "detect", d))
		goto nomem;
	return 0;
nomem:
	cJSON_Delete(d);
	return FUNDUS_ENOMEM;
}

/* The record of an image: the input record's copy, or a new one naming the file. */
static int make_record(const struct job *j, struct fundus_record **out)
{
	int rc;

	if (j->rec)
		return fundus_record_dup(j->rec, out);
	if ((rc = fundus_record_new(out)) < 0)
		return rc;
	if ((rc = fundus_record_set_string(&(*out)->image, j->path)) < 0) {
		fundus_record_free(*out);
		*out = NULL;
	}
	return rc;
}

/*
 * The name a person knows the image by, for overlays and the contact
 * sheet: the original file's (source.path, from fundus-ingest) when the
 * record has one, since a dataset's stored files are named by their hash;
 * else the path read. Borrowed from r or j.
 */
static const char *shown_path(const struct job *j, const struct fundus_record *r)
{
	const cJSON *p = r->source ? cJSON_GetObjectItemCaseSensitive(r->source, "path") : NULL;

	return cJSON_IsString(p) && p->valuestring[0] ? p->valuestring : j->path;
}

/* The caption of an image's thumbnail: its file name and best score; NULL when out of memory. */
static char *caption(const char *path, const struct fundus_record *r)
{
	const char *base = strrchr(path, '/');
	char cap[256];

	base = base ? base + 1 : path;
	if (r->n_objects)
		snprintf(cap, sizeof cap, "%s %.2f", base, r->objects[0].score);
	else
		snprintf(cap, sizeof cap, "%s: none", base);
	return fundus_strdup(cap);
}

/* Detects in one image, filling res. */
static void process(struct work *w, struct fundus_detect_ctx *dc, const struct job *j,
		    struct result *res)
{
	const struct work_options *o = &w->opt;
	struct fundus_image_source *src = NULL;
	struct fundus_image *img = NULL;
	struct fundus_record *r = NULL;
	const struct fundus_image_info *info;
	const struct fundus_detection *dets;
	struct fundus_detect_timing tm;
	struct fundus_read_options ro;
	uint8_t *data = NULL;
	double t[5], t0 = fundus_now(), t1;
	char id[80], *overlay = NULL;
	size_t len;
	int rc, n, scale;

	fundus_error_clear();
	if (fundus_file_read(j->path, o->max_bytes, &data, &len) < 0) {
		fail(res, "cannot read", j->path);
		goto out;
	}
	fundus_sha256(data, len, res->digest);
	if (o->done && done_has(o->done, res->digest)) {
		res->kind = RESULT_DONE;
		goto out;
	}
	t1 = fundus_now();
	t[0] = t1 - t0;
	rc = fundus_image_open_memory(&src, data, len, &o->limits);
	if (rc == FUNDUS_EUNSUPPORTED && j->from_folder && fundus_image_probe(data, len) == NULL) {
		res->kind = RESULT_NOTIMAGE;
		goto out;
	}
	if (rc < 0) {
		fail(res, "cannot decode", j->path);
		goto out;
	}
	info = fundus_image_source_info(src);
	scale = fundus_detector_scale(o->det, info->width, info->height);
	if (o->overlay.dir || o->overlay.tile) {
		/* One decode for both: the overlay's, when it needs more pixels. */
		int side = o->overlay.dir ? o->overlay.size : o->overlay.tile;
		int s = side ? fundus_image_fit_scale(info->width, info->height, side) : 1;

		if (s < scale)
			scale = s;
	}
	fundus_read_options_default(&ro);
	ro.scale = scale;
	if (fundus_image_read(src, &ro, &img) < 0) {
		fail(res, "cannot decode", j->path);
		goto out;
	}
	t[1] = fundus_now() - t1;
	if (fundus_detect_run(dc, img, info->width, info->height, &o->params, &dets, &n, &tm) < 0) {
		fail(res, "cannot detect in", j->path);
		goto out;
	}
	t[2] = tm.prepare;
	t[3] = tm.infer;
	t[4] = tm.decode;
	id_format(res->digest, id);
	if (make_record(j, &r) < 0 || fundus_record_set_string(&r->id, id) < 0) {
		fail(res, "cannot detect in", j->path);
		goto out;
	}
	r->width = info->width;
	r->height = info->height;
	fundus_record_clear_objects(r);
	if (fundus_detect_to_record(o->det, dets, n, r) < 0 || add_provenance(o, r, scale, t) < 0) {
		fail(res, "cannot detect in", j->path);
		goto out;
	}
	if (o->overlay.dir) {
		rc = overlay_write(&o->overlay, img, info->width, info->height, r, shown_path(j, r),
				   id, &overlay);
		if (rc < 0) {
			fail(res, "cannot draw the overlay of", j->path);
			goto out;
		}
		fundus_free(overlay);
	}
	if (o->overlay.tile && overlay_draw(img, info->width, info->height, r, NULL,
					    o->overlay.tile, &res->tile) < 0) {
		fail(res, "cannot draw the thumbnail of", j->path);
		goto out;
	}
	if (o->overlay.tile && (res->caption = caption(shown_path(j, r), r)) == NULL) {
		fail(res, "cannot draw the thumbnail of", j->path);
		goto out;
	}
	if (fundus_record_format(r, &res->line, &res->len) < 0) {
		fail(res, "cannot write the record of", j->path);
		goto out;
	}
	if (o->keep_records) {
		res->rec = r;
		r = NULL;
	}
	res->kind = RESULT_RECORD;
out:
	res->seconds = fundus_now() - t0;
	fundus_record_free(r);
	fundus_image_free(img);
	fundus_image_close(src);
	fundus_free(data);
}

/* A worker thread: takes the next job until none is left or the run stops. */
static void *worker(void *arg)
{
	struct worker_arg *a = arg;
	struct work *w = a->w;

	for (;;) {
		struct result r = {0};
		size_t i;

		pthread_mutex_lock(&w->mu);
		if (w->stop || w->next >= w->js->n) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		i = w->next++;
		pthread_mutex_unlock(&w->mu);
		process(w, a->dc, &w->js->v[i], &r);
		if (r.kind == RESULT_PENDING) /* out of memory for the message itself */
			r.kind = RESULT_FAILED;
		pthread_mutex_lock(&w->mu);
		w->res[i] = r;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	fundus_free(a);
	return NULL;
}

int work_start(struct work **out, const struct work_options *o, const struct jobs *js)
{
	struct work *w = fundus_calloc(1, sizeof *w);

	*out = NULL;
	if (w == NULL) {
		tool_error("out of memory");
		return -1;
	}
	w->opt = *o;
	w->js = js;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((w->res = fundus_calloc(js->n + 1, sizeof *w->res)) == NULL ||
	    (w->ctx = fundus_calloc((size_t)o->threads, sizeof *w->ctx)) == NULL ||
	    (w->th = fundus_calloc((size_t)o->threads, sizeof *w->th)) == NULL) {
		tool_error("out of memory");
		goto fail;
	}
	for (int i = 0; i < o->threads; i++)
		if (fundus_detect_ctx_new(&w->ctx[i], o->det, 1) < 0) {
			tool_lib_error("cannot prepare the detector", NULL);
			goto fail;
		}
	for (int i = 0; i < o->threads; i++) {
		struct worker_arg *a = fundus_malloc(sizeof *a);

		if (a == NULL) {
			tool_error("out of memory");
			goto fail;
		}
		a->w = w;
		a->dc = w->ctx[i];
		if (pthread_create(&w->th[i], NULL, worker, a) != 0) {
			fundus_free(a);
			tool_error("cannot start a thread");
			goto fail;
		}
		w->started++;
	}
	*out = w;
	return 0;
fail:
	work_free(w);
	return -1;
}

struct result *work_wait(struct work *w, size_t i)
{
	pthread_mutex_lock(&w->mu);
	while (w->res[i].kind == RESULT_PENDING)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return &w->res[i];
}

void work_release(struct work *w, size_t i)
{
	fundus_free(w->res[i].line);
	fundus_free(w->res[i].msg);
	fundus_record_free(w->res[i].rec);
	fundus_image_free(w->res[i].tile);
	fundus_free(w->res[i].caption);
	w->res[i].line = w->res[i].msg = w->res[i].caption = NULL;
	w->res[i].rec = NULL;
	w->res[i].tile = NULL;
}

void work_free(struct work *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->started; i++)
		pthread_join(w->th[i], NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	for (size_t i = 0; w->res && i < w->js->n; i++)
		work_release(w, i);
	for (int i = 0; w->ctx && i < w->opt.threads; i++)
		fundus_detect_ctx_free(w->ctx[i]);
	fundus_free(w->ctx);
	fundus_free(w->th);
	fundus_free(w->res);
	fundus_free(w);
}
