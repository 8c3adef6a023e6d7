/*
 * Unit tests of fundus_ingest_run(): plain rasters kept byte for byte,
 * 16-bit and pyramidal images as working copies, re-ingest, every failure
 * kind, and two processes ingesting into one dataset at once.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fundus/core.h"
#include "harness.h"
#include "image/codec.h"
#include "ingest_util.h"

/* Writes a synthetic photograph as path (type from the extension), 16-bit when deep. */
static struct fundus_image *write_synth(const char *path, int w, int h, uint64_t seed, int deep,
					struct fundus_synth_truth *t)
{
	struct fundus_image *img = iu_synth(w, h, seed, t), *d = NULL;
	int rc;

	if (img == NULL)
		return NULL;
	if (deep && fundus_image_convert(img, FUNDUS_PIX_RGB16, &d) < 0) {
		fundus_image_free(img);
		return NULL;
	}
	rc = fundus_image_save(deep ? d : img, path, NULL);
	fundus_image_free(d);
	if (rc < 0) {
		fprintf(stderr, "cannot save %s: %s\n", path, fundus_errmsg());
		fundus_image_free(img);
		return NULL;
	}
	return img;
}

/* The stored file of a record, as a path. */
static const char *stored(const struct fundus_record *r)
{
	return r->image;
}

