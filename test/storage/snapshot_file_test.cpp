// snapshot_file_test.cpp — file_storage's snapshot files on the simulated
// file system: `snap-<index hex>.snap`, header + data CRC32C, written under
// snap.tmp, synced, renamed, the directory synced; load() returns the
// newest one that verifies (a corrupt or cut newest one is skipped with a
// note naming it), a leftover snap.tmp is ignored and removed, and only
// the newest two are kept. A crash at every operation of a save leaves
// either the old snapshot or the new one.
#include <boost/test/unit_test.hpp>

#include "storage_harness.hpp"

#include <coraft/detail/crc32c.hpp>
#include <coraft/file_storage.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace coraft;
using coraft::test::sim_crash;
using coraft::test::sim_file_system;

template <class T>
T run(asio::awaitable<T> task) {
  asio::io_context io;
  std::optional<T> result;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) result = std::move(v);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

void run(asio::awaitable<void> task) {
  asio::io_context io;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}

snapshot make_snapshot(index_t index, std::size_t bytes) {
  std::string data(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>((index * 31 + i * 7) & 0xff);
  snapshot s;
  s.meta.last = {index / 10 + 1, index};
  s.meta.config.voters = {1, 2, 3};
  s.meta.config.learners = {4};
  s.meta.size = data.size();
  s.meta.crc = detail::crc32c(data.data(), data.size());
  s.data = payload(data);
  return s;
}

std::string name_of(index_t index) {
  char b[40];
  std::snprintf(b, sizeof b, "snap-%016llx.snap", static_cast<unsigned long long>(index));
  return b;
}

struct snap_dir {
  sim_file_system fs{7};
  std::vector<std::string> notes;
  std::optional<file_storage> st;

  snap_dir() { reopen(); }
  void reopen() {
    st.reset();
    file_storage_options o;
    o.dir = "/data";
    o.id = 1;
    o.cluster_id = "alpha";
    o.segment_bytes = 8192;
    o.log = [this](const std::string& s) { notes.push_back(s); };
    o.prepare_spare_segment = false;  // a second thread would make crash points nondeterministic
    st.emplace(o, fs.borrow());
  }
  recovered_state load() { return run(st->load()); }
  void save(const snapshot& s) { run(st->save_snapshot(s)); }
  std::vector<std::string> snap_names() {
    std::vector<std::string> out;
    for (const auto& n : fs.names("/data"))
      if (n.rfind("snap", 0) == 0) out.push_back(n);
    return out;
  }
  bool noted(const std::string& part) {
    return std::any_of(notes.begin(), notes.end(), [&](const std::string& n) { return n.find(part) != std::string::npos; });
  }
};

bool same(const std::optional<snapshot>& got, const snapshot& want) {
  return got && got->meta == want.meta && got->data.view() == want.data.view();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(snapshot_files)

BOOST_FIXTURE_TEST_CASE(save_then_load_round_trips_meta_and_data, snap_dir) {
  BOOST_TEST(!load().snap.has_value(), "no snapshot yet");
  const snapshot s = make_snapshot(10, 5000);
  save(s);
  BOOST_TEST(snap_names() == std::vector<std::string>{name_of(10)});
  fs.crash();  // durable once save_snapshot returned
  reopen();
  BOOST_TEST(same(load().snap, s));
  // An empty snapshot is a snapshot too.
  const snapshot empty = make_snapshot(11, 0);
  save(empty);
  reopen();
  BOOST_TEST(same(load().snap, empty));
}

BOOST_FIXTURE_TEST_CASE(the_newest_is_loaded_and_only_two_are_kept, snap_dir) {
  load();
  const snapshot a = make_snapshot(10, 300), b = make_snapshot(20, 400), c = make_snapshot(300, 500);
  save(a);
  save(b);
  reopen();
  BOOST_TEST(same(load().snap, b));
  save(c);
  BOOST_TEST(snap_names() == (std::vector<std::string>{name_of(20), name_of(300)}));
  fs.crash();
  reopen();
  BOOST_TEST(same(load().snap, c), "index 0x12c sorts above 0x14 as a number");
}

BOOST_AUTO_TEST_CASE(a_damaged_newest_falls_back_to_the_previous_with_a_note) {
  struct damage {
    const char* what;
    std::function<void(sim_file_system&, const std::string&, std::size_t)> apply;
  };
  const std::vector<damage> cases = {
      {"bit flip in the header (term)", [](sim_file_system& fs, const std::string& p, std::size_t) { fs.flip_bit(p, 17, 3); }},
      {"bit flip in the header (data id)", [](sim_file_system& fs, const std::string& p, std::size_t) { fs.flip_bit(p, 9, 3); }},
      {"bit flip in the header CRC", [](sim_file_system& fs, const std::string& p, std::size_t size) {
         fs.flip_bit(p, fs.contents(p).size() - size - 1, 0);
       }},
      {"bit flip in the data", [](sim_file_system& fs, const std::string& p, std::size_t) {
         fs.flip_bit(p, fs.contents(p).size() - 5, 6);
       }},
      {"truncated data", [](sim_file_system& fs, const std::string& p, std::size_t) {
         fs.cut(p, fs.contents(p).size() - 100);
       }},
      {"truncated header", [](sim_file_system& fs, const std::string& p, std::size_t) { fs.cut(p, 30); }},
      {"empty file", [](sim_file_system& fs, const std::string& p, std::size_t) { fs.cut(p, 0); }},
      {"wrong magic", [](sim_file_system& fs, const std::string& p, std::size_t) { fs.flip_bit(p, 0, 1); }},
  };
  for (const auto& d : cases) {
    BOOST_TEST_CONTEXT(d.what) {
      snap_dir dir;
      dir.load();
      const snapshot old = make_snapshot(10, 700), newest = make_snapshot(20, 700);
      dir.save(old);
      dir.save(newest);
      d.apply(dir.fs, "/data/" + name_of(20), 700);
      dir.reopen();
      BOOST_TEST(same(dir.load().snap, old));
      BOOST_TEST(dir.noted(name_of(20)), "the skipped file is named in a note");
      BOOST_TEST(dir.noted("does not verify"));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(a_file_whose_name_disagrees_with_its_index_is_skipped, snap_dir) {
  load();
  const snapshot a = make_snapshot(10, 100), b = make_snapshot(20, 100);
  save(a);
  save(b);
  fs.rename("/data/" + name_of(20), "/data/" + name_of(30));
  fs.sync_dir("/data");
  reopen();
  BOOST_TEST(same(load().snap, a));
  BOOST_TEST(noted(name_of(30)));
}

BOOST_FIXTURE_TEST_CASE(a_leftover_tmp_file_is_ignored_and_removed, snap_dir) {
  load();
  const snapshot a = make_snapshot(10, 200);
  save(a);
  // What a crash mid-save leaves: a partial snap.tmp (durable, even).
  const auto f = fs.open("/data/snap.tmp", true);
  const std::string junk(123, 'j');
  fs.pwrite(f, junk.data(), junk.size(), 0);
  fs.sync(f);
  fs.close(f);
  fs.sync_dir("/data");
  reopen();
  BOOST_TEST(same(load().snap, a));
  const auto names = snap_names();
  BOOST_TEST((std::find(names.begin(), names.end(), "snap.tmp") == names.end()), "removed on load");
}

BOOST_AUTO_TEST_CASE(a_crash_at_every_operation_of_a_save_leaves_old_or_new) {
  const snapshot old = make_snapshot(10, 3000), next = make_snapshot(20, 3000), third = make_snapshot(30, 3000);
  for (std::uint64_t k = 1;; ++k) {
    snap_dir dir;
    dir.load();
    dir.save(old);
    dir.save(next);
    dir.fs.crash_after(k);
    bool crashed = false;
    try {
      dir.save(third);
    } catch (const sim_crash&) {
      crashed = true;
    }
    BOOST_TEST_CONTEXT("crash after operation " << k << " of the save") {
      dir.st.reset();
      dir.fs.clear_faults();
      dir.fs.crash(sim_file_system::torn_random());
      dir.reopen();
      const auto snap = dir.load().snap;
      BOOST_TEST_REQUIRE(snap.has_value());
      BOOST_TEST((same(snap, next) || same(snap, third)), "loaded index " << snap->meta.last.index);
      if (!crashed) BOOST_TEST(same(snap, third), "a save that returned is durable");
      const auto names = dir.snap_names();
      BOOST_TEST((std::find(names.begin(), names.end(), "snap.tmp") == names.end()));
    }
    if (!crashed) break;
  }
}

BOOST_AUTO_TEST_SUITE_END()
