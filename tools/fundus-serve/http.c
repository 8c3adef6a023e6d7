/*
 * The HTTP side of fundus-serve, on GNU libmicrohttpd: one thread per
 * connection (MHD's), which reads the request, checks it, hands a
 * detection to the workers and waits for it. MHD parses HTTP and multipart
 * bodies; this file only decides what to answer.
 *
 * Every request gets a struct req from the URI callback, which is the
 * first thing MHD calls, and loses it in the completion callback, which
 * MHD calls whenever a request it told us about ends, answered or not: that
 * is where the access log line is written and the metrics counted.
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "fundus/record.h"
#include "serve.h"
#include "tool.h"

/* A body past the limit without a Content-Length is read and dropped up to this much more. */
#define DISCARD_MAX (64L << 20)

enum { FIELD_THRESHOLD, FIELD_NMS, FIELD_TOP, N_FIELDS };
static const char *const field_names[N_FIELDS] = {"threshold", "nms", "top"};

struct req {
	enum serve_route route;
	double start;
	int called;  /* the access handler has seen the request */
	int detect;  /* a POST /v1/detect with the token: its body is the image */
	int status;  /* of the response queued; 0 before */
	size_t sent; /* bytes of its body */
	char method[16];
	char uri[512]; /* as sent, cut */

	/* POST /v1/detect */
	struct fundus_detect_params params;
	uint8_t *body;
	size_t len, cap;
	uint64_t received;
	int too_big;
	struct MHD_PostProcessor *pp;
	int images; /* image fields seen */
	char *filename;
	char field[N_FIELDS][32];
	size_t field_len[N_FIELDS];
	int field_set[N_FIELDS];
	char error[256]; /* why the request is bad (400), once known */
};

static struct serve_http_options opt;
static struct MHD_Daemon *daemon_;
static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static int active, draining;

int serve_http_active(void)
{
	int n;

	pthread_mutex_lock(&active_lock);
	n = active;
	pthread_mutex_unlock(&active_lock);
	return n;
}

static int is_draining(void)
{
	int d;

	pthread_mutex_lock(&active_lock);
	d = draining;
	pthread_mutex_unlock(&active_lock);
	return d;
}

/* Queues a response; body is copied. Extra headers come in name, value pairs, NULL-ended. */
static enum MHD_Result respond(struct MHD_Connection *c, struct req *rq, int status,
			       const char *type, const void *body, size_t len, int persistent, ...)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	const char *name, *value;
	va_list ap;

	resp = MHD_create_response_from_buffer(
	    len, (void *)body, persistent ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	va_start(ap, persistent);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		MHD_add_response_header(resp, name, value);
	}
	va_end(ap);
	if (is_draining())
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES) {
		rq->status = status;
		rq->sent = len;
	}
	return ret;
}

/* A JSON error answer, with extra headers as for respond(). */
static enum MHD_Result respond_error(struct MHD_Connection *c, struct req *rq, int status,
				     const char *msg, const char *h1, const char *v1)
{
	size_t len;
	char *body = serve_json_error(status, msg, &len);
	enum MHD_Result ret;

	if (body == NULL)
		return MHD_NO;
	ret = respond(c, rq, status, "application/json", body, len, 0, h1, v1, NULL);
	fundus_free(body);
	return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, struct req *rq, int status,
				    const char *body, size_t len)
{
	return respond(c, rq, status, "application/json", body, len, 0, NULL);
}

