/*
 * Line plots: series of points against a shared x axis and one of two y
 * axes, with nice ticks, a legend and labels, rendered into a new image.
 * The layout is worked out from the text sizes at render time, so one
 * plot renders well at any size.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "draw/internal.h"

#define MAX_TICKS 64 /* kept by render; fundus_plot_ticks() caps the count lower */

struct plot_series {
	char *name;
	int axis;
	uint8_t rgb[3];
	double *x, *y;
	int n;
};

struct plot_axis {
	char *label;
	int log, set;
	double min, max; /* NAN: from the data */
};

struct fundus_plot {
	char *title;
	struct plot_axis ax[3]; /* LEFT, RIGHT, X */
	struct plot_series s[FUNDUS_PLOT_MAX_SERIES];
	int ns;
};

/* An axis as laid out for one render. */
struct scale {
	double lo, hi; /* the range shown */
	int log;
	int p0, p1; /* pixel positions of lo and hi */
	double ticks[MAX_TICKS];
	int nt;
	double step; /* linear tick step, for label precision; 0 on log ticks */
	int shown;
};

static const uint8_t white[3] = {255, 255, 255};
static const uint8_t ink[3] = {40, 40, 40};
static const uint8_t frame_rgb[3] = {90, 90, 90};
static const uint8_t grid_rgb[3] = {228, 228, 228};

/* log10 of v, NAN for v <= 0 (a gap on a log axis). */
static double log10_or_nan(double v)
{
	return v > 0 ? log10(v) : NAN;
}

int fundus_plot_new(struct fundus_plot **out, const char *title, const char *xlabel)
{
	struct fundus_plot *p = fundus_calloc(1, sizeof *p);

	if (!p)
		return FUNDUS_ENOMEM;
	for (int a = 0; a < 3; a++)
		p->ax[a].min = p->ax[a].max = NAN;
	if ((title && !(p->title = fundus_strdup(title))) ||
	    (xlabel && !(p->ax[FUNDUS_PLOT_X].label = fundus_strdup(xlabel)))) {
		fundus_plot_free(p);
		return FUNDUS_ENOMEM;
	}
	*out = p;
	return 0;
}

void fundus_plot_free(struct fundus_plot *p)
{
	if (!p)
		return;
	fundus_free(p->title);
	for (int a = 0; a < 3; a++)
		fundus_free(p->ax[a].label);
	for (int i = 0; i < p->ns; i++) {
		fundus_free(p->s[i].name);
		fundus_free(p->s[i].x);
		fundus_free(p->s[i].y);
	}
	fundus_free(p);
}

int fundus_plot_series(struct fundus_plot *p, const char *name, enum fundus_plot_axis axis,
		       const uint8_t *rgb, const double *x, const double *y, int n)
{
	struct plot_series s = {0};

	if (!p)
		return fundus_error_set(FUNDUS_EINVAL, "no plot");
	if (axis != FUNDUS_PLOT_LEFT && axis != FUNDUS_PLOT_RIGHT)
		return fundus_error_set(
		    FUNDUS_EINVAL,
		    "a series is drawn against the left or the right axis, not axis %d", (int)axis);
	if (n < 0 || (n > 0 && (!x || !y)))
		return fundus_error_set(FUNDUS_EINVAL, "a series needs n >= 0 and its points");
	if (p->ns >= FUNDUS_PLOT_MAX_SERIES)
		return fundus_error_set(FUNDUS_ELIMIT, "a plot has %d series at most",
					FUNDUS_PLOT_MAX_SERIES);
	if (n > FUNDUS_PLOT_MAX_POINTS)
		return fundus_error_set(FUNDUS_ELIMIT,
					"%d points in a series, more than the limit of %d", n,
					FUNDUS_PLOT_MAX_POINTS);
	s.axis = axis;
	s.n = n;
	if (rgb)
		memcpy(s.rgb, rgb, 3);
	else
		fundus_draw_palette(p->ns, s.rgb);
	if (name && *name && !(s.name = fundus_strdup(name)))
		return FUNDUS_ENOMEM;
	if (n > 0) {
		s.x = fundus_calloc((size_t)n, sizeof *s.x);
		s.y = fundus_calloc((size_t)n, sizeof *s.y);
		if (!s.x || !s.y) {
			fundus_free(s.name);
			fundus_free(s.x);
			fundus_free(s.y);
			return FUNDUS_ENOMEM;
		}
		memcpy(s.x, x, (size_t)n * sizeof *x);
		memcpy(s.y, y, (size_t)n * sizeof *y);
	}
	p->s[p->ns++] = s;
	return 0;
}

