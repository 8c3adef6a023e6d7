/*
 * TIFF codec, over libtiff 4.5.
 *
 * Decoder contract.
 *
 * - Structure: the independent images of a file are its pages, in IFD
 *   order. An IFD whose SubfileType has FILETYPE_REDUCEDIMAGE is a pyramid
 *   level of the page before it (as Aperio SVS and vips/GDAL pyramids are
 *   written), and the SubIFDs of a page are levels of it too (OME-TIFF,
 *   vips --subifd); transparency masks (FILETYPE_MASK) are skipped. Levels
 *   are sorted from the largest; a "reduced" IFD larger than its page is
 *   ignored. info.level[] holds each level's displayed size and its
 *   downsample (level-0 width / level width). The Orientation tag of a
 *   page's first IFD is its orientation (1..8, else 1) and applies to all
 *   its levels.
 * - What is read directly (strips or tiles, contiguous or separate planes,
 *   any compression libtiff was built with: none, LZW, Deflate, PackBits,
 *   JPEG, ...): unsigned 8- and 16-bit gray (min-is-black, and min-is-white,
 *   which is inverted), 1-, 2- and 4-bit gray (scaled to 8 bits), RGB,
 *   palette images of 1 to 8 bits (expanded to rgb8 through the colour
 *   map, which may be 8- or 16-bit), and YCbCr JPEG (converted to RGB by
 *   libjpeg). The first extra sample, if any, is alpha, returned as stored
 *   (associated alpha stays premultiplied). 16-bit samples keep their
 *   values, in native byte order. Other photometric interpretations that
 *   libtiff's RGBA interface handles (CMYK, YCbCr without JPEG, CIELab,
 *   old-style JPEG, ...) are read through it as 8-bit gray or RGB(A), with
 *   alpha premultiplied; 16-bit CMYK and the like, which it cannot put,
 *   give FUNDUS_EUNSUPPORTED at open, as do signed and floating-point
 *   samples and other bit depths.
 * - Reads decode only the strip rows or tiles that hold the wanted region
 *   of the chosen page and level: strips row by row (libtiff decodes a
 *   strip from its first row, but we keep one row), tiles whole. A reduced
 *   read averages row bands as they arrive (except for separate planes in
 *   strips and the RGBA path, which keep the region), so a region of a
 *   huge tiled level costs the region and one band of tiles, not the level.
 *   The RGBA path decodes the whole strips or tiles that the region touches.
 * - Failures: FUNDUS_EFORMAT for corrupt or truncated data, with libtiff's
 *   first error as the message ("corrupt TIFF data: <module>: <reason>"),
 *   or our own for a looping IFD chain ("the IFD chain loops"), a strip or
 *   tile outside the file, a short tile, or a file of masks only.
 *   Warnings go to the log at debug level. Handlers are per handle
 *   (TIFFOpenOptions), so decoding is thread-safe and libtiff never
 *   prints. Nothing is returned and nothing kept on failure.
 * - Limits: every IFD's size is checked against max_width / max_height at
 *   open (FUNDUS_ELIMIT); more than max_pages pages, or more than
 *   (max_pages + 1) x FUNDUS_IMAGE_MAX_LEVELS IFDs, gives FUNDUS_ELIMIT;
 *   at most FUNDUS_IMAGE_MAX_LEVELS levels per page are kept. A read checks
 *   the region (and, for the RGBA path, the strips or tiles around it) and
 *   each tile against max_pixels before allocating, and a decode buffer
 *   (one row or tile of all samples) against 8 bytes per allowed pixel
 *   (FUNDUS_ELIMIT). libtiff's own allocations are capped at 256 MB each.
 *   Our buffers come from fundus_malloc(); libtiff allocates its internal
 *   buffers with its own malloc.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "codec.h"
#include "rowsink.h"

/* The largest single allocation libtiff may make while reading or writing. */
#define TIFF_MAX_ALLOC ((tmsize_t)256 << 20)

/* Bytes of raw pixels per strip the encoder aims for. */
#define TIFF_STRIP_BYTES 65536

/* One IFD that is a level of a page. */
struct tiff_level {
	int page;
	int primary;   /* the page's own IFD, level 0 */
	int subifd;    /* reached by offset (a SubIFD) rather than by index */
	tdir_t dir;    /* index in the main chain */
	uint64_t off;  /* IFD offset */
	uint32_t w, h; /* stored size */
	int seq;       /* order of discovery, to keep the sort stable */
};

/* The memory a TIFF handle reads from or writes to. */
struct tiff_io {
	const uint8_t *rdata; /* reading: the source */
	uint8_t *wdata;       /* writing: a growing buffer */
	size_t len, cap;
	uint64_t pos;
	int nomem;
};

/* The decoder's state, src->priv. */
struct tiff_priv {
	TIFF *tif;
	struct tiff_io io;
	int code;              /* code of the first error */
	char err[256];         /* libtiff's first error message since the last reset */
	struct tiff_level *lv; /* all levels, sorted by page, then size */
	int nlv;
	int *first; /* first level of each page, npages + 1 entries */
	int npages;
	int cur; /* level the handle is on, or -1 */
};

/* What one IFD holds, and how we read it. */
struct tiff_desc {
	uint32_t w, h;
	uint16_t spp, bps, photo, planar, compression, orientation, sformat;
	int tiled;
	uint32_t tw, th;
	uint32_t rps; /* rows per strip, at most h */
	int rgba;     /* read through TIFFRGBAImage */
	int colour;   /* colour samples in the file: 1 gray or palette index, 3 RGB */
	int alpha;    /* the first extra sample is returned as alpha */
	int invert;   /* min-is-white */
	int palette;  /* palette indices */
	enum fundus_pixfmt fmt;
	const char *colour_name;
};

/* A decode in progress. */
struct tiff_read {
	const struct fundus_image_source *src;
	struct tiff_priv *p;
	const struct fundus_read_options *ro;
	struct tiff_desc d;
	int sx, sy, sw, sh;
	uint8_t lut[256][3]; /* palette to rgb8 */
	int64_t done, total; /* progress units (rows) */
};

/* ---- I/O over memory ---- */

/* Copies up to n bytes from the current position. */
static tmsize_t io_read(thandle_t h, void *buf, tmsize_t n)
{
	struct tiff_io *io = h;
	const uint8_t *data = io->rdata ? io->rdata : io->wdata;
	uint64_t avail = io->pos < io->len ? io->len - io->pos : 0;

	if (n < 0)
		return -1;
	if ((uint64_t)n > avail)
		n = (tmsize_t)avail;
	if (n > 0)
		memcpy(buf, data + io->pos, (size_t)n);
	io->pos += (uint64_t)n;
	return n;
}

