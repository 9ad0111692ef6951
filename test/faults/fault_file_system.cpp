// fault_file_system.cpp — see fault_file_system.hpp for the grammar and
// the failure model.
#include "fault_file_system.hpp"

#include <boost/system/system_error.hpp>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace coraft::faults {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

std::uint64_t parse_number(std::string_view v, std::string_view what, std::uint64_t max) {
  std::uint64_t n = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n > max)
    throw std::invalid_argument(std::string(what) + " must be a number from 0 to " + std::to_string(max) + ", not '" +
                                std::string(v) + "'");
  return n;
}

unsigned parse_files(std::string_view v) {
  unsigned files = 0;
  for (const std::string_view f : split(v, '+')) {
    if (f == "wal")
      files |= failpoint::wal;
    else if (f == "snap")
      files |= failpoint::snap;
    else if (f == "spare")
      files |= failpoint::spare;
    else if (f == "meta")
      files |= failpoint::meta;
    else if (f == "any")
      files |= failpoint::any;
    else
      throw std::invalid_argument("unknown file class '" + std::string(f) + "' (wal, snap, spare, meta, any)");
  }
  return files;
}

failpoint parse_point(std::string_view text) {
  failpoint p;
  p.text = std::string(text);
  const auto parts = split(text, ':');
  const auto eq = parts[0].find('=');
  if (eq == std::string_view::npos)
    throw std::invalid_argument("'" + p.text + "' is not OP=ACTION[:PARAM]... (e.g. sync=eio:after=40)");
  const std::string_view op = parts[0].substr(0, eq), act = parts[0].substr(eq + 1);
  if (op == "sync")
    p.what = failpoint::op::sync;
  else if (op == "write")
    p.what = failpoint::op::write;
  else if (op == "rename")
    p.what = failpoint::op::rename;
  else if (op == "dirsync")
    p.what = failpoint::op::dirsync;
  else
    throw std::invalid_argument("unknown operation '" + std::string(op) + "' in '" + p.text +
                                "' (sync, write, rename, dirsync)");
  if (act == "eio")
    p.act = failpoint::action::eio;
  else if (act == "enospc")
    p.act = failpoint::action::enospc;
  else if (act == "slow")
    p.act = failpoint::action::slow;
  else
    throw std::invalid_argument("unknown action '" + std::string(act) + "' in '" + p.text + "' (eio, enospc, slow)");
  bool have_ms = false;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto peq = parts[i].find('=');
    const std::string_view key = parts[i].substr(0, peq);
    const std::string_view value = peq == std::string_view::npos ? std::string_view() : parts[i].substr(peq + 1);
    if (peq == std::string_view::npos)
      throw std::invalid_argument("parameter '" + std::string(parts[i]) + "' in '" + p.text + "' is not KEY=VALUE");
    if (key == "after") {
      p.after = parse_number(value, "after", 1'000'000'000);
    } else if (key == "ms") {
      p.ms = static_cast<int>(parse_number(value, "ms", 60'000));
      have_ms = true;
    } else if (key == "file") {
      p.files = parse_files(value);
    } else {
      throw std::invalid_argument("unknown parameter '" + std::string(key) + "' in '" + p.text + "' (after, ms, file)");
    }
  }
  if (p.act == failpoint::action::slow && (!have_ms || p.ms < 1))
    throw std::invalid_argument("'" + p.text + "': slow needs ms=M (1 to 60000)");
  if (p.act != failpoint::action::slow && have_ms)
    throw std::invalid_argument("'" + p.text + "': ms= is for slow only");
  return p;
}

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool starts_ends(const std::string& s, std::string_view head, std::string_view tail) {
  return s.size() >= head.size() + tail.size() && s.compare(0, head.size(), head) == 0 &&
         s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The class (failpoint::wal, ...) of a file by its name; 0 for the others
// (LOCK), which only file=any selects.
unsigned file_class(const std::string& path) {
  const std::string n = base_name(path);
  if (n == "wal.tmp" || starts_ends(n, "wal-", ".log")) return failpoint::wal;
  if (n == "snap.tmp" || starts_ends(n, "snap-", ".snap")) return failpoint::snap;
  if (n == "wal.spare") return failpoint::spare;
  if (n == "coraft.meta" || n == "coraft.meta.tmp") return failpoint::meta;
  return 0;
}

class fault_file_system final : public file_system {
 public:
  fault_file_system(std::unique_ptr<file_system> inner, std::vector<failpoint> points,
                    std::function<void(const std::string&)> log)
      : inner_(std::move(inner)), log_(std::move(log)) {
    for (auto& p : points) points_.push_back(state{std::move(p)});
  }

  handle open(const std::string& path, bool create) override {
    const handle f = inner_->open(path, create);
    std::lock_guard lock(mutex_);
    open_[f] = path;
    return f;
  }
  void close(handle f) override {
    {
      std::lock_guard lock(mutex_);
      open_.erase(f);
    }
    inner_->close(f);
  }
  std::size_t pread(handle f, void* buf, std::size_t n, std::uint64_t offset) override {
    return inner_->pread(f, buf, n, offset);
  }
  void pwrite(handle f, const void* buf, std::size_t n, std::uint64_t offset) override {
    act(failpoint::op::write, path_of(f), "pwrite");
    inner_->pwrite(f, buf, n, offset);
  }
  void sync(handle f) override {
    act(failpoint::op::sync, path_of(f), "fdatasync");
    inner_->sync(f);
  }
  std::uint64_t size(handle f) override { return inner_->size(f); }
  void zero_fill(handle f, std::uint64_t bytes) override {
    act(failpoint::op::write, path_of(f), "zero_fill");
    inner_->zero_fill(f, bytes);
  }
  void truncate(handle f, std::uint64_t bytes) override { inner_->truncate(f, bytes); }
  void rename(const std::string& from, const std::string& to) override {
    act(failpoint::op::rename, from, "rename");
    inner_->rename(from, to);
    std::lock_guard lock(mutex_);
    for (auto& [f, path] : open_)
      if (path == from) path = to;
  }
  void remove(const std::string& path) override { inner_->remove(path); }
  void sync_dir(const std::string& dir) override {
    act(failpoint::op::dirsync, dir, "fsync directory");
    inner_->sync_dir(dir);
  }
  void create_dir(const std::string& dir) override { inner_->create_dir(dir); }
  bool exists(const std::string& path) override { return inner_->exists(path); }
  std::vector<std::string> list(const std::string& dir) override { return inner_->list(dir); }
  bool lock_exclusive(const std::string& path) override { return inner_->lock_exclusive(path); }

 private:
  struct state {
    failpoint point;
    std::uint64_t seen = 0;  // matching calls so far
    bool logged = false;
  };

  // Runs every point that matches this call: sleeps for `slow`, throws for
  // `eio` / `enospc` (the call then does nothing, as a failed syscall).
  std::string path_of(handle f) {
    std::lock_guard lock(mutex_);
    const auto it = open_.find(f);
    return it == open_.end() ? "fd " + std::to_string(f) : it->second;
  }

  void act(failpoint::op what, const std::string& path, const char* call) {
    int sleep_ms = 0;
    int error = 0;
    std::string line, error_text;
    {
      std::lock_guard lock(mutex_);
      const unsigned cls = file_class(path);
      for (state& s : points_) {
        const failpoint& p = s.point;
        // (A directory sync is of the data directory: file= does not apply.)
        if (p.what != what || (what != failpoint::op::dirsync && p.files != failpoint::any && (p.files & cls) == 0))
          continue;
        const std::uint64_t n = ++s.seen;  // this call is the n-th matching one
        if (n <= p.after) continue;
        const bool first = n == p.after + 1;
        int fails_with = 0;
        switch (p.act) {
          case failpoint::action::eio:
            if (!first) continue;  // reported once, as Linux reports a writeback error
            fails_with = EIO;
            break;
          case failpoint::action::enospc: fails_with = ENOSPC; break;
          case failpoint::action::slow: sleep_ms += p.ms; break;
        }
        if (fails_with != 0 && error == 0) {
          error = fails_with;
          error_text = p.text;
        }
        if (!s.logged) {
          s.logged = true;
          line += std::string(line.empty() ? "" : "; ") + "failpoint " + p.text + " acts on " + call + " of " + path +
                  " (matching call " + std::to_string(n) + ")";
        }
      }
    }
    if (!line.empty() && log_) log_(line);
    if (error != 0)
      throw boost::system::system_error(boost::system::error_code(error, boost::system::system_category()),
                                        std::string(call == std::string_view("zero_fill") ? "pwrite" : call) + " " +
                                            path + " [failpoint " + error_text + "]");
    if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  }

  std::unique_ptr<file_system> inner_;
  std::function<void(const std::string&)> log_;
  std::mutex mutex_;                    // guards open_ and points_ (test code: several storage threads call in)
  std::map<handle, std::string> open_;  // path of each open handle (renames followed)
  std::vector<state> points_;
};

}  // namespace

std::vector<failpoint> parse_failpoints(std::string_view spec) {
  std::vector<failpoint> out;
  if (spec.empty()) return out;
  for (const std::string_view text : split(spec, ',')) {
    if (text.empty()) throw std::invalid_argument("empty failpoint (two commas, or one at an end)");
    out.push_back(parse_point(text));
  }
  return out;
}

std::vector<failpoint> failpoints_from_environment() {
  const char* spec = std::getenv(failpoints_variable);
  if (spec == nullptr) return {};
  try {
    return parse_failpoints(spec);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(failpoints_variable) + "='" + spec + "': " + e.what() +
                                " (grammar: test/faults/fault_file_system.hpp)");
  }
}

std::unique_ptr<file_system> make_fault_file_system(std::unique_ptr<file_system> inner, std::vector<failpoint> points,
                                                    std::function<void(const std::string&)> log) {
  return std::make_unique<fault_file_system>(std::move(inner), std::move(points), std::move(log));
}

}  // namespace coraft::faults
