/*
 * fundus-serve: load a detector once and serve detection over HTTP, with a
 * web page for people.
 *
 * The main thread parses the options, loads the model, starts the workers
 * and libmicrohttpd, and then only waits for signals: SIGHUP reloads the
 * model (requests under way finish on the old one), SIGTERM and SIGINT
 * stop accepting connections, let the requests under way finish, and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fundus/file.h"
#include "fundus/record.h"
#include "serve.h"
#include "tool.h"

enum {
	OPT_MODEL = 'm',
	OPT_LISTEN = 'l',
	OPT_PORT = 'p',
	OPT_WORKERS = 'j',
	OPT_QUEUE = 256,
	OPT_MAX_BODY,
	OPT_MAX_PIXELS,
	OPT_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_CONNECTIONS,
	OPT_TOKEN_FILE,
	OPT_ACCESS_LOG,
	OPT_THRESHOLD,
	OPT_NMS,
	OPT_TOP,
};

#define STR_(x) #x
#define STR(x)  STR_(x)

static const struct tool_opt opts[] = {
    {"model", OPT_MODEL, "FILE", "the detector to serve (required)"},
    {"listen", OPT_LISTEN, "ADDR",
     "address to listen on (default 127.0.0.1; :: or 0.0.0.0 for all)"},
    {"port", OPT_PORT, "N",
     "port to listen on (default " STR(SERVE_DEFAULT_PORT) "; 0: any free one)"},
    {"workers", OPT_WORKERS, "N", "detections at once, one per core (default: the cores)"},
    {"queue", OPT_QUEUE, "N",
     "requests that may wait for a worker before 503 (default " STR(SERVE_DEFAULT_QUEUE) ")"},
    {"max-body", OPT_MAX_BODY, "BYTES",
     "largest request body (default " STR(SERVE_DEFAULT_MAX_BODY) ", 32 MiB)"},
    {"max-pixels", OPT_MAX_PIXELS, "N",
     "largest image in pixels (default " STR(SERVE_DEFAULT_MAX_PIXELS) ")"},
    {"timeout", OPT_TIMEOUT, "SECONDS",
     "time limit of a request, upload included (default " STR(SERVE_DEFAULT_TIMEOUT) ")"},
    {"idle-timeout", OPT_IDLE_TIMEOUT, "SECONDS",
     "close a connection silent this long (default " STR(SERVE_DEFAULT_IDLE) ")"},
    {"max-connections", OPT_MAX_CONNECTIONS, "N",
     "connections at once (default " STR(SERVE_DEFAULT_CONNECTIONS) ")"},
    {"token-file", OPT_TOKEN_FILE, "FILE",
     "require 'Authorization: Bearer' with the token in FILE"},
    {"access-log", OPT_ACCESS_LOG, "FILE",
     "append the access log to FILE (default: standard output)"},
    {"threshold", OPT_THRESHOLD, "X", "lowest score of a box kept (default 0.05)"},
    {"nms", OPT_NMS, "X",
     "IoU above which a weaker box of a label is dropped (default 0.45; 0: off)"},
    {"top", OPT_TOP, "N", "at most N boxes per image, best first (default 100; 0: no limit)"},
    {0},
};

static const struct tool_desc desc = {
    "fundus-serve",
    "[OPTION]... -m MODEL",
    "Load the detector MODEL once and serve optic-disc detection over HTTP:\n"
    "POST an image to /v1/detect and get back the record fundus-detect prints; open\n"
    "/ in a browser to see the boxes drawn.",
    opts,
    "Endpoints: POST /v1/detect (the image as the body or as the form field 'image';\n"
    "threshold, nms and top as query parameters or form fields), GET /healthz,\n"
    "/readyz, /metrics (Prometheus), /v1/model, /openapi.json, and the page at /.\n"
    "SIGHUP reloads MODEL; SIGTERM stops accepting, finishes what runs, exits 0.\n"
    "\n"
    "Examples:\n"
    "  fundus-serve -m od.fdm --port 8080\n"
    "  curl -F image=@eye.jpg -F threshold=0.3 http://127.0.0.1:8080/v1/detect\n"
    "  curl -T eye.jpg -X POST 'http://127.0.0.1:8080/v1/detect?top=1'   # the raw body\n",
};

/*
 * Reads the bearer token: the first line of a file of at most 4 KiB, which
 * must be printable ASCII without spaces. Exits 1 or 2 with a message when
 * it cannot. fundus_free() it.
 */
static char *read_token(const char *path)
{
	uint8_t *data;
	size_t len;
	char *token;

	if (fundus_file_read(path, 4096, &data, &len) < 0) {
		tool_lib_error("cannot read", path);
		exit(TOOL_EXIT_FAIL);
	}
	token = (char *)data;
	token[strcspn(token, "\r\n")] = '\0';
	if (token[0] == '\0')
		tool_usage_error("--token-file: '%s' holds no token", path);
	for (char *p = token; *p; p++)
		if (*p <= ' ' || *p > '~')
			tool_usage_error("--token-file: the token in '%s' must be printable ASCII "
					 "without spaces",
					 path);
	return token;
}