/* The embedded file called name, or NULL. */
static const struct serve_asset *asset(const char *name)
{
	for (const struct serve_asset *a = serve_assets; a->name; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* Parses one detection parameter into p; 0, or -1 with the reason in err. */
static int parse_param(struct fundus_detect_params *p, int which, const char *val, char *err,
		       size_t errlen)
{
	char *end;

	if (val == NULL || *val == '\0') {
		snprintf(err, errlen, "parameter %s needs a value", field_names[which]);
		return -1;
	}
	errno = 0;
	if (which == FIELD_TOP) {
		long v = strtol(val, &end, 10);

		if (errno || *end || v < 0 || v > SERVE_MAX_TOP) {
			snprintf(err, errlen, "parameter top: expected a whole number from 0 to %d",
				 SERVE_MAX_TOP);
			return -1;
		}
		p->top = (int)v;
		return 0;
	}
	double v = strtod(val, &end);

	if (errno || *end || !isfinite(v) || v < 0 || v > 1 || end == val) {
		snprintf(err, errlen, "parameter %s: expected a number from 0 to 1",
			 field_names[which]);
		return -1;
	}
	if (which == FIELD_THRESHOLD)
		p->threshold = (float)v;
	else
		p->nms = (float)v;
	return 0;
}

/* The index of a parameter's name, or -1. */
static int field_index(const char *key)
{
	for (int i = 0; i < N_FIELDS; i++)
		if (strcmp(key, field_names[i]) == 0)
			return i;
	return -1;
}

/* MHD iterator over the query: sets the detection parameters, or the request's error. */
static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct req *rq = cls;
	int i = field_index(key);

	if (i < 0) {
		snprintf(rq->error, sizeof rq->error,
			 "unknown query parameter '%.64s' (threshold, nms and top are known)", key);
		return MHD_NO;
	}
	if (parse_param(&rq->params, i, value, rq->error, sizeof rq->error) < 0)
		return MHD_NO;
	return MHD_YES;
}

/* Appends upload bytes to the request's image, or notes that it is too big. */
static int append(struct req *rq, const char *data, size_t size)
{
	size_t need;

	if (rq->too_big || size == 0)
		return 0;
	if (size > (size_t)opt.max_body - rq->len) {
		rq->too_big = 1;
		fundus_free(rq->body);
		rq->body = NULL;
		rq->len = rq->cap = 0;
		return 0;
	}
	need = rq->len + size;
	if (need > rq->cap) {
		size_t cap = rq->cap ? rq->cap : 65536;
		uint8_t *p;

		while (cap < need)
			cap = cap > (size_t)opt.max_body / 2 ? (size_t)opt.max_body : 2 * cap;
		if ((p = fundus_realloc(rq->body, cap)) == NULL)
			return -1;
		rq->body = p;
		rq->cap = cap;
	}
	memcpy(rq->body + rq->len, data, size);
	rq->len = need;
	return 0;
}

/* MHD iterator over a multipart form: the image field and the parameters. */
static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *filename, const char *content_type,
				  const char *transfer_encoding, const char *data, uint64_t off,
				  size_t size)
{
	struct req *rq = cls;
	int i;

	if (rq->error[0])
		return MHD_NO;
	if (key == NULL)
		key = "";
	if (strcmp(key, "image") == 0) {
		if (off == 0 && (rq->images == 0 || rq->len > 0 || rq->too_big)) {
			if (rq->images++ > 0) {
				snprintf(rq->error, sizeof rq->error,
					 "the form has more than one image field");
				return MHD_NO;
			}
			if (filename && rq->filename == NULL &&
			    (rq->filename = fundus_strndup(filename, 255)) == NULL)
				return MHD_NO;
		}
		if (append(rq, data, size) < 0) {
			snprintf(rq->error, sizeof rq->error, "out of memory");
			return MHD_NO;
		}
		return MHD_YES;
	}
	if ((i = field_index(key)) < 0) {
		snprintf(rq->error, sizeof rq->error,
			 "unknown form field '%.64s' (image, threshold, nms and top are known)",
			 key);
		return MHD_NO;
	}
	if (size > sizeof rq->field[i] - 1 - rq->field_len[i]) {
		snprintf(rq->error, sizeof rq->error, "form field %s is too long", field_names[i]);
		return MHD_NO;
	}
	memcpy(rq->field[i] + rq->field_len[i], data, size);
	rq->field_len[i] += size;
	rq->field[i][rq->field_len[i]] = '\0';
	rq->field_set[i] = 1;
	return MHD_YES;
}

