/*
 * The workers: a bounded queue of detection jobs and a fixed number of
 * threads, each owning one inference context over the shared detector.
 * The requester waits for its job until the job's deadline; a job whose
 * requester gave up is freed by the worker that holds it, so neither side
 * ever frees memory the other may still touch.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fundus/record.h"
#include "fundus/sha256.h"
#include "serve.h"

struct worker {
	pthread_t thread;
	struct serve_model *model; /* what ctx was made for; the worker holds a reference */
	struct fundus_detect_ctx *ctx;
};

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static struct serve_job *head, *tail;
static int queued, running, idle, stopping;
static struct serve_work_options opt;
static struct worker *workers;
static int n_started;

struct serve_job *serve_job_new(void)
{
	struct serve_job *job = fundus_calloc(1, sizeof *job);
	pthread_condattr_t attr;

	if (job == NULL)
		return NULL;
	/* Deadlines are on the monotonic clock: a clock step must not end them. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (pthread_cond_init(&job->cond, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		fundus_free(job);
		return NULL;
	}
	pthread_condattr_destroy(&attr);
	return job;
}

void serve_job_free(struct serve_job *job)
{
	if (job == NULL)
		return;
	pthread_cond_destroy(&job->cond);
	fundus_free(job->data);
	fundus_free(job->filename);
	fundus_free(job->body);
	fundus_free(job);
}

char *serve_json_error(int status, const char *msg, size_t *len)
{
	cJSON *o = cJSON_CreateObject();
	char *text, *out = NULL;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "error", msg) &&
	    cJSON_AddNumberToObject(o, "status", status) &&
	    (text = cJSON_PrintUnformatted(o)) != NULL) {
		size_t n = strlen(text);

		/* cJSON's buffers come from its hooks: copy into one of ours, with a newline. */
		out = fundus_malloc(n + 2);
		if (out) {
			memcpy(out, text, n);
			out[n] = '\n';
			out[n + 1] = '\0';
			*len = n + 1;
		}
		cJSON_free(text);
	}
	cJSON_Delete(o);
	return out;
}

/* Sets a job's answer to a JSON error. */
static void job_error(struct serve_job *job, int status, const char *msg)
{
	fundus_free(job->body);
	job->body = serve_json_error(status, msg, &job->body_len);
	job->status = job->body ? status : 500;
}

/* The HTTP status for a library error about the uploaded image. */
static int image_status(int rc)
{
	switch (rc) {
	case FUNDUS_EUNSUPPORTED: return 415;
	case FUNDUS_EFORMAT:
	case FUNDUS_ELIMIT:
	case FUNDUS_EOVERFLOW:
	case FUNDUS_EINVAL: return 422;
	case FUNDUS_ECANCELED: return 504;
	default: return 500;
	}
}

/* Progress callback of the decode: stops it when the job's time is up. */
static int before_deadline(void *ud, const char *what, int64_t done, int64_t total)
{
	const struct serve_job *job = ud;

	return fundus_now() > job->deadline;
}

/* Drops a worker's context and its reference on the model. */
static void worker_drop(struct worker *w)
{
	fundus_detect_ctx_free(w->ctx);
	w->ctx = NULL;
	serve_model_put(w->model);
	w->model = NULL;
}

/*
 * Makes sure the worker has a context over the current model: a reload
 * since its last job means a new context (and the old model's reference
 * given back). Returns 0 or a library error.
 */
static int worker_ready(struct worker *w)
{
	struct serve_model *m = serve_model_get();
	int rc;

	if (m == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "no model is loaded");
	if (m == w->model && w->ctx) {
		serve_model_put(m);
		return 0;
	}
	worker_drop(w);
	w->model = m;
	if ((rc = fundus_detect_ctx_new(&w->ctx, m->det, opt.threads)) < 0)
		worker_drop(w);
	return rc;
}

/* Seconds rounded to microseconds, as fundus-detect writes them. */
static double usec(double s)
{
	return round(s * 1e6) / 1e6;
}

/*
 * Sets the record's "detect" member as fundus-detect --timings does: the
 * model's id, the decode scale and the seconds of each step, with the
 * server's own steps added: read (receiving the upload), queue (waiting
 * for a worker) and total (from the first byte to the record).
 */
