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
#include <span>
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

// A snapshot's bytes in its file, read in place: the file stays open (and
// readable after a newer snapshot replaced it on disk) while anyone holds
// this.
class file_snapshot_data final : public snapshot_data {
 public:
  file_snapshot_data(std::shared_ptr<file_system> fs, file_system::handle f, std::uint64_t at, std::uint64_t size)
      : fs_(std::move(fs)), f_(f), at_(at), size_(size) {}
  ~file_snapshot_data() override {
    try {
      fs_->close(f_);
    } catch (...) {  // closing a file only read from loses nothing
    }
  }
  std::uint64_t size() const override { return size_; }
  void read(std::uint64_t offset, void* out, std::size_t n) const override {
    if (offset > size_ || n > size_ - offset) throw std::out_of_range("snapshot read past its end");
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      const std::size_t got = fs_->pread(f_, p, n, at_ + offset);
      if (got == 0) throw std::runtime_error("snapshot file shorter than its header says");
      p += got;
      offset += got;
      n -= got;
    }
  }

 private:
  std::shared_ptr<file_system> fs_;
  file_system::handle f_;
  std::uint64_t at_;  // where the data starts in the file
  std::uint64_t size_;
};

// Reads exactly n bytes at `offset`; false when the file ends first.
bool read_exact(file_system& fs, file_system::handle f, std::uint64_t offset, char* out, std::size_t n) {
  while (n > 0) {
    const std::size_t got = fs.pread(f, out, n, offset);
    if (got == 0) return false;
    out += got;
    offset += got;
    n -= got;
  }
  return true;
}

// A snapshot file's header, parsed and verified; nullopt with `why` when
// invalid. header_bytes: where the data starts.
std::optional<snapshot_meta> read_snapshot_header(file_system& fs, file_system::handle f, std::uint64_t data_id,
                                                  std::uint64_t& header_bytes, std::string& why) {
  std::string h(36, '\0');  // magic, data id, term, index, config length
  if (!read_exact(fs, f, 0, h.data(), h.size()))
    return why = "not a snapshot file (or of another format)", std::nullopt;
  detail::byte_reader r0(h);
  if (r0.u64() != snapshot_magic) return why = "not a snapshot file (or of another format)", std::nullopt;
  if (const std::uint64_t id = r0.u64(); id != data_id)
    return why = "a snapshot of another data directory (id " + std::to_string(id) + ")", std::nullopt;
  r0.u64();
  r0.u64();
  const std::uint32_t config_len = r0.u32();
  // Membership is bounded (1,024 members, 1 KiB per address): a longer one
  // is damage, not a configuration to allocate for.
  if (config_len > (4u << 20)) return why = "truncated header", std::nullopt;
  h.resize(36 + config_len + 8 + 4 + 4);
  if (!read_exact(fs, f, 36, h.data() + 36, h.size() - 36)) return why = "truncated header", std::nullopt;
  detail::byte_reader r(h);
  r.u64();
  r.u64();
  snapshot_meta m;
  m.last.term = r.u64();
  m.last.index = r.u64();
  const std::string_view config_bytes = r.counted();
  auto config = decode_membership(config_bytes);
  m.size = r.u64();
  m.crc = r.u32();
  const std::size_t header_end = r.offset();
  const std::uint32_t header_crc = r.u32();
  if (!r.ok()) return why = "truncated header", std::nullopt;
  if (header_crc != detail::crc32c(h.data(), header_end)) return why = "header checksum mismatch", std::nullopt;
  if (!config) return why = "bad configuration", std::nullopt;
  m.config = std::move(*config);
  header_bytes = h.size();
  return m;
}

// The CRC32C of n bytes at `offset`, read in pieces; nullopt when the file
// ends first.
std::optional<std::uint32_t> crc_of(file_system& fs, file_system::handle f, std::uint64_t offset, std::uint64_t n) {
  std::string buf(std::min<std::uint64_t>(n, 1u << 20), '\0');
  std::uint32_t crc = 0;
  while (n > 0) {
    const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, buf.size()));
    if (!read_exact(fs, f, offset, buf.data(), k)) return std::nullopt;
    crc = detail::crc32c_extend(crc, buf.data(), k);
    offset += k;
    n -= k;
  }
  return crc;
}

