#include "common/log.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace hwnas {

absl::Status InitLogging(absl::string_view level) {
  spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level '", level, "' is unknown (expected trace, debug, info, warn, error or off)"));
  }
  // Idempotent: tools may call this more than once (tests, subcommands).
  auto logger = spdlog::get("hwnas");
  if (!logger) logger = spdlog::stderr_color_mt("hwnas");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(parsed);
  return absl::OkStatus();
}

std::string RedactSecrets(absl::string_view text) {
  static const std::regex kUriPassword(R"(([a-z]+://[^:/@\s]+:)[^@\s]*@)");
  static const std::regex kKeyValuePassword(R"((password\s*=\s*)('[^']*'|\S+))", std::regex::icase);
  std::string out = std::regex_replace(std::string(text), kUriPassword, "$1***@");
  return std::regex_replace(out, kKeyValuePassword, "$1***");
}

}  // namespace hwnas
