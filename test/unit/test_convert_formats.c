/*
 * Golden tests of each format in each direction, one fixture per pitfall
 * and per quirk the real files of ../shared/formats show (written here, by
 * the test), malformed input of every reader, validation, split, merge,
 * filter, stats and boxes from masks.
 */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert/internal.h"
#include "fundus/fundus.h"
#include "harness.h"
#include "convert_util.h"
#include "testutil.h"

/* Parses text in format f with options o (NULL: defaults) into a new set; NULL on error. */
static struct fundus_convert_set *parse(enum fundus_convert_format f, const char *text,
					const struct fundus_convert_options *o)
{
	struct fundus_convert_options def;
	struct fundus_convert_set *set;
	struct fundus_convert_report rep;
	int rc;

	if (o == NULL) {
		fundus_convert_options_default(&def);
		def.read_headers = 0;
		o = &def;
	}
	fundus_convert_set_new(&set);
	switch (f) {
	case FUNDUS_CONVERT_COCO:
		rc = fundus_convert_parse_coco(text, strlen(text), o, set, &rep, NULL);
		break;
	case FUNDUS_CONVERT_VOC: rc = fundus_convert_parse_voc(text, strlen(text), o, set); break;
	case FUNDUS_CONVERT_CSV: rc = fundus_convert_parse_csv(text, strlen(text), o, set); break;
	default: rc = fundus_convert_parse_records(text, strlen(text), set); break;
	}
	if (rc < 0) {
		fundus_convert_set_free(set);
		return NULL;
	}
	return set;
}

/* Checks that text in format f reads as exactly the record lines want. */
#define CHECK_READS(f, text, o, want)                                                              \
	do {                                                                                       \
		struct fundus_convert_set *set_ = parse(f, text, o);                               \
		char *got_;                                                                        \
		if (set_ == NULL)                                                                  \
			HARNESS_FAIL("cannot read: %s", fundus_errmsg());                          \
		got_ = cu_lines(set_);                                                                \
		fundus_convert_set_free(set_);                                                     \
		if (got_ == NULL || strcmp(got_, want) != 0) {                                     \
			fprintf(stderr, "got:\n%swant:\n%s", got_ ? got_ : "(null)\n", want);      \
			free(got_);                                                                \
			HARNESS_FAIL("%s", "records differ");                                      \
		}                                                                                  \
		free(got_);                                                                        \
	} while (0)

/* Checks that text fails to read in format f with a message containing msg. */
#define CHECK_FAILS(f, text, o, msg)                                                               \
	do {                                                                                       \
		struct fundus_convert_set *set_ = parse(f, text, o);                               \
		if (set_) {                                                                        \
			fundus_convert_set_free(set_);                                             \
			HARNESS_FAIL("read although malformed: %s", text);                         \
		}                                                                                  \
		CHECK_STR_CONTAINS(fundus_errmsg(), msg);                                          \
	} while (0)

/* COCO. */

/* Quirks of real files: image id 0, a category-id gap, RLE with iscrowd 1, an image
 * without annotations, "info": null, attributes, area of a polygon, a "score" in GT. */
static const char coco_quirks[] =
    "{\"info\": null, \"licenses\": [],\n"
    " \"images\": [{\"id\": 0, \"file_name\": \"a.jpg\", \"width\": 10, \"height\": 5,"
    " \"license\": 0, \"coco_url\": \"\"},\n"
    "   {\"id\": 7, \"file_name\": \"b.jpg\", \"width\": 5, \"height\": 10}],\n"
    " \"annotations\": [\n"
    "  {\"id\": 1, \"image_id\": 0, \"category_id\": 4, \"bbox\": [0, 0, 1, 2], \"area\": 2,"
    " \"iscrowd\": 0, \"segmentation\": [], \"attributes\": {\"occluded\": false}},\n"
    "  {\"id\": 2, \"image_id\": 0, \"category_id\": 1, \"bbox\": [1.5, 0.25, 2, 3],"
    " \"area\": 4.5, \"iscrowd\": 0, \"segmentation\": [[1.5,0.25,3.5,0.25,1.5,3.25]]},\n"
    "  {\"id\": 3, \"image_id\": 0, \"category_id\": 2, \"bbox\": [0, 0, 1, 9],"
    " \"iscrowd\": 1, \"segmentation\": {\"counts\": [0, 20, 30], \"size\": [10, 5]},"
    " \"score\": 1.0}]\n,"
    " \"categories\": [{\"id\": 1, \"name\": \"disc\", \"supercategory\": \"eye\"},"
    " {\"id\": 2, \"name\": \"cup\"}, {\"id\": 4, \"name\": \"fovea\"}]}\n";

TEST(coco_reads_quirks)
{
	CHECK_READS(
	    FUNDUS_CONVERT_COCO, coco_quirks, NULL,
	    "{\"image\":\"a.jpg\",\"width\":10,\"height\":5,\"objects\":["
	    "{\"label\":\"fovea\",\"bbox\":[0,0,1,2],\"category_id\":4,"
	    "\"attributes\":{\"occluded\":false}},"
	    "{\"label\":\"disc\",\"bbox\":[1.5,0.25,3.5,3.25],\"category_id\":1,"
	    "\"area\":4.5,\"segmentation\":[[1.5,0.25,3.5,0.25,1.5,3.25]]},"
	    "{\"label\":\"cup\",\"bbox\":[0,0,1,9],\"score\":1,\"category_id\":2,"
	    "\"iscrowd\":1,\"segmentation\":{\"counts\":[0,20,30],\"size\":[10,5]}}],"
	    "\"license\":0,\"coco_url\":\"\",\"coco_id\":0}\n"
	    "{\"image\":\"b.jpg\",\"width\":5,\"height\":10,\"objects\":[],\"coco_id\":7}\n");
}

TEST(coco_defaults_are_not_stored)
{
	/* Ids 1, 2, ..., categories by name from 1, area w*h, iscrowd 0, segmentation []. */
	CHECK_READS(
	    FUNDUS_CONVERT_COCO,
	    "{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\",\"width\":9,\"height\":9}],"
	    "\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,\"bbox\":[1,1,2,2],"
	    "\"area\":4,\"iscrowd\":0,\"segmentation\":[]},"
	    "{\"id\":2,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1],\"area\":1,"
	    "\"iscrowd\":0,\"segmentation\":[]}],"
	    "\"categories\":[{\"id\":1,\"name\":\"cup\"},{\"id\":2,\"name\":\"disc\"}]}",
	    NULL,
	    "{\"image\":\"a.jpg\",\"width\":9,\"height\":9,\"objects\":["
	    "{\"label\":\"disc\",\"bbox\":[1,1,3,3]},{\"label\":\"cup\",\"bbox\":[0,0,1,1]}]}\n");
}

