// wal_crash_test.cpp — power loss at every write and sync point.
//
// A scripted history (appends, overwrites of a suffix, hard-state changes,
// 4 KiB segments so that it rolls several times) runs on the simulated file
// system, which stops after its K-th mutating operation, for every K. The
// crash either drops every unsynced byte or tears the last unsynced write at
// several lengths. After recovery:
//   - every write whose append() returned is there (durable on return);
//   - nothing is there that was never written, and the write in flight is
//     there whole or not at all (hard state and entries alike): a tear
//     that kept part of it, however long, leaves no trace [writes are
//     atomic: coraft/storage.hpp];
//   - recovery itself never refuses a crash's leftovers (no wal_corruption),
//     and the recovered log accepts the rest of the script: a later restart
//     finds the script's final state.
// Then recovery is crashed at each of its own operations (it cuts a torn
// tail) and must recover the same state again.
//
// Then group commits of several pages over larger segments, torn at any
// subset of their pages (a disk that reorders writes keeps later pages
// without earlier ones: [records][zeros][records of the write in flight],
// issue 15 hole 4). The restarted node goes on with other writes than the
// one cut (shorter or longer), and a second power loss, also with page
// tears, comes a few operations later: in the recovery's own rewrite, in
// the first write after the cut, or after it.
#include <boost/test/unit_test.hpp>

#include "storage_harness.hpp"

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace coraft;
using coraft::test::log_model;
using coraft::test::make_wal_options;
using coraft::test::records_of;
using coraft::test::segment_names;
using coraft::test::sim_crash;
using coraft::test::sim_file_system;
using coraft::test::write_generator;

constexpr std::uint64_t segment_bytes = 4096;

struct script {
  std::vector<log_write> writes;
  std::vector<log_model> after;  // after[k]: the model once k writes returned
};

script make_script(std::uint64_t seed, int n, std::size_t max_payload = 400) {
  script s;
  write_generator gen(seed, max_payload);
  log_model m;
  s.after.push_back(m);
  for (int i = 0; i < n; ++i) {
    s.writes.push_back(gen.next(m));
    m.apply(s.writes.back());
    s.after.push_back(m);
  }
  return s;
}

struct run_result {
  bool opened = false;    // the first open() returned
  std::size_t acked = 0;  // appends that returned
  std::optional<sim_crash> crash;
};

// Opens a WAL on `fs` and runs the writes from `from` on; stops at a crash.
run_result run(sim_file_system& fs, const std::vector<log_write>& writes, std::size_t from = 0,
               std::uint64_t seg_bytes = segment_bytes) {
  run_result r;
  try {
    wal w(fs, make_wal_options("/wal", seg_bytes));
    w.open();
    r.opened = true;
    for (std::size_t i = from; i < writes.size(); ++i) {
      w.append(writes[i]);
      ++r.acked;
    }
  } catch (const sim_crash& c) {
    r.crash = c;
  }
  return r;
}

// Whether `rs` is a state a crash during writes[k] may leave (see the header):
// the acknowledged state, or that and the whole write in flight.
std::string check_crash_state(const recovered_state& rs, const script& s, std::size_t k) {
  const log_model& before = s.after[k];
  if (!coraft::test::contiguous(rs)) return "entries are not contiguous from 1";
  if (k == s.writes.size()) return coraft::test::diff(rs, before);  // nothing in flight
  if (coraft::test::diff(rs, before) == "" || coraft::test::diff(rs, s.after[k + 1]) == "") return "";
  const log_write& w = s.writes[k];
  std::ostringstream os;
  os << "recovered " << rs.log.size() << " entries, neither the " << before.log.size()
     << " acknowledged (with their hard state) nor those and the whole write in flight (" << w.entries.size()
     << " entries from " << (w.entries.empty() ? 0 : w.entries.front().index) << "): part of a write survived; "
     << coraft::test::diff(rs, before);
  return os.str();
}