int fundus_plot_axis(struct fundus_plot *p, enum fundus_plot_axis axis, const char *label, int log,
		     double min, double max)
{
	char *copy = NULL;

	if (!p)
		return fundus_error_set(FUNDUS_EINVAL, "no plot");
	if (axis != FUNDUS_PLOT_LEFT && axis != FUNDUS_PLOT_RIGHT && axis != FUNDUS_PLOT_X)
		return fundus_error_set(FUNDUS_EINVAL, "no plot axis %d", (int)axis);
	if (log && axis == FUNDUS_PLOT_X)
		return fundus_error_set(FUNDUS_EINVAL, "the x axis has no log scale");
	if (isinf(min) || isinf(max))
		return fundus_error_set(FUNDUS_EINVAL, "an axis range must be finite or NAN");
	if (!isnan(min) && !isnan(max) && min >= max)
		return fundus_error_set(FUNDUS_EINVAL, "axis range %g to %g is empty", min, max);
	if (log && ((!isnan(min) && min <= 0) || (!isnan(max) && max <= 0)))
		return fundus_error_set(FUNDUS_EINVAL, "a log axis cannot reach 0 or below");
	if (label && !(copy = fundus_strdup(label)))
		return FUNDUS_ENOMEM;
	fundus_free(p->ax[axis].label);
	p->ax[axis].label = copy;
	p->ax[axis].log = log != 0;
	p->ax[axis].min = min;
	p->ax[axis].max = max;
	p->ax[axis].set = 1;
	return 0;
}

/* Stores v as tick number n when there is room; returns n + 1. */
static int put_tick(double *ticks, int cap, int n, double v)
{
	if (n < cap)
		ticks[n] = v;
	return n + 1;
}

/* The linear tick step for [lo, hi] with at most max_ticks ticks. */
static double linear_step(double lo, double hi, int max_ticks)
{
	static const double mant[3] = {1, 2, 5};
	/* Divided before subtracting: -1e308 .. 1e308 is a range too. */
	double e = floor(log10(hi / max_ticks - lo / max_ticks)) - 1;

	for (int k = 0; k < 3 * 400; k++) {
		double step = mant[k % 3] * pow(10, e + k / 3);
		double eps = 1e-6;

		if (floor(hi / step + eps) - ceil(lo / step - eps) + 1 <= max_ticks)
			return step;
	}
	return hi - lo; /* not reached for finite bounds */
}

/* The multiples of step in [lo, hi], give or take a millionth of a step. */
static int ticks_with_step(double lo, double hi, double step, double *ticks, int cap)
{
	const double eps = 1e-6;
	double first = ceil(lo / step - eps), last = floor(hi / step + eps);
	int n = 0;

	for (double i = first; i <= last; i++)
		n = put_tick(ticks, cap, n, i == 0 ? 0.0 : i * step);
	return n;
}