TEST(coco_writes)
{
	struct fundus_convert_set *set = parse(
	    FUNDUS_CONVERT_RECORDS,
	    "{\"image\":\"img/a.jpg\",\"width\":40,\"height\":30,\"objects\":["
	    "{\"label\":\"optic_disc\",\"bbox\":[0.1,0,0.7,10],\"score\":0.97,\"by\":\"model:od\"},"
	    "{\"label\":\"cup\",\"bbox\":[1,2,3,4],\"difficult\":1}],\"answers\":{\"q\":{\"value\":"
	    "1}}}\n"
	    "{\"image\":\"img/b.jpg\",\"width\":40,\"height\":30,\"objects\":[]}\n",
	    NULL);
	struct fundus_convert_options o;
	struct fundus_convert_report rep;
	char *text;
	size_t len;

	CHECK(set != NULL);
	fundus_convert_options_default(&o);
	o.image_dir = "img";
	CHECK_OK(fundus_convert_format_coco(set, &o, 0, &text, &len, &rep));
	CHECK_STR_EQ(
	    text, "{\"images\":[\n"
		  "{\"id\":1,\"file_name\":\"a.jpg\",\"width\":40,\"height\":30,"
		  "\"answers\":{\"q\":{\"value\":1}}},\n"
		  "{\"id\":2,\"file_name\":\"b.jpg\",\"width\":40,\"height\":30}],\n"
		  "\"annotations\":[\n"
		  "{\"id\":1,\"image_id\":1,\"category_id\":2,\"bbox\":[0.1,0,0.6,10],\"area\":6,"
		  "\"iscrowd\":0,\"segmentation\":[],\"score\":0.97,\"by\":\"model:od\"},\n"
		  "{\"id\":2,\"image_id\":1,\"category_id\":1,\"bbox\":[1,2,2,2],\"area\":4,"
		  "\"iscrowd\":0,\"segmentation\":[],\"difficult\":1}],\n"
		  "\"categories\":[\n"
		  "{\"id\":1,\"name\":\"cup\"},\n"
		  "{\"id\":2,\"name\":\"optic_disc\"}]\n"
		  "}\n");
	CHECK_INT_EQ(rep.n_loss, 0);
	fundus_free(text);
	/* Results: image ids and scores; what they cannot carry is named. */
	CHECK_OK(fundus_convert_format_coco(set, &o, 1, &text, &len, &rep));
	CHECK_STR_EQ(text, "[\n"
			   "{\"image_id\":1,\"category_id\":2,\"bbox\":[0.1,0,0.6,10],"
			   "\"score\":0.97,\"by\":\"model:od\"},\n"
			   "{\"image_id\":1,\"category_id\":1,\"bbox\":[1,2,2,2],\"difficult\":1}\n"
			   "]\n");
	{
		char line[400];

		CHECK_STR_EQ(fundus_convert_report_line(&rep, line, sizeof line),
			     "COCO results cannot carry: image (2 records), width and height (2 "
			     "records), answers (1 record), a score (written without) (1 object), "
			     "images without objects (1 record)");
	}
	fundus_free(text);
	fundus_convert_set_free(set);
}

TEST(coco_category_ids)
{
	struct fundus_convert_set *set =
	    parse(FUNDUS_CONVERT_RECORDS,
		  "{\"image\":\"a.jpg\",\"objects\":[{\"label\":\"b\",\"bbox\":[0,0,1,1]},"
		  "{\"label\":\"a\",\"bbox\":[0,0,1,1]}]}\n",
		  NULL);
	struct fundus_convert_labels *map;
	struct fundus_convert_options o;
	char *text;
	size_t len;

	fundus_convert_options_default(&o);
	o.read_headers = 0;
	/* Told otherwise: from 0. */
	o.first_id = 0;
	CHECK_OK(fundus_convert_format_coco(set, &o, 0, &text, &len, NULL));
	CHECK_STR_CONTAINS(text, "{\"id\":0,\"name\":\"a\"},\n{\"id\":1,\"name\":\"b\"}");
	fundus_free(text);
	/* A pinned map wins, and lists its unused categories too. */
	CHECK_OK(fundus_convert_labels_parse("b,7\na,3\nc,9\n", 12, 1, &map));
	o.labels = map;
	CHECK_OK(fundus_convert_format_coco(set, &o, 0, &text, &len, NULL));
	CHECK_STR_CONTAINS(text, "\"category_id\":7,");
	CHECK_STR_CONTAINS(text, "{\"id\":7,\"name\":\"b\"},\n{\"id\":3,\"name\":\"a\"},\n"
				 "{\"id\":9,\"name\":\"c\"}]");
	fundus_free(text);
	fundus_convert_labels_free(map);
	/* A label outside the pinned map is an error, not a made-up id. */
	CHECK_OK(fundus_convert_labels_parse("a\n", 2, 1, &map));
	o.labels = map;
	CHECK_INT_EQ(fundus_convert_format_coco(set, &o, 0, &text, &len, NULL), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "label \"b\" is not in the label map");
	fundus_convert_labels_free(map);
	fundus_convert_set_free(set);
}

TEST(coco_round_trip_keeps_file_level_with_labels)
{
	struct fundus_convert_options o;
	struct fundus_convert_set *set;
	struct fundus_convert_labels *labels;
	struct fundus_convert_report rep;
	char *text, *again, line[300];
	size_t len;

	fundus_convert_options_default(&o);
	o.read_headers = 0;
	fundus_convert_set_new(&set);
	/* Without a place for them, what is lost is named. */
	CHECK_OK(fundus_convert_parse_coco(coco_quirks, strlen(coco_quirks), &o, set, &rep, NULL));
	CHECK_STR_EQ(fundus_convert_report_line(&rep, line, sizeof line),
		     "records cannot carry: supercategory (1 category), info (1 file), licenses "
		     "(1 file) (keep them with --save-labels FILE)");
	fundus_convert_set_free(set);
	fundus_convert_set_new(&set);
	CHECK_OK(
	    fundus_convert_parse_coco(coco_quirks, strlen(coco_quirks), &o, set, &rep, &labels));
	CHECK_INT_EQ(rep.n_loss, 0);
	o.labels = labels;
	CHECK_OK(fundus_convert_format_coco(set, &o, 0, &text, &len, NULL));
	CHECK_STR_CONTAINS(text, "{\"info\":null,\n\"licenses\":[],\n\"images\":[\n{\"id\":0,");
	CHECK_STR_CONTAINS(text, "{\"id\":1,\"name\":\"disc\",\"supercategory\":\"eye\"}");
	/* COCO -> records -> COCO -> records: the same records. */
	{
		struct fundus_convert_set *back;
		char *a = cu_lines(set), *b;

		fundus_convert_set_new(&back);
		CHECK_OK(fundus_convert_parse_coco(text, len, &o, back, &rep, NULL));
		b = cu_lines(back);
		CHECK_STR_EQ(a, b);
		free(a);
		free(b);
		fundus_convert_set_free(back);
	}
	CHECK_OK(fundus_convert_labels_format(labels, &again, &len));
	CHECK_STR_CONTAINS(again, "\"info\": null,");
	fundus_free(again);
	fundus_free(text);
	fundus_convert_labels_free(labels);
	fundus_convert_set_free(set);
}

TEST(coco_results_with_names)
{
	struct fundus_convert_options o;
	struct fundus_convert_set *images = parse(
	    FUNDUS_CONVERT_RECORDS,
	    "{\"image\":\"x.jpg\",\"width\":100,\"height\":80,\"objects\":[],\"coco_id\":42}\n",
	    NULL);
	struct fundus_convert_labels *map;

	fundus_convert_options_default(&o);
	o.images = images;
	CHECK_OK(fundus_convert_labels_parse("[{\"id\":18,\"name\":\"dog\"}]", 24, 1, &map));
	o.labels = map;
	CHECK_READS(
	    FUNDUS_CONVERT_COCO,
	    "[{\"image_id\":42,\"category_id\":18,\"bbox\":[258.15,41.29,348.26,243.78],"
	    "\"score\":0.236},{\"image_id\":73,\"category_id\":18,\"bbox\":[1,2,3,4],"
	    "\"score\":0.5}]",
	    &o,
	    "{\"image\":\"x.jpg\",\"width\":100,\"height\":80,\"objects\":[{\"label\":\"dog\","
	    "\"bbox\":[258.15,41.29,606.41,285.07],\"score\":0.236}],\"coco_id\":42}\n"
	    "{\"objects\":[{\"label\":\"dog\",\"bbox\":[1,2,4,6],\"score\":0.5}],"
	    "\"coco_id\":73}\n");
	fundus_convert_labels_free(map);
	fundus_convert_set_free(images);
}

