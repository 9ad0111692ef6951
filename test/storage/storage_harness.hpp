// storage_harness.hpp — what the storage tests share: the model of a log
// (truncate-then-append, as coraft::memory_storage does it), a seeded
// generator of valid log_writes, a reader of the documented WAL record
// framing (coraft/wal.hpp) to aim corruption at records, and printers.
#pragma once

#include <coraft/storage.hpp>
#include <coraft/wal.hpp>

#include "support/sim_file_system.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace coraft {
inline std::ostream& boost_test_print_type(std::ostream& os, const hard_state& hs) {
  return os << "{term " << hs.current_term << ", voted_for " << hs.voted_for << "}";
}
inline std::ostream& boost_test_print_type(std::ostream& os, const entry& e) {
  return os << "{" << e.term << "/" << e.index << " type " << static_cast<int>(e.type) << " " << e.data.size()
            << " bytes}";
}
}  // namespace coraft

namespace coraft::test {

// The model: what a restarted node must find after these writes returned.
struct log_model {
  hard_state state;
  std::vector<entry> log;

  void apply(const log_write& w) {
    if (!w.entries.empty()) {
      log.resize(w.entries.front().index - 1);  // truncate, then append: one step
      log.insert(log.end(), w.entries.begin(), w.entries.end());
    }
    if (w.state) state = *w.state;
  }
  index_t last_index() const { return log.size(); }
  term_t last_term() const { return log.empty() ? 0 : log.back().term; }
};

// Describes the first difference between a recovered state and the model,
// or returns "" when they are equal.
inline std::string diff(const recovered_state& got, const log_model& want) {
  std::ostringstream os;
  if (!(got.state == want.state))
    os << "hard state {" << got.state.current_term << "," << got.state.voted_for << "} != model {"
       << want.state.current_term << "," << want.state.voted_for << "}; ";
  if (got.log.size() != want.log.size())
    os << "log has " << got.log.size() << " entries, model " << want.log.size() << "; ";
  for (std::size_t i = 0; i < std::min(got.log.size(), want.log.size()); ++i) {
    if (!(got.log[i] == want.log[i])) {
      os << "entry at position " << i + 1 << " differs (got " << got.log[i].term << "/" << got.log[i].index << ", "
         << got.log[i].data.size() << " bytes; model " << want.log[i].term << "/" << want.log[i].index << ", "
         << want.log[i].data.size() << " bytes); ";
      break;
    }
  }
  return os.str();
}

// Entries are numbered 1, 2, 3... without a hole.
inline bool contiguous(const recovered_state& rs) {
  for (std::size_t i = 0; i < rs.log.size(); ++i)
    if (rs.log[i].index != i + 1) return false;
  return true;
}

// Seeded generator of valid writes against a model: appends, overwrites of a
// suffix (a new leader's conflicting entries), hard-state changes alone or
// with entries. Payloads include empty ones and ones full of zero bytes.
class write_generator {
 public:
  explicit write_generator(std::uint64_t seed, std::size_t max_payload = 300) : rng_(seed), max_payload_(max_payload) {}

  log_write next(const log_model& m) {
    log_write w;
    const int kind = pick(0, 9);
    if (kind <= 1 || m.log.empty() || kind == 9) {
      // hard state change: a higher term, maybe a vote
      term_ = std::max(term_, m.state.current_term) + static_cast<term_t>(pick(0, 1));
      if (term_ == m.state.current_term && m.state.voted_for != no_node) term_ += 1;
      w.state = hard_state{term_, static_cast<node_id>(pick(0, 5))};
      if (kind <= 1) return w;
    }
    index_t first = m.last_index() + 1;
    if (kind >= 7 && !m.log.empty())  // overwrite a suffix
      first = static_cast<index_t>(pick(1, static_cast<int>(m.last_index())));
    term_ = std::max({term_, m.state.current_term, first > 1 ? m.log[first - 2].term : 0});
    const int n = pick(1, 6);
    for (int i = 0; i < n; ++i) w.entries.push_back(make_entry(term_, first + static_cast<index_t>(i)));
    return w;
  }

  entry make_entry(term_t term, index_t index) {
    entry e;
    e.term = term;
    e.index = index;
    e.type = static_cast<entry_type>(pick(0, 2));
    const int len = pick(0, static_cast<int>(max_payload_));
    std::string data(static_cast<std::size_t>(len), '\0');
    const bool zeros = pick(0, 7) == 0;  // a payload of zero bytes must not read as "end of log"
    for (char& c : data) c = zeros ? '\0' : static_cast<char>(pick(0, 255));
    e.data = payload(data);
    return e;
  }

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
  std::size_t max_payload_;
  term_t term_ = 1;
};

// One record as framed on disk (coraft/wal.hpp): [u32 len][u32 crc][u8 type][3 zero][body].
struct record_span {
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;  // header + body
  std::uint8_t type = 0;
};

// Walks the written part of a segment (until a zero header or the end).
inline std::vector<record_span> records_of(const std::vector<char>& seg) {
  std::vector<record_span> out;
  std::uint64_t off = 0;
  while (off + wal::header_bytes <= seg.size()) {
    bool zero = true;
    for (std::size_t i = 0; i < wal::header_bytes; ++i) zero = zero && seg[off + i] == 0;
    if (zero) break;
    std::uint32_t len = 0;
    for (int i = 0; i < 4; ++i)
      len |= static_cast<std::uint32_t>(static_cast<unsigned char>(seg[off + static_cast<std::uint64_t>(i)]))
             << (8 * i);
    out.push_back({off, wal::header_bytes + len, static_cast<std::uint8_t>(seg[off + 8])});
    off += wal::header_bytes + len;
  }
  return out;
}

inline std::vector<std::string> segment_names(sim_file_system& fs, const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& n : fs.names(dir))
    if (n.rfind("wal-", 0) == 0) out.push_back(n);
  return out;  // sorted: names() is sorted and the sequence is fixed-width hex
}

