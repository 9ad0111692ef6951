// chaos/history.hpp — the history coraft-chaos records and checks (issue 16):
// one JSON object per line, in time order, Jepsen-style.
//
//   {"process":3,"type":"invoke","f":"cas","key":"k7","value":["1","2"],"time":1200}
//   {"process":3,"type":"ok","f":"cas","key":"k7","value":["1","2"],"time":5400}
//
// Fields: "process" (integer client id), "type" ("invoke", "ok", "fail",
// "info"), "f" ("read", "write", "cas"), "key" (string), "value" (write: the
// value; cas: [expected, new]; read invoke: null; read ok: the value read,
// null when absent), "time" (integer nanoseconds, monotonic). Values are
// JSON strings; integers are accepted as their decimal text. Extra fields and
// blank lines are ignored.
//
// Meaning of a completion: `ok` took effect exactly once between invoke and
// completion; `fail` did not take effect; `info` may or may not have, at any
// time after its invoke (a timeout, a lost connection). An invoke never
// completed by the end of the file is an `info`.
//
// Invariants of a parsed history (read_history refuses a file that breaks
// them, naming the line): a process has at most one operation outstanding;
// a completion repeats its invoke's process, f and key; time never goes
// backwards from one line to the next.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <iosfwd>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace coraft::chaos {

enum class op_kind : std::uint8_t { read, write, cas };
enum class outcome : std::uint8_t { ok, fail, info };

// A register's value; nullopt is "absent" (JSON null).
using value_t = std::optional<std::string>;

// +infinity on the history's clock: when an `info` operation completes.
inline constexpr std::int64_t never_ns = std::numeric_limits<std::int64_t>::max();

// One operation: an invoke line and its completion line, merged.
struct operation {
  std::int64_t process = 0;
  op_kind f = op_kind::read;
  std::string key;
  // write: the value written; cas: the new value; read: the value read (ok
  // reads only; nullopt for an absent key and for reads that did not
  // return).
  value_t value;
  // cas only: the value the register must hold for the cas to apply. Never
  // nullopt for a cas.
  value_t expected;
  outcome result = outcome::info;
  std::int64_t invoke_ns = 0;
  // When the operation returned: its completion line's time for ok and
  // fail; never_ns for info, which may take effect at any time after
  // invoke_ns. Invariant: invoke_ns <= complete_ns.
  std::int64_t complete_ns = never_ns;
  // The time of the completion line itself (== complete_ns except for info,
  // where it is when the client gave up; never_ns when the file ended first).
  // Only for printing and for writing the history back out.
  std::int64_t reported_ns = never_ns;
};

struct parse_error {
  std::size_t line = 0;  // 1-based line number in the file
  std::string message;   // what is wrong on that line
};
// "line 12: completion for process 3 has f \"read\", its invoke \"write\"".
std::string describe(const parse_error& e);

// Reads a whole history. Operations come in the order of their invoke
// lines; fail and info operations are kept (the checker decides what they
// mean). On error: the first bad line and what is wrong with it.
std::variant<std::vector<operation>, parse_error> read_history(std::istream& in);

// The JSON "value" of each kind of line: a write's value, a cas's
// [expected, new], a read's result (null for absent, and for a read invoke).
boost::json::value write_value(std::string_view v);
boost::json::value cas_value(std::string_view expected, std::string_view next);
boost::json::value read_value(const value_t& v);

// One event line, without the trailing newline. The writer of a history
// calls invoke_line when a client sends a request and complete_line when it
// learns the outcome (or gives up: outcome::info).
std::string invoke_line(std::int64_t process, op_kind f, std::string_view key, const boost::json::value& value,
                        std::int64_t time_ns);
std::string complete_line(std::int64_t process, outcome type, op_kind f, std::string_view key,
                          const boost::json::value& value, std::int64_t time_ns);

// Writes `ops` back as a history file (events merged in time order, each
// process's events in its own order), e.g. to save a failing sub-history
// that read_history reads again. An info op with reported_ns == never_ns
// gets no completion line.
void write_history(std::ostream& out, const std::vector<operation>& ops);

// Human-readable lines, one per operation in invoke order, times in ms
// from the first invoke: "p3  ok    w 5          12.004 ..   12.950 ms  k7".
std::string format_history(const std::vector<operation>& ops);

// Short labels shared by format_history and the timeline: "w 3", "r nil",
// "r ?" (a read that did not return), "cas 1→2". Values longer than
// `max_value` characters are cut and end in "…".
std::string op_label(const operation& op, std::size_t max_value = 64);
std::string_view to_string(op_kind f);
std::string_view to_string(outcome r);

}  // namespace coraft::chaos