TEST(coco_malformed)
{
	CHECK_FAILS(FUNDUS_CONVERT_COCO, "{\"images\": [{\"id\": 1,\n \"file_name\": \"a", NULL,
		    "line 2, column 15: unterminated string");
	CHECK_FAILS(FUNDUS_CONVERT_COCO, "{\"images\": [\n{\"id\": 1}", NULL,
		    "line 2, column 10: unexpected end of the file (JSON cut short)");
	CHECK_FAILS(FUNDUS_CONVERT_COCO,
		    "{\"images\":[{\"id\":1}],\"annotations\":[{\"id\":1,"
		    "\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,-5,2]}]}",
		    NULL, "annotations[0].bbox: negative width -5");
	CHECK_FAILS(FUNDUS_CONVERT_COCO,
		    "{\"images\":[{\"id\":1}],\"annotations\":[{\"id\":1,"
		    "\"image_id\":1,\"category_id\":1,\"bbox\":[1e308,0,5,2]}]}",
		    NULL, "annotations[0].bbox: 1e+308 is out of range");
	CHECK_FAILS(FUNDUS_CONVERT_COCO,
		    "{\"images\":[{\"id\":1}],\"annotations\":[{\"id\":1,"
		    "\"image_id\":1,\"category_id\":1,\"bbox\":[1e999,0,5,2]}]}",
		    NULL, "number out of range");
	CHECK_FAILS(FUNDUS_CONVERT_COCO, "{\"images\":[{\"id\":1},{\"id\":1}]}", NULL,
		    "images[1]: the image id 1 is used twice");
	CHECK_FAILS(FUNDUS_CONVERT_COCO,
		    "{\"images\":[{\"id\":1}],\"annotations\":[{\"id\":1,"
		    "\"image_id\":2,\"category_id\":1,\"bbox\":[0,0,5,2]}]}",
		    NULL, "annotations[0].image_id: no image has the id 2");
	CHECK_FAILS(FUNDUS_CONVERT_COCO,
		    "{\"images\":[{\"id\":1}],\"annotations\":[{\"id\":1,"
		    "\"image_id\":1,\"category_id\":3,\"bbox\":[0,0,5,2]}],"
		    "\"categories\":[{\"id\":1,\"name\":\"a\"}]}",
		    NULL, "no category has the id 3");
	CHECK_FAILS(FUNDUS_CONVERT_COCO, "{\"images\":[{\"id\":1,\"width\":-4}]}", NULL,
		    "images[0].width: expected a whole number");
	CHECK_FAILS(FUNDUS_CONVERT_COCO, "{\"images\":[{\"id\":1,\"id\":2}]}", NULL,
		    "duplicate key \"id\"");
	CHECK_FAILS(FUNDUS_CONVERT_COCO, "{\"annotations\":[]}", NULL, "no \"images\" list");
}

/* PASCAL VOC. */

TEST(voc_one_based_pixels)
{
	/* A box around pixels 0..9 of a row: [0, 10] in records, xmin 1 xmax 10 in VOC. */
	struct fundus_convert_options o;
	struct fundus_convert_set *set =
	    parse(FUNDUS_CONVERT_RECORDS,
		  "{\"image\":\"a.png\",\"width\":10,\"height\":4,\"objects\":[{\"label\":\"d\","
		  "\"bbox\":[0,0,10,4]},{\"label\":\"d\",\"bbox\":[0.1,2.5,0.7,3]}]}\n",
		  NULL);
	char *text;
	size_t len;

	fundus_convert_options_default(&o);
	CHECK_OK(fundus_convert_format_voc(set->rec[0], &o, &text, &len, NULL));
	CHECK_STR_EQ(text, "<annotation>\n"
			   "\t<filename>a.png</filename>\n"
			   "\t<size>\n\t\t<width>10</width>\n\t\t<height>4</height>\n\t</size>\n"
			   "\t<object>\n\t\t<name>d</name>\n\t\t<bndbox>\n"
			   "\t\t\t<xmin>1</xmin>\n\t\t\t<ymin>1</ymin>\n"
			   "\t\t\t<xmax>10</xmax>\n\t\t\t<ymax>4</ymax>\n"
			   "\t\t</bndbox>\n\t</object>\n"
			   "\t<object>\n\t\t<name>d</name>\n\t\t<bndbox>\n"
			   "\t\t\t<xmin>1.1</xmin>\n\t\t\t<ymin>3.5</ymin>\n"
			   "\t\t\t<xmax>0.7</xmax>\n\t\t\t<ymax>3</ymax>\n"
			   "\t\t</bndbox>\n\t</object>\n"
			   "</annotation>\n");
	fundus_free(text);
	fundus_convert_set_free(set);
}

/* The devkit's own layout: pose, truncated, difficult, no declaration, tabs. */
static const char voc_devkit[] =
    "<annotation>\n\t<folder>VOC2012</folder>\n\t<filename>2007_000129.jpg</filename>\n"
    "\t<source>\n\t\t<database>The VOC2007 Database</database>\n\t</source>\n"
    "\t<size>\n\t\t<width>334</width>\n\t\t<height>500</height>\n\t\t<depth>3</depth>\n"
    "\t</size>\n\t<segmented>1</segmented>\n"
    "\t<object>\n\t\t<name>bicycle</name>\n\t\t<pose>Unspecified</pose>\n"
    "\t\t<truncated>1</truncated>\n\t\t<difficult>1</difficult>\n"
    "\t\t<bndbox>\n\t\t\t<xmin>251</xmin>\n\t\t\t<ymin>242</ymin>\n\t\t\t<xmax>334</xmax>\n"
    "\t\t\t<ymax>500</ymax>\n\t\t</bndbox>\n\t</object>\n</annotation>\n";

TEST(voc_devkit_flags)
{
	struct fundus_convert_options o;
	struct fundus_convert_set *set;
	char *text;
	size_t len;

	CHECK_READS(FUNDUS_CONVERT_VOC, voc_devkit, NULL,
		    "{\"image\":\"2007_000129.jpg\",\"width\":334,\"height\":500,\"objects\":["
		    "{\"label\":\"bicycle\",\"bbox\":[250,241,334,500],\"pose\":\"Unspecified\","
		    "\"truncated\":1,\"difficult\":1}],\"voc\":{\"folder\":\"VOC2012\","
		    "\"source\":{\"database\":\"The VOC2007 Database\"},\"size\":{\"depth\":\"3\"},"
		    "\"segmented\":\"1\"}}\n");
	/* And back, element for element. */
	set = parse(FUNDUS_CONVERT_VOC, voc_devkit, NULL);
	fundus_convert_options_default(&o);
	CHECK_OK(fundus_convert_format_voc(set->rec[0], &o, &text, &len, NULL));
	CHECK_STR_EQ(text, voc_devkit);
	fundus_free(text);
	/* difficult and truncated survive a trip through COCO. */
	o.read_headers = 0;
	CHECK_OK(fundus_convert_format_coco(set, &o, 0, &text, &len, NULL));
	CHECK_STR_CONTAINS(text, "\"pose\":\"Unspecified\",\"truncated\":1,\"difficult\":1");
	fundus_free(text);
	fundus_convert_set_free(set);
}

TEST(voc_tool_quirks)
{
	/* CVAT: float coordinates, empty depth, occluded, no pose. */
	CHECK_READS(FUNDUS_CONVERT_VOC,
		    "<annotation>\n  <folder>2007</folder>\n  <filename>x.jpg</filename>\n"
		    "  <size>\n    <width>500</width>\n    <height>281</height>\n"
		    "    <depth></depth>\n  </size>\n  <object>\n    <name>person</name>\n"
		    "    <occluded>0</occluded>\n    <bndbox>\n      <xmin>26.0</xmin>\n"
		    "      <ymin>189.5</ymin>\n      <xmax>44.0</xmax>\n      <ymax>238.0</ymax>\n"
		    "    </bndbox>\n  </object>\n</annotation>\n",
		    NULL,
		    "{\"image\":\"x.jpg\",\"width\":500,\"height\":281,\"objects\":[{\"label\":"
		    "\"person\",\"bbox\":[25,188.5,44,238],\"occluded\":0}],\"voc\":{\"folder\":"
		    "\"2007\",\"size\":{\"depth\":\"\"}}}\n");
	/* labelImg: verified="yes", an absolute path, grayscale depth. */
	CHECK_READS(FUNDUS_CONVERT_VOC,
		    "<annotation verified=\"yes\">\n\t<folder>images</folder>\n\t<filename>r.jpg"
		    "</filename>\n\t<path>/Users/d/r.jpg</path>\n\t<size>\n\t\t<width>275</width>\n"
		    "\t\t<height>183</height>\n\t\t<depth>1</depth>\n\t</size>\n</annotation>\n",
		    NULL,
		    "{\"image\":\"r.jpg\",\"width\":275,\"height\":183,\"objects\":[],\"voc\":{"
		    "\"@verified\":\"yes\",\"folder\":\"images\",\"path\":\"/Users/d/r.jpg\","
		    "\"size\":{\"depth\":\"1\"}}}\n");
	/* Datumaro: declaration, no size, a comment, a part with float box, actions. */
	CHECK_READS(
	    FUNDUS_CONVERT_VOC,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<annotation>\n<!-- a comment -->\n"
	    "<filename>@.jpg</filename><object><name>person</name><bndbox><xmin>4</xmin>"
	    "<ymin>5</ymin><xmax>6</xmax><ymax>7</ymax></bndbox><part><name>head</name>"
	    "<bndbox><xmin>5.5</xmin><ymin>6</ymin><xmax>7.5</xmax><ymax>8</ymax></bndbox>"
	    "</part><actions><jumping>0</jumping></actions></object></annotation>",
	    NULL,
	    "{\"image\":\"@.jpg\",\"objects\":[{\"label\":\"person\",\"bbox\":[3,4,6,7],"
	    "\"voc\":{\"part\":{\"name\":\"head\",\"bndbox\":{\"xmin\":\"5.5\",\"ymin\":"
	    "\"6\",\"xmax\":\"7.5\",\"ymax\":\"8\"}},\"actions\":{\"jumping\":\"0\"}}}]}\n");
	/* Latin-1 declared: read as such, written as UTF-8. */
	CHECK_READS(FUNDUS_CONVERT_VOC,
		    "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><annotation><filename>\xe9."
		    "jpg</filename></annotation>",
		    NULL, "{\"image\":\"\xc3\xa9.jpg\",\"objects\":[]}\n");
}

