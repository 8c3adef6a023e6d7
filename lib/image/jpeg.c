/*
 * JPEG through the libjpeg API of libjpeg-turbo: header, decode (region,
 * DCT-domain scaling, EXIF orientation) and encode. Every setjmp/longjmp
 * and libjpeg error-handling quirk stays in this file.
 *
 * Decoder contract (the common one is in fundus/image.h):
 *
 * - Accepted: baseline, extended and progressive Huffman or arithmetic
 *   JPEG, 8 bits per sample, grayscale, YCbCr, RGB, CMYK and YCCK, any
 *   chroma subsampling libjpeg-turbo accepts. 12-bit and lossless JPEG fail
 *   with FUNDUS_EUNSUPPORTED.
 * - Returned: grayscale as gray8, everything else as rgb8 (then converted
 *   to ro->format). CMYK and YCCK are converted to RGB here: when the file
 *   carries an Adobe APP14 marker its CMYK samples are taken as inverted
 *   (Photoshop's convention: 0 is full ink), otherwise as plain CMYK; the
 *   marker's transform code says YCCK or CMYK and libjpeg undoes YCCK.
 *   Pixels are libjpeg's defaults (JDCT_ISLOW, fancy upsampling), so a full
 *   decode is bit-identical to `djpeg -ppm`, and a decode at scale 2, 4, 8
 *   to `djpeg -scale 1/N -ppm`.
 * - Orientation: from the first APP1 Exif segment that holds a valid one
 *   (IFD0 tag 0x0112, either byte order; every offset is checked against
 *   the segment, and anything malformed counts as "no orientation").
 *   info.width/height are the displayed size; reads apply the orientation
 *   unless keep_orientation.
 * - Scale: the largest power of two up to 8 that divides ro->scale is done
 *   in the DCT domain; the rest by block averaging (fundus_image_shrink).
 * - Regions: decoded with jpeg_crop_scanline and jpeg_skip_scanlines, so a
 *   small region of a big baseline JPEG costs little more than the entropy
 *   decoding of the rows above it. A region read at scale 1 equals the crop
 *   of the full read exactly. With a DCT factor s (see region_plan()), the
 *   result is the s-scaled full read cropped to columns
 *   [floor(x / s), floor(x / s) + ceil(w / s)) and the same for rows, in
 *   displayed coordinates, then reduced by the remaining factor.
 * - Fails with FUNDUS_EFORMAT and libjpeg's message for any libjpeg error,
 *   for a truncated file ("premature end of JPEG file" is an error, not a
 *   warning), and for the corrupt-data warnings (bad Huffman or arithmetic
 *   code, premature end of a data segment, missing restart marker, invalid
 *   scan parameters or progression). Harmless warnings are logged through
 *   fundus_log() and ignored: extraneous bytes between segments (the
 *   entropy data is complete when they are seen), an unknown JFIF
 *   revision, an unknown Adobe transform code and a corrupt ICC marker.
 *   When a region read stops above the last row, the data below it is not
 *   read, so a file truncated there is not noticed by that read.
 * - Limits: the stored size against max_width/max_height in header(); the
 *   decoded (scaled, cropped) size against max_pixels before any pixel
 *   memory is allocated; a multi-scan (progressive) file holds the DCT
 *   coefficients of the whole image in memory, so its full stored size is
 *   checked against max_pixels too; more than MAX_SCANS scans fail with
 *   FUNDUS_ELIMIT (a scan bomb costs time without memory). libjpeg-turbo
 *   itself refuses sizes over 65500 (FUNDUS_ELIMIT).
 * - Progress: ro->progress is called per band of 16 rows ("decoding",
 *   rows done, rows in all), and with 0 rows done while libjpeg absorbs
 *   the scans of a multi-scan file; a non-zero return stops the decode
 *   with FUNDUS_ECANCELED.
 * - Memory: pixels and buffers through fundus_malloc (FUNDUS_ENOMEM when it
 *   fails); libjpeg's own working memory through its allocator; everything
 *   is released on every path.
 *
 * Encoder: gray8 and rgb8 as they are, other formats converted first
 * (alpha dropped, 16 bits rounded to 8); baseline with libjpeg's standard
 * Huffman tables and a JFIF header, so->quality, and chroma at 4:2:0
 * (so->subsample) or 4:4:4. The output grows in a fundus_malloc buffer.
 */
