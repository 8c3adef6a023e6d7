/*
 * Unit tests of whole-slide images: a tiled pyramid written with an
 * Aperio-style description is opened by OpenSlide as SVS, read at the
 * level nearest above the wanted size, and its working copy holds the
 * pixels of that level; the same pyramid without the description stays
 * with the TIFF codec (generic tiled TIFF).
 */
#include "fundus/core.h"
#include "harness.h"
#include "image/codec.h"
#include "ingest_util.h"

#define APERIO                                                                                     \
	"Aperio Image Library v12.0.0\r\n2048x1536 [0,0 2048x1536] (256x256) RGB|AppMag = 20|"     \
	"MPP = 0.499"

static struct fundus_image *lv[3];

/* Writes the three levels as a tiled pyramid, with desc as ImageDescription. */
static int write_slide(const char *path, const char *desc)
{
	uint8_t *data;
	size_t len;
	int rc = fundus__tiff_write_pyramid((const struct fundus_image *const *)lv, 3, 256, desc,
					    &data, &len);

	if (rc < 0)
		return rc;
	rc = tu_write_file(path, data, len);
	fundus_free(data);
	return rc;
}

static double meta_num(const struct fundus_record *r, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->meta, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *src_str(const struct fundus_record *r, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->source, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

TEST(aperio_pyramid_is_svs)
{
	const char *path = iu_path("slide.svs");
	struct fundus_image_source *src;

	CHECK_OK(write_slide(path, APERIO));
	CHECK_OK(fundus_image_open(&src, path, NULL));
	CHECK_STR_EQ(fundus_image_source_info(src)->format, "openslide");
	CHECK_INT_EQ(fundus_image_source_info(src)->levels, 3);
	CHECK_INT_EQ(fundus_image_source_info(src)->level[2].width, 128);
	CHECK_STR_EQ(fundus__openslide_format(src), "svs"); /* vendor "aperio" */
	fundus_image_close(src);
}

TEST(slide_working_copy_from_the_nearest_level)
{
	const char *in[] = {iu_path("slide.svs")};
	struct fundus_ingest_options o;
	struct iu_result res;
	struct fundus_image *img, *want = NULL;

	fundus_ingest_options_default(&o);
	/* Exactly level 1: its pixels, untouched. */
	o.long_side = 512;
	iu_ingest(&res, iu_path("ds"), in, 1, &o);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 1);
	if (res.nrecs < 1)
		return;
	CHECK_STR_EQ(src_str(res.recs[0], "format"), "svs");
	CHECK_INT_EQ((int)meta_num(res.recs[0], "level") == -1, 1);
	CHECK_INT_EQ((int)cJSON_GetObjectItemCaseSensitive(res.recs[0]->source, "level")->valueint,
		     1);
	CHECK_STR_EQ(
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res.recs[0]->meta, "vendor")),
	    "aperio");
	CHECK_NEAR(meta_num(res.recs[0], "mpp_x"), 0.499, 1e-9);
	CHECK_INT_EQ((int)meta_num(res.recs[0], "original_width"), 2048);
	img = iu_load(res.recs[0]->image, FUNDUS_PIX_RGB8);
	CHECK(img != NULL);
	CHECK_INT_EQ(iu_maxdiff(img, lv[1]), 0);
	fundus_image_free(img);
	iu_free(&res);
	/* Between levels: level 1 averaged down. */
	o.long_side = 300;
	iu_ingest(&res, iu_path("ds"), in, 1, &o);
	CHECK_INT_EQ(res.nrecs, 1);
	if (res.nrecs < 1)
		return;
	CHECK_INT_EQ(res.recs[0]->width, 300);
	CHECK_INT_EQ(res.recs[0]->height, 225);
	img = iu_load(res.recs[0]->image, FUNDUS_PIX_RGB8);
	CHECK(img != NULL);
	CHECK_OK(fundus_image_resize(lv[1], 300, 225, &want));
	CHECK_INT_LE(iu_maxdiff(img, want), 1);
	fundus_image_free(img);
	fundus_image_free(want);
	iu_free(&res);
}

TEST(generic_pyramid_stays_with_the_tiff_codec)
{
	const char *in[] = {iu_path("generic.tif")};
	struct fundus_ingest_options o;
	struct iu_result res;

	CHECK_OK(write_slide(in[0], NULL));
	fundus_ingest_options_default(&o);
	o.long_side = 512;
	iu_ingest(&res, iu_path("ds_generic"), in, 1, &o);
	CHECK_INT_EQ(res.nrecs, 1);
	if (res.nrecs < 1)
		return;
	CHECK_STR_EQ(src_str(res.recs[0], "format"), "tiff");
	CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(res.recs[0]->source, "level")->valueint, 1);
	iu_free(&res);
	/* In the slide's dataset: the same pixels as the slide's level 1, the same image. */
	iu_ingest(&res, iu_path("ds"), in, 1, &o);
	CHECK_INT_EQ(res.nrecs, 1);
	CHECK_INT_EQ(res.added[0], 0);
	iu_free(&res);
}

TEST(damaged_slide_named)
{
	const char *in[] = {iu_path("cut.svs"), iu_path("slide.svs")};
	struct iu_result res;
	FILE *f = fopen(iu_path("slide.svs"), "rb");
	static uint8_t buf[1 << 22];
	size_t n;

	CHECK(f != NULL);
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	/* Keep the header and the directory, lose the tiles' bytes. */
	memset(buf + 4096, 0xa5, n / 2);
	CHECK_INT_EQ(tu_write_file(in[0], buf, n), 0);
	iu_ingest(&res, iu_path("ds_bad"), in, 2, NULL);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 1);
	CHECK_INT_EQ(res.nfailed, 1);
	if (res.nfailed == 1)
		CHECK_STR_CONTAINS(res.failed[0], "cut.svs: ");
	iu_free(&res);
}

int main(int argc, char **argv)
{
	lv[0] = iu_synth(2048, 1536, 5, NULL);
	if (lv[0] == NULL || fundus_image_shrink(lv[0], 4, &lv[1]) < 0 ||
	    fundus_image_shrink(lv[0], 16, &lv[2]) < 0)
		return 1;
	RUN(aperio_pyramid_is_svs);
	RUN(slide_working_copy_from_the_nearest_level);
	RUN(generic_pyramid_stays_with_the_tiff_codec);
	RUN(damaged_slide_named);
	for (int i = 0; i < 3; i++)
		fundus_image_free(lv[i]);
	return harness_done();
}