struct crash_case {
  std::string name;
  sim_file_system::crash_mode mode;
};

std::vector<crash_case> crash_cases() {
  // Tear lengths: nothing, one byte, a header but one byte, a whole header,
  // header and one byte of body, and a few seeded random lengths.
  return {{"drop unsynced", sim_file_system::drop_unsynced()},   {"tear keep 1", sim_file_system::torn(1)},
          {"tear keep 11", sim_file_system::torn(11)},           {"tear keep 12", sim_file_system::torn(12)},
          {"tear keep 13", sim_file_system::torn(13)},           {"tear keep 100", sim_file_system::torn(100)},
          {"tear keep 700", sim_file_system::torn(700)},         {"tear random", sim_file_system::torn_random()},
          {"tear random again", sim_file_system::torn_random()}, {"tear keep all", sim_file_system::torn(1u << 30)},
          {"tear pages", sim_file_system::torn_pages()},         {"tear pages again", sim_file_system::torn_pages()}};
}

// Whether a power loss left the last segment as [records][zeros][records]:
// the first page of the write in flight lost and a later page of it kept.
bool later_pages_without_the_first(sim_file_system& fs) {
  const auto names = segment_names(fs, "/wal");
  if (names.empty()) return false;
  const std::string path = "/wal/" + names.back();
  const std::vector<char> c = fs.contents(path);
  const auto recs = records_of(c);
  const std::uint64_t end = recs.empty() ? 0 : recs.back().offset + recs.back().bytes;
  if (end != fs.newest_write_offset(path) || end + wal::header_bytes >= c.size()) return false;
  return std::any_of(c.begin() + static_cast<std::ptrdiff_t>(end + wal::header_bytes), c.end(),
                     [](char x) { return x != 0; });
}

// "" when `rs` is `acked`, or `acked` and then the whole of `in_flight`.
std::string acked_or_with(const recovered_state& rs, const log_model& acked, const log_write* in_flight) {
  if (!coraft::test::contiguous(rs)) return "entries are not contiguous from 1";
  const std::string d = coraft::test::diff(rs, acked);
  if (d.empty() || in_flight == nullptr) return d;
  log_model whole = acked;
  whole.apply(*in_flight);
  if (coraft::test::diff(rs, whole).empty()) return "";
  return "neither the acknowledged state nor that and the whole write in flight: " + d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wal_crash)

