/* The images of a run, in input order: files, folders, names on stdin, record streams. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fdetect.h"
#include "fundus/file.h"
#include "tool.h"

/* A new slot at the end of the list, zeroed; NULL after a message. */
static struct job *jobs_push(struct jobs *js)
{
	if (js->n == js->cap) {
		size_t cap = js->cap ? 2 * js->cap : 256;
		struct job *v = fundus_realloc(js->v, cap * sizeof *v);

		if (v == NULL) {
			tool_error("out of memory");
			return NULL;
		}
		js->v = v;
		js->cap = cap;
	}
	memset(&js->v[js->n], 0, sizeof js->v[0]);
	return &js->v[js->n++];
}

int jobs_add_file(struct jobs *js, const char *path, int from_folder)
{
	struct job *j = jobs_push(js);

	if (j == NULL)
		return -1;
	j->from_folder = from_folder;
	if ((j->path = fundus_strdup(path)) == NULL) {
		js->n--;
		tool_error("out of memory");
		return -1;
	}
	return 0;
}

/* Byte order of two names, for qsort. */
static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the files under a folder, recursively, in byte order of the names. */
static int walk(struct jobs *js, const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (depth > 64) {
		tool_error("cannot read folder '%s': folders nested too deep", dir);
		return -1;
	}
	if ((d = opendir(dir)) == NULL) {
		tool_error("cannot read folder '%s': %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL && rc == 0) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			char **nn = fundus_realloc(names, nc * sizeof *nn);

			if (nn == NULL) {
				rc = -1;
				break;
			}
			names = nn;
			cap = nc;
		}
		if ((names[n] = fundus_strdup(e->d_name)) == NULL)
			rc = -1;
		else
			n++;
	}
	closedir(d);
	if (rc < 0)
		tool_error("out of memory");
	if (rc == 0 && n > 0)
		qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t len = strlen(dir) + strlen(names[i]) + 2;
		char *path = fundus_malloc(len);
		struct stat st;

		if (path == NULL) {
			tool_error("out of memory");
			rc = -1;
			break;
		}
		snprintf(path, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
			 names[i]);
		if (lstat(path, &st) != 0) {
			fundus_free(path);
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			/* A link to a file is followed; a link to a folder is not (loops). */
			if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
				fundus_free(path);
				continue;
			}
		}
		if (S_ISDIR(st.st_mode))
			rc = walk(js, path, depth + 1);
		else if (S_ISREG(st.st_mode))
			rc = jobs_add_file(js, path, 1);
		fundus_free(path);
	}
	for (size_t i = 0; i < n; i++)
		fundus_free(names[i]);
	fundus_free(names);
	return rc;
}

int jobs_add_path(struct jobs *js, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return walk(js, path, 0);
	return jobs_add_file(js, path, 0);
}

int jobs_add_records(struct jobs *js, const char *path, const char *image_dir, int *bad)
{
	struct fundus_record_reader *rd;
	struct fundus_record *r;
	int rc;

	if (fundus_record_reader_open(&rd, path, NULL) < 0) {
		tool_lib_error("cannot read", path);
		return -1;
	}
	for (;;) {
		struct job *j;

		rc = fundus_record_next(rd, &r);
		if (rc == FUNDUS_EIO || rc == FUNDUS_ENOMEM) {
			tool_lib_error("cannot read", path);
			fundus_record_reader_close(rd);
			return -1;
		}
		if (rc < 0) {
			tool_error("'%s': %s", path, fundus_errmsg());
			(*bad)++;
			continue;
		}
		if (r == NULL)
			break;
		if (r->image == NULL || r->image[0] == '\0') {
			tool_error("'%s': line %lld: the record names no image", path,
				   (long long)fundus_record_reader_line(rd));
			(*bad)++;
			fundus_record_free(r);
			continue;
		}
		if ((j = jobs_push(js)) == NULL) {
			fundus_record_free(r);
			fundus_record_reader_close(rd);
			return -1;
		}
		j->rec = r;
		if (image_dir && r->image[0] != '/') {
			size_t len = strlen(image_dir) + strlen(r->image) + 2;

			if ((j->path = fundus_malloc(len)) != NULL)
				snprintf(j->path, len, "%s/%s", image_dir, r->image);
		} else {
			j->path = fundus_strdup(r->image);
		}
		if (j->path == NULL) {
			tool_error("out of memory");
			fundus_record_reader_close(rd);
			return -1;
		}
	}
	fundus_record_reader_close(rd);
	return 0;
}

int jobs_add_stdin(struct jobs *js, int sep)
{
	uint8_t *data;
	size_t len;
	int rc = 0;

	if (fundus_file_read("-", (size_t)1 << 31, &data, &len) < 0) {
		tool_lib_error("cannot read", "-");
		return -1;
	}
	for (size_t i = 0, start = 0; i <= len && rc == 0; i++) {
		size_t e = i;

		if (i < len && data[i] != sep)
			continue;
		if (sep == '\n' && e > start && data[e - 1] == '\r')
			e--;
		data[e] = '\0';
		if (e > start)
			rc = jobs_add_path(js, (char *)data + start);
		start = i + 1;
	}
	fundus_free(data);
	return rc;
}

void jobs_free(struct jobs *js)
{
	for (size_t i = 0; i < js->n; i++) {
		fundus_free(js->v[i].path);
		fundus_record_free(js->v[i].rec);
	}
	fundus_free(js->v);
	memset(js, 0, sizeof *js);
}
