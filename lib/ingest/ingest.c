/*
 * fundus_ingest_run(): inputs to files to stored images and records.
 *
 * The inputs are expanded into a list of files first (folders walked in
 * name order). Worker threads then take files in list order and do the
 * expensive part: hash, decode (to check a plain raster, or to make a
 * working copy), encode and store the image file. The calling thread
 * appends the records to the index and reports them strictly in list
 * order, as the results come in, so that an ingest's output does not depend
 * on the number of threads. Workers run at most WINDOW files ahead of the
 * reporting, which bounds the results held in memory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fundus/file.h"
#include "fundus/pool.h"
#include "image/codec.h"
#include "image/dicom.h"
#include "internal.h"

#define WINDOW 64

void fundus_ingest_options_default(struct fundus_ingest_options *o)
{
	memset(o, 0, sizeof *o);
	o->long_side = 4096;
	o->working_type = FUNDUS_IMAGE_PNG;
	o->quality = 95;
	fundus_image_limits_default(&o->limits);
}

/* One input file and, once a worker is done with it, what became of it. */
struct image_out {
	struct fundus_record *rec; /* image path relative to the dataset */
	char *wkey;                /* working key, for a working copy */
	char *existing;            /* the index line, when found before decoding */
};

struct item {
	char *path;
	int named; /* given by the caller, not found in a folder */
	int done;
	int code; /* < 0: failed; msg says why */
	int skip; /* not an image, found in a folder */
	char *msg;
	struct image_out *imgs;
	int nimgs;
};

struct run {
	const struct fundus_ingest_options *o;
	struct fundus__index *ix;
	struct item *items;
	size_t n, cap;
	size_t next;     /* next item for a worker */
	size_t reported; /* items reported so far */
	int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	dev_t ds_dev; /* the dataset folder, left out of walks */
	ino_t ds_ino;
};

/* Appends a file to the list. */
static int add_item(struct run *run, const char *path, int named)
{
	if (run->n == run->cap) {
		size_t cap = run->cap ? run->cap * 2 : 64;
		struct item *ni = fundus_realloc(run->items, cap * sizeof *ni);

		if (ni == NULL)
			return FUNDUS_ENOMEM;
		run->items = ni;
		run->cap = cap;
	}
	memset(&run->items[run->n], 0, sizeof run->items[0]);
	run->items[run->n].path = fundus_strdup(path);
	if (run->items[run->n].path == NULL)
		return FUNDUS_ENOMEM;
	run->items[run->n++].named = named;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the files under a folder, recursively, in name order. */
static int walk(struct run *run, const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (depth > 64)
		return fundus_error_set(FUNDUS_ELIMIT, "'%s': folders nested too deep", dir);
	d = opendir(dir);
	if (d == NULL)
		return fundus_error_errno(FUNDUS_EIO, errno, "cannot read folder '%s'", dir);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nn = fundus_realloc(names, nc * sizeof *nn);

			if (nn == NULL) {
				rc = FUNDUS_ENOMEM;
				break;
			}
			names = nn;
			cap = nc;
		}
		names[n] = fundus_strdup(e->d_name);
		if (names[n] == NULL) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0 && n > 0)
		qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[4096];
		struct stat st;

		if (snprintf(path, sizeof path, "%s%s%s", dir,
			     dir[strlen(dir) - 1] == '/' ? "" : "/",
			     names[i]) >= (int)sizeof path) {
			rc = fundus_error_set(FUNDUS_EINVAL, "'%s/%s': name too long", dir,
					      names[i]);
			break;
		}
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			/* A link to a file is followed; a link to a folder is not (loops). */
			if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev == run->ds_dev && st.st_ino == run->ds_ino)
				continue;
			rc = walk(run, path, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			rc = add_item(run, path, 0);
		}
	}
	for (size_t i = 0; i < n; i++)
		fundus_free(names[i]);
	fundus_free(names);
	return rc;
}

/* Sets an item's failure from the thread's error. */
static void fail_item(struct item *it, int code)
{
	it->code = code < 0 ? code : FUNDUS_EIO;
	it->msg = fundus_strdup(fundus_errmsg()[0] ? fundus_errmsg() : fundus_strerror(code));
}