// A snapshot being received: `snap.incoming` (a snapshot file's header,
// then the bytes so far) and `snap.incoming.progress`, a record saying how
// many of them are durable and their CRC32C:
//   [u64 magic][u64 bytes][u32 crc of those bytes][u32 record CRC32C]
// rewritten in place after each sync of the data (a torn record fails its
// checksum: the transfer starts over).
constexpr std::uint64_t progress_magic = 0x31474F5250534652ull;  // "RFSPROG1"

std::string progress_record(std::uint64_t bytes, std::uint32_t crc) {
  std::string out;
  detail::byte_writer w(out);
  w.u64(progress_magic);
  w.u64(bytes);
  w.u32(crc);
  w.u32(detail::crc32c(out.data(), out.size()));
  return out;
}

}  // namespace

struct file_storage::impl {
  explicit impl(file_storage_options o, std::unique_ptr<file_system> f)
      : opts(std::move(o)),
        fs(std::shared_ptr<file_system>(std::move(f))),
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
    if (incoming) {
      try {
        fs->close(incoming->f);  // what was synced stays for a resume
      } catch (...) {
      }
    }
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

  // The newest snapshot that verifies (its data read through once, in
  // pieces, and kept open); invalid ones are reported, skipped and named in
  // `damaged` (newest first).
  std::optional<snapshot> load_snapshot(std::vector<std::string>& damaged) {
    fs->remove(opts.dir + "/snap.tmp");  // an unfinished save
    for (index_t i : snapshot_indexes()) {
      const std::string path = opts.dir + "/" + snapshot_name(i);
      const auto f = fs->open(path, false);
      std::string why;
      std::uint64_t header_bytes = 0;
      std::optional<snapshot_meta> meta = read_snapshot_header(*fs, f, data_id, header_bytes, why);
      if (meta && meta->last.index != i) {
        why = "file name does not match its index";
        meta.reset();
      }
      if (meta && fs->size(f) != header_bytes + meta->size) {
        why = "data is not the recorded size";
        meta.reset();
      }
      if (meta) {
        const auto crc = crc_of(*fs, f, header_bytes, meta->size);
        if (crc && *crc == meta->crc) {
          snapshot s;
          s.meta = std::move(*meta);
          s.data = std::make_shared<file_snapshot_data>(fs, f, header_bytes, s.meta.size);
          return s;
        }
        why = "data checksum mismatch";
      }
      fs->close(f);
      note("snapshot " + path + " does not verify: " + why);
      damaged.push_back(path + " (" + why + ")");
    }
    return std::nullopt;
  }