/* Writes n bytes at the current position, growing the buffer (writers only). */
static tmsize_t io_write(thandle_t h, void *buf, tmsize_t n)
{
	struct tiff_io *io = h;
	size_t end;

	if (io->rdata || n < 0 || io->pos > SIZE_MAX - (uint64_t)n)
		return -1;
	end = (size_t)io->pos + (size_t)n;
	if (end > io->cap) {
		size_t cap = io->cap ? io->cap : 65536;
		uint8_t *p;

		while (cap < end) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		p = fundus_realloc(io->wdata, cap);
		if (p == NULL) {
			io->nomem = 1;
			return -1;
		}
		io->wdata = p;
		io->cap = cap;
	}
	/* A seek past the end leaves a gap, which reads as zeros. */
	if (io->pos > io->len)
		memset(io->wdata + io->len, 0, (size_t)io->pos - io->len);
	memcpy(io->wdata + io->pos, buf, (size_t)n);
	io->pos = end;
	if (end > io->len)
		io->len = end;
	return n;
}

/* Moves the position; past the end is allowed (writers fill the gap). */
static toff_t io_seek(thandle_t h, toff_t off, int whence)
{
	struct tiff_io *io = h;
	uint64_t base = whence == SEEK_CUR ? io->pos : whence == SEEK_END ? io->len : 0;

	if (off > UINT64_MAX - base)
		return (toff_t)-1;
	io->pos = base + off;
	return io->pos;
}

/* The memory belongs to the caller or the writer: nothing to close. */
static int io_close(thandle_t h)
{
	(void)h;
	return 0;
}

/* The size of the data so far. */
static toff_t io_size(thandle_t h)
{
	return ((struct tiff_io *)h)->len;
}

/* Reading maps the source itself, so strips are decoded straight from it. */
static int io_map(thandle_t h, void **base, toff_t *size)
{
	struct tiff_io *io = h;

	if (io->rdata == NULL)
		return 0;
	*base = (void *)(uintptr_t)io->rdata; /* libtiff only reads a mapped file */
	*size = io->len;
	return 1;
}

/* Nothing was mapped. */
static void io_unmap(thandle_t h, void *base, toff_t size)
{
	(void)h, (void)base, (void)size;
}

/* ---- Errors ---- */

static int on_error(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
    FUNDUS_PRINTF(4, 0);
static int on_warning(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
    FUNDUS_PRINTF(4, 0);

/* Keeps the first error of an operation. */
static int on_error(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
{
	struct tiff_priv *p = ud;
	char msg[200];

	(void)tif;
	if (p->err[0])
		return 1;
	vsnprintf(msg, sizeof msg, fmt, ap);
	p->code = strstr(msg, "beyond the") || strstr(msg, "Memory allocation") ? FUNDUS_ELIMIT
										: FUNDUS_EFORMAT;
	if (module && module[0] && strcmp(module, "fundus") != 0)
		snprintf(p->err, sizeof p->err, "%s: %s", module, msg);
	else
		snprintf(p->err, sizeof p->err, "%s", msg);
	return 1;
}

/* Sends libtiff's warnings to the log at debug level. */
static int on_warning(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
{
	char msg[200];

	(void)tif, (void)ud;
	vsnprintf(msg, sizeof msg, fmt, ap);
	fundus_log(FUNDUS_LOG_DEBUG, "tiff: %s: %s", module ? module : "", msg);
	return 1;
}

/* Forgets the last libtiff error, before an operation whose errors we want. */
static void err_reset(struct tiff_priv *p)
{
	p->err[0] = '\0';
	p->code = 0;
}

/* Sets the fundus error from libtiff's message, or from what if it gave none. */
static int fail(struct tiff_priv *p, const char *what)
{
	if (p->io.nomem)
		return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
	if (p->err[0])
		return fundus_error_set(p->code ? p->code : FUNDUS_EFORMAT, "%s TIFF data: %s",
					p->code == FUNDUS_ELIMIT ? "over the limits in" : "corrupt",
					p->err);
	return fundus_error_set(FUNDUS_EFORMAT, "corrupt TIFF data: %s", what);
}

/* Opens a libtiff handle over p->io with our handlers. */
static TIFF *tiff_open(struct tiff_priv *p, const char *mode)
{
	TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
	TIFF *tif;

	if (opts == NULL)
		return NULL;
	TIFFOpenOptionsSetMaxSingleMemAlloc(opts, TIFF_MAX_ALLOC);
	TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, p);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, p);
	tif = TIFFClientOpenExt("fundus", mode, &p->io, io_read, io_write, io_seek, io_close,
				io_size, io_map, io_unmap, opts);
	TIFFOpenOptionsFree(opts);
	return tif;
}

/* ---- Directories ---- */

/* Describes the current IFD and chooses how to read it. */
static int describe(struct tiff_priv *p, struct tiff_desc *d)
{
	TIFF *tif = p->tif;
	uint16_t nextra = 0, *extra = NULL;
	char emsg[1024];

	memset(d, 0, sizeof *d);
	if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &d->w) ||
	    !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &d->h))
		return fundus_error_set(FUNDUS_EFORMAT, "corrupt TIFF data: no image size");
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &d->spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &d->bps);
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &d->planar);
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &d->compression);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &d->sformat);
	TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
	if (!TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &d->orientation) ||
	    d->orientation < 1 || d->orientation > 8)
		d->orientation = 1;
	if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &d->photo))
		return fundus_error_set(FUNDUS_EFORMAT,
					"corrupt TIFF data: no photometric interpretation");
	d->tiled = TIFFIsTiled(tif);
	if (!TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &d->rps) || d->rps == 0 ||
	    d->rps > d->h)
		d->rps = d->h;
	if (d->tiled) {
		TIFFGetField(tif, TIFFTAG_TILEWIDTH, &d->tw);
		TIFFGetField(tif, TIFFTAG_TILELENGTH, &d->th);
		if (d->tw == 0 || d->th == 0)
			return fundus_error_set(FUNDUS_EFORMAT, "corrupt TIFF data: tile size 0");
	}
	if (d->spp < 1)
		return fundus_error_set(FUNDUS_EFORMAT, "corrupt TIFF data: no samples per pixel");
	if (!TIFFIsCODECConfigured(d->compression))
		return fundus_error_set(FUNDUS_EUNSUPPORTED, "TIFF compression %u is not supported",
					d->compression);
	if (d->sformat != SAMPLEFORMAT_UINT && d->sformat != SAMPLEFORMAT_VOID)
		return fundus_error_set(FUNDUS_EUNSUPPORTED,
					"TIFF sample format %u (signed or floating point) is not "
					"supported",
					d->sformat);
	switch (d->photo) {
	case PHOTOMETRIC_MINISBLACK:
	case PHOTOMETRIC_MINISWHITE:
		d->colour = 1;
		d->colour_name = "gray";
		d->invert = d->photo == PHOTOMETRIC_MINISWHITE;
		d->rgba = !(d->bps == 8 || d->bps == 16 ||
			    ((d->bps == 1 || d->bps == 2 || d->bps == 4) && d->spp == 1));
		break;
	case PHOTOMETRIC_PALETTE:
		d->colour = 1;
		d->colour_name = "palette";
		d->palette = 1;
		d->rgba = !(d->bps == 1 || d->bps == 2 || d->bps == 4 || d->bps == 8);
		break;
	case PHOTOMETRIC_RGB:
		d->colour = 3;
		d->colour_name = "rgb";
		d->rgba = !(d->bps == 8 || d->bps == 16) || d->spp < 3;
		break;
	case PHOTOMETRIC_YCBCR:
		d->colour = 3;
		d->colour_name = "ycbcr";
		/* libjpeg converts YCbCr JPEG to RGB (JPEGCOLORMODE, set on selection). */
		d->rgba = !(d->compression == COMPRESSION_JPEG && d->bps == 8 && d->spp >= 3);
		break;
	case PHOTOMETRIC_SEPARATED:
		d->colour = 4;
		d->colour_name = "cmyk";
		d->rgba = 1;
		break;
	default:
		d->colour = 3;
		d->colour_name = "other";
		d->rgba = 1;
		break;
	}
	if (d->compression == COMPRESSION_OJPEG)
		d->rgba = 1;
	d->alpha = d->spp > d->colour && d->colour != 4;
	if (d->colour == 4)
		d->alpha =
		    nextra > 0 && extra &&
		    (extra[0] == EXTRASAMPLE_ASSOCALPHA || extra[0] == EXTRASAMPLE_UNASSALPHA);
	if (d->rgba) {
		TIFFRGBAImage ri;

		/* Begin, not just OK, so that what RGBAImage cannot put is found now. */
		if (!TIFFRGBAImageOK(tif, emsg) || !TIFFRGBAImageBegin(&ri, tif, 1, emsg))
			return fundus_error_set(FUNDUS_EUNSUPPORTED,
						"TIFF image not supported (%s %u-bit): %s",
						d->colour_name, d->bps, emsg);
		TIFFRGBAImageEnd(&ri);
		d->fmt = fundus__pixfmt_of((d->colour == 1 ? 1 : 3) + d->alpha, 1);
	} else {
		if (d->palette) {
			uint16_t *r, *g, *b;

			if (!TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &g, &b))
				return fundus_error_set(FUNDUS_EFORMAT,
							"corrupt TIFF data: palette image without "
							"a colour map");
		}
		d->fmt = fundus__pixfmt_of((d->palette ? 3 : d->colour) + d->alpha,
					   d->bps == 16 ? 2 : 1);
	}
	return 0;
}

