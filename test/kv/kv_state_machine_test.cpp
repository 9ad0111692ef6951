// kv_state_machine_test.cpp — coraft-kv's state machine (apps/coraft-kv)
// against a reference std::map: random puts, deletes, gets and conditional
// writes over a small key space give the same results, the same point reads
// and the same prefix listings; a snapshot restores the same content into a
// machine that held other keys (a key only the old content had is gone,
// every restored key is found), a truncated one is refused; a captured
// image writes the state as it was at capture() whatever is applied after.
#define BOOST_TEST_MODULE coraft_kv
#include <boost/test/unit_test.hpp>

#include "kv_state_machine.hpp"

#include <map>
#include <random>
#include <string>

using namespace coraft;
using namespace coraft::kv;

namespace {

using model = std::map<std::string, std::string>;

// What the reference model answers to `c`, applying it.
result apply_model(model& m, const command& c) {
  auto it = m.find(c.key);
  if (c.kind == op::get) return it == m.end() ? result{status::not_found, {}} : result{status::ok, it->second};
  if (c.cond == condition::expect && (it == m.end() || it->second != c.expect))
    return {status::precondition_failed, {}};
  if (c.cond == condition::absent && it != m.end()) return {status::precondition_failed, {}};
  if (c.kind == op::put) {
    m[c.key] = c.value;
    return {status::ok, {}};
  }
  if (it == m.end()) return {status::not_found, {}};
  m.erase(it);
  return {status::ok, {}};
}

void check_same(const kv_state_machine& sm, const model& m, int keys) {
  BOOST_TEST_REQUIRE(sm.size() == m.size());
  for (int k = 0; k < keys; ++k) {
    const std::string key = "key/" + std::to_string(k % 7) + "/" + std::to_string(k);
    const auto it = m.find(key);
    const payload* v = sm.find(key);
    BOOST_TEST_REQUIRE((v != nullptr) == (it != m.end()), key);
    if (v != nullptr) BOOST_TEST_REQUIRE(v->str() == it->second, key);
  }
  for (int p = 0; p < 7; ++p) {
    const std::string prefix = "key/" + std::to_string(p) + "/";
    std::vector<std::string> want;
    for (auto it = m.lower_bound(prefix); it != m.end() && it->first.rfind(prefix, 0) == 0; ++it)
      want.push_back(it->first);
    BOOST_TEST_REQUIRE(sm.keys_with_prefix(prefix, 100000) == want, prefix);
  }
}

command random_command(std::mt19937_64& rng, int keys, const model& m) {
  command c;
  const int k = static_cast<int>(rng() % static_cast<std::uint64_t>(keys));
  c.key = "key/" + std::to_string(k % 7) + "/" + std::to_string(k);
  switch (rng() % 6) {
    case 0:
    case 1: c.kind = op::put; break;
    case 2: c.kind = op::del; break;
    case 3: c.kind = op::get; break;
    case 4:
      c.kind = op::put;
      c.cond = condition::absent;
      break;
    default:
      c.kind = rng() % 2 ? op::put : op::del;
      c.cond = condition::expect;
      // Half the time the value the key holds (when it has one), so both
      // outcomes of the comparison happen.
      if (auto it = m.find(c.key); it != m.end() && rng() % 2)
        c.expect = it->second;
      else
        c.expect = "v" + std::to_string(rng() % 4);
  }
  if (c.kind == op::put) c.value = "v" + std::to_string(rng() % 4);
  return c;
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_commands_match_a_reference_map) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    kv_state_machine sm;
    model m;
    const int keys = 50;
    for (index_t i = 1; i <= 2000; ++i) {
      const command c = random_command(rng, keys, m);
      const result want = apply_model(m, c);
      const result got = decode_result(sm.apply(i, encode(c)));
      BOOST_TEST_REQUIRE(static_cast<int>(got.code) == static_cast<int>(want.code), "seed " << seed << " index " << i);
      BOOST_TEST_REQUIRE(got.value == want.value, "seed " << seed << " index " << i);
      BOOST_TEST_REQUIRE(sm.applied_index() == i);
      if (i % 250 == 0) check_same(sm, m, keys);
    }
    check_same(sm, m, keys);
  }
}

