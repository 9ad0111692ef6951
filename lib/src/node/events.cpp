// events.cpp — see coraft/events.hpp.
#include <coraft/events.hpp>

#include <algorithm>
#include <cstdio>
#include <random>

namespace coraft {

namespace {

std::string new_incarnation() {
  std::random_device rd;
  const std::uint64_t v = (std::uint64_t{rd()} << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

event_log::event_log(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)), incarnation_(new_incarnation()) {}

void event_log::set_term(term_t t) {
  std::lock_guard lk(mu_);
  term_ = t;
}

void event_log::record(std::string kind, std::string message, std::vector<std::pair<std::string, std::string>> fields) {
  node_event e;
  e.time = std::chrono::system_clock::now();
  e.kind = std::move(kind);
  e.message = std::move(message);
  e.fields = std::move(fields);
  const bool peer = e.kind.starts_with("peer_");
  std::lock_guard lk(mu_);
  e.seq = ++last_seq_;
  e.term = term_;
  events_.push_back(std::move(e));
  if (peer && ++peer_events_ > std::max<std::size_t>(capacity_ / 4, 1)) {
    // A flapping link: its oldest peer event goes, not an election.
    auto it =
        std::find_if(events_.begin(), events_.end(), [](const node_event& x) { return x.kind.starts_with("peer_"); });
    events_.erase(it);
    --peer_events_;
  }
  if (events_.size() > capacity_) {
    if (events_.front().kind.starts_with("peer_")) --peer_events_;
    events_.pop_front();
  }
}

event_log::page event_log::since(std::uint64_t seq, std::size_t limit) const {
  page p;
  std::lock_guard lk(mu_);
  p.last_seq = last_seq_;
  // Nothing after it (or a number from another incarnation, ahead of ours).
  if (events_.empty() || seq >= last_seq_) return p;
  // Held in order, with gaps where peer events were dropped; seq <
  // last_seq_, so seq + 1 cannot wrap.
  p.truncated = seq + 1 < events_.front().seq;
  auto it = std::lower_bound(events_.begin(), events_.end(), seq + 1,
                             [](const node_event& e, std::uint64_t s) { return e.seq < s; });
  for (; it != events_.end() && p.events.size() < limit; ++it) p.events.push_back(*it);
  return p;
}

event_log::page event_log::latest(std::size_t limit) const {
  page p;
  std::lock_guard lk(mu_);
  p.last_seq = last_seq_;
  const std::size_t n = std::min(limit, events_.size());
  p.events.assign(events_.end() - static_cast<std::ptrdiff_t>(n), events_.end());
  return p;
}

void rate_history::add(const rate_sample& s) {
  std::lock_guard lk(mu_);
  samples_.push_back(s);
  if (samples_.size() > capacity_) samples_.pop_front();
}

std::vector<rate_sample> rate_history::samples() const {
  std::lock_guard lk(mu_);
  return {samples_.begin(), samples_.end()};
}

}  // namespace coraft
