/*
 * The real annotation files of ../shared/formats (written by CVAT,
 * Datumaro, labelImg, Roboflow, the VOC devkit, mmdetection, the COCO API,
 * Label Studio, TensorFlow's scripts, keras-retinanet): each is read
 * without error, and X -> records -> X -> records gives the same records,
 * field for field. Counts are checked against the files themselves.
 * Skips (77) when ../shared is absent.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert/internal.h"
#include "fundus/fundus.h"
#include "harness.h"
#include "convert_util.h"
#include "testutil.h"

static char formats[4096];

/* The path of a file under ../shared/formats, in a rotating static buffer. */
static const char *F(const char *rel)
{
	static char buf[8][4096];
	static int k;
	char *p = buf[k++ % 8];

	snprintf(p, 4096, "%s/%s", formats, rel);
	return p;
}

static int64_t count_objects(const struct fundus_convert_set *s)
{
	int64_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += (int64_t)s->rec[i]->n_objects;
	return n;
}

/*
 * Writes a in o->to to out (a file or folder), reads it back with o and
 * checks that the records are the same.
 */
static int round_trip(const struct fundus_convert_set *a, const struct fundus_convert_options *o,
		      const char *out, const char *what, const char *may_lose)
{
	struct fundus_convert_options back = *o;
	struct fundus_convert_report rep;
	struct fundus_convert_set *b;
	char *la, *lb;
	int same;

	if (fundus_convert_write(out, a, o, &rep) < 0) {
		fprintf(stderr, "%s: cannot write: %s\n", what, fundus_errmsg());
		return 0;
	}
	if (rep.n_loss) {
		char line[1000];

		fundus_convert_report_line(&rep, line, sizeof line);
		if (may_lose == NULL || strcmp(line, may_lose) != 0) {
			fprintf(stderr, "%s: %s\n", what, line);
			return 0;
		}
	}
	back.from = o->to;
	b = cu_read(out, &back, NULL);
	if (b == NULL)
		return 0;
	la = cu_lines(a);
	lb = cu_lines(b);
	same = la && lb && strcmp(la, lb) == 0;
	if (!same && la && lb) {
		/* The first record that differs. */
		const char *p = la, *q = lb;

		while (1) {
			const char *ep = strchr(p, '\n'), *eq = strchr(q, '\n');

			if (ep == NULL || eq == NULL || ep - p != eq - q ||
			    memcmp(p, q, (size_t)(ep - p))) {
				fprintf(stderr, "%s: records differ:\nbefore: %.*s\nafter:  %.*s\n",
					what, ep ? (int)(ep - p) : (int)strlen(p), p,
					eq ? (int)(eq - q) : (int)strlen(q), q);
				break;
			}
			p = ep + 1;
			q = eq + 1;
		}
	}
	free(la);
	free(lb);
	fundus_convert_set_free(b);
	return same;
}

/* The number of members of a top-level array in a JSON file. */
static int json_count(const char *path, const char *key)
{
	char *text;
	size_t len;
	cJSON *root, *arr;
	int n;

	if (fundus__cv_read_file(path, 1 << 26, &text, &len) < 0)
		return -1;
	root = cJSON_ParseWithLength(text, len);
	fundus_free(text);
	arr = key ? cJSON_GetObjectItemCaseSensitive(root, key) : root;
	n = cJSON_GetArraySize(arr);
	cJSON_Delete(root);
	return n;
}

