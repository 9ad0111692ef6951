// wal_test.cpp — the write-ahead log without crashes: what append() wrote, a
// new wal opened on the same files recovers, exactly as the model says
// (truncate-then-append, newest hard state); errors of the file system reach
// the caller as boost::system::system_error.
#include <boost/test/unit_test.hpp>

#include "storage_harness.hpp"

#include <coraft/wal.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace coraft;
using coraft::test::log_model;
using coraft::test::make_wal_options;
using coraft::test::segment_names;
using coraft::test::sim_file_system;
using coraft::test::write_generator;

// A fresh simulated disk with the WAL directory.
struct wal_disk {
  sim_file_system fs{1};
  wal_disk() { fs.create_dir("/wal"); }
  recovered_state reopen(std::uint64_t segment_bytes = 4096) {
    wal w(fs, make_wal_options("/wal", segment_bytes));
    return w.open();
  }
};

entry make(term_t term, index_t index, std::string data) {
  entry e;
  e.term = term;
  e.index = index;
  e.data = payload(data);
  return e;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wal_round_trip)

BOOST_FIXTURE_TEST_CASE(appends_truncations_and_hard_states_survive_a_reopen, wal_disk) {
  // 300 group commits from a seeded generator (appends, overwrites of a
  // suffix, hard-state changes) through 4 KiB segments, so that the log
  // spans many segment rolls; a new wal on the same files recovers the model.
  log_model model;
  write_generator gen(11);
  {
    wal w(fs, make_wal_options("/wal", 4096));
    const recovered_state empty = w.open();
    BOOST_TEST(empty.log.empty());
    BOOST_TEST(empty.state == hard_state{});
    for (int i = 0; i < 300; ++i) {
      const log_write lw = gen.next(model);
      w.append(lw);
      model.apply(lw);
      BOOST_TEST_REQUIRE(w.last_index() == model.last_index());
    }
    BOOST_TEST(w.stats().segments > 5u);
    BOOST_TEST(w.stats().segments == segment_names(fs, "/wal").size());
  }
  const recovered_state rs = reopen();
  BOOST_TEST(coraft::test::diff(rs, model) == "");
  BOOST_TEST(coraft::test::contiguous(rs));
}

BOOST_FIXTURE_TEST_CASE(a_story_of_two_leaders, wal_disk) {
  // A follower takes entries 1..3 from the leader of term 1, votes for node 2
  // in term 2, and node 2 overwrites 3 with its own entry: after a restart
  // the follower has 1, 2 from term 1, 3 from term 2 and remembers its vote.
  {
    wal w(fs, make_wal_options("/wal", 4096));
    w.open();
    w.append({hard_state{1, 0}, {make(1, 1, "a"), make(1, 2, "b"), make(1, 3, "c")}});
    w.append({hard_state{2, 2}, {}});
    w.append({std::nullopt, {make(2, 3, "C"), make(2, 4, "D")}});
  }
  const recovered_state rs = reopen();
  BOOST_TEST(rs.state == (hard_state{2, 2}));
  BOOST_TEST_REQUIRE(rs.log.size() == 4u);
  BOOST_TEST(rs.log[1] == make(1, 2, "b"));
  BOOST_TEST(rs.log[2] == make(2, 3, "C"));
  BOOST_TEST(rs.log[3] == make(2, 4, "D"));
}