// WAL options whose recovery notes are kept (for assertions), not printed.
inline wal_options make_wal_options(const std::string& dir, std::uint64_t segment_bytes,
                                    std::vector<std::string>* notes = nullptr) {
  wal_options o;
  o.dir = dir;
  o.segment_bytes = segment_bytes;
  o.log = [notes](const std::string& s) {
    if (notes != nullptr) notes->push_back(s);
  };
  return o;
}

}  // namespace coraft::test

namespace coraft::test {

// The model of a log that can be compacted and reset by a snapshot (as
// coraft::memory_storage does it): entries base+1 .. base+log.size().
struct base_model {
  hard_state state;
  index_t base = 0;
  std::vector<entry> log;

  void apply(const log_write& w) {
    if (w.reset) {
      log.clear();
      base = w.reset->index;
    }
    if (w.compact && w.compact->index > base) {
      const index_t drop = std::min<index_t>(w.compact->index - base, log.size());
      log.erase(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(drop));
      base = w.compact->index;
    }
    if (w.state) state = *w.state;
    if (!w.entries.empty()) {
      log.resize(w.entries.front().index - 1 - base);
      log.insert(log.end(), w.entries.begin(), w.entries.end());
    }
  }
  index_t last_index() const { return base + log.size(); }
  term_t term_at(index_t i) const { return i > base && i <= last_index() ? log[i - base - 1].term : 0; }
};

// "" when `got` holds exactly the model's hard state and entries.
inline std::string diff(const recovered_state& got, const base_model& want) {
  log_model m;
  m.state = want.state;
  m.log = want.log;
  std::string d = diff(got, m);
  if (d.empty() && !got.log.empty() && got.log.front().index != want.base + 1)
    d = "log starts at " + std::to_string(got.log.front().index) + ", model after " + std::to_string(want.base);
  return d;
}

// Seeded writes against a base_model: appends, overwrites of a suffix,
// hard-state changes, compactions (through an index in the log, alone or
// followed by an append) and resets (to an index below, at or above the
// last one, maybe followed by entries).
class compaction_generator {
 public:
  // resets_below: resets may also go below the last index (a follower that
  // held uncommitted entries beyond the snapshot it installs).
  // overwrites: writes may overwrite a suffix (a truncation record).
  explicit compaction_generator(std::uint64_t seed, std::size_t max_payload = 200, bool resets_below = true,
                                bool overwrites = true)
      : gen_(seed, max_payload), resets_below_(resets_below), overwrites_(overwrites) {}

  log_write next(const base_model& m) {
    const int kind = gen_.pick(0, 19);
    const index_t last = m.last_index();
    if (kind <= 2 && last > m.base) {  // compaction
      log_write w;
      const index_t c = static_cast<index_t>(gen_.pick(static_cast<int>(m.base + 1), static_cast<int>(last)));
      w.compact = log_id{m.term_at(c), c};
      if (gen_.pick(0, 1) == 1) append(w, m, last + 1, m.term_at(last));
      return w;
    }
    if (kind == 3) {  // reset by an installed snapshot
      log_write w;
      const index_t lo = resets_below_ ? m.base : last;
      const index_t r = lo + static_cast<index_t>(gen_.pick(0, static_cast<int>(last - lo) + 20));
      term_ = std::max({term_, m.state.current_term, m.term_at(last)});
      w.reset = log_id{term_, r};
      if (gen_.pick(0, 1) == 1) append(w, m, r + 1, term_);
      return w;
    }
    log_write w;
    if (kind <= 5 || last == m.base) {
      term_ = std::max(term_, m.state.current_term) + static_cast<term_t>(gen_.pick(0, 1));
      if (term_ == m.state.current_term && m.state.voted_for != no_node) term_ += 1;
      w.state = hard_state{term_, static_cast<node_id>(gen_.pick(0, 5))};
      if (kind <= 4) return w;
    }
    index_t first = last + 1;
    if (overwrites_ && kind >= 17 && last > m.base)
      first = static_cast<index_t>(gen_.pick(static_cast<int>(m.base + 1), static_cast<int>(last)));
    append(w, m, first, first > m.base + 1 ? m.term_at(first - 1) : 0);
    return w;
  }

  write_generator& base() { return gen_; }

 private:
  void append(log_write& w, const base_model& m, index_t first, term_t prev_term) {
    term_ = std::max({term_, m.state.current_term, prev_term, w.state ? w.state->current_term : 0});
    const int n = gen_.pick(1, 6);
    for (int i = 0; i < n; ++i) w.entries.push_back(gen_.make_entry(term_, first + static_cast<index_t>(i)));
  }

  write_generator gen_;
  bool resets_below_;
  bool overwrites_;
  term_t term_ = 1;
};

}  // namespace coraft::test
