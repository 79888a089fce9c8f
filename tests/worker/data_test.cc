// The data readers on the real files, and on corrupt copies written to a
// temporary directory.
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/worker_spec.h"
#include "tests/testing/test_paths.h"
#include "worker/data_files.h"
#include "worker/datasets.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteBytes(const std::string& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hwnas_worker_test_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(absl::string_view name) const { return absl::StrCat(path_, "/", name); }

 private:
  std::string path_;
};

std::string FashionFile(absl::string_view name) {
  return absl::StrCat(testing::FashionMnistDir(), "/", name);
}

std::string EegFile(int run) {
  char name[32];
  std::snprintf(name, sizeof(name), "S001R%02d.edf", run);
  return absl::StrCat(testing::SharedDataDir(), "/eegmmidb_S001/", name);
}

DataConfig Parse(const std::string& data_yaml) {
  absl::StatusOr<WorkerSpec> spec =
      ParseWorkerSpec(absl::StrCat("space: {name: nb201}\ndata: ", data_yaml, "\n"));
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? spec->data : DataConfig();
}

TEST(IdxTest, ReadsFashionMnist) {
  absl::StatusOr<IdxArray> images = ReadIdxFile(FashionFile("train-images-idx3-ubyte.gz"));
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->dims, (std::vector<int64_t>{60000, 28, 28}));
  absl::StatusOr<IdxArray> labels = ReadIdxFile(FashionFile("train-labels-idx1-ubyte.gz"));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->dims, (std::vector<int64_t>{60000}));
  std::map<int, int> counts;
  for (uint8_t l : labels->data) ++counts[l];
  ASSERT_EQ(counts.size(), 10u);
  EXPECT_EQ(counts.begin()->first, 0);
  EXPECT_EQ(counts.rbegin()->first, 9);
  for (const auto& [label, n] : counts) EXPECT_EQ(n, 6000) << label;  // Balanced.
  absl::StatusOr<IdxArray> test = ReadIdxFile(FashionFile("t10k-images-idx3-ubyte.gz"));
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->dims, (std::vector<int64_t>{10000, 28, 28}));
}

