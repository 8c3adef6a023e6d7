/*
 * A workspace folder: its configuration, the images to annotate and the
 * predictions that propose boxes, all read incrementally so that a long
 * session sees what others add.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fundus/file.h"
#include "internal.h"

#define CONFIG_MAX_BYTES ((size_t)1 << 20)

const char *fundus__ws_record_key(const struct fundus_record *r)
{
	if (r->id && r->id[0])
		return r->id;
	if (r->image && r->image[0])
		return r->image;
	return NULL;
}

int fundus_workspace_create(const char *dir, const struct fundus_workspace_config *cfg)
{
	struct fundus_workspace tmp = {0};
	char *path = NULL, *text = NULL, *sub = NULL;
	struct stat st;
	int rc;

	if ((rc = fundus_workspace_config_check(cfg)) < 0)
		return rc;
	if ((rc = fundus_mkdir_p(dir)) < 0)
		return rc;
	tmp.dir = (char *)dir;
	if ((path = fundus__ws_path(&tmp, "workspace.json")) == NULL)
		return FUNDUS_ENOMEM;
	if (stat(path, &st) == 0) {
		rc = fundus_error_set(FUNDUS_EEXIST, "a workspace exists there already");
		goto out;
	}
	if ((rc = fundus_workspace_config_format(cfg, &text)) < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		fundus_free(sub);
		if ((sub = fundus__ws_path(&tmp, i == 0 ? "journals" : "sessions")) == NULL) {
			rc = FUNDUS_ENOMEM;
			goto out;
		}
		if ((rc = fundus_mkdir_p(sub)) < 0)
			goto out;
	}
	rc = fundus_file_write_atomic(path, text, strlen(text));
out:
	fundus_free(sub);
	fundus_free(text);
	fundus_free(path);
	return rc;
}

int fundus_workspace_open(struct fundus_workspace **out, const char *dir)
{
	struct fundus_workspace *ws;
	uint8_t *data = NULL;
	size_t len = 0;
	char *path;
	int rc;

	*out = NULL;
	ws = fundus_calloc(1, sizeof *ws);
	if (ws == NULL || (ws->dir = fundus_strdup(dir)) == NULL) {
		fundus_free(ws);
		return FUNDUS_ENOMEM;
	}
	if ((path = fundus__ws_path(ws, "workspace.json")) == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	rc = fundus_file_read(path, CONFIG_MAX_BYTES, &data, &len);
	fundus_free(path);
	if (rc == FUNDUS_ENOENT) {
		rc = fundus_error_set(FUNDUS_ENOENT, "not a workspace (no workspace.json)");
		goto fail;
	}
	if (rc < 0) {
		rc = fundus__ws_error_prefix(rc, "workspace.json: ");
		goto fail;
	}
	rc = fundus_workspace_config_parse((const char *)data, len, &ws->cfg);
	fundus_free(data);
	if (rc < 0) {
		rc = fundus__ws_error_prefix(rc, "workspace.json: ");
		goto fail;
	}
	if ((rc = fundus__ws_refresh(ws)) < 0)
		goto fail;
	*out = ws;
	return 0;
fail:
	fundus_workspace_close(ws);
	return rc;
}

void fundus_workspace_close(struct fundus_workspace *ws)
{
	if (ws == NULL)
		return;
	if (ws->proposer.release)
		ws->proposer.release(ws->proposer.ud);
	for (size_t i = 0; i < ws->n_images; i++)
		fundus_record_free(ws->images[i]);
	fundus_free(ws->images);
	for (size_t i = 0; i < ws->n_preds; i++)
		fundus_record_free(ws->preds[i]);
	fundus_free(ws->preds);
	fundus__map_free(&ws->index);
	fundus__map_free(&ws->pred_index);
	fundus_workspace_config_free(ws->cfg);
	fundus_free(ws->dir);
	fundus_free(ws);
}

const struct fundus_workspace_config *fundus_workspace_get_config(const struct fundus_workspace *ws)
{
	return ws->cfg;
}

const char *fundus_workspace_dir(const struct fundus_workspace *ws)
{
	return ws->dir;
}

size_t fundus_workspace_count(const struct fundus_workspace *ws)
{
	return ws->n_images;
}

const struct fundus_record *fundus_workspace_image(const struct fundus_workspace *ws, size_t i)
{
	return i < ws->n_images ? ws->images[i] : NULL;
}

const char *fundus_workspace_key(const struct fundus_workspace *ws, size_t i)
{
	return i < ws->n_images ? fundus__ws_record_key(ws->images[i]) : NULL;
}

int fundus_workspace_find(const struct fundus_workspace *ws, const char *key, size_t *i)
{
	if (fundus__map_get(&ws->index, key, i))
		return 0;
	return fundus_error_set(FUNDUS_ENOENT, "no such image in the workspace");
}

/*
 * Appends r, whose key is new to map, to the list v[0..*n-1] (room for
 * *cap) and to map under key. Takes r: on failure it is freed.
 */