/* Whether the request carries the bearer token (always, when none is set). */
static int authorised(struct MHD_Connection *c)
{
	const char *h;
	size_t n, m;
	unsigned char diff = 0;

	if (opt.token == NULL)
		return 1;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	m = strlen(opt.token);
	/* Compare every byte, so that the time taken says nothing about the token. */
	for (size_t i = 0; i < m; i++)
		diff |= (unsigned char)(opt.token[i] ^ (i < n ? h[i] : 0));
	return diff == 0 && n == m;
}

/* The model's description for GET /v1/model. */
static enum MHD_Result model_info(struct MHD_Connection *c, struct req *rq)
{
	struct serve_model *m = serve_model_get();
	const struct fundus_net *net;
	struct fundus_net_input in;
	cJSON *o = NULL, *labels, *input;
	char *text = NULL, when[32];
	struct tm tm;
	enum MHD_Result ret;

	if (m == NULL)
		return respond_error(c, rq, 503, "no model is loaded", NULL, NULL);
	net = fundus_detector_net(m->det);
	fundus_net_get_input(net, &in);
	gmtime_r(&m->loaded_at, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((o = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddStringToObject(o, "name", fundus_detector_name(m->det)) ||
	    !cJSON_AddStringToObject(o, "id", fundus_detector_id(m->det)) ||
	    !cJSON_AddStringToObject(o, "file", opt.model_path) ||
	    (labels = cJSON_AddArrayToObject(o, "labels")) == NULL)
		goto nomem;
	for (int i = 0; i < fundus_net_label_count(net); i++) {
		cJSON *s = cJSON_CreateString(fundus_net_label(net, i));

		if (s == NULL || !cJSON_AddItemToArray(labels, s)) {
			cJSON_Delete(s);
			goto nomem;
		}
	}
	if ((input = cJSON_AddObjectToObject(o, "input")) == NULL ||
	    !cJSON_AddNumberToObject(input, "width", in.width) ||
	    !cJSON_AddNumberToObject(input, "height", in.height) ||
	    !cJSON_AddNumberToObject(input, "channels", in.channels) ||
	    !cJSON_AddStringToObject(o, "loaded_at", when) ||
	    !cJSON_AddNumberToObject(o, "load_seconds", m->load_seconds) ||
	    !cJSON_AddNumberToObject(o, "generation", m->generation) ||
	    (text = cJSON_PrintUnformatted(o)) == NULL)
		goto nomem;
	serve_model_put(m);
	cJSON_Delete(o);
	ret = respond(c, rq, 200, "application/json", text, strlen(text), 0, NULL);
	cJSON_free(text);
	return ret;
nomem:
	serve_model_put(m);
	cJSON_Delete(o);
	return respond_error(c, rq, 500, "out of memory", NULL, NULL);
}

/* The route of a path. */
static enum serve_route route_of(const char *url)
{
	for (int r = 0; r < SERVE_ROUTE_OTHER; r++)
		if (strcmp(url, serve_route_path(r)) == 0)
			return r;
	if (strcmp(url, "/index.html") == 0)
		return SERVE_ROUTE_PAGE;
	return SERVE_ROUTE_OTHER;
}

/* Answers a GET (or HEAD) of everything but detection. */
static enum MHD_Result answer_get(struct MHD_Connection *c, struct req *rq)
{
	const struct serve_asset *a;
	enum MHD_Result ret;
	char *text;
	size_t len;

	switch (rq->route) {
	case SERVE_ROUTE_PAGE:
		a = asset("index.html");
		return respond(c, rq, 200, "text/html; charset=utf-8", a->data, a->len, 1,
			       "Content-Security-Policy",
			       "default-src 'self'; img-src 'self' blob: data:; "
			       "style-src 'unsafe-inline'; script-src 'unsafe-inline'",
			       "Cache-Control", "no-cache", NULL);
	case SERVE_ROUTE_OPENAPI:
		a = asset("openapi.json");
		return respond(c, rq, 200, "application/json", a->data, a->len, 1, NULL);
	case SERVE_ROUTE_HEALTHZ: return respond_json(c, rq, 200, "{\"status\":\"ok\"}\n", 16);
	case SERVE_ROUTE_READYZ:
		if (is_draining())
			return respond_json(c, rq, 503,
					    "{\"ready\":false,\"reason\":\"stopping\"}\n", 36);
		if (serve_model_generation() == 0)
			return respond_json(c, rq, 503,
					    "{\"ready\":false,\"reason\":\"no model\"}\n", 36);
		return respond_json(c, rq, 200, "{\"ready\":true}\n", 15);
	case SERVE_ROUTE_METRICS:
		if ((text = serve_metrics_text(&len)) == NULL)
			return respond_error(c, rq, 500, "out of memory", NULL, NULL);
		ret = respond(c, rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, 0,
			      NULL);
		fundus_free(text);
		return ret;
	case SERVE_ROUTE_MODEL: return model_info(c, rq);
	default: return respond_error(c, rq, 404, "no such page", NULL, NULL);
	}
}

/* The first call for POST /v1/detect: the query, the declared size, the form parser. */
static enum MHD_Result detect_begin(struct MHD_Connection *c, struct req *rq)
{
	const char *h;
	char msg[160];

	if (is_draining())
		return respond_error(c, rq, 503, "the server is stopping", "Retry-After", "1");
	rq->params = opt.params;
	/* A bad query is answered after the body, so that the connection can stay open. */
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, rq);
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (h) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(h, &end, 10);
		if (errno == 0 && *end == '\0' && n > (unsigned long long)opt.max_body) {
			snprintf(msg, sizeof msg,
				 "the request body is %llu bytes, more than the limit of %lld", n,
				 (long long)opt.max_body);
			return respond_error(c, rq, 413, msg, NULL, NULL);
		}
	}
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (h && strncasecmp(h, "multipart/form-data", 19) == 0) {
		rq->pp = MHD_create_post_processor(c, 16384, form_field, rq);
		if (rq->pp == NULL && rq->error[0] == '\0')
			snprintf(rq->error, sizeof rq->error,
				 "malformed multipart/form-data header (no boundary?)");
	}
	return MHD_YES;
}

