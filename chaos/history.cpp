#include "history.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <istream>
#include <ostream>
#include <tuple>
#include <unordered_map>

namespace coraft::chaos {

namespace json = boost::json;

std::string_view to_string(op_kind f) {
  switch (f) {
    case op_kind::read: return "read";
    case op_kind::write: return "write";
    case op_kind::cas: return "cas";
  }
  return "?";
}

std::string_view to_string(outcome r) {
  switch (r) {
    case outcome::ok: return "ok";
    case outcome::fail: return "fail";
    case outcome::info: return "info";
  }
  return "?";
}

std::string describe(const parse_error& e) { return "line " + std::to_string(e.line) + ": " + e.message; }

namespace {

// A line failed to parse; the message says why (the caller adds the line).
struct bad_line {
  std::string message;
};

const json::value& field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) throw bad_line{"missing field \"" + std::string(name) + "\""};
  return *v;
}

std::int64_t integer_field(const json::object& o, std::string_view name) {
  const json::value& v = field(o, name);
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(never_ns - 1))
    return static_cast<std::int64_t>(v.get_uint64());
  throw bad_line{"field \"" + std::string(name) + "\" is not an integer"};
}

std::string_view string_field(const json::object& o, std::string_view name) {
  const json::value& v = field(o, name);
  if (!v.is_string()) throw bad_line{"field \"" + std::string(name) + "\" is not a string"};
  return v.get_string();
}

// A register value: a string, or an integer read as its decimal text; null
// only where `null_ok` (a read's result).
value_t register_value(const json::value& v, bool null_ok, std::string_view what) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  if (v.is_null() && null_ok) return std::nullopt;
  throw bad_line{std::string(what) +
                 (null_ok ? " is not a string, an integer or null" : " is not a string or an integer")};
}

template <class E>
E enum_field(const json::object& o, std::string_view name,
             std::initializer_list<std::pair<std::string_view, E>> names) {
  const std::string_view s = string_field(o, name);
  for (const auto& [n, e] : names)
    if (s == n) return e;
  throw bad_line{"field \"" + std::string(name) + "\" has an unknown value \"" + std::string(s) + "\""};
}

enum class line_type : std::uint8_t { invoke, ok, fail, info };

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

}  // namespace

std::variant<std::vector<operation>, parse_error> read_history(std::istream& in) {
  std::vector<operation> ops;
  // process -> index in ops of its outstanding invoke.
  std::unordered_map<std::int64_t, std::size_t> outstanding;
  std::int64_t last_time = std::numeric_limits<std::int64_t>::min();
  std::string text;
  std::size_t line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (blank(text)) continue;
    try {
      boost::system::error_code ec;
      const json::value doc = json::parse(text, ec);
      if (ec) throw bad_line{"not JSON: " + ec.message()};
      if (!doc.is_object()) throw bad_line{"not a JSON object"};
      const json::object& o = doc.get_object();

      const std::int64_t process = integer_field(o, "process");
      const auto type = enum_field<line_type>(
          o, "type",
          {{"invoke", line_type::invoke}, {"ok", line_type::ok}, {"fail", line_type::fail}, {"info", line_type::info}});
      const auto f =
          enum_field<op_kind>(o, "f", {{"read", op_kind::read}, {"write", op_kind::write}, {"cas", op_kind::cas}});
      const std::string_view key = string_field(o, "key");
      const std::int64_t time = integer_field(o, "time");
      if (time < last_time)
        throw bad_line{"time goes backwards: " + std::to_string(time) + " after " + std::to_string(last_time)};
      if (time == never_ns) throw bad_line{"time is out of range"};
      last_time = time;

      if (type == line_type::invoke) {
        if (auto it = outstanding.find(process); it != outstanding.end())
          throw bad_line{"invoke for process " + std::to_string(process) + " while its " +
                         std::string(to_string(ops[it->second].f)) + " invoked at " +
                         std::to_string(ops[it->second].invoke_ns) + " is outstanding"};
        operation op;
        op.process = process;
        op.f = f;
        op.key = std::string(key);
        op.invoke_ns = time;
        const json::value& v = field(o, "value");
        switch (f) {
          case op_kind::read:
            if (!v.is_null()) throw bad_line{"a read invoke's \"value\" is not null"};
            break;
          case op_kind::write: op.value = register_value(v, false, "a write's \"value\""); break;
          case op_kind::cas: {
            const json::array* a = v.if_array();
            if (a == nullptr || a->size() != 2) throw bad_line{"a cas's \"value\" is not [expected, new]"};
            op.expected = register_value((*a)[0], false, "a cas's expected value");
            op.value = register_value((*a)[1], false, "a cas's new value");
            break;
          }
        }
        outstanding.emplace(process, ops.size());
        ops.push_back(std::move(op));
        continue;
      }

      const auto it = outstanding.find(process);
      if (it == outstanding.end())
        throw bad_line{"completion for process " + std::to_string(process) + " with no outstanding invoke"};
      operation& op = ops[it->second];
      if (op.f != f)
        throw bad_line{"completion for process " + std::to_string(process) + " has f \"" + std::string(to_string(f)) +
                       "\", its invoke \"" + std::string(to_string(op.f)) + "\""};
      if (op.key != key)
        throw bad_line{"completion for process " + std::to_string(process) + " has key \"" + std::string(key) +
                       "\", its invoke \"" + op.key + "\""};
      // A completion's value matters only for an ok read (what it read);
      // writes and cas repeat their invoke's, which is the one we keep.
      if (type == line_type::ok && f == op_kind::read)
        op.value = register_value(field(o, "value"), true, "a read's \"value\"");
      op.reported_ns = time;
      switch (type) {
        case line_type::ok: op.result = outcome::ok; break;
        case line_type::fail: op.result = outcome::fail; break;
        default: op.result = outcome::info; break;
      }
      op.complete_ns = op.result == outcome::info ? never_ns : time;
      outstanding.erase(it);
    } catch (const bad_line& e) {
      return parse_error{line, e.message};
    }
  }
  // Invokes still outstanding at the end of the file stay info, completing
  // at never_ns (operation's defaults).
  return ops;
}