TEST(voc_losses_named)
{
	struct fundus_convert_set *set = parse(
	    FUNDUS_CONVERT_RECORDS,
	    "{\"image\":\"ds/img/a.jpg\",\"id\":\"sha256:00\",\"objects\":[{\"label\":\"d\","
	    "\"bbox\":[0,0,1,1],\"score\":0.5,\"by\":\"m\"}],\"answers\":{\"q\":{\"value\":1}}}\n",
	    NULL);
	struct fundus_convert_options o;
	struct fundus_convert_report rep;
	char *text, line[400];
	size_t len;

	fundus_convert_options_default(&o);
	memset(&rep, 0, sizeof rep);
	CHECK_OK(fundus_convert_format_voc(set->rec[0], &o, &text, &len, &rep));
	CHECK_STR_EQ(fundus_convert_report_line(&rep, line, sizeof line),
		     "VOC cannot carry: image folder (1 record), score (1 object), by (1 object), "
		     "id (1 record), answers (1 record) (name the image folder with --image-dir "
		     "DIR)");
	CHECK_STR_CONTAINS(text, "<filename>a.jpg</filename>");
	fundus_free(text);
	fundus_convert_set_free(set);
}

TEST(voc_malformed)
{
	CHECK_FAILS(FUNDUS_CONVERT_VOC,
		    "<annotation>\n <filename>a.jpg</filename>\n <object><name>x</bndbox>"
		    "</object>\n</annotation>\n",
		    NULL, "line 3, column 19: mismatched tag");
	/* Billion laughs: refused before any expansion. */
	CHECK_FAILS(FUNDUS_CONVERT_VOC,
		    "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
		    " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n]>\n"
		    "<annotation><filename>&lol2;</filename></annotation>\n",
		    NULL, "line 2, column 16: a DTD (<!DOCTYPE>) is not accepted in a VOC file");
	CHECK_FAILS(FUNDUS_CONVERT_VOC,
		    "<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><annotation>&x;</annotation>", NULL,
		    "a DTD (<!DOCTYPE>) is not accepted");
	CHECK_FAILS(FUNDUS_CONVERT_VOC, "<annotation><filename>a.jpg</filename>", NULL,
		    "line 1, column 39: no element found");
	CHECK_FAILS(FUNDUS_CONVERT_VOC, "<annotation>&undefined;</annotation>", NULL,
		    "undefined entity");
	CHECK_FAILS(FUNDUS_CONVERT_VOC, "<records/>", NULL,
		    "not a PASCAL VOC file: the root is <records>");
	CHECK_FAILS(FUNDUS_CONVERT_VOC,
		    "<annotation><object><name>d</name><bndbox><xmin>1e308</xmin><ymin>1</ymin>"
		    "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>",
		    NULL, "<xmin>: 1e308 is out of range");
	CHECK_FAILS(FUNDUS_CONVERT_VOC,
		    "<annotation><object><name>d</name><bndbox><xmin>9</xmin><ymin>1</ymin>"
		    "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>",
		    NULL, "negative width: xmax before xmin");
	CHECK_FAILS(FUNDUS_CONVERT_VOC,
		    "<annotation><object><name>d</name><bndbox><xmin>one</xmin><ymin>1</ymin>"
		    "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>",
		    NULL, "<xmin>: 'one' is not a number");
	CHECK_FAILS(FUNDUS_CONVERT_VOC,
		    "<annotation><object><name>d</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
		    "<xmax>2</xmax><ymax>2</ymax></bndbox><bndbox/></object></annotation>",
		    NULL, "a second <bndbox> in one <object>");
	CHECK_FAILS(FUNDUS_CONVERT_VOC,
		    "<annotation><object><bndbox><xmin>1</xmin></bndbox></object></annotation>",
		    NULL, "<object> without <name>");
	CHECK_FAILS(FUNDUS_CONVERT_VOC,
		    "<annotation><size><width>-3</width><height>3</height></size></annotation>",
		    NULL, "<width>: '-3' is not a whole number");
}

/* CSV. */

TEST(csv_layouts)
{
	/* keras-retinanet: no header, a negative row (an image without objects). */
	CHECK_READS(
	    FUNDUS_CONVERT_CSV,
	    "/data/img_001.jpg,837,346,981,456,cow\n/data/img_002.jpg,215,312,279,391,cat\n"
	    "/data/img_002.jpg,22,5,89,84,bird\n/data/img_003.jpg,,,,,\n",
	    NULL,
	    "{\"image\":\"/data/img_001.jpg\",\"objects\":[{\"label\":\"cow\",\"bbox\":[837,346,"
	    "981,456]}]}\n{\"image\":\"/data/img_002.jpg\",\"objects\":[{\"label\":\"cat\","
	    "\"bbox\":[215,312,279,391]},{\"label\":\"bird\",\"bbox\":[22,5,89,84]}]}\n"
	    "{\"image\":\"/data/img_003.jpg\",\"objects\":[]}\n");
	/* TensorFlow object detection: size columns; Roboflow's renamed ones, CRLF, a slash. */
	CHECK_READS(FUNDUS_CONVERT_CSV,
		    "img_fName,img_w,img_h,class_label,bbx_xtl,bbx_ytl,bbx_xbr,bbx_ybr\r\n"
		    "t.jpeg,1058,943,japonicus/koreicus,28,187,908,815\r\n",
		    NULL,
		    "{\"image\":\"t.jpeg\",\"width\":1058,\"height\":943,\"objects\":[{\"label\":"
		    "\"japonicus/koreicus\",\"bbox\":[28,187,908,815]}]}\n");
	/* The boxes.csv of the fundus datasets, with a byte-order mark and quoting. */
	CHECK_READS(
	    FUNDUS_CONVERT_CSV,
	    "\xef\xbb\xbfimage,xmin,ymin,xmax,ymax,label\n0001.jpg,479,1255,871,1641,"
	    "optic_disc\n\"a,\"\"b\"\".jpg\",1,2,3,4,\"two\nlines\"\n",
	    NULL,
	    "{\"image\":\"0001.jpg\",\"objects\":[{\"label\":\"optic_disc\",\"bbox\":[479,1255,"
	    "871,1641]}]}\n{\"image\":\"a,\\\"b\\\".jpg\",\"objects\":[{\"label\":\"two\\n"
	    "lines\",\"bbox\":[1,2,3,4]}]}\n");
	/* Centre and radius, as optic-disc datasets give them. */
	CHECK_READS(FUNDUS_CONVERT_CSV, "image,cx,cy,r,label\na.jpg,100.5,80,20,optic_disc\n", NULL,
		    "{\"image\":\"a.jpg\",\"objects\":[{\"label\":\"optic_disc\",\"bbox\":[80.5,60,"
		    "120.5,100]}]}\n");
}