static int add_provenance(struct fundus_record *r, const struct fundus_detector *det, int scale,
			  const double t[7])
{
	static const char *const names[7] = {"read",  "queue", "decode", "prepare",
					     "infer", "boxes", "total"};
	cJSON *d, *s;

	if (r->extra == NULL && (r->extra = cJSON_CreateObject()) == NULL)
		return FUNDUS_ENOMEM;
	if ((d = cJSON_AddObjectToObject(r->extra, "detect")) == NULL ||
	    !cJSON_AddStringToObject(d, "model", fundus_detector_id(det)) ||
	    !cJSON_AddNumberToObject(d, "scale", scale) ||
	    (s = cJSON_AddObjectToObject(d, "seconds")) == NULL)
		return FUNDUS_ENOMEM;
	for (int i = 0; i < 7; i++)
		if (!cJSON_AddNumberToObject(s, names[i], usec(t[i])))
			return FUNDUS_ENOMEM;
	return 0;
}

/* Decodes the job's image, runs the detector and writes the answer into the job. */
static void run_job(struct worker *w, struct serve_job *job)
{
	struct fundus_image_limits lim;
	struct fundus_read_options ro;
	struct fundus_progress prog = {before_deadline, job};
	struct fundus_image_source *src = NULL;
	struct fundus_image *img = NULL;
	struct fundus_record *r = NULL;
	struct fundus_detect_timing tm = {0};
	const struct fundus_image_info *info;
	const struct fundus_detection *dets;
	uint8_t digest[FUNDUS_SHA256_BYTES];
	char hex[FUNDUS_SHA256_HEX], id[8 + FUNDUS_SHA256_HEX], msg[256];
	double start = fundus_now(), t[7];
	int n, rc;

	if ((rc = worker_ready(w)) < 0) {
		job_error(job, 500, fundus_errmsg());
		return;
	}
	fundus_image_limits_default(&lim);
	lim.max_pixels = opt.max_pixels;
	if ((rc = fundus_image_open_memory(&src, job->data, job->len, &lim)) < 0) {
		job_error(job, image_status(rc), fundus_errmsg());
		return;
	}
	info = fundus_image_source_info(src);
	if ((int64_t)info->width * info->height > opt.max_pixels) {
		snprintf(msg, sizeof msg, "image is %d x %d, more than the limit of %lld pixels",
			 info->width, info->height, (long long)opt.max_pixels);
		job_error(job, 422, msg);
		goto out;
	}
	fundus_read_options_default(&ro);
	ro.scale = fundus_detector_scale(w->model->det, info->width, info->height);
	ro.progress = &prog;
	if ((rc = fundus_image_read(src, &ro, &img)) < 0) {
		job_error(job, image_status(rc),
			  rc == FUNDUS_ECANCELED ? "the request ran out of time" : fundus_errmsg());
		goto out;
	}
	t[2] = fundus_now() - start;
	rc =
	    fundus_detect_run(w->ctx, img, info->width, info->height, &job->params, &dets, &n, &tm);
	if (rc < 0) {
		job_error(job, 500, fundus_errmsg());
		goto out;
	}
	fundus_sha256(job->data, job->len, digest);
	fundus_sha256_hex(digest, hex);
	snprintf(id, sizeof id, "sha256:%s", hex);
	/* The form's file name stands where fundus-detect puts the path it read. */
	if ((rc = fundus_record_new(&r)) < 0 ||
	    (rc = fundus_record_set_string(&r->image, job->filename)) < 0 ||
	    (rc = fundus_record_set_string(&r->id, id)) < 0 ||
	    (rc = fundus_detect_to_record(w->model->det, dets, n, r)) < 0) {
		job_error(job, 500, fundus_errmsg());
		goto out;
	}
	r->width = info->width;
	r->height = info->height;
	t[0] = job->enqueued - job->start;
	t[1] = start - job->enqueued;
	t[3] = tm.prepare;
	t[4] = tm.infer;
	t[5] = tm.decode;
	t[6] = fundus_now() - job->start;
	if (add_provenance(r, w->model->det, ro.scale, t) < 0) {
		job_error(job, 500, "out of memory");
		goto out;
	}
	rc = fundus_record_format(r, &job->body, &job->body_len);
	if (rc == FUNDUS_EINVAL && r->image) {
		/* A file name that is not UTF-8 cannot be in a record: leave it out. */
		fundus_record_set_string(&r->image, NULL);
		rc = fundus_record_format(r, &job->body, &job->body_len);
	}
	if (rc < 0) {
		job_error(job, 500, fundus_errmsg());
		goto out;
	}
	job->status = 200;
out:
	fundus_record_free(r);
	fundus_image_free(img);
	fundus_image_close(src);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct serve_job *job;

	pthread_mutex_lock(&qlock);
	for (;;) {
		while (head == NULL && !stopping) {
			/* After a reload, an idle worker lets go of the old model at once. */
			if (w->model && w->model->generation != serve_model_generation()) {
				pthread_mutex_unlock(&qlock);
				worker_drop(w);
				pthread_mutex_lock(&qlock);
				continue;
			}
			idle++;
			pthread_cond_wait(&qcond, &qlock);
			idle--;
		}
		if (head == NULL)
			break;
		job = head;
		head = job->next;
		if (head == NULL)
			tail = NULL;
		queued--;
		if (job->abandoned) {
			pthread_mutex_unlock(&qlock);
			serve_job_free(job);
			pthread_mutex_lock(&qlock);
			continue;
		}
		running++;
		pthread_mutex_unlock(&qlock);
		run_job(w, job);
		pthread_mutex_lock(&qlock);
		running--;
		job->done = 1;
		if (job->abandoned) {
			pthread_mutex_unlock(&qlock);
			serve_job_free(job);
			pthread_mutex_lock(&qlock);
		} else {
			pthread_cond_signal(&job->cond);
		}
	}
	pthread_mutex_unlock(&qlock);
	worker_drop(w);
	return NULL;
}

