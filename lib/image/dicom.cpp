/*
 * DICOM through GDCM: the one C++ file of libfundus, behind dicom.h.
 *
 * GDCM parses the file from memory (a read-only stream over the mapped
 * bytes), decodes every transfer syntax it knows (uncompressed, JPEG
 * baseline, extended and lossless, JPEG-LS, JPEG 2000, RLE, deflate) and
 * gives the samples as the file's photometric interpretation says, which
 * for JPEG may already be RGB. What is left is done here: YBR to RGB, 4:2:2
 * expanded, MONOCHROME1 inverted, planes interleaved, signed samples
 * shifted, 16-bit samples scaled from their stored bits to the full range.
 *
 * GDCM writes warnings to std::cerr and may throw; both stop here.
 */
#include <cstring>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <string>

#include <gdcmAttribute.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmTrace.h>
#include <gdcmUIDs.h>

#include "dicom.h"

extern "C" {
#include "fundus/core.h"
#include <cjson/cJSON.h>
}

namespace
{

/* A seekable read-only stream buffer over memory. */
class membuf : public std::streambuf
{
      public:
	membuf(const uint8_t *p, size_t n)
	{
		char *b = const_cast<char *>(reinterpret_cast<const char *>(p));
		setg(b, b, b + n);
	}

      protected:
	pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override
	{
		char *p = dir == std::ios_base::beg   ? eback()
			  : dir == std::ios_base::cur ? gptr()
						      : egptr();

		p += off;
		if (p < eback() || p > egptr())
			return pos_type(off_type(-1));
		setg(eback(), p, egptr());
		return pos_type(p - eback());
	}
	pos_type seekpos(pos_type pos, std::ios_base::openmode m) override
	{
		return seekoff(off_type(pos), std::ios_base::beg, m);
	}
};

/* GDCM's messages go nowhere: the library does not print. */
std::ostringstream quiet;
std::once_flag quiet_once;

void silence()
{
	std::call_once(quiet_once, [] {
		gdcm::Trace::SetStream(quiet);
		gdcm::Trace::SetDebug(false);
		gdcm::Trace::SetWarning(false);
		gdcm::Trace::SetError(false);
	});
}

} // namespace

struct fundus__dicom {
	membuf buf;
	std::istream in;
	gdcm::ImageReader reader;
	fundus__dicom_info info;
	uint8_t *pixels = nullptr; /* decoded frames, fundus_malloc */
	size_t frame_bytes = 0;

	fundus__dicom(const uint8_t *p, size_t n) : buf(p, n), in(&buf)
	{
	}
	~fundus__dicom()
	{
		fundus_free(pixels);
	}
};

/* The value of a tag as a string without DICOM's padding; "" when absent. */
static std::string get(const gdcm::DataSet &ds, uint16_t group, uint16_t elem)
{
	gdcm::Tag t(group, elem);

	if (!ds.FindDataElement(t))
		return "";
	const gdcm::DataElement &de = ds.GetDataElement(t);
	const gdcm::ByteValue *bv = de.GetByteValue();
	if (bv == nullptr)
		return "";
	std::string s(bv->GetPointer(), bv->GetLength());
	while (!s.empty() && (s.back() == ' ' || s.back() == '\0'))
		s.pop_back();
	size_t start = s.find_first_not_of(' ');
	return start == std::string::npos ? "" : s.substr(start);
}

/* Text as UTF-8: valid UTF-8 as it is, other bytes read as Latin-1. */
static std::string utf8(const std::string &s)
{
	std::string out;
	size_t i = 0;
	bool valid = true;

	while (i < s.size() && valid) {
		unsigned char c = (unsigned char)s[i];
		int n = c < 0x80         ? 0
			: (c >> 5) == 6  ? 1
			: (c >> 4) == 14 ? 2
			: (c >> 3) == 30 ? 3
					 : -1;

		if (n < 0 || i + (size_t)n >= s.size() + (n == 0 ? 1 : 0))
			valid = n == 0;
		for (int k = 1; valid && k <= n; k++)
			valid = i + (size_t)k < s.size() && ((unsigned char)s[i + k] >> 6) == 2;
		i += (size_t)n + 1;
	}
	if (valid)
		return s;
	for (unsigned char c : s) {
		if (c < 0x80) {
			out += (char)c;
		} else {
			out += (char)(0xc0 | (c >> 6));
			out += (char)(0x80 | (c & 0x3f));
		}
	}
	return out;
}