TEST(coco_files)
{
	static const char *const files[] = {
	    "coco/cvat-coco1.0/annotations/instances_default.json",
	    "coco/datumaro-cvat/annotations/instances_train.json",
	    "coco/datumaro-cvat/annotations/instances_val.json",
	    "coco/roboflow-badminton/train/_annotations.coco.json",
	    "coco/roboflow-sharks/train/_annotations.coco.json",
	    "coco/roboflow-sharks/valid/_annotations.coco.json",
	    "coco/roboflow-sharks/test/_annotations.coco.json",
	    "coco/mmdetection/coco_sample.json",
	    "coco/voc2coco-converted/instances_v2.json",
	    "coco/toyexample-rodm/gts/toy_example_coco.JSON",
	    "coco/toyexample-rodm/dets/coco_dets.json",
	    "coco/toyexample-rodm/dets_voc100/coco_dets.json",
	};

	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		struct fundus_convert_options o;
		struct fundus_convert_labels *labels = NULL;
		struct fundus_convert_set *set;
		char out[64];

		fundus_convert_options_default(&o);
		o.read_headers = 0;
		set = cu_read(F(files[i]), &o, &labels);
		CHECK(set != NULL);
		/* Every image and every annotation is there. */
		CHECK_INT_EQ(set->n, json_count(F(files[i]), "images"));
		CHECK_INT_EQ(count_objects(set), json_count(F(files[i]), "annotations"));
		o.labels = labels;
		o.to = FUNDUS_CONVERT_COCO;
		snprintf(out, sizeof out, "coco%zu.json", i);
		if (!round_trip(set, &o, tu_path(out), files[i], NULL))
			HARNESS_FAIL("%s does not come back the same", files[i]);
		/* The file's own members too: info, licenses, categories with supercategories. */
		{
			char *text;
			size_t len;
			cJSON *a, *b;

			CHECK_OK(fundus__cv_read_file(tu_path(out), 1 << 26, &text, &len));
			b = cJSON_ParseWithLength(text, len);
			fundus_free(text);
			CHECK_OK(fundus__cv_read_file(F(files[i]), 1 << 26, &text, &len));
			a = cJSON_ParseWithLength(text, len);
			fundus_free(text);
			CHECK(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, "categories"),
					    cJSON_GetObjectItemCaseSensitive(b, "categories"), 1) ||
			      cJSON_GetObjectItemCaseSensitive(a, "categories") == NULL);
			CHECK(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, "info"),
					    cJSON_GetObjectItemCaseSensitive(b, "info"), 1) ||
			      cJSON_GetObjectItemCaseSensitive(a, "info") == NULL);
			CHECK(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, "images"),
					    cJSON_GetObjectItemCaseSensitive(b, "images"), 1));
			cJSON_Delete(a);
			cJSON_Delete(b);
		}
		fundus_convert_labels_free(labels);
		fundus_convert_set_free(set);
	}
}

TEST(coco_results_file)
{
	const char *path = F("coco/results-cocoapi/instances_val2014_fakebbox100_results.json");
	struct fundus_convert_options o;
	struct fundus_convert_set *set;

	fundus_convert_options_default(&o);
	set = cu_read(path, &o, NULL);
	CHECK(set != NULL);
	CHECK_INT_EQ(set->n, 99);
	CHECK_INT_EQ(count_objects(set), 734);
	o.to = FUNDUS_CONVERT_COCO_RESULTS;
	if (!round_trip(set, &o, tu_path("results.json"), "results", NULL))
		HARNESS_FAIL("%s", "the results file does not come back the same");
	fundus_convert_set_free(set);
}

