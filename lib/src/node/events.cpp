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
  std::lock_guard lk(mu_);
  e.seq = ++last_seq_;
  e.term = term_;
  events_.push_back(std::move(e));
  if (events_.size() > capacity_) events_.pop_front();
}

event_log::page event_log::since(std::uint64_t seq, std::size_t limit) const {
  page p;
  std::lock_guard lk(mu_);
  p.last_seq = last_seq_;
  if (events_.empty()) return p;
  // Held: seq first .. last_seq_, contiguous.
  const std::uint64_t first = events_.front().seq;
  p.truncated = seq + 1 < first;
  const std::uint64_t from = std::max(seq + 1, first);
  for (std::uint64_t s = from; s <= last_seq_ && p.events.size() < limit; ++s) p.events.push_back(events_[s - first]);
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
