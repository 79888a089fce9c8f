#include "common/files.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hwnas {
namespace {

// Why `path` did not open for reading, from the errno of the attempt.
absl::Status OpenError(const std::string& path, int error) {
  const std::string message = absl::StrCat("cannot read ", path, ": ", std::strerror(error));
  if (error == ENOENT) return absl::NotFoundError(message);
  if (error == EACCES) return absl::PermissionDeniedError(message);
  return absl::UnavailableError(message);
}

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path, ": it is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return OpenError(path, errno);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  return buffer.str();
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (ec) {
    const std::string message = absl::StrCat("cannot read ", path, ": ", ec.message());
    if (ec == std::errc::no_such_file_or_directory) return absl::NotFoundError(message);
    if (ec == std::errc::permission_denied) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  if (!std::filesystem::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path, ": not a regular file"));
  }
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read ", path, ": ", size, " bytes, more than the ", max_bytes, " allowed"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return OpenError(path, errno);
  // Read at most one byte past the limit: the file may have grown since.
  std::string text(max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", path, ": more than the ", max_bytes, " bytes allowed"));
  }
  return text;
}

absl::Status CheckCanWrite(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is a directory"));
  }
  const bool existed = std::filesystem::exists(path, ec);
  if (!std::ofstream(path, std::ios::binary | std::ios::app)) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", path, " (", std::strerror(errno), ")"));
  }
  if (!existed) std::filesystem::remove(path, ec);
  return absl::OkStatus();
}

bool IsDeviceFileName(absl::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      return false;
    }
  }
  return !absl::EndsWith(name, ".yaml") && !absl::EndsWith(name, ".yml") &&
         !absl::EndsWith(name, ".json");
}

}  // namespace hwnas
