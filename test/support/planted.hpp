// test/support/planted.hpp — choosing a planted bug (coraft/detail/planted.hpp)
// by name, for the test programs built against the *_planted libraries.
#pragma once

#include <coraft/detail/planted.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace coraft::test {

// The bug named `name` ("read-ctx-reused"...), or nullopt.
inline std::optional<detail::planted_bug> planted_bug_named(std::string_view name) {
  for (std::size_t i = 0; i < std::size(detail::planted_bug_names); ++i)
    if (detail::planted_bug_names[i] == name) return static_cast<detail::planted_bug>(i);
  return std::nullopt;
}

inline std::string planted_bug_list() {
  std::string s;
  for (const auto n : detail::planted_bug_names) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

}  // namespace coraft::test
