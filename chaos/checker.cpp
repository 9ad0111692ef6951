#include "checker.hpp"

#include <algorithm>
#include <chrono>
#include <span>
#include <unordered_map>
#include <unordered_set>

namespace coraft::chaos {

namespace {

// An operation as the search sees it: values interned to small ids.
struct search_op {
  op_kind f;
  std::uint32_t value;     // written / read / cas new; id 0 is "absent"
  std::uint32_t expected;  // cas only
};

// The register model on interned values: whether `op` may run on `state`,
// and the state after it.
bool step(const search_op& op, std::uint32_t state, std::uint32_t& next) {
  switch (op.f) {
    case op_kind::read: next = state; return state == op.value;
    case op_kind::write: next = op.value; return true;
    case op_kind::cas: next = op.value; return state == op.expected;
  }
  return false;
}

// Call and return entries in a doubly linked list that the search lifts
// entries out of and puts back in reverse order (dancing links).
// Index 0 is the head sentinel, the last index the tail sentinel.
struct entry_list {
  struct entry {
    std::uint32_t op = 0;
    std::uint32_t match = 0;  // a call's return entry; 0 when it has none (info)
    bool call = false;
  };
  std::vector<entry> e;
  std::vector<std::uint32_t> prev, next;

  std::uint32_t tail() const { return static_cast<std::uint32_t>(e.size() - 1); }
  void unlink(std::uint32_t i) {
    next[prev[i]] = next[i];
    prev[next[i]] = prev[i];
  }
  void relink(std::uint32_t i) {
    next[prev[i]] = i;
    prev[next[i]] = i;
  }
  // Lifts a call and its return. Invariant: lift/unlift are LIFO, so the
  // neighbours an entry remembers are the ones to put it back between.
  void lift(std::uint32_t call) {
    unlink(call);
    if (e[call].match != 0) unlink(e[call].match);
  }
  void unlift(std::uint32_t call) {
    if (e[call].match != 0) relink(e[call].match);
    relink(call);
  }
};

// The set of operations linearized so far, with what the cache needs of it
// kept up to date on every change: a Zobrist hash, and for the ok ops
// (numbered in invoke order) the first word that is not all ones and the
// last that is not zero. The search places ok ops roughly in invoke order,
// so the words below the first are full and those past the last empty: a
// configuration is stored as the few words between, plus the bits of the
// optional info ops, kept apart so that one placed early does not stretch
// that window over the whole key.
class op_set {
 public:
  op_set(std::size_t required, std::size_t optional, std::uint64_t seed)
      : required_(required),
        ok_((required + 63) / 64, 0),
        info_((optional + 63) / 64, 0),
        zobrist_(required + optional) {
    for (auto& z : zobrist_) z = seed = mix(seed + 0x9e3779b97f4a7c15ULL);
  }
  void set(std::uint32_t op) {
    hash_ ^= zobrist_[op];
    if (op >= required_) {
      info_[(op - required_) / 64] |= bit(op - required_);
      return;
    }
    const std::size_t w = op / 64;
    ok_[w] |= bit(op);
    if (static_cast<std::ptrdiff_t>(w) > high_) high_ = static_cast<std::ptrdiff_t>(w);
    while (low_ < ok_.size() && ok_[low_] == ~std::uint64_t{0}) ++low_;
  }
  void clear(std::uint32_t op) {
    hash_ ^= zobrist_[op];
    if (op >= required_) {
      info_[(op - required_) / 64] &= ~bit(op - required_);
      return;
    }
    const std::size_t w = op / 64;
    ok_[w] &= ~bit(op);
    if (w < low_) low_ = w;
    while (high_ >= 0 && ok_[static_cast<std::size_t>(high_)] == 0) --high_;
  }
  std::uint64_t hash() const { return hash_; }
  std::size_t low() const { return low_; }
  // The ok words from low() up to the last non-zero one (maybe none).
  std::span<const std::uint64_t> window() const {
    const std::ptrdiff_t n = high_ + 1 - static_cast<std::ptrdiff_t>(low_);
    return {ok_.data() + low_, n > 0 ? static_cast<std::size_t>(n) : 0};
  }
  std::span<const std::uint64_t> info() const { return info_; }

  static std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

 private:
  static std::uint64_t bit(std::size_t i) { return std::uint64_t{1} << (i % 64); }
  std::size_t required_;
  std::vector<std::uint64_t> ok_;
  std::vector<std::uint64_t> info_;
  std::vector<std::uint64_t> zobrist_;
  std::uint64_t hash_ = 0;
  std::size_t low_ = 0;
  std::ptrdiff_t high_ = -1;
};

// Lowe's cache: the (op set, state) configurations already reached. Open
// addressing (load at most 1/2) over an arena of records
//   [state | window length << 32, low, window words..., info words...];
// a slot holds a record's offset and 32 bits of its hash (which place the
// slot, and spare most record compares). About 40-60 bytes per
// configuration for keys of a few hundred ops.
class config_cache {
 public:
  config_cache() : slots_(1024, slot{}) {}

