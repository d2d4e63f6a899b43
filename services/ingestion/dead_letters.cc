#include "services/ingestion/dead_letters.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/metrics.h"
#include "common/utf8.h"
#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss::ingest {
namespace {

prometheus::Family<prometheus::Counter>& InvalidFamily() {
  static auto& f = iss::metrics::CounterFamily("iss_ingest_invalid_total",
                                               "Updates rejected by the pipeline, by reason code");
  return f;
}

}  // namespace

void DeadLetters::CountAndLog(std::string_view reason, std::string_view detail,
                              std::string_view source, absl::Time now) {
  // Label values come only from the fixed reason codes: bounded.
  InvalidFamily().Add({{"reason", std::string(reason)}}).Increment();
  int64_t suppressed = 0;
  if (log_limiter_.Allow(reason, &suppressed, now)) {
    iss::log::Warn("rejected update", {{"reason", reason},
                                       {"detail", detail},
                                       {"source", source},
                                       {"suppressed_since_last", suppressed}});
  }
}

void DeadLetters::CountOnly(std::string_view reason, std::string_view detail,
                            std::string_view source, absl::Time now) {
  CountAndLog(reason, detail, source, now);
}

Envelope DeadLetters::Reject(std::string_view reason, std::string_view detail, std::string_view raw,
                             std::string_view item_id, std::string_view source, absl::Time now) {
  CountAndLog(reason, detail, source, now);
  iss::telemetry::v1::DeadLetter dl;
  dl.set_reason(std::string(reason));
  // `detail` quotes the input (a cut item id, a bad timestamp), which may not
  // be UTF-8; a proto3 string must be, or consumers cannot parse the letter.
  // The input itself travels intact in `raw` (bytes).
  std::string text = RepairUtf8(detail);
  if (raw.size() > kMaxDeadLetterRawBytes) {
    absl::StrAppend(&text, " (raw input truncated from ", raw.size(), " bytes)");
    raw = raw.substr(0, kMaxDeadLetterRawBytes);
  }
  dl.set_detail(std::move(text));
  dl.set_raw(std::string(raw));
  ToProto(now, dl.mutable_failed_at());
  dl.set_component(std::string(kComponent));
  // Only an id that could be read: a bad id stays in `raw`, not in the key.
  dl.set_item_id(std::string(item_id));
  Envelope e;
  e.kind = Envelope::Kind::kDeadLetter;
  e.key = std::string(item_id);
  e.value = dl.SerializeAsString();
  e.headers = {{std::string(kDlqReasonHeader), std::string(reason)},
               {std::string(kDlqComponentHeader), std::string(kComponent)},
               {std::string(kDlqSourceHeader), std::string(source)}};
  e.accepted_at = now;
  return e;
}

}  // namespace iss::ingest
