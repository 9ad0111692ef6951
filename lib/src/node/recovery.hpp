// recovery.hpp — start-up: from what storage holds to a running core.
//
// Loads storage, settles the bootstrap configuration (written durably on
// the first start, before the node can vote or acknowledge anything; taken
// from storage on every later start, whatever the options say), restores
// the state machine from the newest snapshot, and builds the core over the
// log after it.
//
// It refuses — throws, naming the cause and the fix — every state from
// which the node cannot prove it holds what it acknowledged: a log that
// starts after the newest valid snapshot (a damaged or missing snapshot), a
// snapshot the state machine cannot read, state without a bootstrap
// configuration. Such a node must never come back as the same voter.
#pragma once

#include "node_context.hpp"

#include <coraft/state_machine.hpp>
#include <coraft/storage.hpp>

#include <boost/asio/awaitable.hpp>

#include <optional>

namespace coraft::detail {

struct recovered {
  index_t snapshot_index = 0;  // the state machine holds everything through it
  // The snapshot is ahead of the log or disagrees with it: the first write
  // discards the log (see log_writer::reset_on_first_write).
  std::optional<log_id> reset_on_first_write;
};

// Emplaces ctx.raft. Throws (errc::stopped) when the node is stopped while
// it awaits storage.
asio::awaitable<recovered> recover(node_context& ctx, storage& store, state_machine& sm);

}  // namespace coraft::detail
