// sim_file_system.hpp — an in-memory coraft::file_system that models the
// durability contract of coraft/file_system.hpp exactly, so that storage
// tests can crash at every write and sync point.
//
// The model:
//   - each file (an inode) has `current` bytes (what reads see: the page
//     cache) and `durable` bytes (what survives a power loss); sync(f) makes
//     the current bytes durable;
//   - each directory has a `current` and a `durable` name -> inode map;
//     open(create), rename and remove change only the current map, and
//     sync_dir(d) makes d's current map durable. A file's bytes can be
//     durable while its name is not (and then a crash loses the file);
//   - directories: by default durable when created (the WAL never creates
//     them). With strict_directories(true), a directory made by create_dir
//     is named durably only once its parent is synced (sync_dir(parent));
//     until then a power loss takes it with everything in it. "/" and "."
//     always exist;
//   - crash() is a power loss: every directory's durable map becomes its
//     current one, every reachable file's durable bytes become its current
//     ones, and files no durable name reaches are gone. Optionally unsynced
//     writes are torn: a prefix of the last one (`keep` bytes, or a seeded
//     random length), or (pages) any seeded subset of the 4 KiB pages
//     written since the last sync — later pages without earlier ones, as a
//     disk that reorders its writes leaves them. Handles do not survive a
//     crash. A process that dies without a power loss is not modelled
//     here: its handles are simply closed, and the page cache (current
//     bytes, dirty or not) stays for the next process.
//
// Faults, counted in "mutating operations": open with create, pwrite, sync,
// zero_fill, truncate, rename, remove, sync_dir, create_dir.
//   - crash_after(k): the k-th mutating operation from now takes effect, then
//     throws sim_crash (not a std::exception: nothing in the library catches
//     it); every later call but close() throws sim_crash until crash().
//   - fail_after(k, err): the next k mutating operations succeed, every later
//     one throws boost::system::system_error(err) without taking effect,
//     until clear_faults() (a disk that went bad stays bad).
//   - fail_sync_after(k, err): the k-th sync() from now fails as Linux
//     fails an fsync after a write-back error: it throws err, and the
//     pages it should have written are marked clean WITHOUT reaching the
//     disk — reads still see them, a later sync writes nothing of them, a
//     power loss loses them. Later syncs succeed. One-shot.
//   - set_capacity(bytes): a pwrite, zero_fill or truncate that would make
//     the files' current bytes exceed `bytes` in total throws ENOSPC.
// Determinism: the only randomness is the tear (length or pages), from the
// seed.
// Threading: every method takes one mutex (file_storage calls from its I/O
// thread while the test thread inspects between awaited operations).
#pragma once

#include <coraft/file_system.hpp>

#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace coraft::test {

// Thrown at a crash point. Deliberately not derived from std::exception.
struct sim_crash {
  std::uint64_t op = 0;  // the mutating operation after which the crash happened
  std::string what;      // which operation ("pwrite /wal/wal-...log")
};

class sim_file_system final : public file_system {
 public:
  // How a crash treats bytes written but not synced.
  struct crash_mode {
    bool tear = false;                // false: every unsynced byte is lost
    std::optional<std::size_t> keep;  // tear: bytes of the last unsynced pwrite kept; none = random
    bool pages = false;               // instead: each unsynced 4 KiB page kept or lost at random
  };
  static constexpr std::size_t page_bytes = 4096;
  static crash_mode drop_unsynced() { return {}; }
  static crash_mode torn(std::size_t keep) { return {true, keep}; }
  static crash_mode torn_random() { return {true, std::nullopt}; }
  static crash_mode torn_pages() { return {false, std::nullopt, true}; }

  explicit sim_file_system(std::uint64_t seed = 1) : rng_(seed) {
    dirs_.try_emplace("/");
    dirs_.try_emplace(".");
  }

  // Directories made by create_dir are durable only once their parent is
  // synced (see the header).
  void strict_directories(bool on) {
    std::lock_guard lk(m_);
    strict_dirs_ = on;
  }