/* The .xml files of a folder, each read and written back alone. */
TEST(voc_files)
{
	static const char *const dirs[] = {
	    "voc/voc2012-official/Annotations",
	    "voc/mmdetection-voc2007",
	    "voc/cvat-voc1.1/Annotations",
	    "voc/labelimg-raccoon/annotations",
	    "voc/datumaro-cvat/voc_dataset1/Annotations",
	    "voc/datumaro-cvat/voc_dataset2/Annotations",
	    "voc/datumaro-cvat/voc_dataset3/Annotations",
	};
	int files = 0;

	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		DIR *d = opendir(F(dirs[i]));
		struct dirent *e;

		CHECK(d != NULL);
		while ((e = readdir(d)) != NULL) {
			struct fundus_convert_options o;
			struct fundus_convert_set *set;
			char path[4096], out[64];
			size_t n = strlen(e->d_name);

			if (n < 5 || strcmp(e->d_name + n - 4, ".xml") != 0)
				continue;
			snprintf(path, sizeof path, "%s/%s", F(dirs[i]), e->d_name);
			fundus_convert_options_default(&o);
			set = cu_read(path, &o, NULL);
			if (set == NULL) {
				closedir(d);
				HARNESS_FAIL("cannot read %s", path);
			}
			CHECK_INT_EQ(set->n, 1);
			o.to = FUNDUS_CONVERT_VOC;
			snprintf(out, sizeof out, "voc%d", files++);
			if (!round_trip(set, &o, tu_path(out), path, NULL)) {
				closedir(d);
				HARNESS_FAIL("%s does not come back the same", path);
			}
			fundus_convert_set_free(set);
		}
		closedir(d);
	}
	CHECK_INT_GE(files, 20);
}

TEST(voc_devkit_folder)
{
	struct fundus_convert_options o;
	struct fundus_convert_set *set;

	fundus_convert_options_default(&o);
	set = cu_read(F("voc/voc2012-official"), &o, NULL);
	CHECK(set != NULL);
	CHECK_INT_EQ(set->n, 5);
	/* The image without objects is a record; the devkit's images folder names the images. */
	CHECK_INT_EQ(set->rec[3]->n_objects, 0);
	CHECK_STR_CONTAINS(set->rec[0]->image, "JPEGImages/2007_000027.jpg");
	fundus_convert_set_free(set);
}

/* The lines of a text file, without its header when it has one. */
static int csv_rows(const char *path)
{
	FILE *f = fopen(path, "rb");
	int c, n = 0, last = '\n';

	if (f == NULL)
		return -1;
	while ((c = fgetc(f)) != EOF) {
		n += c == '\n';
		last = c;
	}
	fclose(f);
	return n + (last != '\n');
}

TEST(csv_files)
{
	static const struct {
		const char *file;
		const char *columns; /* written back with this header */
		int header;
		const char *may_lose;
	} files[] = {
	    {"csv/tfod-raccoon/raccoon_labels.csv",
	     "filename,width,height,class,xmin,ymin,xmax,ymax", 1, NULL},
	    {"csv/tfod-raccoon/train_labels.csv", "filename,width,height,class,xmin,ymin,xmax,ymax",
	     1, NULL},
	    {"csv/tfod-raccoon/test_labels.csv", "filename,width,height,class,xmin,ymin,xmax,ymax",
	     1, NULL},
	    {"csv/roboflow-mosquitos/mosquitos.csv",
	     "img_fName,img_w,img_h,class_label,bbx_xtl,bbx_ytl,bbx_xbr,bbx_ybr", 1, NULL},
	    {"csv/keras-retinanet-readme/annotations.csv", "none", 0, NULL},
	    {"csv/openimages-rodm/all_bounding_boxes.csv",
	     "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,"
	     "IsGroupOf,IsDepiction,IsInside",
	     1, "CSV cannot carry: width and height (100 records)"},
	};
	struct fundus_convert_set *images;
	struct fundus_convert_options io;

	/* Open Images needs the sizes: those of the same 100 images in CVAT's COCO file. */
	fundus_convert_options_default(&io);
	images = cu_read(F("coco/cvat-coco1.0/annotations/instances_default.json"), &io, NULL);
	CHECK(images != NULL);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		struct fundus_convert_options o;
		struct fundus_convert_set *set;
		char out[64];

		fundus_convert_options_default(&o);
		o.read_headers = 0;
		o.images = images;
		set = cu_read(F(files[i].file), &o, NULL);
		CHECK(set != NULL);
		/* Every row is a box, or (keras) an image without objects. */
		{
			int64_t empty = 0;

			for (size_t k = 0; k < set->n; k++)
				empty += set->rec[k]->n_objects == 0;
			CHECK_INT_EQ(count_objects(set) + empty,
				     csv_rows(F(files[i].file)) - files[i].header);
		}
		o.to = FUNDUS_CONVERT_CSV;
		o.csv_columns = files[i].columns;
		snprintf(out, sizeof out, "csv%zu.csv", i);
		if (!round_trip(set, &o, tu_path(out), files[i].file, files[i].may_lose))
			HARNESS_FAIL("%s does not come back the same", files[i].file);
		fundus_convert_set_free(set);
	}
	fundus_convert_set_free(images);
}