/* Reads one piece of a detection request's body. */
static enum MHD_Result detect_data(struct req *rq, const char *data, size_t size)
{
	/* A slow upload cannot be answered mid-body by MHD: its connection is closed. */
	if (fundus_now() > rq->start + opt.timeout)
		return MHD_NO;
	rq->received += size;
	if (rq->too_big && rq->received > (uint64_t)opt.max_body + DISCARD_MAX)
		return MHD_NO;
	if (rq->error[0]) /* read and dropped, up to the limit: the answer is 400 */
		return rq->received > (uint64_t)opt.max_body ? MHD_NO : MHD_YES;
	if (rq->pp) {
		if (MHD_post_process(rq->pp, data, size) != MHD_YES && rq->error[0] == '\0')
			snprintf(rq->error, sizeof rq->error, "malformed multipart/form-data body");
		return MHD_YES;
	}
	if (append(rq, data, size) < 0)
		return MHD_NO;
	return MHD_YES;
}

/* The last call for POST /v1/detect: hands the image to the workers and answers. */
static enum MHD_Result detect_end(struct MHD_Connection *c, struct req *rq)
{
	struct serve_job *job;
	enum MHD_Result ret;
	char msg[160];
	int rc;

	if (rq->pp) {
		if (MHD_destroy_post_processor(rq->pp) != MHD_YES && rq->error[0] == '\0')
			snprintf(rq->error, sizeof rq->error,
				 "malformed multipart/form-data body (cut short?)");
		rq->pp = NULL;
	}
	if (rq->too_big) {
		snprintf(msg, sizeof msg, "the image is more than the limit of %lld bytes",
			 (long long)opt.max_body);
		return respond_error(c, rq, 413, msg, NULL, NULL);
	}
	if (rq->error[0])
		return respond_error(c, rq, 400, rq->error, NULL, NULL);
	for (int i = 0; i < N_FIELDS; i++)
		if (rq->field_set[i] &&
		    parse_param(&rq->params, i, rq->field[i], rq->error, sizeof rq->error) < 0)
			return respond_error(c, rq, 400, rq->error, NULL, NULL);
	if (rq->len == 0)
		return respond_error(c, rq, 400,
				     rq->images ? "the image field is empty"
						: "no image: send it as the body or as the form "
						  "field 'image'",
				     NULL, NULL);
	if ((job = serve_job_new()) == NULL)
		return respond_error(c, rq, 500, "out of memory", NULL, NULL);
	job->data = rq->body;
	job->len = rq->len;
	job->filename = rq->filename;
	rq->body = NULL;
	rq->filename = NULL;
	rq->len = rq->cap = 0;
	job->params = rq->params;
	job->start = rq->start;
	job->deadline = rq->start + opt.timeout;
	rc = serve_work_submit(job);
	if (rc == 1) {
		serve_job_free(job);
		return respond_error(c, rq, 503, "the queue is full; try again", "Retry-After",
				     "1");
	}
	if (rc == 2)
		return respond_error(c, rq, 504, "the request ran out of time", NULL, NULL);
	if (job->body == NULL)
		ret = respond_error(c, rq, 500, "out of memory", NULL, NULL);
	else
		ret = respond_json(c, rq, job->status, job->body, job->body_len);
	serve_job_free(job);
	return ret;
}

