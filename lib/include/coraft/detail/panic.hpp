// coraft/detail/panic.hpp — CORAFT_PANIC: an invariant of the protocol is
// broken; the process must not go on.
//
// A broken invariant (a committed entry about to be truncated, a commit
// index beyond the log) means this node's state can no longer be trusted:
// acknowledging anything more could break the guarantees other nodes rely
// on. The node prints which node, where and what on stderr (async-signal
// safe enough for an abort path: one write) and aborts, so that a core dump
// keeps the state. Usable in the pure core.
#pragma once

#include <coraft/types.hpp>

namespace coraft::detail {

[[noreturn]] void panic(node_id node, const char* file, int line, const char* what) noexcept;

}  // namespace coraft::detail

#define CORAFT_PANIC(node, what) ::coraft::detail::panic((node), __FILE__, __LINE__, (what))
