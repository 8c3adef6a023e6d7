/*
 * fundus/augment.h: random changes of a training photograph and its boxes.
 *
 * Fifty annotated photographs are too few to learn from as they are: the
 * detector would learn where the disc usually sits and one camera's
 * colours. fundus_augment_apply() makes a new network input from a cached
 * photograph: one geometric warp (zoom, translation, rotation, flips) that
 * also letterboxes it to the input size, with its boxes moved exactly with
 * the pixels, then photometric changes (per-channel gamma, darkening with
 * clipping, a smooth uneven illumination field, channel mixing,
 * desaturation, contrast, dimmed objects, blur, noise).
 *
 *     struct fundus_augment a;
 *     struct fundus_rng rng;            // one per thread
 *     struct fundus_box out[4];
 *     int out_lab[4], n_out;
 *     fundus_augment_defaults(&a);
 *     fundus_rng_seed(&rng, seed);
 *     rc = fundus_augment_apply(&a, &rng, photo, boxes, labels, n, input,
 *                               out, out_lab, &n_out);
 *
 * Coordinates. Boxes are struct fundus_box: continuous pixel-edge
 * coordinates, (0, 0) the top-left corner of the first pixel, x0 and y0
 * the near edges, x1 and y1 the far edges (a box covering exactly pixel
 * (i, j) is [i, j, i + 1, j + 1]); the centre of pixel (i, j) is
 * (i + 0.5, j + 0.5). The warp works in these coordinates: each output
 * pixel's centre is mapped back into src and src is sampled there
 * bilinearly between the centres of its four nearest pixels, with black
 * beyond src's edges (so the photograph's border fades over one source
 * pixel, as a plain resize onto black would draw it).
 *
 * The geometric map from src to dst is
 *
 *     dst = c_dst + t + s * F * R(angle) * (src - c_src)
 *
 * with c_src and c_dst the centres of the two images, s = fit * zoom where
 * fit = min(dst_w / src_w, dst_h / src_h) is the letterbox fit (the whole
 * photograph centred in dst, unscaled in aspect), R a rotation about the
 * centre, F = diag(+-1, +-1) the flips and t the translation in dst
 * pixels. With fundus_augment_none() it is the plain letterbox.
 *
 * Boxes are taken to bound an ellipse (the disc is round): the new box is
 * the axis-aligned bound of the transformed inscribed ellipse, which is
 * exact for a disc under any rotation and tighter than the rotated
 * corners. A box is dropped when less than min_visible of its area
 * (clipped area / unclipped area, on the boxes) lies inside dst, or when
 * none of its ellipse does. A box that the frame cuts becomes the bound of
 * the part of its ellipse inside dst: the clipped box, except where less
 * than half of the disc shows along an axis or a corner of dst cuts it,
 * where the clipped box would be looser than the pixels.
 *
 * Sampling is bilinear at each output pixel's centre, not an average over
 * its footprint: shrinking a photograph by more than about 2 aliases fine
 * vessels, which fundus_detect_letterbox() (an area average) does not. A
 * cache of photographs at about the input size times zoom_max keeps the
 * two alike.
 *
 * Every random number of a call is drawn from rng in one fixed order,
 * whatever the options: the geometry first, then the photometry. So for
 * one rng state, turning photometric options on or off changes the
 * colours but not where anything goes, and a call always advances rng by
 * the same amount.
 */
#ifndef FUNDUS_AUGMENT_H
#define FUNDUS_AUGMENT_H

#include "fundus/image.h"
#include "fundus/record.h"
#include "fundus/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What to change, and by how much. Each value is drawn independently per
 * call; "uniform" and "log-uniform" below are over the closed range.
 * Ranges that fundus_augment_apply() accepts are given in brackets.
 */