BOOST_AUTO_TEST_CASE(crash_at_every_write_and_sync_point) {
  for (const std::uint64_t seed : {21u, 22u, 23u, 24u, 25u, 26u}) {
    const script s = make_script(seed, 45);
    // The number of mutating operations of the whole history, and a check
    // that the history rolls segments.
    std::uint64_t total_ops = 0;
    {
      sim_file_system fs(seed);
      fs.create_dir("/wal");
      const auto base = fs.mutations();
      const run_result r = run(fs, s.writes);
      BOOST_TEST_REQUIRE(r.acked == s.writes.size());
      total_ops = fs.mutations() - base;
      BOOST_TEST_REQUIRE(coraft::test::segment_names(fs, "/wal").size() >= 4u);
    }
    std::size_t torn_tails_cut = 0;
    for (std::uint64_t k = 1; k <= total_ops; ++k) {
      std::uint64_t case_no = 0;
      for (const crash_case& cc : crash_cases()) {
        BOOST_TEST_CONTEXT("seed " << seed << ", crash after operation " << k << " of " << total_ops << ", "
                                   << cc.name) {
          sim_file_system fs(seed * 1000 + k * 16 + case_no++);
          fs.create_dir("/wal");
          fs.crash_after(k);
          const run_result r = run(fs, s.writes);
          BOOST_TEST_REQUIRE(r.crash.has_value());
          const std::size_t k_acked = r.opened ? r.acked : 0;
          BOOST_TEST_CONTEXT("stopped after '" << r.crash->what << "' with " << k_acked << " writes acknowledged") {
            fs.crash(cc.mode);
            std::vector<std::string> notes;
            recovered_state rs;
            try {
              wal w(fs, make_wal_options("/wal", segment_bytes, &notes));
              rs = w.open();
            } catch (const wal_corruption& e) {
              BOOST_FAIL("recovery refused a crash's leftovers: " << e.what());
            }
            torn_tails_cut += notes.size();
            BOOST_TEST_REQUIRE(check_crash_state(rs, s, k_acked) == "");

            // Crash the recovery at each of its own operations (cutting a torn
            // tail writes and syncs): the next recovery finds the same state.
            sim_file_system::crash_mode again = sim_file_system::torn(5);
            for (std::uint64_t j = 1; !notes.empty() && j <= 4; ++j) {
              fs.crash_after(j);
              bool stopped = false;
              try {
                wal w(fs, make_wal_options("/wal", segment_bytes));
                w.open();
              } catch (const sim_crash&) {
                stopped = true;
              }
              fs.clear_faults();
              fs.crash(again);
              if (!stopped) break;
            }
            {
              wal w(fs, make_wal_options("/wal", segment_bytes));
              const recovered_state rs2 = w.open();
              BOOST_REQUIRE_MESSAGE(rs2.log == rs.log, "a crash during recovery changed the log");
              BOOST_TEST_REQUIRE(rs2.state == rs.state);
            }

            // The recovered WAL takes the rest of the history: redo the write
            // in flight (it overwrites whatever part of it was recovered),
            // then the others; a last restart finds the final model.
            fs.clear_faults();
            const run_result rest = run(fs, s.writes, k_acked);
            BOOST_TEST_REQUIRE(!rest.crash.has_value());
            wal w(fs, make_wal_options("/wal", segment_bytes));
            BOOST_TEST_REQUIRE(coraft::test::diff(w.open(), s.after.back()) == "");
          }
        }
      }
    }
    BOOST_TEST_MESSAGE("seed " << seed << ": " << total_ops << " crash points x " << crash_cases().size()
                               << " crash modes, " << torn_tails_cut << " torn tails cut");
    BOOST_TEST(torn_tails_cut > 0u);  // the torn cases really tore records
  }
}

