// storage_holes_test.cpp — issue 15's storage holes, each as a story that
// failed before its fix. test/storage/CMakeLists.txt builds this file a
// second time against coraft_raft_planted and runs each story with its bug
// switched back on (CORAFT_PLANT=<bug>, coraft/detail/planted.hpp): the
// story must then fail with an assertion of its own.
//
//   hole 4, wal-stale-tail: a group commit torn so that its later pages
//     persist and its first does not; the restarted node writes a shorter
//     write where it began; the stale records after it must never be read
//     with it (a healthy log refused, or a write recovery had cut coming
//     back with its hard state).
//   hole 5, wal-open-trusts-cache: an fsync fails Linux-style (pages marked
//     clean, never written); the next incarnation's open() reads the bytes
//     from the page cache; a power loss must not take what it returned.
//   hole 2, snapshot-fallback-clears-log: the newest snapshot is damaged and
//     the log was compacted past the one before: load() refuses, naming the
//     file and the fix, instead of starting with less.
//   hole 7, data-dir-parent-unsynced: a new data directory's name is
//     durable before load() returns.
//
// Everything runs on the simulated file system (test/support/
// sim_file_system.hpp), seeded: each story does the same on every run.
#include <boost/test/unit_test.hpp>

#include <support/run_blocking.hpp>

#include "storage_harness.hpp"

#include <coraft/detail/crc32c.hpp>
#include <coraft/file_storage.hpp>
#include <coraft/wal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using coraft::test::run;
using namespace coraft;
using coraft::test::log_model;
using coraft::test::make_wal_options;
using coraft::test::records_of;
using coraft::test::segment_names;
using coraft::test::sim_crash;
using coraft::test::sim_file_system;

constexpr std::size_t page = sim_file_system::page_bytes;

entry make_entry(term_t term, index_t index, std::size_t bytes, char fill) {
  entry e;
  e.term = term;
  e.index = index;
  e.data = payload(std::string(bytes, fill));
  return e;
}

// ---- hole 4 ------------------------------------------------------------------

constexpr std::uint64_t hole4_segment = 64 * 1024;

// The disk after hole 4's first power loss. Acknowledged: term 4 without a
// vote, entries 1-3 (entry 3 sized so that the log ends 6 bytes before a
// page boundary). In flight, never acknowledged: W, a vote for node 2 in
// term 5 with entries 3-7 of term 5 (a new leader's, overwriting entry 3):
// [truncation][hard state][5 entries], 6 KiB over three pages, its first
// record straddling the boundary. The power loss kept a seeded subset of
// W's pages; `shaped` says it was every page but the first:
// [records][zeros][the rest of W].
struct torn_group_commit {
  sim_file_system fs;
  log_model acked;
  std::string segment;   // the one segment
  std::uint64_t at = 0;  // where W began
  std::uint64_t w_end = 0;
  bool shaped = false;

  static log_write w() {
    log_write lw;
    lw.state = hard_state{5, 2};
    for (index_t i = 3; i <= 7; ++i) lw.entries.push_back(make_entry(5, i, 1300, static_cast<char>('v' + i)));
    return lw;
  }

