/*
 * Internal: the scene that fundus_synth_image() plans from the seed and then
 * paints. Planning (scene.c, vessels.c, lesions.c) draws every random number
 * on the calling thread, in a fixed order; painting (render.c) is a pure
 * function of the finished scene, computed band by band, so the pixels do
 * not depend on the number of threads.
 *
 * Lengths in the scene are in pixels of the output image; `unit` is the
 * disc diameter in pixels, the natural ruler of the fundus (the fovea lies
 * about 2.5 disc diameters from the disc).
 */
#ifndef FUNDUS_SYNTH_INT_H
#define FUNDUS_SYNTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fundus/rng.h"
#include "fundus/synth.h"

/* Seeded gradient noise (after Perlin), about -1..1 with a deviation near 0.25. */
struct fundus__noise {
	uint8_t perm[512];
	float gx[256], gy[256];
};

void fundus__noise_init(struct fundus__noise *n, struct fundus_rng *rng);
float fundus__noise2(const struct fundus__noise *n, float x, float y);
/* Fractal sum of `octaves` octaves, each twice the frequency and `gain` times the amplitude. */
float fundus__fbm2(const struct fundus__noise *n, float x, float y, int octaves, float gain);

/* A 64-bit integer mix (splitmix64's finaliser): a hash for per-pixel noise. */
static inline uint64_t fundus__mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Layers that vessels and lesions are stamped into before shading. */
enum {
	FUNDUS__L_ARTERY,
	FUNDUS__L_VEIN,
	FUNDUS__L_REFLEX,  /* the central light reflex of large vessels */
	FUNDUS__L_HAEM,    /* haemorrhages and microaneurysms: dark red */
	FUNDUS__L_EXUDATE, /* hard exudates: bright yellow, sharp */
	FUNDUS__L_DRUSEN,  /* drusen: pale yellow, soft */
	FUNDUS__L_COTTON,  /* cotton-wool spots: whitish, fluffy */
	FUNDUS__NLAYERS
};

/* A piece of vessel: a tapered capsule from (x0, y0) to (x1, y1). */
struct fundus__seg {
	float x0, y0, x1, y1;
	float r0, r1;  /* half-widths at the two ends */
	float opacity; /* 0..1: thin vessels absorb less */
	float reflex;  /* strength of the central light reflex */
	uint8_t layer; /* FUNDUS__L_ARTERY or FUNDUS__L_VEIN */
};

/* A lesion spot: an ellipse with an irregular, soft edge. */
struct fundus__blob {
	float x, y;     /* centre */
	float rx, ry;   /* semi-axes */
	float ca, sa;   /* rotation */
	float edge;     /* softness of the edge, as a fraction of the radius */
	float amp;      /* density at the centre, 0..1 */
	float dome;     /* 0 flat, 1 a dome fading toward the edge */
	float wk[2][3]; /* two waves (kx, ky, phase) that make the edge irregular */
	float wamp;
	uint8_t layer;
};

struct fundus__scene {
	int w, h;
	double unit; /* disc diameter (horizontal) in pixels */

	/* Field of view: a circle, perhaps cut by the frame, perhaps notched. */
	double cx, cy, R;
	double fov_edge; /* half-width of the soft edge, pixels */
	double chroma;   /* lateral chromatic aberration at the edge, fraction of R */
	int notch;
	double notch_ang, notch_half, notch_out;

	/* Anatomy. */
	int eye;
	enum fundus_synth_framing framing;
	enum fundus_synth_quality quality;
	double dx, dy, drx, dry; /* disc centre and rim semi-axes */
	double dh_a[3], dh_p[3]; /* rim harmonics 2, 3, 4: amplitude, phase */
	double dh_c[3], dh_s[3]; /* cosine and sine of the phases */
	double disc_edge;        /* softness of the rim, fraction of the radius */
	double ux, uy;           /* unit vector from the disc toward the fovea */
	double fx, fy;           /* fovea */
	double cup_x, cup_y, cup_rx, cup_ry, cup_edge;
	float rim_col[3], cup_col[3]; /* albedo */
	float disc_tex;               /* texture amplitude on the disc */
	int ppa;                      /* peripapillary atrophy crescent */
	double ppa_w, ppa_ang, ppa_pow;
	double ppa_c, ppa_s; /* cosine and sine of ppa_ang */
	float ppa_col[3];
	struct fundus_box disc_box;             /* exact, from the rim */
	int disc_x0, disc_y0, disc_x1, disc_y1; /* pixels the disc shading may touch */