/* Makes level i the current IFD of the handle. */
static int select_level(struct tiff_priv *p, int i)
{
	const struct tiff_level *l = &p->lv[i];
	uint16_t photo = 0, comp = 0;
	int ok;

	if (p->cur == i)
		return 0;
	p->cur = -1;
	err_reset(p);
	ok = l->subifd ? TIFFSetSubDirectory(p->tif, l->off) : TIFFSetDirectory(p->tif, l->dir);
	if (!ok)
		return fail(p, "cannot read an IFD");
	TIFFGetFieldDefaulted(p->tif, TIFFTAG_COMPRESSION, &comp);
	TIFFGetField(p->tif, TIFFTAG_PHOTOMETRIC, &photo);
	if (comp == COMPRESSION_JPEG && photo == PHOTOMETRIC_YCBCR)
		TIFFSetField(p->tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
	p->cur = i;
	return 0;
}

/* Adds a level to the table. */
static int add_level(struct tiff_priv *p, int *cap, const struct tiff_level *l)
{
	if (p->nlv == *cap) {
		int n = *cap ? *cap * 2 : 16;
		struct tiff_level *a = fundus_realloc(p->lv, (size_t)n * sizeof *a);

		if (a == NULL)
			return FUNDUS_ENOMEM;
		p->lv = a;
		*cap = n;
	}
	p->lv[p->nlv] = *l;
	p->lv[p->nlv].seq = p->nlv;
	p->nlv++;
	return 0;
}

/* Orders levels by page, the page's own IFD first, then from the largest. */
static int level_cmp(const void *a, const void *b)
{
	const struct tiff_level *x = a, *y = b;

	if (x->page != y->page)
		return x->page < y->page ? -1 : 1;
	if (x->primary != y->primary)
		return x->primary ? -1 : 1;
	if (x->w != y->w)
		return x->w > y->w ? -1 : 1;
	if (x->h != y->h)
		return x->h > y->h ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads the size and subfile type of the current IFD, checking the size. */
static int ifd_basics(struct fundus_image_source *src, struct tiff_priv *p, uint32_t *w,
		      uint32_t *h, uint32_t *type)
{
	if (!TIFFGetField(p->tif, TIFFTAG_IMAGEWIDTH, w) ||
	    !TIFFGetField(p->tif, TIFFTAG_IMAGELENGTH, h))
		return fundus_error_set(FUNDUS_EFORMAT, "corrupt TIFF data: an IFD has no size");
	if (!TIFFGetField(p->tif, TIFFTAG_SUBFILETYPE, type))
		*type = 0;
	return fundus__check_dims(src, *w, *h);
}

/* Reads an unsigned little- or big-endian integer of n bytes. */
static uint64_t get_uint(const uint8_t *p, int n, int le)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[le ? i : n - 1 - i] << (8 * i);
	return v;
}

/* Finds the next-IFD offset of the IFD at off in the raw file; 0 if it lies outside. */
static int next_ifd(const uint8_t *d, size_t n, uint64_t off, uint64_t *next)
{
	int le = d[0] == 'I', big = d[le ? 2 : 3] == 43;
	int cw = big ? 8 : 2, ew = big ? 20 : 12, ow = big ? 8 : 4;
	uint64_t count, pos;

	if (n < 16 || off > n - (uint64_t)cw)
		return 0;
	count = get_uint(d + off, cw, le);
	if (count > (n - off - cw) / ew)
		return 0;
	pos = off + cw + count * ew;
	if (pos > n - ow)
		return 0;
	*next = get_uint(d + pos, ow, le);
	return 1;
}

/*
 * Walks the IFD chain and the SubIFDs of each page, and builds the table of
 * pages and levels.
 */
static int scan(struct fundus_image_source *src, struct tiff_priv *p)
{
	struct sub {
		int page;
		uint64_t off;
	} *subs = NULL;
	uint64_t *chain = NULL; /* offsets of the IFDs of the main chain */
	int nchain = 0, capchain = 0;
	int nsubs = 0, capsubs = 0, cap = 0, page = -1, rc = 0, max_pages = src->limits.max_pages;
	/* Masks and levels count too, so a chain of a million masks is refused. */
	int64_t max_ifds = ((int64_t)(max_pages > 0 ? max_pages : 1) + 1) * FUNDUS_IMAGE_MAX_LEVELS;

	for (tdir_t dir = 0;; dir++) {
		struct tiff_level l = {0};
		uint32_t type;
		uint16_t n = 0;
		uint64_t *offs = NULL;

		if ((int64_t)dir >= max_ifds) {
			rc = fundus_error_set(FUNDUS_ELIMIT, "TIFF has more than %lld IFDs",
					      (long long)max_ifds);
			goto out;
		}
		rc = ifd_basics(src, p, &l.w, &l.h, &type);
		if (rc < 0)
			goto out;
		l.dir = dir;
		l.off = TIFFCurrentDirOffset(p->tif);
		if (!(type & FILETYPE_MASK)) {
			if (!(type & FILETYPE_REDUCEDIMAGE) || page < 0) {
				if (page + 1 >= max_pages) {
					rc = fundus_error_set(FUNDUS_ELIMIT,
							      "TIFF has more than %d pages",
							      max_pages);
					goto out;
				}
				page++;
				l.primary = 1;
				if (TIFFGetField(p->tif, TIFFTAG_SUBIFD, &n, &offs) && offs) {
					for (int k = 0; k < n && k < FUNDUS_IMAGE_MAX_LEVELS; k++) {
						if (nsubs == capsubs) {
							int c = capsubs ? capsubs * 2 : 8;
							struct sub *s = fundus_realloc(
							    subs, (size_t)c * sizeof *s);

							if (s == NULL) {
								rc = FUNDUS_ENOMEM;
								goto out;
							}
							subs = s;
							capsubs = c;
						}
						subs[nsubs].page = page;
						subs[nsubs++].off = offs[k];
					}
				}
			}
			l.page = page;
			if ((rc = add_level(p, &cap, &l)) < 0)
				goto out;
		}
		if (nchain == capchain) {
			int c = capchain ? capchain * 2 : 16;
			uint64_t *a = fundus_realloc(chain, (size_t)c * sizeof *a);

			if (a == NULL) {
				rc = FUNDUS_ENOMEM;
				goto out;
			}
			chain = a;
			capchain = c;
		}
		chain[nchain++] = l.off;
		if (TIFFLastDirectory(p->tif))
			break;
		err_reset(p);
		if (!TIFFReadDirectory(p->tif)) {
			uint64_t next;
			int loops = 0;

			/* libtiff refuses a loop without saying so: find it to say why. */
			if (next_ifd(src->data, src->len, l.off, &next))
				for (int k = 0; k < nchain && !loops; k++)
					loops = chain[k] == next;
			if (loops && !p->err[0])
				rc = fundus_error_set(
				    FUNDUS_EFORMAT,
				    "corrupt TIFF data: the IFD chain loops (IFD %u "
				    "points back to offset %llu)",
				    (unsigned)dir, (unsigned long long)next);
			else
				rc = fail(p, "cannot read the next IFD");
			goto out;
		}
	}
	for (int k = 0; k < nsubs; k++) {
		struct tiff_level l = {0};
		uint32_t type;

		err_reset(p);
		if (!TIFFSetSubDirectory(p->tif, subs[k].off)) {
			rc = fail(p, "cannot read a SubIFD");
			goto out;
		}
		rc = ifd_basics(src, p, &l.w, &l.h, &type);
		if (rc < 0)
			goto out;
		if (type & FILETYPE_MASK)
			continue;
		l.page = subs[k].page;
		l.subifd = 1;
		l.off = subs[k].off;
		if ((rc = add_level(p, &cap, &l)) < 0)
			goto out;
	}
	p->cur = -1;
	if (page < 0) {
		rc = fundus_error_set(FUNDUS_EFORMAT,
				      "corrupt TIFF data: no image, only transparency masks");
		goto out;
	}
	qsort(p->lv, (size_t)p->nlv, sizeof *p->lv, level_cmp);
	p->npages = page + 1;
	p->first = fundus_calloc((size_t)p->npages + 1, sizeof *p->first);
	if (p->first == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	/* Keep each page's own IFD and the smaller levels, at most MAX_LEVELS. */
	{
		int w = 0, start = 0;

		for (int i = 0; i < p->nlv; i++) {
			const struct tiff_level *l = &p->lv[i];

			if (l->primary) {
				start = w;
				p->first[l->page] = w;
			} else if (w - start >= FUNDUS_IMAGE_MAX_LEVELS || l->w > p->lv[start].w ||
				   l->h > p->lv[start].h ||
				   (l->w == p->lv[w - 1].w && l->h == p->lv[w - 1].h)) {
				continue;
			}
			p->lv[w++] = *l;
		}
		p->nlv = w;
		p->first[p->npages] = w;
	}
out:
	fundus_free(subs);
	fundus_free(chain);
	return rc;
}

/* Fills *info for a page from its first IFD and the table of levels. */
static int fill_info(struct tiff_priv *p, int page, struct fundus_image_info *info)
{
	struct tiff_desc d;
	int rc, first = p->first[page], n = p->first[page + 1] - first, swap;

	rc = select_level(p, first);
	if (rc == 0)
		rc = describe(p, &d);
	if (rc < 0)
		return rc;
	memset(info, 0, sizeof *info);
	info->format = "tiff";
	info->orientation = d.orientation;
	swap = fundus__orientation_swaps(d.orientation);
	info->width = (int)(swap ? d.h : d.w);
	info->height = (int)(swap ? d.w : d.h);
	info->channels = fundus_pixfmt_channels(d.fmt);
	info->bits = d.bps;
	info->has_alpha = d.alpha;
	info->colour = d.colour_name;
	info->progressive = 0;
	info->pages = p->npages;
	info->levels = n;
	for (int k = 0; k < n; k++) {
		const struct tiff_level *l = &p->lv[first + k];

		info->level[k].width = (int)(swap ? l->h : l->w);
		info->level[k].height = (int)(swap ? l->w : l->h);
		info->level[k].downsample = (double)p->lv[first].w / l->w;
	}
	return 0;
}

/* Classic (42) and BigTIFF (43) headers, either byte order. */
static int tiff_is_a(const uint8_t *data, size_t len)
{
	if (len < 4)
		return 0;
	return (data[0] == 'I' && data[1] == 'I' && (data[2] == 42 || data[2] == 43) &&
		data[3] == 0) ||
	       (data[0] == 'M' && data[1] == 'M' && data[2] == 0 &&
		(data[3] == 42 || data[3] == 43));
}

/* Closes the libtiff handle and frees the tables. */
static void tiff_close(struct fundus_image_source *src)
{
	struct tiff_priv *p = src->priv;

	if (p == NULL)
		return;
	if (p->tif)
		TIFFClose(p->tif);
	fundus_free(p->lv);
	fundus_free(p->first);
	fundus_free(p);
	src->priv = NULL;
}

/* Opens a libtiff handle over the source, kept until close, and scans its IFDs. */
static int tiff_header(struct fundus_image_source *src)
{
	struct tiff_priv *p = fundus_calloc(1, sizeof *p);
	int rc;

	if (p == NULL)
		return FUNDUS_ENOMEM;
	src->priv = p;
	p->cur = -1;
	p->io.rdata = src->data;
	p->io.len = src->len;
	p->tif = tiff_open(p, "r");
	if (p->tif == NULL)
		return fail(p, "cannot open");
	rc = scan(src, p);
	if (rc == 0)
		rc = fill_info(p, 0, &src->info);
	return rc;
}

/* The header of another page. */
static int tiff_page_info(struct fundus_image_source *src, int page, struct fundus_image_info *info)
{
	return fill_info(src->priv, page, info);
}

/* ---- Decoding ---- */

/* Sample i of a row of bps-bit samples. */
static inline unsigned sample_at(const uint8_t *row, size_t i, int bps)
{
	switch (bps) {
	case 8: return row[i];
	case 16: return ((const uint16_t *)row)[i];
	default: {
		size_t bit = i * (size_t)bps;

		return (unsigned)(row[bit / 8] >> (8 - bps - bit % 8)) & ((1u << bps) - 1);
	}
	}
}

/*
 * Converts n pixels from pixel x0 of a decoded row into the output format:
 * all samples of each pixel (plane < 0) or only those of one plane.
 */
static void convert_span(const struct tiff_read *r, const uint8_t *row, uint32_t x0, uint32_t n,
			 int plane, uint8_t *out)
{
	const struct tiff_desc *d = &r->d;
	int oc = fundus_pixfmt_channels(d->fmt), ob = fundus_pixfmt_bytes(d->fmt);
	int spp = plane < 0 ? d->spp : 1, bps = d->bps;
	unsigned max = bps == 16 ? 65535u : bps == 8 ? 255u : (1u << bps) - 1;

	if (plane < 0 && !d->palette && !d->invert && bps == 8 * ob && spp == oc) {
		memcpy(out, row + (size_t)x0 * spp * ob, (size_t)n * spp * ob);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *o = out + (size_t)i * oc * ob;

		for (int k = 0; k < spp; k++) {
			int s = plane < 0 ? k : plane, ch;
			unsigned v = sample_at(row, (size_t)(x0 + i) * spp + k, bps);

			if (s < d->colour) {
				if (d->palette) {
					o[0] = r->lut[v & 255][0];
					o[1] = r->lut[v & 255][1];
					o[2] = r->lut[v & 255][2];
					continue;
				}
				ch = s;
				if (bps < 8)
					v = v * 255u / max;
				if (d->invert)
					v = (bps == 16 ? 65535u : 255u) - v;
			} else if (s == d->colour && d->alpha) {
				ch = oc - 1;
			} else {
				continue;
			}
			if (ob == 2)
				((uint16_t *)o)[ch] = (uint16_t)v;
			else
				o[ch] = (uint8_t)v;
		}
	}
}

/* Builds the palette's lookup table; 8-bit maps (all entries < 256) are taken as such. */
static void build_lut(struct tiff_read *r)
{
	uint16_t *map[3];
	int n = 1 << r->d.bps, wide = 0;

	if (!TIFFGetField(r->p->tif, TIFFTAG_COLORMAP, &map[0], &map[1], &map[2]))
		return;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 3; k++)
			wide |= map[k][i] >= 256;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 3; k++)
			r->lut[i][k] =
			    (uint8_t)(wide ? (map[k][i] * 255u + 32767u) / 65535u : map[k][i]);
}