#include <ctype.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "codec.h"
#include "exif.h"

/* More scans than any real encoder writes (progressive files have ~10). */
#define MAX_SCANS 500
/* Rows handed to libjpeg at once, and between progress reports. */
#define BAND 16
/* Warnings logged per decode before the rest are dropped. */
#define MAX_LOGGED 3

/* The error manager: libjpeg's, plus where to jump and what to report. */
struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jmp;
	int code;
	char msg[JMSG_LENGTH_MAX + 64];
	size_t len;                             /* of the input, to say where an error was found */
	int logged;                             /* warnings logged so far */
	const struct fundus_progress *progress; /* polled while libjpeg absorbs scans */
	int absorbing;                          /* inside jpeg_start_decompress() */
	int64_t total;                          /* rows to report */
};

/* The fundus code for a libjpeg error. */
static int code_of(int msg_code)
{
	switch (msg_code) {
	case JERR_OUT_OF_MEMORY: return FUNDUS_ENOMEM;
	case JERR_IMAGE_TOO_BIG:
	case JERR_WIDTH_OVERFLOW:
	case JERR_NO_BACKING_STORE: return FUNDUS_ELIMIT;
	case JERR_BAD_PRECISION:
	case JERR_SOF_UNSUPPORTED:
	case JERR_NOTIMPL:
	case JERR_NOT_COMPILED:
	case JERR_ARITH_NOTIMPL:
	case JERR_CONVERSION_NOTIMPL:
	case JERR_CCIR601_NOTIMPL:
	case JERR_FRACT_SAMPLE_NOTIMPL: return FUNDUS_EUNSUPPORTED;
	default: return FUNDUS_EFORMAT;
	}
}

/* Non-zero for the warnings that leave the pixels intact (see the contract). */
static int warning_is_harmless(int msg_code)
{
	switch (msg_code) {
	case JWRN_EXTRANEOUS_DATA:
	case JWRN_JFIF_MAJOR:
	case JWRN_ADOBE_XFORM:
	case JWRN_BOGUS_ICC: return 1;
	default: return 0;
	}
}

/*
 * Writes libjpeg's current message into buf in the library's style: lower
 * case first letter (unless an acronym starts it), with the input position
 * when a source is attached.
 */
static void describe(j_common_ptr cinfo, char *buf, size_t size)
{
	struct jerr *e = (struct jerr *)cinfo->err;
	char m[JMSG_LENGTH_MAX];
	size_t at = 0;

	cinfo->err->format_message(cinfo, m);
	if (isupper((unsigned char)m[0]) && !isupper((unsigned char)m[1]))
		m[0] = (char)tolower((unsigned char)m[0]);
	if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->src != NULL) {
		size_t left = ((j_decompress_ptr)cinfo)->src->bytes_in_buffer;

		at = left <= e->len ? e->len - left : 0;
	}
	if (cinfo->err->msg_code == JWRN_JPEG_EOF)
		snprintf(buf, size, "truncated JPEG data: %s", m);
	else if (at > 0)
		snprintf(buf, size, "%s (near byte %zu)", m, at);
	else
		snprintf(buf, size, "%s", m);
}

/* libjpeg's error_exit: never returns, jumps back to the caller's setjmp. */
static void on_error(j_common_ptr cinfo)
{
	struct jerr *e = (struct jerr *)cinfo->err;

	e->code = code_of(cinfo->err->msg_code);
	describe(cinfo, e->msg, sizeof e->msg);
	longjmp(e->jmp, 1);
}

/*
 * libjpeg's emit_message: trace messages (level >= 0) are dropped;
 * warnings (level -1) that mean lost or corrupt pixels become errors, the
 * others are logged.
 */
static void on_message(j_common_ptr cinfo, int level)
{
	struct jerr *e = (struct jerr *)cinfo->err;
	char m[JMSG_LENGTH_MAX + 64];

	if (level >= 0)
		return;
	if (!warning_is_harmless(cinfo->err->msg_code)) {
		e->code = FUNDUS_EFORMAT;
		describe(cinfo, e->msg, sizeof e->msg);
		longjmp(e->jmp, 1);
	}
	if (e->logged++ < MAX_LOGGED) {
		describe(cinfo, m, sizeof m);
		fundus_log(FUNDUS_LOG_WARN, "jpeg: %s", m);
	}
}

