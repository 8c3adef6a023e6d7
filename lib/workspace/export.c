/*
 * The export: the annotators' journals merged into one record per image
 * (boxes clustered by IoU and averaged, answers by majority), and the
 * agreement report (IoU between annotators' boxes, kappa per question).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "record/json.h"

void fundus_export_options_default(struct fundus_export_options *o)
{
	o->min_annotators = 1;
	o->min_votes = 0;
	o->iou = 0.5;
}

/* A growing array of doubles. */
struct dvec {
	double *v;
	size_t n, cap;
};

static int dvec_push(struct dvec *d, double x)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		double *v = fundus_realloc(d->v, cap * sizeof *v);

		if (v == NULL)
			return FUNDUS_ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n++] = x;
	return 0;
}

/* One rating of an item for the kappa of one question (or one option of a multi question). */
struct rating {
	size_t item;
	int who;
	int cat;
};

struct qstat {
	char id[2 * FUNDUS_WORKSPACE_MAX_NAME + 2]; /* "quality" or "findings=drusen" */
	const struct fundus_question *q;
	int option;  /* a multi question's option, else -1 */
	char **cats; /* category names: fixed ones, or free texts as seen */
	int n_cats, cap_cats, own_cats;
	struct rating *r;
	size_t n, cap;
};

/* Per-annotator counts for the report. */
struct who_stat {
	size_t done, skipped, flagged, boxes, from_proposals;
	struct dvec secs;
};

static const char *const yesno[] = {"yes", "no"};

/* Sets *cat to the index of category s (added when the question takes free text), or -1. */
static int qstat_cat(struct qstat *qs, const char *s, int *cat)
{
	*cat = -1;
	for (int c = 0; c < qs->n_cats; c++)
		if (strcmp(qs->cats[c], s) == 0) {
			*cat = c;
			return 0;
		}
	if (!qs->own_cats)
		return 0;
	if (qs->n_cats == qs->cap_cats) {
		int cap = qs->cap_cats ? qs->cap_cats * 2 : 8;
		char **c = fundus_realloc(qs->cats, (size_t)cap * sizeof *c);

		if (c == NULL)
			return FUNDUS_ENOMEM;
		qs->cats = c;
		qs->cap_cats = cap;
	}
	if ((qs->cats[qs->n_cats] = fundus_strdup(s)) == NULL)
		return FUNDUS_ENOMEM;
	*cat = qs->n_cats++;
	return 0;
}

static int qstat_rate(struct qstat *qs, size_t item, int who, int cat)
{
	if (qs->n == qs->cap) {
		size_t cap = qs->cap ? qs->cap * 2 : 64;
		struct rating *r = fundus_realloc(qs->r, cap * sizeof *r);

		if (r == NULL)
			return FUNDUS_ENOMEM;
		qs->r = r;
		qs->cap = cap;
	}
	qs->r[qs->n++] = (struct rating){item, who, cat};
	return 0;
}

/* The value an entry gave to a question (its "answers" member), or NULL. */
static const cJSON *answer_value(const cJSON *answers, const char *id)
{
	const cJSON *a = answers ? cJSON_GetObjectItemCaseSensitive(answers, id) : NULL;

	return a ? cJSON_GetObjectItemCaseSensitive(a, "value") : NULL;
}

/* Whether a multi answer holds option opt. */
static int multi_has(const cJSON *v, const char *opt)
{
	const cJSON *e;

	cJSON_ArrayForEach(e,
			   v) if (cJSON_IsString(e) && strcmp(e->valuestring, opt) == 0) return 1;
	return 0;
}

/*
 * The majority answer to q among n answer objects (some NULL): a new
 * {"value", "by", ["votes", "of"]} or NULL in *out when nobody answered.
 * Ties go to the earlier choice (for yes/no: yes), free text to the
 * smaller string, so that the result does not depend on file order.
 */