BOOST_AUTO_TEST_CASE(a_write_in_flight_is_all_or_nothing) {
  // One big group commit (a hard state, 30 entries) torn at every length,
  // and at random pages: recovery finds the acknowledged log and hard
  // state, or all of the write — never a part of it (before this became
  // so, a tear kept a record-prefix: a new hard state without the entries
  // that came with it, or the first entries of a truncating write).
  write_generator gen(99, 120);
  log_model before;
  std::vector<log_write> writes;
  for (int i = 0; i < 3; ++i) {
    log_write w;
    for (int j = 0; j < 10; ++j) w.entries.push_back(gen.make_entry(1, before.last_index() + 1 + j));
    writes.push_back(w);
    before.apply(w);
  }
  log_write big{hard_state{2, 3}, {}};
  for (int j = 0; j < 30; ++j) big.entries.push_back(gen.make_entry(2, 21 + static_cast<index_t>(j)));
  writes.push_back(big);
  script s;
  s.writes = writes;
  log_model m;
  s.after.push_back(m);
  for (const auto& w : writes) {
    m.apply(w);
    s.after.push_back(m);
  }
  // The big write's pwrite is the second-to-last operation.
  std::uint64_t ops = 0;
  std::size_t write_bytes = 0;
  {
    sim_file_system fs(1);
    fs.create_dir("/wal");
    wal w(fs, make_wal_options("/wal", 1 << 20));
    w.open();
    for (std::size_t i = 0; i + 1 < writes.size(); ++i) w.append(writes[i]);
    const auto before_big = fs.contents("/wal/wal-0000000000000001.log");
    ops = fs.mutations();
    w.append(big);
    const auto after_big = fs.contents("/wal/wal-0000000000000001.log");
    std::size_t first = after_big.size();
    for (std::size_t i = 0; i < after_big.size(); ++i) {
      if (before_big[i] == after_big[i]) continue;
      first = std::min(first, i);
      write_bytes = i + 1 - first;
    }
  }
  BOOST_TEST_REQUIRE(write_bytes > 1000u);
  std::size_t whole = 0, none = 0;
  const auto check = [&](sim_file_system::crash_mode mode, std::uint64_t seed, const std::string& what) {
    BOOST_TEST_CONTEXT(what) {
      sim_file_system fs(seed);
      fs.create_dir("/wal");
      wal_options o = make_wal_options("/wal", 1 << 20);
      {
        wal w(fs, o);
        w.open();
        for (std::size_t i = 0; i + 1 < writes.size(); ++i) w.append(writes[i]);
        fs.crash_after(1);  // the pwrite of the big write
        BOOST_CHECK_THROW(w.append(big), sim_crash);
      }
      BOOST_TEST_REQUIRE(fs.mutations() == ops + 1);
      fs.crash(mode);
      wal w(fs, o);
      const recovered_state rs = w.open();
      BOOST_TEST_REQUIRE(check_crash_state(rs, s, 3) == "");
      ++(rs.log.size() == s.after[4].log.size() ? whole : none);
      return rs.log.size() == s.after[4].log.size();
    }
    return false;
  };
  for (std::size_t keep = 0; keep <= write_bytes + 7; keep += 7) {
    const bool kept = check(sim_file_system::torn(keep), 1, "keep " + std::to_string(keep) + " bytes of the write");
    BOOST_TEST(kept == (keep >= write_bytes), "keep " << keep << " of " << write_bytes << " bytes");
  }
  for (std::uint64_t seed = 1; seed <= 60; ++seed)
    check(sim_file_system::torn_pages(), seed, "random pages, seed " + std::to_string(seed));
  BOOST_TEST(whole > 0u);
  BOOST_TEST(none > 0u);
}

