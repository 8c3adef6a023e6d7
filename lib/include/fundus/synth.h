/*
 * fundus/synth.h: synthetic colour fundus photographs with a known optic disc.
 * (Interface being written: see lib/synth/.)
 */
#ifndef FUNDUS_SYNTH_H
#define FUNDUS_SYNTH_H

#include "fundus/image.h"
#include "fundus/record.h"

#endif