  // Adds the configuration; false when it was already there.
  bool insert(const op_set& s, std::uint32_t state) {
    if (2 * (count_ + 1) > slots_.size()) grow();
    const auto h = static_cast<std::uint32_t>(s.hash() ^ op_set::mix(state + std::uint64_t{1}));
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      if (slots_[i].at == 0) {
        slots_[i] = {static_cast<std::uint32_t>(arena_.size()), h};
        const auto window = s.window();
        arena_.push_back(state | (std::uint64_t{window.size()} << 32));
        arena_.push_back(s.low());
        arena_.insert(arena_.end(), window.begin(), window.end());
        arena_.insert(arena_.end(), s.info().begin(), s.info().end());
        ++count_;
        return true;
      }
      if (slots_[i].hash == h && same(slots_[i].at, s, state)) return false;
    }
  }
  // Offsets are 32 bits: past 2^32 words (32 GiB) the cache is full and the
  // search gives up as if out of budget.
  bool full() const { return arena_.size() >= (std::uint64_t{1} << 32) - 4096; }

 private:
  struct slot {
    std::uint32_t at = 0;  // offset of the record in arena_; 0 = empty
    std::uint32_t hash = 0;
  };

  bool same(std::uint32_t at, const op_set& s, std::uint32_t state) const {
    const std::uint64_t* r = arena_.data() + at;
    const auto window = s.window();
    if (r[0] != (state | (std::uint64_t{window.size()} << 32)) || r[1] != s.low()) return false;
    return std::equal(window.begin(), window.end(), r + 2) &&
           std::equal(s.info().begin(), s.info().end(), r + 2 + window.size());
  }
  void grow() {
    std::vector<slot> slots(2 * slots_.size(), slot{});
    const std::size_t mask = slots.size() - 1;
    for (const slot& old : slots_) {
      if (old.at == 0) continue;
      std::size_t i = old.hash & mask;
      while (slots[i].at != 0) i = (i + 1) & mask;
      slots[i] = old;
    }
    slots_.swap(slots);
  }

  std::vector<slot> slots_;
  std::vector<std::uint64_t> arena_ = {0};  // offset 0 is never a record
  std::size_t count_ = 0;
};

// The search over one key's operations.
key_verdict search(std::span<const operation* const> ops, const check_options& opts) {
  // Intern values: id 0 is "absent", others in order of first sight.
  std::unordered_map<std::string, std::uint32_t> ids;
  auto id_of = [&ids](const value_t& v) -> std::uint32_t {
    if (!v) return 0;
    return ids.try_emplace(*v, static_cast<std::uint32_t>(ids.size() + 1)).first->second;
  };

  // Values someone could have seen: what ok reads returned and what any
  // cas expected. An info write or cas of any other value v is left out: a
  // linearization that places it can drop it again, since the ops between
  // it and the next change of value would all have to see v (an ok read
  // returning v, a cas expecting v), so there are none but writes.
  std::unordered_set<std::uint32_t> seen;
  for (const operation* op : ops) {
    if (op->result == outcome::fail) continue;
    if (op->f == op_kind::read && op->result == outcome::ok) seen.insert(id_of(op->value));
    if (op->f == op_kind::cas) seen.insert(id_of(op->expected));
  }

  // The operations to place: ok ones first (numbered in invoke order, so
  // the op set's low words fill up as the search advances), then the
  // optional info writes and cas.
  std::vector<const operation*> kept;
  std::size_t required = 0;
  for (const operation* op : ops)
    if (op->result == outcome::ok) kept.push_back(op);
  required = kept.size();
  for (const operation* op : ops)
    if (op->result == outcome::info && op->f != op_kind::read && seen.contains(id_of(op->value))) kept.push_back(op);
  auto by_invoke = [](const operation* a, const operation* b) { return a->invoke_ns < b->invoke_ns; };
  std::stable_sort(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(required), by_invoke);

  key_verdict verdict;
  verdict.ops = kept.size();
  if (required == 0) return verdict;  // nothing must be placed: leave every info op out

  std::vector<search_op> sops(kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i)
    sops[i] = {kept[i]->f, id_of(kept[i]->value), kept[i]->f == op_kind::cas ? id_of(kept[i]->expected) : 0};

  // Entries in time order; at equal times calls before returns, so that
  // touching intervals overlap. Info ops have no return entry: they stay
  // open to the end.
  struct timed {
    std::int64_t time;
    bool is_return;
    std::uint32_t op;
  };
  std::vector<timed> order;
  order.reserve(kept.size() + required);
  for (std::uint32_t i = 0; i < kept.size(); ++i) {
    order.push_back({kept[i]->invoke_ns, false, i});
    if (i < required) order.push_back({kept[i]->complete_ns, true, i});
  }
  std::sort(order.begin(), order.end(), [](const timed& a, const timed& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.is_return != b.is_return) return !a.is_return;
    return a.op < b.op;
  });