  // ---- faults -------------------------------------------------------------
  void crash_after(std::uint64_t k) {
    std::lock_guard lk(m_);
    crash_countdown_ = k;
  }
  void fail_after(std::uint64_t k, int err = EIO) {
    std::lock_guard lk(m_);
    fail_countdown_ = k;
    fail_errno_ = err;
  }
  void fail_sync_after(std::uint64_t k, int err = EIO) {
    std::lock_guard lk(m_);
    sync_fail_countdown_ = k;
    sync_fail_errno_ = err;
  }
  void set_capacity(std::optional<std::uint64_t> bytes) {
    std::lock_guard lk(m_);
    capacity_ = bytes;
  }
  void clear_faults() {
    std::lock_guard lk(m_);
    crash_countdown_.reset();
    fail_countdown_.reset();
    sync_fail_countdown_.reset();
    capacity_.reset();
  }
  // Syncs that failed Linux-style so far (fail_sync_after).
  std::uint64_t failed_syncs() const {
    std::lock_guard lk(m_);
    return failed_syncs_;
  }
  // Mutating operations so far (including failed ones).
  std::uint64_t mutations() const {
    std::lock_guard lk(m_);
    return mutations_;
  }
  bool crashed() const {
    std::lock_guard lk(m_);
    return crashed_;
  }
  // Every mutating operation so far, in order ("pwrite fd 4", "sync_dir /wal"):
  // ops()[k - 1] is the one crash_after(k) would stop after, counted from 0.
  std::vector<std::string> ops() const {
    std::lock_guard lk(m_);
    return trace_;
  }

  // Power loss: see the header comment. Returns the bytes kept of torn writes.
  std::size_t crash() { return crash(drop_unsynced()); }
  std::size_t crash(crash_mode mode) {
    std::lock_guard lk(m_);
    std::size_t kept = 0;
    // Directories whose own name never became durable vanish, and with
    // them everything inside (checked outermost first: map order).
    std::set<std::string> gone;
    for (auto it = dirs_.begin(); it != dirs_.end();) {
      const std::string parent = split(it->first).first;
      if (!it->second.named_durably || gone.count(parent) != 0) {
        gone.insert(it->first);
        it = dirs_.erase(it);
      } else {
        ++it;
      }
    }
    std::set<inode*> done;
    for (auto& [path, d] : dirs_) {
      d.cur = d.dur;
      for (auto& [name, ino] : d.dur) {
        if (!done.insert(ino.get()).second) continue;
        inode& f = *ino;
        if (mode.pages && f.dirty_lo < f.dirty_hi) {
          // A disk that reorders writes: any of the unsynced pages made it.
          const std::size_t hi = std::min(f.dirty_hi, f.cur.size());
          for (std::size_t p = f.dirty_lo / page_bytes * page_bytes; p < hi; p += page_bytes) {
            if ((rng_() & 1) == 0) continue;
            const std::size_t lo = std::max(p, f.dirty_lo);
            const std::size_t end = std::min(p + page_bytes, hi);
            if (f.dur.size() < end) f.dur.resize(end, 0);
            std::copy(f.cur.begin() + static_cast<std::ptrdiff_t>(lo), f.cur.begin() + static_cast<std::ptrdiff_t>(end),
                      f.dur.begin() + static_cast<std::ptrdiff_t>(lo));
            kept += end - lo;
          }
        }
        f.cur = f.dur;
        if (mode.tear && f.last_unsynced) {
          const auto& w = *f.last_unsynced;
          std::size_t k = mode.keep ? std::min(*mode.keep, w.bytes.size())
                                    : std::uniform_int_distribution<std::size_t>(0, w.bytes.size())(rng_);
          if (k > 0) {
            if (f.cur.size() < w.offset + k) f.cur.resize(w.offset + k, 0);
            std::memcpy(f.cur.data() + w.offset, w.bytes.data(), k);
            f.dur = f.cur;
          }
          kept += k;
        }
        f.clean();
      }
    }
    handles_.clear();
    crashed_ = false;
    crash_countdown_.reset();
    return kept;
  }