/* Sets the thread's error from inside C++ and returns the code. */
static int fail(int code, const char *msg)
{
	return fundus_error_set(code, "%s", msg);
}

/*
 * Whether the last Pixel Data element (7FE0,0010) of an uncompressed file
 * declares more bytes than the file holds (explicit or implicit VR, little
 * endian).
 */
static bool pixel_data_cut(const uint8_t *p, size_t len)
{
	static const uint8_t tag[4] = {0xe0, 0x7f, 0x10, 0x00};

	for (size_t i = len >= 12 ? len - 12 : 0; i-- > 0;) {
		uint64_t vl, start;

		if (memcmp(p + i, tag, 4) != 0)
			continue;
		if ((p[i + 4] == 'O' && (p[i + 5] == 'W' || p[i + 5] == 'B')) && p[i + 6] == 0 &&
		    p[i + 7] == 0) {
			vl = p[i + 8] | (uint64_t)p[i + 9] << 8 | (uint64_t)p[i + 10] << 16 |
			     (uint64_t)p[i + 11] << 24;
			start = i + 12;
		} else {
			vl = p[i + 4] | (uint64_t)p[i + 5] << 8 | (uint64_t)p[i + 6] << 16 |
			     (uint64_t)p[i + 7] << 24;
			start = i + 8;
		}
		return vl != 0xffffffffu && start + vl > len;
	}
	return false;
}

static int open_impl(const uint8_t *data, size_t len, int max_frames, fundus__dicom **out,
		     fundus__dicom_info *info)
{
	silence();
	fundus__dicom *d = new (std::nothrow) fundus__dicom(data, len);
	if (d == nullptr)
		return FUNDUS_ENOMEM;
	d->reader.SetStream(d->in);
	if (!d->reader.Read()) {
		const gdcm::DataSet &ds = d->reader.GetFile().GetDataSet();
		int code = FUNDUS_EFORMAT;
		const char *msg = "not a readable DICOM image (damaged, truncated, or no image)";

		if (ds.FindDataElement(gdcm::Tag(0x0400, 0x0500))) {
			code = FUNDUS_EUNSUPPORTED;
			msg = "encrypted: the DICOM object holds encrypted attributes; decrypt it "
			      "first";
		} else if (!ds.IsEmpty() && !ds.FindDataElement(gdcm::Tag(0x7fe0, 0x0010))) {
			code = FUNDUS_EUNSUPPORTED;
			msg = "a DICOM object without pixel data (not an image)";
		}
		delete d;
		return fail(code, msg);
	}
	const gdcm::Image &img = d->reader.GetImage();
	const unsigned int *dims = img.GetDimensions();
	const gdcm::PixelFormat &pf = img.GetPixelFormat();
	gdcm::PhotometricInterpretation pi = img.GetPhotometricInterpretation();
	fundus__dicom_info &in = d->info;

	memset(&in, 0, sizeof in);
	in.width = (int)dims[0];
	in.height = (int)dims[1];
	in.frames = img.GetNumberOfDimensions() > 2 ? (int)dims[2] : 1;
	in.channels = pf.GetSamplesPerPixel() == 1 ? 1 : 3;
	in.bits = pf.GetBitsAllocated() <= 8 ? 8 : 16;
	snprintf(in.photometric, sizeof in.photometric, "%s",
		 gdcm::PhotometricInterpretation::GetPIString(pi));
	for (size_t n = strlen(in.photometric); n > 0 && in.photometric[n - 1] == ' ';)
		in.photometric[--n] = '\0';
	int rc = 0;
	if (dims[0] == 0 || dims[1] == 0 || dims[0] > 65535 || dims[1] > 65535 || in.frames < 1)
		rc = fundus_error_set(FUNDUS_EFORMAT, "DICOM image size %u x %u is not valid",
				      dims[0], dims[1]);
	else if (in.frames > max_frames)
		rc = fundus_error_set(FUNDUS_ELIMIT, "%d frames, more than the limit of %d",
				      in.frames, max_frames);
	else if (pi == gdcm::PhotometricInterpretation::PALETTE_COLOR)
		rc = fail(FUNDUS_EUNSUPPORTED, "DICOM palette colour is not supported");
	else if (pf.GetBitsAllocated() != 8 && pf.GetBitsAllocated() != 16)
		rc = fundus_error_set(FUNDUS_EUNSUPPORTED,
				      "DICOM images of %d bits per sample are "
				      "not supported",
				      (int)pf.GetBitsAllocated());
	else if (pf.GetSamplesPerPixel() != 1 && pf.GetSamplesPerPixel() != 3)
		rc = fundus_error_set(FUNDUS_EUNSUPPORTED,
				      "DICOM images of %d samples per pixel "
				      "are not supported",
				      (int)pf.GetSamplesPerPixel());
	/*
	 * Uncompressed pixel data cut short: GDCM pads what is missing, so
	 * find the element's declared end in the file ourselves.
	 */
	if (rc == 0 && !img.GetTransferSyntax().IsEncapsulated() && pixel_data_cut(data, len))
		rc = fail(FUNDUS_EFORMAT, "truncated DICOM file: the pixel data ends early");
	if (rc < 0) {
		delete d;
		return rc;
	}
	*info = in;
	*out = d;
	return 0;
}