static int majority(const struct fundus_question *q, const cJSON *const *answers,
		    const char *const *names, size_t n, cJSON **out)
{
	const cJSON *vals[64];
	const char *who = NULL;
	size_t m = 0, best_votes = 0;
	const cJSON *best = NULL;
	cJSON *o, *v = NULL;

	*out = NULL;
	for (size_t k = 0; k < n && m < 64; k++) {
		const cJSON *x = answer_value(answers[k], q->id);

		if (x && fundus_question_check_value(q, x) == 0) {
			vals[m++] = x;
			who = names[k];
		}
	}
	if (m == 0)
		return 0;
	if (q->type == FUNDUS_QUESTION_MULTI) {
		if ((v = cJSON_CreateArray()) == NULL)
			return FUNDUS_ENOMEM;
		for (int c = 0; c < q->n_choices; c++) {
			size_t votes = 0;

			for (size_t k = 0; k < m; k++)
				votes += (size_t)multi_has(vals[k], q->choices[c]);
			if (2 * votes >= m && votes > 0) {
				cJSON *s = cJSON_CreateString(q->choices[c]);

				if (s == NULL || !cJSON_AddItemToArray(v, s)) {
					cJSON_Delete(s);
					cJSON_Delete(v);
					return FUNDUS_ENOMEM;
				}
			}
		}
	} else {
		for (size_t k = 0; k < m; k++) {
			size_t votes = 0;
			int better;

			for (size_t l = 0; l < m; l++)
				votes += strcmp(vals[k]->valuestring, vals[l]->valuestring) == 0;
			better = votes > best_votes;
			if (!better && votes == best_votes && best) {
				if (q->type == FUNDUS_QUESTION_TEXT) {
					better =
					    strcmp(vals[k]->valuestring, best->valuestring) < 0;
				} else {
					int a = -1, b = -1;

					for (int c = 0;
					     c <
					     (q->type == FUNDUS_QUESTION_YESNO ? 2 : q->n_choices);
					     c++) {
						const char *ch = q->type == FUNDUS_QUESTION_YESNO
								     ? yesno[c]
								     : q->choices[c];

						if (strcmp(ch, vals[k]->valuestring) == 0)
							a = c;
						if (strcmp(ch, best->valuestring) == 0)
							b = c;
					}
					better = a < b;
				}
			}
			if (better) {
				best = vals[k];
				best_votes = votes;
			}
		}
		if ((v = cJSON_CreateString(best->valuestring)) == NULL)
			return FUNDUS_ENOMEM;
	}
	o = cJSON_CreateObject();
	if (o == NULL || !cJSON_AddItemToObject(o, "value", v)) {
		cJSON_Delete(o);
		cJSON_Delete(v);
		return FUNDUS_ENOMEM;
	}
	if (!cJSON_AddStringToObject(o, "by", m == 1 ? who : "consensus") ||
	    (m > 1 && q->type != FUNDUS_QUESTION_MULTI &&
	     !cJSON_AddNumberToObject(o, "votes", (double)best_votes)) ||
	    (m > 1 && !cJSON_AddNumberToObject(o, "of", (double)m))) {
		cJSON_Delete(o);
		return FUNDUS_ENOMEM;
	}
	*out = o;
	return 0;
}

/* One box of one annotator, for clustering. */
struct ebox {
	int member; /* index among the image's done entries */
	const struct fundus_object *o;
	int cluster;
};

struct pair {
	int a, b;
	double iou;
};

static int cmp_pair(const void *x, const void *y)
{
	const struct pair *p = x, *q = y;

	if (p->iou != q->iou)
		return p->iou < q->iou ? 1 : -1;
	if (p->a != q->a)
		return p->a - q->a;
	return p->b - q->b;
}

/* The mean box of cluster c. */
static struct fundus_box cluster_mean(const struct ebox *b, int n, int c, int *votes)
{
	struct fundus_box m = {0, 0, 0, 0};
	int k = 0;

