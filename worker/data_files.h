// Readers for the file formats the worker trains on: IDX (gzipped or plain),
// UCR archive text and EDF/EDF+ with its "EDF Annotations" channel. Torch-free.
// Every error names the file and what is wrong with it.
#ifndef HWNAS_WORKER_DATA_FILES_H_
#define HWNAS_WORKER_DATA_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwnas::worker {

// An IDX array of unsigned bytes (type 0x08): dims[0] is the item count.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Reads an IDX file, gzipped or not (zlib reads both). Only unsigned-byte
// element types are supported (the type every image/label set uses).
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path);

// A UCR archive table: one series per row, label first.
struct UcrTable {
  int64_t length = 0;          // Values per series.
  std::vector<float> values;   // rows x length.
  std::vector<double> labels;  // As written in the file (e.g. 1.0 .. 5.0).
  int64_t rows() const { return static_cast<int64_t>(labels.size()); }
};

// Reads a UCR text file (whitespace or comma separated).
absl::StatusOr<UcrTable> ReadUcrFile(const std::string& path);

struct EdfSignal {
  std::string label;  // As in the file, e.g. "Fc5." or "EDF Annotations".
  std::string unit;   // Physical dimension, e.g. "uV".
  int samples_per_record = 0;
  double sample_rate = 0;   // samples_per_record / record duration.
  std::vector<float> data;  // Physical values (empty for annotation signals).
};

// One annotation of a TAL (time-stamped annotation list).
struct EdfAnnotation {
  double onset_s = 0;     // Seconds from the start of the recording.
  double duration_s = 0;  // 0 when the TAL gives none.
  std::string text;       // e.g. "T1".
};

struct EdfRecording {
  std::string format;  // Reserved field: "EDF+C", "EDF+D" or "" (plain EDF).
  int64_t num_records = 0;
  double record_duration_s = 0;
  std::vector<EdfSignal> signals;          // Ordinary signals, in file order.
  std::vector<EdfAnnotation> annotations;  // From every "EDF Annotations" signal.
};

// Reads an EDF or EDF+ (continuous) file with 16-bit samples, converting
// digital values to physical ones and parsing the annotation TALs.
absl::StatusOr<EdfRecording> ReadEdfFile(const std::string& path);

// "Fc5." -> "FC5": strips EDF padding dots and upper-cases, so users can
// write channel names as in the 10-10 system.
std::string NormalizeChannelName(absl::string_view label);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_DATA_FILES_H_