/*
 * libjpeg's progress monitor, called per iMCU row: stops scan bombs, and
 * lets the caller cancel while a multi-scan file is absorbed (which
 * happens before the first row comes out).
 */
static void on_progress(j_common_ptr cinfo)
{
	struct jerr *e = (struct jerr *)cinfo->err;

	if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > MAX_SCANS) {
		e->code = FUNDUS_ELIMIT;
		snprintf(e->msg, sizeof e->msg, "JPEG has more than %d scans", MAX_SCANS);
		longjmp(e->jmp, 1);
	}
	if (e->absorbing && fundus_progress_report(e->progress, "decoding", 0, e->total) != 0) {
		e->code = FUNDUS_ECANCELED;
		snprintf(e->msg, sizeof e->msg, "decoding canceled");
		longjmp(e->jmp, 1);
	}
}

/* Sets up the error manager for a codec call over len bytes of input. */
static struct jpeg_error_mgr *jerr_init(struct jerr *e, size_t len)
{
	memset(e, 0, sizeof *e);
	jpeg_std_error(&e->pub);
	e->pub.error_exit = on_error;
	e->pub.emit_message = on_message;
	e->len = len;
	return &e->pub;
}

static int jpg_is_a(const uint8_t *d, size_t n)
{
	return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF;
}

/*
 * The orientation (1 to 8) in the payload of an APP1 segment, or 0 when
 * the segment is not Exif or holds no valid orientation.
 */
static int exif_orientation(const uint8_t *p, size_t n)
{
	if (n < 6 + 8 || memcmp(p, "Exif\0\0", 6) != 0)
		return 0;
	return fundus__exif_orientation(p + 6, n - 6);
}

/*
 * The orientation in the first Exif APP1 segment of a JPEG, or 1. Walks
 * the segments in the file itself (libjpeg has checked their structure
 * up to the first SOS) and hands each APP1 to exif_orientation() with its
 * exact length, so that no read can stray past the segment.
 */
static int find_orientation(const uint8_t *d, size_t n)
{
	size_t i = 2;

	while (i + 2 <= n) {
		size_t len;
		int m, o;

		if (d[i] != 0xFF)
			return 1; /* stray bytes: libjpeg skipped them, we stop looking */
		m = d[i + 1];
		if (m == 0xFF) { /* fill byte */
			i++;
			continue;
		}
		if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { /* no length */
			i += 2;
			continue;
		}
		if (m == 0xDA || m == 0xD9 || i + 4 > n)
			return 1;
		len = (size_t)d[i + 2] << 8 | d[i + 3];
		if (len < 2 || len > n - i - 2)
			return 1;
		if (m == 0xE1) {
			o = exif_orientation(d + i + 4, len - 2);
			if (o > 0)
				return o;
		}
		i += 2 + len;
	}
	return 1;
}

/* One libjpeg decompressor and what a decode holds while it runs. */
struct jdec {
	struct jpeg_decompress_struct cinfo;
	struct jerr err;
	struct jpeg_progress_mgr prog;
	struct fundus_image *img; /* stored orientation, being filled */
	uint8_t *band;            /* rows as libjpeg gives them, when not decoded in place */
};

/* Frees what a decode holds, whatever state it stopped in. */
static void jdec_release(struct jdec *d)
{
	/* Safe on a zeroed struct: jpeg_destroy() checks cinfo.mem. */
	jpeg_destroy_decompress(&d->cinfo);
	fundus_free(d->band);
	d->band = NULL;
}

/*
 * Creates the decompressor over src's bytes and reads the header. The
 * caller has set up d->err and done the setjmp: libjpeg errors jump there.
 */
static void start_header(struct jdec *d, const struct fundus_image_source *src)
{
	jpeg_create_decompress(&d->cinfo);
	jpeg_mem_src(&d->cinfo, src->data, (unsigned long)src->len);
	jpeg_read_header(&d->cinfo, TRUE);
}

