// checker_test.cpp — coraft-chaos's linearizability checker (chaos/
// checker.hpp), its history format (chaos/history.hpp) and its timeline.
// Hand-made histories, each a small story with its verdict: the classic
// violations (a stale read, a lost write, a read from nowhere, two cas
// winning from one value, a failed write seen) are refused; overlapping
// operations that need a non-obvious order, info writes that land late or
// never, and intervals that only touch are accepted. The parser refuses a
// bad file naming the line. One bad key among many is found. A generated
// 100,000-operation history of a correct register is accepted in seconds,
// and refused once one stale read is planted in it.
#define BOOST_TEST_MODULE coraft_chaos_checker
#include <boost/test/unit_test.hpp>

#include "checker.hpp"
#include "history.hpp"
#include "timeline.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace coraft::chaos;

namespace coraft::chaos {
// For Boost.Test's messages.
std::ostream& operator<<(std::ostream& os, op_kind f) { return os << to_string(f); }
std::ostream& operator<<(std::ostream& os, outcome r) { return os << to_string(r); }
}  // namespace coraft::chaos
BOOST_TEST_DONT_PRINT_LOG_VALUE(coraft::chaos::value_t)

namespace {

// Builders for hand-made operations: process, key "x", [invoke, complete].
operation op(std::int64_t p, op_kind f, value_t v, outcome r, std::int64_t t0, std::int64_t t1) {
  operation o;
  o.process = p;
  o.f = f;
  o.key = "x";
  o.value = std::move(v);
  o.result = r;
  o.invoke_ns = t0;
  o.reported_ns = t1;
  o.complete_ns = r == outcome::info ? never_ns : t1;
  return o;
}
operation w(std::int64_t p, std::string v, std::int64_t t0, std::int64_t t1, outcome r = outcome::ok) {
  return op(p, op_kind::write, std::move(v), r, t0, t1);
}
operation rd(std::int64_t p, value_t v, std::int64_t t0, std::int64_t t1, outcome r = outcome::ok) {
  return op(p, op_kind::read, std::move(v), r, t0, t1);
}
operation cas(std::int64_t p, std::string e, std::string n, std::int64_t t0, std::int64_t t1, outcome r = outcome::ok) {
  operation o = op(p, op_kind::cas, std::move(n), r, t0, t1);
  o.expected = std::move(e);
  return o;
}
// An info write whose client never heard back: no completion line at all.
operation w_unanswered(std::int64_t p, std::string v, std::int64_t t0) {
  operation o = op(p, op_kind::write, std::move(v), outcome::info, t0, never_ns);
  o.reported_ns = never_ns;
  return o;
}

bool linearizable(const std::vector<operation>& h) {
  const check_result r = check(h);
  BOOST_TEST(!r.timed_out);
  if (!r.linearizable) BOOST_TEST_MESSAGE("refused:\n" << format_history(r.smallest_failing));
  return r.linearizable;
}

std::variant<std::vector<operation>, parse_error> parse(const std::string& text) {
  std::istringstream in(text);
  return read_history(in);
}

// The error read_history gives for `text`; fails the test if it parses.
parse_error parse_failure(const std::string& text) {
  auto r = parse(text);
  BOOST_REQUIRE(std::holds_alternative<parse_error>(r));
  const parse_error e = std::get<parse_error>(r);
  BOOST_TEST_MESSAGE(describe(e));
  return e;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(violations)

BOOST_AUTO_TEST_CASE(stale_read_after_acknowledged_write) {
  // The write of 1 was acknowledged at 10; a read invoked at 20 cannot see
  // the register as it was before it.
  BOOST_TEST(!linearizable({w(1, "1", 0, 10), rd(2, std::nullopt, 20, 30)}));
}

BOOST_AUTO_TEST_CASE(lost_write) {
  // 2 was written strictly after 1, yet a later read sees 1 again.
  BOOST_TEST(!linearizable({w(1, "1", 0, 10), w(2, "2", 20, 30), rd(3, "1", 40, 50)}));
  // And a read after an acknowledged write that finds nothing.
  BOOST_TEST(!linearizable({w(1, "1", 0, 10), w(2, "2", 20, 30), rd(3, std::nullopt, 40, 50)}));
}

BOOST_AUTO_TEST_CASE(read_of_a_value_never_written) {
  BOOST_TEST(!linearizable({w(1, "1", 0, 10), rd(2, "7", 5, 15)}));
  BOOST_TEST(!linearizable({rd(2, "7", 5, 15)}));
}

BOOST_AUTO_TEST_CASE(two_cas_win_from_one_value) {
  // 1 is written once; two concurrent cas [1, 2] and [1, 3] both report
  // success. Only one of them can have found 1.
  BOOST_TEST(!linearizable(
      {w(1, "1", 0, 10), cas(2, "1", "2", 20, 30), cas(3, "1", "3", 20, 30), rd(1, "3", 40, 50), rd(2, "3", 60, 70)}));
  // Either alone is fine.
  BOOST_TEST(linearizable(
      {w(1, "1", 0, 10), cas(2, "1", "2", 20, 30), cas(3, "1", "3", 20, 30, outcome::fail), rd(1, "2", 40, 50)}));
}

BOOST_AUTO_TEST_CASE(a_failed_write_is_seen) {
  // fail means the write did not take effect: nobody may read 9.
  BOOST_TEST(!linearizable({w(1, "1", 0, 10), w(2, "9", 20, 30, outcome::fail), rd(3, "9", 40, 50)}));
}

BOOST_AUTO_TEST_CASE(reads_undo_an_order) {
  // w1 [0,10] and w2 [1,3] overlap. The read of 1 at [5,6], after w2
  // returned, forces w2 before w1; a later read of 2 would need w2 after.
  BOOST_TEST(!linearizable({w(1, "1", 0, 10), w(2, "2", 1, 3), rd(3, "1", 5, 6), rd(3, "2", 11, 12)}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(accepted)

BOOST_AUTO_TEST_CASE(only_order_is_not_start_order) {
  // w1 [0,10], w2 [1,3], read 1 at [5,6]: valid only as w2, w1, read.
  BOOST_TEST(linearizable({w(1, "1", 0, 10), w(2, "2", 1, 3), rd(3, "1", 5, 6)}));
}

BOOST_AUTO_TEST_CASE(info_write_takes_effect_late) {
  // The client of the write of 5 never heard back (no completion line). It
  // took effect after the read at [30,40] still saw 1, before the read at
  // [100,110].
  BOOST_TEST(linearizable({w_unanswered(9, "5", 0), w(1, "1", 10, 20), rd(2, "1", 30, 40), rd(2, "5", 100, 110)}));
  // The same with an explicit info completion at 15: it may still take
  // effect long after the client gave up.
  BOOST_TEST(
      linearizable({w(9, "5", 0, 15, outcome::info), w(1, "1", 10, 20), rd(2, "1", 30, 40), rd(2, "5", 100, 110)}));
}

BOOST_AUTO_TEST_CASE(info_write_never_takes_effect) {
  BOOST_TEST(linearizable({w(1, "1", 0, 10), w(9, "5", 20, 30, outcome::info), rd(2, "1", 40, 50),
                           rd(2, "1", 1000, 1010), rd(3, "1", 5000, 5010)}));
  // An info cas, both ways.
  BOOST_TEST(linearizable({w(1, "1", 0, 10), cas(9, "1", "2", 20, 30, outcome::info), rd(2, "1", 40, 50)}));
  BOOST_TEST(linearizable({w(1, "1", 0, 10), cas(9, "1", "2", 20, 30, outcome::info), rd(2, "2", 40, 50)}));
  // But an info op takes effect at most once: 5 cannot come back after 6.
  BOOST_TEST(
      !linearizable({w(9, "5", 0, 5, outcome::info), rd(1, "5", 10, 20), w(1, "6", 30, 40), rd(2, "5", 50, 60)}));
}

BOOST_AUTO_TEST_CASE(failed_ops_are_ignored) {
  BOOST_TEST(linearizable({w(1, "1", 0, 10), w(2, "9", 20, 30, outcome::fail), rd(3, "1", 40, 50),
                           cas(2, "9", "3", 60, 70, outcome::fail), rd(3, "1", 80, 90)}));
}

BOOST_AUTO_TEST_CASE(info_reads_constrain_nothing) {
  operation lost = rd(2, "7", 20, 30, outcome::info);
  BOOST_TEST(linearizable({w(1, "1", 0, 10), lost, rd(3, "1", 40, 50)}));
}

BOOST_AUTO_TEST_CASE(touching_intervals_are_concurrent) {
  // The write returns at 10 and the read is invoked at 10: the clock does
  // not say which came first, so the read may precede the write.
  BOOST_TEST(linearizable({w(1, "1", 0, 10), rd(2, std::nullopt, 10, 20)}));
  BOOST_TEST(!linearizable({w(1, "1", 0, 10), rd(2, std::nullopt, 11, 20)}));
}

BOOST_AUTO_TEST_CASE(cas_chain) {
  BOOST_TEST(linearizable({w(1, "1", 0, 10), cas(2, "1", "2", 20, 30), cas(3, "2", "3", 25, 35), rd(1, "3", 40, 50)}));
  // The cas from 2 must follow the one to 2, although it started first.
  BOOST_TEST(linearizable({w(1, "1", 0, 10), cas(3, "2", "3", 15, 40), cas(2, "1", "2", 20, 30), rd(1, "3", 45, 50)}));
}

BOOST_AUTO_TEST_CASE(empty_history) {
  const check_result r = check({});
  BOOST_TEST(r.linearizable);
  BOOST_TEST(r.keys == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(history_format)

BOOST_AUTO_TEST_CASE(round_trip) {
  namespace json = boost::json;
  std::vector<std::string> lines = {
      invoke_line(1, op_kind::write, "a", write_value("1"), 100),
      invoke_line(2, op_kind::read, "a", read_value(std::nullopt), 110),
      complete_line(1, outcome::ok, op_kind::write, "a", write_value("1"), 200),
      complete_line(2, outcome::ok, op_kind::read, "a", read_value("1"), 200),
      invoke_line(1, op_kind::cas, "a", cas_value("1", "<&\"2"), 200),
      invoke_line(2, op_kind::read, "b", read_value(std::nullopt), 210),
      complete_line(1, outcome::fail, op_kind::cas, "a", cas_value("1", "<&\"2"), 300),
      complete_line(2, outcome::ok, op_kind::read, "b", read_value(std::nullopt), 300),
      invoke_line(3, op_kind::write, "b", write_value("x"), 310),
      complete_line(3, outcome::info, op_kind::write, "b", write_value("x"), 400),
      invoke_line(3, op_kind::write, "b", write_value("y"), 400),
      invoke_line(4, op_kind::write, "c", write_value("z"), 500),
  };
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  BOOST_TEST(lines[0] == R"({"process":1,"type":"invoke","f":"write","key":"a","value":"1","time":100})");

  auto r = parse(text);
  BOOST_REQUIRE(std::holds_alternative<std::vector<operation>>(r));
  const auto& ops = std::get<std::vector<operation>>(r);
  BOOST_REQUIRE(ops.size() == 7u);
  BOOST_TEST(ops[0].f == op_kind::write);
  BOOST_TEST((ops[0].result == outcome::ok && ops[0].invoke_ns == 100 && ops[0].complete_ns == 200));
  BOOST_TEST((ops[1].result == outcome::ok && ops[1].value == value_t("1")));
  BOOST_TEST((ops[2].f == op_kind::cas && ops[2].expected == value_t("1") && ops[2].value == value_t("<&\"2")));
  BOOST_TEST(ops[2].result == outcome::fail);
  BOOST_TEST((ops[3].result == outcome::ok && ops[3].value == std::nullopt));
  // An info completion: may take effect any time, so it completes at +inf.
  BOOST_TEST((ops[4].result == outcome::info && ops[4].complete_ns == never_ns && ops[4].reported_ns == 400));
  BOOST_TEST((ops[5].result == outcome::info && ops[5].reported_ns == never_ns && ops[5].value == value_t("y")));
  // Never completed by the end of the file: info as well.
  BOOST_TEST((ops[6].result == outcome::info && ops[6].complete_ns == never_ns && ops[6].reported_ns == never_ns));

  // Written back, the file reads the same (the lines are already sorted by
  // time and, at equal times, by process).
  std::ostringstream again;
  write_history(again, ops);
  auto sorted = lines;
  std::stable_sort(sorted.begin(), sorted.end(), [](const std::string& a, const std::string& b) {
    const auto ja = json::parse(a).as_object(), jb = json::parse(b).as_object();
    return std::pair(ja.at("time").as_int64(), ja.at("process").as_int64()) <
           std::pair(jb.at("time").as_int64(), jb.at("process").as_int64());
  });
  std::string expected;
  for (const auto& l : sorted) expected += l + "\n";
  BOOST_TEST(again.str() == expected);

  BOOST_TEST(check(ops).linearizable);
  const std::string printed = format_history(ops);
  BOOST_TEST(std::count(printed.begin(), printed.end(), '\n') == 7);
  BOOST_TEST(contains(printed, "cas 1→<&\"2"));
}

BOOST_AUTO_TEST_CASE(lenient_where_the_format_allows) {
  // Integers as values, extra fields, blank lines and CRLF endings.
  const std::string text =
      "\n"
      R"({"process":1,"type":"invoke","f":"write","key":"k","value":42,"time":1,"node":"n1"})"
      "\r\n  \n"
      R"({"process":1,"type":"ok","f":"write","key":"k","value":42,"time":2})"
      "\n"
      R"({"process":1,"type":"invoke","f":"cas","key":"k","value":[42,"43"],"time":3})"
      "\n"
      R"({"process":1,"type":"ok","f":"cas","key":"k","time":4})"
      "\n";
  auto r = parse(text);
  BOOST_REQUIRE(std::holds_alternative<std::vector<operation>>(r));
  const auto& ops = std::get<std::vector<operation>>(r);
  BOOST_REQUIRE(ops.size() == 2u);
  BOOST_TEST(ops[0].value == value_t("42"));
  BOOST_TEST((ops[1].expected == value_t("42") && ops[1].value == value_t("43")));
}

BOOST_AUTO_TEST_CASE(errors_name_the_line) {
  const std::string ok1 = R"({"process":1,"type":"invoke","f":"write","key":"k","value":"1","time":10})";
  parse_error e = parse_failure(ok1 + "\n{\"process\":1,\"type\":\n");
  BOOST_TEST(e.line == 2u);
  BOOST_TEST(contains(e.message, "not JSON"));

  e = parse_failure(ok1 + "\n[1,2]\n");
  BOOST_TEST((e.line == 2u && contains(e.message, "not a JSON object")));

  e = parse_failure("\n" + ok1 + "\n" + R"({"process":1,"type":"ok","f":"write","value":"1","time":20})" + "\n");
  BOOST_TEST(e.line == 3u);
  BOOST_TEST(contains(e.message, "missing field \"key\""));

  e = parse_failure(R"({"process":"1","type":"invoke","f":"write","key":"k","value":"1","time":10})");
  BOOST_TEST((e.line == 1u && contains(e.message, "\"process\" is not an integer")));

  e = parse_failure(ok1 + "\n" + R"({"process":2,"type":"ok","f":"write","key":"k","value":"1","time":20})");
  BOOST_TEST(e.line == 2u);
  BOOST_TEST(contains(e.message, "no outstanding invoke"));

  e = parse_failure(ok1 + "\n" + R"({"process":1,"type":"ok","f":"read","key":"k","value":"1","time":20})");
  BOOST_TEST(e.line == 2u);
  BOOST_TEST(contains(e.message, "has f \"read\", its invoke \"write\""));

  e = parse_failure(ok1 + "\n" + R"({"process":1,"type":"ok","f":"write","key":"j","value":"1","time":20})");
  BOOST_TEST((e.line == 2u && contains(e.message, "key \"j\"")));

  e = parse_failure(ok1 + "\n" + R"({"process":2,"type":"invoke","f":"read","key":"k","value":null,"time":9})");
  BOOST_TEST(e.line == 2u);
  BOOST_TEST(contains(e.message, "time goes backwards"));

  e = parse_failure(ok1 + "\n" + R"({"process":1,"type":"invoke","f":"read","key":"k","value":null,"time":20})");
  BOOST_TEST((e.line == 2u && contains(e.message, "outstanding")));

  e = parse_failure(R"({"process":1,"type":"invoke","f":"cas","key":"k","value":["1"],"time":10})");
  BOOST_TEST((e.line == 1u && contains(e.message, "[expected, new]")));

  e = parse_failure(R"({"process":1,"type":"invoke","f":"delete","key":"k","value":null,"time":10})");
  BOOST_TEST((e.line == 1u && contains(e.message, "unknown value \"delete\"")));

  e = parse_failure(R"({"process":1,"type":"invoke","f":"write","key":"k","value":null,"time":10})");
  BOOST_TEST(e.line == 1u);
  BOOST_TEST(describe(e) == "line 1: a write's \"value\" is not a string or an integer");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(per_key)

BOOST_AUTO_TEST_CASE(one_bad_key_among_many) {
  std::vector<operation> h;
  auto keyed = [](operation o, std::string k) {
    o.key = std::move(k);
    return o;
  };
  for (int k = 0; k < 50; ++k) {
    const std::string key = "k" + std::to_string(k);
    const std::int64_t t = k * 1000;
    h.push_back(keyed(w(1, "a", t, t + 10), key));
    h.push_back(keyed(w(2, "b", t + 5, t + 20), key));
    h.push_back(keyed(rd(3, "b", t + 30, t + 40), key));
    h.push_back(keyed(rd(1, "b", t + 50, t + 60), key));
  }
  // k7: a lost write hidden in 4 ops; k31: a stale read in 3 extra ops.
  h[7 * 4 + 3].value = "a";
  h.push_back(keyed(rd(4, std::nullopt, 31 * 1000 + 70, 31 * 1000 + 80), "k31"));
  h[31 * 4 + 2].value = "c";
  h[31 * 4 + 3].value = "c";
  h.push_back(keyed(w(5, "c", 31 * 1000 + 25, 31 * 1000 + 35), "k31"));
  const check_result r = check(h);
  BOOST_TEST(!r.linearizable);
  BOOST_TEST(r.keys == 50u);
  BOOST_TEST(r.failing_keys == (std::vector<std::string>{"k31", "k7"}));
  BOOST_TEST(r.smallest_failing_key == "k7");
  BOOST_REQUIRE(r.smallest_failing.size() == 4u);
  for (const auto& o : r.smallest_failing) BOOST_TEST(o.key == "k7");
  BOOST_TEST(!check(r.smallest_failing).linearizable);
  BOOST_TEST_MESSAGE("k7:\n" << format_history(r.smallest_failing));
}

BOOST_AUTO_TEST_CASE(budget_reports_unknown_not_pass) {
  // 6 concurrent writes then a read nobody wrote: the search must try
  // every order before refusing, which a budget of 10 steps does not allow.
  std::vector<operation> h;
  for (int p = 0; p < 6; ++p) h.push_back(w(p, std::to_string(p), 0, 100));
  h.push_back(rd(9, "nobody", 200, 300));
  check_options tiny;
  tiny.max_steps_per_key = 10;
  tiny.steps_per_op = 0;  // no floor by the key's size
  const check_result r = check(h, tiny);
  BOOST_TEST(!r.linearizable);
  BOOST_TEST(r.timed_out);
  BOOST_TEST(r.failing_keys.empty());
  BOOST_TEST(r.timed_out_keys == (std::vector<std::string>{"x"}));
  BOOST_TEST(!check(h).timed_out);
  BOOST_TEST(!check(h).linearizable);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// A history of a correct register per key, as a real run would record it:
// `procs` clients per key, each with one op outstanding, random overlapping
// intervals; each op takes effect at a random instant inside its interval,
// the register is replayed in the order of those instants to fill in what
// reads saw and whether a cas applied (a cas that found another value
// fails). About `info_rate` of the ops end in info: half of those info
// writes and cas took effect, half never did. Keys follow each other in
// time (as Jepsen's independent-key workloads do), ops are in invoke order.
std::vector<operation> correct_history(std::size_t n_ops, std::size_t n_keys, int procs, double info_rate,
                                       std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  auto chance = [&rng](double p) { return std::bernoulli_distribution(p)(rng); };
  std::vector<operation> out;
  out.reserve(n_ops);
  std::int64_t base = 1'000'000;
  std::uint64_t next_value = 0;
  for (std::size_t k = 0; k < n_keys; ++k) {
    const std::size_t n = n_ops / n_keys + (k < n_ops % n_keys ? 1 : 0);
    std::vector<std::int64_t> free_at(static_cast<std::size_t>(procs));
    for (auto& t : free_at) t = base + uniform(0, 2000);
    std::vector<operation> ops;
    std::vector<std::int64_t> effect;  // the instant each op takes effect
    std::vector<bool> applies;         // false: an info op that never took effect
    std::vector<std::string> recent;   // recent values, for cas to expect
    for (std::size_t i = 0; i < n; ++i) {
      const auto p = static_cast<std::size_t>(std::min_element(free_at.begin(), free_at.end()) - free_at.begin());
      operation o;
      o.process = static_cast<std::int64_t>(p);
      o.key = "key-" + std::to_string(k);
      o.invoke_ns = free_at[p];
      const std::int64_t end = o.invoke_ns + uniform(200, 20'000);
      const int dice = static_cast<int>(uniform(0, 9));
      o.f = dice < 5 ? op_kind::read : dice < 8 ? op_kind::write : op_kind::cas;
      if (o.f != op_kind::read) o.value = std::to_string(next_value++);
      if (o.f == op_kind::cas) {
        // One of the last three values: often the current one, not always.
        const auto back = static_cast<std::size_t>(uniform(0, 2));
        o.expected = back < recent.size() ? recent[recent.size() - 1 - back] : std::string("none");
      }
      if (o.f != op_kind::read) {
        recent.push_back(*o.value);
        if (recent.size() > 4) recent.erase(recent.begin());
      }
      const bool info = chance(info_rate);
      o.result = info ? outcome::info : outcome::ok;
      o.complete_ns = info ? never_ns : end;
      o.reported_ns = end;
      effect.push_back(uniform(o.invoke_ns, end));
      applies.push_back(!info || chance(0.5));
      free_at[p] = end + uniform(0, 3000);
      ops.push_back(std::move(o));
    }
    std::vector<std::size_t> order(ops.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return effect[a] < effect[b]; });
    value_t state;
    for (std::size_t i : order) {
      operation& o = ops[i];
      if (o.f == op_kind::read) {
        if (o.result == outcome::ok) o.value = state;
      } else if (o.f == op_kind::cas && state != o.expected) {
        if (o.result == outcome::ok) {
          o.result = outcome::fail;
          o.complete_ns = o.reported_ns;
        }
      } else if (applies[i]) {
        state = o.value;
      }
    }
    for (auto& o : ops) out.push_back(std::move(o));
    base = *std::max_element(free_at.begin(), free_at.end()) + 10'000;
  }
  return out;
}

// A read that must be stale, on `key`: a new client reads the value of an
// ok write W1 just after an ok write W2 that was invoked after W1 returned.
// Values are unique, so only W1 wrote it, and W2 lies between. The first
// such pair, or the last one when `late`.
operation stale_read(const std::vector<operation>& ops, const std::string& key, bool late) {
  std::vector<const operation*> writes;
  for (const operation& o : ops)
    if (o.key == key && o.f == op_kind::write && o.result == outcome::ok) writes.push_back(&o);
  const operation* w1 = nullptr;
  const operation* w2 = nullptr;
  for (std::size_t i = 0; i < writes.size() && (late || w2 == nullptr); ++i)
    for (std::size_t j = i + 1; j < writes.size(); ++j)
      if (writes[j]->invoke_ns > writes[i]->complete_ns) {
        w1 = writes[i];
        w2 = writes[j];
        break;
      }
  BOOST_REQUIRE((w1 != nullptr && w2 != nullptr));
  operation stale;
  stale.process = 1000;
  stale.f = op_kind::read;
  stale.key = key;
  stale.value = w1->value;
  stale.result = outcome::ok;
  stale.invoke_ns = w2->complete_ns + 1;
  stale.complete_ns = stale.reported_ns = w2->complete_ns + 2;
  return stale;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(large)

namespace {

// The definition, searched without cleverness: place the ops one at a time;
// an op may go next unless some unplaced ok op returned before it was
// invoked; an info write or cas may also never be placed; fail ops and
// info reads are not there.
bool brute_force(const std::vector<operation>& ops, std::vector<bool>& placed, const value_t& state) {
  bool all_ok_placed = true;
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (!placed[i] && ops[i].result == outcome::ok) all_ok_placed = false;
  if (all_ok_placed) return true;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const operation& x = ops[i];
    if (placed[i]) continue;
    bool may_go = true;
    for (std::size_t j = 0; j < ops.size(); ++j)
      if (!placed[j] && ops[j].result == outcome::ok && ops[j].complete_ns < x.invoke_ns) may_go = false;
    if (!may_go) continue;
    value_t next = state;
    if (x.f == op_kind::read && x.value != state) continue;
    if (x.f == op_kind::cas && x.expected != state) continue;
    if (x.f != op_kind::read) next = x.value;
    placed[i] = true;
    const bool found = brute_force(ops, placed, next);
    placed[i] = false;
    if (found) return true;
  }
  return false;
}

bool brute_force(std::vector<operation> ops) {
  std::erase_if(ops, [](const operation& o) {
    return o.result == outcome::fail || (o.result == outcome::info && o.f == op_kind::read);
  });
  std::vector<bool> placed(ops.size(), false);
  return brute_force(ops, placed, std::nullopt);
}

}  // namespace

BOOST_AUTO_TEST_CASE(small_random_histories_agree_with_brute_force) {
  // Few values, so they repeat; touching and nested intervals; every
  // outcome. Both verdicts must turn up often, and always agree.
  std::mt19937_64 rng(2024);
  auto uniform = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::vector<value_t> values = {std::nullopt, "1", "2", "3"};
  int yes = 0, no = 0;
  for (int round = 0; round < 4000; ++round) {
    std::vector<operation> h;
    std::int64_t free_at[3] = {0, 0, 0};
    const int n = uniform(1, 7);
    for (int i = 0; i < n; ++i) {
      const int p = uniform(0, 2);
      operation o;
      o.process = p;
      o.key = "x";
      o.invoke_ns = free_at[p] + uniform(0, 4);
      o.reported_ns = o.invoke_ns + uniform(0, 8);
      free_at[p] = o.reported_ns;
      const int f = uniform(0, 2);
      o.f = f == 0 ? op_kind::read : f == 1 ? op_kind::write : op_kind::cas;
      o.value = values[static_cast<std::size_t>(uniform(o.f == op_kind::read ? 0 : 1, 3))];
      if (o.f == op_kind::cas) o.expected = values[static_cast<std::size_t>(uniform(1, 3))];
      const int r = uniform(0, 9);
      o.result = r < 7 ? outcome::ok : r < 8 ? outcome::fail : outcome::info;
      o.complete_ns = o.result == outcome::info ? never_ns : o.reported_ns;
      h.push_back(std::move(o));
    }
    std::stable_sort(h.begin(), h.end(),
                     [](const operation& a, const operation& b) { return a.invoke_ns < b.invoke_ns; });
    const bool expected = brute_force(h);
    const key_verdict v = check_key(h);
    (expected ? yes : no)++;
    BOOST_TEST(v.linearizable == expected, "round " << round << ":\n" << format_history(h));
    if (v.linearizable != expected) break;
  }
  BOOST_TEST_MESSAGE(yes << " linearizable, " << no << " not");
  BOOST_TEST(yes > 500);
  BOOST_TEST(no > 500);
}

BOOST_AUTO_TEST_CASE(generated_100k_ops_history) {
  auto t = std::chrono::steady_clock::now();
  const std::vector<operation> made = correct_history(100'000, 500, 8, 0.02, 16);
  BOOST_TEST_MESSAGE("generated " << made.size() << " ops in " << seconds_since(t) << " s");

  // Through the file format, as coraft-chaos would read it back.
  t = std::chrono::steady_clock::now();
  std::stringstream file;
  write_history(file, made);
  const std::size_t bytes = file.str().size();
  auto parsed = read_history(file);
  BOOST_REQUIRE(std::holds_alternative<std::vector<operation>>(parsed));
  std::vector<operation> ops = std::move(std::get<std::vector<operation>>(parsed));
  BOOST_TEST_MESSAGE("wrote and parsed " << bytes / 1024 << " KiB in " << seconds_since(t) << " s");
  BOOST_REQUIRE(ops.size() == made.size());

  const check_result good = check(ops);
  BOOST_TEST_MESSAGE("checked " << good.ops << " ops over " << good.keys << " keys in " << good.seconds << " s ("
                                << good.steps << " search steps)");
  BOOST_TEST(good.linearizable);
  BOOST_TEST(!good.timed_out);
  BOOST_TEST(good.keys == 500u);
  BOOST_TEST(good.seconds < 30.0);

  // One stale read on a key in the middle.
  const std::string victim = "key-250";
  ops.push_back(stale_read(ops, victim, false));

  const check_result bad = check(ops);
  BOOST_TEST_MESSAGE("checked the planted history in " << bad.seconds << " s");
  BOOST_TEST(!bad.linearizable);
  BOOST_TEST(!bad.timed_out);
  BOOST_TEST(bad.failing_keys == (std::vector<std::string>{victim}));
  BOOST_TEST(bad.smallest_failing_key == victim);
}

BOOST_AUTO_TEST_CASE(generated_with_long_keys_and_many_info_ops) {
  // 100,000 ops on 100 keys (1,000 per key), 1 in 20 ending in info.
  std::vector<operation> ops = correct_history(100'000, 100, 8, 0.05, 7);
  const check_result r = check(ops);
  BOOST_TEST_MESSAGE("checked " << r.ops << " ops over " << r.keys << " keys, 5% info, in " << r.seconds << " s ("
                                << r.steps << " search steps)");
  BOOST_TEST(r.linearizable);
  // A stale read near the end of a key: the search has to exhaust the
  // whole key before it may refuse it.
  ops.push_back(stale_read(ops, "key-42", true));
  const check_result bad = check(ops);
  BOOST_TEST_MESSAGE("with a late stale read: " << bad.seconds << " s (" << bad.steps << " search steps)");
  BOOST_TEST(bad.failing_keys == (std::vector<std::string>{"key-42"}));
  BOOST_TEST(!bad.timed_out);
}

BOOST_AUTO_TEST_CASE(generated_small_histories_agree_with_the_generator) {
  // Many small, highly concurrent keys with many info ops: all correct.
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const check_result r = check(correct_history(2'000, 20, 8, 0.1, seed));
    BOOST_TEST(r.linearizable, "seed " << seed);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(timeline)

BOOST_AUTO_TEST_CASE(one_rect_per_op_and_escaped_text) {
  const std::vector<operation> h = {w(1, "<b>&", 0, 1'000'000), rd(2, "<b>&", 500'000, 2'000'000),
                                    cas(3, "<b>&", "2", 2'500'000, 4'000'000, outcome::fail),
                                    w(4, "5", 3'000'000, 3'500'000, outcome::info), w_unanswered(5, "6", 100)};
  const std::string svg = timeline_svg("k<1>", h);
  std::size_t rects = 0;
  for (std::size_t at = svg.find("<rect"); at != std::string::npos; at = svg.find("<rect", at + 1)) ++rects;
  BOOST_TEST(rects == h.size());
  BOOST_TEST(svg.rfind("<svg", 0) == 0u);
  BOOST_TEST(contains(svg, "</svg>"));
  BOOST_TEST(contains(svg, "w &lt;b&gt;&amp;"));
  BOOST_TEST(contains(svg, "key k&lt;1&gt;"));
  BOOST_TEST(!contains(svg, "<b>"));
  BOOST_TEST(!contains(svg, "k<1>"));
  BOOST_TEST(contains(svg, "stroke-dasharray"));  // the info ops
  // Every '&' starts an entity.
  for (std::size_t at = svg.find('&'); at != std::string::npos; at = svg.find('&', at + 1)) {
    const std::string_view rest = std::string_view(svg).substr(at, 6);
    BOOST_TEST((rest.starts_with("&lt;") || rest.starts_with("&gt;") || rest.starts_with("&amp;") ||
                rest.starts_with("&quot;") || rest.starts_with("&apos;")));
  }
}

BOOST_AUTO_TEST_CASE(empty_and_single_instant) {
  BOOST_TEST(contains(timeline_svg("k", {}), "</svg>"));
  const std::string svg = timeline_svg("k", {w(1, "1", 5, 5)});
  BOOST_TEST(contains(svg, "<rect"));
  BOOST_TEST(!contains(svg, "nan\""));
  BOOST_TEST(!contains(svg, "inf\""));
}

BOOST_AUTO_TEST_SUITE_END()
