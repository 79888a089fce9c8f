#include "cli/guided.h"

#include <cmath>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "yaml-cpp/yaml.h"

namespace hwnas::cli {
namespace {

constexpr absl::string_view kArchitecture = "architecture";

struct CsvRecord {
  int line = 0;  // Where the record starts (1-based).
  std::vector<std::string> fields;
};

// RFC 4180 records: quoted fields may hold commas, quotes ("") and newlines.
absl::StatusOr<std::vector<CsvRecord>> SplitCsv(absl::string_view text, absl::string_view name) {
  std::vector<CsvRecord> out;
  CsvRecord record{.line = 1};
  std::string field;
  bool quoted = false;
  bool any = false;  // The record has content (a blank line is skipped).
  int line = 1;
  auto end_field = [&] {
    record.fields.push_back(std::string(absl::StripAsciiWhitespace(field)));
    field.clear();
  };
  auto end_record = [&] {
    if (any) {
      end_field();
      out.push_back(std::move(record));
    }
    record = CsvRecord{.line = line + 1};
    field.clear();
    any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      any = true;
      end_field();
    } else if (c == '\n') {
      end_record();
      ++line;
    } else if (c != '\r') {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) any = true;
      field += c;
    }
  }
  if (quoted) return absl::InvalidArgumentError(absl::StrCat(name, ":", line, ": unclosed quote"));
  end_record();
  return out;
}

absl::Status RowError(absl::string_view name, int line, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(name, ":", line, ": ", message, "; nothing was imported"));
}

// Checks and completes one imported row.
absl::Status FinishRow(GuidedRow& row, const std::set<std::string>& given, absl::string_view name) {
  if (row.architecture.empty()) return RowError(name, row.line, "missing architecture");
  if (!given.contains("accuracy")) return RowError(name, row.line, "missing accuracy");
  if (!(row.result->accuracy >= 0 && row.result->accuracy <= 1)) {
    return RowError(
        name, row.line,
        absl::StrCat("accuracy ", row.result->accuracy, " is not a fraction in [0, 1]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GuidedRow>> ParseCsv(absl::string_view text, absl::string_view name) {
  absl::StatusOr<std::vector<CsvRecord>> records = SplitCsv(text, name);
  if (!records.ok()) return records.status();
  if (records->empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": empty file"));
  const CsvRecord& header = records->front();
  int arch_column = -1;
  std::set<std::string> seen;
  for (size_t c = 0; c < header.fields.size(); ++c) {
    const std::string& h = header.fields[c];
    if (!seen.insert(h).second) {
      return RowError(name, header.line, absl::StrCat("column '", h, "' appears twice"));
    }
    if (h == kArchitecture) {
      arch_column = static_cast<int>(c);
      continue;
    }
    TrialResult probe;
    if (absl::Status s = SetImportedMetric(probe, h, 0); !s.ok()) {
      return RowError(name, header.line, absl::StrCat("column ", c + 1, ": ", s.message()));
    }
  }
  if (arch_column < 0) {
    return RowError(name, header.line, "the header has no 'architecture' column");
  }
  if (!seen.contains("accuracy")) {
    return RowError(name, header.line, "the header has no 'accuracy' column");
  }
  std::vector<GuidedRow> rows;
  for (size_t r = 1; r < records->size(); ++r) {
    const CsvRecord& rec = (*records)[r];
    if (rec.fields.size() != header.fields.size()) {
      return RowError(
          name, rec.line,
          absl::StrCat(rec.fields.size(), " fields, the header has ", header.fields.size()));
    }
    GuidedRow row{.line = rec.line, .result = TrialResult{}};
    std::set<std::string> given;
    for (size_t c = 0; c < rec.fields.size(); ++c) {
      const std::string& column = header.fields[c];
      const std::string& cell = rec.fields[c];
      if (static_cast<int>(c) == arch_column) {
        row.architecture = cell;
        continue;
      }
      if (cell.empty()) return RowError(name, rec.line, absl::StrCat("missing ", column));
      double value = 0;
      if (!absl::SimpleAtod(cell, &value) || !std::isfinite(value)) {
        return RowError(name, rec.line,
                        absl::StrCat(column, " '", cell, "' is not a finite number"));
      }
      if (absl::Status s = SetImportedMetric(*row.result, column, value); !s.ok()) {
        return RowError(name, rec.line, s.message());
      }
      given.insert(column);
    }
    if (absl::Status s = FinishRow(row, given, name); !s.ok()) return s;
    rows.push_back(std::move(row));
  }
  if (rows.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": no result rows"));
  return rows;
}

absl::StatusOr<std::vector<GuidedRow>> ParseJson(absl::string_view text, absl::string_view name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return RowError(name, e.mark.line + 1, absl::StrCat("not valid JSON: ", e.msg));
  }
  if (!root.IsSequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected a JSON array of objects, one per result"));
  }
  std::vector<GuidedRow> rows;
  for (const YAML::Node& item : root) {
    const int line = item.Mark().line + 1;
    if (!item.IsMap()) return RowError(name, line, "expected an object");
    GuidedRow row{.line = line, .result = TrialResult{}};
    std::set<std::string> given;
    for (const auto& kv : item) {
      const std::string key = kv.first.as<std::string>();
      const int at = kv.second.Mark().line + 1;
      if (key == kArchitecture) {
        if (!kv.second.IsScalar()) return RowError(name, at, "architecture: expected a string");
        row.architecture = kv.second.as<std::string>();
        continue;
      }
      if (!kv.second.IsScalar() || kv.second.Tag() == "!") {
        return RowError(name, at, absl::StrCat(key, ": expected a number"));
      }
      const std::string raw = kv.second.as<std::string>();
      double value = 0;
      if (raw.empty() || raw == "null" || !absl::SimpleAtod(raw, &value) || !std::isfinite(value)) {
        return RowError(name, at, absl::StrCat(key, " '", raw, "' is not a finite number"));
      }
      if (absl::Status s = SetImportedMetric(*row.result, key, value); !s.ok()) {
        return RowError(name, at, s.message());
      }
      given.insert(key);
    }
    if (absl::Status s = FinishRow(row, given, name); !s.ok()) return s;
    rows.push_back(std::move(row));
  }
  if (rows.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": no results"));
  return rows;
}

}  // namespace