/* The info fields that the colour space gives; 0 or FUNDUS_EUNSUPPORTED. */
static int colour_info(const struct jpeg_decompress_struct *c, struct fundus_image_info *info)
{
	switch (c->jpeg_color_space) {
	case JCS_GRAYSCALE: info->colour = "gray"; break;
	case JCS_YCbCr: info->colour = "ycbcr"; break;
	case JCS_RGB: info->colour = "rgb"; break;
	case JCS_CMYK: info->colour = "cmyk"; break;
	case JCS_YCCK: info->colour = "ycck"; break;
	default:
		return fundus_error_set(FUNDUS_EUNSUPPORTED,
					"JPEG with %d components in an unknown colour space is "
					"not supported",
					c->num_components);
	}
	info->channels = c->num_components;
	return 0;
}

/* Parses the header into src->info; libjpeg errors jump back here. */
static int header_run(struct jdec *d, struct fundus_image_source *src)
{
	struct fundus_image_info *info = &src->info;
	int rc, w, h;

	d->cinfo.err = jerr_init(&d->err, src->len);
	if (setjmp(d->err.jmp))
		return fundus_error_set(d->err.code, "%s", d->err.msg);
	if (src->len > ULONG_MAX)
		return fundus_error_set(FUNDUS_ELIMIT, "JPEG data too large for libjpeg");
	start_header(d, src);
	rc = colour_info(&d->cinfo, info);
	if (rc < 0)
		return rc;
	info->orientation = find_orientation(src->data, src->len);
	w = (int)d->cinfo.image_width;
	h = (int)d->cinfo.image_height;
	rc = fundus__check_dims(src, w, h);
	if (rc < 0)
		return rc;
	if (fundus__orientation_swaps(info->orientation)) {
		int t = w;
		w = h;
		h = t;
	}
	info->width = w;
	info->height = h;
	info->bits = 8;
	info->has_alpha = 0;
	info->progressive = d->cinfo.progressive_mode ? 1 : 0;
	info->pages = 1;
	info->levels = 1;
	info->level[0].width = w;
	info->level[0].height = h;
	info->level[0].downsample = 1;
	return 0;
}

static int jpg_header(struct fundus_image_source *src)
{
	struct jdec d;
	int rc;

	memset(&d, 0, sizeof d);
	rc = header_run(&d, src);
	jdec_release(&d);
	return rc;
}

/* Where a read goes: the DCT factor and the rectangle of the scaled stored image. */
struct plan {
	int s;          /* DCT scale factor: 1, 2, 4 or 8 */
	int x, y, w, h; /* the rectangle, in the stored image scaled by 1/s */
};

/* The largest power of two up to 8 that divides scale. */
static int dct_factor(int scale)
{
	int s = 8;

	while (scale % s != 0)
		s /= 2;
	return s;
}

static int ceil_div(int a, int b)
{
	return (int)(((int64_t)a + b - 1) / b);
}

/*
 * The rule for a region at a reduced scale: in the view the region is
 * given in (displayed, or stored with keep_orientation), scaled by 1/s to
 * ceil(vw / s) x ceil(vh / s), the result is the rectangle at
 * (floor(x / s), floor(y / s)) of ceil(w / s) x ceil(h / s) pixels. It
 * lies inside the scaled view, has the size the read contract promises,
 * and with s = 1 is the region itself, so a scale-1 region read is the
 * crop of the full read. The rectangle is then mapped to the stored
 * image, which libjpeg decodes.
 */
static void region_plan(const struct fundus_image_source *src, const struct fundus_read_options *ro,
			struct plan *p)
{
	int o = ro->keep_orientation ? 1 : src->info.orientation;
	int vw = src->info.width, vh = src->info.height;

	if (ro->keep_orientation && fundus__orientation_swaps(src->info.orientation)) {
		vw = src->info.height;
		vh = src->info.width;
	}
	p->s = dct_factor(ro->scale);
	fundus__region_to_stored(o, ceil_div(vw, p->s), ceil_div(vh, p->s), ro->region.x / p->s,
				 ro->region.y / p->s, ceil_div(ro->region.w, p->s),
				 ceil_div(ro->region.h, p->s), &p->x, &p->y, &p->w, &p->h);
}

