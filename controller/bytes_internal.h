// Checkpoint encoding shared by the strategies: a flat little-endian byte
// stream with length-prefixed strings and vectors. Internal to controller/.
// Checkpoints are versioned by a tag and a format number at the front, so a
// wrong or truncated blob is rejected with a clear error, never misread.
#ifndef HWNAS_CONTROLLER_BYTES_INTERNAL_H_
#define HWNAS_CONTROLLER_BYTES_INTERNAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/trial.h"
#include "controller/rng.h"

namespace hwnas::controller::internal {

class ByteWriter {
 public:
  void U64(uint64_t v);
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void F64(double v);
  void Bool(bool v) { U64(v ? 1 : 0); }
  void Str(absl::string_view s);
  void Ints(const std::vector<int>& v);
  void F32s(const float* data, size_t n);
  void RngState(const Rng& rng);
  void Arch(const Architecture& a);
  void Result(const TrialResult& r);

  std::string Take() && { return std::move(out_); }

 private:
  std::string out_;
};

// Every read fails with DataLossError once the input is exhausted or malformed.
class ByteReader {
 public:
  explicit ByteReader(absl::string_view in) : in_(in) {}

  absl::StatusOr<uint64_t> U64();
  absl::StatusOr<int64_t> I64();
  absl::StatusOr<double> F64();
  absl::StatusOr<bool> Bool();
  absl::StatusOr<std::string> Str();
  absl::StatusOr<std::vector<int>> Ints();
  absl::Status F32s(float* data, size_t n);
  absl::Status RngState(Rng& rng);
  absl::StatusOr<Architecture> Arch();
  absl::StatusOr<TrialResult> Result();

  bool done() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  // Fails unless every byte was consumed.
  absl::Status ExpectEnd() const;

 private:
  absl::string_view in_;
  size_t pos_ = 0;
};

// Writes / checks the header "<tag> v<format>" that starts every checkpoint.
void WriteHeader(ByteWriter& w, absl::string_view tag, int format);
absl::Status ReadHeader(ByteReader& r, absl::string_view tag, int format);
// The same for a reader of several formats: returns the checkpoint's, which
// must lie in [oldest, newest].
absl::StatusOr<int> ReadHeaderFormat(ByteReader& r, absl::string_view tag, int oldest, int newest);

}  // namespace hwnas::controller::internal

#endif  // HWNAS_CONTROLLER_BYTES_INTERNAL_H_
