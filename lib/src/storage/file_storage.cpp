// file_storage.cpp — the data directory and the I/O thread around the WAL.
#include <coraft/file_storage.hpp>

#include <coraft/detail/bytes.hpp>
#include <coraft/detail/crc32c.hpp>
#include <coraft/detail/planted.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <exception>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace coraft {

namespace asio = boost::asio;

namespace {

// Snapshot files: `snap-<last index, 16 hex>.snap`, holding
//   [u64 magic][u64 data id][u64 term][u64 index][u32 n][n bytes: the
//   configuration, encode_membership()][u64 size][u32 data CRC32C]
//   [u32 header CRC32C][data]
// (little-endian). Written under a temporary name, synced, renamed, the
// directory synced: a crash leaves the old snapshot or the whole new one.
// The data id is the directory's (coraft.meta): a snapshot file copied from
// another node's directory does not verify.
constexpr std::uint64_t snapshot_magic = 0x33504E5354465243ull;  // "CRFTSNP3" (3: data id)

std::string snapshot_name(index_t index) {
  char name[40];
  std::snprintf(name, sizeof name, "snap-%016" PRIx64 ".snap", index);
  return name;
}

bool parse_snapshot_name(const std::string& name, index_t& index) {
  if (name.size() != 26 || name.rfind("snap-", 0) != 0 || name.substr(21) != ".snap") return false;
  index = 0;
  for (std::size_t i = 5; i < 21; ++i) {
    const char c = name[i];
    if (c >= '0' && c <= '9')
      index = index * 16 + static_cast<index_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      index = index * 16 + static_cast<index_t>(c - 'a' + 10);
    else
      return false;
  }
  return true;
}

std::string snapshot_header(const snapshot_meta& m, std::uint64_t data_id) {
  std::string h;
  detail::byte_writer w(h);
  w.u64(snapshot_magic);
  w.u64(data_id);
  w.u64(m.last.term);
  w.u64(m.last.index);
  w.counted(encode_membership(m.config), "snapshot configuration");
  w.u64(m.size);
  w.u32(m.crc);
  w.u32(detail::crc32c(h.data(), h.size()));
  return h;
}

// Parses and verifies a whole snapshot file; nullopt with `why` when invalid.
std::optional<snapshot> parse_snapshot(const std::string& f, std::uint64_t data_id, std::string& why) {
  detail::byte_reader r(f);
  snapshot s;
  if (r.u64() != snapshot_magic || r.remaining() < 24)
    return why = "not a snapshot file (or of another format)", std::nullopt;
  if (const std::uint64_t id = r.u64(); id != data_id)
    return why = "a snapshot of another data directory (id " + std::to_string(id) + ")", std::nullopt;
  s.meta.last.term = r.u64();
  s.meta.last.index = r.u64();
  const std::string_view config_bytes = r.counted();
  if (!r.ok()) return why = "truncated header", std::nullopt;
  auto config = decode_membership(config_bytes);
  if (!config) return why = "bad configuration", std::nullopt;
  s.meta.config = std::move(*config);
  s.meta.size = r.u64();
  s.meta.crc = r.u32();
  const std::size_t header_end = r.offset();
  const std::uint32_t header_crc = r.u32();
  if (!r.ok()) return why = "truncated header", std::nullopt;
  if (header_crc != detail::crc32c(f.data(), header_end)) return why = "header checksum mismatch", std::nullopt;
  if (r.remaining() != s.meta.size) return why = "data is not the recorded size", std::nullopt;
  const std::string_view data = r.bytes(r.remaining());
  if (detail::crc32c(data.data(), data.size()) != s.meta.crc) return why = "data checksum mismatch", std::nullopt;
  s.data = payload(data);
  return s;
}

}  // namespace

