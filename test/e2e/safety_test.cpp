// safety_test.cpp — the safety holes of issue 15, tried from outside as an
// operator would, with real coraft-kv processes. Whatever happens to the
// flags or the data directory, a node never starts with less than it
// acknowledged (DESIGN.md "Guarantees"): it refuses to start, naming the
// file and the safe fix, or it starts and every acknowledged write stays
// readable.
//   a. restart with a changed --cluster: no second cluster (hole 1);
//   b. a damaged newest snapshot the log no longer reaches: refused, then
//      the operator's fix end to end (remove, wipe, --join, promote) (hole 2);
//   c. a damaged data directory, file by file: WAL segment, coraft.meta,
//      snapshots, leftover temporary files, files of another node or
//      cluster (issue 15 "Bad input");
//   d. disk faults through coraft-kv-faults (test/faults): after an fsync
//      EIO or a write ENOSPC the node exits, recovers on restart, nothing
//      acknowledged is lost (hole 5); with slow syncs no write is answered
//      before its sync returns;
//   e. adding a voter that never started: 409 not_caught_up (hole 6).
//
// Addresses: slots 31-37 (ports 31100-31702), nodes on 127.0.0.11-13.
// CORAFT_KV_BINARY=/path/to/coraft-kv runs the stories against another
// build (e.g. an older commit's, to see them fail there).
#include "e2e_clients.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <sstream>
#include <thread>

namespace {

using namespace e2e;
namespace json = boost::json;
namespace fs = std::filesystem;

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// What a node printed since its last start (kv_cluster marks each start).
std::string last_start(const std::string& log) {
  const auto at = log.rfind("==== e2e: start #");
  return at == std::string::npos ? log : log.substr(at);
}

// The members a status lists: id -> voter.
std::map<int, bool> members_of(const node_status& s) {
  std::map<int, bool> out;
  if (!s.raw.is_object() || !s.raw.as_object().contains("members") || !s.raw.at("members").is_array()) return out;
  for (const auto& m : s.raw.at("members").as_array())
    out[static_cast<int>(m.at("id").to_number<std::int64_t>())] = m.at("voter").as_bool();
  return out;
}

// `goal` acknowledged writes (bounded by `within`), then the writers stop.
std::vector<ack> write_acked(const kv_cluster& c, const std::string& prefix, std::size_t goal,
                             std::chrono::milliseconds within = 30s) {
  writer w(c, prefix, {.threads = 4, .max_writes = static_cast<int>(2 * goal + 20), .max_time = within});
  const bool done = w.wait_acked(goal, within);
  w.stop();
  BOOST_TEST_REQUIRE(done, "only " << w.acked() << " of " << goal << " writes acknowledged within " << within.count()
                                   << " ms:\n"
                                   << w.outcomes());
  return w.acks();
}

launch with_cluster_flag(std::string cluster) {
  launch l;
  l.cluster = std::move(cluster);
  return l;
}

// coraft-kv-faults with CORAFT_FAILPOINTS=`failpoints` (test/faults).
launch faults_build(const std::string& failpoints) {
  launch l;
  l.binary = kv_faults_binary();
  l.env = {"CORAFT_FAILPOINTS=" + failpoints};
  return l;
}

// ---- data directories ----------------------------------------------------------

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// XORs `n` bytes at `offset` with 0xff: damage that no checksum misses.
void flip_bytes(const fs::path& p, std::uint64_t offset, std::size_t n) {
  const int fd = ::open(p.c_str(), O_RDWR);
  BOOST_REQUIRE_MESSAGE(fd >= 0, "cannot open " << p);
  std::string b(n, '\0');
  const ssize_t got = ::pread(fd, b.data(), n, static_cast<off_t>(offset));
  BOOST_REQUIRE_MESSAGE(got == static_cast<ssize_t>(n), "cannot read " << n << " bytes at " << offset << " of " << p);
  for (auto& ch : b) ch = static_cast<char>(~static_cast<unsigned char>(ch));
  BOOST_REQUIRE(::pwrite(fd, b.data(), n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n));
  ::close(fd);
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
  BOOST_REQUIRE_MESSAGE(out.good(), "cannot write " << p);
}

// Copies a file, leaving holes where the source has 64 KiB of zeros: a
// 64 MiB zero-filled segment costs a few KiB to copy, and reads the same.
void sparse_copy(const fs::path& from, const fs::path& to) {
  const int in = ::open(from.c_str(), O_RDONLY);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  BOOST_REQUIRE_MESSAGE(in >= 0 && out >= 0, "cannot copy " << from << " to " << to);
  std::vector<char> buf(64 * 1024);
  off_t off = 0;
  while (true) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    BOOST_REQUIRE(n >= 0);
    if (n == 0) break;
    if (std::any_of(buf.begin(), buf.begin() + n, [](char ch) { return ch != 0; }))
      BOOST_REQUIRE(::pwrite(out, buf.data(), static_cast<std::size_t>(n), off) == n);
    off += n;
  }
  BOOST_REQUIRE(::ftruncate(out, off) == 0);
  ::close(in);
  ::close(out);
}