  // A process that dies (SIGKILL) without a power loss: its handles go, the
  // page cache stays (dirty pages too, for a later sync by anyone).
  void close_all() {
    std::lock_guard lk(m_);
    handles_.clear();
  }

  // ---- inspection and deliberate corruption (no faults, not counted) -------
  // Names in `dir` (current), sorted.
  std::vector<std::string> names(const std::string& dir) const {
    std::lock_guard lk(m_);
    std::vector<std::string> out;
    if (auto it = dirs_.find(dir); it != dirs_.end())
      for (const auto& [name, ino] : it->second.cur) out.push_back(name);
    return out;
  }
  std::vector<char> contents(const std::string& path) const {
    std::lock_guard lk(m_);
    return lookup(path).cur;
  }
  // Bit rot: changes current and durable bytes alike.
  void flip_bit(const std::string& path, std::uint64_t offset, int bit) {
    std::lock_guard lk(m_);
    inode& f = lookup(path);
    f.cur.at(offset) = static_cast<char>(f.cur.at(offset) ^ (1 << bit));
    f.dur = f.cur;
    f.clean();
  }
  void overwrite(const std::string& path, std::uint64_t offset, const std::vector<char>& bytes) {
    std::lock_guard lk(m_);
    inode& f = lookup(path);
    if (f.cur.size() < offset + bytes.size()) f.cur.resize(offset + bytes.size(), 0);
    std::copy(bytes.begin(), bytes.end(), f.cur.begin() + static_cast<std::ptrdiff_t>(offset));
    f.dur = f.cur;
    f.clean();
  }
  // Where the newest pwrite to `path` began (0 if none since it was created).
  std::uint64_t newest_write_offset(const std::string& path) const {
    std::lock_guard lk(m_);
    return lookup(path).newest_write;
  }
  // Where the newest pwrite that a sync then made durable began: damage
  // before it is damage to data a later durable write follows.
  std::uint64_t newest_synced_write_offset(const std::string& path) const {
    std::lock_guard lk(m_);
    return lookup(path).newest_synced_write;
  }
  // Whether `path` names a file (current).
  bool has_file(const std::string& path) const {
    std::lock_guard lk(m_);
    auto [dir, name] = split(path);
    auto d = dirs_.find(dir);
    return d != dirs_.end() && d->second.cur.count(name) != 0;
  }
  void cut(const std::string& path, std::uint64_t size) {
    std::lock_guard lk(m_);
    inode& f = lookup(path);
    f.cur.resize(size);
    f.dur = f.cur;
    f.clean();
  }

  // A file_system that forwards to this one, for owners that want a
  // unique_ptr (file_storage) while the test keeps the simulation.
  std::unique_ptr<file_system> borrow();

