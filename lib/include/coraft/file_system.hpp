// coraft/file_system.hpp — the few file operations the write-ahead log
// needs, behind an interface so that tests can crash it at every write and
// sync point (test/support/sim_file_system.hpp) while production uses POSIX.
//
// Durability contract (what the POSIX implementation provides and the
// simulated one models): bytes written with pwrite() survive a crash only
// after sync(); a created, renamed or removed name survives only after
// sync_dir() of its directory; rename() is atomic.
// Errors: every operation throws boost::system::system_error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace coraft {

class file_system {
 public:
  virtual ~file_system() = default;
  using handle = int;

  virtual handle open(const std::string& path, bool create) = 0;
  virtual void close(handle f) = 0;
  virtual std::size_t pread(handle f, void* buf, std::size_t n, std::uint64_t offset) = 0;
  virtual void pwrite(handle f, const void* buf, std::size_t n, std::uint64_t offset) = 0;
  virtual void sync(handle f) = 0;  // data (fdatasync)
  virtual std::uint64_t size(handle f) = 0;
  // Extends the file to `bytes` with zeros that are really written, so that
  // later writes are overwrites (cheaper to sync than appends).
  virtual void zero_fill(handle f, std::uint64_t bytes) = 0;
  virtual void truncate(handle f, std::uint64_t bytes) = 0;
  virtual void rename(const std::string& from, const std::string& to) = 0;
  virtual void remove(const std::string& path) = 0;
  virtual void sync_dir(const std::string& dir) = 0;
  virtual void create_dir(const std::string& dir) = 0;
  virtual bool exists(const std::string& path) = 0;
  // File names (not paths) in `dir`, unsorted.
  virtual std::vector<std::string> list(const std::string& dir) = 0;
  // Takes an exclusive lock on `path` (created if missing) for the life of
  // this file_system; false when another process holds it.
  virtual bool lock_exclusive(const std::string& path) {
    (void)path;
    return true;
  }
};

// The real one: POSIX calls, fdatasync, fsync of directories.
std::unique_ptr<file_system> make_posix_file_system();

}  // namespace coraft
