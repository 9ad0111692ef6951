// fault_file_system.hpp — failpoints in the file system under file_storage,
// for tests of real processes only: the e2e safety stories (issue 15) and
// the chaos suite (issue 16) start `coraft-kv-faults`, which is coraft-kv's
// own main built with CORAFT_KV_FAULTS (apps/CMakeLists.txt) and this
// wrapper around the POSIX file system. The release `coraft-kv` contains
// none of it: it never reads the variable below.
//
// The failpoints come from one environment variable, read once at start-up
// (a bad value stops the program, exit 2, with a message naming it):
//
//   CORAFT_FAILPOINTS = POINT[,POINT]...
//   POINT  = OP=ACTION[:PARAM]...
//   OP     = sync     fdatasync of a file (directory syncs are not counted)
//          | write    pwrite, and zero_fill (a segment being pre-allocated)
//          | rename   rename, by the file renamed (wal.tmp to a segment,
//                     snap.tmp to a snapshot, coraft.meta.tmp)
//          | dirsync  fsync of the data directory (file= does not apply)
//   ACTION = eio      the (after+1)-th matching call fails with EIO, once.
//                     Modelled on Linux: the call fails and nothing else
//                     happens — what was written stays readable from the
//                     page cache without being durable, and later calls
//                     succeed (the kernel reports a writeback error once).
//                     Only a node that treats the failure as fatal is safe
//                     (DESIGN.md "Guarantees"; issue 15 hole 5).
//          | enospc   every matching call from the (after+1)-th on fails
//                     with ENOSPC before doing anything (a full disk stays
//                     full).
//          | slow     every matching call from the (after+1)-th on sleeps
//                     `ms` milliseconds first, then runs.
//   PARAM  = after=N  matching calls that pass before the point acts
//                     (default 0)
//          | ms=M     slow only, required: 1 to 60000
//          | file=F[+F]...  which files count (default wal+snap):
//                     wal   the log: wal-<seq>.log and wal.tmp (a new segment)
//                     snap  snapshots: snap.tmp and snap-<index>.snap
//                     spare wal.spare (prepared on a helper thread: its
//                           failures are logged and the roll zero-fills
//                           instead, so it is off by default)
//                     meta  coraft.meta and coraft.meta.tmp
//                     any   every file
//
// Each point counts its own matching calls. Examples:
//   CORAFT_FAILPOINTS=sync=eio:after=40        the 41st sync of the log or
//                                              a snapshot fails
//   CORAFT_FAILPOINTS=write=enospc:after=100:file=wal
//   CORAFT_FAILPOINTS=sync=slow:ms=50,write=slow:ms=5:file=any
//   CORAFT_FAILPOINTS=rename=eio:after=1:file=snap   the second snapshot's rename fails
//   CORAFT_FAILPOINTS=dirsync=eio:after=5
//
// Every failure it injects carries "[failpoint ...]" in the error text, and
// is logged once when it first acts.
// Threading: usable from several threads at once (file_storage's I/O and
// snapshot threads, the WAL's spare helper), as the POSIX one is.
#pragma once

#include <coraft/file_system.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace coraft::faults {

inline constexpr const char* failpoints_variable = "CORAFT_FAILPOINTS";

struct failpoint {
  enum class op : std::uint8_t { sync, write, rename, dirsync };
  enum class action : std::uint8_t { eio, enospc, slow };
  // Classes of files (file=): bit flags.
  static constexpr unsigned wal = 1, snap = 2, spare = 4, meta = 8, any = 0xff;

  op what = op::sync;
  action act = action::eio;
  std::uint64_t after = 0;
  int ms = 0;
  unsigned files = wal | snap;
  std::string text;  // as written, for messages
};

// Parses the grammar above; throws std::invalid_argument saying what is
// wrong (without the variable's name). An empty spec is no failpoint.
std::vector<failpoint> parse_failpoints(std::string_view spec);

// The failpoints named by CORAFT_FAILPOINTS (none when unset or empty);
// throws std::invalid_argument with a message that starts with the
// variable's name and says where the grammar is written.
std::vector<failpoint> failpoints_from_environment();

// Wraps `inner`; `log` gets one line when a point first acts.
std::unique_ptr<file_system> make_fault_file_system(std::unique_ptr<file_system> inner, std::vector<failpoint> points,
                                                    std::function<void(const std::string&)> log);

}  // namespace coraft::faults
