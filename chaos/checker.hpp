// chaos/checker.hpp — is a history of register operations linearizable?
//
// The model: one register per key, initially absent. read returns the
// current value (absent = nullopt); write v sets it to v; cas [e, n] applies
// only when the current value is e, and sets it to n. A history is
// linearizable when each operation can be given one instant inside its
// [invoke, completion] interval such that the operations, run in the order
// of those instants, give the results the clients saw [Herlihy & Wing 1990].
//
// What each outcome means to the check:
// - ok: took effect exactly once inside its interval; must be placed.
// - fail: did not take effect; dropped.
// - info: may have taken effect at any time after its invoke, or never. An
//   info read constrains nothing and is dropped; an info write or cas may be
//   placed anywhere after its invoke, or left out.
// Intervals that merely touch (one completes at t, the other is invoked at
// t) count as concurrent: the clock does not order them, so neither do we.
// That can only accept more histories, never report a false violation.
//
// The search, per key (linearizability is compositional [Herlihy & Wing
// §3.3], so keys are checked independently): Wing & Gong's backtracking
// search over the history as a list of call and return entries, with
// Lowe's cache of (set of operations linearized, register value) to skip
// configurations already explored [Lowe 2017, "Testing for
// linearizability"] — the algorithm of Porcupine. It is exponential in the
// worst case, so each key has a step budget; a key that runs out is
// reported as timed out (unknown), never as a pass.
#pragma once

#include "history.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace coraft::chaos {

struct check_options {
  // Search steps allowed per key before the key is reported as timed out:
  // this, or `steps_per_op` times the key's operations if that is more (a
  // key of 100,000 operations gets 40 million). A step tries one entry or
  // undoes one choice, about 25 ns; each may cache one configuration
  // (about 50 bytes), which bounds the memory too (2 GB at 40 million).
  std::uint64_t max_steps_per_key = 10'000'000;
  std::uint64_t steps_per_op = 400;
};

// The verdict on one key's sub-history.
struct key_verdict {
  bool linearizable = true;  // false when a violation was proven
  bool timed_out = false;    // the budget ran out first: unknown (linearizable is false)
  std::size_t ops = 0;       // operations the search had to place or might place
  std::uint64_t steps = 0;   // search steps taken
};

struct check_result {
  // True only when every key was proven linearizable. False with
  // failing_keys empty means "unknown": some key timed out.
  bool linearizable = true;
  std::size_t ops = 0;                      // operations searched over (fail ops, info reads and
                                            // info writes nobody could have seen are not)
  std::size_t keys = 0;                     // keys in the history
  std::vector<std::string> failing_keys;    // proven violations, sorted
  std::vector<std::string> timed_out_keys;  // unknown, sorted
  // The failing key with the fewest operations (the first by name on a tie)
  // and all its operations as given (fail ones too), in input order.
  std::string smallest_failing_key;
  std::vector<operation> smallest_failing;
  bool timed_out = false;   // timed_out_keys is not empty
  std::uint64_t steps = 0;  // search steps over all keys
  double seconds = 0;       // wall time of the check
};

// Checks the history `ops` (any order; typically read_history's), key by key.
check_result check(const std::vector<operation>& ops, const check_options& opts = {});

// Checks operations that all have the same key (the key itself is ignored).
key_verdict check_key(const std::vector<operation>& ops, const check_options& opts = {});

}  // namespace coraft::chaos