/*
 * Answers a request that is not a detection, once its body (if any) is
 * read: MHD keeps a connection alive only for an answer given after the
 * first call.
 */
static enum MHD_Result answer_other(struct MHD_Connection *c, struct req *rq)
{
	int get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;

	if (rq->route == SERVE_ROUTE_OTHER)
		return respond_error(c, rq, 404, "no such page", NULL, NULL);
	if (rq->route == SERVE_ROUTE_DETECT && strcmp(rq->method, "POST") != 0)
		return respond_error(c, rq, 405, "use POST", "Allow", "POST");
	if (rq->route != SERVE_ROUTE_DETECT && !get)
		return respond_error(c, rq, 405, "use GET", "Allow", "GET, HEAD");
	/* A detection with the token does not come here: it was taken at the first call. */
	if (rq->route == SERVE_ROUTE_DETECT ||
	    ((rq->route == SERVE_ROUTE_MODEL || rq->route == SERVE_ROUTE_METRICS) &&
	     !authorised(c)))
		return respond_error(c, rq, 401, "a valid bearer token is needed",
				     "WWW-Authenticate", "Bearer realm=\"fundus-serve\"");
	return answer_get(c, rq);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct req *rq = *con_cls;

	if (rq == NULL)
		return MHD_NO;
	if (!rq->called) {
		rq->called = 1;
		snprintf(rq->method, sizeof rq->method, "%s", method);
		rq->route = route_of(url);
		if (rq->route == SERVE_ROUTE_DETECT && strcmp(method, "POST") == 0 &&
		    authorised(c)) {
			rq->detect = 1;
			return detect_begin(c, rq);
		}
		return MHD_YES;
	}
	if (rq->status) {
		/* Answered already (413 from the header): drop what still comes. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t size = *upload_data_size;

		*upload_data_size = 0;
		if (rq->detect)
			return detect_data(rq, upload_data, size);
		/* A body nobody asked for is read and dropped, up to the limit. */
		rq->received += size;
		return rq->received > (uint64_t)opt.max_body ? MHD_NO : MHD_YES;
	}
	if (rq->detect)
		return detect_end(c, rq);
	return answer_other(c, rq);
}