static int list_append(struct fundus_record ***v, size_t *n, size_t *cap, struct fundus__map *map,
		       const char *key, struct fundus_record *r)
{
	int rc;

	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct fundus_record **nv = fundus_realloc(*v, c * sizeof *nv);

		if (nv == NULL) {
			fundus_record_free(r);
			return FUNDUS_ENOMEM;
		}
		*v = nv;
		*cap = c;
	}
	if ((rc = fundus__map_put(map, key, *n)) < 0) {
		fundus_record_free(r);
		return rc;
	}
	(*v)[(*n)++] = r;
	return 0;
}

/* Takes r into the pool unless its key is there already (then frees it); *added tells. */
static int pool_take(struct fundus_workspace *ws, struct fundus_record *r, int *added)
{
	const char *key = fundus__ws_record_key(r);
	size_t dummy;
	int rc;

	*added = 0;
	if (key == NULL || fundus__map_get(&ws->index, key, &dummy)) {
		fundus_record_free(r);
		return 0;
	}
	rc = list_append(&ws->images, &ws->n_images, &ws->cap_images, &ws->index, key, r);
	*added = rc == 0;
	return rc;
}

/* Takes r as the latest prediction of its image (an earlier one is freed). */
static int preds_take(struct fundus_workspace *ws, struct fundus_record *r)
{
	const char *key = fundus__ws_record_key(r);
	size_t at;
	int rc;

	if (key == NULL) {
		fundus_record_free(r);
		return 0;
	}
	if (fundus__map_get(&ws->pred_index, key, &at)) {
		/* The map borrows the key from the record it replaces: re-point it first. */
		struct fundus_record *old = ws->preds[at];

		ws->preds[at] = r;
		if ((rc = fundus__map_put(&ws->pred_index, key, at)) < 0) {
			ws->preds[at] = old;
			fundus_record_free(r);
			return rc;
		}
		fundus_record_free(old);
		return 0;
	}
	return list_append(&ws->preds, &ws->n_preds, &ws->cap_preds, &ws->pred_index, key, r);
}

struct refresh_ctx {
	struct fundus_workspace *ws;
	int predictions;
	const char *file;
};

/* One line of images.jsonl or predictions.jsonl. */
static int refresh_line(void *ud, const char *line, size_t len, int64_t lineno)
{
	struct refresh_ctx *c = ud;
	struct fundus_record *r;
	int rc, added;

	for (size_t i = 0;; i++) {
		if (i == len)
			return 0; /* blank */
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			break;
	}
	rc = fundus_record_parse(line, len, NULL, &r);
	if (rc == FUNDUS_ENOMEM)
		return rc;
	if (rc < 0) {
		fundus_log(FUNDUS_LOG_WARN, "%s: line %lld: %s (line skipped)", c->file,
			   (long long)lineno, fundus_errmsg());
		return 0;
	}
	if (c->predictions)
		return preds_take(c->ws, r);
	return pool_take(c->ws, r, &added);
}