static const char *src_str(const struct fundus_record *r, const char *key)
{
	const cJSON *v = r->source ? cJSON_GetObjectItemCaseSensitive(r->source, key) : NULL;

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double json_num(const cJSON *obj, const char *key)
{
	const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

TEST(plain_rasters_kept_byte_for_byte)
{
	const char *names[] = {"plain/a.jpg", "plain/b.png", "plain/c.tif"};
	const char *fmts[] = {"jpeg", "png", "tiff"};
	struct fundus_image *src[3];
	struct fundus_synth_truth t[3];
	struct iu_result res, again;
	const char *in[] = {iu_path("plain")};
	char ds[4096];

	mkdir(iu_path("plain"), 0777);
	for (int i = 0; i < 3; i++) {
		src[i] = write_synth(iu_path(names[i]), 640, 480, 11 + i, 0, &t[i]);
		CHECK(src[i] != NULL);
	}
	snprintf(ds, sizeof ds, "%s", iu_path("ds_plain"));
	iu_ingest(&res, ds, in, 1, NULL);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 3);
	CHECK_INT_EQ(res.nfailed, 0);
	CHECK_INT_EQ(res.st.added, 3);
	for (int i = 0; i < 3; i++) {
		struct fundus_record *r = res.recs[i];
		struct fundus_image *img;
		char want[4096];

		CHECK_INT_EQ(res.added[i], 1);
		/* Input order: the folder's names sorted. */
		CHECK_STR_EQ(src_str(r, "path"), iu_path(names[i]));
		CHECK_STR_EQ(src_str(r, "format"), fmts[i]);
		CHECK_STR_EQ(r->id, iu_file_id(iu_path(names[i])));
		CHECK_STR_EQ(r->id, iu_file_id(stored(r)));
		snprintf(want, sizeof want, "%s/img/%.2s/%s.%s", ds, r->id + 7, r->id + 7,
			 i == 0   ? "jpg"
			 : i == 1 ? "png"
				  : "tif");
		CHECK_STR_EQ(r->image, want);
		CHECK_INT_EQ(r->width, 640);
		CHECK_INT_EQ(r->height, 480);
		CHECK_INT_EQ((int)json_num(r->meta, "orientation"), 1);
		img = iu_load(stored(r), FUNDUS_PIX_RGB8);
		CHECK(img != NULL);
		if (i > 0) /* lossless: the very pixels */
			CHECK_INT_EQ(iu_maxdiff(img, src[i]), 0);
		else
			CHECK(iu_box_meandiff(img, src[i], &t[i].disc_box) < 4);
		fundus_image_free(img);
	}
	CHECK_INT_EQ(iu_count_lines(iu_path("ds_plain/records.jsonl")), 3);
	/* Again, and the same files under other names: nothing changes. */
	iu_ingest(&again, ds, in, 1, NULL);
	CHECK_OK(again.rc);
	CHECK_INT_EQ(again.nrecs, 3);
	CHECK_INT_EQ(again.st.added, 0);
	CHECK_INT_EQ(again.st.existing, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_INT_EQ(again.added[i], 0);
		CHECK_STR_EQ(again.recs[i]->id, res.recs[i]->id);
		CHECK_STR_EQ(again.recs[i]->image, res.recs[i]->image);
	}
	CHECK_INT_EQ(iu_count_lines(iu_path("ds_plain/records.jsonl")), 3);
	iu_free(&res);
	iu_free(&again);
	for (int i = 0; i < 3; i++)
		fundus_image_free(src[i]);
}

TEST(sixteen_bit_png_and_tiff_get_exact_working_copies)
{
	const char *in[] = {iu_path("deep.png"), iu_path("deep.tif")};
	struct fundus_synth_truth t;
	struct fundus_image *src = write_synth(in[0], 640, 480, 21, 1, &t), *src2;
	struct iu_result res;

	src2 = write_synth(in[1], 640, 480, 21, 1, NULL);
	CHECK(src && src2);
	iu_ingest(&res, iu_path("ds_deep"), in, 2, NULL);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 2);
	for (int i = 0; i < res.nrecs; i++) {
		struct fundus_record *r = res.recs[i];
		struct fundus_image *img = iu_load(stored(r), FUNDUS_PIX_NONE);

		CHECK(img != NULL);
		CHECK_INT_EQ(img->format, FUNDUS_PIX_RGB8);
		/* 8 -> 16 (x 257) -> 8 bits gives the photograph back exactly. */
		CHECK_INT_EQ(iu_maxdiff(img, src), 0);
		CHECK_NEAR(iu_box_meandiff(img, src, &t.disc_box), 0, 0);
		/* The second holds the first's pixels: the first's record comes back. */
		CHECK_STR_EQ(src_str(r, "format"), "png");
		CHECK_INT_EQ(res.added[i], i == 0);
		CHECK_INT_EQ((int)json_num(r->meta, "bits"), 16);
		CHECK_STR_EQ(r->id, iu_file_id(stored(r)));
		CHECK(strstr(r->image, ".png") != NULL);
		fundus_image_free(img);
	}
	/* Both sources hold the same pixels, so the same working copy. */
	CHECK_STR_EQ(res.recs[0]->id, res.recs[1]->id);
	CHECK_INT_EQ(res.st.added, 1);
	iu_free(&res);
	fundus_image_free(src);
	fundus_image_free(src2);
}

TEST(working_copy_reduced_to_long_side)
{
	const char *in[] = {iu_path("big16.png")};
	struct fundus_synth_truth t;
	struct fundus_image *src = write_synth(in[0], 640, 480, 31, 1, &t), *want = NULL, *img;
	struct fundus_ingest_options o;
	struct iu_result res;
	struct fundus_box box;

	CHECK(src != NULL);
	fundus_ingest_options_default(&o);
	o.long_side = 320;
	iu_ingest(&res, iu_path("ds_small"), in, 1, &o);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 1);
	CHECK_INT_EQ(res.recs[0]->width, 320);
	CHECK_INT_EQ(res.recs[0]->height, 240);
	CHECK_INT_EQ((int)json_num(res.recs[0]->meta, "original_width"), 640);
	img = iu_load(stored(res.recs[0]), FUNDUS_PIX_RGB8);
	CHECK(img != NULL);
	CHECK_OK(fundus_image_resize(src, 320, 240, &want));
	CHECK_INT_LE(iu_maxdiff(img, want), 1);
	box = t.disc_box;
	box.x0 /= 2, box.y0 /= 2, box.x1 /= 2, box.y1 /= 2;
	CHECK(iu_box_meandiff(img, want, &box) < 0.5);
	fundus_image_free(img);
	iu_free(&res);
	/* JPEG working copies: the same within JPEG's loss. */
	o.working_type = FUNDUS_IMAGE_JPEG;
	iu_ingest(&res, iu_path("ds_small"), in, 1, &o);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 1);
	CHECK_INT_EQ(res.added[0], 1);
	CHECK(strstr(res.recs[0]->image, ".jpg") != NULL);
	img = iu_load(stored(res.recs[0]), FUNDUS_PIX_RGB8);
	CHECK(img != NULL);
	CHECK(iu_box_meandiff(img, want, &box) < 3);
	fundus_image_free(img);
	CHECK_INT_EQ(iu_count_lines(iu_path("ds_small/records.jsonl")), 2);
	iu_free(&res);
	fundus_image_free(want);
	fundus_image_free(src);
}