TEST(csv_open_images)
{
	struct fundus_convert_options o;
	struct fundus_convert_set *images =
	    parse(FUNDUS_CONVERT_RECORDS,
		  "{\"image\":\"2007_000027.jpg\",\"width\":486,\"height\":500}\n", NULL);

	fundus_convert_options_default(&o);
	o.images = images;
	/* Fractions with decimal commas inside quotes; empty cells are no fields. */
	CHECK_READS(
	    FUNDUS_CONVERT_CSV,
	    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded\n"
	    "2007_000027.jpg,,person,,\"0,3580246914\",\"0,7181069959\",\"0,202\",\"0,702\","
	    "\n",
	    &o,
	    "{\"image\":\"2007_000027.jpg\",\"width\":486,\"height\":500,\"objects\":[{"
	    "\"label\":\"person\",\"bbox\":[174.0000000204,101,349.0000000074,351]}]}\n");
	/* Without a size, an error that names the image. */
	o.images = NULL;
	o.read_headers = 0;
	CHECK_FAILS(FUNDUS_CONVERT_CSV,
		    "ImageID,LabelName,XMin,XMax,YMin,YMax\nnone.jpg,p,0.1,0.2,0.1,0.2\n", &o,
		    "line 2, column 1: image 'none.jpg': size unknown");
	fundus_convert_set_free(images);
}

TEST(csv_writes)
{
	struct fundus_convert_set *set =
	    parse(FUNDUS_CONVERT_RECORDS,
		  "{\"image\":\"a.jpg\",\"width\":40,\"height\":30,\"objects\":[{\"label\":\"x,y\","
		  "\"bbox\":[0,1.5,10,20],\"score\":0.9}]}\n{\"image\":\"b.jpg\",\"objects\":[]}\n",
		  NULL);
	struct fundus_convert_options o;
	struct fundus_convert_report rep;
	char *text, line[300];
	size_t len;

	fundus_convert_options_default(&o);
	CHECK_OK(fundus_convert_format_csv(set, &o, &text, &len, &rep));
	CHECK_STR_EQ(text, "image,xmin,ymin,xmax,ymax,label\na.jpg,0,1.5,10,20,\"x,y\"\n"
			   "b.jpg,,,,,\n");
	CHECK_STR_EQ(fundus_convert_report_line(&rep, line, sizeof line),
		     "CSV cannot carry: width and height (1 record), score (1 object)");
	fundus_free(text);
	o.csv_coords = FUNDUS_CSV_VOC;
	o.csv_columns = "filename,width,height,class,xmin,ymin,xmax,ymax,score";
	CHECK_OK(fundus_convert_format_csv(set, &o, &text, &len, &rep));
	CHECK_STR_EQ(text, "filename,width,height,class,xmin,ymin,xmax,ymax,score\n"
			   "a.jpg,40,30,\"x,y\",1,2.5,10,20,0.9\nb.jpg,,,,,,,,\n");
	CHECK_INT_EQ(rep.n_loss, 0);
	fundus_free(text);
	o.csv_columns = "none";
	o.csv_coords = FUNDUS_CSV_NATIVE;
	CHECK_OK(fundus_convert_format_csv(set, &o, &text, &len, &rep));
	CHECK_STR_EQ(text, "a.jpg,0,1.5,10,20,\"x,y\"\nb.jpg,,,,,\n");
	fundus_free(text);
	fundus_convert_set_free(set);
}

TEST(csv_malformed)
{
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "image,xmin,ymin,xmax,ymax,label\na.jpg,1,2,3,4,\"disc\n",
		    NULL, "line 2, column 15: unterminated quoted field");
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "image,xmin,ymin,xmax,ymax,label\na.jpg,1,2,3,4,di\"sc\n",
		    NULL, "line 2, column 17: quote inside an unquoted field");
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "image,xmin,ymin,xmax,ymax,label\na.jpg,1,2,3,4,\"d\"x\n",
		    NULL, "line 2, column 18: text after a closing quote");
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "image,xmin,ymin,xmax,ymax,label\na.jpg,1e308,2,3,4,d\n",
		    NULL, "line 2, column 7: 1e308 is out of range");
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "image,xmin,ymin,xmax,ymax,label\na.jpg,9,2,3,4,d\n", NULL,
		    "line 2, column 1: negative box width");
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "image,xmin,ymin,xmax,ymax,label\na.jpg,1,2,3,4\n", NULL,
		    "line 2, column 1: 5 fields, the header has 6");
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "image,xmin,ymin,xmax,ymax,label\na.jpg,1,2,,4,d\n", NULL,
		    "some box fields are empty");
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "image,xmin,ymin,xmax,ymax,label\na.jpg,1,2,3,4,\n", NULL,
		    "a box without a label");
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "name,value\na,1\n", NULL, "no header naming");
	CHECK_FAILS(FUNDUS_CONVERT_CSV, "image,cx,cy,r,label\na.jpg,1,1,-2,d\n", NULL,
		    "negative radius");
}

/* YOLO. */

TEST(yolo_classes_from_zero)
{
	/* A COCO-style map with ids from 1 numbers YOLO classes from 0: no off-by-one. */
	struct fundus_convert_set *set =
	    parse(FUNDUS_CONVERT_RECORDS,
		  "{\"image\":\"a.jpg\",\"width\":400,\"height\":200,\"objects\":["
		  "{\"label\":\"cup\",\"bbox\":[100,50,300,150]},"
		  "{\"label\":\"disc\",\"bbox\":[0,0,40,20],\"score\":0.25}]}\n",
		  NULL);
	struct fundus_convert_labels *map, *classes;
	struct fundus_convert_options o;
	char *text;
	size_t len;

	fundus_convert_options_default(&o);
	CHECK_OK(fundus_convert_labels_parse("[{\"id\":1,\"name\":\"disc\"},{\"id\":2,\"name\":"
					     "\"cup\"}]",
					     46, 1, &map));
	o.labels = map;
	CHECK_OK(fundus__cv_yolo_classes(set, &o, &classes));
	CHECK_OK(fundus_convert_format_yolo(set->rec[0], classes, &text, &len, NULL));
	CHECK_STR_EQ(text, "1 0.5 0.5 0.5 0.5\n0 0.05 0.05 0.1 0.1 0.25\n");
	fundus_free(text);
	fundus_convert_labels_free(classes);
	fundus_convert_labels_free(map);
	fundus_convert_set_free(set);
}

TEST(yolo_lines)
{
	struct fundus_convert_labels *classes;
	struct fundus_convert_set *set;
	struct fundus_record *r;
	char *got;
	/* Label Studio: CRLF and long floats; a polygon row; a score. */
	static const char text[] =
	    "0 0.49765625 0.46200607902735563 0.9640625 0.8693009118541033\r\n"
	    "\r\n"
	    "1 0.1 0.1 0.4 0.1 0.4 0.5\r\n"
	    "1 0.5 0.5 0.2 0.2 0.75\r\n";

	CHECK_OK(fundus_convert_labels_parse("closed_door\r\nopened_door\r\n", 26, 0, &classes));
	fundus_convert_set_new(&set);
	fundus_record_new(&r);
	fundus_record_set_string(&r->image, "img_1.jpg");
	r->width = 640;
	r->height = 329;
	CHECK_OK(fundus_convert_parse_yolo(text, strlen(text), classes, r, set));
	got = cu_lines(set);
	/* (0.49765625 - 0.9640625 / 2) * 640 = 10; the float noise of the y is cleaned away. */
	CHECK_STR_EQ(got,
		     "{\"image\":\"img_1.jpg\",\"width\":640,\"height\":329,\"objects\":["
		     "{\"label\":\"closed_door\",\"bbox\":[10,9,627,295],\"yolo_class\":0},"
		     "{\"label\":\"opened_door\",\"bbox\":[64,32.9,256,164.5],\"yolo_class\":1,"
		     "\"yolo_points\":[0.1,0.1,0.4,0.1,0.4,0.5]},"
		     "{\"label\":\"opened_door\",\"bbox\":[256,131.6,384,197.4],\"score\":0.75,"
		     "\"yolo_class\":1}]}\n");
	/*
	 * And back: the polygon as a polygon, the score as a sixth number, and
	 * the shortest fractions that give the same pixels.
	 */
	{
		char *out;
		size_t len;

		CHECK_OK(fundus_convert_format_yolo(set->rec[0], classes, &out, &len, NULL));
		CHECK_STR_EQ(out, "0 0.49765625 0.4620060790274 0.9640625 0.8693009118541\n"
				  "1 0.1 0.1 0.4 0.1 0.4 0.5\n1 0.5 0.5 0.2 0.2 0.75\n");
		fundus_free(out);
	}
	free(got);
	fundus_convert_set_free(set);
	fundus_convert_labels_free(classes);
}