/* Counts decoded rows; a stop from the caller becomes FUNDUS_ECANCELED. */
static int progress(struct tiff_read *r, int64_t rows)
{
	r->done += rows;
	if (fundus_progress_report(r->ro->progress, "decoding", r->done, r->total))
		return fundus_error_set(FUNDUS_ECANCELED, "decoding stopped by the caller");
	return 0;
}

/*
 * Checks the size of a decode buffer (a row or a tile of all its samples)
 * against the pixel limit at 8 bytes a pixel, the most we return, so that
 * thousands of extra samples cannot make one tile gigabytes.
 */
static int check_buffer(const struct tiff_read *r, tmsize_t n, const char *what)
{
	int64_t max = r->src->limits.max_pixels;

	if (max > INT64_MAX / 8 || (int64_t)n <= max * 8)
		return 0;
	return fundus_error_set(FUNDUS_ELIMIT,
				"a TIFF %s of %lld bytes (%u samples of %u bits) is over the limit "
				"of %lld bytes",
				what, (long long)n, r->d.spp, r->d.bps, (long long)max * 8);
}

/* Checks that a strip or tile lies inside the file, to say so clearly if not. */
static int check_strile(struct tiff_read *r, uint32_t strile)
{
	uint64_t off = TIFFGetStrileOffset(r->p->tif, strile);
	uint64_t n = TIFFGetStrileByteCount(r->p->tif, strile);

	if (n > 0 && (off > r->src->len || n > r->src->len - off))
		return fundus_error_set(
		    FUNDUS_EFORMAT,
		    "corrupt TIFF data: %s %u lies outside the file (%llu bytes "
		    "at %llu, in a file of %zu bytes)",
		    r->d.tiled ? "tile" : "strip", strile, (unsigned long long)n,
		    (unsigned long long)off, r->src->len);
	return 0;
}