TEST(pyramid_tiff_read_at_the_nearest_level)
{
	struct fundus_image *l0 = iu_synth(1024, 768, 41, NULL), *l1 = NULL, *l2 = NULL, *img;
	const struct fundus_image *levels[3];
	const char *in[] = {iu_path("pyr.tif")};
	struct fundus_ingest_options o;
	struct iu_result res;
	uint8_t *data;
	size_t len;

	CHECK(l0 != NULL);
	CHECK_OK(fundus_image_shrink(l0, 2, &l1));
	CHECK_OK(fundus_image_shrink(l0, 4, &l2));
	levels[0] = l0, levels[1] = l1, levels[2] = l2;
	CHECK_OK(fundus__tiff_write_pyramid(levels, 3, 128, NULL, &data, &len));
	CHECK_INT_EQ(tu_write_file(in[0], data, len), 0);
	fundus_free(data);
	fundus_ingest_options_default(&o);
	o.long_side = 512;
	iu_ingest(&res, iu_path("ds_pyr"), in, 1, &o);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 1);
	CHECK_INT_EQ((int)json_num(res.recs[0]->source, "level"), 1);
	CHECK_INT_EQ(res.recs[0]->width, 512);
	img = iu_load(stored(res.recs[0]), FUNDUS_PIX_RGB8);
	CHECK(img != NULL);
	CHECK_INT_EQ(iu_maxdiff(img, l1), 0);
	fundus_image_free(img);
	iu_free(&res);
	/* Between levels: level 1 read and averaged down. */
	o.long_side = 300;
	iu_ingest(&res, iu_path("ds_pyr"), in, 1, &o);
	CHECK_OK(res.rc);
	CHECK_INT_EQ((int)json_num(res.recs[0]->source, "level"), 1);
	CHECK_INT_EQ(res.recs[0]->width, 300);
	CHECK_INT_EQ(res.recs[0]->height, 225);
	iu_free(&res);
	fundus_image_free(l0);
	fundus_image_free(l1);
	fundus_image_free(l2);
}

TEST(exif_orientation_in_the_record)
{
	/* APP1 "Exif": a little-endian TIFF header and one IFD entry, Orientation = 6. */
	static const uint8_t app1[] = {
	    0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
	    1,    0,    0x12, 0x01, 3,   0,   1,   0,   0, 0, 6,   0,   0,  0, 0, 0, 0, 0};
	struct fundus_image *img = iu_synth(64, 48, 71, NULL);
	struct fundus_save_options so;
	const char *in[] = {iu_path("rot.jpg")};
	struct iu_result res;
	uint8_t *data, *withexif;
	size_t len;

	CHECK(img != NULL);
	fundus_save_options_default(&so);
	so.type = FUNDUS_IMAGE_JPEG;
	CHECK_OK(fundus_image_encode(img, &so, &data, &len));
	withexif = malloc(len + sizeof app1);
	memcpy(withexif, data, 2);
	memcpy(withexif + 2, app1, sizeof app1);
	memcpy(withexif + 2 + sizeof app1, data + 2, len - 2);
	CHECK_INT_EQ(tu_write_file(in[0], withexif, len + sizeof app1), 0);
	fundus_free(data);
	free(withexif);
	iu_ingest(&res, iu_path("ds_rot"), in, 1, NULL);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 1);
	if (res.nrecs == 1) {
		/* Displayed size, the file kept as it is (orientation and all). */
		CHECK_INT_EQ(res.recs[0]->width, 48);
		CHECK_INT_EQ(res.recs[0]->height, 64);
		CHECK_INT_EQ((int)json_num(res.recs[0]->meta, "orientation"), 6);
		CHECK_STR_EQ(res.recs[0]->id, iu_file_id(in[0]));
	}
	iu_free(&res);
	fundus_image_free(img);
}