int fundus_plot_ticks(double lo, double hi, int log, int max_ticks, double *ticks, int cap)
{
	const double eps = 1e-6;
	int n = 0;

	if (!isfinite(lo) || !isfinite(hi) || lo >= hi)
		return fundus_error_set(FUNDUS_EINVAL, "tick range %g to %g is not a range", lo,
					hi);
	if (max_ticks < 2 || cap < 0 || (cap > 0 && !ticks))
		return fundus_error_set(FUNDUS_EINVAL, "ticks need max_ticks >= 2 and room");
	if (log && lo <= 0)
		return fundus_error_set(FUNDUS_EINVAL, "a log axis cannot reach 0 or below");
	if (!log)
		return ticks_with_step(lo, hi, linear_step(lo, hi, max_ticks), ticks, cap);
	double e0 = ceil(log10(lo) - eps), e1 = floor(log10(hi) + eps);
	int decades = e1 >= e0 ? (int)(e1 - e0) + 1 : 0;

	if (decades >= 2) {
		int every = (decades + max_ticks - 1) / max_ticks;

		/* Powers whose exponent is a multiple of every, so that 1 stays a tick. */
		for (double e = ceil(e0 / every) * every; e <= e1; e += every)
			n = put_tick(ticks, cap, n, pow(10, e));
		return n;
	}
	for (double e = floor(log10(lo)); e <= ceil(log10(hi)); e++) {
		static const double mant[3] = {1, 2, 5};

		for (int k = 0; k < 3; k++) {
			double v = mant[k] * pow(10, e);

			if (v >= lo * (1 - eps) && v <= hi * (1 + eps) && n < max_ticks)
				n = put_tick(ticks, cap, n, v);
		}
	}
	return n;
}

/*
 * The range of the finite points of the series on axis (of all series' x
 * when xaxis is set); *whole is set when all those values are whole numbers
 * (epochs). Returns 0 when there are none.
 */
static int data_range(const struct fundus_plot *p, int axis, int xaxis, double *lo, double *hi,
		      int *whole)
{
	int found = 0;

	*lo = DBL_MAX;
	*hi = -DBL_MAX;
	*whole = 1;
	for (int i = 0; i < p->ns; i++) {
		const struct plot_series *s = &p->s[i];
		int ylog = p->ax[s->axis].log;

		if (!xaxis && s->axis != axis)
			continue;
		for (int k = 0; k < s->n; k++) {
			double v = xaxis ? s->x[k] : s->y[k];

			if (!isfinite(s->x[k]) || !isfinite(s->y[k]) || (ylog && s->y[k] <= 0))
				continue;
			*lo = v < *lo ? v : *lo;
			*hi = v > *hi ? v : *hi;
			*whole &= v == floor(v);
			found = 1;
		}
	}
	return found;
}

/*
 * Works out the range and ticks of an axis; max_ticks from the room there
 * is. An x axis of whole numbers (epochs) gets whole ticks only.
 */
