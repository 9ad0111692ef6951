// POSIX implementation of coraft::file_system. Runs on the storage's own
// threads (I/O, snapshot, the WAL's spare-segment helper), never on an event
// loop: every call here may block. It keeps no state between calls but the
// held locks, so those threads may call it at once.
#include <coraft/file_system.hpp>

#include <boost/system/system_error.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>

namespace coraft {
namespace {

[[noreturn]] void throw_errno(const char* what, const std::string& path) {
  throw boost::system::system_error(boost::system::error_code(errno, boost::system::system_category()),
                                    std::string(what) + " " + path);
}

class posix_file_system final : public file_system {
 public:
  handle open(const std::string& path, bool create) override {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0) throw_errno("open", path);
    return fd;
  }
  void close(handle f) override { ::close(f); }
  std::size_t pread(handle f, void* buf, std::size_t n, std::uint64_t offset) override {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(f, static_cast<char*>(buf) + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw_errno("pread", "fd " + std::to_string(f));
      }
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    return done;
  }
  void pwrite(handle f, const void* buf, std::size_t n, std::uint64_t offset) override {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pwrite(f, static_cast<const char*>(buf) + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw_errno("pwrite", "fd " + std::to_string(f));
      }
      done += static_cast<std::size_t>(r);
    }
  }
  void sync(handle f) override {
    if (::fdatasync(f) != 0) throw_errno("fdatasync", "fd " + std::to_string(f));
  }
  std::uint64_t size(handle f) override {
    struct stat st {};
    if (::fstat(f, &st) != 0) throw_errno("fstat", "fd " + std::to_string(f));
    return static_cast<std::uint64_t>(st.st_size);
  }
  void zero_fill(handle f, std::uint64_t bytes) override {
    static const std::vector<char> zeros(1u << 20, 0);
    std::uint64_t off = size(f);
    while (off < bytes) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), bytes - off));
      pwrite(f, zeros.data(), n, off);
      off += n;
    }
  }
  void truncate(handle f, std::uint64_t bytes) override {
    if (::ftruncate(f, static_cast<off_t>(bytes)) != 0) throw_errno("ftruncate", "fd " + std::to_string(f));
  }
  void rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) throw_errno("rename", from + " -> " + to);
  }
  void remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink", path);
  }
  void sync_dir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_errno("open directory", dir);
    const int r = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    errno = saved;
    if (r != 0) throw_errno("fsync directory", dir);
  }
  void create_dir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir", dir);
  }
  bool exists(const std::string& path) override {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  }
  bool lock_exclusive(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw_errno("open lock file", path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int saved = errno;
      ::close(fd);
      if (saved == EWOULDBLOCK) return false;
      errno = saved;
      throw_errno("flock", path);
    }
    locks_.push_back(fd);  // held until this object goes away
    return true;
  }
  ~posix_file_system() override {
    for (int fd : locks_) ::close(fd);
  }
  std::vector<std::string> list(const std::string& dir) override {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) throw_errno("opendir", dir);
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    ::closedir(d);
    return out;
  }

 private:
  std::vector<int> locks_;
};

}  // namespace

std::unique_ptr<file_system> make_posix_file_system() { return std::make_unique<posix_file_system>(); }

}  // namespace coraft