	for (int i = 0; i < n; i++) {
		if (b[i].cluster != c)
			continue;
		m.x0 += b[i].o->bbox.x0;
		m.y0 += b[i].o->bbox.y0;
		m.x1 += b[i].o->bbox.x1;
		m.y1 += b[i].o->bbox.y1;
		k++;
	}
	if (k) {
		m.x0 /= k;
		m.y0 /= k;
		m.x1 /= k;
		m.y1 /= k;
	}
	*votes = k;
	return m;
}

/* Mean coordinates are written with at most 3 decimals: averages of pixels need no more. */
static double tidy(double v)
{
	return round(v * 1000) / 1000;
}

/*
 * Clusters the boxes of the image's done entries and adds the consensus
 * objects to r. ents/names: the n_ent done entries and their annotators.
 */
static int consensus_boxes(const struct fundus_workspace_config *cfg,
			   const struct fundus_export_options *o, struct fundus__jent *const *ents,
			   const char *const *names, int n_ent, struct fundus_record *r)
{
	struct ebox *b = NULL;
	struct pair *p = NULL;
	uint64_t *mask = NULL;
	size_t np = 0;
	int nb = 0, rc = 0, min_votes = o->min_votes > 0 ? o->min_votes : (n_ent + 1) / 2;

	for (int e = 0; e < n_ent; e++)
		nb += (int)ents[e]->rec->n_objects;
	if (nb == 0)
		return 0;
	b = fundus_calloc((size_t)nb, sizeof *b);
	p = fundus_calloc((size_t)nb * (size_t)nb / 2 + 1, sizeof *p);
	mask = fundus_calloc((size_t)nb, sizeof *mask);
	if (b == NULL || p == NULL || mask == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	nb = 0;
	for (int e = 0; e < n_ent; e++)
		for (size_t k = 0; k < ents[e]->rec->n_objects; k++) {
			b[nb] = (struct ebox){e, &ents[e]->rec->objects[k], nb};
			mask[nb] = (uint64_t)1 << (e & 63);
			nb++;
		}
	for (int x = 0; x < nb; x++)
		for (int y = x + 1; y < nb; y++) {
			double iou;

			if (b[x].member == b[y].member || strcmp(b[x].o->label, b[y].o->label) != 0)
				continue;
			iou = fundus_box_iou(&b[x].o->bbox, &b[y].o->bbox);
			if (iou >= o->iou)
				p[np++] = (struct pair){x, y, iou};
		}
	qsort(p, np, sizeof *p, cmp_pair);
	for (size_t k = 0; k < np; k++) {
		int ca = b[p[k].a].cluster, cb = b[p[k].b].cluster, va, vb;
		struct fundus_box ma, mb;

		if (ca == cb || (mask[ca] & mask[cb]))
			continue;
		ma = cluster_mean(b, nb, ca, &va);
		mb = cluster_mean(b, nb, cb, &vb);
		if (fundus_box_iou(&ma, &mb) < o->iou)
			continue;
		for (int i = 0; i < nb; i++)
			if (b[i].cluster == cb)
				b[i].cluster = ca;
		mask[ca] |= mask[cb];
	}
	/* One object per cluster, in the order its first box came. */
	for (int c = 0; c < nb && rc == 0; c++) {
		const cJSON *ans[64];
		const char *who[64];
		struct fundus_object *no;
		struct fundus_box m;
		int votes, first = -1, na = 0;

		m = cluster_mean(b, nb, c, &votes);
		if (votes == 0 || votes < min_votes)
			continue;
		for (int i = 0; i < nb; i++)
			if (b[i].cluster == c) {
				if (first < 0)
					first = i;
				if (na < 64) {
					ans[na] = b[i].o->extra ? cJSON_GetObjectItemCaseSensitive(
								      b[i].o->extra, "answers")
								: NULL;
					who[na++] = names[b[i].member];
				}
			}
		m = (struct fundus_box){tidy(m.x0), tidy(m.y0), tidy(m.x1), tidy(m.y1)};
		if ((rc = fundus_record_add_object(r, b[first].o->label, &m, NAN,
						   votes == 1 ? names[b[first].member]
							      : "consensus")) < 0)
			break;
		no = &r->objects[r->n_objects - 1];
		if (n_ent == 1) {
			/* One annotator: the object as drawn, with "from" and its answers. */
			if (b[first].o->extra &&
			    (no->extra = cJSON_Duplicate(b[first].o->extra, 1)) == NULL)
				rc = FUNDUS_ENOMEM;
			continue;
		}
		if ((no->extra = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddNumberToObject(no->extra, "votes", votes)) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		for (int qi = 0; qi < cfg->n_questions && rc == 0; qi++) {
			const struct fundus_question *q = &cfg->questions[qi];
			cJSON *one, *box_answers;

			if (q->scope != FUNDUS_SCOPE_BOX)
				continue;
			if ((rc = majority(q, ans, who, (size_t)na, &one)) < 0 || one == NULL)
				continue;
			box_answers = cJSON_GetObjectItemCaseSensitive(no->extra, "answers");
			if (box_answers == NULL)
				box_answers = cJSON_AddObjectToObject(no->extra, "answers");
			if (box_answers == NULL ||
			    !cJSON_AddItemToObject(box_answers, q->id, one)) {
				cJSON_Delete(one);
				rc = FUNDUS_ENOMEM;
			}
		}
	}
out:
	fundus_free(b);
	fundus_free(p);
	fundus_free(mask);
	return rc;
}

/* Greedy IoU matching of two annotators' boxes of one image, for the report. */
static int match_pair(const struct fundus_record *a, const struct fundus_record *b,
		      struct dvec *ious, size_t *unmatched)
{
	size_t na = a->n_objects, nb = b->n_objects, np = 0;
	struct pair *p = fundus_calloc(na * nb + 1, sizeof *p);
	char *used_a = fundus_calloc(na + 1, 1), *used_b = fundus_calloc(nb + 1, 1);
	size_t matched = 0;
	int rc = 0;

	if (p == NULL || used_a == NULL || used_b == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	for (size_t x = 0; x < na; x++)
		for (size_t y = 0; y < nb; y++) {
			double iou = fundus_box_iou(&a->objects[x].bbox, &b->objects[y].bbox);

			if (iou > 0 && strcmp(a->objects[x].label, b->objects[y].label) == 0)
				p[np++] = (struct pair){(int)x, (int)y, iou};
		}
	qsort(p, np, sizeof *p, cmp_pair);
	for (size_t k = 0; k < np && rc == 0; k++) {
		if (used_a[p[k].a] || used_b[p[k].b])
			continue;
		used_a[p[k].a] = used_b[p[k].b] = 1;
		matched++;
		rc = dvec_push(ious, p[k].iou);
	}
	*unmatched += na + nb - 2 * matched;
out:
	fundus_free(p);
	fundus_free(used_a);
	fundus_free(used_b);
	return rc;
}

/* Adds a number, or null when it is not finite, rounded to 4 decimals. */
static int add_num(cJSON *o, const char *key, double v)
{
	if (!isfinite(v))
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddNumberToObject(o, key, round(v * 10000) / 10000) != NULL;
}

/* Kappa of one question from its ratings; adds the question's entry to arr. */
static int kappa_entry(struct qstat *qs, size_t n_items, int n_who, cJSON *arr)
{
	int k = qs->n_cats, raters[2] = {-1, -1}, n_raters = 0, rc = 0;
	size_t *per = NULL, *counts = NULL, items = 0;
	double kappa = NAN, po = NAN, pe = NAN;
	const char *method = "none";
	cJSON *o;

	/* Ratings per item, to keep items rated twice or more. */
	per = fundus_calloc(n_items + 1, sizeof *per);
	if (per == NULL)
		return FUNDUS_ENOMEM;
	for (size_t r = 0; r < qs->n; r++)
		per[qs->r[r].item]++;
	{
		char *seen = fundus_calloc((size_t)n_who + 1, 1);

		if (seen == NULL) {
			fundus_free(per);
			return FUNDUS_ENOMEM;
		}
		for (size_t r = 0; r < qs->n; r++) {
			if (per[qs->r[r].item] < 2 || seen[qs->r[r].who])
				continue;
			seen[qs->r[r].who] = 1;
			if (n_raters < 2)
				raters[n_raters] = qs->r[r].who;
			n_raters++;
		}
		fundus_free(seen);
	}
	for (size_t i = 0; i < n_items; i++)
		items += per[i] >= 2;
	if (k > 0 && items > 0 && n_raters == 2) {
		/* The same two people rated every item: Cohen's kappa. */
		size_t *table = fundus_calloc((size_t)k * (size_t)k, sizeof *table);
		int *first = fundus_malloc((n_items + 1) * sizeof *first);

		if (table == NULL || first == NULL) {
			fundus_free(table);
			fundus_free(first);
			rc = FUNDUS_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n_items; i++)
			first[i] = -1;
		for (size_t r = 0; r < qs->n; r++)
			if (qs->r[r].who == raters[0])
				first[qs->r[r].item] = qs->r[r].cat;
		for (size_t r = 0; r < qs->n; r++)
			if (qs->r[r].who == raters[1] && first[qs->r[r].item] >= 0)
				table[(size_t)first[qs->r[r].item] * (size_t)k +
				      (size_t)qs->r[r].cat]++;
		if (fundus_agree_cohen(table, k, &kappa, &po, &pe) == 0)
			method = "cohen";
		fundus_free(table);
		fundus_free(first);
	} else if (k > 0 && items > 0) {
		counts = fundus_calloc(n_items * (size_t)k, sizeof *counts);
		if (counts == NULL) {
			rc = FUNDUS_ENOMEM;
			goto out;
		}
		for (size_t r = 0; r < qs->n; r++)
			counts[qs->r[r].item * (size_t)k + (size_t)qs->r[r].cat]++;
		if (fundus_agree_fleiss(counts, n_items, k, &kappa, &po, &pe) == 0)
			method = "fleiss";
	}
	fundus_error_clear();
	o = cJSON_CreateObject();
	if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	if (!cJSON_AddStringToObject(o, "id", qs->id) ||
	    !cJSON_AddNumberToObject(o, "items", (double)items) ||
	    !cJSON_AddNumberToObject(o, "raters", n_raters) ||
	    !cJSON_AddStringToObject(o, "method", method) || !add_num(o, "kappa", kappa) ||
	    !add_num(o, "observed", po) || !add_num(o, "expected", pe))
		rc = FUNDUS_ENOMEM;
out:
	fundus_free(per);
	fundus_free(counts);
	return rc;
}

/* Sets up one kappa accumulator per image question (one per option of a multi question). */
static int qstats_new(const struct fundus_workspace_config *cfg, struct qstat **out, int *n)
{
	struct qstat *qs;
	int m = 0;

	*out = NULL;
	*n = 0;
	qs = fundus_calloc((size_t)cfg->n_questions * FUNDUS_WORKSPACE_MAX_CHOICES + 1, sizeof *qs);
	if (qs == NULL)
		return FUNDUS_ENOMEM;
	for (int i = 0; i < cfg->n_questions; i++) {
		const struct fundus_question *q = &cfg->questions[i];

		if (q->scope != FUNDUS_SCOPE_IMAGE)
			continue;
		if (q->type == FUNDUS_QUESTION_MULTI) {
			for (int c = 0; c < q->n_choices; c++, m++) {
				snprintf(qs[m].id, sizeof qs[m].id, "%s=%s", q->id, q->choices[c]);
				qs[m].q = q;
				qs[m].option = c;
				qs[m].cats = (char **)yesno;
				qs[m].n_cats = 2;
			}
			continue;
		}
		snprintf(qs[m].id, sizeof qs[m].id, "%s", q->id);
		qs[m].q = q;
		qs[m].option = -1;
		if (q->type == FUNDUS_QUESTION_YESNO) {
			qs[m].cats = (char **)yesno;
			qs[m].n_cats = 2;
		} else if (q->type == FUNDUS_QUESTION_CHOICE) {
			qs[m].cats = q->choices;
			qs[m].n_cats = q->n_choices;
		} else {
			qs[m].own_cats = 1;
		}
		m++;
	}
	*out = qs;
	*n = m;
	return 0;
}

static void qstats_free(struct qstat *qs, int n)
{
	for (int i = 0; qs && i < n; i++) {
		if (qs[i].own_cats) {
			for (int c = 0; c < qs[i].n_cats; c++)
				fundus_free(qs[i].cats[c]);
			fundus_free(qs[i].cats);
		}
		fundus_free(qs[i].r);
	}
	fundus_free(qs);
}

/* Records the answers of one done entry (annotator who) to image item for the kappas. */
static int rate_entry(struct qstat *qs, int n_qs, const struct fundus__jent *e, size_t item)
{
	for (int k = 0; k < n_qs; k++) {
		const cJSON *v = answer_value(e->rec->answers, qs[k].q->id);
		int cat, rc;

		if (v == NULL || fundus_question_check_value(qs[k].q, v) < 0)
			continue;
		if (qs[k].option >= 0)
			cat = multi_has(v, qs[k].q->choices[qs[k].option]) ? 0 : 1;
		else if ((rc = qstat_cat(&qs[k], v->valuestring, &cat)) < 0)
			return rc;
		if (cat >= 0 && (rc = qstat_rate(&qs[k], item, e->who, cat)) < 0)
			return rc;
	}
	fundus_error_clear();
	return 0;
}

/* Builds the record of image i from its done entries; writes it. */
static int export_image(struct fundus_workspace *ws, const struct fundus_export_options *o,
			struct fundus__journals *j, size_t i, struct fundus__jent *const *ents,
			int n_ent, FILE *out)
{
	const struct fundus_workspace_config *cfg = ws->cfg;
	const cJSON *answers[64];
	const char *names[64];
	struct fundus_record *r = NULL;
	cJSON *list = NULL, *flagged = NULL;
	int rc;

	for (int e = 0; e < n_ent; e++) {
		answers[e] = ents[e]->rec->answers;
		names[e] = j->names[ents[e]->who];
	}
	if ((rc = fundus_record_dup(ws->images[i], &r)) < 0)
		return rc;
	fundus_record_clear_objects(r);
	if ((rc = consensus_boxes(cfg, o, ents, names, n_ent, r)) < 0)
		goto out;
	for (int qi = 0; qi < cfg->n_questions; qi++) {
		const struct fundus_question *q = &cfg->questions[qi];
		cJSON *one;

		if (q->scope != FUNDUS_SCOPE_IMAGE)
			continue;
		if (r->answers)
			cJSON_DeleteItemFromObjectCaseSensitive(r->answers, q->id);
		if ((rc = majority(q, answers, names, (size_t)n_ent, &one)) < 0)
			goto out;
		if (one == NULL)
			continue;
		if ((r->answers == NULL && (r->answers = cJSON_CreateObject()) == NULL) ||
		    !cJSON_AddItemToObject(r->answers, q->id, one)) {
			cJSON_Delete(one);
			goto nomem;
		}
	}
	if (r->extra == NULL && (r->extra = cJSON_CreateObject()) == NULL)
		goto nomem;
	cJSON_DeleteItemFromObjectCaseSensitive(r->extra, "annotators");
	cJSON_DeleteItemFromObjectCaseSensitive(r->extra, "flagged");
	if ((list = cJSON_AddArrayToObject(r->extra, "annotators")) == NULL)
		goto nomem;
	for (int e = 0; e < n_ent; e++) {
		cJSON *s = cJSON_CreateString(names[e]);

		if (s == NULL || !cJSON_AddItemToArray(list, s)) {
			cJSON_Delete(s);
			goto nomem;
		}
	}
	/* Flags count whatever the status: a skipped image may be the one to review. */
	for (size_t e = 0; e < j->images[i].n; e++) {
		const struct fundus__jent *ent = &j->images[i].ents[e];
		cJSON *s;

		if (!ent->flag)
			continue;
		if (flagged == NULL &&
		    (flagged = cJSON_AddArrayToObject(r->extra, "flagged")) == NULL)
			goto nomem;
		s = cJSON_CreateString(j->names[ent->who]);
		if (s == NULL || !cJSON_AddItemToArray(flagged, s)) {
			cJSON_Delete(s);
			goto nomem;
		}
	}
	rc = fundus_record_write(out, r);
	goto out;
nomem:
	rc = fundus_error_set(FUNDUS_ENOMEM, "out of memory");
out:
	fundus_record_free(r);
	return rc;
}

/* Sorts entries by annotator name, so that output does not depend on reading order. */
static int cmp_ent(const void *a, const void *b, void *names)
{
	const struct fundus__jent *x = *(struct fundus__jent *const *)a;
	const struct fundus__jent *y = *(struct fundus__jent *const *)b;

	return strcmp(((char **)names)[x->who], ((char **)names)[y->who]);
}

/* An insertion sort with a context (qsort_r is not C11). */
static void sort_ents(struct fundus__jent **e, int n, char **names)
{
	for (int a = 1; a < n; a++) {
		struct fundus__jent *x = e[a];
		int b = a;

		while (b > 0 && cmp_ent(&e[b - 1], &x, names) > 0) {
			e[b] = e[b - 1];
			b--;
		}
		e[b] = x;
	}
}

/* The report's figures that are not per question. */
static int report_build(struct fundus_workspace *ws, struct fundus__journals *j,
			struct who_stat *ws_stats, size_t annotated, size_t complete,
			size_t flagged, size_t multi, struct dvec *ious, size_t unmatched,
			struct qstat *qs, int n_qs, cJSON **report)
{
	cJSON *rep = cJSON_CreateObject(), *arr, *boxes;
	double mean = 0, min = NAN;
	int rc = 0;

	if (rep == NULL || !cJSON_AddNumberToObject(rep, "images", (double)ws->n_images) ||
	    !cJSON_AddNumberToObject(rep, "annotated", (double)annotated) ||
	    !cJSON_AddNumberToObject(rep, "overlap", ws->cfg->overlap) ||
	    !cJSON_AddNumberToObject(rep, "complete", (double)complete) ||
	    !cJSON_AddNumberToObject(rep, "flagged", (double)flagged) ||
	    (arr = cJSON_AddArrayToObject(rep, "annotators")) == NULL)
		goto nomem;
	for (int w = 0; w < j->n_names; w++) {
		struct who_stat *st = &ws_stats[w];
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(arr, o))
			goto nomem_o;
		if (!cJSON_AddStringToObject(o, "name", j->names[w]) ||
		    !cJSON_AddNumberToObject(o, "done", (double)st->done) ||
		    !cJSON_AddNumberToObject(o, "skipped", (double)st->skipped) ||
		    !cJSON_AddNumberToObject(o, "flagged", (double)st->flagged) ||
		    !cJSON_AddNumberToObject(o, "boxes", (double)st->boxes) ||
		    !cJSON_AddNumberToObject(o, "from_proposals", (double)st->from_proposals) ||
		    !add_num(o, "median_seconds", fundus__median(st->secs.v, st->secs.n)))
			goto nomem;
		continue;
	nomem_o:
		cJSON_Delete(o);
		goto nomem;
	}
	for (size_t k = 0; k < ious->n; k++) {
		mean += ious->v[k];
		if (!(ious->v[k] >= min))
			min = ious->v[k];
	}
	mean = ious->n ? mean / (double)ious->n : NAN;
	if ((boxes = cJSON_AddObjectToObject(rep, "boxes")) == NULL ||
	    !cJSON_AddNumberToObject(boxes, "images", (double)multi) ||
	    !cJSON_AddNumberToObject(boxes, "matched", (double)ious->n) ||
	    !cJSON_AddNumberToObject(boxes, "unmatched", (double)unmatched) ||
	    !add_num(boxes, "mean_iou", mean) || !add_num(boxes, "min_iou", min) ||
	    !add_num(boxes, "median_iou", fundus__median(ious->v, ious->n)) ||
	    (arr = cJSON_AddArrayToObject(rep, "questions")) == NULL)
		goto nomem;
	for (int k = 0; k < n_qs && rc == 0; k++)
		rc = kappa_entry(&qs[k], ws->n_images, j->n_names, arr);
	if (rc < 0) {
		cJSON_Delete(rep);
		return rc;
	}
	*report = rep;
	return 0;
nomem:
	cJSON_Delete(rep);
	return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
}

int fundus_workspace_export(struct fundus_workspace *ws, const struct fundus_export_options *opt,
			    FILE *out, cJSON **report)
{
	struct fundus_export_options o;
	struct fundus__journals j = {0};
	struct who_stat *st = NULL;
	struct qstat *qs = NULL;
	struct dvec ious = {0};
	size_t annotated = 0, complete = 0, flagged = 0, multi = 0, unmatched = 0;
	int n_qs = 0, rc;

	if (report)
		*report = NULL;
	if (opt)
		o = *opt;
	else
		fundus_export_options_default(&o);
	fundus__json_init();
	if ((rc = fundus__ws_refresh(ws)) < 0 || (rc = fundus__journals_update(&j, ws)) < 0)
		goto out;
	st = fundus_calloc((size_t)j.n_names + 1, sizeof *st);
	if (st == NULL || (rc = qstats_new(ws->cfg, &qs, &n_qs)) < 0) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < j.n_images && rc == 0; i++) {
		struct fundus__jent *ents[64];
		int n_ent = 0, any_flag = 0;

		for (size_t e = 0; e < j.images[i].n; e++) {
			struct fundus__jent *ent = &j.images[i].ents[e];
			struct who_stat *w = &st[ent->who];

			any_flag |= ent->flag;
			w->flagged += (size_t)ent->flag;
			if (ent->status != FUNDUS_ENTRY_DONE) {
				w->skipped++;
				continue;
			}
			w->done++;
			w->boxes += ent->rec->n_objects;
			for (size_t k = 0; k < ent->rec->n_objects; k++)
				w->from_proposals += ent->rec->objects[k].extra &&
						     cJSON_GetObjectItemCaseSensitive(
							 ent->rec->objects[k].extra, "from");
			if (ent->seconds > 0 && (rc = dvec_push(&w->secs, ent->seconds)) < 0)
				break;
			if (n_ent < 64)
				ents[n_ent++] = ent;
		}
		flagged += (size_t)any_flag;
		if (rc < 0 || n_ent == 0)
			continue;
		sort_ents(ents, n_ent, j.names);
		annotated++;
		complete += n_ent >= ws->cfg->overlap;
		if (n_ent >= 2) {
			multi++;
			for (int a = 0; a < n_ent && rc == 0; a++)
				for (int b = a + 1; b < n_ent && rc == 0; b++)
					rc = match_pair(ents[a]->rec, ents[b]->rec, &ious,
							&unmatched);
		}
		for (int e = 0; e < n_ent && rc == 0; e++)
			rc = rate_entry(qs, n_qs, ents[e], i);
		if (rc == 0 && out && n_ent >= o.min_annotators)
			rc = export_image(ws, &o, &j, i, ents, n_ent, out);
	}
	if (rc == 0 && report)
		rc = report_build(ws, &j, st, annotated, complete, flagged, multi, &ious, unmatched,
				  qs, n_qs, report);
out:
	for (int w = 0; st && w < j.n_names; w++)
		fundus_free(st[w].secs.v);
	fundus_free(st);
	fundus_free(ious.v);
	qstats_free(qs, n_qs);
	fundus__journals_free(&j);
	return rc;
}