static void scale_make(struct scale *sc, const struct fundus_plot *p, int axis, int max_ticks)
{
	const struct plot_axis *a = &p->ax[axis];
	double lo, hi, step = 0;
	int auto_lo = isnan(a->min), auto_hi = isnan(a->max), whole, n;

	sc->log = a->log;
	if (!data_range(p, axis, axis == FUNDUS_PLOT_X, &lo, &hi, &whole)) {
		lo = sc->log ? 1 : 0;
		hi = sc->log ? 10 : 1;
		whole = 0;
	}
	whole &= axis == FUNDUS_PLOT_X;
	lo = auto_lo ? lo : a->min;
	hi = auto_hi ? hi : a->max;
	if (lo >= hi) {
		/* One value, or a given end on the wrong side of the data: a range around it. */
		double v = auto_lo ? hi : lo, d = fmax(fabs(v) * 0.1, 1e-9);

		if (auto_lo && auto_hi) {
			lo = sc->log ? v / 2 : v - d;
			hi = sc->log ? v * 2 : v + d;
		} else if (auto_lo) {
			lo = sc->log ? hi / 2 : hi - d;
		} else {
			hi = sc->log ? lo * 2 : lo + d;
		}
	}
	/* Widen automatic ends to a tick, so that the data end at a labelled line. */
	if (sc->log) {
		if (auto_lo)
			lo = pow(10, floor(log10(lo) + 1e-9));
		if (auto_hi)
			hi = pow(10, ceil(log10(hi) - 1e-9));
	} else {
		/*
		 * A wider range may take a coarser step, whose multiples the new
		 * ends are not: widen again until they are (the step only grows).
		 */
		for (int k = 0; k < 8; k++) {
			double l2 = lo, h2 = hi;

			step = linear_step(lo, hi, max_ticks);
			step = whole && step < 1 ? 1 : step;
			if (auto_lo)
				l2 = floor(lo / step + 1e-9) * step;
			if (auto_hi)
				h2 = ceil(hi / step - 1e-9) * step;
			if (l2 == lo && h2 == hi)
				break;
			lo = l2;
			hi = h2;
		}
	}
	if (!(lo < hi) || !isfinite(lo) || !isfinite(hi)) {
		lo = sc->log ? 1 : 0;
		hi = sc->log ? 10 : 1;
		whole = 0;
	}
	sc->lo = lo;
	sc->hi = hi;
	sc->step = 0;
	n = sc->log ? fundus_plot_ticks(lo, hi, 1, max_ticks, sc->ticks, MAX_TICKS) : 0;
	if (!sc->log || n < 2) {
		/* A log axis of less than a decade without 1-2-5 values in it gets linear ticks. */
		sc->step = linear_step(lo, hi, max_ticks);
		sc->step = whole && sc->step < 1 ? 1 : sc->step;
		n = ticks_with_step(lo, hi, sc->step, sc->ticks, MAX_TICKS);
	}
	sc->nt = n < 0 ? 0 : (n > MAX_TICKS ? MAX_TICKS : n);
}

/* The pixel position of v on sc; may be far outside for values out of range. */
static double scale_map(const struct scale *sc, double v)
{
	double t, r;

	if (sc->log)
		t = (log10_or_nan(v) - log10(sc->lo)) / (log10(sc->hi) - log10(sc->lo));
	else
		t = (v - sc->lo) / (sc->hi - sc->lo);
	r = sc->p0 + t * (sc->p1 - sc->p0);
	/* Keep far points finite and castable; the line clipper does the rest. */
	return r > 1e9 ? 1e9 : (r < -1e9 ? -1e9 : r);
}

/* The label of tick v: as many decimals as the step needs. */
static void tick_label(const struct scale *sc, double v, char *buf, size_t size)
{
	double a = fabs(v);

	if (sc->step > 0 && (a == 0 || (a >= 1e-4 && a < 1e7))) {
		int dec = (int)ceil(-log10(sc->step) - 1e-9);

		dec = dec < 0 ? 0 : (dec > 8 ? 8 : dec);
		/* Steps such as 0.25 do not happen (1, 2, 5 only), so dec digits are exact. */
		snprintf(buf, size, "%.*f", dec, v);
	} else {
		snprintf(buf, size, "%g", v);
	}
}

/* The widest tick label of sc, in pixels. */
static int widest_label(const struct scale *sc, int scale)
{
	char buf[64];
	int w, best = 0;

	for (int i = 0; i < sc->nt; i++) {
		tick_label(sc, sc->ticks[i], buf, sizeof buf);
		if (fundus_draw_text_size(buf, scale, &w, NULL) == 0 && w > best)
			best = w;
	}
	return best;
}

/* Legend layout: how many rows the entries take at width room. */
static int legend_rows(const struct fundus_plot *p, int scale, int room, int sample_w, int gap)
{
	int rows = 0, x = room; /* start "full" so that the first entry opens a row */

	for (int i = 0; i < p->ns; i++) {
		int w;

		if (!p->s[i].name || fundus_draw_text_size(p->s[i].name, scale, &w, NULL) < 0)
			continue;
		w += sample_w + gap;
		if (x + w > room && x > 0) {
			rows++;
			x = 0;
		}
		x += w + 2 * gap;
	}
	return rows;
}

