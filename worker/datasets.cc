#include "worker/datasets.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/data_files.h"

namespace hwnas::worker {
namespace {

// Fisher-Yates with a fixed engine: the same order on every platform and
// standard library (std::shuffle's distribution is implementation-defined).
void Shuffle(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(v[i], v[j]);
  }
}

struct SplitIndices {
  std::vector<int64_t> train, val, test;
};

// Per class: shuffle, then the first round(n*test) go to test, the next
// round(n*val) to validation, the rest to training. Each split is shuffled.
SplitIndices StratifiedSplit(const std::vector<int64_t>& labels, int num_classes,
                             double val_fraction, double test_fraction, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int64_t>> by_class(num_classes);
  for (int64_t i = 0; i < static_cast<int64_t>(labels.size()); ++i) {
    by_class[labels[i]].push_back(i);
  }
  SplitIndices out;
  for (std::vector<int64_t>& members : by_class) {
    Shuffle(members, rng);
    const auto n = static_cast<double>(members.size());
    const auto n_test = static_cast<size_t>(std::llround(n * test_fraction));
    const auto n_val =
        std::min(members.size() - n_test, static_cast<size_t>(std::llround(n * val_fraction)));
    for (size_t k = 0; k < members.size(); ++k) {
      (k < n_test ? out.test : k < n_test + n_val ? out.val : out.train).push_back(members[k]);
    }
  }
  Shuffle(out.train, rng);
  Shuffle(out.val, rng);
  Shuffle(out.test, rng);
  return out;
}

void Truncate(std::vector<int64_t>& v, int64_t subset) {
  if (subset > 0 && static_cast<int64_t>(v.size()) > subset) v.resize(subset);
}

// Copies the chosen samples of a uint8 or float pool into a Dataset.
template <typename T>
Dataset Gather(const space::Shape& shape, int num_classes, const T* values,
               const std::vector<int64_t>& labels, const std::vector<int64_t>& indices,
               float scale) {
  Dataset d;
  d.sample_shape = shape;
  d.num_classes = num_classes;
  const int64_t n = d.sample_size();
  d.features.resize(indices.size() * n);
  d.labels.reserve(indices.size());
  float* out = d.features.data();
  for (int64_t idx : indices) {
    const T* in = values + idx * n;
    for (int64_t k = 0; k < n; ++k) out[k] = static_cast<float>(in[k]) * scale;
    out += n;
    d.labels.push_back(labels[idx]);
  }
  return d;
}

// Normalizes every split in place. `channels` divides a sample into
// contiguous per-channel blocks.
void Normalize(DataSplits& s, Normalization mode, int64_t channels) {
  if (mode == Normalization::kNone) return;
  const int64_t sample = s.train.sample_size();
  const int64_t block = sample / channels;
  if (mode == Normalization::kSample) {
    for (Dataset* d : {&s.train, &s.val, &s.test}) {
      for (int64_t i = 0; i < d->size(); ++i) {
        float* x = d->features.data() + i * sample;
        for (int64_t c = 0; c < channels; ++c) {
          double sum = 0, sq = 0;
          for (int64_t k = 0; k < block; ++k) sum += x[c * block + k];
          const double mean = sum / block;
          for (int64_t k = 0; k < block; ++k) {
            const double dv = x[c * block + k] - mean;
            sq += dv * dv;
          }
          const double inv = 1.0 / std::max(std::sqrt(sq / block), 1e-6);
          for (int64_t k = 0; k < block; ++k) {
            x[c * block + k] = static_cast<float>((x[c * block + k] - mean) * inv);
          }
        }
      }
    }
    return;
  }
  // Per channel with training-split statistics.
  std::vector<double> mean(channels, 0), inv_std(channels, 1);
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < s.train.size(); ++i) {
      const float* x = s.train.sample(i) + c * block;
      for (int64_t k = 0; k < block; ++k) sum += x[k];
    }
    const double count = static_cast<double>(s.train.size()) * block;
    if (count == 0) continue;
    mean[c] = sum / count;
    for (int64_t i = 0; i < s.train.size(); ++i) {
      const float* x = s.train.sample(i) + c * block;
      for (int64_t k = 0; k < block; ++k) sq += (x[k] - mean[c]) * (x[k] - mean[c]);
    }
    inv_std[c] = 1.0 / std::max(std::sqrt(sq / count), 1e-6);
  }
  for (Dataset* d : {&s.train, &s.val, &s.test}) {
    for (int64_t i = 0; i < d->size(); ++i) {
      float* x = d->features.data() + i * sample;
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t k = 0; k < block; ++k) {
          x[c * block + k] = static_cast<float>((x[c * block + k] - mean[c]) * inv_std[c]);
        }
      }
    }
  }
}

