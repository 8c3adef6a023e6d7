/*
 * Contact sheets: thumbnails on a grid with a caption under each. The
 * incremental form is the base; the one-shot form sizes the cells from
 * its tiles and fills them.
 */
#include <math.h>
#include <string.h>

#include "draw/internal.h"

struct fundus_sheet {
	struct fundus_image *img;
	int n, columns;
	int tile_w, tile_h; /* the area a tile is fitted into */
	int gap;            /* between cells and around the sheet */
	int caption_h;      /* 0 without captions */
	int scale;          /* of the caption text */
};

static const uint8_t sheet_bg[3] = {28, 28, 28};
static const uint8_t caption_fg[3] = {225, 225, 225};

/* The gap between cells and around them, for tiles tile_w wide. */
static int sheet_gap(int tile_w)
{
	return tile_w / 100 > 2 ? tile_w / 100 : 2;
}

int fundus_draw_sheet_fit(int width, int columns)
{
	int64_t lo = 16, hi = FUNDUS_DRAW_SHEET_MAX_TILE, c = columns;

	if (columns < 1 || c * (lo + sheet_gap((int)lo)) + sheet_gap((int)lo) > width)
		return 0;
	/* The sheet's width grows with the tile's: the largest that fits, by bisection. */
	while (lo < hi) {
		int64_t mid = (lo + hi + 1) / 2, g = sheet_gap((int)mid);

		if (c * (mid + g) + g <= width)
			lo = mid;
		else
			hi = mid - 1;
	}
	return (int)lo;
}

/* Checks the cell count, columns and one side of a tile. */
static int check_layout(int n, int columns, int side)
{
	if (n < 1 || columns < 1)
		return fundus_error_set(FUNDUS_EINVAL,
					"%d images in %d columns: 1 of each at least", n, columns);
	if (n > FUNDUS_DRAW_SHEET_MAX_TILES)
		return fundus_error_set(FUNDUS_ELIMIT,
					"%d images on a contact sheet, more than the limit of %d",
					n, FUNDUS_DRAW_SHEET_MAX_TILES);
	if (side < 16)
		return fundus_error_set(
		    FUNDUS_EINVAL, "thumbnails of %d pixels are too small (16 at least)", side);
	if (side > FUNDUS_DRAW_SHEET_MAX_TILE)
		return fundus_error_set(FUNDUS_ELIMIT,
					"thumbnails of %d pixels, more than the limit of %d", side,
					FUNDUS_DRAW_SHEET_MAX_TILE);
	return 0;
}

int fundus_draw_sheet_new(struct fundus_sheet **out, int n, int columns, int tile_w, int tile_h,
			  int captions)
{
	struct fundus_sheet *sh;
	int64_t cols, rows, w, h;
	int rc;

	if ((rc = check_layout(n, columns, tile_w)) < 0 ||
	    (rc = check_layout(n, columns, tile_h)) < 0)
		return rc;
	sh = fundus_calloc(1, sizeof *sh);
	if (!sh)
		return FUNDUS_ENOMEM;
	sh->n = n;
	sh->columns = columns < n ? columns : n;
	sh->tile_w = tile_w;
	sh->tile_h = tile_h;
	sh->gap = sheet_gap(tile_w);
	fundus_draw_auto_size(tile_w, tile_w, &sh->scale, NULL);
	sh->caption_h = captions ? FUNDUS_DRAW_FONT_H * sh->scale + sh->gap : 0;
	cols = sh->columns;
	rows = (n + cols - 1) / cols;
	w = cols * (tile_w + sh->gap) + sh->gap;
	h = rows * (tile_h + sh->caption_h + sh->gap) + sh->gap;
	if (w * h > FUNDUS_DRAW_SHEET_MAX_PIXELS || w > INT32_MAX || h > INT32_MAX) {
		fundus_free(sh);
		return fundus_error_set(
		    FUNDUS_ELIMIT,
		    "a contact sheet of %lld x %lld pixels is more than the limit of %lld pixels",
		    (long long)w, (long long)h, (long long)FUNDUS_DRAW_SHEET_MAX_PIXELS);
	}
	rc = fundus_image_new(&sh->img, (int)w, (int)h, FUNDUS_PIX_RGB8);
	if (rc < 0) {
		fundus_free(sh);
		return rc;
	}
	fundus__draw_span(sh->img, 0, 0, w, h, sheet_bg);
	*out = sh;
	return 0;
}

void fundus_draw_sheet_free(struct fundus_sheet *sh)
{
	if (!sh)
		return;
	fundus_image_free(sh->img);
	fundus_free(sh);
}

struct fundus_image *fundus_draw_sheet_image(struct fundus_sheet *sh)
{
	return sh->img;
}

struct fundus_image *fundus_draw_sheet_take(struct fundus_sheet *sh)
{
	struct fundus_image *img = sh->img;

	sh->img = NULL;
	return img;
}

/* The top-left corner of cell i. */
static void cell_origin(const struct fundus_sheet *sh, int i, int64_t *cx, int64_t *cy)
{
	*cx = sh->gap + (int64_t)(i % sh->columns) * (sh->tile_w + sh->gap);
	*cy = sh->gap + (int64_t)(i / sh->columns) * (sh->tile_h + sh->caption_h + sh->gap);
}