/* Draws the legend rows from (x0, y) within room pixels. */
static void legend_draw(struct fundus_image *img, const struct fundus_plot *p, int scale, int x0,
			int y, int room, int sample_w, int gap, int lw)
{
	int line_h = FUNDUS_DRAW_FONT_H * scale, x = room, started = 0;

	for (int i = 0; i < p->ns; i++) {
		const struct plot_series *s = &p->s[i];
		int w, cy;

		if (!s->name || fundus_draw_text_size(s->name, scale, &w, NULL) < 0)
			continue;
		w += sample_w + gap;
		if (x + w > room && x > 0) {
			y += started ? line_h : 0;
			started = 1;
			x = 0;
		}
		cy = y + line_h / 2;
		fundus__draw_line_d(img, x0 + x, cy, x0 + x + sample_w - 1, cy, lw, s->rgb);
		fundus__draw_span(img, x0 + x + sample_w / 2 - lw - 1, cy - lw - 1,
				  x0 + x + sample_w / 2 + lw + 2, cy + lw + 2, s->rgb);
		fundus_draw_text(img, x0 + x + sample_w + gap, y, s->name, scale, ink, NULL);
		x += w + 2 * gap;
	}
}

/* Draws one series inside the plot area view (coordinates relative to it). */
static void series_draw(struct fundus_image *view, const struct plot_series *s,
			const struct scale *xs, const struct scale *ys, int ox, int oy, int lw)
{
	int dot = lw + 1, prev_ok = 0, dots;
	double px = 0, py = 0;

	/* Dots only while they stay apart; a long series is a plain line. */
	dots = s->n <= (xs->p1 - xs->p0) / (4 * dot + 1);
	for (int k = 0; k < s->n; k++) {
		int ok = isfinite(s->x[k]) && isfinite(s->y[k]) && (!ys->log || s->y[k] > 0);
		int next_ok;
		double x, y;

		if (!ok) {
			prev_ok = 0;
			continue;
		}
		x = scale_map(xs, s->x[k]) - ox;
		y = scale_map(ys, s->y[k]) - oy;
		if (prev_ok)
			fundus__draw_line_d(view, px, py, x, y, lw, s->rgb);
		next_ok = k + 1 < s->n && isfinite(s->x[k + 1]) && isfinite(s->y[k + 1]) &&
			  (!ys->log || s->y[k + 1] > 0);
		/* A point alone between gaps would vanish without its dot. */
		if ((dots || (!prev_ok && !next_ok)) && fabs(x) < 1e8 && fabs(y) < 1e8)
			fundus__draw_span(view, lround(x) - dot, lround(y) - dot,
					  lround(x) + dot + 1, lround(y) + dot + 1, s->rgb);
		px = x;
		py = y;
		prev_ok = 1;
	}
}

/* Draws the ticks and labels of a y axis at pixel column x; side -1 left, +1 right. */
static void y_axis_draw(struct fundus_image *img, const struct scale *sc, int x, int side,
			int scale, int tick, int lw)
{
	char buf[64];
	int w, h;

	for (int i = 0; i < sc->nt; i++) {
		int y = (int)lround(scale_map(sc, sc->ticks[i]));

		fundus__draw_span(img, side < 0 ? x - tick : x + 1, y - lw / 2,
				  side < 0 ? x : x + 1 + tick, y - lw / 2 + lw, frame_rgb);
		tick_label(sc, sc->ticks[i], buf, sizeof buf);
		fundus_draw_text_size(buf, scale, &w, &h);
		fundus_draw_text(img, side < 0 ? x - tick - scale * 2 - w : x + tick + scale * 3,
				 y - h / 2 + scale / 2, buf, scale, ink, NULL);
	}
}

int fundus_plot_render(const struct fundus_plot *p, int width, int height,
		       struct fundus_image **out)
{
	struct fundus_image *img, view;
	struct scale xs, ys[2];
	int scale, tscale, lw, pad, tick, line_h, char_w, sample_w, gap, top, bottom, left, right;
	int rows, tw, th, rc, has_right = 0, has_left = 0;
	char buf[64];

