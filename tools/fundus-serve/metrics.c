/*
 * Counters of the requests answered, by route and status, a latency
 * histogram by route, and the Prometheus text exposition of them with the
 * queue and the model.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "serve.h"

static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
				0.25,  0.5,    1,     2.5,  5,     10,   30};
#define N_BOUNDS (sizeof bounds / sizeof bounds[0])

struct route_stats {
	long by_status[600];
	long buckets[N_BOUNDS]; /* cumulative counts are made when printing */
	long count;
	double sum;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct route_stats stats[SERVE_N_ROUTES];

const char *serve_route_path(enum serve_route r)
{
	static const char *const paths[] = {"/",        "/v1/detect", "/healthz",      "/readyz",
					    "/metrics", "/v1/model",  "/openapi.json", "other"};

	return r < SERVE_N_ROUTES ? paths[r] : "other";
}

void serve_metrics_count(enum serve_route r, int status, double seconds)
{
	struct route_stats *s = &stats[r < SERVE_N_ROUTES ? r : SERVE_ROUTE_OTHER];
	size_t b;

	pthread_mutex_lock(&lock);
	if (status >= 100 && status < 600)
		s->by_status[status]++;
	for (b = 0; b < N_BOUNDS && seconds > bounds[b]; b++)
		;
	if (b < N_BOUNDS)
		s->buckets[b]++;
	s->count++;
	s->sum += seconds;
	pthread_mutex_unlock(&lock);
}

/* A growing text buffer; on failure it is freed and stays NULL. */
struct text {
	char *p;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) FUNDUS_PRINTF(2, 3);
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->p == NULL)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			fundus_free(t->p);
			t->p = NULL;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		char *q = fundus_realloc(t->p, 2 * t->cap + (size_t)n);
		if (q == NULL) {
			fundus_free(t->p);
			t->p = NULL;
			return;
		}
		t->p = q;
		t->cap = 2 * t->cap + (size_t)n;
	}
}

char *serve_metrics_text(size_t *len)
{
	static struct route_stats copy[SERVE_N_ROUTES];
	static pthread_mutex_t copy_lock = PTHREAD_MUTEX_INITIALIZER;
	struct text t = {fundus_malloc(16384), 0, 16384};
	struct serve_model *m;
	int queued, running, capacity, workers;
	long ok, failed;

	/* One copy of the counters, taken at once, so the totals agree with each other. */
	pthread_mutex_lock(&copy_lock);
	pthread_mutex_lock(&lock);
	memcpy(copy, stats, sizeof copy);
	pthread_mutex_unlock(&lock);

	put(&t, "# HELP fundus_serve_requests_total HTTP requests answered, by path and status.\n"
		"# TYPE fundus_serve_requests_total counter\n");
	for (int r = 0; r < SERVE_N_ROUTES; r++)
		for (int code = 100; code < 600; code++)
			if (copy[r].by_status[code])
				put(&t,
				    "fundus_serve_requests_total{path=\"%s\",code=\"%d\"} %ld\n",
				    serve_route_path(r), code, copy[r].by_status[code]);
	put(&t, "# HELP fundus_serve_request_duration_seconds Time from a request's first byte to "
		"its answer.\n"
		"# TYPE fundus_serve_request_duration_seconds histogram\n");
	for (int r = 0; r < SERVE_N_ROUTES; r++) {
		long cum = 0;

		if (copy[r].count == 0)
			continue;
		for (size_t b = 0; b < N_BOUNDS; b++) {
			cum += copy[r].buckets[b];
			put(&t,
			    "fundus_serve_request_duration_seconds_bucket{path=\"%s\",le=\"%g\"} "
			    "%ld\n",
			    serve_route_path(r), bounds[b], cum);
		}
		put(&t,
		    "fundus_serve_request_duration_seconds_bucket{path=\"%s\",le=\"+Inf\"} %ld\n"
		    "fundus_serve_request_duration_seconds_sum{path=\"%s\"} %.6f\n"
		    "fundus_serve_request_duration_seconds_count{path=\"%s\"} %ld\n",
		    serve_route_path(r), copy[r].count, serve_route_path(r), copy[r].sum,
		    serve_route_path(r), copy[r].count);
	}
	pthread_mutex_unlock(&copy_lock);

	serve_work_depth(&queued, &running, &capacity, &workers);
	put(&t,
	    "# HELP fundus_serve_queue_depth Detection requests waiting for a worker.\n"
	    "# TYPE fundus_serve_queue_depth gauge\n"
	    "fundus_serve_queue_depth %d\n"
	    "# HELP fundus_serve_queue_capacity Requests that may wait before 503.\n"
	    "# TYPE fundus_serve_queue_capacity gauge\n"
	    "fundus_serve_queue_capacity %d\n"
	    "# HELP fundus_serve_jobs_running Detection requests being worked on.\n"
	    "# TYPE fundus_serve_jobs_running gauge\n"
	    "fundus_serve_jobs_running %d\n"
	    "# HELP fundus_serve_workers Worker threads.\n"
	    "# TYPE fundus_serve_workers gauge\n"
	    "fundus_serve_workers %d\n"
	    "# HELP fundus_serve_requests_in_progress Requests between their first byte and their "
	    "answer, this one included.\n"
	    "# TYPE fundus_serve_requests_in_progress gauge\n"
	    "fundus_serve_requests_in_progress %d\n",
	    queued, capacity, running, workers, serve_http_active());
	m = serve_model_get();
	if (m) {
		put(&t,
		    "# HELP fundus_serve_model_load_seconds How long loading the current model "
		    "took.\n"
		    "# TYPE fundus_serve_model_load_seconds gauge\n"
		    "fundus_serve_model_load_seconds %.6f\n"
		    "# HELP fundus_serve_model_loaded_timestamp_seconds When the current model was "
		    "loaded.\n"
		    "# TYPE fundus_serve_model_loaded_timestamp_seconds gauge\n"
		    "fundus_serve_model_loaded_timestamp_seconds %lld\n"
		    "# HELP fundus_serve_model_generation 1 for the first model, one more per "
		    "reload.\n"
		    "# TYPE fundus_serve_model_generation gauge\n"
		    "fundus_serve_model_generation %u\n",
		    m->load_seconds, (long long)m->loaded_at, m->generation);
		serve_model_put(m);
	}
	serve_model_reloads(&ok, &failed);
	put(&t,
	    "# HELP fundus_serve_model_reloads_total Reloads on SIGHUP, by result.\n"
	    "# TYPE fundus_serve_model_reloads_total counter\n"
	    "fundus_serve_model_reloads_total{result=\"ok\"} %ld\n"
	    "fundus_serve_model_reloads_total{result=\"failed\"} %ld\n",
	    ok, failed);
	if (t.p)
		*len = t.len;
	return t.p;
}