  // A snapshot a leader was sending: kept for a resume when its progress
  // record verifies and the newest snapshot here is older; else removed.
  std::optional<recovered_state::partial_snapshot> load_incoming(const std::optional<snapshot>& newest) {
    const std::string path = opts.dir + "/snap.incoming";
    const std::string progress = path + ".progress";
    if (!fs->exists(path)) {
      fs->remove(progress);
      return std::nullopt;
    }
    const auto f = fs->open(path, false);
    std::string why = "its progress record does not verify";
    std::uint64_t header_bytes = 0;
    std::optional<snapshot_meta> meta = read_snapshot_header(*fs, f, data_id, header_bytes, why);
    std::uint64_t bytes = 0;
    std::uint32_t crc = 0;
    bool ok = false;
    if (meta && fs->exists(progress)) {
      const auto p = fs->open(progress, false);
      std::string rec(24, '\0');
      const bool read = read_exact(*fs, p, 0, rec.data(), rec.size());
      fs->close(p);
      detail::byte_reader r(rec);
      const bool magic = read && r.u64() == progress_magic;
      bytes = r.u64();
      crc = r.u32();
      ok = magic && r.u32() == detail::crc32c(rec.data(), 20) && bytes <= meta->size &&
           fs->size(f) >= header_bytes + bytes;
      if (ok && newest && newest->meta.last.index >= meta->last.index) {
        ok = false;
        why = "a newer snapshot is in force";
      }
      // The record says what was written; check that the disk still holds
      // it, since the running checksum goes on from the record's and the
      // whole is checked against it.
      if (ok) {
        try {
          const auto kept = crc_of(*fs, f, header_bytes, bytes);
          if (!kept || *kept != crc) {
            ok = false;
            why = "the bytes kept do not match their recorded checksum";
          }
        } catch (const std::exception& e) {  // a bad sector: the partial is of no use
          ok = false;
          why = std::string("the bytes kept cannot be read: ") + e.what();
        }
      }
    }
    if (!ok) {
      fs->close(f);
      note("discarding " + path + " (a snapshot being received): " + why);
      fs->remove(path);
      fs->remove(progress);
      return std::nullopt;
    }
    // What came after the last sync may be anything: cut it off.
    fs->truncate(f, header_bytes + bytes);
    incoming = incoming_file{*meta, f, header_bytes, bytes, crc, bytes, true};
    note("resuming the snapshot through index " + std::to_string(meta->last.index) +
         " being received: " + std::to_string(bytes) + " of " + std::to_string(meta->size) + " bytes kept");
    return recovered_state::partial_snapshot{std::move(*meta), bytes};
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

  // Writes a whole snapshot under a temporary name, syncs it, renames it
  // into place, syncs the directory; returns it as kept.
  std::shared_ptr<const snapshot_data> save_snapshot(const snapshot& s) {
    const std::string tmp = opts.dir + "/snap.tmp";
    fs->remove(tmp);
    const auto f = fs->open(tmp, true);
    std::uint64_t header_bytes = 0;
    try {
      const std::string header = snapshot_header(s.meta, data_id);
      header_bytes = header.size();
      fs->pwrite(f, header.data(), header.size(), 0);
      if (const payload* bytes = s.data->in_memory()) {
        fs->pwrite(f, bytes->data(), bytes->size(), header_bytes);
      } else {
        std::string buf(std::min<std::uint64_t>(s.meta.size, 1u << 20), '\0');
        for (std::uint64_t at = 0; at < s.meta.size;) {
          const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(s.meta.size - at, buf.size()));
          s.data->read(at, buf.data(), k);
          fs->pwrite(f, buf.data(), k, header_bytes + at);
          at += k;
        }
      }
      if (opts.sync) fs->sync(f);
    } catch (...) {
      fs->close(f);
      throw;
    }
    return put_in_place(f, tmp, s.meta, header_bytes);
  }

  // A synced snapshot file `f` at `from` becomes the newest snapshot.
  std::shared_ptr<const snapshot_data> put_in_place(file_system::handle f, const std::string& from,
                                                    const snapshot_meta& meta, std::uint64_t header_bytes) {
    try {
      fs->rename(from, opts.dir + "/" + snapshot_name(meta.last.index));
      if (opts.sync) fs->sync_dir(opts.dir);
    } catch (...) {
      fs->close(f);
      throw;
    }
    // Keep the previous one too: should the newest ever fail to verify, the
    // log may still reach back to it. (One being sent stays readable: its
    // sender holds it open.)
    const auto all = snapshot_indexes();
    for (std::size_t k = 2; k < all.size(); ++k) fs->remove(opts.dir + "/" + snapshot_name(all[k]));
    return std::make_shared<file_snapshot_data>(fs, f, header_bytes, meta.size);
  }

  void discard_incoming() {
    if (!incoming) return;
    fs->close(incoming->f);
    incoming.reset();
    fs->remove(opts.dir + "/snap.incoming");
    fs->remove(opts.dir + "/snap.incoming.progress");
  }

  void discard_quietly() noexcept {
    try {
      discard_incoming();
    } catch (...) {
      incoming.reset();  // the next chunk starts a new file (removing this one)
    }
  }

  // Makes the bytes written durable and records how many.
  void sync_incoming() {
    incoming_file& in = *incoming;
    if (!opts.sync) return;
    fs->sync(in.f);
    const std::string progress = opts.dir + "/snap.incoming.progress";
    const auto p = fs->open(progress, true);
    try {
      const std::string rec = progress_record(in.written, in.crc);
      fs->pwrite(p, rec.data(), rec.size(), 0);
      fs->sync(p);
    } catch (...) {
      fs->close(p);
      throw;
    }
    fs->close(p);
    if (!in.progress_named) {
      fs->sync_dir(opts.dir);  // both names
      in.progress_named = true;
    }
    in.synced = in.written;
  }