	if (!p)
		return fundus_error_set(FUNDUS_EINVAL, "no plot");
	memset(&xs, 0, sizeof xs);
	memset(ys, 0, sizeof ys);
	if (width < FUNDUS_PLOT_MIN_SIZE || height < FUNDUS_PLOT_MIN_SIZE)
		return fundus_error_set(FUNDUS_EINVAL,
					"a plot of %d x %d pixels is too small (%d at least)",
					width, height, FUNDUS_PLOT_MIN_SIZE);
	if (width > FUNDUS_PLOT_MAX_SIZE || height > FUNDUS_PLOT_MAX_SIZE)
		return fundus_error_set(FUNDUS_ELIMIT,
					"a plot of %d x %d pixels is more than the limit of %d",
					width, height, FUNDUS_PLOT_MAX_SIZE);
	for (int i = 0; i < p->ns; i++) {
		has_right |= p->s[i].axis == FUNDUS_PLOT_RIGHT;
		has_left |= p->s[i].axis == FUNDUS_PLOT_LEFT;
	}
	has_left |= p->ax[FUNDUS_PLOT_LEFT].set || !has_right;

	/* Sizes from the smaller side: text one font pixel per ~350 pixels. */
	scale = (int)lround(fmin(width, height) / 350.0);
	scale = scale < 1 ? 1 : scale;
	tscale = scale + (scale + 1) / 2;
	lw = scale;
	pad = 6 * scale;
	tick = 4 * scale;
	gap = FUNDUS_DRAW_FONT_W * scale;
	char_w = FUNDUS_DRAW_FONT_W * scale;
	line_h = FUNDUS_DRAW_FONT_H * scale;
	sample_w = 4 * char_w;

	/* Vertical layout first: y ticks depend on the plot area's height. */
	rows = legend_rows(p, scale, width - 2 * pad, sample_w, gap);
	top = pad + (p->title ? FUNDUS_DRAW_FONT_H * tscale + pad : 0) + rows * line_h +
	      (rows ? pad : 0);
	if (p->ax[FUNDUS_PLOT_LEFT].label || p->ax[FUNDUS_PLOT_RIGHT].label)
		top += line_h + scale * 2;
	top += line_h / 2; /* room for the top tick label, centred on the frame */
	bottom = tick + scale * 3 + line_h + (p->ax[FUNDUS_PLOT_X].label ? line_h + pad : 0) + pad;
	if (height - top - bottom < 4 * line_h)
		top = bottom = height / 4;

	for (int a = 0; a < 2; a++) {
		int room = height - top - bottom, mt = room / (line_h * 3);

		mt = mt < 2 ? 2 : (mt > 11 ? 11 : mt);
		ys[a].p0 = height - bottom - 1;
		ys[a].p1 = top;
		scale_make(&ys[a], p, a, mt);
	}
	ys[0].shown = has_left;
	ys[1].shown = has_right;
	left = pad + (has_left ? widest_label(&ys[0], scale) + tick + scale * 2 + lw : 0);
	right = pad + (has_right ? widest_label(&ys[1], scale) + tick + scale * 3 : 0);
	/* The last x label sticks out past the frame by half its width. */
	right = right < pad + 3 * char_w ? pad + 3 * char_w : right;
	if (width - left - right < 8 * char_w)
		left = right = width / 4;
	{
		int room = width - left - right, mt;

		/* A first guess at the label width, then the real one. */
		xs.p0 = left;
		xs.p1 = width - right - 1;
		mt = room / (char_w * 6);
		mt = mt < 2 ? 2 : (mt > 11 ? 11 : mt);
		scale_make(&xs, p, FUNDUS_PLOT_X, mt);
		mt = room / (widest_label(&xs, scale) + 3 * char_w);
		mt = mt < 2 ? 2 : (mt > 11 ? 11 : mt);
		scale_make(&xs, p, FUNDUS_PLOT_X, mt);
	}