/* The file name extension of a stored original. */
static const char *original_ext(const char *codec)
{
	return strcmp(codec, "jpeg") == 0 ? "jpg" : strcmp(codec, "png") == 0 ? "png" : "tif";
}

/*
 * Whether a page is kept as the file's bytes: a file of a single 8-bit
 * image that every reader decodes, of no more pixels than one decode may
 * hold.
 */
static int is_plain(const struct fundus_image_source *src)
{
	const struct fundus_image_info *info = &src->info;
	const char *c = src->codec->name;

	return (strcmp(c, "jpeg") == 0 || strcmp(c, "png") == 0 || strcmp(c, "tiff") == 0) &&
	       info->pages == 1 && info->levels == 1 && info->bits <= 8 &&
	       (int64_t)info->width * info->height <= src->limits.max_pixels;
}

/* Writes a stored image unless a file of that content is there already. */
static int store(const char *dir, const char *hex, const char *ext, const void *data, size_t len)
{
	char sub[4096], path[4200];
	int rc;

	snprintf(sub, sizeof sub, "%s/img/%.2s", dir, hex);
	snprintf(path, sizeof path, "%s/%s.%s", sub, hex, ext);
	/* Stored files appear by rename only, so one that exists is whole. */
	if (access(path, F_OK) == 0)
		return 0;
	rc = fundus_mkdir_p(sub);
	if (rc == 0)
		rc = fundus_file_write_atomic(path, data, len);
	return rc;
}

/* The source object of a record. */
static cJSON *make_source(const char *path, const char *format, const char *src_hex,
			  const struct fundus_image_info *info, int page, int level, int dicom)
{
	cJSON *s = cJSON_CreateObject();

	if (s == NULL || !cJSON_AddStringToObject(s, "path", path) ||
	    !cJSON_AddStringToObject(s, "format", format))
		goto nomem;
	if (dicom && !cJSON_AddNumberToObject(s, "frame", page))
		goto nomem;
	if (!dicom && info->pages > 1 && !cJSON_AddNumberToObject(s, "page", page))
		goto nomem;
	if (level >= 0 && !cJSON_AddNumberToObject(s, "level", level))
		goto nomem;
	if (!cJSON_AddStringToObject(s, "sha256", src_hex))
		goto nomem;
	return s;
nomem:
	cJSON_Delete(s);
	return NULL;
}