/*
 * A new image of w x h for the decoder, left unfilled: every path below
 * writes each of its pixels, so the zero fill of fundus_image_new() would
 * only cost one more pass over the memory.
 */
static int image_alloc(struct fundus_image **out, int w, int h, enum fundus_pixfmt fmt)
{
	struct fundus_image *img;
	size_t stride, total;

	*out = NULL;
	if (fundus_size_mul(&stride, (size_t)w, (size_t)fundus_pixfmt_channels(fmt)) < 0 ||
	    fundus_size_mul(&total, stride, (size_t)h) < 0)
		return FUNDUS_EOVERFLOW;
	img = fundus_malloc(sizeof *img);
	if (img == NULL)
		return FUNDUS_ENOMEM;
	img->data = fundus_malloc(total);
	if (img->data == NULL) {
		fundus_free(img);
		return FUNDUS_ENOMEM;
	}
	img->width = w;
	img->height = h;
	img->format = fmt;
	img->stride = stride;
	*out = img;
	return 0;
}

/* CMYK as libjpeg gives it to RGB; inverted is Adobe's convention (0 = full ink). */
static void cmyk_to_rgb(const uint8_t *s, uint8_t *d, int n, int inverted)
{
	for (int i = 0; i < n; i++, s += 4, d += 3) {
		unsigned k = inverted ? s[3] : 255u - s[3];

		for (int j = 0; j < 3; j++) {
			unsigned c = inverted ? s[j] : 255u - s[j];

			d[j] = (uint8_t)((c * k + 127) / 255);
		}
	}
}

/*
 * Decodes the planned rectangle into d->img (stored orientation, at 1/s);
 * libjpeg errors jump back here.
 */