  void write_chunk(const snapshot_meta& meta, std::uint64_t offset, const payload& data) {
    if (!incoming || incoming->meta != meta || (offset == 0 && incoming->written > 0)) {
      // Another snapshot, or this one from the start again (the node gave
      // up on what it had: a storage error): what is here is of no use.
      discard_incoming();
      const std::string path = opts.dir + "/snap.incoming";
      fs->remove(path);
      const auto f = fs->open(path, true);
      incoming = incoming_file{meta, f, 0, 0, 0, 0, false};
      const std::string header = snapshot_header(meta, data_id);
      fs->pwrite(f, header.data(), header.size(), 0);
      incoming->header_bytes = header.size();
    }
    incoming_file& in = *incoming;
    if (offset != in.written)
      throw std::logic_error("file_storage: snapshot chunk at " + std::to_string(offset) + " after " +
                             std::to_string(in.written) + " bytes");
    fs->pwrite(in.f, data.data(), data.size(), in.header_bytes + offset);
    in.written += data.size();
    in.crc = detail::crc32c_extend(in.crc, data.data(), data.size());
    if (in.written - in.synced >= opts.incoming_snapshot_sync_bytes) sync_incoming();
  }

  std::shared_ptr<const snapshot_data> finish(const snapshot_meta& meta) {
    if (!incoming || incoming->meta != meta)
      throw std::logic_error("file_storage: finishing a snapshot that is not being received");
    if (incoming->written != meta.size || incoming->crc != meta.crc) {
      note("the snapshot through index " + std::to_string(meta.last.index) +
           " received from the leader does not match its checksum: discarded");
      discard_incoming();
      return nullptr;
    }
    incoming_file in = *incoming;
    if (opts.sync) fs->sync(in.f);
    // The checksum above is of the bytes as they came; the snapshot is the
    // file. Read it back whole before it is put in place: a write that went
    // wrong, or the file changed while it was received, is never installed.
    // (The read mostly hits the page cache: decay of the medium itself is
    // found at the next start, which verifies every snapshot from disk.)
    const auto on_disk = crc_of(*fs, in.f, in.header_bytes, meta.size);
    if (!on_disk || *on_disk != meta.crc) {
      note("the snapshot through index " + std::to_string(meta.last.index) +
           " received from the leader does not read back as written: discarded");
      discard_incoming();
      return nullptr;
    }
    incoming.reset();
    auto data = put_in_place(in.f, opts.dir + "/snap.incoming", meta, in.header_bytes);
    fs->remove(opts.dir + "/snap.incoming.progress");
    return data;
  }

  file_storage_options opts;
  std::shared_ptr<file_system> fs;  // shared with the snapshot_data handed out
  // A snapshot being received (snap.incoming), on the snapshot thread.
  struct incoming_file {
    snapshot_meta meta;
    file_system::handle f = -1;
    std::uint64_t header_bytes = 0;
    std::uint64_t written = 0;    // bytes of data written
    std::uint32_t crc = 0;        // CRC32C of those
    std::uint64_t synced = 0;     // of which durable (and recorded)
    bool progress_named = false;  // snap.incoming.progress exists durably
  };
  std::optional<incoming_file> incoming;
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
    rs.incoming = self->load_incoming(rs.snap);
    return rs;
  });
}

asio::awaitable<std::shared_ptr<const snapshot_data>> file_storage::save_snapshot(snapshot s) {
  impl* self = impl_.get();
  return self->on_snapshot_thread<std::shared_ptr<const snapshot_data>>(
      [self, s = std::move(s)] { return self->save_snapshot(s); });
}

namespace {

// A snapshot being taken, written at its place in `snap.tmp` as it comes;
// the header (which holds its size and CRC) goes in front at the commit.
class file_sink final : public snapshot_sink {
 public:
  file_sink(std::shared_ptr<file_system> fs_, std::string path_, file_system::handle f_, snapshot_meta meta_,
            std::uint64_t header_bytes_, std::uint64_t sync_step)
      : fs(std::move(fs_)),
        path(std::move(path_)),
        f(f_),
        meta(std::move(meta_)),
        header_bytes(header_bytes_),
        sync_step_(sync_step) {}
  ~file_sink() override {
    if (committed) return;
    try {  // abandoned (the node stopped, the state machine threw): nothing of it is kept
      fs->close(f);
      fs->remove(path);
    } catch (...) {
    }
  }
  void write(std::span<const std::byte> b) override {
    fs->pwrite(f, b.data(), b.size(), header_bytes + size_);
    size_ += b.size();
    crc_ = detail::crc32c_extend(crc_, b.data(), b.size());
    if (sync_step_ != 0 && size_ - synced_ >= sync_step_) {
      fs->sync(f);  // on the snapshot thread: the image's or the state machine's writer
      synced_ = size_;
    }
  }
  std::uint64_t size() const override { return size_; }
  std::uint32_t crc() const override { return crc_; }