/* One page (or frame) of an opened file into a stored image and its record. */
static int ingest_page(struct run *run, struct fundus_image_source *src, const char *path,
		       const char *src_hex, int page, struct image_out *io)
{
	const struct fundus_ingest_options *o = run->o;
	struct fundus_image_info pinfo;
	struct fundus_record *rec = NULL;
	struct fundus_image *img = NULL;
	const char *format = src->codec->name, *ext;
	char hex[FUNDUS_SHA256_HEX], wkey[256], rel[128];
	uint8_t digest[FUNDUS_SHA256_BYTES], *enc = NULL;
	size_t enclen = 0;
	int rc, level = -1, w, h, dicom = strcmp(format, "dicom") == 0;
	cJSON *meta = NULL;

	memset(io, 0, sizeof *io);
	rc = fundus_image_page_info(src, page, &pinfo);
	if (rc < 0)
		return rc;
	if (is_plain(src)) {
		struct fundus_read_options ro;
		char id[80];

		snprintf(hex, sizeof hex, "%s", src_hex);
		ext = original_ext(format);
		snprintf(id, sizeof id, "sha256:%s", hex);
		rc = fundus__index_find(run->ix, id, &io->existing);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		/* Decode once, reduced, to refuse truncated and corrupt files. */
		fundus_read_options_default(&ro);
		ro.scale = 8;
		ro.format = FUNDUS_PIX_NONE;
		rc = fundus_image_read(src, &ro, &img);
		fundus_image_free(img);
		img = NULL;
		if (rc < 0)
			return rc;
		w = pinfo.width;
		h = pinfo.height;
		rc = store(o->dataset, hex, ext, src->data, src->len);
	} else {
		struct fundus_save_options so;

		ext = o->working_type == FUNDUS_IMAGE_JPEG ? "jpg" : "png";
		fundus__working_size(pinfo.width, pinfo.height, o->long_side, &w, &h);
		fundus__working_key(wkey, sizeof wkey, src_hex, page, w, h, ext);
		rc = fundus__index_find(run->ix, wkey, &io->existing);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		rc = fundus__render_working(src, page, o->long_side, &img, &level);
		if (rc < 0)
			return rc;
		if (pinfo.levels <= 1)
			level = -1;
		fundus_save_options_default(&so);
		so.type = o->working_type;
		so.quality = o->quality;
		so.subsample = 0;
		rc = fundus_image_encode(img, &so, &enc, &enclen);
		fundus_image_free(img);
		if (rc < 0)
			return rc;
		fundus_sha256(enc, enclen, digest);
		fundus_sha256_hex(digest, hex);
		rc = store(o->dataset, hex, ext, enc, enclen);
		fundus_free(enc);
		io->wkey = fundus_strdup(wkey);
		if (io->wkey == NULL)
			rc = FUNDUS_ENOMEM;
	}
	if (rc < 0)
		return rc;
	if (src->codec == &fundus__codec_openslide)
		format = fundus__openslide_format(src);
	rc = fundus_record_new(&rec);
	if (rc < 0)
		return rc;
	io->rec = rec;
	snprintf(rel, sizeof rel, "img/%.2s/%s.%s", hex, hex, ext);
	if (fundus_record_set_string(&rec->image, rel) < 0)
		return FUNDUS_ENOMEM;
	snprintf(rel, sizeof rel, "sha256:%s", hex);
	if (fundus_record_set_string(&rec->id, rel) < 0)
		return FUNDUS_ENOMEM;
	rec->width = w;
	rec->height = h;
	rec->source = make_source(path, format, src_hex, &src->info, page, level, dicom);
	rec->meta = meta = cJSON_CreateObject();
	if (rec->source == NULL || meta == NULL ||
	    !cJSON_AddNumberToObject(meta, "orientation", pinfo.orientation) ||
	    (pinfo.bits != 8 && !cJSON_AddNumberToObject(meta, "bits", pinfo.bits)))
		return FUNDUS_ENOMEM;
	if (w != pinfo.width || h != pinfo.height) {
		if (!cJSON_AddNumberToObject(meta, "original_width", pinfo.width) ||
		    !cJSON_AddNumberToObject(meta, "original_height", pinfo.height))
			return FUNDUS_ENOMEM;
	}
	return fundus__image_meta(src, page, o->keep_phi ? FUNDUS__META_PHI : 0, meta);
}

/* Frees what a worker left in an item. */
static void clear_item(struct item *it)
{
	for (int i = 0; i < it->nimgs; i++) {
		fundus_record_free(it->imgs[i].rec);
		fundus_free(it->imgs[i].wkey);
		fundus_free(it->imgs[i].existing);
	}
	fundus_free(it->imgs);
	it->imgs = NULL;
	it->nimgs = 0;
	fundus_free(it->msg);
	it->msg = NULL;
}

