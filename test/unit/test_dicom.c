/*
 * Unit tests of the DICOM codec through ingest: files written at test time
 * by GDCM's and DCMTK's tools (scripts/setup installs them) from synthetic
 * photographs, in every transfer syntax and photometric interpretation the
 * codec claims, must give back the photograph's pixels: exactly on
 * lossless paths, within JPEG's loss otherwise. Metadata, and none of the
 * patient's unless asked.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fundus/core.h"
#include "harness.h"
#include "ingest_util.h"

#define W 160
#define H 120

static const char *const OPH8 = "1.2.840.10008.5.1.4.1.1.77.1.5.1";
static const char *const OPH16 = "1.2.840.10008.5.1.4.1.1.77.1.5.2";
static const char *const SC = "1.2.840.10008.5.1.4.1.1.7";

static struct fundus_image *photo, *gray;
static struct fundus_synth_truth truth;

/* Runs a shell command quietly; 0 when it succeeded. */
static int sh(const char *fmt, ...) FUNDUS_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[8192], full[8400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
	if (system(full) != 0) {
		fprintf(stderr, "command failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

/* Writes a binary PNM (P5 or P6), 16-bit as v * 257, or inverted. */
static int write_pnm(const char *path, const struct fundus_image *img, int deep, int invert)
{
	int ch = fundus_pixfmt_channels(img->format);
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	fprintf(f, "P%d\n%d %d\n%d\n", ch == 1 ? 5 : 6, img->width, img->height,
		deep ? 65535 : 255);
	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width * ch; x++) {
			int v = img->data[(size_t)y * img->stride + x];

			if (invert)
				v = 255 - v;
			fputc(v, f);
			if (deep)
				fputc(v, f); /* v * 257 in big-endian order */
		}
	return fclose(f);
}

/* Ingests one DICOM file; returns its decoded working copy, and the record in *rec. */
static struct fundus_image *ingest_one(const char *name, enum fundus_pixfmt fmt,
				       struct fundus_record **rec, int phi)
{
	const char *in[] = {iu_path(name)};
	struct fundus_ingest_options o;
	struct iu_result res;
	struct fundus_image *img = NULL;
	char ds[256];

	/* A dataset of its own: files of equal pixels would share one record. */
	snprintf(ds, sizeof ds, "ds_%s", name);
	fundus_ingest_options_default(&o);
	o.keep_phi = phi;
	iu_ingest(&res, iu_path(ds), in, 1, &o);
	if (res.rc == 0 && res.nrecs == 1) {
		img = iu_load(res.recs[0]->image, fmt);
		if (rec)
			fundus_record_dup(res.recs[0], rec);
	} else {
		fprintf(stderr, "%s: rc %d, %d records, %s\n", name, res.rc, res.nrecs,
			res.nfailed ? res.failed[0] : "");
	}
	iu_free(&res);
	return img;
}

static const char *meta_str(const struct fundus_record *r, const char *key)
{
	const cJSON *v = r && r->meta ? cJSON_GetObjectItemCaseSensitive(r->meta, key) : NULL;

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Makes the uncompressed files every other test starts from. */
static int setup(void)
{
	if (system("command -v gdcmimg gdcmconv dcmcjpeg dcmdjpeg dcmcrle dcmodify img2dcm "
		   ">/dev/null 2>&1") != 0)
		return -1;
	photo = iu_synth(W, H, 7, &truth);
	if (photo == NULL || fundus_image_convert(photo, FUNDUS_PIX_GRAY8, &gray) < 0)
		return -1;
	if (write_pnm(iu_path("c.ppm"), photo, 0, 0) < 0 ||
	    write_pnm(iu_path("g.pgm"), gray, 0, 0) < 0 ||
	    write_pnm(iu_path("inv.pgm"), gray, 0, 1) < 0 ||
	    write_pnm(iu_path("g16.pgm"), gray, 1, 0) < 0 ||
	    write_pnm(iu_path("c16.ppm"), photo, 1, 0) < 0 ||
	    fundus_image_save(photo, iu_path("c.jpg"), NULL) < 0)
		return -1;
	return sh("gdcmimg -C %s %s %s", OPH8, iu_path("c.ppm"), iu_path("rgb.dcm"));
}

TEST(uncompressed_rgb_exact)
{
	struct fundus_record *r = NULL;
	struct fundus_image *img = ingest_one("rgb.dcm", FUNDUS_PIX_RGB8, &r, 0);

	CHECK(img != NULL);
	CHECK_INT_EQ(iu_maxdiff(img, photo), 0);
	CHECK_NEAR(iu_box_meandiff(img, photo, &truth.disc_box), 0, 0);
	CHECK_STR_EQ(meta_str(r, "sop_class"), OPH8);
	CHECK_STR_EQ(meta_str(r, "photometric"), "RGB");
	fundus_image_free(img);
	fundus_record_free(r);
}

TEST(lossless_transfer_syntaxes_exact)
{
	const char *cmds[][2] = {
	    {"dcmcjpeg --encode-lossless-sv1", "jpll.dcm"},
	    {"dcmcrle", "rle.dcm"},
	    {"gdcmconv --j2k", "j2k.dcm"},
	    {"gdcmconv --rle --planar-configuration 1", "rle_planar.dcm"},
	};

	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		struct fundus_image *img;
		struct fundus_record *r = NULL;

		if (sh("%s %s %s", cmds[i][0], iu_path("rgb.dcm"), iu_path(cmds[i][1])) < 0)
			continue; /* an option this DCMTK lacks */
		img = ingest_one(cmds[i][1], FUNDUS_PIX_RGB8, &r, 0);
		CHECK(img != NULL);
		if (iu_maxdiff(img, photo) != 0)
			fprintf(stderr, "%s differs\n", cmds[i][1]);
		CHECK_INT_EQ(iu_maxdiff(img, photo), 0);
		CHECK(strlen(meta_str(r, "transfer_syntax")) > 10);
		fundus_image_free(img);
		fundus_record_free(r);
	}
}

TEST(jpeg_baseline_ybr_422_and_ybr_full)
{
	struct fundus_image *base, *ybr, *rle_ybr, *vl, *jpg;
	struct fundus_record *r = NULL;

	/* img2dcm wraps the JPEG file as it is: baseline, YBR_FULL_422. */
	CHECK_OK(sh("img2dcm -vlp --no-checks %s %s", iu_path("c.jpg"), iu_path("vl.dcm")));
	CHECK_OK(sh("dcmcjpeg --encode-baseline %s %s", iu_path("rgb.dcm"), iu_path("base.dcm")));
	CHECK_OK(sh("dcmdjpeg --conv-never %s %s", iu_path("base.dcm"), iu_path("ybr.dcm")));
	CHECK_OK(sh("dcmcrle %s %s", iu_path("ybr.dcm"), iu_path("rle_ybr.dcm")));
	vl = ingest_one("vl.dcm", FUNDUS_PIX_RGB8, &r, 0);
	CHECK(vl != NULL);
	CHECK_STR_EQ(meta_str(r, "photometric"), "YBR_FULL_422");
	CHECK_STR_EQ(meta_str(r, "sop_class"), "1.2.840.10008.5.1.4.1.1.77.1.4");
	/* Against the JPEG file it wraps, decoded by libjpeg-turbo: GDCM's libjpeg
	 * may round its IDCT and upsampling differently. */
	jpg = iu_load(iu_path("c.jpg"), FUNDUS_PIX_RGB8);
	CHECK(jpg != NULL);
	CHECK_INT_LE(iu_maxdiff(vl, jpg), 8);
	CHECK(iu_box_meandiff(vl, jpg, &truth.disc_box) < 1.5);
	CHECK(iu_box_meandiff(vl, photo, &truth.disc_box) < 6);
	fundus_record_free(r);
	r = NULL;
	base = ingest_one("base.dcm", FUNDUS_PIX_RGB8, NULL, 0);
	ybr = ingest_one("ybr.dcm", FUNDUS_PIX_RGB8, &r, 0);
	rle_ybr = ingest_one("rle_ybr.dcm", FUNDUS_PIX_RGB8, NULL, 0);
	CHECK(base && ybr && rle_ybr);
	CHECK_STR_EQ(meta_str(r, "photometric"), "YBR_FULL");
	/* A 160 x 120 disc is all edges: JPEG quality 90 loses a few levels there. */
	CHECK(iu_box_meandiff(base, photo, &truth.disc_box) < 6);
	/* The same decoded YCbCr samples, converted here rather than by libjpeg. */
	CHECK_INT_LE(iu_maxdiff(ybr, base), 2);
	CHECK_INT_EQ(iu_maxdiff(rle_ybr, ybr), 0);
	fundus_image_free(vl);
	fundus_image_free(jpg);
	fundus_image_free(base);
	fundus_image_free(ybr);
	fundus_image_free(rle_ybr);
	fundus_record_free(r);
}

TEST(lossy_jpeg2000_within_tolerance)
{
	struct fundus_image *img;

	CHECK_OK(sh("gdcmconv --j2k --lossy -q 50 %s %s", iu_path("rgb.dcm"), iu_path("j2kl.dcm")));
	img = ingest_one("j2kl.dcm", FUNDUS_PIX_RGB8, NULL, 0);
	CHECK(img != NULL);
	printf("note: lossy JPEG 2000: mean difference in the disc box %.2f\n",
	       iu_box_meandiff(img, photo, &truth.disc_box));
	CHECK(iu_box_meandiff(img, photo, &truth.disc_box) < 6);
	fundus_image_free(img);
}

TEST(monochrome_8_and_16_bit)
{
	struct fundus_image *g, *g16, *m1, *c16;
	struct fundus_record *r = NULL;

	CHECK_OK(sh("gdcmimg -C %s %s %s", SC, iu_path("g.pgm"), iu_path("g.dcm")));
	CHECK_OK(sh("gdcmimg -C %s %s %s", OPH16, iu_path("g16.pgm"), iu_path("g16.dcm")));
	CHECK_OK(sh("gdcmimg -C %s %s %s", OPH16, iu_path("c16.ppm"), iu_path("c16.dcm")));
	/* MONOCHROME1: white is 0, so the inverted samples read as the photograph. */
	CHECK_OK(sh("gdcmimg -C %s %s %s", SC, iu_path("inv.pgm"), iu_path("m1.dcm")));
	CHECK_OK(sh("dcmodify -nb -m PhotometricInterpretation=MONOCHROME1 %s", iu_path("m1.dcm")));
	g = ingest_one("g.dcm", FUNDUS_PIX_GRAY8, NULL, 0);
	g16 = ingest_one("g16.dcm", FUNDUS_PIX_NONE, &r, 0);
	m1 = ingest_one("m1.dcm", FUNDUS_PIX_GRAY8, NULL, 0);
	c16 = ingest_one("c16.dcm", FUNDUS_PIX_NONE, NULL, 0);
	CHECK(g && g16 && m1 && c16);
	CHECK_INT_EQ(iu_maxdiff(g, gray), 0);
	CHECK_INT_EQ(iu_maxdiff(g16, gray), 0); /* gray8 working copy, exactly */
	CHECK_INT_EQ(iu_maxdiff(m1, gray), 0);
	CHECK_INT_EQ(iu_maxdiff(c16, photo), 0);
	CHECK_STR_EQ(meta_str(r, "sop_class"), OPH16);
	fundus_image_free(g);
	fundus_image_free(g16);
	fundus_image_free(m1);
	fundus_image_free(c16);
	fundus_record_free(r);
}

TEST(metadata_and_phi_only_when_asked)
{
	struct fundus_record *r = NULL, *rp = NULL;
	struct fundus_image *a, *b;
	const cJSON *patient;
	char *line = NULL;

	CHECK_OK(sh("cp %s %s", iu_path("rgb.dcm"), iu_path("phi.dcm")));
	CHECK_OK(sh("dcmodify -nb -i '(0010,0010)=Doe^Jane' -i '(0010,0020)=PID12345' "
		    "-i '(0010,0030)=19600102' -i '(0020,0062)=R' -i '(0008,0060)=OP' "
		    "-i '(0008,0022)=20240131' %s",
		    iu_path("phi.dcm")));
	a = ingest_one("phi.dcm", FUNDUS_PIX_RGB8, &r, 0);
	CHECK(a != NULL);
	CHECK_STR_EQ(meta_str(r, "laterality"), "R");
	CHECK_STR_EQ(meta_str(r, "modality"), "OP");
	CHECK_STR_EQ(meta_str(r, "acquisition_date"), "2024-01-31");
	CHECK_STR_EQ(meta_str(r, "sop_class_name"), "Ophthalmic Photography 8 Bit Image Storage");
	CHECK(cJSON_GetObjectItemCaseSensitive(r->meta, "patient") == NULL);
	CHECK_OK(fundus_record_format(r, &line, NULL));
	CHECK(strstr(line, "Doe^Jane") == NULL && strstr(line, "PID12345") == NULL &&
	      strstr(line, "19600102") == NULL && strstr(line, "1960-01-02") == NULL);
	fundus_free(line);
	/* Same pixels as without the patient: the working copy is the same image. */
	CHECK_INT_EQ(iu_maxdiff(a, photo), 0);
	/* With --keep-phi, in another dataset. */
	{
		const char *in[] = {iu_path("phi.dcm")};
		struct fundus_ingest_options o;
		struct iu_result res;

		fundus_ingest_options_default(&o);
		o.keep_phi = 1;
		iu_ingest(&res, iu_path("ds_phi"), in, 1, &o);
		CHECK_INT_EQ(res.nrecs, 1);
		fundus_record_dup(res.recs[0], &rp);
		iu_free(&res);
	}
	patient = rp ? cJSON_GetObjectItemCaseSensitive(rp->meta, "patient") : NULL;
	CHECK(patient != NULL);
	CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(patient, "name")),
		     "Doe^Jane");
	CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(patient, "id")),
		     "PID12345");
	CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(patient, "birth_date")),
		     "1960-01-02");
	b = iu_load(rp->image, FUNDUS_PIX_RGB8);
	CHECK(b != NULL);
	CHECK_INT_EQ(iu_maxdiff(a, b), 0);
	fundus_image_free(a);
	fundus_image_free(b);
	fundus_record_free(r);
	fundus_record_free(rp);
}

