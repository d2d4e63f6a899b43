// The subscription side of Session (session.h): subscribing the items in
// batches, what the server answers about them (REQERR, refused items asked for
// again), and decoding updates into RawUpdates for the sink.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/ingestion/tlcp/session.h"

namespace iss::tlcp {
namespace {

// RawUpdate slots, in the order of iss::kIssliveFields.
std::optional<std::string>* Slot(ingest::RawUpdate& u, int slot) {
  switch (slot) {
    case 0:
      return &u.value;
    case 1:
      return &u.timestamp;
    case 2:
      return &u.status_class;
    case 3:
      return &u.status_indicator;
    case 4:
      return &u.status_color;
    case 5:
      return &u.calibrated_data;
    default:
      return nullptr;
  }
}

}  // namespace

std::vector<RefusedItem> Session::refused_items() const {
  std::vector<RefusedItem> out;
  out.reserve(refused_.size());
  for (const auto& [item, r] : refused_) out.push_back(r);
  return out;
}

std::vector<FrequencyGrant> Session::frequency_grants() const {
  std::vector<FrequencyGrant> out;
  for (const auto& [id, sub] : subs_) {
    if (!sub.confirmed || sub.max_frequency.empty()) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const FrequencyGrant& g) {
      return g.max_frequency == sub.max_frequency && g.filtered == sub.filtered;
    });
    if (it == out.end()) {
      out.push_back(FrequencyGrant{sub.max_frequency, sub.filtered, 0});
      it = out.end() - 1;
    }
    it->items += static_cast<uint32_t>(sub.items.size());
  }
  return out;
}

uint32_t Session::subscribed_items() const {
  uint32_t n = 0;
  for (const auto& [id, sub] : subs_) {
    if (sub.confirmed) n += static_cast<uint32_t>(sub.items.size());
  }
  return n;
}

Session::Step Session::Tick(absl::Time now) {
  Step step;
  if (phase_ != Phase::kActive) return step;
  std::vector<std::string> due;
  for (auto& [item, r] : refused_) {
    if (r.retry_at <= now) {
      due.push_back(item);
      r.retry_at = now + options_.refused_retry;  // until SUBOK clears it
    }
  }
  if (!due.empty()) Subscribe(due, step);
  return step;
}

// A refused control request. The server names no item: split the batch in
// two and ask again until each refused item stands alone, so one item it
// does not serve never costs the others their subscription.
Session::Step Session::OnReqerr(const Message& m, std::string_view line, absl::Time now) {
  Step step;
  absl::StatusOr<int64_t> req = ParseIntArg(m.args[0], 0, INT64_MAX);
  absl::StatusOr<int64_t> code = ParseIntArg(m.args[1], INT32_MIN, INT32_MAX);
  if (code.ok() && *code == 20) {
    // "Session not found": the session is gone on the server side.
    Notice("request_refused", line);
    step = Reconnect("REQERR 20: session not found", false);
    step.code = 20;
    step.message = DecodeText(m.args[2]);
    step.retry = Retry::kNow;
    return step;
  }
  auto it = subs_.end();
  if (req.ok()) {
    it = std::find_if(subs_.begin(), subs_.end(),
                      [&](const auto& kv) { return kv.second.req_id == *req; });
  }
  if (it == subs_.end()) {
    Notice("request_refused", line);
    return step;
  }
  std::vector<std::string> items = std::move(it->second.items);
  subs_.erase(it);
  ++status_version_;
  // Codes about the request as a whole (data adapter, schema, selector,
  // licence) would refuse every half alike: no use splitting.
  static constexpr int64_t kWholeRequest[] = {17, 23, 25, 28, 29, 30};
  const bool whole = code.ok() && std::find(std::begin(kWholeRequest), std::end(kWholeRequest),
                                            *code) != std::end(kWholeRequest);
  if (items.size() > 1 && !whole) {
    const auto half = items.begin() + static_cast<std::ptrdiff_t>(items.size() / 2);
    Subscribe(std::vector<std::string>(items.begin(), half), step);
    Subscribe(std::vector<std::string>(half, items.end()), step);
    return step;
  }
  const std::string message = DecodeText(m.args[2]);
  for (std::string& item : items) {
    RefusedItem& r = refused_[item];
    const bool first = r.item_id.empty();
    r.item_id = std::move(item);
    r.code = code.ok() ? *code : 0;
    r.message = message;
    if (first) r.since = now;
    r.retry_at = now + options_.refused_retry;
    if (first) {
      // Once per item, not at every retry.
      Notice("item_refused", absl::StrCat(r.item_id, ": ", r.code, " ", r.message));
    }
  }
  return step;
}

