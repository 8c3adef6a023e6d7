/*
 * The losses of the detection heads and their gradients with respect to
 * the head outputs.
 *
 * [centre] (after CenterNet): a penalty-reduced focal loss on the heatmap
 * against Gaussian bumps at the box centres, and L1 losses on the centre
 * offset and the log of the size. The offset and size are learnt on the
 * 3 x 3 cells around each centre (weighted by the bump), not only at it,
 * so that a peak one cell off still gives the right box.
 *
 * [yolo] (after YOLOv3): each box belongs to the anchor of best shape
 * in each head, in the cell of its centre; sigmoid centre and log size
 * with squared errors weighted 2 - area, objectness and classes with
 * binary cross-entropy, predictions that overlap a box by more than
 * ignore_thresh not punished as background.
 */
#include <math.h>
#include <string.h>

#include "detect/internal.h"
#include "train/internal.h"

static float sigmoid(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

static float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The sign of a difference (the gradient of |d|). */
static float sgn(float d)
{
	return d > 0 ? 1.0f : d < 0 ? -1.0f : 0.0f;
}

void fundus__loss_centre(const float *out, float *grad, int classes, int h, int w, float sx,
			 float sy, const struct fundus_box *boxes, const int *labels, int n,
			 float norm, double part[3])
{
	size_t plane = (size_t)h * (size_t)w;
	const float *reg = out + (size_t)classes * plane;
	float *greg = grad + (size_t)classes * plane;
	float npos = n > 0 ? (float)n : 1.0f;
	double lh = 0, lo = 0, ls = 0;

	/* Heatmap: grad holds the target first, then the gradient replaces it. */
	for (size_t i = 0; i < (size_t)classes * plane; i++)
		grad[i] = 0;
	for (int b = 0; b < n; b++) {
		const struct fundus_box *bx = &boxes[b];
		float cx = (float)(bx->x0 + bx->x1) / 2 / sx, cy = (float)(bx->y0 + bx->y1) / 2 / sy;
		float bw = (float)(bx->x1 - bx->x0) / sx, bh = (float)(bx->y1 - bx->y0) / sy;
		float sigma = fmaxf(0.5f, sqrtf(fmaxf(bw * bh, 0)) / 8);
		int ix = (int)clampf(floorf(cx), 0, (float)w - 1), iy = (int)clampf(floorf(cy), 0, (float)h - 1);
		int rad = (int)ceilf(3 * sigma);
		float *t = grad + (size_t)labels[b] * plane;

		for (int y = iy - rad; y <= iy + rad; y++)
			for (int x = ix - rad; x <= ix + rad; x++) {
				float d2, v;

				if (x < 0 || y < 0 || x >= w || y >= h)
					continue;
				d2 = (float)((x - ix) * (x - ix) + (y - iy) * (y - iy));
				v = expf(-d2 / (2 * sigma * sigma));
				if (x == ix && y == iy)
					v = 1;
				if (v > t[(size_t)y * w + x])
					t[(size_t)y * w + x] = v;
			}
	}
	for (size_t i = 0; i < (size_t)classes * plane; i++) {
		float y = grad[i], p = clampf(sigmoid(out[i]), 1e-4f, 1 - 1e-4f), g;

		if (y >= 1) {
			lh += -(1 - p) * (1 - p) * logf(p);
			g = 2 * p * (1 - p) * (1 - p) * logf(p) - (1 - p) * (1 - p) * (1 - p);
		} else {
			float q = (1 - y) * (1 - y);

			q *= q;
			lh += -q * p * p * logf(1 - p);
			g = -q * (2 * p * p * (1 - p) * logf(1 - p) - p * p * p);
		}
		grad[i] = g * norm / npos;
	}
	/* Offset and size around each centre. */
	for (size_t i = 0; i < 4 * plane; i++)
		greg[i] = 0;
	for (int b = 0; b < n; b++) {
		const struct fundus_box *bx = &boxes[b];
		float cx = (float)(bx->x0 + bx->x1) / 2 / sx, cy = (float)(bx->y0 + bx->y1) / 2 / sy;
		float lw = logf(fmaxf((float)(bx->x1 - bx->x0) / sx, 1e-3f));
		float lhh = logf(fmaxf((float)(bx->y1 - bx->y0) / sy, 1e-3f));
		int ix = (int)clampf(floorf(cx), 0, (float)w - 1), iy = (int)clampf(floorf(cy), 0, (float)h - 1);

		for (int y = iy - 1; y <= iy + 1; y++)
			for (int x = ix - 1; x <= ix + 1; x++) {
				size_t at = (size_t)y * w + x;
				float wt = (x == ix && y == iy) ? 1.0f : 0.5f, d[4];

				if (x < 0 || y < 0 || x >= w || y >= h)
					continue;
				d[0] = reg[at] - (cx - (float)x);
				d[1] = reg[plane + at] - (cy - (float)y);
				d[2] = reg[2 * plane + at] - lw;
				d[3] = reg[3 * plane + at] - lhh;
				lo += wt * (fabsf(d[0]) + fabsf(d[1]));
				ls += wt * (fabsf(d[2]) + fabsf(d[3]));
				for (int k = 0; k < 4; k++)
					greg[(size_t)k * plane + at] += wt * sgn(d[k]) * norm / npos;
			}
	}
	part[0] += lh / npos;
	part[1] += lo / npos;
	part[2] += ls / npos;
}

/* IoU of two boxes given by centre and size. */
static float iou_cwh(float ax, float ay, float aw, float ah, float bx, float by, float bw, float bh)
{
	float ix = fminf(ax + aw / 2, bx + bw / 2) - fmaxf(ax - aw / 2, bx - bw / 2);
	float iy = fminf(ay + ah / 2, by + bh / 2) - fmaxf(ay - ah / 2, by - bh / 2);
	float inter, uni;

	if (ix <= 0 || iy <= 0)
		return 0;
	inter = ix * iy;
	uni = aw * ah + bw * bh - inter;
	return uni > 0 ? inter / uni : 0;
}

/* The anchor of best shape for a box (-1 for an empty box) and its cell. */
static int assign(const struct fundus__head *hd, const struct fundus_box *bx, int w, int h, float sx,
		  float sy, size_t *at)
{
	float bw = (float)(bx->x1 - bx->x0), bh = (float)(bx->y1 - bx->y0), best = -1;
	int a = -1, ix, iy;

	if (bw <= 0 || bh <= 0)
		return -1;
	for (int k = 0; k < hd->nmask; k++) {
		float v = iou_cwh(0, 0, bw, bh, 0, 0, hd->anchor_w[k], hd->anchor_h[k]);

		if (v > best) {
			best = v;
			a = k;
		}
	}
	ix = (int)clampf(floorf((float)(bx->x0 + bx->x1) / 2 / sx), 0, (float)w - 1);
	iy = (int)clampf(floorf((float)(bx->y0 + bx->y1) / 2 / sy), 0, (float)h - 1);
	*at = (size_t)iy * w + ix;
	return a;
}

/* 1 when anchor a of cell at is assigned a box. */
static int assigned(const struct fundus__head *hd, const struct fundus_box *boxes, int n, int w,
		    int h, float sx, float sy, int a, size_t at)
{
	for (int b = 0; b < n; b++) {
		size_t cell;

		if (assign(hd, &boxes[b], w, h, sx, sy, &cell) == a && cell == at)
			return 1;
	}
	return 0;
}

void fundus__loss_yolo(const struct fundus__head *hd, const float *out, float *grad, int h, int w,
		       float sx, float sy, const struct fundus_box *boxes, const int *labels,
		       int n, float norm, double part[3])
{
	size_t plane = (size_t)h * (size_t)w;
	int per = hd->classes + 5;
	float s = hd->scale_x_y, npos = n > 0 ? (float)n : 1.0f;
	double lobj = 0, lbox = 0, lcls = 0;

	/* Background everywhere, except predictions already overlapping a box
	   and the cells that boxes are assigned to (below). */
	for (int a = 0; a < hd->nmask; a++) {
		const float *base = out + (size_t)a * (size_t)per * plane;
		float *gb = grad + (size_t)a * (size_t)per * plane;

		for (size_t at = 0; at < plane; at++) {
			int x = (int)(at % (size_t)w), y = (int)(at / (size_t)w);
			float px = ((float)x + sigmoid(base[at]) * s - (s - 1) / 2) * sx;
			float py = ((float)y + sigmoid(base[plane + at]) * s - (s - 1) / 2) * sy;
			float pw = expf(clampf(base[2 * plane + at], -12, 12)) * hd->anchor_w[a];
			float ph = expf(clampf(base[3 * plane + at], -12, 12)) * hd->anchor_h[a];
			float best = 0, p = sigmoid(base[4 * plane + at]);

			for (int k = 0; k < per; k++)
				gb[(size_t)k * plane + at] = 0;
			if (assigned(hd, boxes, n, w, h, sx, sy, a, at))
				continue;
			for (int b = 0; b < n; b++) {
				const struct fundus_box *bx = &boxes[b];
				float v = iou_cwh(px, py, pw, ph, (float)(bx->x0 + bx->x1) / 2,
						  (float)(bx->y0 + bx->y1) / 2, (float)(bx->x1 - bx->x0),
						  (float)(bx->y1 - bx->y0));

				best = fmaxf(best, v);
			}
			if (best > 0.7f)
				continue;
			lobj += -logf(clampf(1 - p, 1e-6f, 1));
			gb[4 * plane + at] = p * norm / npos;
		}
	}
	for (int b = 0; b < n; b++) {
		const struct fundus_box *bx = &boxes[b];
		float cx = (float)(bx->x0 + bx->x1) / 2, cy = (float)(bx->y0 + bx->y1) / 2;
		float bw = (float)(bx->x1 - bx->x0), bh = (float)(bx->y1 - bx->y0);
		size_t at = 0;
		int a = assign(hd, bx, w, h, sx, sy, &at), ix, iy;
		float tx, ty, tw, th, wt;
		const float *base;
		float *gb;

		if (a < 0)
			continue;
		ix = (int)(at % (size_t)w);
		iy = (int)(at / (size_t)w);
		base = out + (size_t)a * (size_t)per * plane;
		gb = grad + (size_t)a * (size_t)per * plane;
		tx = clampf((cx / sx - (float)ix + (s - 1) / 2) / s, 0, 1);
		ty = clampf((cy / sy - (float)iy + (s - 1) / 2) / s, 0, 1);
		tw = logf(bw / hd->anchor_w[a]);
		th = logf(bh / hd->anchor_h[a]);
		wt = 2 - (bw * bh) / ((float)w * sx * (float)h * sy);
		{
			float px = sigmoid(base[at]), py = sigmoid(base[plane + at]);
			float dw = base[2 * plane + at] - tw, dh = base[3 * plane + at] - th;
			float p = sigmoid(base[4 * plane + at]);

			lbox += wt * ((px - tx) * (px - tx) + (py - ty) * (py - ty) + dw * dw + dh * dh);
			gb[at] = wt * 2 * (px - tx) * px * (1 - px) * norm / npos;
			gb[plane + at] = wt * 2 * (py - ty) * py * (1 - py) * norm / npos;
			gb[2 * plane + at] = wt * 2 * dw * norm / npos;
			gb[3 * plane + at] = wt * 2 * dh * norm / npos;
			lobj += -logf(clampf(p, 1e-6f, 1));
			gb[4 * plane + at] = (p - 1) * norm / npos;
			for (int k = 0; k < hd->classes; k++) {
				float q = sigmoid(base[(size_t)(5 + k) * plane + at]);
				float t = k == labels[b] ? 1.0f : 0.0f;

				lcls += -(t * logf(clampf(q, 1e-6f, 1)) +
					  (1 - t) * logf(clampf(1 - q, 1e-6f, 1)));
				gb[(size_t)(5 + k) * plane + at] = (q - t) * norm / npos;
			}
		}
	}
	part[0] += lobj / npos;
	part[1] += lcls / npos;
	part[2] += lbox / npos;
}
