/*
 * fundus/fundus.h: the whole public interface of libfundus.
 *
 * Link with `pkg-config --libs fundus`, or in CMake:
 *     find_package(Fundus REQUIRED)
 *     target_link_libraries(app PRIVATE Fundus::fundus)
 */
#ifndef FUNDUS_FUNDUS_H
#define FUNDUS_FUNDUS_H

#include "fundus/core.h"
#include "fundus/convert.h"
#include "fundus/draw.h"
#include "fundus/eval.h"
#include "fundus/file.h"
#include "fundus/image.h"
#include "fundus/ingest.h"
#include "fundus/nn.h"
#include "fundus/pool.h"
#include "fundus/record.h"
#include "fundus/rng.h"
#include "fundus/sha256.h"
#include "fundus/synth.h"
#include "fundus/workspace.h"

#endif
