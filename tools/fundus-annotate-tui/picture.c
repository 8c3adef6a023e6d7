/*
 * The photograph on the screen: decoded at the reduction the view needs
 * (the JPEG codec scales in the DCT domain; a zoomed view decodes only the
 * region around it), sampled into screen pixels (one terminal cell holds
 * two, the upper as the foreground of "▀", the lower as its background),
 * with the boxes and the cursor drawn into those pixels so that they are
 * as sharp as the picture itself.
 *
 * Truecolor and 256-colour pictures are written as escape sequences after
 * ncurses has updated the rest of the screen; ncurses believes those
 * cells blank and never touches them, and only cells that changed since
 * the last frame are sent, which keeps a session over SSH light.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"

void picture_free(struct picture *p)
{
	free(p->path);
	fundus_image_free(p->dec);
	memset(p, 0, sizeof *p);
}

int picture_open(struct picture *p, const char *path)
{
	struct fundus_image_source *src;
	const struct fundus_image_info *info;

	picture_free(p);
	if (path == NULL) {
		snprintf(p->err, sizeof p->err, "the record names no image file");
		return -1;
	}
	if (fundus_image_open(&src, path, NULL) < 0) {
		snprintf(p->err, sizeof p->err, "%s", fundus_errmsg());
		return -1;
	}
	info = fundus_image_source_info(src);
	p->iw = info->width;
	p->ih = info->height;
	fundus_image_close(src);
	p->path = strdup(path);
	if (p->path == NULL) {
		snprintf(p->err, sizeof p->err, "out of memory");
		return -1;
	}
	return 0;
}

/* Keeps the view inside the image, or centres the image when it is smaller. */
static void view_clamp(struct view *v, const struct picture *p)
{
	double w = v->pw * v->s, h = v->ph * v->s;

	if (w >= p->iw)
		v->vx = (p->iw - w) / 2;
	else
		v->vx = fmin(fmax(v->vx, 0), p->iw - w);
	if (h >= p->ih)
		v->vy = (p->ih - h) / 2;
	else
		v->vy = fmin(fmax(v->vy, 0), p->ih - h);
}

void view_set(struct view *v, const struct picture *p, int zoom, double cx, double cy)
{
	double fit;

	if (p->iw <= 0 || p->ih <= 0 || v->pw <= 0 || v->ph <= 0) {
		v->s = 1;
		v->vx = v->vy = 0;
		return;
	}
	fit = fmax((double)p->iw / v->pw, (double)p->ih / v->ph);
	if (zoom < 0)
		zoom = 0;
	/* Deep enough for 8 screen pixels per image pixel, and no deeper. */
	while (zoom > 0 && fit / (double)(1 << zoom) < 0.125)
		zoom--;
	v->zoom = zoom;
	v->s = fit / (double)(1 << zoom);
	v->vx = cx - v->pw * v->s / 2;
	v->vy = cy - v->ph * v->s / 2;
	view_clamp(v, p);
}

void view_follow(struct view *v, const struct picture *p, double x, double y)
{
	double m = 2 * v->s, w = v->pw * v->s, h = v->ph * v->s;

	if (x < v->vx + m || x > v->vx + w - m)
		v->vx = x - w / 2;
	if (y < v->vy + m || y > v->vy + h - m)
		v->vy = y - h / 2;
	view_clamp(v, p);
}

double view_x(const struct view *v, int col)
{
	return v->vx + col * v->s;
}

double view_y(const struct view *v, int row_px)
{
	return v->vy + row_px * v->s;
}