/* The contents of a file as a new string, or NULL. */
static char *slurp(const char *path)
{
	uint8_t *data;
	size_t len;

	if (fundus_file_read(path, 1 << 24, &data, &len) < 0)
		return NULL;
	return (char *)data;
}

TEST(yolo_folder_keeps_empty_images)
{
	struct fundus_convert_set *set = parse(
	    FUNDUS_CONVERT_RECORDS,
	    "{\"image\":\"ds/a.jpg\",\"width\":100,\"height\":50,\"objects\":[{\"label\":\"disc\","
	    "\"bbox\":[10,10,30,20]}]}\n{\"image\":\"ds/b.jpg\",\"width\":100,\"height\":50,"
	    "\"objects\":[]}\n",
	    NULL);
	struct fundus_convert_options o;
	struct fundus_convert_report rep;
	struct fundus_convert_set *back;
	char *a, *b, *t;
	struct stat st;

	fundus_convert_options_default(&o);
	o.image_dir = "ds";
	o.to = FUNDUS_CONVERT_YOLO;
	CHECK_OK(fundus_convert_write(tu_path("y"), set, &o, &rep));
	CHECK_INT_EQ(rep.n_loss, 0);
	/* An empty .txt for the image without objects, and both in images.txt. */
	CHECK_INT_EQ(stat(tu_path("y/labels/b.txt"), &st), 0);
	CHECK_INT_EQ(st.st_size, 0);
	t = slurp(tu_path("y/images.txt"));
	CHECK_STR_EQ(t, "a.jpg\nb.jpg\n");
	fundus_free(t);
	t = slurp(tu_path("y/labels/a.txt"));
	CHECK_STR_EQ(t, "0 0.2 0.3 0.2 0.2\n");
	fundus_free(t);
	t = slurp(tu_path("y/classes.txt"));
	CHECK_STR_EQ(t, "disc\n");
	fundus_free(t);
	/* Read back, the sizes from the known images. */
	o.images = set;
	o.read_headers = 0;
	o.from = FUNDUS_CONVERT_AUTO;
	back = cu_read(tu_path("y"), &o, NULL);
	CHECK(back != NULL);
	a = cu_lines(set);
	b = cu_lines(back);
	CHECK_STR_EQ(b, a);
	free(a);
	free(b);
	fundus_convert_set_free(back);
	fundus_convert_set_free(set);
}

TEST(yolo_malformed)
{
	struct fundus_convert_labels *classes;
	struct fundus_convert_set *set;
	static const struct {
		const char *text, *msg;
	} bad[] = {
	    {"0 0.5 0.5 -0.1 0.2\n", "line 1: negative width"},
	    {"0 0.5 0.5 0.1\n", "line 1: 4 fields"},
	    {"0 0.5 0.5 0.1 0.2 0.3 0.4 0.5\n", "line 1: 8 fields"},
	    {"\n2 0.5 0.5 0.1 0.2\n", "line 2: class 2 is not in the class list (2 classes)"},
	    {"0.5 0.5 0.5 0.1 0.2\n", "the class '0.5' is not a whole number"},
	    {"0 0.5 nan 0.1 0.2\n", "line 1, field 3: 'nan' is not a number"},
	    {"0 1e308 0.5 0.1 0.2\n", "line 1, field 2: '1e308' is not a number"},
	};

	CHECK_OK(fundus_convert_labels_parse("a\nb\n", 4, 0, &classes));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct fundus_record *r;

		fundus_convert_set_new(&set);
		fundus_record_new(&r);
		r->width = r->height = 10;
		CHECK_INT_EQ(
		    fundus_convert_parse_yolo(bad[i].text, strlen(bad[i].text), classes, r, set),
		    FUNDUS_EFORMAT);
		CHECK_STR_CONTAINS(fundus_errmsg(), bad[i].msg);
		CHECK_INT_EQ(set->n, 0);
		fundus_convert_set_free(set);
	}
	fundus_convert_labels_free(classes);
}

/* Label maps. */

TEST(label_maps)
{
	static const struct {
		const char *text;
		const char *name;
		int64_t id;
	} cases[] = {
	    {"person\ncat\nboat\n", "boat", 3},                                   /* obj.names */
	    {"cow,0\ncat,1\nbird,2\n", "bird", 2},                                /* classes.csv */
	    {"{\"disc\": 5, \"cup\": 6}", "cup", 6},                              /* JSON object */
	    {"[{\"id\":4,\"name\":\"x\"}]", "x", 4},                              /* categories */
	    {"{\"info\":{},\"categories\":[{\"id\":0,\"name\":\"b\"}]}", "b", 0}, /* COCO */
	    {"path: .\nnames:\n  0: label_0\n  1: label_1\n", "label_1", 1},      /* data.yaml */
	    {"path: .\nnames:\n  - a\n  - 'b c'\n", "b c", 1},
	    {"names: [x, y, z]\n", "z", 2},
	    {"2 wheeler\ncar\n", "2 wheeler", 1}, /* a name that starts with a number */
	    {"0 person\n1 car\n", "car", 1},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fundus_convert_labels *m;
		const struct fundus_convert_label *l;

		CHECK_OK(fundus_convert_labels_parse(cases[i].text, strlen(cases[i].text), 1, &m));
		l = fundus_convert_labels_find(m, cases[i].name);
		CHECK(l != NULL);
		CHECK_INT_EQ(l->id, cases[i].id);
		fundus_convert_labels_free(m);
	}
	{
		struct fundus_convert_labels *m;

		CHECK_INT_EQ(fundus_convert_labels_parse("a,1\nb,1\n", 8, 1, &m), FUNDUS_EFORMAT);
		CHECK_STR_CONTAINS(fundus_errmsg(), "line 2: id 1 is in the map twice");
	}
}

/* Validation; the EXIF pitfall. */

/* Writes a gray PNG of w x h with an eXIf orientation (0: none) to path. */
static int write_png(const char *path, int w, int h, int orientation, const uint8_t *pixels)
{
	uint8_t exif[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3,
			  0,   0,   0, 1,  0, 6, 0, 0, 0, 0, 0,    0,    0, 0};
	FILE *f = fopen(path, "wb");
	png_structp png;
	png_infop info;

	if (f == NULL)
		return -1;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png_create_info_struct(png);
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		fclose(f);
		return -1;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (orientation) {
		exif[19] = (uint8_t)orientation;
		png_set_eXIf_1(png, info, sizeof exif, exif);
	}
	png_write_info(png, info);
	for (int y = 0; y < h; y++)
		png_write_row(png, (png_bytep)(pixels + (size_t)y * w));
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return fclose(f) == 0 ? 0 : -1;
}

/* The checks a report lists, as "check,check,...". */
static void checks_of(const cJSON *rep, char *buf, size_t size)
{
	const cJSON *i;
	size_t n = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(i, cJSON_GetObjectItemCaseSensitive(rep, "issues"))
	{
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(i, "check");

		n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "," : "", c->valuestring);
	}
}