int fundus__ws_refresh(struct fundus_workspace *ws)
{
	struct refresh_ctx c = {ws, 0, "images.jsonl"};
	char *path = fundus__ws_path(ws, c.file);
	int rc;

	if (path == NULL)
		return FUNDUS_ENOMEM;
	rc = fundus__read_lines(path, &ws->images_off, &ws->images_line, refresh_line, &c);
	fundus_free(path);
	if (rc < 0)
		return fundus__ws_error_prefix(rc, "images.jsonl: ");
	c.predictions = 1;
	c.file = "predictions.jsonl";
	if ((path = fundus__ws_path(ws, c.file)) == NULL)
		return FUNDUS_ENOMEM;
	rc = fundus__read_lines(path, &ws->preds_off, &ws->preds_line, refresh_line, &c);
	fundus_free(path);
	if (rc < 0)
		return fundus__ws_error_prefix(rc, "predictions.jsonl: ");
	return 0;
}

int fundus__ws_lock(const struct fundus_workspace *ws, int *fd)
{
	char *path = fundus__ws_path(ws, "lock");
	int rc;

	*fd = -1;
	if (path == NULL)
		return FUNDUS_ENOMEM;
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	fundus_free(path);
	if (*fd < 0)
		return fundus_error_errno(FUNDUS_EIO, errno, "cannot open the workspace lock");
	if ((rc = fundus_file_lock(*fd, 1)) < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/* Makes a relative image path absolute, from the current folder. */
static int absolute_image(struct fundus_record *r)
{
	char buf[PATH_MAX], cwd[PATH_MAX];
	int n;

	if (r->image == NULL || r->image[0] == '/' || r->image[0] == '\0')
		return 0;
	if (realpath(r->image, buf) != NULL)
		return fundus_record_set_string(&r->image, buf);
	if (getcwd(cwd, sizeof cwd) == NULL)
		return fundus_error_errno(FUNDUS_EIO, errno, "cannot find the current folder");
	n = snprintf(buf, sizeof buf, "%s/%s", cwd, r->image);
	if (n < 0 || (size_t)n >= sizeof buf)
		return fundus_error_set(FUNDUS_ELIMIT, "image path too long");
	return fundus_record_set_string(&r->image, buf);
}

int fundus_workspace_add(struct fundus_workspace *ws, const char *path, int predictions,
			 size_t *added, size_t *dups)
{
	struct fundus_record_reader *rd = NULL;
	struct fundus_record *r = NULL;
	size_t n_added = 0, n_dups = 0;
	char *target = NULL, *line = NULL;
	int lock = -1, fd = -1, rc;

	if ((rc = fundus_record_reader_open(&rd, path, NULL)) < 0)
		return rc;
	target = fundus__ws_path(ws, predictions ? "predictions.jsonl" : "images.jsonl");
	if (target == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	if ((rc = fundus__ws_lock(ws, &lock)) < 0)
		goto out;
	/* Read what others added, so that the offsets end where our lines begin. */
	if ((rc = fundus__ws_refresh(ws)) < 0)
		goto out;
	if ((rc = fundus_file_open_append(target, &fd)) < 0)
		goto out;
	for (;;) {
		const char *key;
		size_t len, at;
		int took;

		if ((rc = fundus_record_next(rd, &r)) < 0 || r == NULL)
			break;
		if ((rc = absolute_image(r)) < 0)
			break;
		if ((key = fundus__ws_record_key(r)) == NULL) {
			rc = fundus_error_set(FUNDUS_EINVAL,
					      "line %lld: a record needs an image or an id",
					      (long long)fundus_record_reader_line(rd));
			break;
		}
		if (!predictions && fundus__map_get(&ws->index, key, &at)) {
			n_dups++;
			fundus_record_free(r);
			r = NULL;
			continue;
		}
		if ((rc = fundus_record_format(r, &line, &len)) < 0)
			break;
		if ((rc = fundus_file_append_sync(fd, line, len)) < 0)
			break;
		fundus_free(line);
		line = NULL;
		if (predictions) {
			ws->preds_off += (off_t)len;
			ws->preds_line++;
			rc = preds_take(ws, r);
		} else {
			ws->images_off += (off_t)len;
			ws->images_line++;
			rc = pool_take(ws, r, &took);
		}
		r = NULL;
		if (rc < 0)
			break;
		n_added++;
	}
out:
	fundus_record_free(r);
	fundus_free(line);
	if (fd >= 0)
		close(fd);
	if (lock >= 0)
		close(lock);
	fundus_free(target);
	fundus_record_reader_close(rd);
	if (added)
		*added = n_added;
	if (dups)
		*dups = n_dups;
	return rc;
}

void fundus_workspace_set_proposer(struct fundus_workspace *ws, const struct fundus_proposer *p)
{
	if (ws->proposer.release)
		ws->proposer.release(ws->proposer.ud);
	memset(&ws->proposer, 0, sizeof ws->proposer);
	if (p)
		ws->proposer = *p;
}

/* The score used to rank a proposal: a box without one counts as sure. */
static double rank_score(const struct fundus_object *o)
{
	return isnan(o->score) ? 1.0 : o->score;
}

/* Copies the objects of src that pass (all, or only scored ones) into dst. */
static int copy_objects(struct fundus_record *dst, const struct fundus_record *src, int scored_only)
{
	for (size_t k = 0; k < src->n_objects; k++) {
		const struct fundus_object *o = &src->objects[k];
		int rc;

		if (scored_only && isnan(o->score))
			continue;
		rc = fundus_record_add_object(dst, o->label, &o->bbox, o->score, o->by);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The workspace's own proposals: the predictions stream and scored objects of the image. */
static int own_proposals(struct fundus_workspace *ws, const struct fundus_record *img,
			 struct fundus_record **out)
{
	const char *key = fundus__ws_record_key(img);
	const struct fundus_record *pred = NULL;
	size_t at;
	int scored = 0, rc;

	*out = NULL;
	if (key && fundus__map_get(&ws->pred_index, key, &at))
		pred = ws->preds[at];
	for (size_t k = 0; k < img->n_objects; k++)
		scored |= !isnan(img->objects[k].score);
	if (pred == NULL && !scored)
		return 0;
	if ((rc = fundus_record_new(out)) < 0)
		return rc;
	if ((rc = copy_objects(*out, img, 1)) < 0 ||
	    (pred && (rc = copy_objects(*out, pred, 0)) < 0)) {
		fundus_record_free(*out);
		*out = NULL;
	}
	return rc;
}

int fundus_workspace_proposals(struct fundus_workspace *ws, size_t i, struct fundus_record **out)
{
	struct fundus_record *r;
	int rc;

	*out = NULL;
	if (i >= ws->n_images)
		return fundus_error_set(FUNDUS_EINVAL, "no image %zu", i);
	if (ws->proposer.propose)
		rc = ws->proposer.propose(ws->proposer.ud, ws->images[i], &r);
	else
		rc = own_proposals(ws, ws->images[i], &r);
	if (rc < 0 || r == NULL)
		return rc;
	/* Best first; insertion sort keeps equal scores in their order and n is small. */
	for (size_t a = 1; a < r->n_objects; a++) {
		struct fundus_object o = r->objects[a];
		size_t b = a;

		while (b > 0 && rank_score(&r->objects[b - 1]) < rank_score(&o)) {
			r->objects[b] = r->objects[b - 1];
			b--;
		}
		r->objects[b] = o;
	}
	*out = r;
	return 0;
}
