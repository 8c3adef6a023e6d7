/*
 * Training (fundus/train.h): the losses' gradients against finite
 * differences, the data (decoding, splitting with twins together, bad
 * images), and a run stopped and resumed from its checkpoint ending with
 * the same weights as one never stopped.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detect/internal.h"
#include "fundus/file.h"
#include "fundus/synth.h"
#include "fundus/train.h"
#include "harness.h"
#include "testutil.h"
#include "train/internal.h"

/* The total loss of a [centre] head's output (the parts added up). */
static double centre_loss(const float *out, float *grad, int classes, int h, int w,
			  const struct fundus_box *b, const int *l, int n)
{
	double part[3] = {0, 0, 0};

	fundus__loss_centre(out, grad, classes, h, w, 4, 4, b, l, n, 1.0f, part);
	return part[0] + part[1] + part[2];
}

TEST(centre_loss_gradient)
{
	enum { C = 2, H = 6, W = 7 };
	const struct fundus_box boxes[2] = {{5, 6, 13, 15}, {16.5, 2, 25, 9}};
	const int labels[2] = {0, 1};
	float out[(C + 4) * H * W], grad[(C + 4) * H * W], g2[(C + 4) * H * W];
	struct fundus_rng rng;
	int checked = 0;

	fundus_rng_seed(&rng, 7);
	for (int i = 0; i < (C + 4) * H * W; i++)
		out[i] = (float)fundus_rng_range(&rng, -2, 2);
	centre_loss(out, grad, C, H, W, boxes, labels, 2);
	for (int i = 0; i < (C + 4) * H * W; i++) {
		float keep = out[i], e = 1e-3f;
		double lp, lm, num;

		out[i] = keep + e;
		lp = centre_loss(out, g2, C, H, W, boxes, labels, 2);
		out[i] = keep - e;
		lm = centre_loss(out, g2, C, H, W, boxes, labels, 2);
		out[i] = keep;
		num = (lp - lm) / (2 * e);
		/* (the L1 terms' kinks are far from these random values) */
		CHECK_NEAR(grad[i], num, 2e-2 * fmax(1, fabs(num)));
		checked++;
	}
	CHECK_INT_EQ(checked, (C + 4) * H * W);
	/* no boxes: only background, the gradient pushes every logit down */
	centre_loss(out, grad, C, H, W, boxes, labels, 0);
	for (int i = 0; i < C * H * W; i++)
		CHECK(grad[i] > 0);
}

TEST(yolo_loss_gradient)
{
	struct fundus__head hd;
	enum { A = 2, C = 1, H = 4, W = 4, PER = C + 5 };
	const struct fundus_box boxes[1] = {{6, 9, 20, 21}};
	const int labels[1] = {0};
	float out[A * PER * H * W], grad[A * PER * H * W], g2[A * PER * H * W];
	struct fundus_rng rng;
	double part[3];

	memset(&hd, 0, sizeof hd);
	hd.classes = C;
	hd.nmask = A;
	hd.scale_x_y = 1;
	hd.anchor_w[0] = hd.anchor_h[0] = 8;
	hd.anchor_w[1] = hd.anchor_h[1] = 14;
	fundus_rng_seed(&rng, 3);
	for (int i = 0; i < A * PER * H * W; i++)
		out[i] = (float)fundus_rng_range(&rng, -1, 1);
	/* keep every prediction far from the ignore threshold */
	for (int a = 0; a < A; a++)
		for (int i = 0; i < H * W; i++) {
			out[(a * PER + 2) * H * W + i] = -3;
			out[(a * PER + 3) * H * W + i] = -3;
		}
	memset(part, 0, sizeof part);
	fundus__loss_yolo(&hd, out, grad, H, W, 8, 8, boxes, labels, 1, 1.0f, part);
	for (int i = 0; i < A * PER * H * W; i++) {
		float keep = out[i], e = 1e-3f;
		double lp, lm, pp[3] = {0, 0, 0}, pm[3] = {0, 0, 0};

		out[i] = keep + e;
		fundus__loss_yolo(&hd, out, g2, H, W, 8, 8, boxes, labels, 1, 1.0f, pp);
		out[i] = keep - e;
		fundus__loss_yolo(&hd, out, g2, H, W, 8, 8, boxes, labels, 1, 1.0f, pm);
		out[i] = keep;
		lp = pp[0] + pp[1] + pp[2];
		lm = pm[0] + pm[1] + pm[2];
		CHECK_NEAR(grad[i], (lp - lm) / (2 * e), 2e-2 * fmax(1, fabs((lp - lm) / (2 * e))));
	}
}

/* Writes n synthetic photographs and their records; returns the records. */
static struct fundus_record **synth_set(int n, int first, int dup_last)
{
	struct fundus_record **r = fundus_calloc((size_t)n, sizeof *r);
	struct fundus_synth_params sp;