	rc = fundus_image_new(&img, width, height, FUNDUS_PIX_RGB8);
	if (rc < 0)
		return rc;
	fundus__draw_span(img, 0, 0, width, height, white);

	/* Grid: x ticks and the ticks of the first y axis shown. */
	for (int i = 0; i < xs.nt; i++) {
		int x = (int)lround(scale_map(&xs, xs.ticks[i]));

		fundus__draw_span(img, x, top, x + 1, height - bottom, grid_rgb);
	}
	{
		const struct scale *g = has_left ? &ys[0] : &ys[1];

		for (int i = 0; i < g->nt; i++) {
			int y = (int)lround(scale_map(g, g->ticks[i]));

			fundus__draw_span(img, left, y, width - right, y + 1, grid_rgb);
		}
	}

	/* Series, clipped to the plot area through a view of it. */
	view = *img;
	view.data = fundus_image_pixel(img, left, top);
	view.width = width - left - right;
	view.height = height - top - bottom;
	for (int i = 0; i < p->ns; i++)
		series_draw(&view, &p->s[i], &xs, &ys[p->s[i].axis], left, top, lw);

	/* Frame, ticks and labels over the data's ends. */
	fundus__draw_span(img, left - lw, top - lw, width - right + lw, top, frame_rgb);
	fundus__draw_span(img, left - lw, height - bottom, width - right + lw, height - bottom + lw,
			  frame_rgb);
	fundus__draw_span(img, left - lw, top, left, height - bottom, frame_rgb);
	fundus__draw_span(img, width - right, top, width - right + lw, height - bottom, frame_rgb);
	for (int i = 0; i < xs.nt; i++) {
		int x = (int)lround(scale_map(&xs, xs.ticks[i]));

		fundus__draw_span(img, x - lw / 2, height - bottom + lw, x - lw / 2 + lw,
				  height - bottom + lw + tick, frame_rgb);
		tick_label(&xs, xs.ticks[i], buf, sizeof buf);
		fundus_draw_text_size(buf, scale, &tw, &th);
		fundus_draw_text(img, x - tw / 2 + scale / 2,
				 height - bottom + lw + tick + scale * 2, buf, scale, ink, NULL);
	}
	if (has_left)
		y_axis_draw(img, &ys[0], left - lw, -1, scale, tick, lw);
	if (has_right)
		y_axis_draw(img, &ys[1], width - right + lw - 1, 1, scale, tick, lw);

	/* Texts: title, legend, axis labels. */
	{
		int y = pad;

		if (p->title) {
			fundus_draw_text_size(p->title, tscale, &tw, &th);
			fundus_draw_text(img, (width - tw) / 2, y, p->title, tscale, ink, NULL);
			y += th + pad;
		}
		if (rows) {
			int lw_room = width - 2 * pad;

			legend_draw(img, p, scale, pad, y, lw_room, sample_w, gap, lw);
			y += rows * line_h + pad;
		}
		if (has_left && p->ax[FUNDUS_PLOT_LEFT].label)
			fundus_draw_text(img, pad, y, p->ax[FUNDUS_PLOT_LEFT].label, scale, ink,
					 NULL);
		if (has_right && p->ax[FUNDUS_PLOT_RIGHT].label) {
			fundus_draw_text_size(p->ax[FUNDUS_PLOT_RIGHT].label, scale, &tw, &th);
			fundus_draw_text(img, width - pad - tw, y, p->ax[FUNDUS_PLOT_RIGHT].label,
					 scale, ink, NULL);
		}
		if (p->ax[FUNDUS_PLOT_X].label) {
			const char *xl = p->ax[FUNDUS_PLOT_X].label;

			fundus_draw_text_size(xl, scale, &tw, &th);
			fundus_draw_text(img, left + (width - left - right - tw) / 2,
					 height - pad - th, xl, scale, ink, NULL);
		}
	}
	*out = img;
	return 0;
}