/* MHD's first call for a request: makes its struct req and keeps the URI for the log. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *rq = fundus_calloc(1, sizeof *rq);

	if (rq == NULL)
		return NULL;
	rq->start = fundus_now();
	snprintf(rq->uri, sizeof rq->uri, "%s", uri ? uri : "");
	pthread_mutex_lock(&active_lock);
	active++;
	pthread_mutex_unlock(&active_lock);
	return rq;
}

/* Copies s into out with quotes, backslashes and control bytes as \xHH, for the log. */
static void log_escape(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t j = 0;

	for (; *s && j + 5 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			out[j++] = '\\';
			out[j++] = 'x';
			out[j++] = hex[ch >> 4];
			out[j++] = hex[ch & 15];
		} else {
			out[j++] = (char)ch;
		}
	}
	out[j] = '\0';
}

/* Writes the access log line of a finished request, in one write. */
static void access_log(struct MHD_Connection *c, struct req *rq, double seconds)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[64] = "-", uri[2048], when[40], status[8], line[2400];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (opt.log_fd < 0)
		return;
	if (ci && ci->client_addr)
		getnameinfo(ci->client_addr,
			    ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								   : sizeof(struct sockaddr_in),
			    host, sizeof host, NULL, 0, NI_NUMERICHOST);
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
	log_escape(uri, sizeof uri, rq->uri);
	if (rq->status)
		snprintf(status, sizeof status, "%d", rq->status);
	else
		snprintf(status, sizeof status, "-");
	n = snprintf(line, sizeof line, "%s - - [%s] \"%s %s\" %s %zu %.6f\n", host, when,
		     rq->method[0] ? rq->method : "-", uri, status, rq->sent, seconds);
	if (n > 0 && (size_t)n < sizeof line && write(opt.log_fd, line, (size_t)n) < 0) {
		/* A log that cannot be written must not stop the service. */
	}
}

/* MHD's last call for a request: the log line, the metrics, and the memory back. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;
	double seconds;

	if (rq == NULL)
		return;
	*con_cls = NULL;
	seconds = fundus_now() - rq->start;
	access_log(c, rq, seconds);
	if (rq->status)
		serve_metrics_count(rq->route, rq->status, seconds);
	if (rq->pp)
		MHD_destroy_post_processor(rq->pp);
	fundus_free(rq->body);
	fundus_free(rq->filename);
	fundus_free(rq);
	pthread_mutex_lock(&active_lock);
	active--;
	pthread_mutex_unlock(&active_lock);
}

/* libmicrohttpd's own messages (refused connections, broken requests) on stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	if (tool_quiet)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	fprintf(stderr, "%s: http: %s\n", tool_name, msg);
}

int serve_http_start(const struct serve_http_options *o)
{
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage addr;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	int rc;

	opt = *o;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(o->listen, NULL, &hints, &ai)) != 0) {
		tool_error("cannot listen on '%s': %s", o->listen, gai_strerror(rc));
		return -1;
	}
	memset(&addr, 0, sizeof addr);
	memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
	if (ai->ai_family == AF_INET6) {
		((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)o->port);
		flags |= MHD_USE_IPv6;
	} else {
		((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)o->port);
	}
	freeaddrinfo(ai);
	errno = 0;
	daemon_ = MHD_start_daemon(
	    flags, (uint16_t)o->port, NULL, NULL, handle, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
	    NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)o->idle, MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->connections,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_URI_LOG_CALLBACK,
	    uri_seen, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (daemon_ == NULL) {
		tool_error("cannot listen on %s port %d: %s", o->listen, o->port,
			   errno ? strerror(errno) : "libmicrohttpd refused to start");
		return -1;
	}
	di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	return di ? di->port : o->port;
}

void serve_http_quiesce(void)
{
	MHD_socket s;

	pthread_mutex_lock(&active_lock);
	draining = 1;
	pthread_mutex_unlock(&active_lock);
	s = MHD_quiesce_daemon(daemon_);
	if (s != MHD_INVALID_SOCKET)
		close(s);
}

void serve_http_stop(void)
{
	if (daemon_)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
}
