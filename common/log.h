// Logging: spdlog with structured key=value lines, e.g.
//   spdlog::info("event=trial_leased search={} trial={} worker={}", ...);
// Secrets never go into a log line: pass connection strings through
// RedactSecrets first.
#ifndef HWNAS_COMMON_LOG_H_
#define HWNAS_COMMON_LOG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hwnas {

// Sets the global level ("trace", "debug", "info", "warn", "error", "off")
// and the line format (UTC time, level, message) and sends logs to stderr.
absl::Status InitLogging(absl::string_view level);

// Replaces passwords in a PostgreSQL connection URI or key=value string
// ("postgresql://u:secret@h/db", "password=secret") with "***".
std::string RedactSecrets(absl::string_view text);

}  // namespace hwnas

#endif  // HWNAS_COMMON_LOG_H_
