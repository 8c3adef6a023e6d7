/*
 * Internal: the C face of lib/image/dicom.cpp, the only file that speaks
 * to GDCM (C++). dicom_codec.c builds the codec on it. GDCM's messages are
 * silenced and its exceptions caught; errors come back as FUNDUS_E codes
 * with the message set.
 */
#ifndef FUNDUS_IMAGE_DICOM_H
#define FUNDUS_IMAGE_DICOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;
struct fundus__dicom;

/* What the header of a DICOM image says. */
struct fundus__dicom_info {
	int width, height;
	int frames;           /* at least 1 */
	int channels;         /* 1 (gray) or 3 (colour) after decoding */
	int bits;             /* 8 or 16 after decoding */
	char photometric[24]; /* as in the file: "RGB", "YBR_FULL_422", "MONOCHROME1", ... */
};

/*
 * Parses a DICOM file held in memory (data stays borrowed until close).
 * Refuses, with FUNDUS_EUNSUPPORTED, objects without pixel data, palette
 * colour, 1-bit and 32-bit samples, and encrypted attributes; with
 * FUNDUS_EFORMAT what GDCM cannot parse. max_frames bounds the frames.
 */
int fundus__dicom_open(const uint8_t *data, size_t len, int max_frames, struct fundus__dicom **out,
		       struct fundus__dicom_info *info);

/*
 * Decodes every frame (once; later calls return at once) into interleaved
 * gray or RGB samples of info->bits bits, 16-bit ones in native order and
 * scaled to the full range: YBR converted to RGB, MONOCHROME1 inverted,
 * planar configuration undone. The caller checks the pixel count first.
 */
int fundus__dicom_decode(struct fundus__dicom *d);

/* The decoded samples of a frame, rows without padding; NULL before decode. */
const uint8_t *fundus__dicom_frame(const struct fundus__dicom *d, int frame);

/*
 * Adds laterality, modality, sop_class, sop_class_name, acquisition_date,
 * photometric, transfer_syntax and burned_in_annotation, where the file
 * has them, to meta; with phi, also "patient": {name, id, birth_date, sex,
 * other_ids, institution, referring_physician, accession_number}.
 */
int fundus__dicom_meta(const struct fundus__dicom *d, int phi, struct cJSON *meta);

/* Frees everything; NULL is fine. */
void fundus__dicom_close(struct fundus__dicom *d);

/*
 * The DICOM codec runs GDCM in child processes (dicom_codec.c). A program
 * that opens DICOM files from several threads calls this first, while it
 * has a single thread: it starts a helper process that forks those
 * children, since a fork from a threaded process may inherit a lock held
 * by another thread forever. Counted: each start needs a stop, which ends
 * the helper after the last. Returns 0 or FUNDUS_EIO.
 */
int fundus__dicom_helper_start(void);
void fundus__dicom_helper_stop(void);

#ifdef __cplusplus
}
#endif
#endif
