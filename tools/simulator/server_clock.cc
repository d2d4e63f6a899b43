// The simulator's clock (server_impl.h): each tick advances the telemetry
// model and broadcasts what changed to the subscriptions, sends SYNC, drops
// sessions unbound too long, and applies the scenario's faults when due.
// clang-format off
#include <utility>  // before Asio (g++ 12 + Boost 1.74)
// clang-format on

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "tools/simulator/server_impl.h"

namespace iss::sim {

asio::awaitable<void> Simulator::Impl::Tick() {
  asio::steady_timer timer(ioc);
  std::vector<TelemetryModel::Change> changes;
  while (!stopping) {
    timer.expires_after(absl::ToChronoNanoseconds(options.tick));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping) break;
    const absl::Time now = absl::Now();
    absl::Duration t = (now - started) * options.speed;
    if (scenario.duration > absl::ZeroDuration()) t = std::min(t, scenario.duration);
    changes.clear();
    // Budget: a few ticks' worth of the nominal rate, so a server that fell
    // behind (slow machine, huge rate) skips background updates instead of
    // building an ever larger backlog.
    const double per_tick = std::max(options.rate, scenario.updates_per_second) *
                            absl::ToDoubleSeconds(options.tick) * options.speed;
    model.AdvanceTo(t, &changes, static_cast<size_t>(4 * per_tick) + 1000);
    Broadcast(changes);
    while (next_fault < faults.size() && faults[next_fault].at <= t) {
      ApplyFault(faults[next_fault++]);
    }
    Housekeeping(now);
  }
}

void Simulator::Impl::Broadcast(const std::vector<TelemetryModel::Change>& changes) {
  if (changes.empty()) return;
  for (auto& [id, s] : sessions) {
    if (!s->conn) continue;
    for (auto& [sub_id, sub] : s->subs) {
      for (const TelemetryModel::Change& ch : changes) {
        for (size_t pos = 0; pos < sub.items.size(); ++pos) {
          if (sub.items[pos] != static_cast<int>(ch.item)) continue;
          FieldValues v(sub.slots.size());
          for (size_t f = 0; f < sub.slots.size(); ++f) {
            if (sub.slots[f] >= 0) v[f] = ch.values[static_cast<size_t>(sub.slots[f])];
          }
          SendUpdate(*s, sub, pos, std::move(v), false);
        }
      }
    }
  }
}

void Simulator::Impl::Housekeeping(absl::Time now) {
  int subscribed = 0;
  for (auto it = sessions.begin(); it != sessions.end();) {
    Session& s = *it->second;
    if (!s.conn && now - s.unbound_since > options.session_linger) {
      it = sessions.erase(it);
      continue;
    }
    if (s.conn && s.send_sync && now - s.last_sync >= options.sync_period) {
      s.last_sync = now;
      // Seconds since the session was bound to this connection (TLCP "Time
      // Synchronization"): restarts at every bind.
      Send(s.conn, absl::StrCat("SYNC,", absl::ToInt64Seconds(now - s.bound_at)));
      Count(&SimulatorStats::syncs_sent);
    }
    if (s.conn) {
      for (const auto& [id, sub] : s.subs) subscribed += static_cast<int>(sub.items.size());
    }
    ++it;
  }
  absl::MutexLock lock(&mu);
  stats.updates_skipped = model.skipped();
  stats.live_connections = static_cast<int>(conns.size());
  stats.live_sessions = static_cast<int>(sessions.size());
  stats.subscribed_items = subscribed;
}

void Simulator::Impl::ApplyFault(const Fault& f) {
  Count(&SimulatorStats::faults);
  if (f.kind == FaultKind::kConerr) {
    refuse_code = f.code != 0 ? f.code : 5;
    refuse_left = f.count;  // 0: every request from now on
  }
  log::Info("simulator fault", {{"kind", FaultName(f.kind)}, {"connections", conns.size()}});
  // Copy: Kill/close may change the list.
  std::vector<std::shared_ptr<Conn>> targets(conns.begin(), conns.end());
  for (const auto& c : targets) {
    switch (f.kind) {
      case FaultKind::kDrop:
        Kill(c);
        break;
      case FaultKind::kStall:
        c->stalled_until = absl::Now() + f.duration / std::max(options.speed, 1e-9);
        c->wake.cancel();
        break;
      case FaultKind::kEnd: {
        // A live session is closed with END (CONERR only answers a
        // create or bind).
        const int code = f.code != 0 ? f.code : 32;
        EndSession(c, absl::StrCat("END,", code, ",", EncodeText(SessionCodeText(code))));
        break;
      }
      case FaultKind::kConerr:
        EndSession(c, absl::StrCat("END,32,", EncodeText(SessionCodeText(32))));
        break;
      case FaultKind::kLoop:
        // The session survives unbound; the client is expected to rebind,
        // on this WebSocket (which stays open) or on a new one.
        Send(c, "LOOP,0");
        Detach(c);
        break;
      case FaultKind::kGarbage: {
        static const char* kGarbage[] = {"U,999999,1,x|y", "NOT_A_TLCP_MESSAGE,1,2", "U,1",
                                         "SUBOK,x,y,z",    "EOS,999999,1",           "CONF"};
        for (int i = 0; i < f.lines; ++i) {
          Send(c, kGarbage[static_cast<size_t>(i) % std::size(kGarbage)]);
        }
        break;
      }
    }
  }
}

void Simulator::Impl::EndSession(const std::shared_ptr<Conn>& c, std::string line) {
  Send(c, std::move(line));
  c->close_after_flush = true;
  if (c->session != nullptr) {
    const std::string id = c->session->id;
    c->session = nullptr;
    sessions.erase(id);
  }
}

}  // namespace iss::sim
