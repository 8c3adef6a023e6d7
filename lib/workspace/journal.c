/*
 * Reading the annotators' journals: journals/NAME.jsonl, one record per
 * saved image, the latest line of an image winning. Read incrementally so
 * that every claim sees the others' work at the cost of what they added.
 */
#include <dirent.h>
#include <math.h>
#include <string.h>

#include "internal.h"

int fundus__journals_who(const struct fundus__journals *j, const char *name)
{
	size_t v;

	return fundus__map_get(&j->name_index, name, &v) ? (int)v : -1;
}

/* Adds an annotator (a journal file seen for the first time). */
static int add_name(struct fundus__journals *j, const char *name)
{
	int rc;

	if (j->n_names == j->cap_names) {
		int cap = j->cap_names ? j->cap_names * 2 : 8;
		char **names = fundus_realloc(j->names, (size_t)cap * sizeof *names);
		off_t *offs;
		int64_t *lines;

		if (names == NULL)
			return FUNDUS_ENOMEM;
		j->names = names;
		offs = fundus_realloc(j->offsets, (size_t)cap * sizeof *offs);
		if (offs == NULL)
			return FUNDUS_ENOMEM;
		j->offsets = offs;
		lines = fundus_realloc(j->lines, (size_t)cap * sizeof *lines);
		if (lines == NULL)
			return FUNDUS_ENOMEM;
		j->lines = lines;
		j->cap_names = cap;
	}
	if ((j->names[j->n_names] = fundus_strdup(name)) == NULL)
		return FUNDUS_ENOMEM;
	if ((rc = fundus__map_put(&j->name_index, j->names[j->n_names], (size_t)j->n_names)) < 0) {
		fundus_free(j->names[j->n_names]);
		return rc;
	}
	j->offsets[j->n_names] = 0;
	j->lines[j->n_names] = 0;
	j->n_names++;
	return 0;
}

struct fundus__jent *fundus__journals_find(struct fundus__journals *j, size_t i, int who)
{
	if (i >= j->n_images)
		return NULL;
	for (size_t e = 0; e < j->images[i].n; e++)
		if (j->images[i].ents[e].who == who)
			return &j->images[i].ents[e];
	return NULL;
}

/* Grows the per-image table to the workspace's image count. */
static int grow_images(struct fundus__journals *j, size_t n)
{
	struct fundus__jimage *im;

	if (n <= j->n_images)
		return 0;
	im = fundus_realloc(j->images, n * sizeof *im);
	if (im == NULL)
		return FUNDUS_ENOMEM;
	memset(im + j->n_images, 0, (n - j->n_images) * sizeof *im);
	j->images = im;
	j->n_images = n;
	return 0;
}

struct line_ctx {
	struct fundus__journals *j;
	struct fundus_workspace *ws;
	int who;
};