/*
 * The first row of the strip that holds row y. Most codecs cannot skip
 * rows, so scanline reading starts there and discards the rows above.
 */
static uint32_t strip_start(const struct tiff_read *r, uint32_t y)
{
	uint32_t rps = r->d.rps ? r->d.rps : 1;

	return y / rps * rps;
}

/* Contiguous strips: row by row into the sink. */
static int read_strips_contig(struct tiff_read *r, struct fundus__rowsink *sink)
{
	struct tiff_priv *p = r->p;
	tmsize_t ls;
	size_t opx = (size_t)fundus_pixfmt_channels(r->d.fmt) * fundus_pixfmt_bytes(r->d.fmt);
	uint8_t *line, *out;
	int rc = 0;

	err_reset(p);
	ls = TIFFScanlineSize(p->tif);
	if (ls <= 0)
		return fail(p, "bad scanline size");
	if ((rc = check_buffer(r, ls, "row")) < 0)
		return rc;
	line = fundus_malloc((size_t)ls);
	out = fundus_malloc((size_t)r->sw * opx);
	if (line == NULL || out == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	for (uint32_t y = strip_start(r, (uint32_t)r->sy); y < (uint32_t)(r->sy + r->sh); y++) {
		if (y % r->d.rps == 0 && (rc = check_strile(r, TIFFComputeStrip(p->tif, y, 0))) < 0)
			goto out;
		err_reset(p);
		if (TIFFReadScanline(p->tif, line, y, 0) < 0) {
			rc = fail(p, "cannot decode a row");
			goto out;
		}
		if (y < (uint32_t)r->sy)
			continue;
		convert_span(r, line, (uint32_t)r->sx, (uint32_t)r->sw, -1, out);
		fundus__rowsink_put(sink, out);
		if ((y - r->sy + 1) % 256 == 0 && (rc = progress(r, 256)) < 0)
			goto out;
	}
out:
	fundus_free(line);
	fundus_free(out);
	return rc;
}

/* Separate planes in strips: plane by plane into the whole region. */
static int read_strips_separate(struct tiff_read *r, struct fundus_image *img)
{
	struct tiff_priv *p = r->p;
	tmsize_t ls;
	int planes = r->d.colour + r->d.alpha;
	uint8_t *line;
	int rc = 0;

	err_reset(p);
	ls = TIFFScanlineSize(p->tif);
	if (ls <= 0)
		return fail(p, "bad scanline size");
	if ((rc = check_buffer(r, ls, "row")) < 0)
		return rc;
	line = fundus_malloc((size_t)ls);
	if (line == NULL)
		return FUNDUS_ENOMEM;
	for (int s = 0; s < planes && s < r->d.spp; s++)
		for (uint32_t y = strip_start(r, (uint32_t)r->sy); y < (uint32_t)(r->sy + r->sh);
		     y++) {
			if (y % r->d.rps == 0 &&
			    (rc = check_strile(r, TIFFComputeStrip(p->tif, y, (uint16_t)s))) < 0)
				goto out;
			err_reset(p);
			if (TIFFReadScanline(p->tif, line, y, (uint16_t)s) < 0) {
				rc = fail(p, "cannot decode a row");
				goto out;
			}
			if (y < (uint32_t)r->sy)
				continue;
			convert_span(r, line, (uint32_t)r->sx, (uint32_t)r->sw, s,
				     img->data + (size_t)(y - r->sy) * img->stride);
			if ((y - r->sy + 1) % 256 == 0 && (rc = progress(r, 256)) < 0)
				goto out;
		}
out:
	fundus_free(line);
	return rc;
}

/* Tiles: one band of tile rows at a time, every plane, then into the sink. */
static int read_tiles(struct tiff_read *r, struct fundus__rowsink *sink)
{
	struct tiff_priv *p = r->p;
	const struct tiff_desc *d = &r->d;
	int separate = d->planar == PLANARCONFIG_SEPARATE && d->spp > 1;
	int planes = separate ? d->colour + d->alpha : 1;
	tmsize_t ts, trs;
	size_t opx = (size_t)fundus_pixfmt_channels(d->fmt) * fundus_pixfmt_bytes(d->fmt);
	size_t bstride = (size_t)r->sw * opx, bsize;
	uint32_t band_rows = d->th < (uint32_t)r->sh ? d->th : (uint32_t)r->sh;
	uint8_t *tile = NULL, *band = NULL;
	int rc;

	err_reset(p);
	ts = TIFFTileSize(p->tif);
	trs = TIFFTileRowSize(p->tif);
	if (ts <= 0 || trs <= 0)
		return fail(p, "bad tile size");
	if ((rc = check_buffer(r, ts, "tile")) < 0)
		return rc;
	if (fundus_size_mul(&bsize, bstride, band_rows) < 0)
		return FUNDUS_EOVERFLOW;
	tile = fundus_malloc((size_t)ts);
	band = fundus_malloc(bsize);
	if (tile == NULL || band == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	rc = 0;
	for (uint32_t ty = (uint32_t)r->sy / d->th; ty <= (uint32_t)(r->sy + r->sh - 1) / d->th;
	     ty++) {
		uint32_t y0 = ty * d->th > (uint32_t)r->sy ? ty * d->th : (uint32_t)r->sy;
		uint32_t y1 = (uint64_t)(ty + 1) * d->th < (uint32_t)(r->sy + r->sh)
				  ? (ty + 1) * d->th
				  : (uint32_t)(r->sy + r->sh);

		for (uint32_t tx = (uint32_t)r->sx / d->tw;
		     tx <= (uint32_t)(r->sx + r->sw - 1) / d->tw; tx++) {
			uint32_t x0 = tx * d->tw > (uint32_t)r->sx ? tx * d->tw : (uint32_t)r->sx;
			uint32_t x1 = (uint64_t)(tx + 1) * d->tw < (uint32_t)(r->sx + r->sw)
					  ? (tx + 1) * d->tw
					  : (uint32_t)(r->sx + r->sw);

			for (int s = 0; s < planes && s < d->spp; s++) {
				uint32_t t =
				    TIFFComputeTile(p->tif, tx * d->tw, ty * d->th, 0, (uint16_t)s);
				tmsize_t got, need = (tmsize_t)(y1 - ty * d->th) * trs;

				if ((rc = check_strile(r, t)) < 0)
					goto out;
				err_reset(p);
				got = TIFFReadEncodedTile(p->tif, t, tile, ts);
				if (got < 0) {
					rc = fail(p, "cannot decode a tile");
					goto out;
				}
				if (got < need) {
					rc = fundus_error_set(FUNDUS_EFORMAT,
							      "corrupt TIFF data: tile %u is short",
							      t);
					goto out;
				}
				for (uint32_t y = y0; y < y1; y++)
					convert_span(r,
						     tile + (size_t)(y - ty * d->th) * (size_t)trs,
						     x0 - tx * d->tw, x1 - x0, separate ? s : -1,
						     band + (size_t)(y - y0) * bstride +
							 (size_t)(x0 - r->sx) * opx);
			}
		}
		for (uint32_t y = y0; y < y1; y++)
			fundus__rowsink_put(sink, band + (size_t)(y - y0) * bstride);
		if ((rc = progress(r, y1 - y0)) < 0)
			goto out;
	}
out:
	fundus_free(tile);
	fundus_free(band);
	return rc;
}

/*
 * Other photometric interpretations, through libtiff's RGBA interface. Its
 * offsets into a strip or tile are right only at their edges (they ignore
 * bit depth and subsampling), so whole strips or tiles are decoded and the
 * region is cut out of them.
 */
static int read_rgba(struct tiff_read *r, struct fundus_image *img)
{
	struct tiff_priv *p = r->p;
	const struct tiff_desc *d = &r->d;
	uint32_t uw = d->tiled ? d->tw : d->w, uh = d->tiled ? d->th : (d->rps ? d->rps : 1);
	uint32_t rx = (uint32_t)r->sx / uw * uw, ry = (uint32_t)r->sy / uh * uh;
	uint64_t rx1 = ((uint64_t)r->sx + r->sw + uw - 1) / uw * uw;
	uint64_t ry1 = ((uint64_t)r->sy + r->sh + uh - 1) / uh * uh;
	uint32_t rw, rh;
	TIFFRGBAImage ri;
	char emsg[1024];
	uint32_t *raster;
	size_t n;
	int ok, rc, oc = fundus_pixfmt_channels(d->fmt);

	rw = (uint32_t)((rx1 < d->w ? rx1 : d->w) - rx);
	rh = (uint32_t)((ry1 < d->h ? ry1 : d->h) - ry);
	if ((rc = fundus__check_pixels(r->src, rw, rh)) < 0)
		return rc;
	if (fundus_size_mul3(&n, rw, rh, 4) < 0)
		return FUNDUS_EOVERFLOW;
	raster = fundus_malloc(n);
	if (raster == NULL)
		return FUNDUS_ENOMEM;
	err_reset(p);
	if (!TIFFRGBAImageBegin(&ri, p->tif, 1, emsg)) {
		fundus_free(raster);
		return fundus_error_set(FUNDUS_EUNSUPPORTED, "TIFF image not supported: %s", emsg);
	}
	/* Stored order, top row first: orientation is applied by common code. */
	ri.req_orientation = ORIENTATION_TOPLEFT;
	ri.orientation = ORIENTATION_TOPLEFT;
	ri.row_offset = (int)ry;
	ri.col_offset = (int)rx;
	ok = TIFFRGBAImageGet(&ri, raster, rw, rh);
	TIFFRGBAImageEnd(&ri);
	/* The RGBA interface reports some failures only through the handler. */
	if (!ok || p->err[0]) {
		fundus_free(raster);
		return fail(p, "cannot decode");
	}
	for (int y = 0; y < r->sh; y++) {
		const uint32_t *s = raster + (size_t)(r->sy - ry + y) * rw + (r->sx - rx);
		uint8_t *o = img->data + (size_t)y * img->stride;

		for (int x = 0; x < r->sw; x++, o += oc) {
			uint32_t v = s[x];

			o[0] = (uint8_t)TIFFGetR(v);
			if (oc >= 3) {
				o[1] = (uint8_t)TIFFGetG(v);
				o[2] = (uint8_t)TIFFGetB(v);
			}
			if (oc == 2 || oc == 4)
				o[oc - 1] = (uint8_t)TIFFGetA(v);
		}
	}
	fundus_free(raster);
	return 0;
}

/*
 * Decodes the stored rectangle behind ro's region of the chosen page and
 * level, then lets common code reduce, orient and convert it.
 */
static int tiff_read(struct fundus_image_source *src, const struct fundus_read_options *ro,
		     struct fundus_image **out)
{
	struct tiff_priv *p = src->priv;
	struct tiff_read r;
	struct fundus_image_info pinfo;
	struct fundus__rowsink sink;
	struct fundus_image *img = NULL;
	int rc, lv, orient, dw, dh, done_scale = 1;

	*out = NULL;
	memset(&r, 0, sizeof r);
	memset(&sink, 0, sizeof sink);
	r.src = src;
	r.p = p;
	r.ro = ro;
	if (ro->page == 0)
		pinfo = src->info;
	else if ((rc = fill_info(p, ro->page, &pinfo)) < 0)
		return rc;
	lv = p->first[ro->page] + ro->level;
	orient = ro->keep_orientation ? 1 : pinfo.orientation;
	dw = pinfo.level[ro->level].width;
	dh = pinfo.level[ro->level].height;
	if (ro->keep_orientation && fundus__orientation_swaps(pinfo.orientation)) {
		dw = pinfo.level[ro->level].height;
		dh = pinfo.level[ro->level].width;
	}
	fundus__region_to_stored(orient, dw, dh, ro->region.x, ro->region.y, ro->region.w,
				 ro->region.h, &r.sx, &r.sy, &r.sw, &r.sh);
	rc = fundus__check_pixels(src, r.sw, r.sh);
	if (rc < 0)
		return rc;
	rc = select_level(p, lv);
	if (rc == 0)
		rc = describe(p, &r.d);
	if (rc < 0)
		return rc;
	if ((uint64_t)r.sx + (uint64_t)r.sw > r.d.w || (uint64_t)r.sy + (uint64_t)r.sh > r.d.h)
		return fundus_error_set(FUNDUS_EFORMAT, "corrupt TIFF data: level size changed");
	if (r.d.tiled && !r.d.rgba && (rc = fundus__check_pixels(src, r.d.tw, r.d.th)) < 0)
		return rc;
	if (r.d.palette)
		build_lut(&r);
	r.total = r.sh;
	if (r.d.rgba || (!r.d.tiled && r.d.planar == PLANARCONFIG_SEPARATE && r.d.spp > 1)) {
		/* These need the whole region at once. */
		rc = fundus_image_new(&img, r.sw, r.sh, r.d.fmt);
		if (rc == 0)
			rc = r.d.rgba ? read_rgba(&r, img) : read_strips_separate(&r, img);
	} else {
		done_scale = ro->scale;
		rc = fundus__rowsink_init(&sink, r.sw, r.sh, r.d.fmt, ro->scale);
		if (rc == 0)
			rc = r.d.tiled ? read_tiles(&r, &sink) : read_strips_contig(&r, &sink);
		if (rc == 0 && (img = fundus__rowsink_take(&sink)) == NULL)
			rc = fundus_error_set(FUNDUS_EFORMAT, "corrupt TIFF data: rows missing");
	}
	fundus__rowsink_free(&sink);
	if (rc < 0) {
		fundus_image_free(img);
		return rc;
	}
	return fundus__image_finish(img, pinfo.orientation, done_scale, ro, out);
}

/* ---- Encoding ---- */

/* Writes one image as the current IFD and closes the IFD. */
static int write_ifd(struct tiff_priv *p, const struct fundus_image *img, int compression,
		     int quality, int subsample, uint32_t tile, uint32_t subfiletype,
		     const char *description)
{
	TIFF *tif = p->tif;
	int c = fundus_pixfmt_channels(img->format), b = fundus_pixfmt_bytes(img->format);
	int ycbcr = compression == COMPRESSION_JPEG && c == 3;
	size_t row = (size_t)img->width * c * b, bufsize;
	uint32_t rps = 0;
	uint8_t *buf = NULL;
	int rc = 0;

	TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)img->width);
	TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)img->height);
	TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)(8 * b));
	TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)c);
	TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
	TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
	TIFFSetField(tif, TIFFTAG_COMPRESSION, (uint16_t)compression);
	if (subfiletype)
		TIFFSetField(tif, TIFFTAG_SUBFILETYPE, subfiletype);
	if (description)
		TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, description);
	if (c == 2 || c == 4) {
		uint16_t extra = EXTRASAMPLE_UNASSALPHA;

		TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &extra);
	}
	if (ycbcr) {
		TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
		TIFFSetField(tif, TIFFTAG_YCBCRSUBSAMPLING, subsample ? 2 : 1, subsample ? 2 : 1);
	} else {
		TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
			     c >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
	}
	if (compression == COMPRESSION_JPEG) {
		TIFFSetField(tif, TIFFTAG_JPEGQUALITY, quality);
		if (ycbcr)
			TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
	} else if (compression == COMPRESSION_LZW || compression == COMPRESSION_ADOBE_DEFLATE) {
		TIFFSetField(tif, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
	}
	if (tile) {
		size_t trow = (size_t)tile * c * b;

		TIFFSetField(tif, TIFFTAG_TILEWIDTH, tile);
		TIFFSetField(tif, TIFFTAG_TILELENGTH, tile);
		bufsize = trow * tile;
		buf = fundus_malloc(bufsize);
		if (buf == NULL)
			return FUNDUS_ENOMEM;
		for (uint32_t ty = 0; ty < (uint32_t)img->height; ty += tile)
			for (uint32_t tx = 0; tx < (uint32_t)img->width; tx += tile) {
				/* Edge tiles repeat the last row and column: cheaper to compress.
				 */
				for (uint32_t y = 0; y < tile; y++) {
					uint32_t sy = ty + y < (uint32_t)img->height
							  ? ty + y
							  : (uint32_t)img->height - 1;
					const uint8_t *s = img->data + (size_t)sy * img->stride;
					uint8_t *d = buf + (size_t)y * trow;
					uint32_t n = tx + tile <= (uint32_t)img->width
							 ? tile
							 : (uint32_t)img->width - tx;

					memcpy(d, s + (size_t)tx * c * b, (size_t)n * c * b);
					for (uint32_t x = n; x < tile; x++)
						memcpy(d + (size_t)x * c * b,
						       d + (size_t)(n - 1) * c * b, (size_t)c * b);
				}
				if (TIFFWriteEncodedTile(tif, TIFFComputeTile(tif, tx, ty, 0, 0),
							 buf, (tmsize_t)bufsize) < 0) {
					rc = -1;
					goto out;
				}
			}
	} else {
		rps = (uint32_t)(TIFF_STRIP_BYTES / row);
		if (rps < 1)
			rps = 1;
		if (compression == COMPRESSION_JPEG)
			rps = (rps + 15) / 16 * 16;
		if (rps > (uint32_t)img->height)
			rps = (uint32_t)img->height;
		TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps);
		if (fundus_size_mul(&bufsize, row, rps) < 0)
			return FUNDUS_EOVERFLOW;
		buf = fundus_malloc(bufsize);
		if (buf == NULL)
			return FUNDUS_ENOMEM;
		for (uint32_t y = 0, s = 0; y < (uint32_t)img->height; y += rps, s++) {
			uint32_t n = y + rps <= (uint32_t)img->height ? rps : img->height - y;

			/* A copy, as libtiff may change the buffer (predictor, byte order). */
			for (uint32_t k = 0; k < n; k++)
				memcpy(buf + (size_t)k * row,
				       img->data + (size_t)(y + k) * img->stride, row);
			if (TIFFWriteEncodedStrip(tif, s, buf, (tmsize_t)(n * row)) < 0) {
				rc = -1;
				goto out;
			}
		}
	}
	if (!TIFFWriteDirectory(tif))
		rc = -1;
