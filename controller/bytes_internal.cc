#include "controller/bytes_internal.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hwnas::controller::internal {
namespace {

absl::Status Truncated() { return absl::DataLossError("checkpoint is truncated or corrupt"); }

}  // namespace

void ByteWriter::U64(uint64_t v) {
  char bytes[8];  // Little-endian whatever the host.
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out_.append(bytes, sizeof bytes);
}

void ByteWriter::F64(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  U64(bits);
}

void ByteWriter::Str(absl::string_view s) {
  U64(s.size());
  out_.append(s.data(), s.size());
}

void ByteWriter::Ints(const std::vector<int>& v) {
  U64(v.size());
  for (int x : v) I64(x);
}

void ByteWriter::F32s(const float* data, size_t n) {
  U64(n);
  out_.append(reinterpret_cast<const char*>(data), n * sizeof(float));
}

void ByteWriter::RngState(const Rng& rng) {
  for (uint64_t s : rng.state()) U64(s);
}

void ByteWriter::Arch(const Architecture& a) {
  Str(a.space);
  I64(a.space_version);
  Ints(a.tokens);
  Str(a.readable);
}

void ByteWriter::Result(const TrialResult& r) {
  F64(r.accuracy);
  F64(r.loss);
  Bool(r.latency.has_value());
  if (r.latency) {
    F64(r.latency->median_ms);
    F64(r.latency->p90_ms);
    I64(r.latency->runs);
    I64(r.latency->threads);
    Str(r.latency->device);
  }
  I64(r.costs.params);
  I64(r.costs.macs);
  I64(r.costs.peak_activation_bytes);
  I64(r.costs.flash_bytes);
  U64(r.estimates.size());
  for (const auto& [k, v] : r.estimates) {
    Str(k);
    F64(v);
  }
  F64(r.train_seconds);
  I64(r.epochs);
  Str(r.error);
}

absl::StatusOr<uint64_t> ByteReader::U64() {
  if (in_.size() - pos_ < 8) return Truncated();
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in_[pos_ + i])) << (8 * i);
  }
  pos_ += 8;
  return v;
}

absl::StatusOr<int64_t> ByteReader::I64() {
  HWNAS_ASSIGN_OR_RETURN(uint64_t v, U64());
  return static_cast<int64_t>(v);
}