struct fundus_augment {
	/* Geometry. */
	float zoom_min, zoom_max; /* size relative to the letterbox fit, log-uniform in
				     [zoom_min, zoom_max]; above 1 crops, below 1 shrinks
				     [0.01 <= min <= max <= 100] */
	float translate;          /* shift of up to this fraction of dst's width (and
				     height) either way, uniform per axis [0, 4] */
	float rotate;             /* rotation about the centre, uniform in
				     [-rotate, rotate] degrees [0, 180] */
	float flip_h, flip_v;     /* probabilities of a left-right and an up-down flip [0, 1] */
	float min_visible;        /* a box keeps at least this fraction of its area inside
				     dst or is dropped [0, 1]; a box with nothing inside is
				     always dropped */
	/*
	 * Photometry, in the order applied to each pixel: mix and desaturate
	 * the channels, multiply by a gain and the illumination field,
	 * subtract the black level, clip to 0..255, then gamma and contrast
	 * per channel. Blur and noise come last, over the whole image.
	 * Black (0, 0, 0) stays black through all of them but noise.
	 */
	float gamma;        /* each channel v -> 255 (v / 255)^g, g log-uniform in
			       [1/(1 + gamma), 1 + gamma], drawn per channel; a straight
			       line below 10 levels, so that the noise of the black
			       surround is not blown up [0, 10] */
	float darken_p;     /* probability of darkening [0, 1] ... */
	float darken;       /* ... by a gain uniform in [1 - darken, 1] and a black level
			       of up to 16 * darken levels subtracted, clipping the
			       shadows to 0 [0, 1] */
	float bright;       /* gain log-uniform in [1/(1 + bright), 1 + bright], every
			       time, before the darkening; clipped at 255 [0, 10] */
	float illum;        /* a smooth uneven illumination: the gain is multiplied by
			       1 + k q(x, y), q a random quadratic over dst scaled to
			       span [-1, 1], k uniform in [0, illum] [0, 1] */
	float mix;          /* channel mixing: each output channel takes weights uniform
			       in [-mix, mix] of the other two, then the row is scaled
			       to sum to 1 (gray stays gray) [0, 0.45] */
	float desaturate_p; /* probability of pulling the colours towards their luma
			       (Rec. 601) by a fraction uniform in [0, 1] [0, 1] */
	float contrast;     /* per image, an S-curve through 0, 128 and 255 of slope k
			       at mid-gray (a cubic, so with a finite slope at black),
			       k uniform in [1 - contrast, 1 + contrast] [0, 0.5] */
	float blur_p;       /* probability of a Gaussian blur ... */
	float blur;         /* ... of sigma uniform in [0.3, blur] dst pixels (none when
			       blur < 0.3) [0, 8] */
	float noise;        /* Gaussian noise per sample of sigma uniform in [0, noise]
			       levels (0..255), every time [0, 64] */
	float dim_p;        /* probability of dimming the objects: ... */
	float dim;          /* ... a fraction uniform in [0, dim] of each object's mean
			       brightness above its surround taken away inside its
			       ellipse (feathered at the rim), its texture (vessels,
			       cup) kept: discs that hardly stand out, as some cameras
			       show them, teach the network the vessels' convergence
			       [0, 1] */
};

/*
 * The training defaults (what fundus-train uses unless told otherwise):
 * zoom 0.7..1.4, translate 0.35, rotate 15, flip_h 0.5, flip_v 0.2,
 * min_visible 0.6; gamma 0.7, darken_p 0.5, darken 0.85, bright 0.3,
 * illum 0.8, mix 0.2, desaturate_p 0.4, contrast 0.3, blur_p 0.2,
 * blur 1.5, noise 3, dim_p 0.3, dim 1. The translation lets a disc at the side of a
 * photograph reach every part of the input, often with the photograph
 * partly out of the frame. The colour changes are strong on purpose:
 * photographs from other cameras are darker, redder, greyer and lit
 * more unevenly than any fifty of one camera.
 */
void fundus_augment_defaults(struct fundus_augment *a);

/*
 * No change at all (zoom 1, everything else 0, min_visible 0):
 * fundus_augment_apply() then only letterboxes, and keeps every box whose
 * ellipse shows at all.
 */
void fundus_augment_none(struct fundus_augment *a);

/*
 * Makes one augmented input: dst (RGB8, already allocated at the network
 * input size) receives src (RGB8, any size) warped and changed as a and
 * rng say; boxes[i] (in src pixels, with labels[i]) are transformed with
 * it. The boxes kept (see above: bounds of what shows, dropped under
 * min_visible) are written in input order to out_boxes/out_labels (room
 * for n) and counted in *out_n.
 *
 * Every pixel of dst (the first 3 * width bytes of each row) is written,
 * so dst need not be cleared; the padding of its rows is left alone. src
 * and dst must not share pixels. out_boxes and out_labels may be boxes
 * and labels themselves (transformed in place). labels and out_labels may
 * both be NULL; boxes and out_boxes may be NULL when n is 0. A box needs
 * finite coordinates with x0 <= x1 and y0 <= y1; a box of zero area (a
 * line or a point) is clipped and kept when it touches dst. Both images'
 * sides must be at most 32768.
 *
 * Deterministic for one rng state, on every machine (the same bytes from
 * the same seed, apart from floating-point differences between compilers
 * that move a sample by one level). Allocates nothing. Thread-safe: src
 * may be read by many calls at once; each thread needs its own rng and
 * dst. Returns 0 or FUNDUS_EINVAL (nothing written then); FUNDUS_ENOMEM
 * is never returned.
 */
int fundus_augment_apply(const struct fundus_augment *a, struct fundus_rng *rng,
			 const struct fundus_image *src, const struct fundus_box *boxes,
			 const int *labels, int n, struct fundus_image *dst,
			 struct fundus_box *out_boxes, int *out_labels, int *out_n);

#ifdef __cplusplus
}
#endif
#endif
