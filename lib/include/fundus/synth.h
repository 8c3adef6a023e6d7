/*
 * fundus/synth.h: synthetic colour fundus photographs with a known optic disc.
 *
 * fundus_synth_image() paints a photograph of the back of the eye as a
 * fundus camera takes it: a circular field of view on black, an orange-red
 * fundus with a vessel tree leaving a bright disc, a darker macula, and,
 * when asked, lesions, a colour cast, uneven or poor exposure, blur and
 * sensor noise. It also returns where it put the disc, as the box a person
 * would draw around the rim, so the photographs can train and test an
 * optic-disc detector without a human annotator.
 *
 * A photograph depends only on the parameters and the seed: the same pair
 * gives the same pixels on every run, whatever the number of threads.
 * fundus_synth_seed() derives the seed of image i of a run from the run's
 * seed, so that any one image can be made again on its own.
 *
 *     struct fundus_synth_params p;
 *     struct fundus_synth_truth truth;
 *     struct fundus_image *img;
 *     fundus_synth_params_default(&p);
 *     p.eye = 'R';
 *     if (fundus_synth_image(&p, fundus_synth_seed(1, 0), &img, &truth) == 0) {
 *         ... truth.disc_box is the optic disc ...
 *         fundus_image_free(img);
 *     }
 *
 * Conventions. Coordinates are continuous pixel-edge coordinates as in
 * fundus/record.h: (0, 0) is the top-left corner of the first pixel. The
 * picture is the retina as the camera shows it, not mirrored: in a right
 * eye the disc lies right of the macula (nasal), in a left eye left of it.
 */
#ifndef FUNDUS_SYNTH_H
#define FUNDUS_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "fundus/image.h"
#include "fundus/pool.h"
#include "fundus/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the camera points. */
enum fundus_synth_framing {
	FUNDUS_SYNTH_FRAMING_RANDOM = 0, /* in params: macula 55%, disc 20%, pole 25% */
	FUNDUS_SYNTH_FRAMING_MACULA,     /* the fovea near the centre, the disc to one side */
	FUNDUS_SYNTH_FRAMING_DISC,       /* the disc near the centre */
	FUNDUS_SYNTH_FRAMING_POLE,       /* the centre between disc and fovea */
};

/* How the photograph came out; poor ones are the hard cases for a detector. */
enum fundus_synth_quality {
	FUNDUS_SYNTH_QUALITY_GOOD = 0,
	FUNDUS_SYNTH_QUALITY_DIM,     /* under-exposed, with a dim, low-contrast disc */
	FUNDUS_SYNTH_QUALITY_DARK,    /* badly under-exposed */
	FUNDUS_SYNTH_QUALITY_HAZY,    /* a veil of scattered light (cataract), low contrast */
	FUNDUS_SYNTH_QUALITY_BRIGHT,  /* over-exposed, the disc washed out */
	FUNDUS_SYNTH_QUALITY_BLURRED, /* out of focus */
};

/*
 * What to paint. Start from fundus_synth_params_default() and change what
 * you need. A negative value for a "random" field means: draw it from the
 * seed, over the range real photographs show.
 */
struct fundus_synth_params {
	int width, height; /* 0, 0 (default): a camera size from fundus_synth_sizes();
			      otherwise 32 to 16384 each */
	int max_width;     /* with a table size: only sizes at most this wide; 0: any */
	int eye;           /* 'L', 'R', or 0 (default) for either */
	enum fundus_synth_framing framing; /* default RANDOM */
	double lesions;                    /* probability (0 to 1) that an image shows lesions of
					      diabetic retinopathy or drusen; default 0.3 */
	double poor;              /* probability (0 to 1) of a poor photograph: dim, dark, hazy,
				     over-exposed or blurred; default 0.25 */
	double pigment;           /* fundus pigmentation, 0 fair (pink, tigroid) to 1 dark;
				     default -1: random */
	double cast;              /* strength of a camera colour cast (yellow, red, green,
				     pink), 0 to 1; default -1: random */
	double vignetting;        /* darkening toward the edge of the field, 0 to 1;
				     default -1: random */
	double blur;              /* optical blur as a fraction of the field's radius, 0 to
				     0.02; default -1: random (about 0.002) */
	double noise;             /* sensor noise, standard deviation in 8-bit levels at
				     mid-grey, 0 to 20; default -1: random (1 to 4) */
	struct fundus_pool *pool; /* borrowed, used during the call; NULL (default): the
				     calling thread alone. The pixels do not depend on it. */
};