int picture_prepare(struct picture *p, const struct view *v)
{
	struct fundus_read_options ro;
	struct fundus_image *img = NULL;
	int f = 1, x0, y0, x1, y1, rx, ry, rw, rh;

	if (p->path == NULL)
		return -1;
	/*
	 * The coarsest reduction (1, 2, 4, 8) whose pixels are at most half a
	 * screen pixel, so that each screen pixel averages a few of them.
	 */
	f = fundus_image_fit_scale(p->iw, p->ih,
				   (int)ceil(2.0 * (p->iw > p->ih ? p->iw : p->ih) / v->s));
	x0 = (int)floor(fmax(v->vx, 0));
	y0 = (int)floor(fmax(v->vy, 0));
	x1 = (int)ceil(fmin(v->vx + v->pw * v->s, p->iw));
	y1 = (int)ceil(fmin(v->vy + v->ph * v->s, p->ih));
	if (p->dec && p->rscale == f && x0 >= p->rx && y0 >= p->ry && x1 <= p->rx + p->rw &&
	    y1 <= p->ry + p->rh)
		return 0;
	if (f > 1 || (x1 - x0) * 3 >= p->iw) {
		rx = ry = 0;
		rw = p->iw;
		rh = p->ih;
	} else {
		/* Zoomed in at full resolution: the view and a view's width around it. */
		int w = x1 - x0, h = y1 - y0;

		rx = x0 - w > 0 ? x0 - w : 0;
		ry = y0 - h > 0 ? y0 - h : 0;
		rw = (x1 + w < p->iw ? x1 + w : p->iw) - rx;
		rh = (y1 + h < p->ih ? y1 + h : p->ih) - ry;
	}
	fundus_read_options_default(&ro);
	ro.scale = f;
	ro.format = FUNDUS_PIX_RGB8;
	if (rw != p->iw || rh != p->ih) {
		ro.region.x = rx;
		ro.region.y = ry;
		ro.region.w = rw;
		ro.region.h = rh;
	}
	if (fundus_image_load(p->path, &ro, &img) < 0) {
		snprintf(p->err, sizeof p->err, "%s", fundus_errmsg());
		return -1;
	}
	fundus_image_free(p->dec);
	p->dec = img;
	p->rx = rx;
	p->ry = ry;
	p->rw = rw;
	p->rh = rh;
	p->rscale = f;
	return 0;
}

/* The painter's memory: this frame's pixels and what each cell shows now. */
static uint8_t *raster; /* pw x ph x 3 */
static uint8_t *mask;   /* pw x ph: which overlay drew the pixel (1 + index), 0 none */
static uint32_t *shown; /* per cell: top << 24 ^ bottom, the last painted; 0xffffffff unknown */
static size_t raster_cap, shown_cap;
static int shown_cols, shown_rows, shown_col, shown_row, shown_valid;

void picture_invalidate(void)
{
	shown_valid = 0;
}

void picture_paint_free(void)
{
	free(raster);
	free(mask);
	free(shown);
	raster = mask = NULL;
	shown = NULL;
	raster_cap = shown_cap = 0;
}

/* Samples the decoded image into the raster (background outside the image). */
static void sample(const struct picture *p, const struct view *v)
{
	const struct fundus_image *d = p->dec;
	int f = p->rscale > 0 ? p->rscale : 1;

	for (int py = 0; py < v->ph; py++) {
		double y0 = v->vy + py * v->s, y1 = y0 + v->s;
		int b0, b1;

		y0 = fmax(y0, 0);
		y1 = fmin(y1, p->ih);
		b0 = d ? (int)floor((y0 - p->ry) / f) : 0;
		b1 = d ? (int)ceil((y1 - p->ry) / f) : 0;
		for (int px = 0; px < v->pw; px++) {
			uint8_t *o = raster + ((size_t)py * v->pw + px) * 3;
			double x0 = fmax(v->vx + px * v->s, 0),
			       x1 = fmin(v->vx + (px + 1) * v->s, p->iw);
			unsigned sum[3] = {0, 0, 0}, n = 0;
			int a0, a1, c0 = b0, c1 = b1;

			if (d == NULL || x1 <= x0 || y1 <= y0) {
				o[0] = o[1] = o[2] = 28;
				continue;
			}
			a0 = (int)floor((x0 - p->rx) / f);
			a1 = (int)ceil((x1 - p->rx) / f);
			if (a0 < 0)
				a0 = 0;
			if (a0 > d->width - 1)
				a0 = d->width - 1;
			if (a1 > d->width)
				a1 = d->width;
			if (a1 <= a0)
				a1 = a0 + 1;
			if (c0 < 0)
				c0 = 0;
			if (c0 > d->height - 1)
				c0 = d->height - 1;
			if (c1 > d->height)
				c1 = d->height;
			if (c1 <= c0)
				c1 = c0 + 1;
			for (int y = c0; y < c1; y++) {
				const uint8_t *row = d->data + (size_t)y * d->stride;

				for (int x = a0; x < a1; x++) {
					sum[0] += row[3 * x];
					sum[1] += row[3 * x + 1];
					sum[2] += row[3 * x + 2];
					n++;
				}
			}
			for (int c = 0; c < 3; c++)
				o[c] = (uint8_t)((sum[c] + n / 2) / n);
		}
	}
}