void copy_dir(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from))
    if (e.is_regular_file()) sparse_copy(e.path(), to / e.path().filename());
}

// Names in `dir` that start with `prefix` and end with `suffix`, sorted
// (segment and snapshot names sort by their hex numbers).
std::vector<fs::path> files_like(const fs::path& dir, const std::string& prefix, const std::string& suffix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.size() >= prefix.size() + suffix.size() && n.rfind(prefix, 0) == 0 &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}
std::vector<fs::path> snapshots(const fs::path& dir) { return files_like(dir, "snap-", ".snap"); }
std::vector<fs::path> segments(const fs::path& dir) { return files_like(dir, "wal-", ".log"); }

// Offsets of the records in the written part of a WAL segment: each is
// [u32 body length][u32 CRC][4 bytes type and tag][body] (lib/include/
// coraft/wal.hpp), and a zero header ends the written part.
std::vector<std::pair<std::uint64_t, std::uint32_t>> wal_records(const fs::path& segment) {
  const std::string b = read_bytes(segment);
  std::vector<std::pair<std::uint64_t, std::uint32_t>> out;
  std::uint64_t off = 0;
  while (off + 12 <= b.size()) {
    if (std::all_of(b.begin() + static_cast<std::ptrdiff_t>(off), b.begin() + static_cast<std::ptrdiff_t>(off + 12),
                    [](char ch) { return ch == 0; }))
      break;
    std::uint32_t len = 0;
    for (int i = 3; i >= 0; --i) len = len << 8 | static_cast<unsigned char>(b[off + static_cast<std::uint64_t>(i)]);
    out.emplace_back(off, len);
    off += 12 + len;
  }
  return out;
}