/* Appends one explicit-VR little-endian element; odd values padded with pad. */
static size_t put(uint8_t *b, size_t n, uint16_t g, uint16_t e, const char *vr, const void *v,
		  size_t len, char pad)
{
	size_t plen = len + (len & 1);
	int long_form = strcmp(vr, "OB") == 0 || strcmp(vr, "OW") == 0;

	b[n++] = (uint8_t)g, b[n++] = (uint8_t)(g >> 8), b[n++] = (uint8_t)e,
	b[n++] = (uint8_t)(e >> 8);
	b[n++] = (uint8_t)vr[0], b[n++] = (uint8_t)vr[1];
	if (long_form) {
		b[n++] = 0, b[n++] = 0;
		for (int i = 0; i < 4; i++)
			b[n++] = (uint8_t)(plen >> (8 * i));
	} else {
		b[n++] = (uint8_t)plen, b[n++] = (uint8_t)(plen >> 8);
	}
	memcpy(b + n, v, len);
	n += len;
	if (len & 1)
		b[n++] = (uint8_t)pad;
	return n;
}

static size_t put_str(uint8_t *b, size_t n, uint16_t g, uint16_t e, const char *vr, const char *s)
{
	return put(b, n, g, e, vr, s, strlen(s), strcmp(vr, "UI") == 0 ? '\0' : ' ');
}