/*
 * Ordered (Bayer) dithering before the 256-colour palette: its colour cube
 * has 40 levels between steps, coarser than the slow shading of a fundus,
 * which would otherwise come out in flat bands.
 */
static void dither(const struct view *v)
{
	static const int bayer[4][4] = {
	    {0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};

	for (int y = 0; y < v->ph; y++)
		for (int x = 0; x < v->pw; x++) {
			uint8_t *o = raster + ((size_t)y * v->pw + x) * 3;
			int d = (bayer[y & 3][x & 3] * 2 - 15) * 20 / 32;

			for (int c = 0; c < 3; c++) {
				int val = o[c] + d;

				o[c] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : val);
			}
		}
}

/* Sets one raster pixel if it is inside. */
static void plot(const struct view *v, int x, int y, const uint8_t *rgb, int tag)
{
	uint8_t *o;

	if (x < 0 || y < 0 || x >= v->pw || y >= v->ph)
		return;
	o = raster + ((size_t)y * v->pw + x) * 3;
	memcpy(o, rgb, 3);
	mask[(size_t)y * v->pw + x] = (uint8_t)tag;
}

/* A small filled square around (x, y): a handle. */
static void square(const struct view *v, int x, int y, const uint8_t *rgb, int tag)
{
	for (int dy = -1; dy <= 1; dy++)
		for (int dx = -1; dx <= 1; dx++)
			plot(v, x + dx, y + dy, rgb, tag);
}

/* Draws one overlay box into the raster. */
static void draw_box(const struct view *v, const struct overlay_box *b, int tag)
{
	static const uint8_t white[3] = {255, 255, 255};
	double X0 = (b->b.x0 - v->vx) / v->s, X1 = (b->b.x1 - v->vx) / v->s;
	double Y0 = (b->b.y0 - v->vy) / v->s, Y1 = (b->b.y1 - v->vy) / v->s;
	int l = (int)floor(fmin(X0, X1)), r = (int)ceil(fmax(X0, X1)) - 1;
	int t = (int)floor(fmin(Y0, Y1)), bo = (int)ceil(fmax(Y0, Y1)) - 1;
	const uint8_t *rgb = b->style == 1 || b->style == 4 ? white : b->rgb;
	uint8_t dim[3];
	int dashed = b->style >= 2;

	if (b->style == 2) {
		for (int c = 0; c < 3; c++)
			dim[c] = (uint8_t)(b->rgb[c] * 2 / 3);
		rgb = dim;
	}
	if (r < l)
		r = l;
	if (bo < t)
		bo = t;
	/* Far outside the view: nothing to draw (and no long loops). */
	if (r < -1 || l > v->pw || bo < -1 || t > v->ph)
		return;
	l = l < -1 ? -1 : l;
	t = t < -1 ? -1 : t;
	r = r > v->pw ? v->pw : r;
	bo = bo > v->ph ? v->ph : bo;
	for (int x = l; x <= r; x++) {
		if (dashed && ((x - l) / 2) % 2)
			continue;
		plot(v, x, t, rgb, tag);
		plot(v, x, bo, rgb, tag);
	}
	for (int y = t; y <= bo; y++) {
		if (dashed && ((y - t) / 2) % 2)
			continue;
		plot(v, l, y, rgb, tag);
		plot(v, r, y, rgb, tag);
	}
	if (b->style == 1) {
		if (b->handle == 0)
			square(v, (l + r) / 2, (t + bo) / 2, rgb, tag);
		if (b->handle == 1)
			square(v, l, t, rgb, tag);
		if (b->handle == 2)
			square(v, r, bo, rgb, tag);
	}
}

