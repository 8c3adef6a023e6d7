/*
 * The COCO box evaluation of one category, step for step as pycocotools'
 * COCOeval does it (evaluateImg, then accumulate), and the numpy pieces it
 * leans on (linspace, the pairwise sum behind mean). The order of every
 * comparison and of every floating-point operation follows the Python, so
 * that the numbers agree to the bit, not just to three decimals.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const int fundus__eval_max_dets[EV_M] = {1, 10, 100};

/* [0, 1e5^2], [0, 32^2], [32^2, 96^2], [96^2, 1e5^2]: Params.setDetParams(). */
const double fundus__eval_area[EV_A][2] = {
    {0.0, 1e10},
    {0.0, 1024.0},
    {1024.0, 9216.0},
    {9216.0, 1e10},
};

void fundus__eval_thresholds(double iou[EV_T], double rec[EV_R])
{
	/* np.linspace(start, stop, num): step = (stop - start) / (num - 1), y = i * step + start.
	 */
	double step = (0.95 - 0.5) / (EV_T - 1);

	for (int i = 0; i < EV_T; i++)
		iou[i] = (double)i * step + 0.5;
	iou[EV_T - 1] = 0.95;
	step = (1.0 - 0.0) / (EV_R - 1);
	for (int i = 0; i < EV_R; i++)
		rec[i] = (double)i * step + 0.0;
	rec[EV_R - 1] = 1.0;
}

double fundus__eval_iou(const double d[4], const double g[4], int crowd)
{
	/* maskApi.c bbIou(), operation for operation. */
	double ga = g[2] * g[3], da = d[2] * d[3], w, h, i, u;

	w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
	if (w <= 0)
		return 0;
	h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
	if (h <= 0)
		return 0;
	i = w * h;
	u = crowd ? da : da + ga - i;
	return i / u;
}