  std::shared_ptr<file_system> fs;
  std::string path;
  file_system::handle f;
  snapshot_meta meta;
  std::uint64_t header_bytes;
  bool committed = false;

 private:
  std::uint64_t sync_step_;
  std::uint64_t size_ = 0;
  std::uint64_t synced_ = 0;
  std::uint32_t crc_ = 0;
};

}  // namespace

std::unique_ptr<snapshot_sink> file_storage::begin_snapshot(const membership& config) {
  impl* self = impl_.get();
  snapshot_meta meta;
  meta.config = config;
  const std::string tmp = self->opts.dir + "/snap.tmp";
  self->fs->remove(tmp);
  const auto f = self->fs->open(tmp, true);
  // The header's length does not depend on size and crc (fixed widths).
  const std::uint64_t header_bytes = snapshot_header(meta, self->data_id).size();
  return std::make_unique<file_sink>(self->fs, tmp, f, meta, header_bytes,
                                     self->opts.sync ? self->opts.snapshot_sync_bytes : 0);
}

asio::awaitable<snapshot> file_storage::commit_snapshot(std::unique_ptr<snapshot_sink> sink, log_id last) {
  impl* self = impl_.get();
  std::shared_ptr<snapshot_sink> held(std::move(sink));
  return self->on_snapshot_thread<snapshot>([self, held, last] {
    auto* s = dynamic_cast<file_sink*>(held.get());
    if (s == nullptr) throw std::logic_error("file_storage: a sink of another storage");
    snapshot_meta meta = s->meta;
    meta.last = last;
    meta.size = s->size();
    meta.crc = s->crc();
    const std::string header = snapshot_header(meta, self->data_id);
    if (header.size() != s->header_bytes) throw std::logic_error("file_storage: snapshot header changed length");
    self->fs->pwrite(s->f, header.data(), header.size(), 0);
    if (self->opts.sync) self->fs->sync(s->f);
    s->committed = true;  // put_in_place owns the file from here
    auto data = self->put_in_place(s->f, s->path, meta, s->header_bytes);
    return snapshot{std::move(meta), std::move(data)};
  });
}

asio::awaitable<void> file_storage::write_snapshot_chunk(snapshot_meta meta, std::uint64_t offset, payload data) {
  impl* self = impl_.get();
  return self->on_snapshot_thread<void>([self, meta = std::move(meta), offset, data = std::move(data)] {
    try {
      self->write_chunk(meta, offset, data);
    } catch (...) {
      self->discard_quietly();  // a full disk, an I/O error: the transfer starts over later
      throw;
    }
  });
}

asio::awaitable<std::shared_ptr<const snapshot_data>> file_storage::finish_snapshot(snapshot_meta meta) {
  impl* self = impl_.get();
  return self->on_snapshot_thread<std::shared_ptr<const snapshot_data>>([self, meta = std::move(meta)] {
    try {
      return self->finish(meta);
    } catch (...) {
      self->discard_quietly();
      throw;
    }
  });
}

asio::awaitable<void> file_storage::write(log_write w) {
  impl* self = impl_.get();
  return self->on_io_thread<void>([self, w = std::move(w)] {
    if (!self->log) throw std::logic_error("file_storage::write before load");
    self->log->append(w);
  });
}

asio::awaitable<void> file_storage::write_queued(std::function<std::optional<queued_write>()> take) {
  impl* self = impl_.get();
  return self->on_io_thread<void>([self, take = std::move(take)] {
    if (!self->log) throw std::logic_error("file_storage::write_queued before load");
    // Each write is taken as the previous one's sync returns: what the node
    // queued meanwhile goes into it, with no trip through its event loop.
    for (std::size_t n = 0; n < std::max<std::size_t>(1, self->opts.writes_per_turn); ++n) {
      std::optional<queued_write> next = take();
      if (!next) return;
      self->log->append(next->write);
      next->on_durable();
    }
  });
}

asio::awaitable<wal_stats> file_storage::stats() {
  impl* self = impl_.get();
  return self->on_io_thread<wal_stats>([self] { return self->log ? self->log->stats() : wal_stats{}; });
}

}  // namespace coraft
