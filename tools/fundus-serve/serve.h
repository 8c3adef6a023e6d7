/*
 * serve.h: the parts of fundus-serve and what they share.
 *
 *   main.c     options, start, signals (SIGHUP reloads, SIGTERM drains)
 *   model.c    the current model, reference-counted so that a reload never
 *              pulls a detector from under a request still using it
 *   work.c     the bounded queue and the workers, each with its own
 *              inference context over the shared read-only detector
 *   http.c     libmicrohttpd: routing, bodies, multipart forms, limits,
 *              the bearer token, JSON errors, the access log
 *   metrics.c  counters and the latency histogram, in Prometheus text
 *
 * Everything here is internal to the program; names are serve_...
 */
#ifndef FUNDUS_SERVE_H
#define FUNDUS_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fundus/detect.h"
#include "fundus/image.h"

/* Defaults, stated once for --help and main(); man/fundus-serve.1 repeats them. */
#define SERVE_DEFAULT_PORT        8080
#define SERVE_DEFAULT_QUEUE       32
#define SERVE_DEFAULT_MAX_BODY    33554432 /* bytes: 32 MiB */
#define SERVE_DEFAULT_MAX_PIXELS  100000000
#define SERVE_DEFAULT_TIMEOUT     30 /* seconds a request may take in all */
#define SERVE_DEFAULT_IDLE        15 /* seconds a connection may stay silent */
#define SERVE_DEFAULT_CONNECTIONS 256
#define SERVE_MAX_TOP             100000

/* A loaded model and the requests that still use it. */
struct serve_model {
	struct fundus_detector *det;
	int refs;            /* under the model lock; the server's own pointer counts */
	double load_seconds; /* how long fundus_detector_load() took */
	time_t loaded_at;
	unsigned generation; /* 1 for the first model, +1 per reload */
};

/*
 * Loads path as the current model (the first time, or on SIGHUP). On
 * failure the old model stays and the message is fundus_errmsg()'s.
 */
int serve_model_load(const char *path);
/* The current model with a reference taken; give it back with serve_model_put(). */
struct serve_model *serve_model_get(void);
void serve_model_put(struct serve_model *m);
/* The generation of the current model (cheap: for workers to notice a reload). */
unsigned serve_model_generation(void);
/* Reload counts: successful and failed. */
void serve_model_reloads(long *ok, long *failed);
/* Drops the server's reference at exit. */
void serve_model_shutdown(void);

/* A detection request on its way through the queue. */
struct serve_job {
	uint8_t *data; /* the image bytes, owned by the job */
	size_t len;
	char *filename; /* from a form field, or NULL; owned */
	struct fundus_detect_params params;
	double start, enqueued, deadline; /* fundus_now() seconds: first byte, queued, time limit */

	/* Filled by the worker. */
	int status; /* HTTP status */
	char *body; /* JSON, fundus_malloc'd, NUL-terminated */
	size_t body_len;

	/* Under the queue lock. */
	int done;      /* the worker has finished */
	int abandoned; /* the requester gave up (time limit): the worker frees the job */
	pthread_cond_t cond;
	struct serve_job *next;
};

struct serve_work_options {
	int workers;
	int queue;          /* jobs waiting beyond those being worked on */
	int64_t max_pixels; /* of the stored image */
	int threads;        /* threads of each inference context */
};

/* Starts the workers; 0 or -1 with fundus_errmsg() set. */
int serve_work_start(const struct serve_work_options *o);
/* Lets the workers finish what they hold, then joins them. */
void serve_work_stop(void);

/*
 * Hands a job to the workers and waits for it until its deadline.
 * Returns 0 when the job is done (job->status, body set; the caller frees
 * the job), 1 when the queue is full (the job is the caller's, untouched),
 * 2 when the deadline passed first (the job now belongs to the workers).
 */
int serve_work_submit(struct serve_job *job);
/* A new job with its condition variable; NULL when out of memory. */
struct serve_job *serve_job_new(void);
void serve_job_free(struct serve_job *job);

/* Wakes idle workers so that they let go of a model replaced by a reload. */
void serve_work_wake(void);

/* Queue depth and jobs being worked on, for /metrics. */
void serve_work_depth(int *queued, int *running, int *capacity, int *workers);

/*
 * Makes a JSON error body {"error": msg, "status": status}; NULL when out
 * of memory. fundus_free() it.
 */
char *serve_json_error(int status, const char *msg, size_t *len);

/* Metrics: counted at the end of each request. */
enum serve_route {
	SERVE_ROUTE_PAGE,
	SERVE_ROUTE_DETECT,
	SERVE_ROUTE_HEALTHZ,
	SERVE_ROUTE_READYZ,
	SERVE_ROUTE_METRICS,
	SERVE_ROUTE_MODEL,
	SERVE_ROUTE_OPENAPI,
	SERVE_ROUTE_OTHER,
	SERVE_N_ROUTES,
};
const char *serve_route_path(enum serve_route r);
void serve_metrics_count(enum serve_route r, int status, double seconds);
/* The Prometheus text exposition; fundus_free() it. NULL when out of memory. */
char *serve_metrics_text(size_t *len);

/* The HTTP side. */
struct serve_http_options {
	const char *listen; /* address to bind */
	int port;
	int64_t max_body;
	double timeout;    /* seconds for a whole request */
	int idle;          /* seconds a connection may stay silent */
	int connections;   /* at most this many at once */
	const char *token; /* bearer token, or NULL */
	const char *model_path;
	struct fundus_detect_params params; /* the defaults of a request */
	int log_fd;                         /* access log, or -1 */
};

/* Starts listening; returns the port bound, or -1 after a message on stderr. */
int serve_http_start(const struct serve_http_options *o);
/* Stops accepting connections and answers 503 to new requests. */
void serve_http_quiesce(void);
/* Requests between their first byte and their last, for draining. */
int serve_http_active(void);
void serve_http_stop(void);

/* The files embedded in the program (tools/fundus-serve/www/). */
struct serve_asset {
	const char *name; /* "index.html" */
	const char *data;
	size_t len;
};
extern const struct serve_asset serve_assets[]; /* ends with a NULL name */

#endif