TEST(validate_checks)
{
	uint8_t px[23 * 11] = {0};
	struct fundus_convert_validate_options vo;
	struct fundus_convert_labels *map;
	struct fundus_convert_set *set;
	cJSON *rep;
	int64_t counts[2];
	char text[2000], got[400];

	/* Stored 23 x 11, displayed 11 x 23 (EXIF orientation 6). */
	CHECK_INT_EQ(write_png(tu_path("rot.png"), 23, 11, 6, px), 0);
	snprintf(text, sizeof text,
		 "{\"image\":\"%s\",\"width\":23,\"height\":11,\"objects\":[]}\n"
		 "{\"image\":\"%s\",\"objects\":[{\"label\":\"d\",\"bbox\":[0,0,20,5]}]}\n"
		 "{\"image\":\"x.jpg\",\"width\":10,\"height\":10,\"objects\":["
		 "{\"label\":\"d\",\"bbox\":[5,5,5,8]},{\"label\":\"d\",\"bbox\":[20,0,30,10]},"
		 "{\"label\":\"d\",\"bbox\":[-1,0,5,5]},{\"label\":\"z\",\"bbox\":[1,1,2,2],"
		 "\"score\":2}]}\n"
		 "{\"image\":\"x.jpg\",\"id\":\"sha256:aa\",\"objects\":[]}\n"
		 "{\"image\":\"y.jpg\",\"id\":\"sha256:aa\",\"objects\":[]}\n",
		 tu_path("rot.png"), tu_path("rot.png"));
	set = parse(FUNDUS_CONVERT_RECORDS, text, NULL);
	CHECK(set != NULL);
	CHECK_OK(fundus_convert_labels_parse("d\n", 2, 1, &map));
	fundus_convert_validate_options_default(&vo);
	vo.labels = map;
	CHECK_OK(fundus_convert_validate(set, &vo, &rep, counts));
	checks_of(rep, got, sizeof got);
	CHECK_STR_EQ(got, "size_mismatch,duplicate_image,box_partly_outside,missing_image,"
			  "empty_box,box_outside,box_partly_outside,unknown_label,bad_score,"
			  "duplicate_image,missing_image,duplicate_id,missing_image");
	CHECK_INT_EQ(counts[0], 6);
	CHECK_INT_EQ(counts[1], 7);
	{
		const cJSON *first =
		    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "issues"), 0);

		CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(first, "message")->valuestring,
			     "the record says 23 x 11, the image file is 11 x 23");
	}
	cJSON_Delete(rep);
	/* strict: every warning is an error. */
	vo.strict = 1;
	CHECK_OK(fundus_convert_validate(set, &vo, &rep, counts));
	CHECK_INT_EQ(counts[0], 13);
	CHECK_INT_EQ(counts[1], 0);
	cJSON_Delete(rep);
	fundus_convert_labels_free(map);
	fundus_convert_set_free(set);
}

/* Dataset operations. */

TEST(split_keeps_copies_together)
{
	struct fundus_convert_set *set;
	char text[8000];
	size_t n = 0, unhashed;
	int part[40], again[40];
	const double ratio[2] = {0.75, 0.25}, counts[3] = {5, 3, 2};

	/* 30 images, of which 4 files are byte-identical copies of a.png under other names. */
	for (int i = 0; i < 30; i++) {
		char name[64];

		snprintf(name, sizeof name, "f%02d.bin", i);
		if (i % 7 == 3)
			tu_write_file(tu_path(name), "same bytes", 10);
		else
			tu_write_file(tu_path(name), name, strlen(name));
		n += (size_t)snprintf(text + n, sizeof text - n,
				      "{\"image\":\"%s\",\"objects\":[]}\n", tu_path(name));
	}
	set = parse(FUNDUS_CONVERT_RECORDS, text, NULL);
	CHECK_OK(fundus_convert_split(set, ratio, 2, 0, 42, part, &unhashed));
	CHECK_INT_EQ(unhashed, 0);
	{
		int count[2] = {0, 0};

		for (int i = 0; i < 30; i++) {
			CHECK(part[i] == 0 || part[i] == 1);
			count[part[i]]++;
			if (i % 7 == 3)
				CHECK_INT_EQ(part[i], part[3]);
		}
		/* 22.5 and 7.5 wanted; the copies (a group of 5) move it by at most one group. */
		CHECK_INT_GE(count[0], 18);
		CHECK_INT_LE(count[0], 27);
	}
	/* Same seed, same split; another seed, another. */
	CHECK_OK(fundus_convert_split(set, ratio, 2, 0, 42, again, &unhashed));
	CHECK(memcmp(part, again, 30 * sizeof *part) == 0);
	CHECK_OK(fundus_convert_split(set, ratio, 2, 0, 43, again, &unhashed));
	CHECK(memcmp(part, again, 30 * sizeof *part) != 0);
	/* By counts: the rest is in no part. */
	CHECK_OK(fundus_convert_split(set, counts, 3, 1, 1, part, &unhashed));
	{
		int count[4] = {0, 0, 0, 0};

		for (int i = 0; i < 30; i++)
			count[part[i] + 1]++;
		CHECK_INT_GE(count[1], 5);
		CHECK_INT_GE(count[2], 3);
		CHECK_INT_GE(count[3], 2);
		CHECK_INT_GT(count[0], 0);
	}
	/* Records with an id are keyed by it: the file is not read. */
	{
		char key_a[80];
		char *k;

		fundus_record_set_string(&set->rec[0]->id, "sha256:ab");
		CHECK_OK(fundus_convert_image_key(set->rec[0], &k));
		CHECK_STR_EQ(k, "sha256:ab");
		fundus_free(k);
		CHECK_OK(fundus_convert_image_key(set->rec[3], &k));
		fundus_convert_sha256_hex("same bytes", 10, key_a);
		CHECK_STR_CONTAINS(k, key_a);
		fundus_free(k);
	}
	fundus_convert_set_free(set);
}

TEST(sha256_vectors)
{
	char hex[65];

	fundus_convert_sha256_hex("", 0, hex);
	CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	fundus_convert_sha256_hex("abc", 3, hex);
	CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	fundus_convert_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
				  hex);
	CHECK_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(merge_rename_filter)
{
	struct fundus_convert_set *a = parse(FUNDUS_CONVERT_RECORDS,
					     "{\"image\":\"x.jpg\",\"width\":10,\"height\":10,"
					     "\"objects\":[{\"label\":\"optic_disc\","
					     "\"bbox\":[1,1,5,5]}]}\n",
					     NULL);
	struct fundus_convert_set *b =
	    parse(FUNDUS_CONVERT_RECORDS,
		  "{\"image\":\"x.jpg\",\"objects\":[{\"label\":\"disc\",\"bbox\":[1,1,5,5]},"
		  "{\"label\":\"cup\",\"bbox\":[2,2,3,3]}],\"meta\":{\"eye\":\"R\"}}\n"
		  "{\"image\":\"y.jpg\",\"objects\":[]}\n",
		  NULL);
	struct fundus_convert_set *c =
	    parse(FUNDUS_CONVERT_RECORDS,
		  "{\"image\":\"x.jpg\",\"width\":12,\"height\":10,\"objects\":[]}\n", NULL);
	struct fundus_convert_rename *rn;
	const char *keep[] = {"optic_disc"};
	char *got;

	{
		static const char rename[] = "from,to\ndisc,optic_disc\n\"a,b\",c\n";

		CHECK_OK(fundus_convert_rename_parse(rename, strlen(rename), &rn));
	}
	CHECK_INT_EQ(rn->n, 2);
	CHECK_STR_EQ(rn->from[1], "a,b");
	CHECK_INT_EQ(fundus_convert_rename_apply(b, rn), 1);
	CHECK_OK(fundus_convert_merge(a, b));
	CHECK_INT_EQ(b->n, 0);
	got = cu_lines(a);
	CHECK_STR_EQ(got,
		     "{\"image\":\"x.jpg\",\"width\":10,\"height\":10,\"meta\":{\"eye\":\"R\"},"
		     "\"objects\":[{\"label\":\"optic_disc\",\"bbox\":[1,1,5,5]},"
		     "{\"label\":\"cup\",\"bbox\":[2,2,3,3]}]}\n"
		     "{\"image\":\"y.jpg\",\"objects\":[]}\n");
	free(got);
	CHECK_INT_EQ(fundus_convert_merge(a, c), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "image 'x.jpg': width 10 here, 12 there");
	CHECK_INT_EQ(fundus_convert_filter(a, keep, 1, NULL, 0), 1);
	CHECK_INT_EQ(a->rec[0]->n_objects, 1);
	CHECK_INT_EQ(a->n, 2);
	fundus_convert_rename_free(rn);
	fundus_convert_set_free(a);
	fundus_convert_set_free(b);
	fundus_convert_set_free(c);
}