out:
	fundus_free(buf);
	if (rc < 0)
		rc = p->io.nomem ? fundus_error_set(FUNDUS_ENOMEM, "out of memory")
				 : fundus_error_set(FUNDUS_EINVAL, "cannot encode TIFF: %s",
						    p->err[0] ? p->err : "libtiff failed");
	return rc;
}

/* Checks an image given to an encoder. */
static int check_image(const struct fundus_image *img)
{
	if (img == NULL || img->width <= 0 || img->height <= 0 || img->data == NULL ||
	    fundus_pixfmt_channels(img->format) == 0)
		return fundus_error_set(FUNDUS_EINVAL, "no image to encode");
	return 0;
}

/* Opens a writer; BigTIFF when the raw pixels could pass 2 GB. */
static int writer_open(struct tiff_priv *p, uint64_t raw_bytes)
{
	memset(p, 0, sizeof *p);
	p->tif = tiff_open(p, raw_bytes > ((uint64_t)1 << 31) ? "w8" : "w");
	if (p->tif == NULL)
		return p->io.nomem ? fundus_error_set(FUNDUS_ENOMEM, "out of memory")
				   : fundus_error_set(FUNDUS_ENOMEM, "cannot start a TIFF writer");
	return 0;
}

/* Closes a writer, handing over the buffer on success. */
static int writer_close(struct tiff_priv *p, int rc, uint8_t **data, size_t *len)
{
	if (p->tif) {
		TIFFClose(p->tif);
		p->tif = NULL;
	}
	if (rc == 0 && p->io.nomem)
		rc = fundus_error_set(FUNDUS_ENOMEM, "out of memory");
	if (rc < 0) {
		fundus_free(p->io.wdata);
		return rc;
	}
	*data = p->io.wdata;
	*len = p->io.len;
	return 0;
}

