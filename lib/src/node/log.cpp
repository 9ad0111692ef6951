// log.cpp — the logger of coraft/log.hpp: level, format, context, and one
// mutex that serializes delivery to the hook, the sink or stderr.
#include <coraft/log.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <map>
#include <mutex>

namespace coraft {

std::string format_time_utc(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[40];
  const std::size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(ts + n, sizeof ts - n, ".%03dZ", static_cast<int>(ms));
  return ts;
}
namespace {
std::atomic<int> level{static_cast<int>(log_level::info)};
std::atomic<int> format{static_cast<int>(log_format::text)};

// Delivery: held while the hook, the sink or stderr gets a record.
std::mutex output_mu;
std::function<void(const std::string&)>& sink() {
  static std::function<void(const std::string&)> s;
  return s;
}
std::function<void(const log_record&)>& hook() {
  static std::function<void(const log_record&)> h;
  return h;
}
// True on a thread while it delivers a record: a record logged from inside
// the hook or sink then goes straight to stderr instead of deadlocking.
thread_local bool delivering = false;

const char* upper_name(log_level l) {
  switch (l) {
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO";
    case log_level::warn: return "WARN";
    case log_level::error: return "ERROR";
    case log_level::off: return "OFF";
  }
  return "?";
}
const char* lower_name(log_level l) {
  switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "?";
}

struct node_context {
  term_t term = 0;
  std::string role;
};
std::mutex context_mu;
std::map<node_id, node_context>& contexts() {
  static std::map<node_id, node_context> c;
  return c;
}

void append_time(std::string& out, std::chrono::system_clock::time_point now) { out += format_time_utc(now); }

// Length of the well-formed UTF-8 sequence of 2-4 bytes at s[i], or 0:
// a stray continuation byte, an overlong form, a surrogate, a code point
// above U+10FFFF or a sequence cut short.
std::size_t utf8_sequence_at(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  std::uint32_t cp = 0, min = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1Fu, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0Fu, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// `s` as a JSON string (RFC 8259 §7): quotes and backslashes escaped,
// control characters as \n, \t, ... or \u00XX, invalid UTF-8 bytes each
// replaced by U+FFFD, everything else as is.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (const std::size_t n = utf8_sequence_at(s, i); n != 0) {
        out.append(s.substr(i, n));
        i += n;
      } else {
        out += "\xEF\xBF\xBD";
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
          out += esc;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

// A text field's value, bare when it reads unambiguously as one word,
// else quoted as a JSON string (logfmt's convention).
void append_text_value(std::string& out, std::string_view v) {
  bool bare = !v.empty();
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7F || c == '"' || c == '=' || c == '\\' || c >= 0x80) bare = false;
  }
  if (bare)
    out += v;
  else
    append_json_string(out, v);
}

std::string format_text(const log_record& r) {
  std::string line;
  line.reserve(64 + r.message.size());
  append_time(line, r.time);
  line += ' ';
  line += upper_name(r.level);
  line += " node=";
  line += std::to_string(r.node);
  line += ' ';
  if (r.term) {
    line += "term=";
    line += std::to_string(*r.term);
    line += " role=";
    line += r.role;
    line += ' ';
  }
  line += r.component;
  line += ": ";
  line += r.message;
  for (const auto& [k, v] : r.fields) {
    line += ' ';
    line += k;
    line += '=';
    append_text_value(line, v);
  }
  return line;
}

std::string format_json(const log_record& r) {
  std::string line;
  line.reserve(128 + r.message.size());
  line += "{\"time\":\"";
  append_time(line, r.time);
  line += "\",\"level\":\"";
  line += lower_name(r.level);
  line += "\",\"node\":";
  line += std::to_string(r.node);
  line += ",\"term\":";
  line += r.term ? std::to_string(*r.term) : "null";
  line += ",\"role\":";
  if (r.term)
    append_json_string(line, r.role);
  else
    line += "null";
  line += ",\"component\":";
  append_json_string(line, r.component);
  line += ",\"message\":";
  append_json_string(line, r.message);
  line += ",\"fields\":{";
  bool first = true;
  for (const auto& [k, v] : r.fields) {
    if (!first) line += ',';
    first = false;
    append_json_string(line, k);
    line += ':';
    append_json_string(line, v);
  }
  line += "}}";
  return line;
}

void write_stderr(std::string line) {
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

const log_fields no_fields;
}  // namespace

void set_log_context(node_id node, term_t term, std::string_view role) {
  std::lock_guard lk(context_mu);
  auto& c = contexts()[node];
  c.term = term;
  c.role.assign(role);
}

void clear_log_context(node_id node) {
  std::lock_guard lk(context_mu);
  contexts().erase(node);
}

bool parse_log_level(std::string_view s, log_level& out) {
  if (s == "debug")
    out = log_level::debug;
  else if (s == "info")
    out = log_level::info;
  else if (s == "warn")
    out = log_level::warn;
  else if (s == "error")
    out = log_level::error;
  else if (s == "off")
    out = log_level::off;
  else
    return false;
  return true;
}

void set_log_level(log_level l) { level.store(static_cast<int>(l)); }
log_level get_log_level() { return static_cast<log_level>(level.load()); }

bool parse_log_format(std::string_view s, log_format& out) {
  if (s == "text")
    out = log_format::text;
  else if (s == "json")
    out = log_format::json;
  else
    return false;
  return true;
}

void set_log_format(log_format f) { format.store(static_cast<int>(f)); }
log_format get_log_format() { return static_cast<log_format>(format.load()); }

void set_log_sink(std::function<void(const std::string&)> s) {
  std::lock_guard lk(output_mu);
  sink().swap(s);  // the old one is destroyed after the lock is released
}

void set_log_hook(std::function<void(const log_record&)> h) {
  std::lock_guard lk(output_mu);
  hook().swap(h);
}

std::string format_log_record(const log_record& r, log_format f) {
  return f == log_format::json ? format_json(r) : format_text(r);
}

void log_line(log_level l, node_id node, std::string_view component, std::string_view text) {
  log_line(l, node, component, text, no_fields);
}

void log_line(log_level l, node_id node, std::string_view component, std::string_view text, const log_fields& fields) {
  if (!log_enabled(l)) return;
  log_record r{std::chrono::system_clock::now(), l, node, std::nullopt, {}, component, text, fields};
  std::string role;
  {
    std::lock_guard lk(context_mu);
    if (auto it = contexts().find(node); it != contexts().end()) {
      r.term = it->second.term;
      role = it->second.role;
    }
  }
  r.role = role;
  if (delivering) {  // logged from inside the hook or sink on this thread
    write_stderr(format_log_record(r, get_log_format()));
    return;
  }
  std::lock_guard lk(output_mu);
  delivering = true;
  struct reset {
    ~reset() { delivering = false; }
  } reset_on_exit;
  std::string line;
  try {
    if (hook()) {
      hook()(r);
      return;
    }
    line = format_log_record(r, get_log_format());
    if (sink()) {
      sink()(line);
      return;
    }
  } catch (const std::exception& e) {
    // Logging never throws into the code that logged (it may be a
    // destructor or a noexcept path): the record goes to stderr instead.
    line = format_log_record(r, get_log_format());
    write_stderr("log hook or sink threw (" + std::string(e.what()) + "); the record was: " + line);
    return;
  }
  write_stderr(std::move(line));
}

bool log_rate_limiter::allow(std::uint64_t& suppressed) {
  const long long now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
  if (now - last_ms_ < interval_ms_) {
    ++skipped_;
    return false;
  }
  last_ms_ = now;
  suppressed = skipped_;
  skipped_ = 0;
  return true;
}

}  // namespace coraft