void Session::Subscribe(const std::vector<std::string>& items, Step& step) {
  const std::string schema = absl::StrJoin(fields_, " ");
  const size_t per_request = std::max(1, options_.items_per_request);
  size_t i = 0;
  while (i < items.size()) {
    const int64_t req_id = next_req_id_++;
    const int64_t sub_id = next_sub_id_++;
    std::vector<std::string> group;
    std::string request;
    // Fill the batch up to items_per_request, and below the server's
    // request limit when it gave one.
    while (i < items.size() && group.size() < per_request) {
      group.push_back(items[i]);
      std::vector<std::pair<std::string, std::string>> params = {
          {"LS_reqId", absl::StrCat(req_id)},
          {"LS_op", "add"},
          {"LS_subId", absl::StrCat(sub_id)},
          {"LS_mode", "MERGE"},
          {"LS_group", absl::StrJoin(group, " ")},
          {"LS_schema", schema},
          {"LS_snapshot", "true"}};
      if (!options_.requested_max_frequency.empty()) {
        params.emplace_back("LS_requested_max_frequency", options_.requested_max_frequency);
      }
      if (!options_.data_adapter.empty())
        params.emplace_back("LS_data_adapter", options_.data_adapter);
      std::string candidate = absl::StrCat("control\r\n", FormatParams(params));
      if (request_limit_ > 0 && group.size() > 1 &&
          static_cast<int64_t>(candidate.size()) > request_limit_) {
        group.pop_back();
        break;
      }
      request = std::move(candidate);
      ++i;
    }
    Subscription sub;
    sub.req_id = req_id;
    sub.state.assign(group.size(), FieldValues(fields_.size()));
    sub.snapshot_done.assign(group.size(), false);
    sub.items = std::move(group);
    subs_.emplace(sub_id, std::move(sub));
    step.send.push_back(std::move(request));
  }
}

Session::Subscription* Session::FindSub(std::string_view arg, std::string_view line) {
  absl::StatusOr<int64_t> id = ParseIntArg(arg, 0, INT64_MAX);
  auto it = id.ok() ? subs_.find(*id) : subs_.end();
  if (it == subs_.end()) {
    BadLine("unknown_subscription", line);
    return nullptr;
  }
  return &it->second;
}

Session::ItemRef Session::FindItem(const Message& m, std::string_view line) {
  Subscription* sub = FindSub(m.args[0], line);
  if (sub == nullptr) return {};
  absl::StatusOr<int64_t> item = ParseIntArg(m.args[1], 1, sub->items.size());
  if (!item.ok()) {
    BadLine("bad_item_index", line);
    return {};
  }
  return {sub, static_cast<size_t>(*item - 1)};
}

Session::Step Session::OnUpdate(const Message& m, std::string_view line, absl::Time now) {
  Step step;
  const auto [sub, idx] = FindItem(m, line);
  if (sub == nullptr) return step;
  // MERGE mode: the snapshot is the item's first update (servers send EOS
  // only for DISTINCT and COMMAND subscriptions).
  const bool snapshot = !sub->snapshot_done[idx];
  sub->snapshot_done[idx] = true;
  absl::Status applied = ApplyUpdate(m.args[2], sub->state[idx]);
  if (!applied.ok()) {
    // The item is known, so the pipeline gets the raw line (its validator
    // sends it to the dead-letter topic); the item's state is unchanged.
    BadLine(MalformedReason(applied), line);
    Deliver(sub->items[idx], nullptr, snapshot, line, now, step);
    return step;
  }
  Deliver(sub->items[idx], &sub->state[idx], snapshot, line, now, step);
  return step;
}

void Session::Deliver(const std::string& item, const FieldValues* values, bool snapshot,
                      std::string_view line, absl::Time now, Step& step) {
  ingest::RawUpdate u;
  u.item_id = item;
  if (values != nullptr) {
    for (size_t f = 0; f < values->size() && f < field_slot_.size(); ++f) {
      if (auto* slot = Slot(u, field_slot_[f])) *slot = (*values)[f];
    }
  }
  u.received_at = now;
  u.snapshot = snapshot;
  u.raw = std::string(line);
  ++updates_delivered_;
  if (!sink_->Deliver(std::move(u))) {
    step.kind = Step::kStop;
    step.reason = "sink closed";
  }
}

}  // namespace iss::tlcp