absl::StatusOr<double> ByteReader::F64() {
  HWNAS_ASSIGN_OR_RETURN(uint64_t bits, U64());
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

absl::StatusOr<bool> ByteReader::Bool() {
  HWNAS_ASSIGN_OR_RETURN(uint64_t v, U64());
  if (v > 1) return Truncated();
  return v == 1;
}

absl::StatusOr<std::string> ByteReader::Str() {
  HWNAS_ASSIGN_OR_RETURN(uint64_t n, U64());
  if (in_.size() - pos_ < n) return Truncated();
  std::string s(in_.substr(pos_, n));
  pos_ += n;
  return s;
}

absl::StatusOr<std::vector<int>> ByteReader::Ints() {
  HWNAS_ASSIGN_OR_RETURN(uint64_t n, U64());
  if ((in_.size() - pos_) / 8 < n) return Truncated();
  std::vector<int> v(n);
  for (uint64_t i = 0; i < n; ++i) {
    HWNAS_ASSIGN_OR_RETURN(int64_t x, I64());
    v[i] = static_cast<int>(x);
  }
  return v;
}

absl::Status ByteReader::F32s(float* data, size_t n) {
  HWNAS_ASSIGN_OR_RETURN(uint64_t stored, U64());
  if (stored != n) {
    return absl::DataLossError(
        absl::StrCat("checkpoint holds ", stored, " values where ", n, " were expected"));
  }
  if ((in_.size() - pos_) / sizeof(float) < n) return Truncated();
  std::memcpy(data, in_.data() + pos_, n * sizeof(float));
  pos_ += n * sizeof(float);
  return absl::OkStatus();
}

absl::Status ByteReader::RngState(Rng& rng) {
  Rng::State s;
  for (uint64_t& x : s) {
    HWNAS_ASSIGN_OR_RETURN(x, U64());
  }
  rng.set_state(s);
  return absl::OkStatus();
}

absl::StatusOr<Architecture> ByteReader::Arch() {
  Architecture a;
  HWNAS_ASSIGN_OR_RETURN(a.space, Str());
  HWNAS_ASSIGN_OR_RETURN(int64_t version, I64());
  a.space_version = static_cast<int>(version);
  HWNAS_ASSIGN_OR_RETURN(a.tokens, Ints());
  HWNAS_ASSIGN_OR_RETURN(a.readable, Str());
  return a;
}

absl::StatusOr<TrialResult> ByteReader::Result() {
  TrialResult r;
  HWNAS_ASSIGN_OR_RETURN(r.accuracy, F64());
  HWNAS_ASSIGN_OR_RETURN(r.loss, F64());
  HWNAS_ASSIGN_OR_RETURN(bool has_latency, Bool());
  if (has_latency) {
    LatencyMeasurement m;
    HWNAS_ASSIGN_OR_RETURN(m.median_ms, F64());
    HWNAS_ASSIGN_OR_RETURN(m.p90_ms, F64());
    HWNAS_ASSIGN_OR_RETURN(int64_t runs, I64());
    HWNAS_ASSIGN_OR_RETURN(int64_t threads, I64());
    m.runs = static_cast<int>(runs);
    m.threads = static_cast<int>(threads);
    HWNAS_ASSIGN_OR_RETURN(m.device, Str());
    r.latency = std::move(m);
  }
  HWNAS_ASSIGN_OR_RETURN(r.costs.params, I64());
  HWNAS_ASSIGN_OR_RETURN(r.costs.macs, I64());
  HWNAS_ASSIGN_OR_RETURN(r.costs.peak_activation_bytes, I64());
  HWNAS_ASSIGN_OR_RETURN(r.costs.flash_bytes, I64());
  HWNAS_ASSIGN_OR_RETURN(uint64_t n, U64());
  for (uint64_t i = 0; i < n; ++i) {
    HWNAS_ASSIGN_OR_RETURN(std::string k, Str());
    HWNAS_ASSIGN_OR_RETURN(double v, F64());
    r.estimates[k] = v;
  }
  HWNAS_ASSIGN_OR_RETURN(r.train_seconds, F64());
  HWNAS_ASSIGN_OR_RETURN(int64_t epochs, I64());
  r.epochs = static_cast<int>(epochs);
  HWNAS_ASSIGN_OR_RETURN(r.error, Str());
  return r;
}

absl::Status ByteReader::ExpectEnd() const {
  if (!done()) {
    return absl::DataLossError(
        absl::StrCat("checkpoint has ", in_.size() - pos_, " unexpected trailing bytes"));
  }
  return absl::OkStatus();
}

void WriteHeader(ByteWriter& w, absl::string_view tag, int format) {
  w.Str(tag);
  w.I64(format);
}

absl::Status ReadHeader(ByteReader& r, absl::string_view tag, int format) {
  return ReadHeaderFormat(r, tag, format, format).status();
}

absl::StatusOr<int> ReadHeaderFormat(ByteReader& r, absl::string_view tag, int oldest, int newest) {
  absl::StatusOr<std::string> got = r.Str();
  if (!got.ok() || *got != tag) {
    return absl::InvalidArgumentError(absl::StrCat("not a '", tag, "' checkpoint"));
  }
  HWNAS_ASSIGN_OR_RETURN(int64_t f, r.I64());
  if (f < oldest || f > newest) {
    const std::string reads = oldest == newest ? absl::StrCat("format ", newest)
                                               : absl::StrCat("formats ", oldest, " to ", newest);
    return absl::InvalidArgumentError(
        absl::StrCat("'", tag, "' checkpoint has format ", f, ", this build reads ", reads));
  }
  return static_cast<int>(f);
}

}  // namespace hwnas::controller::internal