static size_t put_us(uint8_t *b, size_t n, uint16_t g, uint16_t e, int v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	return put(b, n, g, e, "US", x, 2, 0);
}

/*
 * Writes a multi-frame uncompressed RGB object by hand (no tool makes
 * one from pictures): the frames as given, laterality L.
 */
static int write_multiframe(const char *path, struct fundus_image *const *frames, int nf)
{
	static const char *ts = "1.2.840.10008.1.2.1", *uid = "1.2.826.0.1.3680043.2.1125.1.77";
	size_t fb = (size_t)W * H * 3, cap = 4096 + fb * (size_t)nf, n = 0, glen_at;
	uint8_t *b = calloc(1, cap), *pix = malloc(fb * (size_t)nf);
	char nfs[16];
	uint32_t glen;
	int rc;

	for (int f = 0; f < nf; f++)
		for (int y = 0; y < H; y++)
			memcpy(pix + fb * (size_t)f + (size_t)y * W * 3,
			       frames[f]->data + (size_t)y * frames[f]->stride, (size_t)W * 3);
	memcpy(b + 128, "DICM", 4);
	n = 132;
	glen_at = n + 8;
	n = put(b, n, 0x0002, 0x0000, "UL", "\0\0\0\0", 4, 0);
	n = put(b, n, 0x0002, 0x0001, "OB", "\0\1", 2, 0);
	n = put_str(b, n, 0x0002, 0x0002, "UI", OPH8);
	n = put_str(b, n, 0x0002, 0x0003, "UI", uid);
	n = put_str(b, n, 0x0002, 0x0010, "UI", ts);
	n = put_str(b, n, 0x0002, 0x0012, "UI", "1.2.826.0.1.3680043.2.1125.9");
	glen = (uint32_t)(n - glen_at - 4);
	memcpy(b + glen_at, &glen, 4);
	n = put_str(b, n, 0x0008, 0x0016, "UI", OPH8);
	n = put_str(b, n, 0x0008, 0x0018, "UI", uid);
	n = put_str(b, n, 0x0008, 0x0060, "CS", "OP");
	n = put_str(b, n, 0x0020, 0x0062, "CS", "L");
	n = put_us(b, n, 0x0028, 0x0002, 3);
	n = put_str(b, n, 0x0028, 0x0004, "CS", "RGB");
	n = put_us(b, n, 0x0028, 0x0006, 0);
	snprintf(nfs, sizeof nfs, "%d", nf);
	n = put_str(b, n, 0x0028, 0x0008, "IS", nfs);
	n = put_us(b, n, 0x0028, 0x0010, H);
	n = put_us(b, n, 0x0028, 0x0011, W);
	n = put_us(b, n, 0x0028, 0x0100, 8);
	n = put_us(b, n, 0x0028, 0x0101, 8);
	n = put_us(b, n, 0x0028, 0x0102, 7);
	n = put_us(b, n, 0x0028, 0x0103, 0);
	n = put(b, n, 0x7fe0, 0x0010, "OB", pix, fb * (size_t)nf, 0);
	rc = tu_write_file(path, b, n);
	free(b);
	free(pix);
	return rc;
}