absl::Status CheckLabels(const std::string& path, const std::vector<int64_t>& labels,
                         int num_classes) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": label ", labels[i], " of item ", i,
                                                     " is outside [0, ", num_classes,
                                                     ") (data.classes is ", num_classes, ")"));
    }
  }
  return absl::OkStatus();
}

struct IdxPair {
  IdxArray images;
  std::vector<int64_t> labels;
};

absl::StatusOr<IdxPair> ReadIdxPair(const DataConfig& c, const std::string& dir,
                                    const std::string& images_name,
                                    const std::string& labels_name) {
  const std::string images_path = absl::StrCat(dir, "/", images_name);
  const std::string labels_path = absl::StrCat(dir, "/", labels_name);
  IdxPair out;
  HWNAS_ASSIGN_OR_RETURN(out.images, ReadIdxFile(images_path));
  HWNAS_ASSIGN_OR_RETURN(IdxArray labels, ReadIdxFile(labels_path));
  if (labels.dims.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(labels_path,
                                                   ": a label file must be 1-D, this one is ",
                                                   absl::StrJoin(labels.dims, " x ")));
  }
  if (labels.dims[0] != out.images.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, " has ", out.images.dims[0],
                                                   " images but ", labels_path, " has ",
                                                   labels.dims[0], " labels"));
  }
  space::Shape shape;
  if (out.images.dims.size() == 3) {
    shape = {1, out.images.dims[1], out.images.dims[2]};
  } else if (out.images.dims.size() == 4) {
    shape = {out.images.dims[1], out.images.dims[2], out.images.dims[3]};
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        images_path, ": an image file must be N x H x W or N x C x H x W, this one is ",
        absl::StrJoin(out.images.dims, " x ")));
  }
  if (shape != c.input_shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path, ": images are ", space::ShapeToString(shape),
                     " but data.input_shape is ", space::ShapeToString(c.input_shape)));
  }
  out.labels.assign(labels.data.begin(), labels.data.end());
  HWNAS_RETURN_IF_ERROR(CheckLabels(labels_path, out.labels, c.num_classes));
  return out;
}

absl::StatusOr<DataSplits> LoadIdx(const DataConfig& c, const std::string& dir) {
  HWNAS_ASSIGN_OR_RETURN(IdxPair train, ReadIdxPair(c, dir, c.train_images, c.train_labels));
  HWNAS_ASSIGN_OR_RETURN(IdxPair test, ReadIdxPair(c, dir, c.test_images, c.test_labels));
  SplitIndices split = StratifiedSplit(train.labels, c.num_classes, c.val_fraction, 0, c.seed);
  std::vector<int64_t> test_idx(test.labels.size());
  for (size_t i = 0; i < test_idx.size(); ++i) test_idx[i] = static_cast<int64_t>(i);
  std::mt19937_64 rng(c.seed ^ 0x7e57);
  Shuffle(test_idx, rng);
  Truncate(split.train, c.train_subset);
  Truncate(split.val, c.val_subset);
  Truncate(test_idx, c.test_subset);
  constexpr float kScale = 1.0f / 255.0f;
  DataSplits out;
  out.train = Gather(c.input_shape, c.num_classes, train.images.data.data(), train.labels,
                     split.train, kScale);
  out.val = Gather(c.input_shape, c.num_classes, train.images.data.data(), train.labels, split.val,
                   kScale);
  out.test =
      Gather(c.input_shape, c.num_classes, test.images.data.data(), test.labels, test_idx, kScale);
  out.source = dir;
  return out;
}