BOOST_AUTO_TEST_CASE(a_restored_snapshot_replaces_the_content_and_its_index) {
  std::mt19937_64 rng(7);
  kv_state_machine a, b;
  model ma, mb;
  const int keys = 200;
  for (index_t i = 1; i <= 3000; ++i) {
    command c = random_command(rng, keys, ma);
    apply_model(ma, c);
    a.apply(i, encode(c));
    c = random_command(rng, keys, mb);
    apply_model(mb, c);
    b.apply(i, encode(c));
  }
  BOOST_TEST_REQUIRE(ma != mb);
  string_snapshot_writer w;
  a.save_snapshot(w);
  bytes_snapshot_reader r(w.out);
  b.restore_snapshot(r);
  check_same(b, ma, keys);
  // The restored machine goes on like the original.
  for (index_t i = 3001; i <= 4000; ++i) {
    const command c = random_command(rng, keys, ma);
    const result want = apply_model(ma, c);
    const result got = decode_result(b.apply(i, encode(c)));
    BOOST_TEST_REQUIRE(static_cast<int>(got.code) == static_cast<int>(want.code));
    BOOST_TEST_REQUIRE(got.value == want.value);
  }
  check_same(b, ma, keys);
}

BOOST_AUTO_TEST_CASE(a_truncated_snapshot_is_refused_and_changes_nothing) {
  kv_state_machine a;
  model m;
  std::mt19937_64 rng(3);
  for (index_t i = 1; i <= 500; ++i) {
    const command c = random_command(rng, 40, m);
    apply_model(m, c);
    a.apply(i, encode(c));
  }
  string_snapshot_writer w;
  a.save_snapshot(w);
  bytes_snapshot_reader r(std::string_view(w.out).substr(0, w.out.size() - 3));
  BOOST_CHECK_THROW(a.restore_snapshot(r), std::runtime_error);
  check_same(a, m, 40);
}

BOOST_AUTO_TEST_CASE(a_captured_image_writes_the_state_at_its_capture_whatever_is_applied_after) {
  kv_state_machine a;
  model m;
  std::mt19937_64 rng(11);
  const int keys = 300;
  for (index_t i = 1; i <= 2000; ++i) {
    const command c = random_command(rng, keys, m);
    apply_model(m, c);
    a.apply(i, encode(c));
  }
  const model at_capture = m;
  std::unique_ptr<snapshot_image> image = a.capture();
  BOOST_TEST_REQUIRE(image != nullptr);
  for (index_t i = 2001; i <= 5000; ++i) {  // puts, deletes and rewrites of the same keys
    const command c = random_command(rng, keys, m);
    apply_model(m, c);
    a.apply(i, encode(c));
  }
  BOOST_TEST_REQUIRE(m != at_capture);
  string_snapshot_writer w;
  image->write(w);
  image.reset();
  check_same(a, m, keys);  // the live state is untouched by the image's life
  kv_state_machine b;
  bytes_snapshot_reader r(w.out);
  b.restore_snapshot(r);
  check_same(b, at_capture, keys);
  // The same bytes as save_snapshot() of that state.
  string_snapshot_writer direct;
  b.save_snapshot(direct);
  BOOST_TEST(direct.out == w.out);
}

BOOST_AUTO_TEST_CASE(a_snapshot_with_bytes_after_its_last_entry_is_refused) {
  kv_state_machine a;
  a.apply(1, encode(command{op::put, condition::none, "k", "v", ""}));
  string_snapshot_writer w;
  a.save_snapshot(w);
  const std::string longer = w.out + "x";
  bytes_snapshot_reader r(longer);
  kv_state_machine b;
  BOOST_CHECK_THROW(b.restore_snapshot(r), std::runtime_error);
  BOOST_TEST(b.size() == 0u);
}
