// coraft/detail/planted.hpp — safety and liveness bugs put back on purpose,
// so that a test can show the simulations find each one (test/sim: the
// *_finds_* tests, and coraft-sim / coraft-node-sim --plant NAME).
//
// Only a build with CORAFT_PLANTED_BUGS defined has them (the test-only
// libraries coraft_core_planted and coraft_raft_planted); there one is
// chosen at run time by assigning detail::planted. Every other build, the
// release binaries among them, compiles CORAFT_PLANTED(x) to `false`, so the
// buggy branches are not in them at all.
//
// Each bug is one the issue that fixed it describes (issues 15, 19, 21); the comment
// names what the buggy branch does instead of the fix.
#pragma once

#include <string_view>

namespace coraft::detail {

enum class planted_bug {
  none,
  bootstrap_from_options,        // every start takes the bootstrap configuration from the options
  snapshot_fallback_clears_log,  // a hole behind a damaged newest snapshot is taken for an interrupted install
  read_ctx_reused,               // read contexts count from 1 in every incarnation, matched by number alone
  wal_stale_tail,                // WAL recovery leaves the bytes after the cut as they are
  wal_open_trusts_cache,         // WAL recovery only syncs what it read (clean pages in the cache are not on disk)
  read_waits_forever,            // a confirmed read waiting for the local apply has no deadline
  add_voter_unchecked,           // a voter may be added that holds none of the log
  append_hint_unchecked,         // rejection hints are taken without bounds checks
  stale_prevote_counted,         // a granted pre-vote of an earlier term counts
  data_dir_parent_unsynced,      // a new data directory's parent is not synced
  state_machine_on_strand,       // the state machine runs on the node's strand (issue 21)
  snapshot_image_indexed_late,   // an image written out off the state machine's thread is labelled with the
                                 // index applied when the write ends, not at its capture (issue 19)
};

// The names used on command lines (--plant NAME), in enum order.
inline constexpr std::string_view planted_bug_names[] = {
    "none",
    "bootstrap-from-options",
    "snapshot-fallback-clears-log",
    "read-ctx-reused",
    "wal-stale-tail",
    "wal-open-trusts-cache",
    "read-waits-forever",
    "add-voter-unchecked",
    "append-hint-unchecked",
    "stale-prevote-counted",
    "data-dir-parent-unsynced",
    "state-machine-on-strand",
    "snapshot-image-indexed-late",
};

#ifdef CORAFT_PLANTED_BUGS
inline planted_bug planted = planted_bug::none;
#define CORAFT_PLANTED(bug) (::coraft::detail::planted == ::coraft::detail::planted_bug::bug)
#else
#define CORAFT_PLANTED(bug) false
#endif

}  // namespace coraft::detail