static int read_run(struct jdec *d, struct fundus_image_source *src,
		    const struct fundus_read_options *ro, const struct plan *p)
{
	struct jpeg_decompress_struct *c = &d->cinfo;
	JSAMPROW rows[BAND];
	JDIMENSION xoff, xw;
	size_t in_px, band_stride;
	int cmyk, direct, skip_cols, rc;

	d->cinfo.err = jerr_init(&d->err, src->len);
	if (setjmp(d->err.jmp))
		return fundus_error_set(d->err.code, "%s", d->err.msg);
	start_header(d, src);
	c->scale_num = 1;
	c->scale_denom = (unsigned)p->s;
	c->dct_method = JDCT_ISLOW;
	c->do_fancy_upsampling = TRUE;
	cmyk = c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK;
	if (c->jpeg_color_space == JCS_GRAYSCALE)
		c->out_color_space = JCS_GRAYSCALE;
	else if (cmyk)
		c->out_color_space = JCS_CMYK;
	else
		c->out_color_space = JCS_RGB;
	jpeg_calc_output_dimensions(c);
	if ((int64_t)p->x + p->w > c->output_width || (int64_t)p->y + p->h > c->output_height)
		return fundus_error_set(FUNDUS_EFORMAT,
					"JPEG at 1/%d is %u x %u, too small for the region", p->s,
					c->output_width, c->output_height);
	/* The whole coefficient array of a multi-scan file stays in memory. */
	if (jpeg_has_multiple_scans(c)) {
		rc = fundus__check_pixels(src, c->image_width, c->image_height);
		if (rc < 0)
			return rc;
	}
	rc = fundus__check_pixels(src, p->w, p->h);
	if (rc < 0)
		return rc;
	rc = image_alloc(&d->img, p->w, p->h,
			 c->out_color_space == JCS_GRAYSCALE ? FUNDUS_PIX_GRAY8 : FUNDUS_PIX_RGB8);
	if (rc < 0)
		return rc;

	d->prog.progress_monitor = on_progress;
	c->progress = &d->prog;
	d->err.progress = ro->progress;
	d->err.total = p->h;
	d->err.absorbing = 1;
	jpeg_start_decompress(c);
	d->err.absorbing = 0;

	/*
	 * Fancy upsampling treats the edges of a cropped decode as image
	 * edges, so decode one pixel more on each side than is kept (libjpeg
	 * widens that to whole iMCUs); the kept pixels are then interior and
	 * equal those of a full decode.
	 */
	xoff = 0;
	xw = c->output_width;
	if (p->w < (int)c->output_width) {
		JDIMENSION end = (JDIMENSION)p->x + (JDIMENSION)p->w + 1;

		xoff = p->x > 0 ? (JDIMENSION)p->x - 1 : 0;
		if (end > c->output_width)
			end = c->output_width;
		xw = end - xoff;
		jpeg_crop_scanline(c, &xoff, &xw);
	}
	skip_cols = p->x - (int)xoff;
	if (p->y > 0 && jpeg_skip_scanlines(c, (JDIMENSION)p->y) != (JDIMENSION)p->y)
		return fundus_error_set(FUNDUS_EFORMAT, "JPEG ended before row %d", p->y);

	in_px = (size_t)c->output_components;
	direct = !cmyk && skip_cols == 0 && (int)c->output_width == p->w;
	band_stride = (size_t)c->output_width * in_px;
	if (!direct) {
		d->band = fundus_malloc(band_stride * BAND);
		if (d->band == NULL)
			return FUNDUS_ENOMEM;
	}
	for (int y = 0; y < p->h;) {
		int n = p->h - y < BAND ? p->h - y : BAND, got = 0;

		for (int i = 0; i < n; i++)
			rows[i] = direct ? fundus_image_pixel(d->img, 0, y + i)
					 : d->band + (size_t)i * band_stride;
		while (got < n) {
			JDIMENSION r = jpeg_read_scanlines(c, rows + got, (JDIMENSION)(n - got));

			if (r == 0)
				return fundus_error_set(FUNDUS_EFORMAT, "JPEG ended at row %d",
							p->y + y + got);
			got += (int)r;
		}
		for (int i = 0; !direct && i < n; i++) {
			const uint8_t *s = rows[i] + (size_t)skip_cols * in_px;
			uint8_t *o = fundus_image_pixel(d->img, 0, y + i);

			if (cmyk)
				cmyk_to_rgb(s, o, p->w, c->saw_Adobe_marker);
			else
				memcpy(o, s, (size_t)p->w * in_px);
		}
		y += n;
		if (fundus_progress_report(ro->progress, "decoding", y, p->h) != 0)
			return fundus_error_set(FUNDUS_ECANCELED, "decoding canceled");
	}
	/* Reading to the EOI catches a file truncated after the last row. */
	if (c->output_scanline == c->output_height)
		jpeg_finish_decompress(c);
	return 0;
}

static int jpg_read(struct fundus_image_source *src, const struct fundus_read_options *ro,
		    struct fundus_image **out)
{
	struct jdec d;
	struct plan p;
	int rc;

	*out = NULL;
	region_plan(src, ro, &p);
	memset(&d, 0, sizeof d);
	rc = read_run(&d, src, ro, &p);
	jdec_release(&d);
	if (rc < 0) {
		fundus_image_free(d.img);
		return rc;
	}
	return fundus__image_finish(d.img, src->info.orientation, p.s, ro, out);
}

/*
 * A destination manager that writes into a buffer from fundus_malloc,
 * doubling it as needed, so the result needs no copy.
 */
struct jdst {
	struct jpeg_destination_mgr pub;
	struct jerr *err;
	uint8_t *buf;
	size_t cap;
	size_t len;
};

/* Jumps out of libjpeg with FUNDUS_ENOMEM. */
static void dst_nomem(struct jdst *t)
{
	t->err->code = FUNDUS_ENOMEM;
	snprintf(t->err->msg, sizeof t->err->msg, "out of memory");
	longjmp(t->err->jmp, 1);
}

static void dst_init(j_compress_ptr cinfo)
{
	struct jdst *t = (struct jdst *)cinfo->dest;

	t->cap = 65536;
	t->buf = fundus_malloc(t->cap);
	if (t->buf == NULL)
		dst_nomem(t);
	t->pub.next_output_byte = t->buf;
	t->pub.free_in_buffer = t->cap;
}