/* Bytes of raw pixels, to choose BigTIFF. */
static uint64_t raw_size(const struct fundus_image *img)
{
	return (uint64_t)img->width * (uint64_t)img->height *
	       (uint64_t)(fundus_pixfmt_channels(img->format) * fundus_pixfmt_bytes(img->format));
}

/* Encodes any pixel format in strips, compressed as so->compression says. */
static int tiff_encode(const struct fundus_image *img, const struct fundus_save_options *so,
		       uint8_t **data, size_t *len)
{
	static const int schemes[] = {COMPRESSION_NONE, COMPRESSION_LZW, COMPRESSION_ADOBE_DEFLATE,
				      COMPRESSION_JPEG};
	struct tiff_priv p;
	int rc, comp = so->compression < 0 ? 1 : so->compression;

	*data = NULL;
	*len = 0;
	if ((rc = check_image(img)) < 0)
		return rc;
	if (so->compression < -1 || comp > 3)
		return fundus_error_set(FUNDUS_EINVAL,
					"TIFF compression must be 0 (none), 1 (LZW), 2 (Deflate) "
					"or 3 (JPEG), not %d",
					so->compression);
	if (comp == 3 && fundus_pixfmt_bytes(img->format) != 1)
		return fundus_error_set(FUNDUS_EINVAL, "JPEG in TIFF takes 8-bit images only");
	rc = writer_open(&p, raw_size(img));
	if (rc < 0)
		return rc;
	rc = write_ifd(&p, img, schemes[comp], so->quality, so->subsample, 0, 0, NULL);
	return writer_close(&p, rc, data, len);
}