int serve_work_start(const struct serve_work_options *o)
{
	int rc;

	opt = *o;
	workers = fundus_calloc((size_t)o->workers, sizeof *workers);
	if (workers == NULL)
		return FUNDUS_ENOMEM;
	for (n_started = 0; n_started < o->workers; n_started++) {
		if ((rc = pthread_create(&workers[n_started].thread, NULL, worker_main,
					 &workers[n_started])) != 0) {
			serve_work_stop();
			return fundus_error_errno(FUNDUS_EIO, rc, "cannot start a worker thread");
		}
	}
	return 0;
}

void serve_work_stop(void)
{
	pthread_mutex_lock(&qlock);
	stopping = 1;
	pthread_cond_broadcast(&qcond);
	pthread_mutex_unlock(&qlock);
	for (int i = 0; i < n_started; i++)
		pthread_join(workers[i].thread, NULL);
	fundus_free(workers);
	workers = NULL;
	n_started = 0;
}

int serve_work_submit(struct serve_job *job)
{
	struct timespec ts;
	double whole;

	pthread_mutex_lock(&qlock);
	/* Idle workers take a job at once; --queue more may wait for one. */
	if (stopping || queued >= opt.queue + idle) {
		pthread_mutex_unlock(&qlock);
		return 1;
	}
	job->enqueued = fundus_now();
	job->next = NULL;
	if (tail)
		tail->next = job;
	else
		head = job;
	tail = job;
	queued++;
	pthread_cond_signal(&qcond);
	/* fundus_now() reads CLOCK_MONOTONIC, the clock of job->cond. */
	ts.tv_nsec = (long)(modf(job->deadline, &whole) * 1e9);
	ts.tv_sec = (time_t)whole;
	while (!job->done) {
		if (pthread_cond_timedwait(&job->cond, &qlock, &ts) == ETIMEDOUT && !job->done) {
			job->abandoned = 1;
			pthread_mutex_unlock(&qlock);
			return 2;
		}
	}
	pthread_mutex_unlock(&qlock);
	return 0;
}

void serve_work_wake(void)
{
	pthread_mutex_lock(&qlock);
	pthread_cond_broadcast(&qcond);
	pthread_mutex_unlock(&qlock);
}

void serve_work_depth(int *q, int *r, int *capacity, int *w)
{
	pthread_mutex_lock(&qlock);
	*q = queued;
	*r = running;
	*capacity = opt.queue;
	*w = opt.workers;
	pthread_mutex_unlock(&qlock);
}