TEST(IdxTest, CorruptFilesGiveClearErrors) {
  TempDir dir;
  const std::string labels = ReadBytes(FashionFile("t10k-labels-idx1-ubyte.gz"));
  // A gzip stream cut in half.
  WriteBytes(dir.File("cut.gz"), absl::string_view(labels).substr(0, labels.size() / 2));
  absl::StatusOr<IdxArray> r = ReadIdxFile(dir.File("cut.gz"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(dir.File("cut.gz")));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("truncated or corrupt gzip"));

  // A complete gzip stream whose IDX data is shorter than its header says.
  gzFile gz = gzopen(dir.File("short.gz").c_str(), "wb");
  const unsigned char header[] = {0, 0, 8, 1, 0, 0, 0x27, 0x10};  // 10000 labels.
  gzwrite(gz, header, sizeof(header));
  gzwrite(gz, "\x01\x02\x03", 3);
  gzclose(gz);
  r = ReadIdxFile(dir.File("short.gz"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("truncated IDX file: the header promises 10000 bytes"));

  WriteBytes(dir.File("magic.idx"), std::string("\x12\x34\x08\x01\x00\x00\x00\x01\x05", 9));
  r = ReadIdxFile(dir.File("magic.idx"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("wrong magic number 0x12340801"));

  r = ReadIdxFile(dir.File("missing.gz"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(dir.File("missing.gz")));

  // The loader names the file when a data set directory lacks it.
  DataConfig c = Parse(absl::StrCat("{dataset: idx, path: ", dir.File("nothing"), "}"));
  absl::StatusOr<DataSplits> splits = LoadDataSplits(c, "");
  ASSERT_FALSE(splits.ok());
  EXPECT_THAT(std::string(splits.status().message()), HasSubstr("train-images-idx3-ubyte.gz"));
}

TEST(DatasetsTest, FashionMnistSplitsAreDeterministic) {
  DataConfig c = Parse("{dataset: fashion_mnist, seed: 3}");
  absl::StatusOr<DataSplits> all = LoadDataSplits(c, "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->train.size() + all->val.size(), 60000);
  EXPECT_EQ(all->val.size(), 6000);
  EXPECT_EQ(all->test.size(), 10000);
  EXPECT_EQ(all->train.sample_shape, (space::Shape{1, 28, 28}));
  for (int64_t n : all->val.ClassCounts()) EXPECT_EQ(n, 600);  // Stratified.
  // Normalized with training statistics: mean ~0, std ~1 on the training split.
  double sum = 0, sq = 0;
  for (float v : all->train.features) {
    sum += v;
    sq += double{v} * v;
  }
  const double n = static_cast<double>(all->train.features.size());
  EXPECT_NEAR(sum / n, 0, 1e-3);
  EXPECT_NEAR(std::sqrt(sq / n), 1, 1e-3);

  c = Parse(
      "{dataset: fashion_mnist, seed: 3, train_subset: 500, val_subset: 100, "
      "test_subset: 200}");
  absl::StatusOr<DataSplits> a = LoadDataSplits(c, "");
  absl::StatusOr<DataSplits> b = LoadDataSplits(c, "");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->train.size(), 500);
  EXPECT_EQ(a->val.size(), 100);
  EXPECT_EQ(a->test.size(), 200);
  EXPECT_EQ(a->train.labels, b->train.labels);
  EXPECT_EQ(a->train.features, b->train.features);
  // The validation set does not depend on the training subset size.
  c.train_subset = 300;
  absl::StatusOr<DataSplits> smaller = LoadDataSplits(c, "");
  ASSERT_TRUE(smaller.ok());
  EXPECT_EQ(smaller->val.labels, a->val.labels);
  c.seed = 4;
  absl::StatusOr<DataSplits> other = LoadDataSplits(c, "");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->train.labels, a->train.labels);
}

TEST(UcrTest, ReadsEcg5000) {
  const std::string path = absl::StrCat(testing::SharedDataDir(), "/ecg5000/ECG5000_TRAIN.txt");
  absl::StatusOr<UcrTable> t = ReadUcrFile(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->rows(), 500);
  EXPECT_EQ(t->length, 140);

  DataConfig c = Parse("{dataset: ecg5000, seed: 0}");
  absl::StatusOr<DataSplits> s = LoadDataSplits(c, testing::SharedDataDir());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->train.size() + s->val.size() + s->test.size(), 500);
  std::vector<int64_t> counts(5, 0);
  for (const Dataset* d : {&s->train, &s->val, &s->test}) {
    for (size_t k = 0; k < 5; ++k) counts[k] += d->ClassCounts()[k];
  }
  EXPECT_EQ(counts, (std::vector<int64_t>{292, 177, 10, 19, 2}));
  EXPECT_EQ(s->test.ClassCounts()[0], 58);  // round(292 * 0.2), stratified.
  EXPECT_EQ(s->train.sample_shape, (space::Shape{1, 140}));
}

TEST(UcrTest, MalformedRowsGiveLineNumbers) {
  TempDir dir;
  WriteBytes(dir.File("bad.txt"), "1 0.5 0.25 0.1\n2 0.1 0.2\n");
  absl::StatusOr<UcrTable> t = ReadUcrFile(dir.File("bad.txt"));
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("line 2: has 2 values"));
  WriteBytes(dir.File("nan.txt"), "1 0.5 x 0.1\n");
  t = ReadUcrFile(dir.File("nan.txt"));
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("line 1, value 2: 'x'"));
  // Length mismatch against the config.
  DataConfig c =
      Parse(absl::StrCat("{dataset: ucr, path: ", dir.File("ok.txt"), ", length: 5, classes: 2}"));
  WriteBytes(dir.File("ok.txt"), "1 0.5 0.25 0.1\n2 0.1 0.2 0.3\n");
  absl::StatusOr<DataSplits> s = LoadDataSplits(c, "");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("have 3 values but data.length is 5"));
}

TEST(EdfTest, ReadsEveryRunWithItsEvents) {
  for (int run : {4, 6, 8, 10, 12, 14}) {
    SCOPED_TRACE(run);
    absl::StatusOr<EdfRecording> rec = ReadEdfFile(EegFile(run));
    ASSERT_TRUE(rec.ok()) << rec.status();
    EXPECT_EQ(rec->format, "EDF+C");
    EXPECT_EQ(rec->num_records, 125);
    ASSERT_EQ(rec->signals.size(), 64u);
    for (const EdfSignal& s : rec->signals) {
      EXPECT_DOUBLE_EQ(s.sample_rate, 160);
      EXPECT_EQ(s.data.size(), 125u * 160u);
      EXPECT_EQ(s.unit, "uV");
    }
    EXPECT_EQ(NormalizeChannelName(rec->signals[0].label), "FC5");
    std::map<std::string, int> events;
    for (const EdfAnnotation& a : rec->annotations) ++events[a.text];
    EXPECT_EQ(events["T0"], 15);
    EXPECT_EQ(events["T1"] + events["T2"], 15);  // 15 imagery trials per run.
    EXPECT_EQ(events.size(), 3u);
    EXPECT_NEAR(rec->annotations.front().duration_s, 4.2, 1e-9);
  }
}