/* See codec.h. */
int fundus__tiff_write_pyramid(const struct fundus_image *const *levels, int nlevels, int tile,
			       const char *description, uint8_t **data, size_t *len)
{
	struct tiff_priv p;
	uint64_t raw = 0;
	int rc;

	*data = NULL;
	*len = 0;
	if (levels == NULL || nlevels < 1)
		return fundus_error_set(FUNDUS_EINVAL, "no levels to write");
	if (tile < 16 || tile > 4096 || tile % 16 != 0)
		return fundus_error_set(
		    FUNDUS_EINVAL, "tile size must be a multiple of 16 from 16 to 4096, not %d",
		    tile);
	for (int i = 0; i < nlevels; i++) {
		if ((rc = check_image(levels[i])) < 0)
			return rc;
		raw += raw_size(levels[i]);
	}
	rc = writer_open(&p, raw);
	if (rc < 0)
		return rc;
	for (int i = 0; i < nlevels && rc == 0; i++)
		rc = write_ifd(&p, levels[i], COMPRESSION_ADOBE_DEFLATE, 0, 0, (uint32_t)tile,
			       i ? FILETYPE_REDUCEDIMAGE : 0, i ? NULL : description);
	return writer_close(&p, rc, data, len);
}

const struct fundus__codec fundus__codec_tiff = {
    .name = "tiff",
    .is_a = tiff_is_a,
    .header = tiff_header,
    .page_info = tiff_page_info,
    .read = tiff_read,
    .close = tiff_close,
    .encode = tiff_encode,
};