/* Opens, hashes and ingests every page of one file. */
static void ingest_file(struct run *run, struct item *it)
{
	struct fundus_image_source *src = NULL;
	uint8_t digest[FUNDUS_SHA256_BYTES];
	char src_hex[FUNDUS_SHA256_HEX];
	int rc, pages;

	fundus_error_clear();
	rc = fundus_image_open(&src, it->path, &run->o->limits);
	if (rc == FUNDUS_EUNSUPPORTED) {
		uint8_t head[256];
		ssize_t n = -1;
		int fd = open(it->path, O_RDONLY | O_CLOEXEC);
		const char *what;

		if (fd >= 0) {
			n = read(fd, head, sizeof head);
			close(fd);
		}
		what = n > 0 ? fundus__sniff_encrypted(head, (size_t)n) : NULL;
		if (what) {
			fundus_error_set(FUNDUS_EUNSUPPORTED, "encrypted: %s; decrypt it first",
					 what);
		} else if (!it->named && n > 0 && fundus_image_probe(head, (size_t)n) == NULL) {
			/* Not an image format at all; a DICOM without pixels is a failure. */
			it->skip = 1;
			it->msg = fundus_strdup("not an image");
			return;
		}
	}
	if (rc < 0) {
		fail_item(it, rc);
		return;
	}
	fundus_sha256(src->data, src->len, digest);
	fundus_sha256_hex(digest, src_hex);
	pages = src->info.pages;
	it->imgs = fundus_calloc((size_t)pages, sizeof *it->imgs);
	if (it->imgs == NULL) {
		fail_item(it, FUNDUS_ENOMEM);
		fundus_image_close(src);
		return;
	}
	for (int p = 0; p < pages; p++) {
		it->nimgs = p + 1;
		rc = ingest_page(run, src, it->path, src_hex, p, &it->imgs[p]);
		if (rc < 0) {
			if (pages > 1) {
				char msg[1024];

				snprintf(msg, sizeof msg, "%s %d: %s",
					 strcmp(src->codec->name, "dicom") == 0 ? "frame" : "page",
					 p, fundus_errmsg());
				fundus_error_set(rc, "%s", msg);
			}
			clear_item(it);
			fail_item(it, rc);
			break;
		}
	}
	fundus_image_close(src);
}

/* A worker: takes the next file, at most WINDOW ahead of the reporting. */
static void worker(void *ctx, size_t begin, size_t end, int id)
{
	struct run *run = ctx;

	(void)begin, (void)end, (void)id;
	for (;;) {
		size_t i;

		pthread_mutex_lock(&run->mu);
		while (!run->stop && run->next < run->n && run->next >= run->reported + WINDOW)
			pthread_cond_wait(&run->cv, &run->mu);
		if (run->stop || run->next >= run->n) {
			pthread_mutex_unlock(&run->mu);
			return;
		}
		i = run->next++;
		pthread_mutex_unlock(&run->mu);
		ingest_file(run, &run->items[i]);
		pthread_mutex_lock(&run->mu);
		run->items[i].done = 1;
		pthread_cond_broadcast(&run->cv);
		pthread_mutex_unlock(&run->mu);
	}
}

/* Reports one image: appends its record unless present, then on_record. */
static int report_image(struct run *run, struct image_out *io, struct fundus_ingest_stats *st)
{
	const struct fundus_ingest_options *o = run->o;
	struct fundus_record *r = io->rec, *old = NULL;
	char *line = io->existing, *full;
	int rc, added = 0;
	size_t n;

	if (line == NULL) {
		rc = fundus__index_add(run->ix, r, io->wkey, &added, &line);
		if (rc < 0)
			return rc;
	}
	if (!added) {
		rc = fundus_record_parse(line, strlen(line), NULL, &old);
		if (line != io->existing)
			fundus_free(line);
		if (rc < 0)
			return rc;
		r = old;
	}
	st->images++;
	added ? st->added++ : st->existing++;
	rc = 0;
	if (o->on_record && r->image) {
		/* The path as a reader in the current folder finds it. */
		n = strlen(o->dataset) + strlen(r->image) + 2;
		full = fundus_malloc(n);
		if (full == NULL) {
			fundus_record_free(old);
			return FUNDUS_ENOMEM;
		}
		if (strcmp(o->dataset, ".") == 0)
			snprintf(full, n, "%s", r->image);
		else
			snprintf(full, n, "%s%s%s", o->dataset,
				 o->dataset[strlen(o->dataset) - 1] == '/' ? "" : "/", r->image);
		fundus_free(r->image);
		r->image = full;
		if (o->on_record(o->ud, r, added) != 0)
			rc = fundus_error_set(FUNDUS_ECANCELED, "stopped");
	}
	fundus_record_free(old);
	return rc;
}

