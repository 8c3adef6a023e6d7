/* Agreement between annotators: box overlap and chance-corrected agreement on answers. */
#include <math.h>

#include "internal.h"

double fundus_box_iou(const struct fundus_box *a, const struct fundus_box *b)
{
	double ix = fmin(a->x1, b->x1) - fmax(a->x0, b->x0);
	double iy = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
	double aa = (a->x1 - a->x0) * (a->y1 - a->y0);
	double ab = (b->x1 - b->x0) * (b->y1 - b->y0);
	double inter, uni;

	if (!(a->x1 > a->x0 && a->y1 > a->y0 && b->x1 > b->x0 && b->y1 > b->y0))
		return 0.0;
	if (ix <= 0 || iy <= 0)
		return 0.0;
	inter = ix * iy;
	uni = aa + ab - inter;
	return uni > 0 ? inter / uni : 0.0;
}

int fundus_agree_cohen(const size_t *table, int k, double *kappa, double *po, double *pe)
{
	double n = 0, agree = 0, chance = 0;

	if (k < 1)
		return fundus_error_set(FUNDUS_EINVAL, "no categories");
	for (int r = 0; r < k; r++)
		for (int c = 0; c < k; c++)
			n += (double)table[r * k + c];
	if (n == 0)
		return fundus_error_set(FUNDUS_EINVAL, "no items rated by both");
	for (int j = 0; j < k; j++) {
		double row = 0, col = 0;

		for (int i = 0; i < k; i++) {
			row += (double)table[j * k + i];
			col += (double)table[i * k + j];
		}
		agree += (double)table[j * k + j];
		chance += (row / n) * (col / n);
	}
	agree /= n;
	if (po)
		*po = agree;
	if (pe)
		*pe = chance;
	*kappa = chance >= 1.0 - 1e-12 ? NAN : (agree - chance) / (1.0 - chance);
	return 0;
}

int fundus_agree_fleiss(const size_t *counts, size_t n, int k, double *kappa, double *po,
			double *pe)
{
	double items = 0, ratings = 0, pbar = 0, chance = 0;

	if (k < 1)
		return fundus_error_set(FUNDUS_EINVAL, "no categories");
	for (size_t i = 0; i < n; i++) {
		double ni = 0, sq = 0;

		for (int j = 0; j < k; j++) {
			double c = (double)counts[i * (size_t)k + (size_t)j];

			ni += c;
			sq += c * c;
		}
		if (ni < 2)
			continue;
		/* The share of agreeing pairs among this item's pairs of ratings. */
		pbar += (sq - ni) / (ni * (ni - 1));
		items++;
		ratings += ni;
	}
	if (items == 0)
		return fundus_error_set(FUNDUS_EINVAL, "no item rated twice");
	pbar /= items;
	for (int j = 0; j < k; j++) {
		double col = 0;

		for (size_t i = 0; i < n; i++) {
			double ni = 0;

			for (int c = 0; c < k; c++)
				ni += (double)counts[i * (size_t)k + (size_t)c];
			if (ni >= 2)
				col += (double)counts[i * (size_t)k + (size_t)j];
		}
		chance += (col / ratings) * (col / ratings);
	}
	if (po)
		*po = pbar;
	if (pe)
		*pe = chance;
	*kappa = chance >= 1.0 - 1e-12 ? NAN : (pbar - chance) / (1.0 - chance);
	return 0;
}