  explicit torn_group_commit(std::uint64_t seed) : fs(seed) {
    fs.create_dir("/wal");
    wal l(fs, make_wal_options("/wal", hole4_segment));
    l.open();
    const log_write first{hard_state{4, 0}, {make_entry(4, 1, 100, 'a'), make_entry(4, 2, 100, 'b')}};
    l.append(first);
    acked.apply(first);
    segment = "/wal/" + segment_names(fs, "/wal").back();
    // Entry 3 is sized so that the log ends 6 bytes before a page boundary
    // (a record: a 12-byte header, then term, index and type in 17 bytes,
    // then the data); W's first record then straddles the boundary.
    const auto recs = records_of(fs.contents(segment));
    const std::uint64_t end = recs.back().offset + recs.back().bytes;
    const std::uint64_t target = (end / page + 2) * page - 6;
    const log_write filler{std::nullopt, {make_entry(4, 3, target - end - wal::header_bytes - 17, 'c')}};
    l.append(filler);
    acked.apply(filler);
    const auto recs2 = records_of(fs.contents(segment));
    at = recs2.back().offset + recs2.back().bytes;
    BOOST_TEST_REQUIRE(at == target);

    fs.crash_after(1);  // W's pwrite reaches the page cache, then the power goes
    try {
      l.append(w());
      BOOST_FAIL("W was acknowledged");
    } catch (const sim_crash&) {
    }
    const std::vector<char> written = fs.contents(segment);
    const auto recs3 = records_of(written);
    w_end = recs3.back().offset + recs3.back().bytes;
    BOOST_TEST_REQUIRE((w_end - 1) / page == at / page + 2);  // three pages
    fs.crash(sim_file_system::torn_pages());
    const std::vector<char> kept = fs.contents(segment);
    const std::uint64_t boundary = at + 6;
    shaped = std::all_of(kept.begin() + static_cast<std::ptrdiff_t>(at),
                         kept.begin() + static_cast<std::ptrdiff_t>(boundary), [](char c) { return c == 0; }) &&
             std::equal(kept.begin() + static_cast<std::ptrdiff_t>(boundary),
                        kept.begin() + static_cast<std::ptrdiff_t>(w_end),
                        written.begin() + static_cast<std::ptrdiff_t>(boundary));
  }
};

// The first seed whose tear keeps every page of W but the first.
std::uint64_t hole4_seed() {
  for (std::uint64_t seed = 1; seed <= 200; ++seed)
    if (torn_group_commit(seed).shaped) return seed;
  BOOST_FAIL("no seed in 1..200 tears W as [zeros][the rest of W]");
  return 0;
}

// S, the shorter write the restarted node makes: a vote for node 3 in term
// 5 and one short entry 3. Its first record (the truncation from 3, with
// the same write number) is byte for byte W's.
log_write shorter_write() { return {hard_state{5, 3}, {make_entry(5, 3, 10, 's')}}; }

// Opens the WAL; a refusal is a failed assertion of the story (not an
// exception out of it), so that the planted run fails where it should.
std::optional<recovered_state> open_or_report(sim_file_system& fs) {
  try {
    wal l(fs, make_wal_options("/wal", hole4_segment));
    return l.open();
  } catch (const wal_corruption& e) {
    BOOST_ERROR("recovery refused a healthy log: " << e.what());
  }
  return std::nullopt;
}

// ---- file_storage ----------------------------------------------------------

file_storage_options storage_options(const std::string& dir, std::vector<std::string>* notes = nullptr) {
  file_storage_options o;
  o.dir = dir;
  o.id = 1;
  o.cluster_id = "alpha";
  o.segment_bytes = 8192;
  o.log = [notes](const std::string& s) {
    if (notes != nullptr) notes->push_back(s);
  };
  o.prepare_spare_segment = false;  // the simulated file system stays single-threaded
  o.new_data_id = 0xd47a;
  return o;
}