absl::StatusOr<DataSplits> LoadUcr(const DataConfig& c, const std::string& path) {
  HWNAS_ASSIGN_OR_RETURN(UcrTable table, ReadUcrFile(path));
  if (table.length != c.input_shape[1]) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": series have ", table.length, " values but data.length is ", c.input_shape[1]));
  }
  // Distinct labels in ascending order become classes 0..K-1.
  std::map<double, int64_t> classes;
  for (double l : table.labels) classes.emplace(l, 0);
  if (static_cast<int>(classes.size()) > c.num_classes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the file has ", classes.size(),
                                                   " distinct labels but data.classes is ",
                                                   c.num_classes));
  }
  int64_t next = 0;
  for (auto& [label, index] : classes) index = next++;
  std::vector<int64_t> labels;
  labels.reserve(table.labels.size());
  for (double l : table.labels) labels.push_back(classes[l]);
  SplitIndices split =
      StratifiedSplit(labels, c.num_classes, c.val_fraction, c.test_fraction, c.seed);
  Truncate(split.train, c.train_subset);
  Truncate(split.val, c.val_subset);
  Truncate(split.test, c.test_subset);
  DataSplits out;
  out.train = Gather(c.input_shape, c.num_classes, table.values.data(), labels, split.train, 1.0f);
  out.val = Gather(c.input_shape, c.num_classes, table.values.data(), labels, split.val, 1.0f);
  out.test = Gather(c.input_shape, c.num_classes, table.values.data(), labels, split.test, 1.0f);
  out.source = path;
  return out;
}

// One 2nd-order section (RBJ audio-EQ cookbook), direct form I.
struct Biquad {
  double b0, b1, b2, a1, a2;
  void Run(std::vector<double>& x) const {
    double x1 = 0, x2 = 0, y1 = 0, y2 = 0;
    for (double& v : x) {
      const double y = b0 * v + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
      x2 = x1;
      x1 = v;
      y2 = y1;
      y1 = y;
      v = y;
    }
  }
};

Biquad MakeBiquad(bool high_pass, double f, double rate) {
  const double w = 2 * std::numbers::pi * f / rate;
  const double alpha = std::sin(w) / (2 * std::numbers::sqrt2 / 2);  // Q = 1/sqrt(2).
  const double cw = std::cos(w);
  const double a0 = 1 + alpha;
  double b0, b1;
  if (high_pass) {
    b0 = (1 + cw) / 2;
    b1 = -(1 + cw);
  } else {
    b0 = (1 - cw) / 2;
    b1 = 1 - cw;
  }
  return {b0 / a0, b1 / a0, b0 / a0, -2 * cw / a0, (1 - alpha) / a0};
}

}  // namespace

std::vector<int64_t> Dataset::ClassCounts() const {
  std::vector<int64_t> counts(num_classes, 0);
  for (int64_t l : labels) ++counts[l];
  return counts;
}

void BandPass(std::vector<double>& signal, double rate, double low_hz, double high_hz) {
  if (signal.size() < 2) return;
  // Reflect-pad one second (at most the signal length) to tame edge transients.
  const size_t pad = std::min(signal.size() - 1, static_cast<size_t>(rate));
  std::vector<double> x;
  x.reserve(signal.size() + 2 * pad);
  for (size_t i = pad; i > 0; --i) x.push_back(2 * signal.front() - signal[i]);
  x.insert(x.end(), signal.begin(), signal.end());
  for (size_t i = 1; i <= pad; ++i) x.push_back(2 * signal.back() - signal[signal.size() - 1 - i]);
  const Biquad hp = MakeBiquad(true, low_hz, rate);
  const Biquad lp = MakeBiquad(false, high_hz, rate);
  for (int pass = 0; pass < 2; ++pass) {
    hp.Run(x);
    lp.Run(x);
    std::reverse(x.begin(), x.end());
  }
  std::copy(x.begin() + pad, x.begin() + pad + signal.size(), signal.begin());
}