	fundus_synth_params_default(&sp);
	sp.width = 320;
	sp.height = 240;
	for (int i = 0; i < n; i++) {
		struct fundus_image *img;
		struct fundus_synth_truth t;
		char name[64];
		int src = dup_last && i == n - 1 ? first : first + i;

		snprintf(name, sizeof name, "synth-%03d.png", i + first);
		if (fundus_synth_image(&sp, fundus_synth_seed(5, (uint64_t)src), &img, &t) < 0 ||
		    fundus_image_save(img, tu_path(name), NULL) < 0)
			return NULL;
		fundus_image_free(img);
		fundus_record_new(&r[i]);
		fundus_record_set_string(&r[i]->image, tu_path(name));
		fundus_record_add_object(r[i], "optic_disc", &t.disc_box, NAN, NULL);
	}
	return r;
}

static void free_set(struct fundus_record **r, int n)
{
	for (int i = 0; i < n; i++)
		fundus_record_free(r[i]);
	fundus_free(r);
}

struct bad {
	int calls;
	char path[512];
};

static int on_error(void *ud, size_t index, const char *path, int code, const char *msg)
{
	struct bad *b = ud;

	(void)index;
	(void)code;
	(void)msg;
	b->calls++;
	snprintf(b->path, sizeof b->path, "%s", path);
	return 0;
}

TEST(data_split_and_bad_images)
{
	struct fundus_record **r = synth_set(6, 0, 1); /* the last is a copy of the first */
	struct fundus_train_data *d, *t, *v, *h;
	struct fundus_train_data_params dp;
	const char *const *labels;
	struct bad b = {0, ""};

	CHECK(r != NULL);
	fundus_train_data_defaults(&dp);
	dp.threads = 2;
	dp.min_side = 100;
	CHECK_OK(fundus_train_data_new(&d, r, 6, &dp));
	CHECK_INT_EQ((int)fundus_train_data_count(d), 6);
	CHECK_INT_EQ(fundus_train_data_labels(d, &labels), 1);
	CHECK_STR_EQ(labels[0], "optic_disc");
	/* decoded at 1/2 (160 >= 100), boxes halved with it */
	CHECK_INT_EQ(d->items[0].img->width, 160);
	CHECK_NEAR(d->items[0].boxes[0].x0, r[0]->objects[0].bbox.x0 / 2, 1e-9);
	CHECK_STR_EQ(d->items[0].hash, d->items[5].hash);
	for (uint64_t seed = 1; seed < 20; seed++) {
		int first_val = -1, last_val = -1;

		CHECK_OK(fundus_train_data_split(d, 0.34, seed, &t, &v));
		CHECK_INT_EQ((int)(fundus_train_data_count(t) + fundus_train_data_count(v)), 6);
		CHECK_INT_GE((int)fundus_train_data_count(v), 2);
		for (size_t i = 0; i < v->n; i++) {
			if (strcmp(v->items[i].rec->image, r[0]->image) == 0)
				first_val = 1;
			if (strcmp(v->items[i].rec->image, r[5]->image) == 0)
				last_val = 1;
		}
		CHECK_INT_EQ(first_val, last_val); /* twins on one side */
		fundus_train_data_free(t);
		fundus_train_data_free(v);
	}
	/* shrunk further to max_side, boxes with it */
	{
		struct fundus_train_data *s2;

		dp.max_side = 120;
		CHECK_OK(fundus_train_data_new(&s2, r, 2, &dp));
		CHECK_INT_EQ(s2->items[0].img->width, 120);
		CHECK_INT_EQ(s2->items[0].img->height, 90);
		CHECK_NEAR(s2->items[0].boxes[0].x1, r[0]->objects[0].bbox.x1 * 120 / 320, 1e-9);
		fundus_train_data_free(s2);
		dp.max_side = 0;
	}
	CHECK_OK(fundus_train_data_head(d, 2, &h));
	CHECK_INT_EQ((int)fundus_train_data_count(h), 2);
	CHECK_STR_EQ(h->items[1].rec->image, r[1]->image);
	fundus_train_data_free(h);
	fundus_train_data_free(d);
	/* a damaged photograph: an error naming it, or skipped through the callback */
	CHECK_OK(tu_write_file(r[2]->image, "\x89PNG\r\n\x1a\nbroken", 15));
	CHECK(fundus_train_data_new(&d, r, 6, &dp) < 0);
	dp.on_error = on_error;
	dp.ud = &b;
	CHECK_OK(fundus_train_data_new(&d, r, 6, &dp));
	CHECK_INT_EQ((int)fundus_train_data_count(d), 5);
	CHECK_INT_EQ(b.calls, 1);
	CHECK_STR_EQ(b.path, r[2]->image);
	fundus_train_data_free(d);
	/* a label the model does not have */
	dp.on_error = NULL;
	dp.labels = (const char *[]){"cup"};
	dp.nlabels = 1;
	fundus_record_set_string(&r[2]->image, r[1]->image);
	CHECK_INT_EQ(fundus_train_data_new(&d, r, 6, &dp), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "optic_disc");
	free_set(r, 6);
}