struct file_storage::impl {
  explicit impl(file_storage_options o, std::unique_ptr<file_system> f)
      : opts(std::move(o)),
        fs(std::move(f)),
        work(asio::make_work_guard(io)),
        snap_work(asio::make_work_guard(snap_io)) {
    if (opts.io_executor) return;  // a simulation runs the disk work on its own executor
    thread = std::thread([this] { io.run(); });
    snap_thread = std::thread([this] { snap_io.run(); });
  }
  ~impl() {
    work.reset();
    snap_work.reset();
    if (thread.joinable()) thread.join();
    if (snap_thread.joinable()) snap_thread.join();
  }

  // Runs `fn` on the I/O thread and resumes the awaiting coroutine on its own
  // executor with the result, or rethrows what `fn` threw. Deliberately not a
  // coroutine itself: g++ 12 mishandles non-trivial temporaries (a lambda
  // holding entries) passed into a coroutine inside a co_await expression.
  template <class R, class F>
  asio::awaitable<R> on_io_thread(F fn) {
    if (opts.io_executor) return on_thread<R>(*opts.io_executor, std::move(fn));
    return on_thread<R>(io.get_executor(), std::move(fn));
  }
  // Snapshots are written on a thread of their own, so that a large one
  // never holds up the log's group commits.
  template <class R, class F>
  asio::awaitable<R> on_snapshot_thread(F fn) {
    if (opts.io_executor) return on_thread<R>(*opts.io_executor, std::move(fn));
    return on_thread<R>(snap_io.get_executor(), std::move(fn));
  }

