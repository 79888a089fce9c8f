#include "worker/data_files.h"

#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hwnas::worker {
namespace {

absl::Status FileError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

absl::Status MissingFile(absl::string_view path, absl::string_view what) {
  return absl::NotFoundError(
      absl::StrCat(path, ": cannot open ", what, " (", std::strerror(errno), ")"));
}

// Reads a whole file through zlib (transparent for uncompressed files).
absl::StatusOr<std::string> ReadMaybeGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return MissingFile(path, "IDX file");
  std::string out;
  char buf[1 << 16];
  while (true) {
    const int n = gzread(f, buf, sizeof(buf));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      return FileError(path, absl::StrCat("truncated or corrupt gzip stream (zlib: ", msg, ")"));
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  int err = 0;
  const char* msg = gzerror(f, &err);
  if (err != Z_OK && err != Z_STREAM_END) {
    std::string m = msg;
    gzclose(f);
    return FileError(path, absl::StrCat("truncated or corrupt gzip stream (zlib: ", m, ")"));
  }
  if (gzclose(f) != Z_OK) {
    return FileError(path, "truncated or corrupt gzip stream (bad trailer)");
  }
  return out;
}

uint32_t BigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Trimmed ASCII field of an EDF header.
std::string Field(const std::string& bytes, size_t offset, size_t width) {
  return std::string(absl::StripAsciiWhitespace(absl::string_view(bytes).substr(offset, width)));
}

}  // namespace

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadMaybeGzip(path);
  if (!bytes.ok()) return bytes.status();
  const auto* p = reinterpret_cast<const unsigned char*>(bytes->data());
  if (bytes->size() < 4) {
    return FileError(path, absl::StrCat("not an IDX file: ", bytes->size(),
                                        " bytes, too short for the 4-byte magic number"));
  }
  if (p[0] != 0 || p[1] != 0) {
    return FileError(path, absl::StrFormat("not an IDX file: wrong magic number 0x%02x%02x%02x%02x "
                                           "(expected 0x0000TTNN)",
                                           p[0], p[1], p[2], p[3]));
  }
  if (p[2] != 0x08) {
    return FileError(path, absl::StrFormat("IDX element type 0x%02x is not supported (only "
                                           "unsigned bytes, 0x08)",
                                           p[2]));
  }
  const int ndims = p[3];
  if (ndims < 1 || ndims > 4) {
    return FileError(path, absl::StrCat("IDX file with ", ndims, " dimensions (expected 1 to 4)"));
  }
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (bytes->size() < header) {
    return FileError(path, absl::StrCat("truncated IDX file: the header needs ", header,
                                        " bytes, the file has ", bytes->size()));
  }
  IdxArray out;
  int64_t total = 1;
  for (int i = 0; i < ndims; ++i) {
    const int64_t d = BigEndian32(p + 4 + 4 * i);
    if (d <= 0 || d > (int64_t{1} << 31)) {
      return FileError(path, absl::StrCat("IDX dimension ", i, " is ", d));
    }
    out.dims.push_back(d);
    total *= d;
  }
  const int64_t have = static_cast<int64_t>(bytes->size() - header);
  if (have < total) {
    return FileError(
        path, absl::StrCat("truncated IDX file: the header promises ", total, " bytes of data (",
                           absl::StrJoin(out.dims, " x "), "), the file has ", have));
  }
  if (have > total) {
    return FileError(
        path, absl::StrCat("IDX file has ", have - total, " unexpected bytes after the data (",
                           absl::StrJoin(out.dims, " x "), ")"));
  }
  out.data.assign(p + header, p + header + total);
  return out;
}