absl::StatusOr<EegEpochs> LoadEegEpochs(const DataConfig& c, const std::string& dir) {
  EegEpochs out;
  const int64_t window = std::llround((c.tmax - c.tmin) * c.sample_rate);
  const int64_t samples = window / c.decimate;
  const int64_t offset = std::llround(c.tmin * c.sample_rate);
  out.data.sample_shape = c.input_shape;
  out.data.num_classes = static_cast<int>(c.events.size());
  for (int64_t run : c.runs) {
    const std::string path = absl::StrFormat("%s/%sR%02d.edf", dir, c.subject, run);
    HWNAS_ASSIGN_OR_RETURN(EdfRecording rec, ReadEdfFile(path));
    // Channel selection by normalized name.
    std::vector<int> chosen;
    std::vector<std::string> names;
    for (const EdfSignal& s : rec.signals) names.push_back(NormalizeChannelName(s.label));
    if (c.channels.empty()) {
      for (size_t i = 0; i < names.size(); ++i) chosen.push_back(static_cast<int>(i));
      if (static_cast<int>(chosen.size()) != c.eeg_channel_count) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": has ", chosen.size(), " signals but data.eeg_channels is ",
                         c.eeg_channel_count, " (set it, or list data.channels)"));
      }
    } else {
      for (const std::string& want : c.channels) {
        auto it = std::find(names.begin(), names.end(), NormalizeChannelName(want));
        if (it == names.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ": no channel '", want, "' (channels: ", absl::StrJoin(names, ", "), ")"));
        }
        chosen.push_back(static_cast<int>(it - names.begin()));
      }
    }
    std::vector<std::vector<double>> signals;
    for (int i : chosen) {
      const EdfSignal& s = rec.signals[i];
      if (std::abs(s.sample_rate - c.sample_rate) > 1e-6) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": channel '", s.label, "' is at ", s.sample_rate,
                         " Hz but data.sample_rate is ", c.sample_rate));
      }
      signals.emplace_back(s.data.begin(), s.data.end());
      if (c.bandpass)
        BandPass(signals.back(), s.sample_rate, c.bandpass->first, c.bandpass->second);
    }
    if (out.channel_names.empty()) {
      for (int i : chosen) out.channel_names.push_back(names[i]);
    }
    const int64_t length = static_cast<int64_t>(signals.front().size());
    for (const EdfAnnotation& a : rec.annotations) {
      auto ev = std::find(c.events.begin(), c.events.end(), a.text);
      if (ev == c.events.end()) continue;
      const int64_t start = std::llround(a.onset_s * c.sample_rate) + offset;
      if (start < 0 || start + window > length) {
        ++out.skipped_events;
        continue;
      }
      for (const std::vector<double>& sig : signals) {
        for (int64_t t = 0; t < samples; ++t) {
          double sum = 0;
          for (int k = 0; k < c.decimate; ++k) sum += sig[start + t * c.decimate + k];
          out.data.features.push_back(static_cast<float>(sum / c.decimate));
        }
      }
      out.data.labels.push_back(ev - c.events.begin());
      out.data.groups.push_back(run);
    }
  }
  if (out.data.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": no ", absl::StrJoin(c.events, "/"), " events with a full [", c.tmin,
                     ", ", c.tmax, "] s window in runs ", absl::StrJoin(c.runs, ", ")));
  }
  return out;
}

absl::StatusOr<DataSplits> LoadDataSplits(const DataConfig& c, absl::string_view shared_dir) {
  HWNAS_ASSIGN_OR_RETURN(std::string path, ResolveDataPath(c, shared_dir));
  DataSplits out;
  int64_t norm_channels = c.input_shape[0];
  switch (c.kind) {
    case DatasetKind::kIdx: {
      HWNAS_ASSIGN_OR_RETURN(out, LoadIdx(c, path));
      break;
    }
    case DatasetKind::kUcr: {
      HWNAS_ASSIGN_OR_RETURN(out, LoadUcr(c, path));
      break;
    }
    case DatasetKind::kEeg: {
      HWNAS_ASSIGN_OR_RETURN(EegEpochs epochs, LoadEegEpochs(c, path));
      const Dataset& all = epochs.data;
      SplitIndices split =
          StratifiedSplit(all.labels, all.num_classes, c.val_fraction, c.test_fraction, c.seed);
      Truncate(split.train, c.train_subset);
      Truncate(split.val, c.val_subset);
      Truncate(split.test, c.test_subset);
      out.train = Gather(c.input_shape, all.num_classes, all.features.data(), all.labels,
                         split.train, 1.0f);
      out.val =
          Gather(c.input_shape, all.num_classes, all.features.data(), all.labels, split.val, 1.0f);
      out.test =
          Gather(c.input_shape, all.num_classes, all.features.data(), all.labels, split.test, 1.0f);
      for (auto [part, indices] :
           {std::pair{&out.train, &split.train}, std::pair{&out.val, &split.val},
            std::pair{&out.test, &split.test}}) {
        for (int64_t i : *indices) part->groups.push_back(all.groups[i]);
      }
      out.source = path;
      norm_channels = c.layout == EegLayout::kImage ? c.input_shape[1] : c.input_shape[0];
      break;
    }
  }
  if (out.train.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the training split is empty (check data subsets and fractions)"));
  }
  Normalize(out, c.normalize, norm_channels);
  spdlog::debug("event=data_loaded source={} train={} val={} test={} shape={}", out.source,
                out.train.size(), out.val.size(), out.test.size(),
                space::ShapeToString(c.input_shape));
  return out;
}

}  // namespace hwnas::worker