  template <class R, class F, class Executor>
  static asio::awaitable<R> on_thread(Executor ctx, F fn) {
    if constexpr (std::is_void_v<R>) {
      return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr)>(
          [ctx](auto handler, F f) {
            asio::post(ctx, [h = std::move(handler), f = std::move(f)]() mutable {
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
          [ctx](auto handler, F f) {
            asio::post(ctx, [h = std::move(handler), f = std::move(f)]() mutable {
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

  // `log`: "none" until the log's first segment exists durably, then
  // "present": from then on a directory without segments lost them.
  // The last line is the CRC32C of everything before it: a value changed by
  // damage must not read as another node's or cluster's directory.
  std::string meta_text(std::uint64_t id, const char* log_state) const {
    std::ostringstream os;
    os << "coraft-data\nformat=" << format_version << "\nnode_id=" << opts.id << "\ncluster_id=" << opts.cluster_id
       << "\ndata_id=" << std::hex << id << "\nlog=" << log_state << "\n";
    std::string text = os.str();
    char crc[24];
    std::snprintf(crc, sizeof crc, "crc=%08x\n", detail::crc32c(text.data(), text.size()));
    return text + crc;
  }

  // Replaces coraft.meta atomically: a temporary file, synced, renamed, the
  // directory synced.
  void write_meta(const std::string& text) {
    const std::string path = opts.dir + "/coraft.meta";
    const std::string tmp = path + ".tmp";
    const auto f = fs->open(tmp, true);
    try {
      fs->truncate(f, 0);
      fs->pwrite(f, text.data(), text.size(), 0);
      fs->sync(f);
    } catch (...) {
      fs->close(f);
      throw;
    }
    fs->close(f);
    fs->rename(tmp, path);
    fs->sync_dir(opts.dir);
  }

  // A new directory's id: random (never 0), unless the options fix it.
  std::uint64_t new_data_id() const {
    if (opts.new_data_id != 0) return opts.new_data_id;
    std::random_device rd;
    std::uint64_t id = 0;
    while (id == 0) id = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    return id;
  }

  // Runs on the I/O thread. Returns the directory's data id.
  std::uint64_t check_or_create_meta() {
    if (!fs->exists(opts.dir)) fs->create_dir(opts.dir);
    // One process per data directory: a second one would race the first
    // over segment rolls and torn-tail repair.
    if (!fs->lock_exclusive(opts.dir + "/LOCK"))
      throw data_dir_error("data directory " + opts.dir +
                           " is in use by another process (is this node already running?)");
    const std::string path = opts.dir + "/coraft.meta";
    if (!fs->exists(path)) {
      for (const std::string& name : fs->list(opts.dir)) {
        if (name.rfind("wal-", 0) == 0 || name.rfind("snap-", 0) == 0)
          throw data_dir_error("data directory " + opts.dir +
                               " has log segments or snapshots but no coraft.meta: "
                               "refusing to guess whose they are. " +
                               refusal_fix());
      }
      const std::uint64_t id = new_data_id();
      write_meta(meta_text(id, "none"));
      log_present = false;
      // A new directory's own name is durable only once its parent is
      // synced — whoever made it (we, or a `mkdir -p` before the first
      // start): without this a power loss could take the whole directory,
      // with every file synced inside it.
      if (!CORAFT_PLANTED(data_dir_parent_unsynced)) {
        const auto slash = opts.dir.find_last_of('/');
        fs->sync_dir(slash == std::string::npos ? "." : slash == 0 ? "/" : opts.dir.substr(0, slash));
      }
      return id;
    }
    fs->remove(path + ".tmp");  // left by a crash while creating it
    const auto f = fs->open(path, false);
    std::string have(static_cast<std::size_t>(fs->size(f)), '\0');
    fs->pread(f, have.data(), have.size(), 0);
    fs->close(f);
    auto field = [&](const std::string& key) -> std::optional<std::string> {
      const auto at = have.find("\n" + key + "=");
      if (at == std::string::npos) return std::nullopt;
      const auto from = at + key.size() + 2;
      const auto end = have.find('\n', from);
      if (end == std::string::npos) return std::nullopt;
      return have.substr(from, end - from);
    };
    if (have.rfind("coraft-data\n", 0) != 0)
      throw data_dir_error(path + " is not a coraft metadata file (damaged?). " + refusal_fix());
    // A field missing or unreadable is damage to this file, not a directory
    // of someone else: say so, with the fix.
    if (!field("format")) throw data_dir_error(path + " is damaged: it has no readable format line. " + refusal_fix());
    if (field("format") != std::to_string(format_version))
      throw data_dir_error(opts.dir + " has data format " + field("format").value_or("?") +
                           "; this build reads format " + std::to_string(format_version) +
                           " (there is no upgrade in place): run the coraft version that wrote it, or, for one "
                           "node of a cluster that runs this version, " +
                           refusal_fix_short());
    {
      const auto at = have.rfind("crc=");
      char want[16];
      std::snprintf(want, sizeof want, "%08x", at == std::string::npos ? 0u : detail::crc32c(have.data(), at));
      if (at == std::string::npos || at == 0 || have[at - 1] != '\n' || have.compare(at + 4, 8, want) != 0 ||
          have.size() != at + 13)
        throw data_dir_error(path + " is damaged: its checksum does not match its contents. " + refusal_fix());
    }
    for (const char* key : {"node_id", "cluster_id", "data_id"})
      if (!field(key))
        throw data_dir_error(path + " is damaged: it has no readable " + key + " line. " + refusal_fix());
    if (field("node_id") != std::to_string(opts.id))
      throw data_dir_error(opts.dir + " belongs to node " + field("node_id").value_or("?") + ", not node " +
                           std::to_string(opts.id) + ": give each node its own --data-dir");
    if (field("cluster_id") != opts.cluster_id)
      throw data_dir_error(opts.dir + " belongs to cluster '" + field("cluster_id").value_or("?") + "', not '" +
                           opts.cluster_id + "'");
    const auto id_text = field("data_id");
    std::uint64_t id = 0;
    if (id_text && !id_text->empty() && id_text->size() <= 16 &&
        id_text->find_first_not_of("0123456789abcdef") == std::string::npos)
      id = std::stoull(*id_text, nullptr, 16);
    if (id == 0) throw data_dir_error(path + " is damaged: its data_id is not valid. " + refusal_fix());
    const auto log_state = field("log");
    if (!log_state || (*log_state != "none" && *log_state != "present"))
      throw data_dir_error(path + " is damaged: it has no readable log line. " + refusal_fix());
    log_present = *log_state == "present";
    if (log_present) {
      bool any = false;
      for (const std::string& name : fs->list(opts.dir)) any = any || name.rfind("wal-", 0) == 0;
      if (!any)
        throw data_dir_error(opts.dir +
                             " has no log segments (wal-*.log), but coraft.meta says the log was "
                             "created: they were removed or lost. " +
                             refusal_fix());
    }
    return id;
  }

  // What an operator does when this directory cannot be trusted: the
  // node must come back as a new member, never as the old voter.
  std::string refusal_fix_short() const {
    return "remove node " + std::to_string(opts.id) + " from the cluster, wipe " + opts.dir +
           ", and add it back as a learner with --join, then promote it";
  }
  std::string refusal_fix() const {
    return "This node cannot prove it still holds what it acknowledged. Do not wipe it and restart it "
           "as the same voter: a voter that comes back empty has forgotten its vote and its log, so it can "
           "vote twice in one term and count towards entries it does not hold. Instead, on the leader, "
           "remove it (DELETE /v1/members/" +
           std::to_string(opts.id) + "), wipe " + opts.dir +
           ", start it with --join to add it back as a learner, and promote it once it has caught up "
           "(POST /v1/members/" +
           std::to_string(opts.id) + "/promote).";
  }

  void note(const std::string& line) const {
    if (opts.log)
      opts.log(line);
    else
      std::fprintf(stderr, "coraft storage: %s\n", line.c_str());
  }

  std::vector<index_t> snapshot_indexes() const {
    std::vector<index_t> out;
    for (const std::string& name : fs->list(opts.dir)) {
      index_t i = 0;
      if (parse_snapshot_name(name, i)) out.push_back(i);
    }
    std::sort(out.begin(), out.end(), std::greater<>());
    return out;
  }

  // The newest snapshot that verifies; invalid ones are reported, skipped
  // and named in `damaged` (newest first).
  std::optional<snapshot> load_snapshot(std::vector<std::string>& damaged) {
    fs->remove(opts.dir + "/snap.tmp");  // an unfinished save
    for (index_t i : snapshot_indexes()) {
      const std::string path = opts.dir + "/" + snapshot_name(i);
      const auto f = fs->open(path, false);
      std::string bytes(static_cast<std::size_t>(fs->size(f)), '\0');
      const std::size_t n = fs->pread(f, bytes.data(), bytes.size(), 0);
      fs->close(f);
      std::string why = "short read";
      if (n == bytes.size()) {
        if (auto s = parse_snapshot(bytes, data_id, why)) {
          if (s->meta.last.index == i) return s;
          why = "file name does not match its index";
        }
      }
      note("snapshot " + path + " does not verify: " + why);
      damaged.push_back(path + " (" + why + ")");
    }
    return std::nullopt;
  }

  // [§7] The log must reach the snapshot we restart from: entries after the
  // snapshot's index up to the log's first one exist nowhere else here. A
  // damaged newest snapshot may be replaced by the one before it only when
  // the log still reaches back to that one.
  void check_log_reaches_snapshot(const recovered_state& rs, const std::vector<std::string>& damaged) const {
    const index_t covered = rs.snap ? rs.snap->meta.last.index : 0;
    if (rs.base <= covered) {
      if (!damaged.empty())
        note("recovering from " + (rs.snap ? "snapshot " + snapshot_name(covered) : std::string("the log alone")) +
             " and the log after it, which still reaches it (" + damaged.front() + " does not verify)");
      return;
    }
    std::string what = "the log starts after entry " + std::to_string(rs.base) + " but ";
    if (!damaged.empty())
      what += "the newest valid snapshot ends at entry " + std::to_string(covered) + ": " + damaged.front() +
              " does not verify, and entries " + std::to_string(covered + 1) + ".." + std::to_string(rs.base) +
              " were only in it";
    else
      what += (rs.snap ? "the newest snapshot ends at entry " + std::to_string(covered)
                       : std::string("there is no snapshot")) +
              ": snapshot files are missing from " + opts.dir;
    throw data_dir_error("cannot start from " + opts.dir + ": " + what + ". " + refusal_fix());
  }

  void save_snapshot(const snapshot& s) {
    const std::string tmp = opts.dir + "/snap.tmp";
    fs->remove(tmp);
    const auto f = fs->open(tmp, true);
    try {
      const std::string header = snapshot_header(s.meta, data_id);
      fs->pwrite(f, header.data(), header.size(), 0);
      fs->pwrite(f, s.data.data(), s.data.size(), header.size());
      if (opts.sync) fs->sync(f);
    } catch (...) {
      fs->close(f);
      throw;
    }
    fs->close(f);
    fs->rename(tmp, opts.dir + "/" + snapshot_name(s.meta.last.index));
    if (opts.sync) fs->sync_dir(opts.dir);
    // Keep the previous one too: should the newest ever fail to verify, the
    // log may still reach back to it.
    const auto all = snapshot_indexes();
    for (std::size_t k = 2; k < all.size(); ++k) fs->remove(opts.dir + "/" + snapshot_name(all[k]));
  }

  file_storage_options opts;
  std::unique_ptr<file_system> fs;
  std::uint64_t data_id = 0;  // this directory's (coraft.meta), once loaded
  bool log_present = false;   // coraft.meta says the log's first segment was made
  std::optional<wal> log;
  asio::io_context io{1};
  asio::io_context snap_io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::executor_work_guard<asio::io_context::executor_type> snap_work;
  std::thread thread;
  std::thread snap_thread;
};

file_storage::file_storage(file_storage_options opts, std::unique_ptr<file_system> fs)
    : impl_(std::make_unique<impl>(std::move(opts), std::move(fs))) {}

file_storage::~file_storage() = default;

asio::awaitable<recovered_state> file_storage::load() {
  impl* self = impl_.get();
  return self->on_io_thread<recovered_state>([self] {
    self->data_id = self->check_or_create_meta();
    wal_options wo;
    wo.data_id = self->data_id;
    wo.dir = self->opts.dir;
    wo.segment_bytes = self->opts.segment_bytes;
    wo.sync = self->opts.sync;
    wo.log = self->opts.log;
    wo.prepare_spare = self->opts.prepare_spare_segment;
    self->log.emplace(*self->fs, wo);
    recovered_state rs;
    try {
      rs = self->log->open();
    } catch (const wal_corruption& e) {
      // The log cannot be trusted: say what an operator does about it.
      const std::string what = e.what();
      const bool foreign = what.find("another data directory") != std::string::npos;
      throw data_dir_error(what +
                           (foreign
                                ? ". Either this segment or " + self->opts.dir +
                                      "/coraft.meta was copied from another node's or cluster's directory (their data "
                                      "ids differ); whichever it is, this directory is not one node's own. "
                                : ". ") +
                           self->refusal_fix());
    }
    if (!self->log_present) {
      // The first segment exists durably now (open() made it): say so, so
      // that a directory whose segments all vanish later is refused.
      self->write_meta(self->meta_text(self->data_id, "present"));
      self->log_present = true;
    }
    std::vector<std::string> damaged;
    rs.snap = self->load_snapshot(damaged);
    if (!CORAFT_PLANTED(snapshot_fallback_clears_log)) self->check_log_reaches_snapshot(rs, damaged);
    return rs;
  });
}

asio::awaitable<void> file_storage::save_snapshot(snapshot s) {
  impl* self = impl_.get();
  return self->on_snapshot_thread<void>([self, s = std::move(s)] { self->save_snapshot(s); });
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
  return self->on_io_thread<wal_stats>([self] { return self->log ? self->log->stats() : wal_stats{}; });
}

}  // namespace coraft