/* Copies the first n bytes of one file into another. */
static void copy_prefix(const char *from, const char *to, long n, long flip)
{
	FILE *f = fopen(from, "rb");
	uint8_t *buf = malloc(1 << 22);
	size_t len = fread(buf, 1, 1 << 22, f);

	fclose(f);
	if (n < 0 || (size_t)n > len)
		n = (long)len;
	if (flip >= 0 && flip < n)
		for (long i = flip; i < flip + 64 && i < n; i++)
			buf[i] ^= 0x5a;
	tu_write_file(to, buf, (size_t)n);
	free(buf);
}

TEST(every_failure_named_and_the_others_ingested)
{
	static const uint8_t zip[] = {'P', 'K', 3, 4, 20, 0, 1, 0, 8, 0, 0, 0};
	static const uint8_t pgp[] = {0x8c, 0x0d, 0x04, 0x09, 0x03, 0x02, 0x11, 0x22};
	const char *in[] = {
	    iu_path("f/good.png"),  iu_path("f/trunc.jpg"),  iu_path("f/corrupt.png"),
	    iu_path("f/notes.txt"), iu_path("f/salted.bin"), iu_path("f/x.zip"),
	    iu_path("f/msg.gpg"),   iu_path("f/absent.jpg"), iu_path("f/huge.png"),
	};
	const char *why[] = {NULL,
			     "premature end",
			     "",
			     "not an image format",
			     "encrypted: OpenSSL",
			     "encrypted ZIP",
			     "OpenPGP",
			     "No such file",
			     "limit"};
	struct fundus_ingest_options o;
	struct iu_result res;
	struct fundus_image *img;

	mkdir(iu_path("f"), 0777);
	img = write_synth(in[0], 640, 480, 51, 0, NULL);
	CHECK(img != NULL);
	fundus_image_free(img);
	img = write_synth(iu_path("f/src.jpg"), 640, 480, 52, 0, NULL);
	fundus_image_free(img);
	copy_prefix(iu_path("f/src.jpg"), in[1], 9000, -1);
	copy_prefix(in[0], in[2], -1, 5000);
	tu_write_file(in[3], "patient list\n", 13);
	tu_write_file(in[4], "Salted__0123456789abcdef", 24);
	tu_write_file(in[5], zip, sizeof zip);
	tu_write_file(in[6], pgp, sizeof pgp);
	img = write_synth(in[8], 700, 500, 53, 0, NULL);
	fundus_image_free(img);
	fundus_ingest_options_default(&o);
	o.limits.max_pixels = 320000; /* huge.png is 350000 */
	o.limits.max_width = 690;
	iu_ingest(&res, iu_path("ds_fail"), in, 9, &o);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 1);
	CHECK_STR_EQ(src_str(res.recs[0], "path"), in[0]);
	CHECK_INT_EQ(res.st.failed, 8);
	CHECK_INT_EQ(res.nfailed, 8);
	for (int i = 1; i < 9 && i - 1 < res.nfailed; i++) {
		CHECK(strncmp(res.failed[i - 1], in[i], strlen(in[i])) == 0);
		CHECK_STR_CONTAINS(res.failed[i - 1], why[i]);
	}
	/* Nothing of the failed files is stored: one image in the dataset. */
	CHECK_INT_EQ(iu_count_lines(iu_path("ds_fail/records.jsonl")), 1);
	iu_free(&res);
	/* In a folder, a file that is not an image is skipped, not failed. */
	{
		const char *dir[] = {iu_path("g")};

		mkdir(iu_path("g"), 0777);
		tu_write_file(iu_path("g/readme.txt"), "hello\n", 6);
		copy_prefix(in[0], iu_path("g/a.png"), -1, -1);
		iu_ingest(&res, iu_path("ds_fail"), dir, 1, NULL);
		CHECK_OK(res.rc);
		CHECK_INT_EQ(res.st.failed, 0);
		CHECK_INT_EQ(res.st.skipped, 1);
		CHECK_INT_EQ(res.nrecs, 1);
		CHECK_INT_EQ(res.added[0], 0);
		iu_free(&res);
	}
}