	/* Fundus albedo. */
	float base[3];
	float var_amp[3]; /* low-frequency colour variation */
	float mottle;     /* fine mottling */
	float blotch;     /* blotches a few tenths of a disc diameter across */
	float grain;      /* tissue grain, a few pixels across */
	float choroid;    /* visible choroidal vessels (tigroid fundus) */
	float choroid_scale;
	float nfl; /* nerve-fibre striations near the disc */
	float mac_depth[3], mac_sigma, fov_depth[3], fov_sigma, fov_reflex;
	float glow, glow_sigma; /* the halo of scattered light around the disc */

	/* Illumination and camera. */
	float gain;
	float vig[3], vig_pow;
	float edge_dark; /* extra darkening in the outer quarter of the field */
	float hot, hot_x, hot_y, hot_sigma;
	float uneven;
	float cast[3];
	float haze[3];
	float ring, ring_w, ring_col[3];
	float crescent, crescent_ang, crescent_w, crescent_col[3];
	float flare, flare_col[3];
	float black; /* black level, 8-bit levels */
	float noise; /* noise deviation at mid-grey, 8-bit levels */
	float blur;  /* optical blur, pixels (edge half-width of sharp things) */
	float tone_k, tone_gamma[3];

	/* Vessel and lesion colours: absorption per channel, or albedo. */
	float art_abs[3], vein_abs[3], haem_abs[3], reflex_col[3];
	float art_col[3], vein_col[3], haem_col[3]; /* base * (1 - absorption) */
	float exu_col[3], dru_col[3], cws_col[3];

	/* Lesion counts, for the truth. */
	int n_exudates, n_haemorrhages, n_microaneurysms, n_cotton_wool, n_drusen;
	int bright_lesion;

	/* Noise tables. */
	struct fundus__noise nz[4];
	uint64_t pixel_seed;

	/* Primitives. */
	struct fundus__seg *segs;
	size_t nsegs, capsegs;
	struct fundus__blob *blobs;
	size_t nblobs, capblobs;
};

/* Appends a segment or a blob; FUNDUS_ENOMEM past memory, FUNDUS_ELIMIT past a cap. */
int fundus__scene_add_seg(struct fundus__scene *s, const struct fundus__seg *seg);
int fundus__scene_add_blob(struct fundus__scene *s, const struct fundus__blob *b);

/* Plans the whole scene from the parameters and the seed. */
int fundus__scene_plan(struct fundus__scene *s, const struct fundus_synth_params *p, uint64_t seed);
void fundus__scene_free(struct fundus__scene *s);

/* Grows the artery and vein trees from the disc. */
int fundus__vessels_plan(struct fundus__scene *s, struct fundus_rng *rng, double tortuosity);

/* Places lesions of the given kinds. */
int fundus__lesions_plan(struct fundus__scene *s, struct fundus_rng *rng);

/*
 * The rim's normalised radius at a point: below 1 inside the disc. When ca
 * is not NULL, *ca and *sa get the cosine and sine of the point's angle
 * around the centre (in the rim ellipse's normalised frame).
 */
double fundus__disc_rho(const struct fundus__scene *s, double x, double y, double *ca, double *sa);

/* Paints the planned scene into img (RGB8, s->w x s->h). */
int fundus__scene_render(const struct fundus__scene *s, struct fundus_image *img,
			 struct fundus_pool *pool);

/*
 * A standard normal deviate (Box-Muller) from the generator, computed with
 * dmath.h rather than libm so that it is the same on every machine.
 */
double fundus__gauss(struct fundus_rng *rng);

/* Helpers. */
static inline double fundus__clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static inline float fundus__smoothstep(float e0, float e1, float x)
{
	float t = (x - e0) / (e1 - e0);

	t = t < 0 ? 0 : t > 1 ? 1 : t;
	return t * t * (3 - 2 * t);
}

#endif