int fundus__dicom_open(const uint8_t *data, size_t len, int max_frames, fundus__dicom **out,
		       fundus__dicom_info *info)
{
	*out = nullptr;
	try {
		return open_impl(data, len, max_frames, out, info);
	} catch (const std::bad_alloc &) {
		return fail(FUNDUS_ENOMEM, "out of memory");
	} catch (...) {
		return fail(FUNDUS_EFORMAT, "not a readable DICOM image (GDCM failed)");
	}
}

/* Clamps to 0..255. */
static inline uint8_t clamp8(double v)
{
	return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5);
}

/* YCbCr (full range, as JPEG) to RGB, in place, 8-bit samples. */
static void ybr_to_rgb(uint8_t *p, size_t pixels)
{
	for (size_t i = 0; i < pixels; i++, p += 3) {
		double y = p[0], cb = p[1] - 128.0, cr = p[2] - 128.0;

		p[0] = clamp8(y + 1.402 * cr);
		p[1] = clamp8(y - 0.344136 * cb - 0.714136 * cr);
		p[2] = clamp8(y + 1.772 * cb);
	}
}

static int decode_impl(fundus__dicom *d)
{
	gdcm::Image &img = d->reader.GetImage();
	const gdcm::PixelFormat &pf = img.GetPixelFormat();
	const fundus__dicom_info &in = d->info;
	size_t len = img.GetBufferLength(), px = (size_t)in.width * (size_t)in.height, bytes,
	       out_frame;
	int spp = pf.GetSamplesPerPixel(), bps = in.bits / 8;

	if (fundus_size_mul3(&out_frame, px, (size_t)in.channels, (size_t)bps) < 0 ||
	    fundus_size_mul(&bytes, out_frame, (size_t)in.frames) < 0)
		return FUNDUS_EOVERFLOW;
	/* Room for the decoded buffer, whatever its layout, then the result in place. */
	uint8_t *raw = (uint8_t *)fundus_malloc(len > bytes ? len : bytes);
	if (raw == nullptr)
		return FUNDUS_ENOMEM;
	if (!img.GetBuffer(reinterpret_cast<char *>(raw))) {
		fundus_free(raw);
		return fail(FUNDUS_EFORMAT, "cannot decode the DICOM pixel data (damaged or "
					    "truncated)");
	}
	/* After a decode GDCM reports what the buffer holds (JPEG gives RGB). */
	gdcm::PhotometricInterpretation pi = img.GetPhotometricInterpretation();
	bool planar = img.GetPlanarConfiguration() != 0 && spp == 3;
	size_t in_frame = px * (size_t)spp * (size_t)bps;
	bool sub422 = spp == 3 && pi == gdcm::PhotometricInterpretation::YBR_FULL_422 &&
		      len < in_frame * (size_t)in.frames;

	if (sub422)
		in_frame = px * 2 * (size_t)bps;
	if (len < in_frame * (size_t)in.frames) {
		fundus_free(raw);
		return fail(FUNDUS_EFORMAT, "the DICOM pixel data is shorter than the image");
	}
	if (sub422 && bps != 1) {
		fundus_free(raw);
		return fail(FUNDUS_EUNSUPPORTED, "16-bit YBR_FULL_422 is not supported");
	}
	/*
	 * Frame by frame through a copy, in place: forwards when frames shrink
	 * or keep their size, backwards when they grow (4:2:2 expanded), so no
	 * frame is overwritten before it is read.
	 */
	uint8_t *tmp = (uint8_t *)fundus_malloc(in_frame > out_frame ? in_frame : out_frame);
	if (tmp == nullptr) {
		fundus_free(raw);
		return FUNDUS_ENOMEM;
	}
	for (int k = 0; k < in.frames; k++) {
		int f = out_frame > in_frame ? in.frames - 1 - k : k;
		uint8_t *src = raw + (size_t)f * in_frame, *dst;

		memcpy(tmp, src, in_frame);
		dst = raw + (size_t)f * out_frame;
		if (sub422) {
			/* Y0 Y1 Cb Cr per pair of pixels, rows of even width. */
			for (int y = 0; y < in.height; y++) {
				const uint8_t *s = tmp + (size_t)y * (size_t)in.width * 2;

				for (int x = 0; x < in.width; x++) {
					const uint8_t *q = s + (size_t)(x / 2) * 4;
					uint8_t *r = dst + ((size_t)y * in.width + x) * 3;

					r[0] = q[x & 1];
					r[1] = q[2];
					r[2] = q[3];
				}
			}
		} else if (planar) {
			for (size_t i = 0; i < px; i++)
				for (int c = 0; c < 3; c++)
					memcpy(dst + (i * 3 + c) * bps,
					       tmp + ((size_t)c * px + i) * bps, (size_t)bps);
		} else {
			memmove(dst, tmp, out_frame);
		}
	}
	fundus_free(tmp);
	size_t samples = px * (size_t)in.channels;
	bool ybr = spp == 3 && (pi == gdcm::PhotometricInterpretation::YBR_FULL ||
				pi == gdcm::PhotometricInterpretation::YBR_FULL_422);
	for (int f = 0; f < in.frames; f++) {
		uint8_t *p = raw + (size_t)f * out_frame;

		if (ybr && bps == 1)
			ybr_to_rgb(p, px);
		if (bps == 2) {
			uint16_t *q = reinterpret_cast<uint16_t *>(p);
			int bs = pf.GetBitsStored() ? pf.GetBitsStored() : 16;
			uint32_t max = bs >= 16 ? 65535u : (1u << bs) - 1;
			bool sign = pf.GetPixelRepresentation() == 1;

			for (size_t i = 0; i < samples; i++) {
				uint32_t v = q[i] & max;

				if (sign)
					v = (v + (max + 1) / 2) & max;
				q[i] = (uint16_t)((v * 65535u + max / 2) / max);
			}
			if (pi == gdcm::PhotometricInterpretation::MONOCHROME1)
				for (size_t i = 0; i < samples; i++)
					q[i] = (uint16_t)(65535 - q[i]);
		} else {
			if (pf.GetPixelRepresentation() == 1)
				for (size_t i = 0; i < samples; i++)
					p[i] = (uint8_t)(p[i] + 128);
			if (pi == gdcm::PhotometricInterpretation::MONOCHROME1)
				for (size_t i = 0; i < samples; i++)
					p[i] = (uint8_t)(255 - p[i]);
		}
	}
	d->pixels = raw;
	d->frame_bytes = out_frame;
	return 0;
}