/* Whether a folder holds a file whose name contains ".tmp" (a left-over temporary). */
static int has_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (d == NULL)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		char sub[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
		found = strstr(e->d_name, ".tmp") != NULL || has_tmp(sub);
	}
	closedir(d);
	return found;
}

TEST(two_processes_into_one_dataset)
{
	enum { N = 8 };
	char names[N][64];
	const char *fwd[N], *back[N];
	pid_t pid[2];
	struct fundus_record_reader *rd;
	struct fundus_record *r;
	char ids[N][80];
	int n = 0;

	mkdir(iu_path("two"), 0777);
	for (int i = 0; i < N; i++) {
		struct fundus_image *img;

		snprintf(names[i], sizeof names[i], "two/%d.%s", i, i % 2 ? "png" : "tif");
		img = write_synth(iu_path(names[i]), 320, 240, 60 + i, i % 4 == 1, NULL);
		CHECK(img != NULL);
		fundus_image_free(img);
	}
	for (int i = 0; i < N; i++) {
		fwd[i] = strdup(iu_path(names[i]));
		back[N - 1 - i] = fwd[i];
	}
	for (int p = 0; p < 2; p++) {
		pid[p] = fork();
		CHECK(pid[p] >= 0);
		if (pid[p] == 0) {
			struct iu_result res;

			iu_ingest(&res, iu_path("ds_two"), p ? back : fwd, N, NULL);
			_exit(res.rc == 0 && res.nrecs == N && res.st.failed == 0 ? 0 : 1);
		}
	}
	for (int p = 0; p < 2; p++) {
		int status;

		CHECK_INT_EQ(waitpid(pid[p], &status, 0), pid[p]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* One line per distinct image, each image there, no temporary left. */
	CHECK_OK(fundus_record_reader_open(&rd, iu_path("ds_two/records.jsonl"), NULL));
	while (fundus_record_next(rd, &r) == 0 && r) {
		char path[4096];

		CHECK(n < N);
		snprintf(ids[n], sizeof ids[n], "%s", r->id);
		for (int k = 0; k < n; k++)
			CHECK(strcmp(ids[k], r->id) != 0);
		snprintf(path, sizeof path, "%s/%s", iu_path("ds_two"), r->image);
		CHECK_STR_EQ(iu_file_id(path), r->id);
		n++;
		fundus_record_free(r);
	}
	fundus_record_reader_close(rd);
	CHECK_INT_EQ(n, N);
	CHECK(!has_tmp(iu_path("ds_two")));
	for (int i = 0; i < N; i++)
		free((void *)fwd[i]);
}

int main(int argc, char **argv)
{
	RUN(plain_rasters_kept_byte_for_byte);
	RUN(sixteen_bit_png_and_tiff_get_exact_working_copies);
	RUN(working_copy_reduced_to_long_side);
	RUN(pyramid_tiff_read_at_the_nearest_level);
	RUN(exif_orientation_in_the_record);
	RUN(every_failure_named_and_the_others_ingested);
	RUN(two_processes_into_one_dataset);
	return harness_done();
}
