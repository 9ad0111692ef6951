#include <coraft/log.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>

namespace coraft {
namespace {
std::atomic<int> level{static_cast<int>(log_level::info)};
std::mutex sink_mu;
std::function<void(const std::string&)>& sink() {
  static std::function<void(const std::string&)> s;
  return s;
}
const char* name(log_level l) {
  switch (l) {
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO";
    case log_level::warn: return "WARN";
    case log_level::error: return "ERROR";
    case log_level::off: return "OFF";
  }
  return "?";
}
}  // namespace

namespace {
std::mutex context_mu;
std::map<node_id, std::string>& contexts() {
  static std::map<node_id, std::string> c;
  return c;
}
}  // namespace

void set_log_context(node_id node, term_t term, std::string_view role) {
  std::string ctx = "term=" + std::to_string(term) + " role=" + std::string(role);
  std::lock_guard lk(context_mu);
  contexts()[node] = std::move(ctx);
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

void set_log_sink(std::function<void(const std::string&)> s) {
  std::lock_guard lk(sink_mu);
  sink() = std::move(s);
}

void log_line(log_level l, node_id node, std::string_view component, std::string_view text) {
  if (!log_enabled(l)) return;
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line;
  line.reserve(64 + text.size());
  line += ts;
  char msbuf[8];
  std::snprintf(msbuf, sizeof msbuf, ".%03dZ ", static_cast<int>(ms));
  line += msbuf;
  line += name(l);
  line += " node=";
  line += std::to_string(node);
  line += ' ';
  {
    std::lock_guard lk(context_mu);
    auto it = contexts().find(node);
    if (it != contexts().end()) {
      line += it->second;
      line += ' ';
    }
  }
  line += component;
  line += ": ";
  line += text;
  std::lock_guard lk(sink_mu);
  if (sink()) {
    sink()(line);
  } else {
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
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