absl::StatusOr<UcrTable> ReadUcrFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MissingFile(path, "UCR file");
  UcrTable table;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty()) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(text, absl::ByAnyChar(" \t,"), absl::SkipEmpty());
    double label = 0;
    if (!absl::SimpleAtod(parts[0], &label) || !std::isfinite(label)) {
      return FileError(path,
                       absl::StrCat("line ", line_no, ": label '", parts[0], "' is not a number"));
    }
    const int64_t length = static_cast<int64_t>(parts.size()) - 1;
    if (length < 1) {
      return FileError(path, absl::StrCat("line ", line_no, ": has a label but no values"));
    }
    if (table.length == 0) table.length = length;
    if (length != table.length) {
      return FileError(
          path, absl::StrCat("line ", line_no, ": has ", length, " values, earlier rows have ",
                             table.length, " (rows must have equal length)"));
    }
    for (int64_t i = 1; i <= length; ++i) {
      double v = 0;
      if (!absl::SimpleAtod(parts[i], &v) || !std::isfinite(v)) {
        return FileError(path, absl::StrCat("line ", line_no, ", value ", i, ": '", parts[i],
                                            "' is not a finite number"));
      }
      table.values.push_back(static_cast<float>(v));
    }
    table.labels.push_back(label);
  }
  if (table.labels.empty()) return FileError(path, "UCR file has no rows");
  return table;
}

