// coraft/log.hpp — one record per event: time, level, node, term and role,
// component, message and structured fields.
//
// A tiny logger so that every part of coraft (storage, transport, HTTP,
// apps) reports events the same way. Each enabled record goes to exactly
// one place, chosen in this order:
//   1. the hook (set_log_hook), which gets the record's parts, so that an
//      embedding service routes coraft's events into its own logger;
//   2. the sink (set_log_sink), which gets the record as one formatted line;
//   3. stderr, one formatted line each.
// Lines are in the format of set_log_format():
//   text (the default; greppable; fields appended as key=value):
//     2026-11-27T23:59:01.123Z INFO node=1 term=3 role=leader net: connected to node 2 peer=2
//   json (one object per line, always these keys in this order; term and
//   role are null until the node reports them, fields {} when none):
//     {"time":"2026-11-27T23:59:01.123Z","level":"info","node":1,"term":3,"role":"leader",
//      "component":"net","message":"connected to node 2","fields":{"peer":"2"}}
// Invariants: a record below the level is neither formatted nor delivered;
// the hook, the sink and stderr get records one at a time, never two at once
// (calls are serialized by one mutex, so they are never interleaved), and
// once set_log_hook() or set_log_sink() returns the replaced function is
// not running and is never called again. A record logged from inside the
// hook or sink (on its thread) goes to stderr instead of waiting for
// itself; so does one whose hook or sink throws (the exception does not
// reach the code that logged). JSON lines are valid UTF-8 whatever the message holds: invalid
// bytes become U+FFFD, control characters are escaped.
// Thread-safe: every function here may be called from any thread.
#pragma once

#include <coraft/types.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coraft {

enum class log_level : int { debug = 0, info = 1, warn = 2, error = 3, off = 4 };
enum class log_format : int { text = 0, json = 1 };

// Structured fields of a record, in the order given: {"peer", "2"}, ...
// Keys should be unique and plain ([a-z_]): they name JSON members and
// text's key=value pairs. Values are any text (quoted in text when needed).
using log_field = std::pair<std::string, std::string>;
using log_fields = std::vector<log_field>;

// One event, as the hook receives it. The views and the span point into
// the logger's call: valid only during the hook's call (copy what you keep).
struct log_record {
  std::chrono::system_clock::time_point time;
  log_level level;
  node_id node;
  std::optional<term_t> term;  // set_log_context()'s; empty until the node reports one
  std::string_view role;       // "leader", "follower", ...; empty until reported
  std::string_view component;  // "net", "raft", "wal", ...
  std::string_view message;
  std::span<const log_field> fields;
};

// Parses "debug", "info", "warn", "error" or "off".
bool parse_log_level(std::string_view s, log_level& out);
void set_log_level(log_level l);
log_level get_log_level();

// Parses "text" or "json".
bool parse_log_format(std::string_view s, log_format& out);
// The format of the lines the sink and stderr get (default: text).
void set_log_format(log_format f);
log_format get_log_format();

// Replaces the output (default: stderr). The sink receives whole lines,
// without the newline, in the current format. An empty function: stderr.
void set_log_sink(std::function<void(const std::string&)> sink);
// Routes every enabled record to `hook` instead of the sink or stderr (an
// empty function: back to them). See the invariants above: calls are
// serialized, so the hook need not be thread-safe, but it must not block
// for long (every thread that logs waits for it).
void set_log_hook(std::function<void(const log_record&)> hook);

// The record as one line of `f`, without the newline (what the sink gets).
std::string format_log_record(const log_record& r, log_format f);
// RFC 3339, UTC, milliseconds: 2026-11-27T23:59:01.123Z (log lines, events).
std::string format_time_utc(std::chrono::system_clock::time_point t);

void log_line(log_level l, node_id node, std::string_view component, std::string_view text);
// The same with structured fields: log_line(info, id, "net", "connected", {{"peer", "2"}}).
void log_line(log_level l, node_id node, std::string_view component, std::string_view text, const log_fields& fields);

// The node runtime reports its term and role here, and every record logged
// for that node id then carries them (text: "term=T role=R"), so net and
// storage lines can be read against the Raft state. Thread-safe.
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
