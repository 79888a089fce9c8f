// Converters between API messages (hwnas.v1) and domain structs. Service
// adapters, clients and the CLI use these; logic code never sees protos.
#ifndef HWNAS_PROTO_CONVERT_H_
#define HWNAS_PROTO_CONVERT_H_

#include "absl/time/time.h"
#include "common/records.h"
#include "common/trial.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "hwnas/v1/types.pb.h"

namespace hwnas::proto {

hwnas::v1::Architecture ToProto(const Architecture& a);
Architecture FromProto(const hwnas::v1::Architecture& p);

hwnas::v1::TrialState ToProto(TrialState s);
TrialState FromProto(hwnas::v1::TrialState p);

hwnas::v1::TrialOrigin ToProto(TrialOrigin o);
TrialOrigin FromProto(hwnas::v1::TrialOrigin p);

hwnas::v1::SearchState ToProto(SearchState s);
SearchState FromProto(hwnas::v1::SearchState p);

hwnas::v1::LatencyMeasurement ToProto(const LatencyMeasurement& l);
LatencyMeasurement FromProto(const hwnas::v1::LatencyMeasurement& p);

hwnas::v1::HardwareCosts ToProto(const HardwareCosts& c);
HardwareCosts FromProto(const hwnas::v1::HardwareCosts& p);

hwnas::v1::TrialResult ToProto(const TrialResult& r);
// The latency field is read as "not measured" when absent.
TrialResult FromProto(const hwnas::v1::TrialResult& p);

hwnas::v1::EpochMetrics ToProto(const EpochMetrics& m);
EpochMetrics FromProto(const hwnas::v1::EpochMetrics& p);

hwnas::v1::Trial ToProto(const TrialRecord& t);
TrialRecord FromProto(const hwnas::v1::Trial& p);

hwnas::v1::Search ToProto(const SearchRecord& s);
SearchRecord FromProto(const hwnas::v1::Search& p);

// Capabilities only (id, name and times travel separately).
hwnas::v1::WorkerCapabilities CapabilitiesToProto(const WorkerRecord& w);
WorkerRecord CapabilitiesFromProto(const hwnas::v1::WorkerCapabilities& p);

google::protobuf::Timestamp ToProto(absl::Time t);
absl::Time FromProto(const google::protobuf::Timestamp& p);
google::protobuf::Duration ToProto(absl::Duration d);
absl::Duration FromProto(const google::protobuf::Duration& p);

}  // namespace hwnas::proto

#endif  // HWNAS_PROTO_CONVERT_H_