int fundus__dicom_decode(fundus__dicom *d)
{
	if (d->pixels)
		return 0;
	try {
		return decode_impl(d);
	} catch (const std::bad_alloc &) {
		return fail(FUNDUS_ENOMEM, "out of memory");
	} catch (...) {
		return fail(FUNDUS_EFORMAT, "cannot decode the DICOM pixel data (GDCM failed)");
	}
}

const uint8_t *fundus__dicom_frame(const fundus__dicom *d, int frame)
{
	return d->pixels ? d->pixels + (size_t)frame * d->frame_bytes : nullptr;
}

/* Adds a string member unless empty; false when out of memory. */
static bool add(cJSON *obj, const char *key, const std::string &v)
{
	return v.empty() || cJSON_AddStringToObject(obj, key, utf8(v).c_str()) != nullptr;
}

/* "20240131" as "2024-01-31"; other forms as they are. */
static std::string date(const std::string &s)
{
	if (s.size() >= 8 && s.find_first_not_of("0123456789") >= 8)
		return s.substr(0, 4) + "-" + s.substr(4, 2) + "-" + s.substr(6, 2);
	return s;
}

static int meta_impl(const fundus__dicom *d, int phi, cJSON *meta)
{
	const gdcm::File &file = const_cast<gdcm::ImageReader &>(d->reader).GetFile();
	const gdcm::DataSet &ds = file.GetDataSet();
	std::string lat = get(ds, 0x0020, 0x0062), sop = get(ds, 0x0008, 0x0016), acq;

	if (lat.empty())
		lat = get(ds, 0x0020, 0x0060);
	acq = get(ds, 0x0008, 0x0022);
	if (acq.empty())
		acq = get(ds, 0x0008, 0x002a).substr(0, 8);
	if (acq.empty())
		acq = get(ds, 0x0008, 0x0023);
	gdcm::UIDs uid;
	std::string sop_name;
	if (!sop.empty() && uid.SetFromUID(sop.c_str()) && uid.GetName())
		sop_name = uid.GetName();
	std::string ts = get(file.GetHeader(), 0x0002, 0x0010);
	std::string burned = get(ds, 0x0028, 0x0301);
	if (!add(meta, "laterality", lat) || !add(meta, "modality", get(ds, 0x0008, 0x0060)) ||
	    !add(meta, "sop_class", sop) || !add(meta, "sop_class_name", sop_name) ||
	    !add(meta, "acquisition_date", date(acq)) ||
	    !add(meta, "photometric", d->info.photometric) || !add(meta, "transfer_syntax", ts) ||
	    !add(meta, "burned_in_annotation", burned))
		return FUNDUS_ENOMEM;
	if (!phi)
		return 0;
	cJSON *p = cJSON_AddObjectToObject(meta, "patient");
	if (p == nullptr || !add(p, "name", get(ds, 0x0010, 0x0010)) ||
	    !add(p, "id", get(ds, 0x0010, 0x0020)) ||
	    !add(p, "birth_date", date(get(ds, 0x0010, 0x0030))) ||
	    !add(p, "sex", get(ds, 0x0010, 0x0040)) ||
	    !add(p, "other_ids", get(ds, 0x0010, 0x1000)) ||
	    !add(p, "institution", get(ds, 0x0008, 0x0080)) ||
	    !add(p, "referring_physician", get(ds, 0x0008, 0x0090)) ||
	    !add(p, "accession_number", get(ds, 0x0008, 0x0050)))
		return FUNDUS_ENOMEM;
	return 0;
}

int fundus__dicom_meta(const fundus__dicom *d, int phi, cJSON *meta)
{
	try {
		return meta_impl(d, phi, meta);
	} catch (...) {
		return fail(FUNDUS_ENOMEM, "out of memory");
	}
}

void fundus__dicom_close(fundus__dicom *d)
{
	delete d;
}
