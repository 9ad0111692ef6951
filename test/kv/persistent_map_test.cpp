// persistent_map_test.cpp — coraft::persistent_map (lib/include/coraft/
// persistent_map.hpp) against std::map: random inserts, assignments and
// erases give the same contents, lookups and ordered walks; every copy
// taken along the way keeps the contents it was copied with, however the
// original (or another copy) changes afterwards; a copy walked on another
// thread while the original changes sees its own contents (run under TSan
// too); no node outlives the last map that holds it.
#define BOOST_TEST_MODULE coraft_persistent_map
#include <boost/test/unit_test.hpp>

#include <coraft/persistent_map.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace {

// A value that counts its live instances: nodes freed exactly once.
std::atomic<long> live_values{0};
struct counted {
  counted() { ++live_values; }
  explicit counted(std::string s) : v(std::move(s)) { ++live_values; }
  counted(const counted& o) : v(o.v) { ++live_values; }
  counted(counted&& o) noexcept : v(std::move(o.v)) { ++live_values; }
  counted& operator=(const counted&) = default;
  counted& operator=(counted&&) noexcept = default;
  ~counted() { --live_values; }
  std::string v;
};

using pmap = coraft::persistent_map<counted>;
using model = std::map<std::string, std::string>;

model contents(const pmap& m) {
  model out;
  std::string_view prev;
  bool first = true;
  m.for_each([&](std::string_view k, const counted& v) {
    BOOST_TEST_REQUIRE((first || prev < k), "walk out of order at " << k);
    first = false;
    prev = k;
    out.emplace(k, v.v);
    return true;
  });
  return out;
}

// The same without Boost.Test's macros (not thread-safe): for another
// thread. Order is checked by the map's keys being strictly increasing.
model contents_off_thread(const pmap& m, bool& ordered) {
  model out;
  std::string prev;
  bool first = true;
  ordered = true;
  m.for_each([&](std::string_view k, const counted& v) {
    if (!first && !(prev < k)) ordered = false;
    first = false;
    prev = k;
    out.emplace(k, v.v);
    return true;
  });
  return out;
}

std::string key_of(std::mt19937_64& rng, int keys) { return "k" + std::to_string(rng() % keys); }