static boolean dst_grow(j_compress_ptr cinfo)
{
	struct jdst *t = (struct jdst *)cinfo->dest;
	size_t cap;
	uint8_t *nb;

	if (fundus_size_mul(&cap, t->cap, 2) < 0)
		dst_nomem(t);
	nb = fundus_realloc(t->buf, cap);
	if (nb == NULL)
		dst_nomem(t);
	t->buf = nb;
	/* libjpeg calls this only when the buffer is full. */
	t->pub.next_output_byte = nb + t->cap;
	t->pub.free_in_buffer = cap - t->cap;
	t->cap = cap;
	return TRUE;
}

static void dst_term(j_compress_ptr cinfo)
{
	struct jdst *t = (struct jdst *)cinfo->dest;

	t->len = t->cap - t->pub.free_in_buffer;
}

/* One libjpeg compressor and its output. */
struct jenc {
	struct jpeg_compress_struct cinfo;
	struct jerr err;
	struct jdst dst;
};

/* Compresses a gray8 or rgb8 image; libjpeg errors jump back here. */
static int encode_run(struct jenc *e, const struct fundus_image *img,
		      const struct fundus_save_options *so)
{
	struct jpeg_compress_struct *c = &e->cinfo;
	JSAMPROW rows[BAND];

	c->err = jerr_init(&e->err, 0);
	if (setjmp(e->err.jmp))
		return fundus_error_set(e->err.code, "%s", e->err.msg);
	jpeg_create_compress(c);
	e->dst.err = &e->err;
	e->dst.pub.init_destination = dst_init;
	e->dst.pub.empty_output_buffer = dst_grow;
	e->dst.pub.term_destination = dst_term;
	c->dest = &e->dst.pub;
	c->image_width = (JDIMENSION)img->width;
	c->image_height = (JDIMENSION)img->height;
	c->input_components = img->format == FUNDUS_PIX_GRAY8 ? 1 : 3;
	c->in_color_space = img->format == FUNDUS_PIX_GRAY8 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(c);
	jpeg_set_quality(c, so->quality, TRUE);
	if (c->num_components == 3) {
		/* Chroma at half resolution both ways (4:2:0), or full (4:4:4). */
		int f = so->subsample ? 2 : 1;

		c->comp_info[0].h_samp_factor = f;
		c->comp_info[0].v_samp_factor = f;
		for (int k = 1; k < 3; k++)
			c->comp_info[k].h_samp_factor = c->comp_info[k].v_samp_factor = 1;
	}
	jpeg_start_compress(c, TRUE);
	while (c->next_scanline < c->image_height) {
		int y = (int)c->next_scanline, n = img->height - y < BAND ? img->height - y : BAND;

		/* libjpeg only reads the rows; its prototype lacks the const. */
		for (int i = 0; i < n; i++)
			rows[i] = fundus_image_pixel(img, 0, y + i);
		jpeg_write_scanlines(c, rows, (JDIMENSION)n);
	}
	jpeg_finish_compress(c);
	return 0;
}

static int jpg_encode(const struct fundus_image *img, const struct fundus_save_options *so,
		      uint8_t **data, size_t *len)
{
	struct fundus_image *conv = NULL;
	struct jenc e;
	int rc;

	*data = NULL;
	*len = 0;
	if (img->format != FUNDUS_PIX_GRAY8 && img->format != FUNDUS_PIX_RGB8) {
		/* JPEG has no alpha and 8 bits here: convert, dropping alpha. */
		enum fundus_pixfmt f =
		    fundus_pixfmt_channels(img->format) <= 2 ? FUNDUS_PIX_GRAY8 : FUNDUS_PIX_RGB8;

		rc = fundus_image_convert(img, f, &conv);
		if (rc < 0)
			return rc;
		img = conv;
	}
	memset(&e, 0, sizeof e);
	rc = encode_run(&e, img, so);
	jpeg_destroy_compress(&e.cinfo);
	fundus_image_free(conv);
	if (rc < 0) {
		fundus_free(e.dst.buf);
		return rc;
	}
	*data = e.dst.buf;
	*len = e.dst.len;
	return 0;
}

const struct fundus__codec fundus__codec_jpeg = {
    .name = "jpeg",
    .is_a = jpg_is_a,
    .header = jpg_header,
    .page_info = NULL,
    .read = jpg_read,
    .close = NULL,
    .encode = jpg_encode,
};