std::vector<GuidedRow> ParseArchitectureList(absl::string_view text) {
  std::vector<GuidedRow> out;
  int line = 0;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    ++line;
    absl::string_view s = absl::StripAsciiWhitespace(l);
    if (s.empty() || absl::StartsWith(s, "#")) continue;
    out.push_back({.architecture = std::string(s), .line = line});
  }
  return out;
}

absl::StatusOr<std::vector<GuidedRow>> ParseImportFile(absl::string_view text,
                                                       absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  bool json = absl::EndsWith(lower, ".json");
  if (!json && !absl::EndsWith(lower, ".csv")) {
    absl::string_view start = absl::StripLeadingAsciiWhitespace(text);
    json = absl::StartsWith(start, "[");
  }
  return json ? ParseJson(text, name) : ParseCsv(text, name);
}

absl::Status SetImportedMetric(TrialResult& r, absl::string_view name, double value) {
  auto latency = [&r]() -> LatencyMeasurement& {
    if (!r.latency) {
      r.latency = LatencyMeasurement{};
      r.latency->device = "imported";
    }
    return *r.latency;
  };
  if (name == "accuracy") {
    r.accuracy = value;
  } else if (name == "loss") {
    r.loss = value;
  } else if (name == "latency_ms") {
    latency().median_ms = value;
    // Without its own column the p90 is the median (one number was given).
    if (latency().p90_ms == 0) latency().p90_ms = value;
  } else if (name == "latency_p90_ms") {
    latency().p90_ms = value;
  } else if (name == "params") {
    r.costs.params = static_cast<int64_t>(std::llround(value));
  } else if (name == "macs") {
    r.costs.macs = static_cast<int64_t>(std::llround(value));
  } else if (name == "peak_memory_bytes") {
    r.costs.peak_activation_bytes = static_cast<int64_t>(std::llround(value));
  } else if (name == "flash_bytes") {
    r.costs.flash_bytes = static_cast<int64_t>(std::llround(value));
  } else if (name == "train_seconds") {
    r.train_seconds = value;
  } else if (name == "balanced_accuracy") {
    r.balanced_accuracy = value;
  } else if (name == "macro_f1") {
    r.macro_f1 = value;
  } else if (IsKnownMetricName(name) && absl::StrContains(name, "@")) {
    r.estimates[std::string(name)] = value;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown metric '", name,
        "' (accuracy, loss, latency_ms, latency_p90_ms, params, macs, peak_memory_bytes, "
        "flash_bytes, train_seconds, balanced_accuracy, macro_f1 or METRIC@TARGET)"));
  }
  return absl::OkStatus();
}

}  // namespace hwnas::cli