BOOST_FIXTURE_TEST_CASE(an_empty_write_touches_nothing_and_a_hole_is_refused, wal_disk) {
  wal w(fs, make_wal_options("/wal", 4096));
  w.open();
  w.append({std::nullopt, {make(1, 1, "x")}});
  const auto before = fs.mutations();
  w.append({});
  BOOST_TEST(fs.mutations() == before);
  // "an entry's index is always the next one"
  BOOST_CHECK_THROW(w.append({std::nullopt, {make(1, 3, "hole")}}), std::logic_error);
  BOOST_TEST(w.last_index() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_group_commit_is_one_write_and_one_sync, wal_disk) {
  // "append() returns only after one write and one sync" (no roll here).
  wal w(fs, make_wal_options("/wal", 1 << 20));
  w.open();
  const auto ops_before = fs.ops().size();
  w.append({hard_state{3, 1}, {make(3, 1, "a"), make(3, 2, "b")}});
  const auto ops = fs.ops();
  BOOST_TEST_REQUIRE(ops.size() == ops_before + 2);
  BOOST_TEST(ops[ops_before].rfind("pwrite ", 0) == 0u, ops[ops_before]);
  BOOST_TEST(ops[ops_before + 1].rfind("sync ", 0) == 0u, ops[ops_before + 1]);
}

BOOST_AUTO_TEST_CASE(random_histories_with_restarts_match_the_model) {
  // 400 seeds: writes, and now and then a restart — a clean one, or a power
  // loss (nothing is unsynced between appends, so nothing may be lost) —
  // with segment sizes from 1 KiB (records larger than a segment) to 16 KiB.
  for (std::uint64_t seed = 1; seed <= 400; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      sim_file_system fs(seed);
      fs.create_dir("/wal");
      write_generator gen(seed, seed % 3 == 0 ? 1500 : 200);
      const std::uint64_t segment_bytes = std::uint64_t{1024} << (seed % 5);
      log_model model;
      std::optional<wal> w;
      auto restart = [&](bool power_loss) {
        w.reset();
        if (power_loss) fs.crash(sim_file_system::torn_random());
        w.emplace(fs, make_wal_options("/wal", segment_bytes));
        const recovered_state rs = w->open();
        BOOST_TEST_REQUIRE(coraft::test::diff(rs, model) == "");
        BOOST_TEST_REQUIRE(coraft::test::contiguous(rs));
        BOOST_TEST_REQUIRE(w->last_index() == model.last_index());
      };
      restart(false);
      for (int step = 0; step < 80; ++step) {
        const int dice = gen.pick(0, 19);
        if (dice == 0) {
          restart(false);
        } else if (dice == 1) {
          restart(true);
        } else {
          const log_write lw = gen.next(model);
          w->append(lw);
          model.apply(lw);
        }
      }
      restart(true);
    }
  }
}