json::value write_value(std::string_view v) { return json::string(v); }

json::value cas_value(std::string_view expected, std::string_view next) {
  return json::array{json::string(expected), json::string(next)};
}

json::value read_value(const value_t& v) {
  if (!v) return nullptr;
  return json::string(*v);
}

namespace {

std::string event_line(std::int64_t process, std::string_view type, op_kind f, std::string_view key,
                       const json::value& value, std::int64_t time_ns) {
  // json::object keeps insertion order: lines read as process, type, f,
  // key, value, time.
  json::object o;
  o.reserve(6);
  o.emplace("process", process);
  o.emplace("type", type);
  o.emplace("f", to_string(f));
  o.emplace("key", key);
  o.emplace("value", value);
  o.emplace("time", time_ns);
  return json::serialize(o);
}

json::value invoke_value(const operation& op) {
  switch (op.f) {
    case op_kind::read: return nullptr;
    case op_kind::write: return read_value(op.value);
    case op_kind::cas: return json::array{read_value(op.expected), read_value(op.value)};
  }
  return nullptr;
}

}  // namespace

std::string invoke_line(std::int64_t process, op_kind f, std::string_view key, const json::value& value,
                        std::int64_t time_ns) {
  return event_line(process, "invoke", f, key, value, time_ns);
}

std::string complete_line(std::int64_t process, outcome type, op_kind f, std::string_view key, const json::value& value,
                          std::int64_t time_ns) {
  return event_line(process, to_string(type), f, key, value, time_ns);
}

void write_history(std::ostream& out, const std::vector<operation>& ops) {
  // Events sorted by (time, process, the op's invoke time, invoke before
  // completion). A process's ops do not overlap, so this
  // keeps each process's own order, and time never goes backwards.
  struct event {
    std::int64_t time;
    std::int64_t process;
    std::int64_t invoke;  // the op's; orders a process's ops that share a time
    std::size_t op;       // index in ops
    bool completion;
  };
  std::vector<event> events;
  events.reserve(2 * ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const operation& op = ops[i];
    events.push_back({op.invoke_ns, op.process, op.invoke_ns, i, false});
    if (op.reported_ns != never_ns) events.push_back({op.reported_ns, op.process, op.invoke_ns, i, true});
  }
  std::sort(events.begin(), events.end(), [](const event& a, const event& b) {
    return std::tie(a.time, a.process, a.invoke, a.op, a.completion) <
           std::tie(b.time, b.process, b.invoke, b.op, b.completion);
  });
  for (const event& e : events) {
    const operation& op = ops[e.op];
    if (!e.completion) {
      out << invoke_line(op.process, op.f, op.key, invoke_value(op), op.invoke_ns) << '\n';
    } else {
      // A read's completion carries what it read (null unless ok).
      const json::value v =
          op.f == op_kind::read ? (op.result == outcome::ok ? read_value(op.value) : nullptr) : invoke_value(op);
      out << complete_line(op.process, op.result, op.f, op.key, v, op.reported_ns) << '\n';
    }
  }
}

namespace {

std::string shown(const value_t& v, std::size_t max_value) {
  if (!v) return "nil";
  if (v->size() <= max_value) return *v;
  return v->substr(0, max_value) + "…";
}

std::string ms(std::int64_t ns, std::int64_t t0) {
  if (ns == never_ns) return "∞";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ns - t0) / 1e6);
  return buf;
}

}  // namespace

std::string op_label(const operation& op, std::size_t max_value) {
  switch (op.f) {
    case op_kind::read: return op.result == outcome::ok ? "r " + shown(op.value, max_value) : std::string("r ?");
    case op_kind::write: return "w " + shown(op.value, max_value);
    case op_kind::cas: return "cas " + shown(op.expected, max_value) + "→" + shown(op.value, max_value);
  }
  return "?";
}

std::string format_history(const std::vector<operation>& ops) {
  std::int64_t t0 = ops.empty() ? 0 : ops.front().invoke_ns;
  for (const operation& op : ops) t0 = std::min(t0, op.invoke_ns);
  std::string out;
  char buf[96];
  for (const operation& op : ops) {
    const std::string end = op.result == outcome::info && op.reported_ns != never_ns
                                ? ms(op.reported_ns, t0) + "+"  // gave up here; may still take effect
                                : ms(op.complete_ns, t0);
    std::snprintf(buf, sizeof buf, "p%-4lld %-5s ", static_cast<long long>(op.process),
                  std::string(to_string(op.result)).c_str());
    out += buf;
    std::string label = op_label(op, 24);
    out += label;
    // Pad the label to a column; "→" and "…" are 3 bytes shown as 1.
    std::size_t width = 0;
    for (unsigned char c : label) width += (c & 0xC0) != 0x80 ? 1 : 0;
    out.append(width < 16 ? 16 - width : 1, ' ');
    std::snprintf(buf, sizeof buf, "%12s .. %12s ms  ", ms(op.invoke_ns, t0).c_str(), end.c_str());
    out += buf;
    out += op.key;
    out += '\n';
  }
  return out;
}

}  // namespace coraft::chaos