  entry_list list;
  const std::size_t n_entries = order.size() + 2;
  list.e.resize(n_entries);
  list.prev.resize(n_entries);
  list.next.resize(n_entries);
  std::vector<std::uint32_t> return_of(kept.size(), 0);
  for (std::uint32_t i = 0; i < order.size(); ++i) {
    const std::uint32_t at = i + 1;
    list.e[at].op = order[i].op;
    list.e[at].call = !order[i].is_return;
    if (order[i].is_return) return_of[order[i].op] = at;
  }
  for (std::uint32_t at = 1; at + 1 < n_entries; ++at)
    if (list.e[at].call) list.e[at].match = return_of[list.e[at].op];
  for (std::uint32_t at = 0; at < n_entries; ++at) {
    list.prev[at] = at == 0 ? 0 : at - 1;
    list.next[at] = at + 1 == n_entries ? at : at + 1;
  }

  // Wing & Gong with Lowe's cache. At a call entry: place the op now if the
  // model allows it and the resulting configuration is new, then restart
  // from the head; otherwise try the next entry. At a return entry: its op
  // was not placed before it returned, so undo the last choice and try the
  // entry after that choice's call. Reaching the tail means every ok op is
  // placed (an ok op still unplaced would have its return entry before the
  // tail, and reaching it backtracks), and the info ops still in the list
  // never take effect.
  op_set placed(required, kept.size() - required, 0x5eed);
  config_cache cache;
  struct choice {
    std::uint32_t call;
    std::uint32_t state_before;
  };
  std::vector<choice> stack;
  std::uint32_t state = 0;
  std::uint32_t at = list.next[0];
  const std::uint32_t tail = list.tail();
  const std::uint64_t budget = std::max<std::uint64_t>(opts.max_steps_per_key, opts.steps_per_op * n_entries / 2);
  while (at != tail) {
    if (++verdict.steps > budget || cache.full()) {
      verdict.linearizable = false;
      verdict.timed_out = true;
      return verdict;
    }
    const auto& en = list.e[at];
    if (en.call) {
      std::uint32_t next_state = 0;
      if (step(sops[en.op], state, next_state)) {
        placed.set(en.op);
        if (cache.insert(placed, next_state)) {
          stack.push_back({at, state});
          state = next_state;
          list.lift(at);
          at = list.next[0];
          continue;
        }
        placed.clear(en.op);
      }
      at = list.next[at];
    } else {
      if (stack.empty()) {
        verdict.linearizable = false;
        return verdict;
      }
      const choice c = stack.back();
      stack.pop_back();
      state = c.state_before;
      placed.clear(list.e[c.call].op);
      list.unlift(c.call);
      at = list.next[c.call];
    }
  }
  return verdict;
}

}  // namespace

key_verdict check_key(const std::vector<operation>& ops, const check_options& opts) {
  std::vector<const operation*> ptrs;
  ptrs.reserve(ops.size());
  for (const operation& op : ops) ptrs.push_back(&op);
  return search(ptrs, opts);
}

check_result check(const std::vector<operation>& ops, const check_options& opts) {
  const auto start = std::chrono::steady_clock::now();
  std::unordered_map<std::string_view, std::vector<const operation*>> by_key;
  for (const operation& op : ops) by_key[op.key].push_back(&op);
  std::vector<std::string_view> keys;
  keys.reserve(by_key.size());
  for (const auto& [k, v] : by_key) keys.push_back(k);
  std::sort(keys.begin(), keys.end());

  check_result r;
  r.keys = keys.size();
  std::size_t smallest = 0;
  for (std::string_view k : keys) {
    const auto& sub = by_key[k];
    const key_verdict v = search(sub, opts);
    r.ops += v.ops;
    r.steps += v.steps;
    if (v.timed_out) {
      r.timed_out_keys.emplace_back(k);
    } else if (!v.linearizable) {
      r.failing_keys.emplace_back(k);
      if (r.smallest_failing.empty() || sub.size() < smallest) {
        smallest = sub.size();
        r.smallest_failing_key = std::string(k);
        r.smallest_failing.clear();
        for (const operation* op : sub) r.smallest_failing.push_back(*op);
      }
    }
  }
  r.timed_out = !r.timed_out_keys.empty();
  r.linearizable = r.failing_keys.empty() && !r.timed_out;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace coraft::chaos