// A refusal says which file and what to do: the node cannot prove it holds
// what it acknowledged, so it must come back as a new learner (--join, then
// promote), never wiped and restarted as the same voter [issue 15 hole 2].
void check_refusal_names_file_and_fix(const std::string& output, const std::string& file) {
  BOOST_TEST(contains(output, file), "the refusal does not name " << file << ":\n" << output);
  BOOST_TEST((contains(output, "--join") && contains(output, "learner") && contains(output, "promote")),
             "the refusal does not give the safe fix (remove, wipe, --join as a learner, promote):\n"
                 << output);
  BOOST_TEST(contains(output, "same voter"), "the refusal does not warn against coming back as the same voter:\n"
                                                 << output);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(e2e_safety)

// ---- a. hole 1 ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_node_restarted_with_a_cluster_flag_naming_only_itself_does_not_form_a_second_cluster) {
  // DESIGN.md "Guarantees": once a data directory holds state, the
  // configuration comes from it; a --cluster that differs is ignored with a
  // warning, never used to form a cluster (etcd ignores --initial-cluster
  // once a data directory exists).
  kv_cluster c(/*slot=*/31);
  c.start_all();
  BOOST_REQUIRE_MESSAGE(leader_among(c, {1, 2, 3}, 10s), "no agreed leader within 10 s");
  std::vector<ack> acks = write_acked(c, "a-", 3, 10s);
  for (const auto& [id, st] : c.terminate_all()) BOOST_TEST(st == 0, "node " << id << " exit status " << st);

  const std::string alone = "1=" + c.raft_addr(1) + "/" + c.http_addr(1);
  c.start(1, {}, with_cluster_flag(alone));
  // It must neither lead nor take a write: for 3 s of attempts.
  std::string seen;
  const bool forked = kv_cluster::eventually(
      3s,
      [&] {
        const http_reply put = c.call(1, "PUT", "/v1/kv/forked", "x", {}, 1000ms);
        const auto s = c.status(1);
        if (put.status == 200 || (s && s->role == "leader")) {
          seen = "PUT: " + put.brief() + "; status: " + (s ? json::serialize(s->raw) : "none");
          return true;
        }
        return false;
      },
      100ms);
  BOOST_TEST(!forked, "node 1 restarted with --cluster " << alone << " led or took a write over the old log: " << seen);
  // One warning naming the difference.
  const std::string log = c.log_of(1);
  BOOST_TEST(occurrences(log, "differs from the one stored") == 1u,
             "node 1 logged the bootstrap difference " << occurrences(log, "differs from the one stored") << " times");
  BOOST_TEST(contains(log, "voters 1 given, 1,2,3 stored"), "the warning does not name the difference");

  // Once the others are back the cluster serves, with node 1 a voter of the
  // stored configuration, and every acknowledged write is readable.
  c.start(2);
  c.start(3);
  const auto leader = leader_among(c, {1, 2, 3}, 10s);
  BOOST_REQUIRE_MESSAGE(leader, "nodes 1-3 agree on no leader within 10 s");
  const std::vector<ack> more = write_acked(c, "a2-", 3, 10s);
  acks.insert(acks.end(), more.begin(), more.end());
  const auto s1 = c.status(1);
  BOOST_REQUIRE(s1);
  BOOST_TEST((members_of(*s1) == std::map<int, bool>{{1, true}, {2, true}, {3, true}}),
             "node 1's members: " << json::serialize(s1->raw));
  check_every_ack_is_readable(c, 1, {1, 2, 3}, acks);
  const http_reply forked_key = c.call_following(1, "GET", "/v1/kv/forked");
  BOOST_TEST(forked_key.status == 404, "a write node 1 took alone is in the cluster: " << forked_key.brief());
}

// ---- b. hole 2 ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_node_whose_newest_snapshot_is_damaged_refuses_to_start_and_comes_back_as_a_learner) {
  // Snapshots every 200 entries and 10 left behind: the log of each node
  // starts after its previous snapshot, so the newest is the only copy of
  // the entries between [§7].
  kv_cluster c(/*slot=*/32, 3, {"--snapshot-entries", "200", "--snapshot-trailing-entries", "10"});
  c.start_all();
  BOOST_REQUIRE_MESSAGE(leader_among(c, {1, 2, 3}, 10s), "no agreed leader within 10 s");
  const std::vector<ack> acks = write_acked(c, "b-", 1500, 40s);
  BOOST_TEST_MESSAGE("snapshot story: " << acks.size() << " writes acknowledged, the last at index "
                                        << max_index(acks));
  for (int id : {1, 2, 3})
    BOOST_REQUIRE_MESSAGE(c.wait_applied(id, max_index(acks), 10s), "node " << id << " did not apply everything");
  const auto before = c.status(3);
  BOOST_REQUIRE(before);
  for (const auto& [id, st] : c.terminate_all()) BOOST_TEST(st == 0, "node " << id << " exit status " << st);

  const auto snaps = snapshots(c.data_dir(3));
  BOOST_REQUIRE_MESSAGE(snaps.size() >= 2u, "node 3 has " << snaps.size() << " snapshots, want 2");
  const fs::path newest = snaps.back();
  flip_bytes(newest, fs::file_size(newest) / 2, 64);

  // Refused, naming the file and the fix. (Before the fix it came up with
  // the log after the previous snapshot only: less than it acknowledged.)
  const std::optional<int> refused = c.start_or_exit(3);
  if (refused) {
    BOOST_TEST(*refused > 0, "node 3 exit status " << *refused);
    check_refusal_names_file_and_fix(last_start(c.log_of(3)), newest.filename().string());
  } else {
    const auto s = c.status(3);
    BOOST_ERROR("node 3 started with a damaged " << newest.filename() << ": last_log_index "
                                                 << (s ? s->last_log_index : 0) << ", " << before->last_log_index
                                                 << " before the damage");
    c.crash(3);
  }

  // The operator's fix: remove node 3 on the leader, wipe it, start it with
  // --join (a learner), promote it once caught up [thesis §4.2.1].
  c.start(1);
  c.start(2);
  const auto leader = leader_among(c, {1, 2}, 10s);
  BOOST_REQUIRE_MESSAGE(leader, "nodes 1 and 2 agree on no leader within 10 s");
  const http_reply removed = change_membership(c, *leader, "DELETE", "/v1/members/3");
  BOOST_TEST_REQUIRE(removed.status == 200, "DELETE /v1/members/3: " << removed.brief());
  fs::remove_all(c.data_dir(3));
  c.start(3, {"--join", c.http_addr(*leader)});
  std::optional<node_status> s3;
  BOOST_TEST_REQUIRE(
      kv_cluster::eventually(20s,
                             [&] {
                               s3 = c.status(3);
                               return s3 && s3->role == "learner";
                             }),
      "node 3 did not become a learner within 20 s; last: " << (s3 ? json::serialize(s3->raw) : "no status"));
  const http_reply promoted = change_membership(c, *leader, "POST", "/v1/members/3/promote");
  BOOST_TEST_REQUIRE(promoted.status == 200, "promote node 3: " << promoted.brief());
  BOOST_TEST(kv_cluster::eventually(10s,
                                    [&] {
                                      s3 = c.status(3);
                                      return s3 && (s3->role == "follower" || s3->role == "leader") &&
                                             members_of(*s3) == std::map<int, bool>{{1, true}, {2, true}, {3, true}};
                                    }),
             "node 3 is not a voter of 1,2,3 within 10 s; last: " << (s3 ? json::serialize(s3->raw) : "no status"));
  check_every_ack_is_readable(c, *leader, {3}, acks);
}