snapshot make_snapshot(index_t index, std::size_t bytes) {
  std::string data(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>((index * 31 + i * 7) & 0xff);
  snapshot s;
  s.meta.last = {1, index};
  s.meta.config.voters = {1, 2, 3};
  s.meta.size = data.size();
  s.meta.crc = detail::crc32c(data.data(), data.size());
  s.data = snapshot_bytes(payload(data));
  return s;
}

std::string snapshot_path(const std::string& dir, index_t index) {
  char b[40];
  std::snprintf(b, sizeof b, "snap-%016llx.snap", static_cast<unsigned long long>(index));
  return dir + "/" + b;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(storage_holes)

BOOST_AUTO_TEST_CASE(stale_pages_of_a_torn_group_commit_never_meet_a_shorter_write) {
  // [issue 15 hole 4] A power loss during one multi-page group commit kept
  // its later pages and not its first. The restart cuts it; the node then
  // votes for 3 in term 5 with a shorter write, which lands where the torn
  // one began. Whatever follows, recovery must neither refuse the log nor
  // read the torn write's stale records as part of it.
  const std::uint64_t seed = hole4_seed();
  BOOST_TEST_MESSAGE("hole 4: seed " << seed << " tears W as [zeros][the rest of W]");
  log_model with_s = torn_group_commit(seed).acked;
  with_s.apply(shorter_write());

  BOOST_TEST_CONTEXT("the shorter write is acknowledged, then the power goes") {
    torn_group_commit d(seed);
    {
      std::vector<std::string> notes;
      wal l(d.fs, make_wal_options("/wal", hole4_segment, &notes));
      BOOST_TEST_REQUIRE(coraft::test::diff(l.open(), d.acked) == "");  // W is cut...
      BOOST_TEST_REQUIRE(notes.size() == 1u);                           // ...with a note
      BOOST_TEST(notes[0].find("torn tail in " + d.segment + " at offset " + std::to_string(d.at)) != std::string::npos,
                 notes[0]);
      l.append(shorter_write());  // synced: the vote for 3 may now be sent
    }
    d.fs.crash();
    if (const auto rs = open_or_report(d.fs)) {
      BOOST_TEST(coraft::test::diff(*rs, with_s) == "");
      BOOST_TEST(rs->state == (hard_state{5, 3}), "the acknowledged vote for 3 in term 5");
    }
  }

  BOOST_TEST_CONTEXT("the shorter write is torn too: its first page kept, the rest lost") {
    torn_group_commit d(seed);
    {
      wal l(d.fs, make_wal_options("/wal", hole4_segment));
      BOOST_TEST_REQUIRE(coraft::test::diff(l.open(), d.acked) == "");
      d.fs.crash_after(1);
      BOOST_CHECK_THROW(l.append(shorter_write()), sim_crash);
    }
    d.fs.crash(sim_file_system::torn(6));  // S's 6 bytes before the page boundary
    if (const auto rs = open_or_report(d.fs)) {
      // The acknowledged state, or that and the whole of S: never W, which
      // the first restart cut, back from its stale pages with its vote for
      // node 2 in term 5.
      const bool acked = coraft::test::diff(*rs, d.acked).empty();
      const bool whole = coraft::test::diff(*rs, with_s).empty();
      BOOST_TEST((acked || whole), "recovered hard state " << rs->state.current_term << "/" << rs->state.voted_for
                                                           << " with " << rs->log.size() << " entries; "
                                                           << coraft::test::diff(*rs, d.acked));
      BOOST_TEST(!(rs->state == (hard_state{5, 2})), "the cut write's vote for 2 came back");
    }
  }
}

BOOST_AUTO_TEST_CASE(what_open_returned_after_a_failed_sync_survives_a_power_loss) {
  // [issue 15 hole 5] An append's fsync fails as Linux fails it: EIO once,
  // the pages marked clean without reaching the disk. The node stops (the
  // error is fatal) and restarts without a power loss; open() finds the
  // append whole in the page cache and returns it, and the node acts on it
  // (a vote for 3 in term 3, acks through entry 7). A power loss now must
  // not take any of it: open() makes what it returns durable, and a plain
  // fsync would write nothing of those clean pages.
  sim_file_system fs(5);
  fs.create_dir("/wal");
  const log_write a{hard_state{2, 1}, {make_entry(2, 1, 200, 'a'), make_entry(2, 2, 200, 'b')}};
  log_write w;
  w.state = hard_state{3, 3};
  for (index_t i = 3; i <= 7; ++i) w.entries.push_back(make_entry(3, i, 1500, static_cast<char>('c' + i)));
  log_model returned;
  returned.apply(a);
  returned.apply(w);
  {
    wal l(fs, make_wal_options("/wal", 1 << 20));
    l.open();
    l.append(a);
    fs.fail_sync_after(0);
    try {
      l.append(w);
      BOOST_FAIL("the append returned although its sync failed");
    } catch (const boost::system::system_error& e) {
      BOOST_TEST(e.code() == boost::system::errc::io_error);
    }
    BOOST_TEST_REQUIRE(fs.failed_syncs() == 1u);
  }
  fs.close_all();  // the process exits; the page cache stays
  {
    wal l(fs, make_wal_options("/wal", 1 << 20));
    const recovered_state rs = l.open();
    BOOST_TEST_REQUIRE(coraft::test::diff(rs, returned) == "", "the restart reads the append from the page cache");
  }
  fs.crash();
  std::vector<std::string> notes;
  try {
    wal l(fs, make_wal_options("/wal", 1 << 20, &notes));
    const recovered_state rs = l.open();
    BOOST_TEST(coraft::test::diff(rs, returned) == "", "after the power loss");
    BOOST_TEST(rs.state == (hard_state{3, 3}), "the vote the node cast after the restart");
  } catch (const wal_corruption& e) {
    BOOST_ERROR("recovery refused the log after the power loss: " << e.what());
  }
}

BOOST_AUTO_TEST_CASE(a_damaged_newest_snapshot_behind_a_compacted_log_is_refused) {
  // [issue 15 hole 2] Snapshots at 10 and 20, the log compacted through 20.
  // The newest snapshot rots. The one before it is valid, but entries 11-20
  // were only in the damaged one: starting from snapshot 10 and a log from
  // 21 would be a node with less than it acknowledged (node start once took
  // that hole for an interrupted install and cleared the log). load()
  // refuses, naming the file and the fix: never back as the same voter.
  sim_file_system fs(2);
  {
    file_storage s(storage_options("/data"), fs.borrow());
    run(s.load());
    log_write lw;
    lw.state = hard_state{1, 1};
    for (index_t i = 1; i <= 30; ++i) lw.entries.push_back(make_entry(1, i, 50, 'e'));
    run(s.write(lw));
    run(s.save_snapshot(make_snapshot(10, 500)));
    run(s.save_snapshot(make_snapshot(20, 500)));
    log_write compact;
    compact.compact = log_id{1, 20};
    run(s.write(compact));
  }
  const std::string damaged = snapshot_path("/data", 20);
  fs.flip_bit(damaged, fs.contents(damaged).size() - 100, 2);  // in the data
  std::vector<std::string> notes;
  file_storage s(storage_options("/data", &notes), fs.borrow());
  try {
    const recovered_state rs = run(s.load());
    BOOST_ERROR("load() started with less than the node acknowledged: snapshot "
                << (rs.snap ? rs.snap->meta.last.index : 0) << " and a log after entry " << rs.base << " ("
                << rs.log.size() << " entries)");
  } catch (const data_dir_error& e) {
    const std::string what = e.what();
    for (const std::string& part : {damaged, std::string("does not verify"), std::string("entries 11..20"),
                                    std::string("--join"), std::string("learner"), std::string("promote")})
      BOOST_TEST(what.find(part) != std::string::npos, "'" << part << "' not in: " << what);
  }
}

BOOST_AUTO_TEST_CASE(a_new_data_directory_survives_a_power_loss_right_after_load) {
  // [issue 15 hole 7] load() creates the data directory, its meta file and
  // the first segment, syncing each file and the directory itself; a write
  // is acknowledged. The directory's own name lives in its parent: unless
  // the parent is synced too, a power loss takes the whole directory, and
  // the next start finds an empty one (a node that forgot its vote).
  sim_file_system fs(3);
  fs.strict_directories(true);
  fs.create_dir("/srv");
  fs.sync_dir("/");
  log_model model;
  {
    file_storage s(storage_options("/srv/data"), fs.borrow());
    run(s.load());
    const log_write lw{hard_state{1, 2}, {make_entry(1, 1, 30, 'x')}};
    run(s.write(lw));
    model.apply(lw);
  }
  fs.crash();
  BOOST_TEST(fs.has_file("/srv/data/coraft.meta"), "the directory and its meta file survived");
  file_storage s(storage_options("/srv/data"), fs.borrow());
  const recovered_state rs = run(s.load());
  BOOST_TEST(coraft::test::diff(rs, model) == "");
  BOOST_TEST(rs.state == (hard_state{1, 2}), "the acknowledged vote");
}

BOOST_AUTO_TEST_SUITE_END()
