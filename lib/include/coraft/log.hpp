// coraft/log.hpp — one line per event: time, level, node, component, text.
//
// A tiny logger so that every part of coraft (storage, transport, HTTP,
// apps) writes the same greppable format to stderr:
//   2026-11-27T23:59:01.123Z INFO node=1 term=3 role=leader net: connected to node 2
// The sink can be replaced (tests capture lines). Thread-safe.
#pragma once

#include <coraft/types.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace coraft {

enum class log_level : int { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

// Parses "debug", "info", "warn", "error" or "off".
bool parse_log_level(std::string_view s, log_level& out);
void set_log_level(log_level l);
log_level get_log_level();
// Replaces the output (default: stderr). The sink receives whole lines.
void set_log_sink(std::function<void(const std::string&)> sink);

void log_line(log_level l, node_id node, std::string_view component, std::string_view text);

// The node runtime reports its term and role here, and every line logged
// for that node id then carries "term=T role=R" (so net and storage lines
// can be read against the Raft state). Thread-safe.
void set_log_context(node_id node, term_t term, std::string_view role);
void clear_log_context(node_id node);

inline bool log_enabled(log_level l) { return l >= get_log_level(); }

// Allows one line per `interval_ms` per limiter; counts what it suppressed.
class log_rate_limiter {
 public:
  explicit log_rate_limiter(long interval_ms = 1000) : interval_ms_(interval_ms) {}
  // True when a line may be written now; `suppressed` gets the count skipped
  // since. Not thread-safe: use one limiter per strand.
  bool allow(std::uint64_t& suppressed);

 private:
  long interval_ms_;
  long long last_ms_ = -1'000'000'000;
  std::uint64_t skipped_ = 0;
};

}  // namespace coraft
