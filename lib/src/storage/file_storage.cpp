// file_storage.cpp — the data directory and the I/O thread around the WAL.
#include <coraft/file_storage.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <optional>
#include <sstream>
#include <thread>

namespace coraft {

namespace asio = boost::asio;

struct file_storage::impl {
  explicit impl(file_storage_options o, std::unique_ptr<file_system> f)
      : opts(std::move(o)), fs(std::move(f)), work(asio::make_work_guard(io)), thread([this] { io.run(); }) {}
  ~impl() {
    work.reset();
    thread.join();
  }

  // Runs `fn` on the I/O thread and resumes the awaiting coroutine on its own
  // executor with the result, or rethrows what `fn` threw. Deliberately not a
  // coroutine itself: g++ 12 mishandles non-trivial temporaries (a lambda
  // holding entries) passed into a coroutine inside a co_await expression.
  template <class R, class F>
  asio::awaitable<R> on_io_thread(F fn) {
    if constexpr (std::is_void_v<R>) {
      return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr)>(
          [this](auto handler, F f) {
            asio::post(io, [h = std::move(handler), f = std::move(f)]() mutable {
              std::exception_ptr ep;
              try {
                f();
              } catch (...) {
                ep = std::current_exception();
              }
              auto ex = asio::get_associated_executor(h);
              asio::post(ex, asio::append(std::move(h), ep));
            });
          },
          asio::use_awaitable, std::move(fn));
    } else {
      return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, R)>(
          [this](auto handler, F f) {
            asio::post(io, [h = std::move(handler), f = std::move(f)]() mutable {
              std::exception_ptr ep;
              R r{};
              try {
                r = f();
              } catch (...) {
                ep = std::current_exception();
              }
              auto ex = asio::get_associated_executor(h);
              asio::post(ex, asio::append(std::move(h), ep, std::move(r)));
            });
          },
          asio::use_awaitable, std::move(fn));
    }
  }

  std::string meta_text() const {
    std::ostringstream os;
    os << "coraft-data\nformat=" << format_version << "\nnode_id=" << opts.id
       << "\ncluster_id=" << opts.cluster_id << "\n";
    return os.str();
  }

  // Runs on the I/O thread.
  void check_or_create_meta() {
    fs->create_dir(opts.dir);
    // One process per data directory: a second one would race the first
    // over segment rolls and torn-tail repair.
    if (!fs->lock_exclusive(opts.dir + "/LOCK"))
      throw data_dir_error("data directory " + opts.dir +
                           " is in use by another process (is this node already running?)");
    const std::string path = opts.dir + "/coraft.meta";
    const std::string want = meta_text();
    if (!fs->exists(path)) {
      for (const std::string& name : fs->list(opts.dir)) {
        if (name.rfind("wal-", 0) == 0)
          throw data_dir_error("data directory " + opts.dir +
                               " has log segments but no coraft.meta: refusing to guess whose they are");
      }
      const std::string tmp = path + ".tmp";
      const auto f = fs->open(tmp, true);
      fs->truncate(f, 0);
      fs->pwrite(f, want.data(), want.size(), 0);
      fs->sync(f);
      fs->close(f);
      fs->rename(tmp, path);
      fs->sync_dir(opts.dir);
      return;
    }
    const auto f = fs->open(path, false);
    std::string have(static_cast<std::size_t>(fs->size(f)), '\0');
    fs->pread(f, have.data(), have.size(), 0);
    fs->close(f);
    auto field = [&](const std::string& key) -> std::optional<std::string> {
      const auto at = have.find("\n" + key + "=");
      if (at == std::string::npos) return std::nullopt;
      const auto from = at + key.size() + 2;
      return have.substr(from, have.find('\n', from) - from);
    };
    if (have.rfind("coraft-data\n", 0) != 0)
      throw data_dir_error(path + " is not a coraft metadata file");
    if (field("format") != std::to_string(format_version))
      throw data_dir_error(opts.dir + " has data format " + field("format").value_or("?") +
                           "; this build reads format " + std::to_string(format_version));
    if (field("node_id") != std::to_string(opts.id))
      throw data_dir_error(opts.dir + " belongs to node " + field("node_id").value_or("?") +
                           ", not node " + std::to_string(opts.id) +
                           ": give each node its own --data-dir");
    if (field("cluster_id") != opts.cluster_id)
      throw data_dir_error(opts.dir + " belongs to cluster '" + field("cluster_id").value_or("?") +
                           "', not '" + opts.cluster_id + "'");
  }

  file_storage_options opts;
  std::unique_ptr<file_system> fs;
  std::optional<wal> log;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
};

file_storage::file_storage(file_storage_options opts, std::unique_ptr<file_system> fs)
    : impl_(std::make_unique<impl>(std::move(opts), std::move(fs))) {}

file_storage::~file_storage() = default;

asio::awaitable<recovered_state> file_storage::load() {
  impl* self = impl_.get();
  return self->on_io_thread<recovered_state>([self] {
    self->check_or_create_meta();
    wal_options wo;
    wo.dir = self->opts.dir;
    wo.segment_bytes = self->opts.segment_bytes;
    wo.sync = self->opts.sync;
    wo.log = self->opts.log;
    self->log.emplace(*self->fs, wo);
    return self->log->open();
  });
}

asio::awaitable<void> file_storage::write(log_write w) {
  impl* self = impl_.get();
  return self->on_io_thread<void>([self, w = std::move(w)] {
    if (!self->log) throw std::logic_error("file_storage::write before load");
    self->log->append(w);
  });
}

asio::awaitable<wal_stats> file_storage::stats() {
  impl* self = impl_.get();
  return self->on_io_thread<wal_stats>([self] {
    return self->log ? self->log->stats() : wal_stats{};
  });
}

}  // namespace coraft