/* One journal line: the annotator's latest word on one image. */
static int journal_line(void *ud, const char *line, size_t len, int64_t lineno)
{
	struct line_ctx *c = ud;
	struct fundus__journals *j = c->j;
	struct fundus_record *r = NULL;
	struct fundus__jent *e;
	const cJSON *a, *m;
	const char *key, *why = NULL;
	size_t i;
	int rc, status = FUNDUS_ENTRY_DONE, flag = 0;
	double seconds = 0;

	if (len == 0)
		return 0;
	rc = fundus_record_parse(line, len, NULL, &r);
	if (rc == FUNDUS_ENOMEM)
		return rc;
	if (rc < 0) {
		fundus_log(FUNDUS_LOG_WARN, "journals/%s.jsonl: line %lld: %s (line skipped)",
			   j->names[c->who], (long long)lineno, fundus_errmsg());
		return 0;
	}
	key = fundus__ws_record_key(r);
	a = r->extra ? cJSON_GetObjectItemCaseSensitive(r->extra, "annotation") : NULL;
	if (key == NULL || fundus_workspace_find(c->ws, key, &i) < 0)
		why = "an image the workspace does not have";
	else if (!cJSON_IsObject(a))
		why = "no \"annotation\" member";
	if (why == NULL) {
		m = cJSON_GetObjectItemCaseSensitive(a, "status");
		if (cJSON_IsString(m) && strcmp(m->valuestring, "skipped") == 0)
			status = FUNDUS_ENTRY_SKIPPED;
		else if (!cJSON_IsString(m) || strcmp(m->valuestring, "done") != 0)
			why = "annotation.status is neither \"done\" nor \"skipped\"";
		m = cJSON_GetObjectItemCaseSensitive(a, "flag");
		flag = cJSON_IsTrue(m);
		m = cJSON_GetObjectItemCaseSensitive(a, "seconds");
		if (cJSON_IsNumber(m) && isfinite(m->valuedouble) && m->valuedouble > 0)
			seconds = m->valuedouble;
	}
	if (why) {
		fundus_log(FUNDUS_LOG_WARN, "journals/%s.jsonl: line %lld: %s (line skipped)",
			   j->names[c->who], (long long)lineno, why);
		fundus_record_free(r);
		return 0;
	}
	if ((rc = grow_images(j, c->ws->n_images)) < 0) {
		fundus_record_free(r);
		return rc;
	}
	e = fundus__journals_find(j, i, c->who);
	if (e == NULL) {
		struct fundus__jimage *im = &j->images[i];

		if (im->n == im->cap) {
			size_t cap = im->cap ? im->cap * 2 : 2;
			struct fundus__jent *ents = fundus_realloc(im->ents, cap * sizeof *ents);

			if (ents == NULL) {
				fundus_record_free(r);
				return FUNDUS_ENOMEM;
			}
			im->ents = ents;
			im->cap = cap;
		}
		if (j->keep_name && strcmp(j->names[c->who], j->keep_name) == 0) {
			if (j->n_history == j->cap_history) {
				size_t cap = j->cap_history ? j->cap_history * 2 : 64;
				size_t *h = fundus_realloc(j->history, cap * sizeof *h);

				if (h == NULL) {
					fundus_record_free(r);
					return FUNDUS_ENOMEM;
				}
				j->history = h;
				j->cap_history = cap;
			}
			j->history[j->n_history++] = i;
		}
		e = &im->ents[im->n++];
		memset(e, 0, sizeof *e);
		e->who = c->who;
	}
	e->status = status;
	e->flag = flag;
	e->seconds += seconds;
	fundus_record_free(e->rec);
	e->rec = NULL;
	if (j->keep_name == NULL || strcmp(j->names[c->who], j->keep_name) == 0)
		e->rec = r;
	else
		fundus_record_free(r);
	return 0;
}

/* Whether a file name is NAME.jsonl with a good annotator name; copies NAME. */
static int journal_name(const char *file, char *name, size_t max)
{
	size_t n = strlen(file);

	if (n <= 6 || strcmp(file + n - 6, ".jsonl") != 0 || n - 6 >= max)
		return 0;
	memcpy(name, file, n - 6);
	name[n - 6] = '\0';
	return fundus__ws_name_ok(name);
}

int fundus__journals_update(struct fundus__journals *j, struct fundus_workspace *ws)
{
	char *dir = fundus__ws_path(ws, "journals");
	struct dirent *d;
	DIR *dp;
	int rc = 0;

	if (dir == NULL)
		return FUNDUS_ENOMEM;
	if ((rc = grow_images(j, ws->n_images)) < 0)
		goto out;
	/* New annotators first; a missing folder has no journals yet. */
	dp = opendir(dir);
	while (dp && (d = readdir(dp)) != NULL) {
		char name[FUNDUS_WORKSPACE_MAX_NAME + 8];

		if (journal_name(d->d_name, name, sizeof name) &&
		    fundus__journals_who(j, name) < 0 && (rc = add_name(j, name)) < 0)
			break;
	}
	if (dp)
		closedir(dp);
	for (int w = 0; w < j->n_names && rc == 0; w++) {
		struct line_ctx c = {j, ws, w};
		char file[FUNDUS_WORKSPACE_MAX_NAME + 32];
		char *path;

		snprintf(file, sizeof file, "journals/%s.jsonl", j->names[w]);
		if ((path = fundus__ws_path(ws, file)) == NULL) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		rc = fundus__read_lines(path, &j->offsets[w], &j->lines[w], journal_line, &c);
		fundus_free(path);
		if (rc < 0 && rc != FUNDUS_ENOMEM) {
			char prefix[FUNDUS_WORKSPACE_MAX_NAME + 40];

			snprintf(prefix, sizeof prefix, "%s: ", file);
			rc = fundus__ws_error_prefix(rc, prefix);
		}
	}
out:
	fundus_free(dir);
	return rc;
}

void fundus__journals_free(struct fundus__journals *j)
{
	for (size_t i = 0; i < j->n_images; i++) {
		for (size_t e = 0; e < j->images[i].n; e++)
			fundus_record_free(j->images[i].ents[e].rec);
		fundus_free(j->images[i].ents);
	}
	fundus_free(j->images);
	for (int w = 0; w < j->n_names; w++)
		fundus_free(j->names[w]);
	fundus_free(j->names);
	fundus_free(j->offsets);
	fundus_free(j->lines);
	fundus__map_free(&j->name_index);
	fundus_free(j->history);
	memset(j, 0, sizeof *j);
}