  // ---- coraft::file_system -------------------------------------------------
  handle open(const std::string& path, bool create) override {
    std::lock_guard lk(m_);
    check_alive();
    auto [dir, name] = split(path);
    directory& d = dir_of(dir, path);
    auto it = d.cur.find(name);
    if (it == d.cur.end()) {
      if (!create) throw error(ENOENT, "open " + path);
      const bool crash = begin_mutation("open(create) " + path);
      it = d.cur.emplace(name, std::make_shared<inode>()).first;
      const handle h = next_handle_++;
      handles_[h] = {it->second, path};
      end_mutation(crash);
      return h;
    }
    const handle h = next_handle_++;
    handles_[h] = {it->second, path};
    return h;
  }
  void close(handle f) override {
    std::lock_guard lk(m_);
    handles_.erase(f);
  }
  std::size_t pread(handle f, void* buf, std::size_t n, std::uint64_t offset) override {
    std::lock_guard lk(m_);
    check_alive();
    const inode& ino = file(f);
    if (offset >= ino.cur.size()) return 0;
    const std::size_t k = std::min<std::size_t>(n, ino.cur.size() - offset);
    std::memcpy(buf, ino.cur.data() + offset, k);
    return k;
  }
  void pwrite(handle f, const void* buf, std::size_t n, std::uint64_t offset) override {
    std::lock_guard lk(m_);
    check_alive();
    inode& ino = file(f);
    const bool crash = begin_mutation("pwrite " + handles_.at(f).second);
    if (offset + n > ino.cur.size()) reserve(ino.cur.size(), offset + n);
    if (offset + n > ino.cur.size()) ino.cur.resize(offset + n, 0);
    std::memcpy(ino.cur.data() + offset, buf, n);
    ino.touch(offset, offset + n);
    ino.newest_write = offset;
    const char* p = static_cast<const char*>(buf);
    ino.last_unsynced = inode::write{offset, std::vector<char>(p, p + n)};
    end_mutation(crash);
  }
  void sync(handle f) override {
    std::lock_guard lk(m_);
    check_alive();
    inode& ino = file(f);
    const bool crash = begin_mutation("sync " + handles_.at(f).second);
    if (sync_fail_countdown_ && (*sync_fail_countdown_)-- == 0) {
      // Linux after a write-back error: the pages are marked clean, the
      // data never reached the disk, and the error is reported once.
      sync_fail_countdown_.reset();
      ++failed_syncs_;
      ino.clean();
      end_mutation(crash);
      throw error(sync_fail_errno_, "injected sync failure at sync " + handles_.at(f).second);
    }
    ino.sync();
    end_mutation(crash);
  }
  std::uint64_t size(handle f) override {
    std::lock_guard lk(m_);
    check_alive();
    return file(f).cur.size();
  }
  void zero_fill(handle f, std::uint64_t bytes) override {
    std::lock_guard lk(m_);
    check_alive();
    inode& ino = file(f);
    const bool crash = begin_mutation("zero_fill " + handles_.at(f).second);
    if (bytes > ino.cur.size()) {
      reserve(ino.cur.size(), bytes);
      const std::size_t old = ino.cur.size();
      ino.cur.resize(bytes, 0);
      ino.touch(old, bytes);
    }
    end_mutation(crash);
  }
  void truncate(handle f, std::uint64_t bytes) override {
    std::lock_guard lk(m_);
    check_alive();
    inode& ino = file(f);
    const bool crash = begin_mutation("truncate " + handles_.at(f).second);
    const std::size_t old = ino.cur.size();
    if (bytes > old) reserve(old, bytes);
    ino.cur.resize(bytes, 0);
    if (bytes > old) ino.touch(old, bytes);
    end_mutation(crash);
  }
  void rename(const std::string& from, const std::string& to) override {
    std::lock_guard lk(m_);
    check_alive();
    auto [fdir, fname] = split(from);
    auto [tdir, tname] = split(to);
    directory& fd = dir_of(fdir, from);
    directory& td = dir_of(tdir, to);
    auto it = fd.cur.find(fname);
    if (it == fd.cur.end()) throw error(ENOENT, "rename " + from + " -> " + to);
    const bool crash = begin_mutation("rename " + from + " -> " + to);
    auto ino = it->second;
    fd.cur.erase(it);
    td.cur[tname] = std::move(ino);
    end_mutation(crash);
  }
  void remove(const std::string& path) override {
    std::lock_guard lk(m_);
    check_alive();
    auto [dir, name] = split(path);
    directory& d = dir_of(dir, path);
    const bool crash = begin_mutation("remove " + path);
    d.cur.erase(name);  // like unlink ignoring ENOENT (the POSIX implementation does)
    end_mutation(crash);
  }
  void sync_dir(const std::string& dir) override {
    std::lock_guard lk(m_);
    check_alive();
    directory& d = dir_of(dir, dir);
    const bool crash = begin_mutation("sync_dir " + dir);
    d.dur = d.cur;
    for (auto& [path, child] : dirs_)
      if (path != dir && split(path).first == dir) child.named_durably = true;
    end_mutation(crash);
  }
  void create_dir(const std::string& dir) override {
    std::lock_guard lk(m_);
    check_alive();
    if (dirs_.count(dir) != 0) return;  // like mkdir ignoring EEXIST (the POSIX implementation does)
    dir_of(split(dir).first, dir);      // the parent must exist
    const bool crash = begin_mutation("create_dir " + dir);
    dirs_[dir].named_durably = !strict_dirs_;
    end_mutation(crash);
  }
  bool exists(const std::string& path) override {
    std::lock_guard lk(m_);
    check_alive();
    if (dirs_.count(path) != 0) return true;
    auto [dir, name] = split(path);
    auto it = dirs_.find(dir);
    return it != dirs_.end() && it->second.cur.count(name) != 0;
  }
  std::vector<std::string> list(const std::string& dir) override {
    std::lock_guard lk(m_);
    check_alive();
    std::vector<std::string> out;
    for (const auto& [name, ino] : dir_of(dir, dir).cur) out.push_back(name);
    // Unsorted, like readdir: reversed so that nobody relies on the order.
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  struct inode {
    struct write {
      std::uint64_t offset = 0;
      std::vector<char> bytes;
    };
    std::vector<char> cur;  // what reads see
    std::vector<char> dur;  // what survives a crash
    // Bytes of `cur` changed since the last sync: [dirty_lo, dirty_hi).
    std::size_t dirty_lo = std::numeric_limits<std::size_t>::max();
    std::size_t dirty_hi = 0;
    std::optional<write> last_unsynced;     // the last pwrite since the last sync
    std::uint64_t newest_write = 0;         // offset of the newest pwrite
    std::uint64_t newest_synced_write = 0;  // ... of the newest pwrite a sync made durable

    void touch(std::size_t lo, std::size_t hi) {
      dirty_lo = std::min(dirty_lo, lo);
      dirty_hi = std::max(dirty_hi, hi);
    }
    void sync() {  // copies only what changed: syncs of a 64 MiB segment stay cheap
      if (dirty_lo < dirty_hi) newest_synced_write = newest_write;
      dur.resize(cur.size());
      const std::size_t hi = std::min(dirty_hi, cur.size());
      if (dirty_lo < hi)
        std::copy(cur.begin() + static_cast<std::ptrdiff_t>(dirty_lo), cur.begin() + static_cast<std::ptrdiff_t>(hi),
                  dur.begin() + static_cast<std::ptrdiff_t>(dirty_lo));
      clean();
    }
    void clean() {
      dirty_lo = std::numeric_limits<std::size_t>::max();
      dirty_hi = 0;
      last_unsynced.reset();
    }
  };
  struct directory {
    std::map<std::string, std::shared_ptr<inode>> cur;
    std::map<std::string, std::shared_ptr<inode>> dur;
    bool named_durably = true;  // its own name in its parent survives a crash
  };

  static boost::system::system_error error(int err, const std::string& what) {
    return boost::system::system_error(boost::system::error_code(err, boost::system::system_category()),
                                       "sim_file_system: " + what);
  }
  static std::pair<std::string, std::string> split(const std::string& path) {
    const auto at = path.rfind('/');
    if (at == std::string::npos) return {".", path};
    if (at == 0) return {"/", path.substr(1)};
    return {path.substr(0, at), path.substr(at + 1)};
  }
  directory& dir_of(const std::string& dir, const std::string& for_path) {
    auto it = dirs_.find(dir);
    if (it == dirs_.end()) throw error(ENOENT, "no directory " + dir + " (for " + for_path + ")");
    return it->second;
  }
  inode& lookup(const std::string& path) const {
    auto [dir, name] = split(path);
    auto d = dirs_.find(dir);
    if (d == dirs_.end() || d->second.cur.count(name) == 0) throw error(ENOENT, "no file " + path);
    return *d->second.cur.at(name);
  }
  inode& file(handle f) {
    auto it = handles_.find(f);
    if (it == handles_.end()) throw error(EBADF, "fd " + std::to_string(f));
    return *it->second.first;
  }
  void check_alive() const {
    if (crashed_) throw sim_crash{mutations_, "the file system has crashed; call crash()"};
  }
  // Counts a mutating operation; throws an injected error (the operation
  // takes no effect); returns whether to crash once it has taken effect.
  bool begin_mutation(const std::string& what) {
    ++mutations_;
    trace_.push_back(what);
    if (fail_countdown_) {
      if (*fail_countdown_ == 0) throw error(fail_errno_, "injected fault at " + what);
      --*fail_countdown_;
    }
    if (crash_countdown_ && --*crash_countdown_ == 0) {
      crash_countdown_.reset();
      crash_what_ = what;
      return true;
    }
    return false;
  }
  void end_mutation(bool crash) {
    if (!crash) return;
    crashed_ = true;
    throw sim_crash{mutations_, crash_what_};
  }
  // ENOSPC check before a file grows from `from` to `to` bytes.
  void reserve(std::uint64_t from, std::uint64_t to) const {
    if (!capacity_) return;
    std::uint64_t total = 0;
    std::set<const inode*> seen;
    for (const auto& [path, d] : dirs_)
      for (const auto& [name, ino] : d.cur)
        if (seen.insert(ino.get()).second) total += ino->cur.size();
    for (const auto& [h, open_file] : handles_)  // open files whose name was removed
      if (seen.insert(open_file.first.get()).second) total += open_file.first->cur.size();
    if (total - from + to > *capacity_)
      throw error(ENOSPC, "no space: " + std::to_string(total - from + to) + " > " + std::to_string(*capacity_));
  }

  mutable std::mutex m_;
  std::mt19937_64 rng_;
  std::map<std::string, directory> dirs_;
  std::map<handle, std::pair<std::shared_ptr<inode>, std::string>> handles_;  // inode, path opened
  handle next_handle_ = 3;
  std::uint64_t mutations_ = 0;
  std::optional<std::uint64_t> crash_countdown_;
  std::optional<std::uint64_t> fail_countdown_;
  int fail_errno_ = EIO;
  std::optional<std::uint64_t> sync_fail_countdown_;
  int sync_fail_errno_ = EIO;
  std::uint64_t failed_syncs_ = 0;
  bool strict_dirs_ = false;
  std::optional<std::uint64_t> capacity_;
  bool crashed_ = false;
  std::string crash_what_;
  std::vector<std::string> trace_;
};

// Forwards every call to a sim_file_system that outlives it.
class borrowed_file_system final : public file_system {
 public:
  explicit borrowed_file_system(file_system& fs) : fs_(fs) {}
  handle open(const std::string& p, bool c) override { return fs_.open(p, c); }
  void close(handle f) override { fs_.close(f); }
  std::size_t pread(handle f, void* b, std::size_t n, std::uint64_t o) override { return fs_.pread(f, b, n, o); }
  void pwrite(handle f, const void* b, std::size_t n, std::uint64_t o) override { fs_.pwrite(f, b, n, o); }
  void sync(handle f) override { fs_.sync(f); }
  std::uint64_t size(handle f) override { return fs_.size(f); }
  void zero_fill(handle f, std::uint64_t b) override { fs_.zero_fill(f, b); }
  void truncate(handle f, std::uint64_t b) override { fs_.truncate(f, b); }
  void rename(const std::string& a, const std::string& b) override { fs_.rename(a, b); }
  void remove(const std::string& p) override { fs_.remove(p); }
  void sync_dir(const std::string& d) override { fs_.sync_dir(d); }
  void create_dir(const std::string& d) override { fs_.create_dir(d); }
  bool exists(const std::string& p) override { return fs_.exists(p); }
  std::vector<std::string> list(const std::string& d) override { return fs_.list(d); }

 private:
  file_system& fs_;
};

inline std::unique_ptr<file_system> sim_file_system::borrow() { return std::make_unique<borrowed_file_system>(*this); }

}  // namespace coraft::test
