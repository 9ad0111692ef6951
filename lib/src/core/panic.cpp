// panic.cpp — see coraft/detail/panic.hpp.
#include <coraft/detail/panic.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace coraft::detail {

void panic(node_id node, const char* file, int line, const char* what) noexcept {
  const char* base = std::strrchr(file, '/');
  std::fprintf(stderr, "coraft panic on node %llu (%s:%d): %s\n", static_cast<unsigned long long>(node),
               base != nullptr ? base + 1 : file, line, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace coraft::detail