std::string NormalizeChannelName(absl::string_view label) {
  std::string out;
  for (char c : label) {
    if (c == '.' || c == ' ') continue;
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

absl::StatusOr<EdfRecording> ReadEdfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MissingFile(path, "EDF file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  if (bytes.size() < 256) {
    return FileError(path, absl::StrCat("truncated EDF header: ", bytes.size(),
                                        " bytes, the fixed header alone is 256"));
  }
  const std::string version = Field(bytes, 0, 8);
  if (version != "0") {
    return FileError(path, absl::StrCat("not an EDF file: version field is '",
                                        absl::CHexEscape(version), "', expected '0'"));
  }
  int64_t header_bytes = 0, num_records = 0, ns = 0;
  double duration = 0;
  if (!absl::SimpleAtoi(Field(bytes, 184, 8), &header_bytes) ||
      !absl::SimpleAtoi(Field(bytes, 236, 8), &num_records) ||
      !absl::SimpleAtod(Field(bytes, 244, 8), &duration) ||
      !absl::SimpleAtoi(Field(bytes, 252, 4), &ns)) {
    return FileError(path,
                     "malformed EDF header: header size, record count, record duration "
                     "or signal count is not a number");
  }
  if (ns < 1 || ns > 4096) {
    return FileError(path, absl::StrCat("malformed EDF header: ", ns, " signals"));
  }
  if (header_bytes != 256 * (ns + 1)) {
    return FileError(path,
                     absl::StrCat("malformed EDF header: header size field says ", header_bytes,
                                  " bytes, ", ns, " signals need ", 256 * (ns + 1)));
  }
  if (num_records < 1) {
    return FileError(path, absl::StrCat("EDF header gives ", num_records,
                                        " data records (unknown counts are not supported)"));
  }
  if (!(duration > 0)) {
    return FileError(path, absl::StrCat("EDF record duration is ", duration, " s"));
  }
  if (static_cast<int64_t>(bytes.size()) < header_bytes) {
    return FileError(path,
                     absl::StrCat("truncated EDF header: ", ns, " signals need ", header_bytes,
                                  " header bytes, the file has ", bytes.size()));
  }
  EdfRecording rec;
  rec.format = Field(bytes, 192, 44).substr(0, 5);
  if (rec.format != "EDF+C" && rec.format != "EDF+D") rec.format.clear();
  if (rec.format == "EDF+D") {
    return FileError(path, "discontinuous EDF+D recordings are not supported");
  }
  rec.num_records = num_records;
  rec.record_duration_s = duration;

  // Per-signal fields are stored field by field for all signals.
  const size_t base = 256;
  auto sig_field = [&](size_t field_offset, size_t width, int64_t i) {
    return Field(bytes, base + field_offset * ns + i * width, width);
  };
  struct Raw {
    std::string label, unit;
    double pmin = 0, pmax = 0, dmin = 0, dmax = 0;
    int64_t spr = 0;
  };
  std::vector<Raw> raw(ns);
  int64_t record_samples = 0;
  for (int64_t i = 0; i < ns; ++i) {
    Raw& r = raw[i];
    r.label = sig_field(0, 16, i);
    r.unit = sig_field(16 + 80, 8, i);
    const size_t num_base = 16 + 80 + 8;
    if (!absl::SimpleAtod(sig_field(num_base, 8, i), &r.pmin) ||
        !absl::SimpleAtod(sig_field(num_base + 8, 8, i), &r.pmax) ||
        !absl::SimpleAtod(sig_field(num_base + 16, 8, i), &r.dmin) ||
        !absl::SimpleAtod(sig_field(num_base + 24, 8, i), &r.dmax) ||
        !absl::SimpleAtoi(sig_field(num_base + 32 + 80, 8, i), &r.spr)) {
      return FileError(path, absl::StrCat("malformed EDF header: signal ", i + 1, " ('", r.label,
                                          "') has a non-numeric min/max or sample count"));
    }
    if (r.spr < 1 || r.dmax <= r.dmin || r.pmax == r.pmin) {
      return FileError(
          path, absl::StrCat("malformed EDF header: signal ", i + 1, " ('", r.label, "') has ",
                             r.spr, " samples per record or an empty min..max range"));
    }
    record_samples += r.spr;
  }
  const int64_t expected = header_bytes + num_records * record_samples * 2;
  if (static_cast<int64_t>(bytes.size()) < expected) {
    return FileError(
        path, absl::StrCat("truncated EDF file: the header promises ", num_records, " records (",
                           expected, " bytes in all), the file has ", bytes.size()));
  }
  if (static_cast<int64_t>(bytes.size()) > expected) {
    return FileError(
        path, absl::StrCat("EDF file has ", static_cast<int64_t>(bytes.size()) - expected,
                           " bytes beyond the ", num_records, " records its header declares"));
  }

  // Offsets of each signal inside one record.
  std::vector<int64_t> offset(ns, 0);
  for (int64_t i = 1; i < ns; ++i) offset[i] = offset[i - 1] + raw[i - 1].spr;
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data() + header_bytes);
  for (int64_t i = 0; i < ns; ++i) {
    if (raw[i].label == "EDF Annotations") continue;
    EdfSignal s;
    s.label = raw[i].label;
    s.unit = raw[i].unit;
    s.samples_per_record = static_cast<int>(raw[i].spr);
    s.sample_rate = raw[i].spr / duration;
    s.data.resize(num_records * raw[i].spr);
    const double gain = (raw[i].pmax - raw[i].pmin) / (raw[i].dmax - raw[i].dmin);
    const double shift = raw[i].pmin - raw[i].dmin * gain;
    for (int64_t r = 0; r < num_records; ++r) {
      const unsigned char* p = data + 2 * (r * record_samples + offset[i]);
      float* out = s.data.data() + r * raw[i].spr;
      for (int64_t k = 0; k < raw[i].spr; ++k) {
        const int16_t d = static_cast<int16_t>(p[2 * k] | (p[2 * k + 1] << 8));
        out[k] = static_cast<float>(d * gain + shift);
      }
    }
    rec.signals.push_back(std::move(s));
  }

  // Annotation signals: each record holds TALs "+onset[\x15dur]\x14text\x14...\x14\0".
  for (int64_t i = 0; i < ns; ++i) {
    if (raw[i].label != "EDF Annotations") continue;
    for (int64_t r = 0; r < num_records; ++r) {
      const char* p = reinterpret_cast<const char*>(data + 2 * (r * record_samples + offset[i]));
      absl::string_view block(p, 2 * raw[i].spr);
      for (absl::string_view tal : absl::StrSplit(block, '\0', absl::SkipEmpty())) {
        std::vector<absl::string_view> parts = absl::StrSplit(tal, '\x14');
        if (parts.size() < 2 || parts[0].empty() ||
            (parts[0].front() != '+' && parts[0].front() != '-')) {
          return FileError(path, absl::StrCat("malformed EDF+ annotation in record ", r + 1, ": '",
                                              absl::CHexEscape(tal), "'"));
        }
        std::vector<absl::string_view> time = absl::StrSplit(parts[0], '\x15');
        double onset = 0, dur = 0;
        if (!absl::SimpleAtod(time[0], &onset) ||
            (time.size() > 1 && !absl::SimpleAtod(time[1], &dur))) {
          return FileError(path, absl::StrCat("malformed EDF+ annotation onset in record ", r + 1,
                                              ": '", absl::CHexEscape(parts[0]), "'"));
        }
        for (size_t k = 1; k < parts.size(); ++k) {
          if (parts[k].empty()) continue;  // Time-keeping TAL or the list terminator.
          rec.annotations.push_back({onset, dur, std::string(parts[k])});
        }
      }
    }
  }
  return rec;
}

}  // namespace hwnas::worker
