/*
 * A session: one annotator at work. Images are handed out by claims
 * appended to claims.jsonl under the workspace lock; a claim counts while
 * the session that made it holds its lock file (a killed process loses
 * its flock at once) and for claim_minutes after it was made or renewed.
 * The work itself goes to the annotator's journal, one synced line per
 * saved image.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fundus/file.h"
#include "fundus/rng.h"
#include "internal.h"
#include "record/json.h"

struct claim {
	char *session;
	char *by;
	size_t image;
	double t;
};

struct fundus_session {
	struct fundus_workspace *ws;
	char *name;
	char *id;
	char *lock_path;
	int lock_fd;
	int journal_fd;
	struct fundus__journals j;
	struct claim *claims; /* claims not withdrawn, in file order */
	size_t n_claims, cap_claims;
	off_t claims_off;
	int64_t claims_line;
	size_t *order;
	size_t n_order;
	off_t order_preds_off; /* the predictions the active order was computed from */
	struct fundus_session_stats stats;
};

static void update_stats(struct fundus_session *s);

/* Seconds since the epoch, with a fraction. */
static double now_seconds(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static void claim_clear(struct claim *c)
{
	fundus_free(c->session);
	fundus_free(c->by);
}

/* Removes claim k (order kept: resuming prefers the earliest). */
static void claim_remove(struct fundus_session *s, size_t k)
{
	claim_clear(&s->claims[k]);
	memmove(&s->claims[k], &s->claims[k + 1], (s->n_claims - k - 1) * sizeof *s->claims);
	s->n_claims--;
}

/* Withdraws the claim of (session, image) if there is one. */
static void claim_drop(struct fundus_session *s, const char *session, size_t image)
{
	for (size_t k = 0; k < s->n_claims; k++)
		if (s->claims[k].image == image && strcmp(s->claims[k].session, session) == 0) {
			claim_remove(s, k);
			return;
		}
}

/* Records a claim (replacing one of the same session and image). */
static int claim_add(struct fundus_session *s, const char *session, const char *by, size_t image,
		     double t)
{
	struct claim *c;

	claim_drop(s, session, image);
	if (s->n_claims == s->cap_claims) {
		size_t cap = s->cap_claims ? s->cap_claims * 2 : 64;

		c = fundus_realloc(s->claims, cap * sizeof *c);
		if (c == NULL)
			return FUNDUS_ENOMEM;
		s->claims = c;
		s->cap_claims = cap;
	}
	c = &s->claims[s->n_claims];
	c->session = fundus_strdup(session);
	c->by = fundus_strdup(by);
	c->image = image;
	c->t = t;
	if (c->session == NULL || c->by == NULL) {
		claim_clear(c);
		return FUNDUS_ENOMEM;
	}
	s->n_claims++;
	return 0;
}

/* One line of claims.jsonl: {"claim"|"release": key, "by", "session", "t"}. */
static int claims_line(void *ud, const char *line, size_t len, int64_t lineno)
{
	struct fundus_session *s = ud;
	const cJSON *key, *by, *sess, *t;
	cJSON *v = NULL;
	size_t i;
	int rc, release;

	if (len == 0)
		return 0;
	rc = fundus__json_parse(line, len, 4, &v);
	if (rc == FUNDUS_ENOMEM)
		return rc;
	if (rc < 0)
		goto bad;
	key = cJSON_GetObjectItemCaseSensitive(v, "claim");
	release = key == NULL;
	if (release)
		key = cJSON_GetObjectItemCaseSensitive(v, "release");
	by = cJSON_GetObjectItemCaseSensitive(v, "by");
	sess = cJSON_GetObjectItemCaseSensitive(v, "session");
	t = cJSON_GetObjectItemCaseSensitive(v, "t");
	if (!cJSON_IsString(key) || !cJSON_IsString(by) || !cJSON_IsString(sess) ||
	    !cJSON_IsNumber(t))
		goto bad;
	if (fundus_workspace_find(s->ws, key->valuestring, &i) < 0) {
		cJSON_Delete(v);
		return 0; /* an image this process has not read: it cannot be offered anyway */
	}
	if (release)
		claim_drop(s, sess->valuestring, i);
	else
		rc = claim_add(s, sess->valuestring, by->valuestring, i, t->valuedouble);
	cJSON_Delete(v);
	return rc;
bad:
	cJSON_Delete(v);
	fundus_log(FUNDUS_LOG_WARN, "claims.jsonl: line %lld: not a claim (line skipped)",
		   (long long)lineno);
	return 0;
}

/* Appends a claim or release line (the workspace lock is held) and applies it. */
static int claims_append(struct fundus_session *s, size_t i, int release)
{
	char *path = NULL, *line = NULL;
	cJSON *v;
	size_t len;
	double t = now_seconds();
	int fd = -1, rc;

	fundus__json_init();
	v = cJSON_CreateObject();
	if (v == NULL ||
	    !cJSON_AddStringToObject(v, release ? "release" : "claim",
				     fundus_workspace_key(s->ws, i)) ||
	    !cJSON_AddStringToObject(v, "by", s->name) ||
	    !cJSON_AddStringToObject(v, "session", s->id) ||
	    !cJSON_AddNumberToObject(v, "t", floor(t * 1000) / 1000)) {
		cJSON_Delete(v);
		return FUNDUS_ENOMEM;
	}
	rc = fundus__json_print(v, &line, &len);
	cJSON_Delete(v);
	if (rc < 0)
		return rc;
	line[len++] = '\n'; /* the buffer has room: its NUL */
	if ((path = fundus__ws_path(s->ws, "claims.jsonl")) == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	if ((rc = fundus_file_open_append(path, &fd)) < 0)
		goto out;
	if ((rc = fundus_file_append_sync(fd, line, len)) < 0)
		goto out;
	/* The lock is held: nobody appended between our last read and this line. */
	s->claims_off += (off_t)len;
	s->claims_line++;
	if (release)
		claim_drop(s, s->id, i);
	else
		rc = claim_add(s, s->id, s->name, i, t);
out:
	if (fd >= 0)
		close(fd);
	fundus_free(path);
	fundus_free(line);
	return rc;
}

/* A session id: host, process and a random part, safe as a file name. */
static char *make_id(void)
{
	char host[64] = "host", buf[128];
	struct fundus_rng rng;
	struct timespec ts;

	gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	for (char *p = host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			*p = '_';
	clock_gettime(CLOCK_REALTIME, &ts);
	fundus_rng_seed(&rng, (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
				  ((uint64_t)getpid() << 12));
	snprintf(buf, sizeof buf, "%s-%ld-%08llx", host, (long)getpid(),
		 (unsigned long long)(fundus_rng_u64(&rng) & 0xffffffffu));
	return fundus_strdup(buf);
}

int fundus_session_open(struct fundus_session **out, struct fundus_workspace *ws, const char *name)
{
	struct fundus_session *s;
	char file[FUNDUS_WORKSPACE_MAX_NAME + 128];
	char *path = NULL;
	int lock = -1, rc;

	*out = NULL;
	if (!fundus__ws_name_ok(name))
		return fundus_error_set(FUNDUS_EINVAL,
					"annotator '%s': use 1 to %d letters, digits, '_', '-' or "
					"'.' (not first)",
					name, FUNDUS_WORKSPACE_MAX_NAME);
	s = fundus_calloc(1, sizeof *s);
	if (s == NULL)
		return FUNDUS_ENOMEM;
	s->ws = ws;
	s->lock_fd = -1;
	s->journal_fd = -1;
	if ((s->name = fundus_strdup(name)) == NULL || (s->id = make_id()) == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	s->j.keep_name = s->name;
	snprintf(file, sizeof file, "sessions/%s.lock", s->id);
	if ((s->lock_path = fundus__ws_path(ws, file)) == NULL ||
	    (path = fundus__ws_path(ws, "sessions")) == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	if ((rc = fundus_mkdir_p(path)) < 0)
		goto fail;
	fundus_free(path);
	if ((path = fundus__ws_path(ws, "journals")) == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	if ((rc = fundus_mkdir_p(path)) < 0)
		goto fail;
	fundus_free(path);
	path = NULL;
	/* Others probe session locks under the workspace lock: create and lock ours under it too.
	 */
	if ((rc = fundus__ws_lock(ws, &lock)) < 0)
		goto fail;
	s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (s->lock_fd < 0) {
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot create the session lock");
		goto fail;
	}
	if ((rc = fundus_file_lock(s->lock_fd, 0)) < 0)
		goto fail;
	close(lock);
	lock = -1;
	snprintf(file, sizeof file, "journals/%s.jsonl", name);
	if ((path = fundus__ws_path(ws, file)) == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	if ((rc = fundus_file_open_append(path, &s->journal_fd)) < 0)
		goto fail;
	fundus_free(path);
	path = NULL;
	if ((rc = fundus__ws_refresh(ws)) < 0 || (rc = fundus__journals_update(&s->j, ws)) < 0)
		goto fail;
	update_stats(s);
	*out = s;
	return 0;
fail:
	if (lock >= 0)
		close(lock);
	fundus_free(path);
	fundus_session_close(s);
	return rc;
}

void fundus_session_close(struct fundus_session *s)
{
	if (s == NULL)
		return;
	if (s->journal_fd >= 0)
		close(s->journal_fd);
	if (s->lock_fd >= 0) {
		unlink(s->lock_path);
		close(s->lock_fd);
	}
	for (size_t k = 0; k < s->n_claims; k++)
		claim_clear(&s->claims[k]);
	fundus_free(s->claims);
	fundus__journals_free(&s->j);
	fundus_free(s->order);
	fundus_free(s->lock_path);
	fundus_free(s->id);
	fundus_free(s->name);
	fundus_free(s);
}

const char *fundus_session_name(const struct fundus_session *s)
{
	return s->name;
}

const char *fundus_session_id(const struct fundus_session *s)
{
	return s->id;
}

/*
 * Whether the session that made a claim still runs: it holds the flock on
 * its lock file. A file nobody holds belongs to a dead session and is
 * removed (the workspace lock is held, so no session is being born).
 */
static int session_alive(struct fundus_session *s, const char *session)
{
	char file[256];
	char *path;
	int fd, alive;

	if (strcmp(session, s->id) == 0)
		return 1;
	if (!fundus__ws_name_ok(session))
		return 0;
	snprintf(file, sizeof file, "sessions/%s.lock", session);
	if ((path = fundus__ws_path(s->ws, file)) == NULL)
		return 1; /* out of memory: err on the side of not taking others' images */
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fundus_free(path);
		return 0;
	}
	alive = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	if (!alive)
		unlink(path);
	close(fd);
	fundus_free(path);
	return alive;
}

/* Recomputes the figures of fundus_session_get_stats(). */
static void update_stats(struct fundus_session *s)
{
	int me = fundus__journals_who(&s->j, s->name);
	double *secs = NULL;
	size_t n = 0;

	s->stats.images = s->ws->n_images;
	s->stats.done = s->stats.skipped = s->stats.complete = 0;
	if (s->j.n_images)
		secs = fundus_malloc(s->j.n_images * sizeof *secs);
	for (size_t i = 0; i < s->j.n_images; i++) {
		size_t done = 0;

		for (size_t e = 0; e < s->j.images[i].n; e++) {
			const struct fundus__jent *ent = &s->j.images[i].ents[e];

			done += ent->status == FUNDUS_ENTRY_DONE;
			if (ent->who != me)
				continue;
			if (ent->status == FUNDUS_ENTRY_DONE) {
				s->stats.done++;
				if (secs && ent->seconds > 0)
					secs[n++] = ent->seconds;
			} else {
				s->stats.skipped++;
			}
		}
		s->stats.complete += done >= (size_t)s->ws->cfg->overlap;
	}
	s->stats.median_seconds = fundus__median(secs, n);
	fundus_free(secs);
}

/* Brings the pool, the journals, the claims and the order up to date (lock held). */
static int update_all(struct fundus_session *s)
{
	size_t n_before = s->n_order;
	char *path;
	int rc;

	if ((rc = fundus__ws_refresh(s->ws)) < 0 ||
	    (rc = fundus__journals_update(&s->j, s->ws)) < 0)
		return rc;
	if ((path = fundus__ws_path(s->ws, "claims.jsonl")) == NULL)
		return FUNDUS_ENOMEM;
	rc = fundus__read_lines(path, &s->claims_off, &s->claims_line, claims_line, s);
	fundus_free(path);
	if (rc < 0)
		return rc == FUNDUS_ENOMEM ? rc : fundus__ws_error_prefix(rc, "claims.jsonl: ");
	if (s->order == NULL || n_before != s->ws->n_images ||
	    (s->ws->cfg->order == FUNDUS_ORDER_ACTIVE && s->order_preds_off != s->ws->preds_off)) {
		fundus_free(s->order);
		s->order = NULL;
		s->n_order = 0;
		if ((rc = fundus_workspace_order(s->ws, &s->order, &s->n_order)) < 0)
			return rc;
		s->order_preds_off = s->ws->preds_off;
	}
	update_stats(s);
	return 0;
}

/* Adds name to a small set of distinct names (up to max); returns the new count. */
static int name_set_add(const char **set, int n, int max, const char *name)
{
	for (int k = 0; k < n; k++)
		if (strcmp(set[k], name) == 0)
			return n;
	if (n < max)
		set[n++] = name;
	return n;
}

int fundus_session_claim_next(struct fundus_session *s, size_t *out, int *found)
{
	double now = now_seconds(), ttl = 60.0 * s->ws->cfg->claim_minutes;
	size_t n = 0, pick = SIZE_MAX, resume = SIZE_MAX;
	size_t *first = NULL, *next = NULL;
	signed char *alive = NULL;
	int lock = -1, me, rc;

	*found = 0;
	if ((rc = fundus__ws_lock(s->ws, &lock)) < 0)
		return rc;
	if ((rc = update_all(s)) < 0)
		goto out;
	me = fundus__journals_who(&s->j, s->name);
	n = s->ws->n_images;
	if (n == 0)
		goto out;
	/* Live claims by image, as linked lists, so each candidate sees only its own. */
	first = fundus_malloc(n * sizeof *first);
	next = fundus_malloc((s->n_claims + 1) * sizeof *next);
	alive = fundus_malloc(s->n_claims + 1);
	if (first == NULL || next == NULL || alive == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		first[i] = SIZE_MAX;
	for (size_t k = s->n_claims; k-- > 0;) {
		struct claim *c = &s->claims[k];

		alive[k] = (signed char)(now - c->t < ttl && session_alive(s, c->session));
		next[k] = first[c->image];
		first[c->image] = k;
	}
	for (size_t o = 0; o < s->n_order && pick == SIZE_MAX; o++) {
		size_t i = s->order[o];
		const char *names[65];
		int count = 0, blocked = 0, mine_dead = 0;

		if (i >= n || (me >= 0 && fundus__journals_find(&s->j, i, me)))
			continue;
		for (size_t e = 0; e < s->j.images[i].n; e++) {
			const struct fundus__jent *ent = &s->j.images[i].ents[e];

			if (ent->status == FUNDUS_ENTRY_DONE && ent->who != me)
				count = name_set_add(names, count, 64, s->j.names[ent->who]);
		}
		for (size_t k = first[i]; k != SIZE_MAX; k = next[k]) {
			struct claim *c = &s->claims[k];
			int who = fundus__journals_who(&s->j, c->by);

			/* A claim ends with its maker's entry (a skip frees the image for others).
			 */
			if (who >= 0 && fundus__journals_find(&s->j, i, who))
				continue;
			if (strcmp(c->by, s->name) == 0) {
				if (alive[k] && strcmp(c->session, s->id) != 0)
					blocked = 1; /* my other window works on it */
				else
					mine_dead = 1;
			} else if (alive[k]) {
				count = name_set_add(names, count, 64, c->by);
			}
		}
		if (blocked || count >= s->ws->cfg->overlap)
			continue;
		if (mine_dead) {
			pick = i;
		} else if (resume == SIZE_MAX) {
			resume = i; /* the first free one, unless one of mine comes later */
		}
	}
	if (pick == SIZE_MAX)
		pick = resume;
	if (pick != SIZE_MAX) {
		if ((rc = claims_append(s, pick, 0)) < 0)
			goto out;
		*out = pick;
		*found = 1;
	}
out:
	fundus_free(first);
	fundus_free(next);
	fundus_free(alive);
	if (lock >= 0)
		close(lock);
	return rc;
}

int fundus_session_touch(struct fundus_session *s, size_t i)
{
	double now = now_seconds();
	int lock = -1, rc;

	for (size_t k = 0; k < s->n_claims; k++) {
		struct claim *c = &s->claims[k];

		if (c->image == i && strcmp(c->session, s->id) == 0) {
			if (now - c->t < 30.0 * s->ws->cfg->claim_minutes)
				return 0;
			if ((rc = fundus__ws_lock(s->ws, &lock)) < 0)
				return rc;
			if ((rc = update_all(s)) == 0)
				rc = claims_append(s, i, 0);
			close(lock);
			return rc;
		}
	}
	return 0;
}

int fundus_session_release(struct fundus_session *s, size_t i)
{
	int lock = -1, rc, have = 0;

	for (size_t k = 0; k < s->n_claims && !have; k++)
		have = s->claims[k].image == i && strcmp(s->claims[k].session, s->id) == 0;
	if (!have)
		return 0;
	if ((rc = fundus__ws_lock(s->ws, &lock)) < 0)
		return rc;
	if ((rc = update_all(s)) == 0)
		rc = claims_append(s, i, 1);
	close(lock);
	return rc;
}

/* Checks one answers object against the questions of a scope; where names it. */
static int check_answers(const struct fundus_workspace_config *cfg, const cJSON *answers,
			 enum fundus_question_scope scope, const char *where)
{
	const cJSON *a;

	if (answers == NULL)
		return 0;
	if (!cJSON_IsObject(answers))
		return fundus_error_set(FUNDUS_EINVAL, "%sanswers: expected an object", where);
	cJSON_ArrayForEach(a, answers)
	{
		const struct fundus_question *q = fundus__ws_question(cfg, a->string, scope);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "value");

		if (q == NULL)
			return fundus_error_set(FUNDUS_EINVAL, "%sanswers: no %s question '%s'",
						where, scope == FUNDUS_SCOPE_BOX ? "box" : "image",
						a->string);
		if (!cJSON_IsObject(a) || v == NULL)
			return fundus_error_set(FUNDUS_EINVAL,
						"%sanswers.%s: expected {\"value\": ...}", where,
						a->string);
		if (fundus_question_check_value(q, v) < 0) {
			char prefix[80];

			snprintf(prefix, sizeof prefix, "%sanswers.", where);
			return fundus__ws_error_prefix(FUNDUS_EINVAL, prefix);
		}
	}
	return 0;
}

/* Copies answers as {"q": {"value": v, "by": name}}; NULL when there are none. */
static int copy_answers(const cJSON *answers, const char *name, cJSON **out)
{
	const cJSON *a;
	cJSON *o;

	*out = NULL;
	if (answers == NULL || answers->child == NULL)
		return 0;
	if ((o = cJSON_CreateObject()) == NULL)
		return FUNDUS_ENOMEM;
	cJSON_ArrayForEach(a, answers)
	{
		cJSON *one = cJSON_CreateObject();
		cJSON *v = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(a, "value"), 1);

		if (one == NULL || v == NULL || !cJSON_AddItemToObject(one, "value", v)) {
			cJSON_Delete(one);
			cJSON_Delete(v);
			cJSON_Delete(o);
			return FUNDUS_ENOMEM;
		}
		if (!cJSON_AddStringToObject(one, "by", name) ||
		    !cJSON_AddItemToObject(o, a->string, one)) {
			cJSON_Delete(one);
			cJSON_Delete(o);
			return FUNDUS_ENOMEM;
		}
	}
	*out = o;
	return 0;
}

/* Builds the journal line's record. */
static int build_entry(struct fundus_session *s, size_t i, const struct fundus_record *work,
		       enum fundus_entry_status status, int flag, double seconds,
		       struct fundus_record **out)
{
	const struct fundus_record *img = s->ws->images[i];
	const struct fundus_workspace_config *cfg = s->ws->cfg;
	struct fundus_record *r = NULL;
	cJSON *a;
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	int rc;

	*out = NULL;
	if ((rc = check_answers(cfg, work ? work->answers : NULL, FUNDUS_SCOPE_IMAGE, "")) < 0)
		return rc;
	for (size_t k = 0; work && k < work->n_objects; k++) {
		const struct fundus_object *o = &work->objects[k];
		char where[64];

		snprintf(where, sizeof where, "objects[%zu].", k);
		if (fundus_workspace_config_label(cfg, o->label) == NULL)
			return fundus_error_set(FUNDUS_EINVAL, "objects[%zu]: no label '%s' here",
						k, o->label);
		if (!(isfinite(o->bbox.x0) && isfinite(o->bbox.y0) && isfinite(o->bbox.x1) &&
		      isfinite(o->bbox.y1)))
			return fundus_error_set(FUNDUS_EINVAL, "objects[%zu]: bad box", k);
		if (o->extra &&
		    (rc = check_answers(cfg, cJSON_GetObjectItemCaseSensitive(o->extra, "answers"),
					FUNDUS_SCOPE_BOX, where)) < 0)
			return rc;
	}
	if ((rc = fundus_record_new(&r)) < 0)
		return rc;
	if ((rc = fundus_record_set_string(&r->image, img->image)) < 0 ||
	    (rc = fundus_record_set_string(&r->id, img->id)) < 0)
		goto fail;
	r->width = img->width;
	r->height = img->height;
	for (size_t k = 0; work && k < work->n_objects; k++) {
		const struct fundus_object *o = &work->objects[k];
		struct fundus_object *no;
		cJSON *ans = NULL;

		if ((rc = fundus_record_add_object(r, o->label, &o->bbox, NAN, s->name)) < 0)
			goto fail;
		no = &r->objects[r->n_objects - 1];
		if (o->extra == NULL)
			continue;
		/* Keep the other members ("from", ...); answers get their "by". */
		if ((no->extra = cJSON_Duplicate(o->extra, 1)) == NULL)
			goto nomem;
		cJSON_DeleteItemFromObjectCaseSensitive(no->extra, "answers");
		if ((rc = copy_answers(cJSON_GetObjectItemCaseSensitive(o->extra, "answers"),
				       s->name, &ans)) < 0)
			goto fail;
		if (ans && !cJSON_AddItemToObject(no->extra, "answers", ans)) {
			cJSON_Delete(ans);
			goto nomem;
		}
		if (no->extra->child == NULL) {
			cJSON_Delete(no->extra);
			no->extra = NULL;
		}
	}
	if ((rc = copy_answers(work ? work->answers : NULL, s->name, &r->answers)) < 0)
		goto fail;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((r->extra = cJSON_CreateObject()) == NULL ||
	    (a = cJSON_AddObjectToObject(r->extra, "annotation")) == NULL ||
	    !cJSON_AddStringToObject(a, "by", s->name) ||
	    !cJSON_AddStringToObject(a, "status",
				     status == FUNDUS_ENTRY_DONE ? "done" : "skipped") ||
	    !cJSON_AddBoolToObject(a, "flag", flag != 0) ||
	    !cJSON_AddNumberToObject(
		a, "seconds", isfinite(seconds) && seconds > 0 ? round(seconds * 10) / 10 : 0) ||
	    !cJSON_AddStringToObject(a, "time", when) ||
	    !cJSON_AddStringToObject(a, "session", s->id))
		goto nomem;
	*out = r;
	return 0;
nomem:
	rc = fundus_error_set(FUNDUS_ENOMEM, "out of memory");
fail:
	fundus_record_free(r);
	return rc;
}

int fundus_session_save(struct fundus_session *s, size_t i, const struct fundus_record *work,
			enum fundus_entry_status status, int flag, double seconds)
{
	struct fundus_record *r;
	char *line = NULL;
	size_t len;
	int rc;

	if (i >= s->ws->n_images)
		return fundus_error_set(FUNDUS_EINVAL, "no image %zu", i);
	fundus__json_init();
	if ((rc = build_entry(s, i, work, status, flag, seconds, &r)) < 0)
		return rc;
	rc = fundus_record_format(r, &line, &len);
	fundus_record_free(r);
	if (rc < 0)
		return rc;
	rc = fundus_file_append_sync(s->journal_fd, line, len);
	fundus_free(line);
	if (rc < 0)
		return rc;
	/* Read it back with whatever else the journals gained. */
	if ((rc = fundus__journals_update(&s->j, s->ws)) < 0)
		return rc;
	update_stats(s);
	return 0;
}

const struct fundus_record *fundus_session_entry(const struct fundus_session *s, size_t i)
{
	int me = fundus__journals_who(&s->j, s->name);
	struct fundus__jent *e;

	if (me < 0)
		return NULL;
	e = fundus__journals_find((struct fundus__journals *)&s->j, i, me);
	return e ? e->rec : NULL;
}

void fundus_session_history(const struct fundus_session *s, const size_t **idx, size_t *n)
{
	*idx = s->j.history;
	*n = s->j.n_history;
}

void fundus_session_get_stats(const struct fundus_session *s, struct fundus_session_stats *st)
{
	*st = s->stats;
}
