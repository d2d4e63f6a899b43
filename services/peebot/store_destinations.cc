// The destinations' half of the Store (peebot_admissions, peebot_deliveries,
// peebot_destination_pauses; migrations/0006_peebot_destinations.sql).
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "services/peebot/store.h"
#include "services/peebot/store_sql.h"

namespace iss::peebot {

absl::StatusOr<int> Store::Admit(const AdmissionRules& rules) {
  int decided = 0;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    // Decisions depend on the previous ones (the cooldown): one round at a time.
    tx.exec_params(kAdmissionRoundLock, kAdmissionLock);
    auto todo = tx.exec_params(kUndecided, rules.limit);
    if (todo.empty()) return;
    auto last = tx.exec(kLastAdmitted);
    std::optional<absl::Time> last_admitted;
    if (!last[0][0].is_null()) last_admitted = absl::FromUnixMicros(last[0][0].as<int64_t>());
    auto folded_r =
        tx.exec_params(kCountCooldownSince, last_admitted ? Us(*last_admitted) : kFarPastUs);
    int folded = folded_r[0][0].as<int>();
    const absl::Time stale_before = rules.max_post_age > absl::ZeroDuration()
                                        ? rules.now - rules.max_post_age
                                        : absl::InfinitePast();
    for (const auto& row : todo) {
      const std::string id = row[0].as<std::string>();
      const absl::Time start = absl::FromUnixMicros(row[1].as<int64_t>());
      const absl::Time end = absl::FromUnixMicros(row[2].as<int64_t>());
      std::string decision = "admitted", reason;
      int admitted_folded = 0;
      if (row[3].as<std::string>() == "stale" || end < stale_before) {
        decision = "stale";
        reason = StaleReason(end, stale_before);
      } else if (rules.paused) {
        decision = "paused";
        reason = "posting paused";
      } else if (last_admitted && start - *last_admitted < rules.cooldown) {
        decision = "cooldown";
        reason = "inside the cooldown after the last posted detection";
        ++folded;
      } else {
        admitted_folded = folded;
        folded = 0;
        last_admitted = start;
      }
      tx.exec_params(kInsertAdmission, id, decision, admitted_folded, reason, Us(rules.now));
      if (decision == "admitted") {
        for (const std::string& dest : rules.destinations) {
          if (dest != "x") tx.exec_params(kInsertDelivery, id, dest);
        }
      }
      ++decided;
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return decided;
}

absl::StatusOr<std::optional<Store::Admission>> Store::AdmissionOf(const std::string& id) {
  std::optional<Admission> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(kSelectAdmission, id);
    if (!r.empty()) {
      out = Admission{r[0][0].as<std::string>(), r[0][1].as<int>(), r[0][2].as<std::string>()};
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<Store::DeliveryRow>> Store::DueDeliveries(const std::string& destination,
                                                                     absl::Time now, int limit) {
  std::vector<DeliveryRow> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(kDueDeliveries, destination, Us(now), limit);
    for (const auto& row : r) {
      DeliveryRow d;
      d.detection = RowToDetection(row);
      d.destination = row[16].as<std::string>();
      d.text = row[17].as<std::string>();
      d.joke_index = row[18].as<int>();
      d.idempotency_key = row[19].as<std::string>();
      d.request = row[20].as<std::string>();
      if (!row[21].is_null()) d.first_sent_at = absl::FromUnixMicros(row[21].as<int64_t>());
      d.in_flight = row[22].as<bool>();
      d.attempts = row[23].as<int>();
      d.folded = row[24].as<int>();
      out.push_back(std::move(d));
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::MarkDeliveryInFlight(const DeliveryRow& row, absl::Time now) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(kMarkDeliveryInFlight, row.detection.detection_id(), row.destination, row.text,
                   row.joke_index, row.idempotency_key, row.request, Us(now));
    tx.commit();
  });
}

absl::Status Store::DeferDelivery(const std::string& id, const std::string& destination,
                                  absl::Time next, const std::string& error,
                                  bool may_have_arrived) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(kDeferDelivery, id, destination, Us(next), error, may_have_arrived);
    tx.commit();
  });
}

absl::Status Store::ResolveDelivery(const std::string& id, const std::string& destination,
                                    const Outcome& o) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(kResolveDelivery, id, destination, PostStatusName(o.status), o.post_id, o.error,
                   o.text, o.joke_index, o.record_post, Us(o.at));
    if (o.record_post) InsertPost(tx, id, o, destination);
    tx.commit();
  });
}

absl::Status Store::RecordDestinationPost(const std::string& destination, const Outcome& o) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    InsertPost(tx, std::nullopt, o, destination);
    tx.commit();
  });
}

absl::StatusOr<bool> Store::TextPosted(const std::string& destination, const std::string& text,
                                       bool dry_run) {
  bool found = false;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    found = tx.exec_params(kTextPosted, destination, text, dry_run)[0][0].as<bool>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return found;
}

absl::StatusOr<std::map<std::string, std::string>> Store::DestinationPauses() {
  std::map<std::string, std::string> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    for (const auto& row : tx.exec(kSelectPauses)) {
      out[row[0].as<std::string>()] = row[1].as<std::string>();
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::SetDestinationPaused(const std::string& destination, bool paused,
                                         const std::string& reason) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    if (paused) {
      tx.exec_params(kUpsertPause, destination, reason);
    } else {
      tx.exec_params(kDeletePause, destination);
    }
    tx.commit();
  });
}

absl::StatusOr<Store::DeliverySummary> Store::SummariseDeliveries(const std::string& destination) {
  DeliverySummary out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    out.pending = tx.exec_params(kCountPendingDeliveries, destination)[0][0].as<int>();
    auto r = tx.exec_params(kLastDeliveryError, destination);
    if (!r.empty()) out.last_error = r[0][0].as<std::string>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

void Store::FillDeliveries(pqxx::work& tx, std::vector<v1::Detection*>& detections) {
  if (detections.empty()) return;
  std::map<std::string, v1::Detection*> by_id;
  std::string ids = "{";
  for (v1::Detection* d : detections) {
    by_id[d->detection_id()] = d;
    if (ids.size() > 1) ids += ",";
    ids += d->detection_id();  // hex: no quoting needed in an array literal
  }
  ids += "}";
  auto r = tx.exec_params(kSelectDeliveries, ids);
  for (const auto& row : r) {
    auto it = by_id.find(row[0].as<std::string>());
    if (it == by_id.end()) continue;
    v1::Delivery* out = it->second->add_deliveries();
    out->set_destination(row[1].as<std::string>());
    out->set_status(ParsePostStatus(row[2].as<std::string>()));
    out->set_text(row[3].as<std::string>());
    out->set_post_id(row[4].as<std::string>());
    SetTime(row[5], out->mutable_posted_at());
    out->set_attempts(row[6].as<uint32_t>());
    out->set_last_error(row[7].as<std::string>());
  }
}

}  // namespace iss::peebot
