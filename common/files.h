// Reading a whole file with an error that says what went wrong, shared by
// the programs that read specs, configs and certificates.
#ifndef HWNAS_COMMON_FILES_H_
#define HWNAS_COMMON_FILES_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwnas {

// The contents of `path`. Errors name the path and the reason ("is a
// directory", "No such file or directory", ...): NotFound when it does not
// exist, InvalidArgument for a directory, PermissionDenied or Unavailable
// otherwise. An ifstream alone reads a directory as an empty file.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// The contents of a regular file of at most `max_bytes`: a device, a pipe or
// a larger file is refused (InvalidArgument) before reading, so a path can
// neither exhaust memory (/dev/zero) nor block. Errors as ReadWholeFile's.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, size_t max_bytes);

// Whether `path` can be written, checked before long work that ends in
// writing it: not a directory (InvalidArgument), and a file can be created
// or opened for writing there (PermissionDenied naming the reason).
// Nothing it creates stays behind.
absl::Status CheckCanWrite(const std::string& path);

// Whether `name` can name a device file (an MCU profile, a latency lookup
// table) in the operator's search-path directories: 1 to 64 of
// [A-Za-z0-9_.-], not starting with '.', no extension (.yaml, .yml, .json).
// Specs are untrusted input, so a name never leaves those directories. Here
// so that the spec check (spec/worker_spec) and the loaders (hardware/) apply
// one rule.
bool IsDeviceFileName(absl::string_view name);

}  // namespace hwnas

#endif  // HWNAS_COMMON_FILES_H_