/* Writes the caption of cell i, cut to the cell's width. */
static void put_caption(struct fundus_sheet *sh, int i, const char *caption)
{
	int64_t cx, cy;

	if (!caption || !sh->caption_h)
		return;
	cell_origin(sh, i, &cx, &cy);
	fundus__draw_text_fit(sh->img, (int)cx, (int)(cy + sh->tile_h + sh->gap), caption,
			      sh->scale, caption_fg, sh->tile_w);
}

/* The tile scaled to exactly w x h, in RGB8: tile itself when it is that already. */
static int fit_tile(const struct fundus_image *tile, int w, int h, struct fundus_image **out,
		    struct fundus_image **owned)
{
	struct fundus_image *sized = NULL, *rgb = NULL;
	const struct fundus_image *cur = tile;
	int rc;

	*owned = NULL;
	if (tile->width != w || tile->height != h) {
		rc = fundus_image_resize(tile, w, h, &sized);
		if (rc < 0)
			return rc;
		cur = sized;
	}
	if (cur->format != FUNDUS_PIX_RGB8) {
		rc = fundus_image_convert(cur, FUNDUS_PIX_RGB8, &rgb);
		fundus_image_free(sized);
		if (rc < 0)
			return rc;
		sized = rgb;
		cur = rgb;
	}
	*owned = sized;
	*out = (struct fundus_image *)cur;
	return 0;
}

int fundus_draw_sheet_put(struct fundus_sheet *sh, int i, const struct fundus_image *tile,
			  const char *caption, struct fundus_box *placed)
{
	struct fundus_image *fit, *owned;
	int64_t cx, cy;
	double sc;
	int w, h, ox, oy, rc;

	if (!sh || !sh->img)
		return fundus_error_set(FUNDUS_EINVAL, "no contact sheet to put a thumbnail on");
	if (i < 0 || i >= sh->n)
		return fundus_error_set(
		    FUNDUS_EINVAL, "cell %d is not on the contact sheet (0..%d)", i, sh->n - 1);
	if (!tile || !tile->data || tile->width < 1 || tile->height < 1)
		return fundus_error_set(FUNDUS_EINVAL, "no image to put on the contact sheet");
	sc = fmin((double)sh->tile_w / tile->width, (double)sh->tile_h / tile->height);
	w = (int)fmin(fmax(lround(tile->width * sc), 1), sh->tile_w);
	h = (int)fmin(fmax(lround(tile->height * sc), 1), sh->tile_h);
	rc = fit_tile(tile, w, h, &fit, &owned);
	if (rc < 0)
		return rc;
	cell_origin(sh, i, &cx, &cy);
	/* Putting a cell again replaces what was there. */
	fundus__draw_span(sh->img, cx, cy, cx + sh->tile_w, cy + sh->tile_h + sh->caption_h,
			  sheet_bg);
	ox = (int)(cx + (sh->tile_w - w) / 2);
	oy = (int)(cy + (sh->tile_h - h) / 2);
	for (int y = 0; y < h; y++)
		memcpy(fundus_image_pixel(sh->img, ox, oy + y), fundus_image_pixel(fit, 0, y),
		       (size_t)w * 3);
	fundus_image_free(owned);
	put_caption(sh, i, caption);
	if (placed) {
		placed->x0 = ox;
		placed->y0 = oy;
		placed->x1 = ox + w;
		placed->y1 = oy + h;
	}
	return 0;
}

int fundus_draw_sheet(const struct fundus_image *const *tiles, const char *const *captions, int n,
		      int columns, int tile_w, struct fundus_image **out)
{
	struct fundus_sheet *sh;
	int tile_h = 0, rc;

	if (!tiles)
		return fundus_error_set(FUNDUS_EINVAL, "no images for the contact sheet");
	if ((rc = check_layout(n, columns, tile_w)) < 0)
		return rc;
	/* Cells as high as the tallest tile fitted into a tile_w square. */
	for (int i = 0; i < n; i++) {
		const struct fundus_image *t = tiles[i];
		int side, th;

		if (!t || t->width < 1 || t->height < 1)
			continue;
		side = t->width > t->height ? t->width : t->height;
		th = (int)lround((double)t->height * tile_w / side);
		tile_h = th > tile_h ? th : tile_h;
	}
	tile_h = tile_h < 16 ? (tile_h ? 16 : tile_w) : tile_h;
	rc = fundus_draw_sheet_new(&sh, n, columns, tile_w, tile_h, captions != NULL);
	if (rc < 0)
		return rc;
	for (int i = 0; i < n; i++) {
		const char *cap = captions ? captions[i] : NULL;

		if (tiles[i])
			rc = fundus_draw_sheet_put(sh, i, tiles[i], cap, NULL);
		else
			put_caption(sh, i, cap);
		if (rc < 0) {
			fundus_draw_sheet_free(sh);
			return rc;
		}
	}
	*out = fundus_draw_sheet_take(sh);
	fundus_draw_sheet_free(sh);
	return 0;
}