/* The reporting side: waits for each item in order and reports it. */
static int report_all(struct run *run, struct fundus_ingest_stats *st)
{
	const struct fundus_ingest_options *o = run->o;
	int rc = 0;

	for (size_t i = 0; i < run->n && rc == 0; i++) {
		struct item *it = &run->items[i];

		pthread_mutex_lock(&run->mu);
		while (!it->done)
			pthread_cond_wait(&run->cv, &run->mu);
		pthread_mutex_unlock(&run->mu);
		if (it->skip) {
			st->skipped++;
			if (o->on_skip)
				o->on_skip(o->ud, it->path, it->msg ? it->msg : "not an image");
		} else if (it->code < 0) {
			st->files++;
			st->failed++;
			if (o->on_error)
				o->on_error(o->ud, it->path, it->code, it->msg ? it->msg : "");
		} else {
			st->files++;
			for (int k = 0; k < it->nimgs && rc == 0; k++)
				rc = report_image(run, &it->imgs[k], st);
		}
		clear_item(it);
		pthread_mutex_lock(&run->mu);
		run->reported = i + 1;
		if (rc < 0)
			run->stop = 1;
		pthread_cond_broadcast(&run->cv);
		pthread_mutex_unlock(&run->mu);
		if (rc == 0 && fundus_progress_report(o->progress, "ingesting", (int64_t)i + 1,
						      (int64_t)run->n) != 0)
			rc = fundus_error_set(FUNDUS_ECANCELED, "stopped");
	}
	return rc;
}

/* A worker thread's body. */
static void *worker_main(void *arg)
{
	worker(arg, 0, 0, 0);
	return NULL;
}

int fundus_ingest_run(const struct fundus_ingest_options *o, const char *const *inputs,
		      size_t n_inputs, struct fundus_ingest_stats *st_out)
{
	struct run run;
	struct fundus_ingest_stats stats;
	pthread_t *tids = NULL;
	struct stat st;
	int rc, nworkers, started = 0, helper = 0;

	memset(&run, 0, sizeof run);
	memset(&stats, 0, sizeof stats);
	if (st_out)
		memset(st_out, 0, sizeof *st_out);
	if (o == NULL || o->dataset == NULL || o->dataset[0] == '\0')
		return fundus_error_set(FUNDUS_EINVAL, "no dataset folder");
	if (o->long_side < 1 || o->quality < 1 || o->quality > 100 || o->threads < 0 ||
	    (o->working_type != FUNDUS_IMAGE_PNG && o->working_type != FUNDUS_IMAGE_JPEG))
		return fundus_error_set(FUNDUS_EINVAL, "bad ingest options");
	run.o = o;
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	rc = fundus__index_open(&run.ix, o->dataset);
	if (rc < 0)
		goto out;
	if (stat(o->dataset, &st) == 0) {
		run.ds_dev = st.st_dev;
		run.ds_ino = st.st_ino;
	}
	for (size_t i = 0; i < n_inputs && rc == 0; i++) {
		if (stat(inputs[i], &st) == 0 && S_ISDIR(st.st_mode))
			rc = walk(&run, inputs[i], 0);
		else
			rc = add_item(&run, inputs[i], 1);
	}
	if (rc < 0)
		goto out;
	/* Before any thread: DICOM decodes fork from a single-threaded helper. */
	rc = fundus__dicom_helper_start();
	if (rc < 0)
		goto out;
	helper = 1;
	/*
	 * Workers do the work; this thread reports, which is mostly waiting,
	 * so it does not count as a core.
	 */
	nworkers = o->threads > 0 ? o->threads : fundus_cpu_count();
	if ((size_t)nworkers > run.n)
		nworkers = (int)run.n;
	tids = fundus_calloc((size_t)nworkers + 1, sizeof *tids);
	if (tids == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	for (; started < nworkers; started++)
		if (pthread_create(&tids[started], NULL, worker_main, &run) != 0)
			break;
	if (started == 0 && nworkers > 0) {
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot start a thread");
		goto out;
	}
	rc = report_all(&run, &stats);
	pthread_mutex_lock(&run.mu);
	run.stop = 1;
	pthread_cond_broadcast(&run.cv);
	pthread_mutex_unlock(&run.mu);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
out:
	if (helper)
		fundus__dicom_helper_stop();
	fundus_free(tids);
	for (size_t i = 0; i < run.n; i++) {
		clear_item(&run.items[i]);
		fundus_free(run.items[i].path);
	}
	fundus_free(run.items);
	fundus__index_close(run.ix);
	pthread_cond_destroy(&run.cv);
	pthread_mutex_destroy(&run.mu);
	if (st_out)
		*st_out = stats;
	return rc;
}