TEST(yolo_folders)
{
	static const struct {
		const char *dir;
		int records, objects;
	} dirs[] = {
	    {"yolo/cvat-yolo1.1", 100, 6},
	    {"yolo/datumaro-cvat/yolo", 1, 2},
	    {"yolo/datumaro-cvat/yolov8_detection", 1, 2},
	    {"yolo/datumaro-cvat/yolov8_oriented_boxes", 1, 2},
	    {"yolo/datumaro-cvat/yolov8_segmentation", 1, 2},
	    {"yolo/labelstudio-converter", 7, 25},
	};
	struct fundus_convert_set *sizes;
	struct fundus_convert_options io;
	const char *known = "{\"image\":\"1.jpg\",\"width\":10,\"height\":5}\n"
			    "{\"image\":\"img_2.jpg\",\"width\":640,\"height\":427}\n"
			    "{\"image\":\"img_3.jpg\",\"width\":640,\"height\":360}\n"
			    "{\"image\":\"img_4.jpg\",\"width\":640,\"height\":494}\n"
			    "{\"image\":\"img_5.jpg\",\"width\":640,\"height\":425}\n"
			    "{\"image\":\"img_6.jpg\",\"width\":1280,\"height\":720}\n"
			    "{\"image\":\"img_7.jpg\",\"width\":640,\"height\":427}\n";

	/*
	 * The sizes of images the folders do not include: CVAT's COCO file for
	 * the VOC sample, and sizes given here for the others (any size
	 * tests the round trip; img_1.jpg is included and read).
	 */
	fundus_convert_options_default(&io);
	sizes = cu_read(F("coco/cvat-coco1.0/annotations/instances_default.json"), &io, NULL);
	CHECK(sizes != NULL);
	CHECK_OK(fundus_convert_parse_records(known, strlen(known), sizes));
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		struct fundus_convert_options o;
		struct fundus_convert_set *set;
		struct fundus_convert_labels *labels = NULL;
		char out[64];

		fundus_convert_options_default(&o);
		o.images = sizes;
		o.from = FUNDUS_CONVERT_YOLO;
		set = cu_read(F(dirs[i].dir), &o, &labels);
		if (set == NULL)
			HARNESS_FAIL("cannot read %s", dirs[i].dir);
		CHECK_INT_EQ(set->n, dirs[i].records);
		CHECK_INT_EQ(count_objects(set), dirs[i].objects);
		/* Written with the class list it came with (unused classes included). */
		o.labels = labels;
		o.to = FUNDUS_CONVERT_YOLO;
		o.image_dir = NULL;
		snprintf(out, sizeof out, "yolo%zu", i);
		if (!round_trip(set, &o, tu_path(out), dirs[i].dir, NULL))
			HARNESS_FAIL("%s does not come back the same", dirs[i].dir);
		fundus_convert_labels_free(labels);
		fundus_convert_set_free(set);
	}
	fundus_convert_set_free(sizes);
}

int main(int argc, char **argv)
{
	const char *shared = tu_shared();
	struct stat st;

	if (shared == NULL)
		return TU_SKIP;
	snprintf(formats, sizeof formats, "%s/formats", shared);
	if (stat(formats, &st) != 0) {
		printf("skip: %s is absent\n", formats);
		return TU_SKIP;
	}
	RUN(coco_files);
	RUN(coco_results_file);
	RUN(voc_files);
	RUN(voc_devkit_folder);
	RUN(csv_files);
	RUN(yolo_folders);
	return harness_done();
}