TEST(stats_report)
{
	struct fundus_convert_set *set =
	    parse(FUNDUS_CONVERT_RECORDS,
		  "{\"image\":\"a.jpg\",\"width\":100,\"height\":100,\"objects\":[{\"label\":\"d\","
		  "\"bbox\":[0,0,10,20],\"by\":\"alice\"},{\"label\":\"d\",\"bbox\":[0,0,30,40],"
		  "\"score\":0.5}]}\n{\"image\":\"b.jpg\",\"objects\":[]}\n",
		  NULL);
	cJSON *s;
	char *text;

	CHECK_OK(fundus_convert_stats(set, &s));
	text = cJSON_PrintUnformatted(s);
	CHECK_STR_EQ(
	    text,
	    "{\"records\":2,\"objects\":2,\"labels\":{\"d\":2},\"by\":{\"alice\":1},"
	    "\"scored_objects\":1,\"records_with_size\":1,\"records_without_objects\":1,"
	    "\"images_without_objects\":[\"b.jpg\"],\"box_width\":{\"count\":2,\"min\":10,"
	    "\"p5\":11,\"p25\":15,\"median\":20,\"p75\":25,\"p95\":29,\"max\":30,\"mean\":20},"
	    "\"box_height\":{\"count\":2,\"min\":20,\"p5\":21,\"p25\":25,\"median\":30,"
	    "\"p75\":35,\"p95\":39,\"max\":40,\"mean\":30},\"box_area_fraction\":{\"count\":2,"
	    "\"min\":0.02,\"p5\":0.025,\"p25\":0.045,\"median\":0.07,\"p75\":0.095,"
	    "\"p95\":0.115,\"max\":0.12,\"mean\":0.07}}");
	cJSON_free(text);
	cJSON_Delete(s);
	fundus_convert_set_free(set);
}

/* Masks. */

TEST(mask_regions_and_values)
{
	/* 8 x 6: two regions of value 1 (one touching only by a corner: one region), one of 3. */
	static const uint8_t px[6 * 8] = {
	    0, 1, 1, 0, 0, 0, 0, 0, /* */
	    0, 1, 0, 0, 0, 3, 3, 0, /* */
	    0, 0, 1, 0, 0, 3, 0, 0, /* the corner at (2,2) joins (1,1) */
	    0, 0, 0, 0, 0, 0, 0, 0, /* */
	    1, 0, 0, 0, 0, 0, 0, 1, /* */
	    1, 1, 0, 0, 0, 0, 0, 0, /* */
	};
	struct fundus_convert_labels *map;
	struct fundus_record *r;
	char *got;

	CHECK_INT_EQ(write_png(tu_path("mask.png"), 8, 6, 0, px), 0);
	fundus_record_new(&r);
	CHECK_OK(fundus_convert_mask_boxes(tu_path("mask.png"), FUNDUS_MASK_REGIONS, "optic_disc",
					   NULL, r));
	CHECK_OK(fundus_record_format(r, &got, NULL));
	CHECK_STR_EQ(got, "{\"width\":8,\"height\":6,\"objects\":["
			  "{\"label\":\"optic_disc\",\"bbox\":[1,0,3,3]},"
			  "{\"label\":\"optic_disc\",\"bbox\":[5,1,7,3]},"
			  "{\"label\":\"optic_disc\",\"bbox\":[0,4,2,6]},"
			  "{\"label\":\"optic_disc\",\"bbox\":[7,4,8,5]}]}\n");
	fundus_free(got);
	fundus_record_clear_objects(r);
	CHECK_OK(fundus_convert_labels_parse("{\"cup\": 3}", 10, 1, &map));
	CHECK_OK(fundus_convert_mask_boxes(tu_path("mask.png"), FUNDUS_MASK_VALUES, NULL, map, r));
	CHECK_OK(fundus_record_format(r, &got, NULL));
	CHECK_STR_EQ(got, "{\"width\":8,\"height\":6,\"objects\":["
			  "{\"label\":\"value_1\",\"bbox\":[0,0,8,6]},"
			  "{\"label\":\"cup\",\"bbox\":[5,1,7,3]}]}\n");
	fundus_free(got);
	fundus_record_free(r);
	fundus_convert_labels_free(map);
	/* A rotated mask gives boxes in the displayed frame: 6 x 8, the top row now the right
	 * column. */
	CHECK_INT_EQ(write_png(tu_path("mask6.png"), 8, 6, 6, px), 0);
	fundus_record_new(&r);
	CHECK_OK(
	    fundus_convert_mask_boxes(tu_path("mask6.png"), FUNDUS_MASK_VALUES, NULL, NULL, r));
	CHECK_OK(fundus_record_format(r, &got, NULL));
	CHECK_STR_EQ(got, "{\"width\":6,\"height\":8,\"objects\":["
			  "{\"label\":\"value_1\",\"bbox\":[0,0,6,8]},"
			  "{\"label\":\"value_3\",\"bbox\":[3,5,5,7]}]}\n");
	fundus_free(got);
	fundus_record_free(r);
}

TEST(masks_folder_names_images)
{
	static const uint8_t px[4] = {0, 255, 0, 0};
	struct fundus_convert_options o;
	struct fundus_convert_set *set;
	char *got, want[1000];

	mkdir(tu_path("m"), 0777);
	mkdir(tu_path("im"), 0777);
	CHECK_INT_EQ(write_png(tu_path("m/IDRiD_01_OD.png"), 2, 2, 0, px), 0);
	CHECK_INT_EQ(tu_write_file(tu_path("m/notes.txt"), "x", 1), 0);
	CHECK_INT_EQ(tu_write_file(tu_path("im/IDRiD_01.jpg"), "x", 1), 0);
	fundus_convert_options_default(&o);
	o.mask_suffix = "_OD";
	o.mask_label = "optic_disc";
	o.image_dir = tu_path("im");
	set = cu_read(tu_path("m"), &o, NULL);
	if (set == NULL)
		HARNESS_FAIL("cannot read masks: %s", fundus_errmsg());
	got = cu_lines(set);
	snprintf(
	    want, sizeof want,
	    "{\"image\":\"%s\",\"width\":2,\"height\":2,\"objects\":[{\"label\":\"optic_disc\","
	    "\"bbox\":[1,0,2,1]}],\"mask\":\"%s\"}\n",
	    tu_path("im/IDRiD_01.jpg"), tu_path("m/IDRiD_01_OD.png"));
	CHECK_STR_EQ(got, want);
	free(got);
	fundus_convert_set_free(set);
}

TEST(detect_formats)
{
	CHECK_INT_EQ(fundus_convert_detect_buffer("{\"image\":\"a\"}\n{}", 16),
		     FUNDUS_CONVERT_RECORDS);
	CHECK_INT_EQ(fundus_convert_detect_buffer("{\n \"images\": []}", 16), FUNDUS_CONVERT_COCO);
	CHECK_INT_EQ(fundus_convert_detect_buffer("{\"images\":[]}", 13), FUNDUS_CONVERT_COCO);
	CHECK_INT_EQ(fundus_convert_detect_buffer("[{\"image_id\":1}]", 16),
		     FUNDUS_CONVERT_COCO_RESULTS);
	CHECK_INT_EQ(fundus_convert_detect_buffer("\xef\xbb\xbf<annotation/>", 17),
		     FUNDUS_CONVERT_VOC);
	CHECK_INT_EQ(fundus_convert_detect_buffer("0 0.5 0.5 0.1 0.1\r\n", 19),
		     FUNDUS_CONVERT_YOLO);
	CHECK_INT_EQ(fundus_convert_detect_buffer("image,xmin\n", 11), FUNDUS_CONVERT_CSV);
	CHECK_INT_EQ(fundus_convert_detect_buffer("a.jpg,1,2,3,4,b\n", 16), FUNDUS_CONVERT_CSV);
}

int main(int argc, char **argv)
{
	RUN(coco_reads_quirks);
	RUN(coco_defaults_are_not_stored);
	RUN(coco_writes);
	RUN(coco_category_ids);
	RUN(coco_round_trip_keeps_file_level_with_labels);
	RUN(coco_results_with_names);
	RUN(coco_malformed);
	RUN(voc_one_based_pixels);
	RUN(voc_devkit_flags);
	RUN(voc_tool_quirks);
	RUN(voc_losses_named);
	RUN(voc_malformed);
	RUN(csv_layouts);
	RUN(csv_open_images);
	RUN(csv_writes);
	RUN(csv_malformed);
	RUN(yolo_classes_from_zero);
	RUN(yolo_lines);
	RUN(yolo_folder_keeps_empty_images);
	RUN(yolo_malformed);
	RUN(label_maps);
	RUN(validate_checks);
	RUN(split_keeps_copies_together);
	RUN(sha256_vectors);
	RUN(merge_rename_filter);
	RUN(stats_report);
	RUN(mask_regions_and_values);
	RUN(masks_folder_names_images);
	RUN(detect_formats);
	return harness_done();
}