TEST(multi_frame_gives_one_record_per_frame)
{
	struct fundus_image *fr[3] = {photo, NULL, NULL};
	const char *in[] = {iu_path("multi.dcm")};
	struct iu_result res;

	fr[1] = iu_synth(W, H, 8, NULL);
	fr[2] = iu_synth(W, H, 9, NULL);
	CHECK(fr[1] && fr[2]);
	CHECK_INT_EQ(write_multiframe(in[0], fr, 3), 0);
	iu_ingest(&res, iu_path("ds_multi"), in, 1, NULL);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 3);
	for (int f = 0; f < res.nrecs; f++) {
		struct fundus_image *img = iu_load(res.recs[f]->image, FUNDUS_PIX_RGB8);
		const cJSON *frame = cJSON_GetObjectItemCaseSensitive(res.recs[f]->source, "frame");

		CHECK(img != NULL);
		CHECK(cJSON_IsNumber(frame) && frame->valueint == f);
		CHECK_INT_EQ(iu_maxdiff(img, fr[f]), 0);
		CHECK_STR_EQ(meta_str(res.recs[f], "laterality"), "L");
		fundus_image_free(img);
	}
	iu_free(&res);
	/* RLE and JPEG lossless, frame by frame: the same pixels, so nothing new. */
	CHECK_OK(sh("dcmcrle %s %s", in[0], iu_path("multi_rle.dcm")));
	CHECK_OK(sh("dcmcjpeg --encode-lossless-sv1 %s %s", in[0], iu_path("multi_jpll.dcm")));
	{
		const char *more[] = {iu_path("multi_rle.dcm"), iu_path("multi_jpll.dcm")};

		iu_ingest(&res, iu_path("ds_multi"), more, 2, NULL);
		CHECK_OK(res.rc);
		CHECK_INT_EQ(res.nrecs, 6);
		CHECK_INT_EQ(res.st.added, 0);
		iu_free(&res);
	}
	fundus_image_free(fr[1]);
	fundus_image_free(fr[2]);
}