/* The cursor: a cross in the colour opposite to what is under it. */
static void draw_cursor(const struct view *v, double cx, double cy, int tag)
{
	int x = (int)floor((cx - v->vx) / v->s), y = (int)floor((cy - v->vy) / v->s);

	for (int d = -3; d <= 3; d++) {
		int pts[2][2] = {{x + d, y}, {x, y + d}};

		for (int k = 0; k < 2; k++) {
			int px = pts[k][0], py = pts[k][1];
			uint8_t inv[3];

			if (px < 0 || py < 0 || px >= v->pw || py >= v->ph || (d == 0 && k == 1))
				continue;
			for (int c = 0; c < 3; c++) {
				uint8_t under = raster[((size_t)py * v->pw + px) * 3 + c];

				inv[c] = under > 110 ? 0 : 255;
			}
			plot(v, px, py, inv, tag);
		}
	}
}

/* The xterm 256-colour index nearest to a colour (the 6x6x6 cube or the grey ramp). */
int picture_xterm256(const uint8_t *rgb)
{
	static const int level[6] = {0, 95, 135, 175, 215, 255};
	int idx[3], cube, g, best_c, best_g;
	long dc = 0, dg = 0;

	for (int c = 0; c < 3; c++) {
		int v = rgb[c], k = v < 48 ? 0 : v < 115 ? 1 : (v - 35) / 40;

		idx[c] = k > 5 ? 5 : k;
		dc += (long)(v - level[idx[c]]) * (v - level[idx[c]]);
	}
	cube = 16 + 36 * idx[0] + 6 * idx[1] + idx[2];
	g = (rgb[0] + rgb[1] + rgb[2]) / 3;
	best_g = g < 3 ? 0 : g > 238 ? 23 : (g - 3) / 10;
	for (int c = 0; c < 3; c++) {
		int gv = 8 + 10 * best_g;

		dg += (long)(rgb[c] - gv) * (rgb[c] - gv);
	}
	best_c = dg < dc ? 232 + best_g : cube;
	return best_c;
}

/* Writes one cell's colours in the terminal's dialect, if they changed. */
static void sgr(FILE *f, enum colour_mode mode, const uint8_t *top, const uint8_t *bot,
		uint32_t *last_fg, uint32_t *last_bg)
{
	uint32_t fg = (uint32_t)top[0] << 16 | top[1] << 8 | top[2];
	uint32_t bg = (uint32_t)bot[0] << 16 | bot[1] << 8 | bot[2];

	if (mode == COLOUR_256) {
		fg = (uint32_t)picture_xterm256(top);
		bg = (uint32_t)picture_xterm256(bot);
	}
	if (fg != *last_fg) {
		if (mode == COLOUR_256)
			fprintf(f, "\033[38;5;%um", fg);
		else
			fprintf(f, "\033[38;2;%u;%u;%um", top[0], top[1], top[2]);
		*last_fg = fg;
	}
	if (bg != *last_bg) {
		if (mode == COLOUR_256)
			fprintf(f, "\033[48;5;%um", bg);
		else
			fprintf(f, "\033[48;2;%u;%u;%um", bot[0], bot[1], bot[2]);
		*last_bg = bg;
	}
}

/* A cell's identity for the change test: both pixels' colours. */
static uint32_t cell_key(const uint8_t *top, const uint8_t *bot)
{
	uint32_t h = 2166136261u;

	for (int c = 0; c < 3; c++) {
		h = (h ^ top[c]) * 16777619u;
		h = (h ^ bot[c]) * 16777619u;
	}
	return h == 0xffffffffu ? 0 : h;
}