/* numpy's pairwise_sum for doubles (loops_utils.h.src). */
static double pairwise_sum(const double *a, size_t n)
{
	if (n < 8) {
		double res = 0.;

		for (size_t i = 0; i < n; i++)
			res += a[i];
		return res;
	}
	if (n <= 128) {
		double r[8], res;
		size_t i;

		for (int j = 0; j < 8; j++)
			r[j] = a[j];
		for (i = 8; i < n - (n % 8); i += 8)
			for (int j = 0; j < 8; j++)
				r[j] += a[i + j];
		res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	size_t n2 = n / 2;

	n2 -= n2 % 8;
	return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

double fundus__eval_np_sum(const double *a, size_t n)
{
	/* The reduction starts from the identity and takes the array a buffer (8192) at a time. */
	double res = 0.;

	for (size_t i = 0; i < n; i += 8192)
		res += pairwise_sum(a + i, n - i < 8192 ? n - i : 8192);
	return res;
}

/* A detection of the category after evaluateImg(): its score and, per area range, T-bit masks. */
struct det {
	double score;
	uint16_t matched[EV_A]; /* dtm != 0 at threshold t: bit t */
	uint16_t ignored[EV_A]; /* dtIg at threshold t */
	int pos;                /* rank within its image, 0 = highest score */
};

/* A sort key: ties in score fall back to the index, which makes qsort stable. */
struct key {
	double score;
	size_t i;
};

/* By falling score, ties in index order: np.argsort(-score, kind='mergesort'). */
static int by_score(const void *pa, const void *pb)
{
	const struct key *a = pa, *b = pb;

	if (a->score > b->score)
		return -1;
	if (a->score < b->score)
		return 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* Scratch space for one image, grown as needed. */
struct scratch {
	struct key *order; /* detections by score */
	double *iou;       /* D x G */
	size_t *gperm;     /* ground truth, ignored last */
	uint8_t *gtig;     /* gtIg in gperm order */
	uint8_t *gtm;      /* T x G: matched at threshold t, in gperm order */
	size_t cap_d, cap_g;
};

/* Grows one scratch array to n elements of size sz; returns 0 or FUNDUS_ENOMEM. */
static int grow(void *pp, size_t n, size_t sz)
{
	void **p = pp;
	size_t bytes;
	void *q;

	if (fundus_size_mul(&bytes, n ? n : 1, sz) < 0)
		return FUNDUS_ENOMEM;
	q = fundus_realloc(*p, bytes);
	if (q == NULL)
		return FUNDUS_ENOMEM;
	*p = q;
	return 0;
}

static int scratch_fit(struct scratch *s, size_t d, size_t g)
{
	size_t dg;

	if (fundus_size_mul(&dg, d ? d : 1, g ? g : 1) < 0)
		return FUNDUS_ENOMEM;
	if (d > s->cap_d || g > s->cap_g) {
		size_t nd = d > s->cap_d ? d : s->cap_d, ng = g > s->cap_g ? g : s->cap_g, tg;

		if (fundus_size_mul(&dg, nd ? nd : 1, ng ? ng : 1) < 0 ||
		    fundus_size_mul(&tg, EV_T, ng ? ng : 1) < 0)
			return FUNDUS_ENOMEM;
		if (grow(&s->order, nd, sizeof *s->order) < 0 ||
		    grow(&s->iou, dg, sizeof *s->iou) < 0 ||
		    grow(&s->gperm, ng, sizeof *s->gperm) < 0 ||
		    grow(&s->gtig, ng, sizeof *s->gtig) < 0 ||
		    grow(&s->gtm, tg, sizeof *s->gtm) < 0)
			return FUNDUS_ENOMEM;
		s->cap_d = nd;
		s->cap_g = ng;
	}
	return 0;
}

static void scratch_free(struct scratch *s)
{
	fundus_free(s->order);
	fundus_free(s->iou);
	fundus_free(s->gperm);
	fundus_free(s->gtig);
	fundus_free(s->gtm);
}

/*
 * evaluateImg() for one image at every area range: appends its (at most
 * 100) detections to dets and adds its non-ignored ground truth to npig.
 */
static void eval_image(const struct fundus__ev_image *im, const double thr[EV_T], int id0_bug,
		       struct scratch *s, struct det *dets, int64_t npig[EV_A])
{
	size_t G = im->n_gt, D = im->n_dt;

	for (size_t i = 0; i < D; i++) {
		s->order[i].score = im->dt[i].score;
		s->order[i].i = i;
	}
	qsort(s->order, D, sizeof *s->order, by_score);
	if (D > 100)
		D = 100;
	for (size_t d = 0; d < D; d++)
		for (size_t g = 0; g < G; g++)
			s->iou[d * G + g] =
			    fundus__eval_iou(im->dt[s->order[d].i].b, im->gt[g].b, im->gt[g].crowd);
	for (size_t d = 0; d < D; d++) {
		dets[d].score = im->dt[s->order[d].i].score;
		dets[d].pos = (int)d;
		memset(dets[d].matched, 0, sizeof dets[d].matched);
		memset(dets[d].ignored, 0, sizeof dets[d].ignored);
	}
	for (int a = 0; a < EV_A; a++) {
		double lo = fundus__eval_area[a][0], hi = fundus__eval_area[a][1];
		size_t k = 0;

		/* gt sorted with the ignored last, stably (argsort of _ignore, mergesort). */
		for (int pass = 0; pass < 2; pass++)
			for (size_t g = 0; g < G; g++) {
				const struct fundus__ev_box *b = &im->gt[g];
				int ig = b->crowd || b->area < lo || b->area > hi;

				if (ig == pass) {
					s->gperm[k] = g;
					s->gtig[k] = (uint8_t)ig;
					k++;
				}
			}
		for (size_t g = 0; g < G; g++)
			npig[a] += !s->gtig[g];
		memset(s->gtm, 0, (size_t)EV_T * G);
		for (int t = 0; t < EV_T && G > 0; t++) {
			for (size_t d = 0; d < D; d++) {
				double best = fmin(thr[t], 1 - 1e-10);
				long m = -1;

				for (size_t gi = 0; gi < G; gi++) {
					size_t g = s->gperm[gi];
					double v = s->iou[d * G + g];

					/* A ground truth already matched is taken again only if a
					 * crowd. */
					if (s->gtm[t * G + gi] && !im->gt[g].crowd)
						continue;
					/* Matched to a real one, and the rest are ignored: stop. */
					if (m > -1 && s->gtig[m] == 0 && s->gtig[gi] == 1)
						break;
					/* Not better than the best so far (ties go to the later
					 * one). */
					if (v < best)
						continue;
					best = v;
					m = (long)gi;
				}
				if (m == -1)
					continue;
				if (s->gtig[m])
					dets[d].ignored[a] |= (uint16_t)(1u << t);
				/* dtm holds the ground truth's id, and an id of 0 reads as no
				 * match. */
				if (!(id0_bug && im->gt[s->gperm[m]].id0))
					dets[d].matched[a] |= (uint16_t)(1u << t);
				s->gtm[t * G + (size_t)m] = 1;
			}
		}
		/* Unmatched detections outside the area range are ignored. */
		for (size_t d = 0; d < D; d++) {
			double da = im->dt[s->order[d].i].area;

			if (da < lo || da > hi)
				dets[d].ignored[a] |=
				    (uint16_t)(~dets[d].matched[a] & ((1u << EV_T) - 1));
		}
	}
}

/* Index of the first rc[i] >= v, as np.searchsorted(rc, v, side='left'); rc is non-decreasing. */
static size_t search_left(const double *rc, size_t n, double v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rc[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int fundus__eval_category(const struct fundus__ev_image *img, size_t n_img, int id0_bug,
			  struct fundus__ev_curves *out)
{
	double thr[EV_T], rthr[EV_R];
	struct scratch s = {0};
	struct det *dets = NULL;
	struct key *sel = NULL;
	size_t n_dets = 0, max_d = 0, max_g = 0;
	double *rc = NULL, *pr = NULL;
	int64_t npig[EV_A] = {0};
	int any = 0, rc_ = FUNDUS_ENOMEM;

	for (int a = 0; a < EV_A; a++) {
		for (int t = 0; t < EV_T; t++) {
			for (int r = 0; r < EV_R; r++)
				out->prec[a][t][r] = -1;
			for (int m = 0; m < EV_M; m++)
				out->rec[m][a][t] = -1;
		}
	}
	fundus__eval_thresholds(thr, rthr);
	for (size_t i = 0; i < n_img; i++) {
		size_t d = img[i].n_dt < 100 ? img[i].n_dt : 100;

		n_dets += d;
		if (img[i].n_dt > max_d)
			max_d = img[i].n_dt;
		if (img[i].n_gt > max_g)
			max_g = img[i].n_gt;
		any |= img[i].n_gt > 0 || img[i].n_dt > 0;
	}
	if (!any)
		return 0; /* every evalImgs entry None: nothing is set */
	if (scratch_fit(&s, max_d, max_g) < 0 || grow(&dets, n_dets, sizeof *dets) < 0 ||
	    grow(&sel, n_dets, sizeof *sel) < 0 || grow(&rc, n_dets, sizeof *rc) < 0 ||
	    grow(&pr, n_dets, sizeof *pr) < 0)
		goto done;

	n_dets = 0;
	for (size_t i = 0; i < n_img; i++) {
		eval_image(&img[i], thr, id0_bug, &s, dets + n_dets, npig);
		n_dets += img[i].n_dt < 100 ? img[i].n_dt : 100;
	}

	for (int m = 0; m < EV_M; m++) {
		size_t nd = 0;

		/* The first maxDet of each image, concatenated in image order, then ranked stably.
		 */
		for (size_t i = 0; i < n_dets; i++)
			if (dets[i].pos < fundus__eval_max_dets[m]) {
				sel[nd].score = dets[i].score;
				sel[nd++].i = i;
			}
		qsort(sel, nd, sizeof *sel, by_score);
		for (int a = 0; a < EV_A; a++) {
			if (npig[a] == 0)
				continue;
			for (int t = 0; t < EV_T; t++) {
				double tp = 0, fp = 0, np_ = (double)npig[a];

				for (size_t i = 0; i < nd; i++) {
					const struct det *d = &dets[sel[i].i];

					if (!(d->ignored[a] >> t & 1)) {
						if (d->matched[a] >> t & 1)
							tp += 1;
						else
							fp += 1;
					}
					rc[i] = tp / np_;
					pr[i] = tp / (fp + tp + DBL_EPSILON);
				}
				out->rec[m][a][t] = nd ? rc[nd - 1] : 0;
				if (fundus__eval_max_dets[m] != 100)
					continue;
				/* Precision made monotonic from the right, read at the recall
				 * points. */
				for (size_t i = nd; i-- > 1;)
					if (pr[i] > pr[i - 1])
						pr[i - 1] = pr[i];
				for (int r = 0; r < EV_R; r++) {
					size_t k = search_left(rc, nd, rthr[r]);

					out->prec[a][t][r] = k < nd ? pr[k] : 0;
				}
			}
		}
	}
	rc_ = 0;
done:
	scratch_free(&s);
	fundus_free(dets);
	fundus_free(sel);
	fundus_free(rc);
	fundus_free(pr);
	return rc_;
}