// ---- c. a damaged data directory, file by file ------------------------------------

namespace {

// A stopped 3-node cluster, made once per run and copied for each case:
// ~700 writes with snapshots every 200 entries and 300 left behind, so each
// node holds two snapshots and a log that starts after an entry (compacted)
// yet still reaches back to its previous snapshot. Plus the coraft.meta of
// another cluster's node 1 (same --cluster-id and id, another directory).
constexpr int damage_slot = 33;
const std::vector<std::string> damage_flags{"--snapshot-entries", "200", "--snapshot-trailing-entries", "300"};

struct stopped_cluster {
  fs::path dir;  // node1/, node2/, node3/, other-cluster.meta
  std::vector<ack> acks;
  std::map<int, node_status> before;  // each node's status before the stop
  ~stopped_cluster() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

const stopped_cluster& source() {
  static std::unique_ptr<stopped_cluster> made;
  if (made) return *made;
  auto s = std::make_unique<stopped_cluster>();
  char tmpl[] = "/tmp/coraft-e2e-source-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
  s->dir = tmpl;
  {
    kv_cluster c(damage_slot, 3, damage_flags);
    c.start_all();
    BOOST_REQUIRE_MESSAGE(leader_among(c, {1, 2, 3}, 10s), "source cluster: no agreed leader within 10 s");
    s->acks = write_acked(c, "c-", 700, 30s);
    for (int id : {1, 2, 3}) {
      BOOST_REQUIRE_MESSAGE(c.wait_applied(id, max_index(s->acks), 10s), "source cluster: node " << id << " lags");
      auto st = c.status(id);
      BOOST_REQUIRE(st);
      s->before[id] = *st;
    }
    for (const auto& [id, st] : c.terminate_all())
      BOOST_REQUIRE_MESSAGE(st == 0, "source node " << id << " exit " << st);
    for (int id : {1, 2, 3}) {
      BOOST_REQUIRE_MESSAGE(snapshots(c.data_dir(id)).size() == 2u,
                            "source node " << id << " has " << snapshots(c.data_dir(id)).size() << " snapshots");
      copy_dir(c.data_dir(id), s->dir / ("node" + std::to_string(id)));
    }
  }
  {
    kv_cluster other(damage_slot + 1, 1);
    other.start(1);
    BOOST_REQUIRE(other.terminate(1) == 0);
    sparse_copy(other.data_dir(1) / "coraft.meta", s->dir / "other-cluster.meta");
  }
  made = std::move(s);
  return *made;
}

// The rule for every damaged file [issue 15 "Bad input"]: node 1 of a copy
// of the source, its directory damaged by `damage`, either exits non-zero
// naming `file` and the fix, or starts holding no less than before (its log
// reaches as far, its term is as high) and, once the others are back, every
// acknowledged write is readable in its local state. `must_refuse`: the
// damage leaves nothing the node may trust (a file of another directory).
// `noted`: what a node that starts must have logged (the file it passed
// over), empty for nothing.
void expect_refusal_or_no_loss(const std::function<void(const fs::path&)>& damage, const std::string& file,
                               bool must_refuse = false, const std::string& noted = {}) {
  const stopped_cluster& src = source();
  kv_cluster c(damage_slot, 3, damage_flags);
  for (int id : {1, 2, 3}) copy_dir(src.dir / ("node" + std::to_string(id)), c.data_dir(id));
  damage(c.data_dir(1));
  const std::optional<int> exited = c.start_or_exit(1);
  if (exited) {
    BOOST_TEST_MESSAGE("refused: " << c.log_of(1));
    BOOST_TEST(*exited > 0, "node 1 exit status " << *exited);
    check_refusal_names_file_and_fix(last_start(c.log_of(1)), file);
    return;
  }
  BOOST_TEST(!must_refuse, "node 1 started although " << file << " is not its own");
  if (!noted.empty()) BOOST_TEST(contains(c.log_of(1), noted), "node 1 started without a word about " << noted);
  const auto alone = c.status(1);
  BOOST_REQUIRE(alone);
  const node_status& was = src.before.at(1);
  BOOST_TEST(alone->last_log_index >= was.last_log_index, "node 1 started with less: last_log_index "
                                                              << alone->last_log_index << ", " << was.last_log_index
                                                              << " before the damage to " << file);
  BOOST_TEST(alone->term >= was.term, "node 1 started in term " << alone->term << ", " << was.term << " before");
  c.start(2);
  c.start(3);
  BOOST_REQUIRE_MESSAGE(leader_among(c, {1, 2, 3}, 10s), "no agreed leader within 10 s");
  check_every_ack_is_readable(c, 1, {1}, src.acks);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_wal_segment_damaged_before_its_last_write_is_refused_by_name) {
  // A record in the middle of the segment, later writes after it: not a
  // write torn by a crash but a damaged durable one (wal.hpp).
  const auto segs = segments(source().dir / "node1");
  BOOST_REQUIRE(!segs.empty());
  const std::string name = segs.back().filename().string();
  expect_refusal_or_no_loss(
      [&](const fs::path& dir) {
        const auto records = wal_records(dir / name);
        BOOST_REQUIRE_MESSAGE(records.size() > 100u, "only " << records.size() << " records in " << name);
        const auto [at, len] = records[records.size() / 2];
        flip_bytes(dir / name, at + 12 + len / 2, 4);
      },
      name);
}

BOOST_AUTO_TEST_CASE(a_damaged_coraft_meta_is_refused_by_name) {
  expect_refusal_or_no_loss([](const fs::path& dir) { flip_bytes(dir / "coraft.meta", 0, 6); }, "coraft.meta");
}

BOOST_AUTO_TEST_CASE(a_coraft_meta_damaged_in_its_middle_is_refused_by_name) {
  expect_refusal_or_no_loss(
      [](const fs::path& dir) { flip_bytes(dir / "coraft.meta", fs::file_size(dir / "coraft.meta") / 2, 4); },
      "coraft.meta");
}

BOOST_AUTO_TEST_CASE(a_missing_coraft_meta_beside_segments_is_refused_by_name) {
  expect_refusal_or_no_loss([](const fs::path& dir) { fs::remove(dir / "coraft.meta"); }, "coraft.meta",
                            /*must_refuse=*/true);
}

BOOST_AUTO_TEST_CASE(a_damaged_newest_snapshot_is_passed_over_when_the_log_reaches_the_previous_one) {
  // [§7] The previous snapshot plus the log after it hold everything: the
  // node may start from them (and says so), losing nothing.
  const std::string newest = snapshots(source().dir / "node1").back().filename().string();
  expect_refusal_or_no_loss([&](const fs::path& dir) { flip_bytes(dir / newest, fs::file_size(dir / newest) / 2, 64); },
                            newest, false, newest);
}

BOOST_AUTO_TEST_CASE(snapshots_the_log_does_not_reach_damaged_or_missing_are_refused_by_name) {
  // Both snapshots damaged: the compacted log starts after an entry that
  // only they held.
  expect_refusal_or_no_loss(
      [](const fs::path& dir) {
        for (const auto& s : snapshots(dir)) flip_bytes(s, fs::file_size(s) / 2, 64);
      },
      snapshots(source().dir / "node1").back().filename().string());
  // Both missing.
  expect_refusal_or_no_loss(
      [](const fs::path& dir) {
        for (const auto& s : snapshots(dir)) fs::remove(s);
      },
      "snapshot");
}

BOOST_AUTO_TEST_CASE(leftover_temporary_files_are_harmless_and_nothing_is_lost) {
  // What a crash leaves mid-way: a half-written snapshot, a segment being
  // created, a spare being prepared, a metadata file being created. Each is
  // discarded; none is taken for data.
  expect_refusal_or_no_loss(
      [](const fs::path& dir) {
        const std::string snap = read_bytes(snapshots(dir).back());
        write_file(dir / "snap.tmp", snap.substr(0, snap.size() / 2));
        const std::string seg = read_bytes(segments(dir).back());
        write_file(dir / "wal.tmp", seg.substr(0, 1 << 20));
        write_file(dir / "wal.spare", std::string(4 << 20, '\0'));
        write_file(dir / "coraft.meta.tmp", read_bytes(dir / "coraft.meta").substr(0, 20));
      },
      "tmp");
}

BOOST_AUTO_TEST_CASE(a_segment_copied_from_another_node_is_refused_by_name) {
  // Node 2's log under node 1's name: node 2's vote and log, not node 1's.
  const fs::path theirs = segments(source().dir / "node2").back();
  expect_refusal_or_no_loss(
      [&](const fs::path& dir) {
        for (const auto& s : segments(dir)) fs::remove(s);
        sparse_copy(theirs, dir / theirs.filename());
      },
      theirs.filename().string(), /*must_refuse=*/true);
}

BOOST_AUTO_TEST_CASE(a_snapshot_copied_from_another_node_is_refused_or_passed_over) {
  // Node 2's newest snapshot as node 1's newest: it does not verify as
  // node 1's; the log reaches node 1's previous one, so starting from that
  // loses nothing.
  const fs::path theirs = snapshots(source().dir / "node2").back();
  const std::string mine = snapshots(source().dir / "node1").back().filename().string();
  expect_refusal_or_no_loss(
      [&](const fs::path& dir) {
        fs::remove(dir / mine);
        sparse_copy(theirs, dir / mine);
      },
      mine, false, mine);
}

BOOST_AUTO_TEST_CASE(another_clusters_coraft_meta_is_refused) {
  // Same --cluster-id and node id, another directory: only the data id
  // tells them apart.
  expect_refusal_or_no_loss(
      [](const fs::path& dir) {
        fs::remove(dir / "coraft.meta");
        sparse_copy(source().dir / "other-cluster.meta", dir / "coraft.meta");
      },
      "coraft.meta", /*must_refuse=*/true);
}

// ---- d. hole 5 --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_node_whose_fsync_fails_exits_and_its_restart_loses_no_acknowledged_write) {
  // DESIGN.md "Guarantees": an fsync error on the durable path is fatal —
  // after a failed fsync Linux may have dropped the data and marks the
  // pages clean, so no retry proves it durable. The node exits non-zero
  // with the error; its restart rewrites and syncs what it reads.
  const std::string faults = kv_faults_binary();
  BOOST_REQUIRE_MESSAGE(!faults.empty() && fs::exists(faults), "no coraft-kv-faults binary: '" << faults << "'");
  kv_cluster c(/*slot=*/35);
  c.start(1, {}, faults_build("sync=eio:after=150"));
  c.start(2);
  c.start(3);
  const auto first = leader_among(c, {1, 2, 3}, 10s);
  BOOST_REQUIRE_MESSAGE(first, "no agreed leader within 10 s");
  // Node 1 leads when its disk fails: its acknowledgements are the ones at stake.
  if (*first != 1) {
    const http_reply moved = change_membership(c, 1, "POST", "/v1/leader/transfer", R"({"to":1})");
    BOOST_TEST(moved.status == 200, "transfer to node 1: " << moved.brief());
  }

