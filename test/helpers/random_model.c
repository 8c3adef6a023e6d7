/*
 * random_model: writes a model file with random (freshly initialised)
 * weights, for tests of the programs that run a model before any is
 * trained. Its boxes are junk, but every path of detection runs.
 *
 *     random_model OUT.fdm [NET [SEED [LABEL]...]]
 *
 * NET is a built-in network (default yolov3-tiny); SEED the seed of the
 * weights (default 1); the labels default to optic_disc.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/nn.h"

int main(int argc, char **argv)
{
	const char *name = argc > 2 ? argv[2] : "yolov3-tiny", *desc;
	const char *labels[64] = {"optic_disc"};
	struct fundus_net_params p;
	struct fundus_net *net;
	int nlabels = 1;
	char *end;

	if (argc < 2 || argc > 4 + 64) {
		fprintf(stderr, "usage: random_model OUT.fdm [NET [SEED [LABEL]...]]\n");
		return 2;
	}
	fundus_net_defaults(&p);
	if (argc > 3) {
		errno = 0;
		p.seed = strtoull(argv[3], &end, 10);
		if (*end || errno) {
			fprintf(stderr, "random_model: bad seed '%s'\n", argv[3]);
			return 2;
		}
	}
	if (argc > 4) {
		nlabels = argc - 4;
		for (int i = 0; i < nlabels; i++)
			labels[i] = argv[4 + i];
	}
	if ((desc = fundus_net_builtin(name)) == NULL) {
		fprintf(stderr, "random_model: no built-in network '%s'\n", name);
		return 2;
	}
	if (fundus_net_new(&net, desc, strlen(desc), &p) < 0 ||
	    fundus_net_set_labels(net, labels, nlabels) < 0 || fundus_net_save(net, argv[1]) < 0) {
		fprintf(stderr, "random_model: '%s': %s\n", argv[1], fundus_errmsg());
		return 1;
	}
	fundus_net_free(net);
	return 0;
}