BOOST_AUTO_TEST_CASE(multi_page_writes_torn_at_any_pages_and_crashed_again_recover_whole_writes) {
  // [issue 15 hole 4] Group commits of up to four pages (payloads up to 2.5
  // KiB, 32 KiB segments) and a power loss after every operation that keeps
  // a seeded subset of the unsynced pages. The restarted node does not redo
  // the write that was cut (which would write the same bytes over its stale
  // pages): it goes on with other writes, as a node does when a new leader
  // sends other entries — shorter or longer than the cut one, maybe
  // overwriting what it had. A second power loss with page tears comes
  // 1-12 operations after the restart (in the recovery's rewrite of the
  // last segment, in the first write after the cut, or later). Every
  // recovery accepts what it finds (never a refusal: the stale records of
  // a cut write must never meet a later write) and returns the
  // acknowledged state or that and the whole write in flight; what the
  // first recovery returned is never lost; the log then goes on.
  constexpr std::uint64_t seg = 32 * 1024;
  std::size_t first_page_lost = 0;
  std::size_t cases = 0;
  for (const std::uint64_t seed : {41u, 42u, 43u}) {
    const script s = make_script(seed, 28, 2500);
    std::uint64_t total_ops = 0;
    {
      sim_file_system fs(seed);
      fs.create_dir("/wal");
      const run_result r = run(fs, s.writes, 0, seg);
      BOOST_TEST_REQUIRE(r.acked == s.writes.size());
      total_ops = fs.mutations() - 1;  // the create_dir
      BOOST_TEST_REQUIRE(segment_names(fs, "/wal").size() >= 3u);
    }
    for (std::uint64_t k = 1; k <= total_ops; ++k) {
      for (std::uint64_t t = 0; t < 4; ++t) {
        const std::uint64_t j = 1 + (k * 7 + t * 5) % 12;
        BOOST_TEST_CONTEXT("seed " << seed << ", power loss after operation " << k << " of " << total_ops << " (tear "
                                   << t << "), then " << j << " operations after the restart") {
          ++cases;
          sim_file_system fs(seed * 100000 + k * 4 + t);
          fs.create_dir("/wal");
          fs.crash_after(k);
          const run_result r = run(fs, s.writes, 0, seg);
          BOOST_TEST_REQUIRE(r.crash.has_value());
          const std::size_t k_acked = r.opened ? r.acked : 0;
          const log_write* cut = k_acked < s.writes.size() ? &s.writes[k_acked] : nullptr;
          fs.crash(sim_file_system::torn_pages());
          if (later_pages_without_the_first(fs)) ++first_page_lost;

          // Restart, and go on with other writes until the second power loss.
          fs.crash_after(j);
          std::optional<log_model> recovered;  // what the first recovery returned, if it finished
          std::vector<log_write> next;         // the writes after it...
          std::vector<log_model> after_next;   // ...and the model once each returned
          std::size_t acked = 0;               // how many of them returned
          try {
            wal w(fs, make_wal_options("/wal", seg));
            const recovered_state rs = w.open();
            BOOST_TEST_REQUIRE(acked_or_with(rs, s.after[k_acked], cut) == "");
            recovered = coraft::test::diff(rs, s.after[k_acked]).empty() ? s.after[k_acked] : s.after[k_acked + 1];
            write_generator gen(seed * 7919 + k * 4 + t, 2500);
            after_next.push_back(*recovered);
            for (int i = 0; i < 6; ++i) {
              next.push_back(gen.next(after_next.back()));
              after_next.push_back(after_next.back());
              after_next.back().apply(next.back());
            }
            for (; acked < next.size(); ++acked) w.append(next[acked]);
          } catch (const sim_crash&) {
          } catch (const wal_corruption& e) {
            BOOST_FAIL("the first recovery refused a power loss's leftovers: " << e.what());
          }
          fs.clear_faults();
          fs.crash(sim_file_system::torn_pages());

          BOOST_TEST_CONTEXT((recovered ? "after the restart " : "during the first recovery, ")
                             << acked << " writes were acknowledged") {
            log_model now;  // what the second recovery returned
            try {
              wal w(fs, make_wal_options("/wal", seg));
              const recovered_state rs = w.open();
              if (recovered) {
                const log_write* in_flight = acked < next.size() ? &next[acked] : nullptr;
                BOOST_TEST_REQUIRE(acked_or_with(rs, after_next[acked], in_flight) == "");
                now = coraft::test::diff(rs, after_next[acked]).empty() ? after_next[acked] : after_next[acked + 1];
              } else {  // the first recovery never returned: nobody acted on it
                BOOST_TEST_REQUIRE(acked_or_with(rs, s.after[k_acked], cut) == "");
                now = coraft::test::diff(rs, s.after[k_acked]).empty() ? s.after[k_acked] : s.after[k_acked + 1];
              }
              // The log goes on from there and survives a last restart.
              write_generator gen(seed * 104729 + k * 4 + t, 2500);
              for (int i = 0; i < 2; ++i) {
                const log_write lw = gen.next(now);
                w.append(lw);
                now.apply(lw);
              }
            } catch (const wal_corruption& e) {
              BOOST_FAIL("the second recovery refused a healthy log: " << e.what());
            }
            fs.crash();
            try {
              wal w(fs, make_wal_options("/wal", seg));
              BOOST_TEST_REQUIRE(coraft::test::diff(w.open(), now) == "");
            } catch (const wal_corruption& e) {
              BOOST_FAIL("the last recovery refused a healthy log: " << e.what());
            }
          }
        }
      }
    }
  }
  BOOST_TEST_MESSAGE(cases << " double power losses, " << first_page_lost
                           << " of them first left [records][zeros][later pages of the write in flight]");
  BOOST_TEST(first_page_lost > 0u);  // the tears reached hole 4's shape
}

BOOST_AUTO_TEST_SUITE_END()
