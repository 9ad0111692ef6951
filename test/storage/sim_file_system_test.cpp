// sim_file_system_test.cpp — the simulated file system keeps the durability
// contract of coraft/file_system.hpp, so that the crash tests built on it
// test the WAL and not a too-kind model: unsynced bytes and unsynced names
// are lost in a crash, a torn write keeps a prefix, faults fire exactly
// where they were armed.
#define BOOST_TEST_MODULE coraft_storage
#include <boost/test/unit_test.hpp>

#include "support/sim_file_system.hpp"

#include <string>
#include <vector>

namespace {

using coraft::test::sim_crash;
using coraft::test::sim_file_system;

std::vector<char> bytes(const std::string& s) { return {s.begin(), s.end()}; }

// A directory with one durable file "/d/f" holding "durable".
struct fs_with_file {
  sim_file_system fs{7};
  fs_with_file() {
    fs.create_dir("/d");
    const auto f = fs.open("/d/f", true);
    fs.pwrite(f, "durable", 7, 0);
    fs.sync(f);
    fs.sync_dir("/d");
    fs.close(f);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sim_file_system_model)

BOOST_FIXTURE_TEST_CASE(bytes_survive_a_crash_only_after_sync, fs_with_file) {
  // "bytes written with pwrite() survive a crash only after sync()"
  const auto f = fs.open("/d/f", false);
  fs.pwrite(f, "DUR", 3, 0);
  fs.pwrite(f, "+tail", 5, 7);
  BOOST_TEST(fs.contents("/d/f") == bytes("DURable+tail"));  // reads see current bytes
  fs.crash(sim_file_system::drop_unsynced());
  BOOST_TEST(fs.contents("/d/f") == bytes("durable"));

  const auto g = fs.open("/d/f", false);
  fs.pwrite(g, "DUR", 3, 0);
  fs.sync(g);
  fs.crash(sim_file_system::drop_unsynced());
  BOOST_TEST(fs.contents("/d/f") == bytes("DURable"));
}

BOOST_FIXTURE_TEST_CASE(names_survive_a_crash_only_after_sync_dir, fs_with_file) {
  // "a created, renamed or removed name survives only after sync_dir()"
  const auto n = fs.open("/d/new", true);
  fs.pwrite(n, "x", 1, 0);
  fs.sync(n);  // the bytes are durable, the name is not
  fs.rename("/d/f", "/d/g");
  BOOST_TEST(fs.exists("/d/g"));
  BOOST_TEST(!fs.exists("/d/f"));
  fs.crash();
  BOOST_TEST(fs.names("/d") == std::vector<std::string>{"f"});

  fs.rename("/d/f", "/d/g");
  fs.sync_dir("/d");
  fs.remove("/d/g");
  fs.crash();
  BOOST_TEST(fs.names("/d") == std::vector<std::string>{"g"});
  BOOST_TEST(fs.contents("/d/g") == bytes("durable"));
}

BOOST_FIXTURE_TEST_CASE(a_torn_write_keeps_a_prefix_of_the_last_unsynced_pwrite, fs_with_file) {
  const auto f = fs.open("/d/f", false);
  fs.pwrite(f, "0123456789", 10, 7);
  BOOST_TEST(fs.crash(sim_file_system::torn(4)) == 4u);
  BOOST_TEST(fs.contents("/d/f") == bytes("durable0123"));

  // A random tear is deterministic for a seed and never longer than the write.
  std::vector<std::size_t> kept;
  for (int run = 0; run < 2; ++run) {
    sim_file_system s(42);
    s.create_dir("/d");
    s.close(s.open("/d/f", true));
    s.sync_dir("/d");
    for (int i = 0; i < 5; ++i) {
      const auto h = s.open("/d/f", false);  // handles do not survive a crash
      s.pwrite(h, "abcdefgh", 8, 0);
      const std::size_t k = s.crash(sim_file_system::torn_random());
      BOOST_TEST(k <= 8u);
      if (run == 0) kept.push_back(k);
      else BOOST_TEST(k == kept[static_cast<std::size_t>(i)]);
      s.cut("/d/f", 0);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(crash_after_k_stops_right_after_the_kth_mutation, fs_with_file) {
  const auto f = fs.open("/d/f", false);
  fs.crash_after(2);
  fs.pwrite(f, "A", 1, 0);  // 1
  bool crashed = false;
  try {
    fs.pwrite(f, "B", 1, 1);  // 2: takes effect, then the power goes
  } catch (const sim_crash& c) {
    crashed = true;
    BOOST_TEST(c.what == "pwrite /d/f");
  }
  BOOST_TEST(crashed);
  BOOST_TEST(fs.crashed());
  BOOST_CHECK_THROW(fs.sync(f), sim_crash);  // nothing runs on a dead machine
  fs.crash(sim_file_system::torn(1));
  BOOST_TEST(fs.contents("/d/f") == bytes("dBrable"));  // the last write, torn to 1 byte
  BOOST_TEST(fs.ops().back() == "pwrite /d/f");
}

BOOST_FIXTURE_TEST_CASE(fail_after_k_fails_every_later_mutation_without_effect, fs_with_file) {
  const auto f = fs.open("/d/f", false);
  fs.fail_after(1);
  fs.pwrite(f, "X", 1, 0);
  try {
    fs.pwrite(f, "Y", 1, 1);
    BOOST_FAIL("the second pwrite should fail");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST(e.code() == boost::system::errc::io_error);
  }
  BOOST_CHECK_THROW(fs.sync(f), boost::system::system_error);
  BOOST_TEST(fs.contents("/d/f") == bytes("Xurable"));
  fs.clear_faults();
  fs.sync(f);
}

BOOST_FIXTURE_TEST_CASE(capacity_gives_enospc_when_files_would_grow_past_it, fs_with_file) {
  fs.set_capacity(16);
  const auto f = fs.open("/d/f", false);
  fs.pwrite(f, "0123456789abcdef", 16, 0);  // grows to 16 bytes: fits
  try {
    fs.zero_fill(f, 17);
    BOOST_FAIL("zero_fill past the capacity should fail");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST(e.code() == boost::system::errc::no_space_on_device);
  }
  BOOST_TEST(fs.contents("/d/f").size() == 16u);
}

BOOST_AUTO_TEST_SUITE_END()