  writer w(c, "d-", {.threads = 2, .max_writes = 6000, .max_time = 40s});
  const auto exited = c.wait_exit(1, 20s);
  BOOST_TEST_REQUIRE(exited.has_value(), "node 1 still runs 20 s into the writes with a failing fsync\n"
                                             << w.outcomes());
  BOOST_TEST(*exited > 0, "node 1 exit status " << *exited);
  const std::size_t acked_at_exit = w.acked();
  const std::string log = c.log_of(1);
  BOOST_TEST(contains(log, "failpoint sync=eio:after=150 acts"), "the failpoint never acted");
  BOOST_TEST((contains(log, "Input/output error") && contains(log, "fatal")),
             "node 1's output does not carry the fsync error");
  // The others stay available meanwhile.
  BOOST_TEST(w.wait_acked(acked_at_exit + 50, 15s), "no 50 writes acknowledged after node 1 failed:\n" << w.outcomes());

  // Restarted without the failpoint (the release binary), it recovers;
  // every write acknowledged, before the failure and since, is there.
  c.start(1);
  BOOST_TEST(w.wait_acked(w.acked() + 50, 15s), "writes stalled after node 1's restart:\n" << w.outcomes());
  w.stop();
  BOOST_TEST_MESSAGE("fsync story: " << w.acked() << " writes acknowledged (" << acked_at_exit
                                     << " when node 1 exited); outcomes:\n"
                                     << w.outcomes());
  const auto leader = leader_among(c, {1, 2, 3}, 10s);
  BOOST_REQUIRE_MESSAGE(leader, "no agreed leader within 10 s after node 1's restart");
  check_every_ack_is_readable(c, 1, {1, 2, 3}, w.acks());
}

BOOST_AUTO_TEST_CASE(a_full_disk_stops_the_node_and_its_restart_loses_no_acknowledged_write) {
  // A write error on the log is fatal as a sync error is (DESIGN.md
  // "Guarantees"): ENOSPC from the 31st append on.
  BOOST_REQUIRE_MESSAGE(fs::exists(kv_faults_binary()), "no coraft-kv-faults binary: '" << kv_faults_binary() << "'");
  kv_cluster c(/*slot=*/37, 1);
  c.start(1, {}, faults_build("write=enospc:after=30:file=wal"));
  BOOST_REQUIRE_MESSAGE(c.wait_for_leader(10s), "the one-node cluster elected no leader within 10 s");
  writer w(c, "e-", {.threads = 1, .max_writes = 500, .max_time = 20s});
  const auto exited = c.wait_exit(1, 15s);
  w.stop();
  BOOST_TEST_REQUIRE(exited.has_value(), "node 1 still runs 15 s into the writes with a full disk\n" << w.outcomes());
  BOOST_TEST(*exited > 0, "node 1 exit status " << *exited);
  BOOST_TEST(contains(c.log_of(1), "No space left on device"), "node 1's output does not carry the write error");
  BOOST_TEST(w.acked() > 0u, "no write was acknowledged before the disk filled:\n" << w.outcomes());
  c.start(1);
  BOOST_REQUIRE_MESSAGE(c.wait_for_leader(10s), "no leader within 10 s of the restart");
  check_every_ack_is_readable(c, 1, {1}, w.acks());
}

BOOST_AUTO_TEST_CASE(a_write_is_acknowledged_only_after_its_fsync_returns) {
  // [§5.3, thesis §3.8] A 200 means durable on a majority, the leader
  // included: with every sync taking 100 ms (sync=slow), no single-node
  // write can be answered sooner.
  BOOST_REQUIRE_MESSAGE(fs::exists(kv_faults_binary()), "no coraft-kv-faults binary: '" << kv_faults_binary() << "'");
  kv_cluster c(/*slot=*/37, 1);
  c.start(1, {}, faults_build("sync=slow:ms=100"));
  BOOST_REQUIRE_MESSAGE(c.wait_for_leader(10s), "the one-node cluster elected no leader within 10 s");
  for (int i = 0; i < 5; ++i) {
    const auto t0 = clock_type::now();
    const http_reply r = c.call_following(1, "PUT", "/v1/kv/slow-" + std::to_string(i), "x");
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
    BOOST_TEST(r.status == 200, "PUT " << i << ": " << r.brief());
    BOOST_TEST(took.count() >= 100, "PUT " << i << " answered after " << took.count() << " ms, before its fsync");
  }
}

BOOST_AUTO_TEST_CASE(a_bad_failpoint_stops_coraft_kv_faults_naming_the_variable_and_the_release_binary_has_none) {
  const std::string faults = kv_faults_binary();
  BOOST_REQUIRE_MESSAGE(!faults.empty() && fs::exists(faults), "no coraft-kv-faults binary: '" << faults << "'");
  kv_cluster c(/*slot=*/35);
  for (const char* bad :
       {"sync=eoi", "sync=eio:after=x", "fsync=eio", "sync=slow", "write=enospc:file=logs", "sync=eio,"}) {
    const run_result r = c.run_node_to_exit(1, {}, 5s, faults_build(bad));
    BOOST_TEST(r.exit_code == 2, "CORAFT_FAILPOINTS=" << bad << ": exit " << r.exit_code << "\n" << r.output);
    BOOST_TEST(contains(r.output, "CORAFT_FAILPOINTS"), "the message does not name the variable:\n" << r.output);
  }
  // Failpoints exist only in the test build: the release binary cannot
  // even read the variable.
  BOOST_TEST(!contains(read_bytes(kv_binary()), "CORAFT_FAILPOINTS"), kv_binary() << " holds failpoint code");
}

// ---- e. hole 6 --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(adding_a_voter_that_never_started_is_refused_and_the_cluster_keeps_its_leader) {
  // [thesis §4.2.1] A new server holds none of the log: as a voter added to
  // a one-voter cluster it would leave no majority (check-quorum deposes
  // the leader, and the change can never commit). Learner first, then
  // promote.
  kv_cluster c(/*slot=*/36, 1);
  c.start_all();
  const auto leader = c.wait_for_leader(10s);
  BOOST_REQUIRE_MESSAGE(leader, "the one-node cluster elected no leader within 10 s");
  BOOST_REQUIRE(c.call_following(1, "PUT", "/v1/kv/before", "1").status == 200);
  const std::string body = R"({"id":4,"raft":"127.0.0.14:31601","http":"127.0.0.14:31602","voter":true})";
  const http_reply r = change_membership(c, 1, "POST", "/v1/members", body, /*retry_not_caught_up=*/false);
  BOOST_TEST(r.status == 409, "adding a voter that never started: " << r.brief());
  BOOST_TEST(error_code(r) == "not_caught_up", r.brief());
  const std::string message = text_field(r, "message");
  BOOST_TEST((contains(message, "learner") && contains(message, "promote")),
             "the answer does not say to add a learner and promote it: " << message);
  // The leader stays, in its term, and takes writes.
  const bool lost = kv_cluster::eventually(
      1s,
      [&] {
        const auto s = c.status(1);
        return !s || s->role != "leader" || s->term != leader->term;
      },
      50ms);
  BOOST_TEST(!lost, "node 1 lost its leadership after the refused change");
  const http_reply w = c.call_following(1, "PUT", "/v1/kv/after", "2");
  BOOST_TEST(w.status == 200, "a write after the refused change: " << w.brief());
  const auto s = c.status(1);
  BOOST_REQUIRE(s);
  BOOST_TEST((members_of(*s) == std::map<int, bool>{{1, true}}), "members: " << json::serialize(s->raw));
}

BOOST_AUTO_TEST_SUITE_END()