/* Trains on d with a small input so that the test stays quick. */
static void small_params(struct fundus_train_params *p, const char *ckpt, int epochs)
{
	fundus_train_defaults(p);
	p->width = p->height = 96;
	p->crop = 64;
	p->batch = 4;
	p->epoch_size = 8;
	p->epochs = epochs;
	p->warmup = 2;
	p->threads = 2;
	p->seed = 11;
	p->checkpoint = ckpt;
}

/* 1 when two networks have the same weights, bit for bit. */
static int same_weights(const struct fundus_net *a, const struct fundus_net *b)
{
	if (fundus_net_tensor_count(a) != fundus_net_tensor_count(b))
		return 0;
	for (int i = 0; i < fundus_net_tensor_count(a); i++) {
		struct fundus_net_tensor ta, tb;

		fundus_net_tensor(a, i, &ta);
		fundus_net_tensor(b, i, &tb);
		if (ta.count != tb.count || memcmp(ta.data, tb.data, ta.count * sizeof(float)))
			return 0;
	}
	return 1;
}

static int count_epochs(void *ud, const struct fundus_train_epoch *e)
{
	int *n = ud;

	(*n)++;
	return isfinite(e->loss) && e->loss > 0 ? 0 : FUNDUS_EINVAL;
}

TEST(resume_gives_the_same_weights)
{
	struct fundus_record **r = synth_set(6, 10, 0);
	struct fundus_train_data *d, *t, *v;
	struct fundus_train_data_params dp;
	struct fundus_train_params p;
	struct fundus_train_result once, first, second, other;
	const char *ck1 = tu_path("once.ckpt"), *ck2 = tu_path("resumed.ckpt");
	int epochs = 0;

	CHECK(r != NULL);
	fundus_train_data_defaults(&dp);
	dp.min_side = 128;
	CHECK_OK(fundus_train_data_new(&d, r, 6, &dp));
	CHECK_OK(fundus_train_data_split(d, 0.34, 1, &t, &v));
	/* three epochs straight; without validation the model is the last epoch's */
	small_params(&p, ck1, 3);
	p.on_epoch = count_epochs;
	p.ud = &epochs;
	CHECK_OK(fundus_train_run(&p, t, NULL, &once));
	CHECK_INT_EQ(epochs, 3);
	CHECK_INT_EQ(once.epochs, 3);
	/* one epoch, then two more from the checkpoint */
	small_params(&p, ck2, 1);
	CHECK_OK(fundus_train_run(&p, t, NULL, &first));
	small_params(&p, ck2, 3);
	p.resume = 1;
	CHECK_OK(fundus_train_run(&p, t, NULL, &second));
	CHECK_INT_EQ(second.epochs, 3);
	CHECK(same_weights(once.best, second.best));
	CHECK(!same_weights(once.best, first.best));
	/* another seed trains another model */
	small_params(&p, NULL, 3);
	p.seed = 12;
	CHECK_OK(fundus_train_run(&p, t, NULL, &other));
	CHECK(!same_weights(once.best, other.best));
	fundus_net_free(first.best);
	fundus_net_free(second.best);
	/* with validation: the same best epoch and model, resumed or not */
	small_params(&p, ck1, 2);
	CHECK_OK(fundus_train_run(&p, t, v, &first));
	small_params(&p, ck2, 1);
	CHECK_OK(fundus_train_run(&p, t, v, &second));
	fundus_net_free(second.best);
	small_params(&p, ck2, 2);
	p.resume = 1;
	CHECK_OK(fundus_train_run(&p, t, v, &second));
	CHECK_INT_EQ(second.best_epoch, first.best_epoch);
	CHECK(same_weights(first.best, second.best));
	/* a checkpoint of another run is refused */
	small_params(&p, ck2, 4);
	p.seed = 99;
	p.resume = 1;
	{
		struct fundus_train_result x;

		CHECK_INT_EQ(fundus_train_run(&p, t, v, &x), FUNDUS_EINVAL);
		CHECK_STR_CONTAINS(fundus_errmsg(), "another run");
	}
	/* a damaged checkpoint too */
	CHECK_OK(tu_write_file(ck2, "FDTRAIN1\x05", 9));
	small_params(&p, ck2, 4);
	p.resume = 1;
	{
		struct fundus_train_result x;

		CHECK_INT_EQ(fundus_train_run(&p, t, v, &x), FUNDUS_EFORMAT);
	}
	fundus_net_free(once.best);
	fundus_net_free(first.best);
	fundus_net_free(second.best);
	fundus_net_free(other.best);
	fundus_train_data_free(t);
	fundus_train_data_free(v);
	fundus_train_data_free(d);
	free_set(r, 6);
}

int main(int argc, char **argv)
{
	RUN(centre_loss_gradient);
	RUN(yolo_loss_gradient);
	RUN(data_split_and_bad_images);
	RUN(resume_gives_the_same_weights);
	return harness_done();
}