/* Paints in ASCII into stdscr: brightness as characters, overlays in their colours. */
static void paint_ascii(const struct view *v, const struct overlay_box *ov, int n_ov)
{
	static const char ramp[] = " .:-=+*#%@";
	int lo = 255 * 2000, hi = 0;

	/* Stretch the brightness of the view over the ramp: photographs are dim. */
	for (size_t k = 0; k < (size_t)v->pw * (size_t)v->ph; k++) {
		const uint8_t *p = raster + 3 * k;
		int l = p[0] * 299 + p[1] * 587 + p[2] * 114;

		if (mask[k])
			continue;
		lo = l < lo ? l : lo;
		hi = l > hi ? l : hi;
	}
	lo *= 2;
	hi *= 2;
	if (hi <= lo)
		hi = lo + 1;
	for (int r = 0; r < v->rows; r++) {
		for (int c = 0; c < v->cols; c++) {
			size_t a = (size_t)(2 * r) * v->pw + c, b = a + v->pw;
			const uint8_t *top = raster + a * 3, *bot = raster + b * 3;
			int tag = mask[a] ? mask[a] : mask[b];
			chtype ch;

			if (tag) {
				ch = (chtype)(tag == 255 ? '+' : 'X') | A_BOLD;
				if (has_colors() && tag != 255 && tag - 1 < n_ov) {
					const uint8_t *rgb = ov[tag - 1].rgb;
					int col = (rgb[0] > 127) | (rgb[1] > 127) << 1 |
						  (rgb[2] > 127) << 2;

					ch |= COLOR_PAIR(10 + col);
				}
			} else {
				int luma = top[0] * 299 + top[1] * 587 + top[2] * 114 +
					   bot[0] * 299 + bot[1] * 587 + bot[2] * 114;
				int k = (int)((long)(luma - lo) * 10 / (hi - lo + 1));

				ch = (chtype)ramp[k < 0 ? 0 : k > 9 ? 9 : k];
			}
			mvaddch(v->row + r, v->col + c, ch);
		}
	}
}

void picture_paint(struct picture *p, const struct view *v, enum colour_mode mode,
		   const struct overlay_box *ov, int n_ov, double cx, double cy)
{
	size_t npx = (size_t)v->pw * (size_t)v->ph, ncell = (size_t)v->cols * (size_t)v->rows;
	uint32_t last_fg = 0xffffffffu, last_bg = 0xffffffffu;
	FILE *f = stdout;
	int open = 0;

	if (npx == 0)
		return;
	if (npx > raster_cap) {
		free(raster);
		free(mask);
		raster = malloc(npx * 3);
		mask = malloc(npx);
		raster_cap = raster && mask ? npx : 0;
		if (raster_cap == 0)
			return;
	}
	if (ncell > shown_cap) {
		free(shown);
		shown = malloc(ncell * sizeof *shown);
		shown_cap = shown ? ncell : 0;
		shown_valid = 0;
		if (shown == NULL)
			return;
	}
	memset(mask, 0, npx);
	sample(p, v);
	if (mode == COLOUR_256)
		dither(v);
	for (int k = 0; k < n_ov; k++)
		draw_box(v, &ov[k], k + 1 < 255 ? k + 1 : 254);
	if (!isnan(cx))
		draw_cursor(v, cx, cy, 255);
	if (mode == COLOUR_ASCII) {
		paint_ascii(v, ov, n_ov);
		return;
	}
	if (!shown_valid || shown_cols != v->cols || shown_rows != v->rows || shown_col != v->col ||
	    shown_row != v->row) {
		for (size_t k = 0; k < ncell; k++)
			shown[k] = 0xffffffffu;
		shown_cols = v->cols;
		shown_rows = v->rows;
		shown_col = v->col;
		shown_row = v->row;
		shown_valid = 1;
	}
	for (int r = 0; r < v->rows; r++) {
		int at = -2; /* the column the terminal's cursor is at, -2: elsewhere */

		for (int c = 0; c < v->cols; c++) {
			const uint8_t *top = raster + ((size_t)(2 * r) * v->pw + c) * 3;
			const uint8_t *bot = raster + ((size_t)(2 * r + 1) * v->pw + c) * 3;
			uint32_t key = cell_key(top, bot);

			if (shown[(size_t)r * v->cols + c] == key)
				continue;
			if (!open) {
				fputs("\0337", f); /* save ncurses' cursor and attributes */
				open = 1;
			}
			if (at != c)
				fprintf(f, "\033[%d;%dH", v->row + r + 1, v->col + c + 1);
			sgr(f, mode, top, bot, &last_fg, &last_bg);
			fputs("\xe2\x96\x80", f); /* U+2580 UPPER HALF BLOCK */
			at = c + 1;
			shown[(size_t)r * v->cols + c] = key;
		}
	}
	if (open) {
		fputs("\033[0m\0338", f);
		fflush(f);
	}
}