TEST(damaged_dicom_named)
{
	const char *in[] = {iu_path("cut.dcm"), iu_path("nopix.dcm"), iu_path("spp5.dcm"),
			    iu_path("rgb.dcm")};
	struct iu_result res;
	FILE *f;
	uint8_t buf[65536];
	size_t n;

	/* Uncompressed, cut in the pixel data (a cut JPEG 2000 stream leaks inside OpenJPEG). */
	f = fopen(iu_path("rgb.dcm"), "rb");
	CHECK(f != NULL);
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	CHECK(n > 4000);
	tu_write_file(in[0], buf, n / 2);
	/* A DICOM object without pixel data: drop it. */
	CHECK_OK(
	    sh("cp %s %s && dcmodify -nb -e '(7fe0,0010)' %s", iu_path("rgb.dcm"), in[1], in[1]));
	/* Five samples per pixel: GDCM asserts (and aborts) on it, in its own process. */
	CHECK_OK(sh("cp %s %s && dcmodify -nb -m SamplesPerPixel=5 %s", iu_path("rgb.dcm"), in[2],
		    in[2]));
	iu_ingest(&res, iu_path("ds_bad"), in, 4, NULL);
	CHECK_OK(res.rc);
	CHECK_INT_EQ(res.nrecs, 1);
	CHECK_INT_EQ(res.nfailed, 3);
	if (res.nfailed == 3) {
		CHECK_STR_CONTAINS(res.failed[2], "spp5.dcm: damaged DICOM object");
		CHECK_STR_CONTAINS(res.failed[0], "cut.dcm: ");
		CHECK_STR_CONTAINS(res.failed[0], "truncated");
		CHECK_STR_CONTAINS(res.failed[1], "nopix.dcm: ");
		CHECK_STR_CONTAINS(res.failed[1], "without pixel data");
	}
	iu_free(&res);
}

int main(int argc, char **argv)
{
	if (setup() < 0) {
		printf("skip: the DICOM tools (gdcmimg, dcmcjpeg, ...) are missing; scripts/setup "
		       "installs them\n");
		return TU_SKIP;
	}
	RUN(uncompressed_rgb_exact);
	RUN(lossless_transfer_syntaxes_exact);
	RUN(jpeg_baseline_ybr_422_and_ybr_full);
	RUN(lossy_jpeg2000_within_tolerance);
	RUN(monochrome_8_and_16_bit);
	RUN(metadata_and_phi_only_when_asked);
	RUN(multi_frame_gives_one_record_per_frame);
	RUN(damaged_dicom_named);
	fundus_image_free(photo);
	fundus_image_free(gray);
	return harness_done();
}