int main(int argc, char **argv)
{
	struct serve_http_options ho = {0};
	struct serve_work_options wo = {0};
	struct fundus_record *warm;
	const char *model = NULL, *token_file = NULL, *log_path = NULL;
	char *token = NULL;
	struct serve_model *m;
	sigset_t sigs;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int c, port, sig;

	tool_init(&desc);
	ho.listen = "127.0.0.1";
	ho.port = SERVE_DEFAULT_PORT;
	ho.max_body = SERVE_DEFAULT_MAX_BODY;
	ho.timeout = SERVE_DEFAULT_TIMEOUT;
	ho.idle = SERVE_DEFAULT_IDLE;
	ho.connections = SERVE_DEFAULT_CONNECTIONS;
	fundus_detect_defaults(&ho.params);
	wo.workers = cores > 0 ? (int)(cores < 256 ? cores : 256) : 1;
	wo.queue = SERVE_DEFAULT_QUEUE;
	wo.max_pixels = SERVE_DEFAULT_MAX_PIXELS;
	wo.threads = 1;
	while ((c = tool_getopt(argc, argv)) != -1) {
		switch (c) {
		case OPT_MODEL: model = optarg; break;
		case OPT_LISTEN: ho.listen = optarg; break;
		case OPT_PORT: ho.port = (int)tool_parse_long(optarg, "--port", 0, 65535); break;
		case OPT_WORKERS:
			wo.workers = (int)tool_parse_long(optarg, "--workers", 1, 256);
			break;
		case OPT_QUEUE:
			wo.queue = (int)tool_parse_long(optarg, "--queue", 0, 100000);
			break;
		case OPT_MAX_BODY:
			ho.max_body = tool_parse_long(optarg, "--max-body", 1, 1L << 40);
			break;
		case OPT_MAX_PIXELS:
			wo.max_pixels = tool_parse_long(optarg, "--max-pixels", 1, 1L << 40);
			break;
		case OPT_TIMEOUT:
			ho.timeout = tool_parse_double(optarg, "--timeout", 0.001, 86400);
			break;
		case OPT_IDLE_TIMEOUT:
			ho.idle = (int)tool_parse_long(optarg, "--idle-timeout", 1, 86400);
			break;
		case OPT_MAX_CONNECTIONS:
			ho.connections =
			    (int)tool_parse_long(optarg, "--max-connections", 1, 65536);
			break;
		case OPT_TOKEN_FILE: token_file = optarg; break;
		case OPT_ACCESS_LOG: log_path = optarg; break;
		case OPT_THRESHOLD:
			ho.params.threshold = (float)tool_parse_double(optarg, "--threshold", 0, 1);
			break;
		case OPT_NMS:
			ho.params.nms = (float)tool_parse_double(optarg, "--nms", 0, 1);
			break;
		case OPT_TOP:
			ho.params.top = (int)tool_parse_long(optarg, "--top", 0, SERVE_MAX_TOP);
			break;
		}
	}
	if (optind < argc)
		tool_usage_error("unexpected argument '%s'", argv[optind]);
	if (model == NULL)
		tool_usage_error("give the model with --model");
	if (token_file)
		token = read_token(token_file);
	ho.log_fd = STDOUT_FILENO;
	if (log_path && strcmp(log_path, "-") != 0) {
		ho.log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (ho.log_fd < 0)
			tool_die("cannot open '%s': %s", log_path, strerror(errno));
	}

	/*
	 * The signals are taken by sigwait() in this thread only: block them
	 * before any thread starts, so that every thread inherits the mask.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Installs libfundus's cJSON hooks before any thread makes JSON. */
	if (fundus_record_new(&warm) < 0)
		tool_die("out of memory");
	fundus_record_free(warm);

	if (serve_model_load(model) < 0) {
		tool_lib_error("cannot load", model);
		return TOOL_EXIT_FAIL;
	}
	if (serve_work_start(&wo) < 0) {
		tool_error("cannot start: %s", fundus_errmsg());
		return TOOL_EXIT_FAIL;
	}
	ho.token = token;
	ho.model_path = model;
	if ((port = serve_http_start(&ho)) < 0) {
		serve_work_stop();
		serve_model_shutdown();
		return TOOL_EXIT_FAIL;
	}
	m = serve_model_get();
	if (!tool_quiet)
		fprintf(stderr, "%s: listening on http://%s%s%s:%d/ (model %s, %d workers)\n",
			tool_name, strchr(ho.listen, ':') ? "[" : "", ho.listen,
			strchr(ho.listen, ':') ? "]" : "", port, fundus_detector_name(m->det),
			wo.workers);
	serve_model_put(m);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		if (serve_model_load(model) < 0) {
			tool_lib_error("cannot reload", model);
			continue;
		}
		serve_work_wake();
		m = serve_model_get();
		if (!tool_quiet)
			fprintf(stderr, "%s: reloaded '%s' (%s)\n", tool_name, model,
				fundus_detector_id(m->det));
		serve_model_put(m);
	}

	/* Stop accepting, then wait for what was accepted, at most one time limit more. */
	serve_http_quiesce();
	for (double until = fundus_now() + ho.timeout + 1; serve_http_active() > 0;) {
		if (fundus_now() > until) {
			tool_warn("stopping with %d requests unfinished", serve_http_active());
			break;
		}
		usleep(10000);
	}
	serve_http_stop();
	serve_work_stop();
	serve_model_shutdown();
	if (!tool_quiet)
		fprintf(stderr, "%s: stopped\n", tool_name);
	if (ho.log_fd != STDOUT_FILENO)
		close(ho.log_fd);
	fundus_free(token);
	return TOOL_EXIT_OK;
}