BOOST_AUTO_TEST_CASE(recovers_100k_entries) {
  // Correctness at size (speed is measured by the benchmarks): 100,000
  // entries in 1,000 group commits over 1 MiB segments, with a hard-state
  // change every 100 commits, recover entry for entry.
  sim_file_system fs(5);
  fs.create_dir("/wal");
  log_model model;
  {
    wal w(fs, make_wal_options("/wal", 1 << 20));
    w.open();
    for (index_t batch = 0; batch < 1000; ++batch) {
      log_write lw;
      if (batch % 100 == 0) lw.state = hard_state{batch / 100 + 1, batch % 3};
      for (index_t i = 1; i <= 100; ++i) {
        const index_t index = batch * 100 + i;
        lw.entries.push_back(make(batch / 100 + 1, index, "value-" + std::to_string(index * 7919)));
      }
      w.append(lw);
      model.apply(lw);
    }
    BOOST_TEST(w.stats().segments >= 4u);
  }
  fs.crash();
  wal w(fs, make_wal_options("/wal", 1 << 20));
  const recovered_state rs = w.open();
  BOOST_TEST_REQUIRE(rs.log.size() == 100000u);
  BOOST_TEST(coraft::test::diff(rs, model) == "");
  BOOST_TEST(coraft::test::contiguous(rs));
  BOOST_TEST(rs.log.back().data.str() == "value-" + std::to_string(100000ull * 7919));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(wal_errors)

BOOST_FIXTURE_TEST_CASE(eio_during_append_throws_system_error, wal_disk) {
  // Every mutating operation of an append fails in turn (the write, then the
  // sync): append throws boost::system::system_error carrying EIO, never
  // returns as if the write were durable; the entries acknowledged before
  // the fault survive a restart.
  for (std::uint64_t k = 0; k < 2; ++k) {
    BOOST_TEST_CONTEXT("fault at operation " << k + 1 << " of the append") {
      sim_file_system disk(3);
      disk.create_dir("/wal");
      {
        wal w(disk, make_wal_options("/wal", 1 << 20));
        w.open();
        w.append({hard_state{1, 1}, {make(1, 1, "acknowledged")}});
        disk.fail_after(k, EIO);
        try {
          w.append({std::nullopt, {make(1, 2, "lost")}});
          BOOST_FAIL("append returned although the disk failed");
        } catch (const boost::system::system_error& e) {
          BOOST_TEST(e.code() == boost::system::errc::io_error);
        }
      }
      disk.clear_faults();
      disk.crash();
      wal w(disk, make_wal_options("/wal", 1 << 20));
      const recovered_state rs = w.open();
      BOOST_TEST_REQUIRE(rs.log.size() == 1u);
      BOOST_TEST(rs.log[0] == make(1, 1, "acknowledged"));
      BOOST_TEST(rs.state == (hard_state{1, 1}));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(eio_at_every_operation_of_a_rolling_append, wal_disk) {
  // An append that rolls the segment does 11 operations (write the old
  // segment's seal, sync it, remove the stale temporary file, create it, zero
  // fill, write the header, sync, rename, sync the directory, write the
  // records, sync); a fault at any one of them
  // is reported, and nothing acknowledged is lost. The failed append itself
  // may or may not be found by a restart (its write may have reached the
  // page cache), but never in part.
  for (std::uint64_t k = 0; k <= 11; ++k) {
    BOOST_TEST_CONTEXT("fault after " << k << " operations of the rolling append") {
      sim_file_system disk(3);
      disk.create_dir("/wal");
      log_model model;
      log_model with_second;
      bool threw = false;
      {
        wal w(disk, make_wal_options("/wal", 1024));
        w.open();
        const log_write first{hard_state{1, 1}, {make(1, 1, std::string(700, 'a'))}};
        w.append(first);
        model.apply(first);
        with_second = model;
        const log_write second{std::nullopt, {make(1, 2, std::string(700, 'b'))}};
        with_second.apply(second);
        disk.fail_after(k, EIO);
        try {
          w.append(second);  // does not fit: rolls to segment 2
          model = with_second;
        } catch (const boost::system::system_error& e) {
          threw = true;
          BOOST_TEST(e.code() == boost::system::errc::io_error);
        }
      }
      disk.clear_faults();
      // Restart without a power loss, then with one.
      auto check = [&](const recovered_state& rs) {
        BOOST_CHECK_MESSAGE(coraft::test::diff(rs, model) == "" || coraft::test::diff(rs, with_second) == "",
                            coraft::test::diff(rs, model));
      };
      {
        wal w(disk, make_wal_options("/wal", 1024));
        check(w.open());
      }
      disk.crash();
      wal w(disk, make_wal_options("/wal", 1024));
      check(w.open());
      BOOST_TEST(threw == (k < 11));  // with 11 operations allowed, the append completes
    }
  }
}

BOOST_FIXTURE_TEST_CASE(a_full_disk_fails_the_roll_with_enospc_and_loses_nothing, wal_disk) {
  // The disk holds one 4 KiB segment and a little: the append that needs a
  // second segment gets ENOSPC from the zero fill. After a restart (which
  // removes the unfinished wal.tmp) everything acknowledged is there, and
  // once space is freed the log goes on.
  fs.set_capacity(4096 + 1000);
  log_model model;
  std::size_t acknowledged = 0;
  {
    wal w(fs, make_wal_options("/wal", 4096));
    w.open();
    try {
      for (index_t i = 1; i <= 100; ++i) {
        const log_write lw{std::nullopt, {make(1, i, std::string(100, 'x'))}};
        w.append(lw);
        model.apply(lw);
        ++acknowledged;
      }
      BOOST_FAIL("the disk never filled up");
    } catch (const boost::system::system_error& e) {
      BOOST_TEST(e.code() == boost::system::errc::no_space_on_device);
    }
  }
  BOOST_TEST(acknowledged > 20u);
  fs.set_capacity(std::nullopt);
  {
    wal w(fs, make_wal_options("/wal", 4096));
    BOOST_TEST(coraft::test::diff(w.open(), model) == "");
    const auto names = fs.names("/wal");
    BOOST_TEST((std::find(names.begin(), names.end(), "wal.tmp") == names.end()));
    const log_write more{hard_state{2, 0}, {make(2, model.last_index() + 1, "after")}};
    w.append(more);
    model.apply(more);
  }
  fs.crash();
  wal w(fs, make_wal_options("/wal", 4096));
  BOOST_TEST(coraft::test::diff(w.open(), model) == "");
}

BOOST_FIXTURE_TEST_CASE(a_missing_segment_is_refused, wal_disk) {
  // Segments 1, 2, 3 with 2 deleted: the log would have a hole.
  {
    wal w(fs, make_wal_options("/wal", 1024));
    w.open();
    for (index_t i = 1; i <= 6; ++i) w.append({std::nullopt, {make(1, i, std::string(500, 'z'))}});
  }
  auto names = segment_names(fs, "/wal");
  BOOST_TEST_REQUIRE(names.size() >= 3u);
  fs.remove("/wal/" + names[1]);
  fs.sync_dir("/wal");
  wal w(fs, make_wal_options("/wal", 1024));
  try {
    w.open();
    BOOST_FAIL("opened a log with a missing segment");
  } catch (const wal_corruption& e) {
    BOOST_TEST(e.file == "/wal/" + names[2]);
    BOOST_TEST(std::string(e.what()).find(names[2]) != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