// One random change to both.
void change(std::mt19937_64& rng, pmap& m, model& want, int keys) {
  const std::string k = key_of(rng, keys);
  if (rng() % 3 == 0) {
    const bool had = want.erase(k) > 0;
    BOOST_TEST_REQUIRE(m.erase(k) == had);
  } else {
    const std::string v = std::to_string(rng());
    const bool added = want.insert_or_assign(k, v).second;
    BOOST_TEST_REQUIRE(m.insert_or_assign(k, counted(v)) == added);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(it_agrees_with_std_map_on_lookups_walks_and_sizes) {
  std::mt19937_64 rng(1);
  pmap m;
  model want;
  for (int i = 0; i < 20000; ++i) {
    change(rng, m, want, 500);
    if (i % 997 == 0) BOOST_TEST_REQUIRE(contents(m) == want);
  }
  BOOST_TEST_REQUIRE(m.size() == want.size());
  for (int k = 0; k < 520; ++k) {
    const std::string key = "k" + std::to_string(k);
    const counted* v = m.find(key);
    const auto it = want.find(key);
    BOOST_TEST_REQUIRE((v != nullptr) == (it != want.end()), key);
    if (v != nullptr) BOOST_TEST_REQUIRE(v->v == it->second);
    // for_each_from: the keys from the first one not less than `key`.
    std::vector<std::string> got, exp;
    m.for_each_from(key, [&](std::string_view k2, const counted&) {
      got.emplace_back(k2);
      return got.size() < 5;
    });
    for (auto j = want.lower_bound(key); j != want.end() && exp.size() < 5; ++j) exp.push_back(j->first);
    BOOST_TEST_REQUIRE(got == exp, key);
  }
  BOOST_TEST_REQUIRE(live_values.load() == static_cast<long>(want.size()));
}

BOOST_AUTO_TEST_CASE(every_copy_keeps_what_it_was_copied_with) {
  std::mt19937_64 rng(2);
  {
    pmap m;
    model want;
    std::vector<std::pair<pmap, model>> copies;  // taken along the way, some changed on their own
    for (int i = 0; i < 30000; ++i) {
      change(rng, m, want, 300);
      if (i % 1500 == 0) copies.emplace_back(m, want);
      if (i % 700 == 0 && !copies.empty()) {
        auto& [c, cw] = copies[rng() % copies.size()];
        for (int j = 0; j < 50; ++j) change(rng, c, cw, 300);  // a copy changed: the others must not see it
      }
      if (i % 4000 == 0 && copies.size() > 3) copies.erase(copies.begin() + static_cast<long>(rng() % copies.size()));
    }
    BOOST_TEST_REQUIRE(contents(m) == want);
    for (const auto& [c, cw] : copies) {
      BOOST_TEST_REQUIRE(contents(c) == cw);
      BOOST_TEST_REQUIRE(c.size() == cw.size());
    }
    copies.clear();
    // Only the original's nodes are left.
    BOOST_TEST_REQUIRE(live_values.load() == static_cast<long>(want.size()));
  }
  BOOST_TEST_REQUIRE(live_values.load() == 0);
}

BOOST_AUTO_TEST_CASE(a_copy_walked_on_another_thread_sees_its_contents_while_the_original_changes) {
  std::mt19937_64 rng(3);
  pmap m;
  model want;
  for (int i = 0; i < 20000; ++i) change(rng, m, want, 5000);
  for (int round = 0; round < 20; ++round) {
    pmap copy = m;  // the capture: O(1)
    const model at_copy = want;
    model seen;
    bool ordered = false;
    std::thread writer([&seen, &ordered, c = std::move(copy)]() mutable {
      seen = contents_off_thread(c, ordered);
      pmap dropped = std::move(c);  // released on this thread, as a snapshot image is
    });
    // Changed here meanwhile (no Boost.Test macro while the thread runs).
    for (int i = 0; i < 3000; ++i) {
      const std::string k = key_of(rng, 5000);
      if (rng() % 3 == 0) {
        m.erase(k);
        want.erase(k);
      } else {
        const std::string v = std::to_string(rng());
        m.insert_or_assign(k, counted(v));
        want.insert_or_assign(k, v);
      }
    }
    writer.join();
    BOOST_TEST_REQUIRE(ordered);
    BOOST_TEST_REQUIRE(seen == at_copy);
    BOOST_TEST_REQUIRE(contents(m) == want);
  }
  BOOST_TEST_REQUIRE(live_values.load() == static_cast<long>(want.size()));
}

BOOST_AUTO_TEST_CASE(keys_in_order_do_not_make_it_deep) {
  // Sorted inserts degrade a plain search tree to a list; the treap's
  // random priorities keep it logarithmic (checked through a deep
  // recursion not overflowing and the walk staying in order).
  pmap m;
  for (int i = 0; i < 200000; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08d", i);
    m.insert_or_assign(buf, counted("v"));
  }
  BOOST_TEST(m.size() == 200000u);
  long n = 0;
  m.for_each([&](std::string_view, const counted&) { return ++n > 0; });
  BOOST_TEST(n == 200000);
  for (int i = 0; i < 200000; i += 2) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08d", i);
    BOOST_TEST_REQUIRE(m.erase(std::string(buf)));
  }
  BOOST_TEST(m.size() == 100000u);
}

BOOST_AUTO_TEST_CASE(keys_of_any_length_and_any_bytes_order_as_strings_do) {
  // Keys live inside the nodes: the empty key, keys that fill a node's
  // cache line and overflow it, keys with NUL and high bytes (ordered as
  // unsigned bytes, as std::string orders them), prefixes of one another.
  std::mt19937_64 rng(4);
  pmap m;
  model want;
  const auto random_key = [&rng]() {
    static constexpr std::size_t lengths[] = {0, 1, 2, 15, 16, 23, 24, 25, 40, 300};
    std::string k(lengths[rng() % std::size(lengths)], '\0');
    for (char& c : k) c = static_cast<char>(rng() % 4 == 0 ? 0x00 : (rng() % 2 == 0 ? 0xff : 'a' + rng() % 3));
    return k;
  };
  for (int i = 0; i < 20000; ++i) {
    const std::string k = random_key();
    if (rng() % 4 == 0) {
      const bool had = want.erase(k) > 0;
      BOOST_TEST_REQUIRE(m.erase(k) == had);
    } else {
      const std::string v = std::to_string(i);
      const bool added = want.insert_or_assign(k, v).second;
      BOOST_TEST_REQUIRE(m.insert_or_assign(k, counted(v)) == added);
    }
    if (i % 500 == 0) {
      pmap copy = m;  // path copying copies the keys along with their nodes
      const model at_copy = want;
      for (int j = 0; j < 30; ++j) m.insert_or_assign(random_key(), counted("later"));
      BOOST_TEST_REQUIRE(contents(copy) == at_copy);
      m = copy;
    }
  }
  BOOST_TEST_REQUIRE(contents(m) == want);
  for (const auto& [k, v] : want) {
    const counted* got = m.find(k);
    BOOST_TEST_REQUIRE(got != nullptr);
    BOOST_TEST_REQUIRE(got->v == v);
    std::string_view first;
    m.for_each_from(k, [&](std::string_view k2, const counted&) {
      first = k2;
      return false;
    });
    BOOST_TEST_REQUIRE(first == std::string_view(k));
  }
  BOOST_TEST_REQUIRE(live_values.load() == static_cast<long>(want.size()));
}

namespace {

// A value whose copy throws once `copies_left` reaches zero (negative:
// never); counts its live instances like `counted`.
std::atomic<long> live_throwing{0};
long copies_left = -1;
struct throwing {
  explicit throwing(int x) : v(x) { ++live_throwing; }
  throwing(const throwing& o) : v(o.v) {
    if (copies_left == 0) throw std::runtime_error("copy refused");
    if (copies_left > 0) --copies_left;
    ++live_throwing;
  }
  throwing(throwing&& o) noexcept : v(o.v) { ++live_throwing; }
  throwing& operator=(const throwing&) = default;
  throwing& operator=(throwing&&) noexcept = default;
  ~throwing() { --live_throwing; }
  int v;
};
using tmap = coraft::persistent_map<throwing>;

std::map<std::string, int> contents(const tmap& m) {
  std::map<std::string, int> out;
  m.for_each([&](std::string_view k, const throwing& v) {
    out.emplace(k, v.v);
    return true;
  });
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_change_that_throws_leaves_the_map_and_its_copies_as_they_were) {
  // A copy shares every node, so an insert or erase copies its whole path;
  // the copy of the n-th node on it throws. Before the fix the map's root
  // kept pointing at an original whose reference had been dropped: the
  // copies made so far leaked and the original was released twice.
  for (int throw_at = 0; throw_at < 40; ++throw_at) {
    {
      tmap m;
      std::map<std::string, int> want;
      for (int i = 0; i < 64; ++i) {
        m.insert_or_assign("k" + std::to_string(i * 2), throwing(i));
        want["k" + std::to_string(i * 2)] = i;
      }
      const tmap copy = m;
      const long live_before = live_throwing.load();
      for (const std::string& k : {std::string("k7"), std::string("k64"), std::string("k126"), std::string("")}) {
        copies_left = throw_at;
        bool threw = false;
        try {
          m.insert_or_assign(k, throwing(-1));
        } catch (const std::runtime_error&) {
          threw = true;
        }
        copies_left = -1;
        if (threw) {
          BOOST_TEST_REQUIRE(contents(m) == want, "insert of " << k << ", copy " << throw_at << " threw");
          BOOST_TEST_REQUIRE(m.size() == want.size());
          BOOST_TEST_REQUIRE(live_throwing.load() == live_before, "nodes leaked by a failed insert");
        } else {
          want[k] = -1;
          BOOST_TEST_REQUIRE(contents(m) == want);
          m = copy;  // back to the shared state for the next key
          want = contents(copy);
        }
        copies_left = throw_at;
        threw = false;
        try {
          m.erase(k == "k7" ? std::string("k6") : k == "k64" ? std::string("k64") : std::string("k0"));
        } catch (const std::runtime_error&) {
          threw = true;
        }
        copies_left = -1;
        if (threw) {
          BOOST_TEST_REQUIRE(contents(m) == want, "erase near " << k << ", copy " << throw_at << " threw");
          BOOST_TEST_REQUIRE(live_throwing.load() == live_before, "nodes leaked by a failed erase");
        } else {
          m = copy;
          want = contents(copy);
        }
      }
      BOOST_TEST_REQUIRE(contents(copy) == contents(m));
    }
    BOOST_TEST_REQUIRE(live_throwing.load() == 0);
  }
}

BOOST_AUTO_TEST_CASE(a_value_aligned_beyond_new_s_default_is_aligned_in_its_node) {
  struct alignas(64) wide {
    int v = 0;
  };
  coraft::persistent_map<wide> m;
  for (int i = 0; i < 200; ++i)
    m.insert_or_assign(std::string(static_cast<std::size_t>(i % 40), 'k') + std::to_string(i), wide{i});
  const coraft::persistent_map<wide> copy = m;
  for (int i = 0; i < 200; i += 3)
    m.insert_or_assign(std::string(static_cast<std::size_t>(i % 40), 'k') + std::to_string(i), wide{-i});
  const std::vector<const coraft::persistent_map<wide>*> maps = {&m, &copy};
  for (const auto* map : maps)
    map->for_each([](std::string_view, const wide& v) {
      BOOST_TEST_REQUIRE(reinterpret_cast<std::uintptr_t>(&v) % 64 == 0);
      return true;
    });
}