/* Fills *p with the defaults documented above. */
void fundus_synth_params_default(struct fundus_synth_params *p);

/*
 * Checks parameters; returns 0, or FUNDUS_EINVAL with a message naming the
 * field ("lesions must be from 0 to 1, not 2"). fundus_synth_image() calls it.
 */
int fundus_synth_params_check(const struct fundus_synth_params *p);

/* A camera image size, with the camera it comes from. */
struct fundus_synth_size {
	int width, height;
	const char *camera; /* "Kowa VX-10 (IDRiD)", ... */
};

/*
 * The table of real camera sizes that width = height = 0 draws from, from
 * 4288 x 2848 down to 565 x 584. *table is borrowed from the library (a
 * constant); returns the number of entries.
 */
size_t fundus_synth_sizes(const struct fundus_synth_size **table);

/* What fundus_synth_image() painted, in pixel-edge coordinates of the image. */
struct fundus_synth_truth {
	uint64_t seed; /* the seed the image was made from */
	int width, height;
	/*
	 * The optic disc: the tight box of the pixels whose centres lie inside
	 * the rim (where the rim's soft edge is half-way), as an annotator
	 * draws it; peripapillary atrophy outside the rim is not part of it.
	 */
	struct fundus_box disc_box;
	double disc_x, disc_y;           /* centre of the disc */
	double disc_radius;              /* mean radius, sqrt(rx * ry) of the rim ellipse */
	double disc_rx, disc_ry;         /* horizontal and vertical semi-axes of the rim ellipse */
	double cup_radius;               /* mean radius of the cup */
	double fovea_x, fovea_y;         /* centre of the fovea (may lie outside the field) */
	double fov_x, fov_y, fov_radius; /* the circular field of view */
	int eye;                         /* 'L' or 'R' */
	enum fundus_synth_framing framing; /* never RANDOM */
	enum fundus_synth_quality quality;
	int bright_lesion;         /* 1 when some exudate is brighter than the disc */
	int peripapillary_atrophy; /* 1 when a pale crescent borders the disc */
	/* Lesions painted: spots of each kind. */
	int n_exudates, n_haemorrhages, n_microaneurysms, n_cotton_wool, n_drusen;
};

/*
 * Paints one photograph into a new RGB8 image (*out, owned by the caller,
 * fundus_image_free()) and fills *truth (may be NULL). The result depends on
 * *p (pool aside) and seed only. Returns 0, FUNDUS_EINVAL for bad
 * parameters, FUNDUS_ENOMEM or FUNDUS_EOVERFLOW; *out is NULL on failure.
 * Thread-safe: calls on different threads share nothing, and params may be
 * shared between them when they do not share the pool.
 */
int fundus_synth_image(const struct fundus_synth_params *p, uint64_t seed,
		       struct fundus_image **out, struct fundus_synth_truth *truth);

/*
 * The seed of image `index` of a run seeded with `seed`: a 64-bit mix of the
 * two, so that neighbouring images are unrelated and image i can be made
 * alone.
 */
uint64_t fundus_synth_seed(uint64_t seed, uint64_t index);

/* Constant names: "macula", "disc", "pole", "random"; "good", "dim", ... */
const char *fundus_synth_framing_name(enum fundus_synth_framing f);
const char *fundus_synth_quality_name(enum fundus_synth_quality q);

/*
 * Makes the record of a synthetic photograph (a new record, owned by the
 * caller, fundus_record_free()): image = path, width, height, one object
 * {"label": "optic_disc", "bbox": truth->disc_box, "by": "synth"}, source
 * {"path": path, "format": format} (format may be NULL), and meta
 * {"synthetic": true, "generator": "fundus-synth", "seed": seed, "index":
 * index, "laterality": "L" or "R", "framing", "quality", "disc": {"centre",
 * "radius", "cup_radius"}, "fovea", "fov": {"centre", "radius"}, "lesions":
 * {"exudates", "haemorrhages", "microaneurysms", "cotton_wool", "drusen"},
 * "bright_lesion", "peripapillary_atrophy"}, points as [x, y] rounded to
 * hundredths of a pixel. seed and index are the run's (those given to
 * fundus_synth_seed()) and must be below 2^53, so that they are exact as
 * JSON numbers. path may be NULL (no image, no source). Returns 0,
 * FUNDUS_EINVAL or FUNDUS_ENOMEM.
 */
int fundus_synth_record(const struct fundus_synth_truth *truth, const char *path,
			const char *format, uint64_t seed, uint64_t index,
			struct fundus_record **out);

#ifdef __cplusplus
}
#endif
#endif