TEST(EdfTest, CorruptFilesGiveClearErrors) {
  TempDir dir;
  std::string bytes = ReadBytes(EegFile(4));
  std::string wrong = bytes;
  wrong.replace(0, 8, "9       ");
  WriteBytes(dir.File("version.edf"), wrong);
  absl::StatusOr<EdfRecording> r = ReadEdfFile(dir.File("version.edf"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("not an EDF file: version field is '9', expected '0'"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(dir.File("version.edf")));

  wrong = bytes;
  wrong.replace(184, 8, "1234    ");
  WriteBytes(dir.File("header.edf"), wrong);
  r = ReadEdfFile(dir.File("header.edf"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("header size field says 1234"));

  WriteBytes(dir.File("cut.edf"), absl::string_view(bytes).substr(0, bytes.size() - 1000));
  r = ReadEdfFile(dir.File("cut.edf"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("truncated EDF file"));

  WriteBytes(dir.File("tiny.edf"), "0       short");
  r = ReadEdfFile(dir.File("tiny.edf"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("truncated EDF header"));

  // The loader names the missing run file.
  DataConfig c = Parse(absl::StrCat("{dataset: eegmmidb, path: ", dir.File("none"), "}"));
  absl::StatusOr<DataSplits> s = LoadDataSplits(c, "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("S001R04.edf"));
}

TEST(EegTest, EpochsAroundImageryEvents) {
  const std::string dir = absl::StrCat(testing::SharedDataDir(), "/eegmmidb_S001");
  DataConfig c = Parse("{dataset: eegmmidb}");
  absl::StatusOr<EegEpochs> all = LoadEegEpochs(c, dir);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->data.size(), 45);  // 15 left/right fist trials in each of runs 4, 8, 12.
  EXPECT_EQ(all->skipped_events, 0);
  EXPECT_EQ(all->data.sample_shape, (space::Shape{64, 640}));
  EXPECT_EQ(all->channel_names.size(), 64u);
  const std::vector<int64_t> counts = all->data.ClassCounts();
  EXPECT_EQ(counts[0] + counts[1], 45);
  EXPECT_GT(counts[0], 15);
  EXPECT_GT(counts[1], 15);
  // Every epoch knows its run (for leave-one-session-out), in file order.
  ASSERT_EQ(all->data.groups.size(), 45u);
  EXPECT_EQ(std::count(all->data.groups.begin(), all->data.groups.end(), 4), 15);
  EXPECT_EQ(std::count(all->data.groups.begin(), all->data.groups.end(), 8), 15);
  EXPECT_EQ(std::count(all->data.groups.begin(), all->data.groups.end(), 12), 15);

  c = Parse(
      "{dataset: eegmmidb, channels: [c3, Cz, C4.], bandpass: [8, 30], decimate: 4, "
      "tmax: 3, layout: image, seed: 2}");
  absl::StatusOr<EegEpochs> some = LoadEegEpochs(c, dir);
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_EQ(some->data.sample_shape, (space::Shape{1, 3, 120}));
  EXPECT_EQ(some->channel_names, (std::vector<std::string>{"C3", "CZ", "C4"}));
  absl::StatusOr<DataSplits> s = LoadDataSplits(c, testing::SharedDataDir());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->train.size() + s->val.size() + s->test.size(), 45);
  EXPECT_EQ(s->test.size(), 9);  // round(0.2 * n) per class.
  EXPECT_EQ(s->train.groups.size(), static_cast<size_t>(s->train.size()));
  EXPECT_EQ(s->val.groups.size(), static_cast<size_t>(s->val.size()));
  EXPECT_EQ(s->test.groups.size(), 9u);
  // Per-sample normalization: every channel of every window has mean 0.
  const float* x = s->train.sample(0);
  double mean = 0;
  for (int k = 0; k < 120; ++k) mean += x[120 + k] / 120.0;
  EXPECT_NEAR(mean, 0, 1e-4);

  c = Parse("{dataset: eegmmidb, channels: [C3, Q9]}");
  absl::StatusOr<EegEpochs> bad = LoadEegEpochs(c, dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("no channel 'Q9'"));
}

TEST(EegTest, BandPassKeepsThePassBand) {
  const double rate = 160;
  std::vector<double> slow(1600), fast(1600);
  for (size_t i = 0; i < slow.size(); ++i) {
    slow[i] = std::sin(2 * std::numbers::pi * 1.0 * i / rate);   // 1 Hz: stop band.
    fast[i] = std::sin(2 * std::numbers::pi * 15.0 * i / rate);  // 15 Hz: pass band.
  }
  BandPass(slow, rate, 8, 30);
  BandPass(fast, rate, 8, 30);
  auto rms = [](const std::vector<double>& v) {
    double s = 0;
    for (size_t i = 400; i < 1200; ++i) s += v[i] * v[i];
    return std::sqrt(s / 800);
  };
  EXPECT_LT(rms(slow), 0.05);
  EXPECT_GT(rms(fast), 0.6);
}

}  // namespace
}  // namespace hwnas::worker
