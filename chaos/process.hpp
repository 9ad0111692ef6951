// process.hpp — child processes for the programs and tests that run real
// coraft-kv nodes (coraft-chaos, test/e2e): fork and execve with an
// environment, optionally inside a network namespace and a UTS namespace of
// its own, output appended to a log; waiting for the exit with a bound.
//
// Invariants: a child dies with the thread that forked it
// (PR_SET_PDEATHSIG), so a crashed parent leaves no node behind; everything
// the child needs is built before fork() (other threads may hold the
// allocator's lock at that moment); callers signal only pids spawn() gave
// them, and reap each.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace coraft::chaos {

struct spawn_options {
  std::vector<std::string> env;    // NAME=VALUE, replacing same-named variables of ours
  std::string netns;               // a namespace under /var/run/netns to enter ("": ours)
  std::string hostname;            // with netns: the host name in a UTS namespace of its own
  std::filesystem::path log;       // stdout and stderr appended here (empty: /dev/null)
  bool own_process_group = false;  // a terminal's Ctrl-C does not reach it
};

// argv[0] is the program's path. -1 when fork() failed; a child that
// cannot execve exits 127 (125 when it cannot enter the namespace).
pid_t spawn(const std::vector<std::string>& argv, const spawn_options& how = {});

// An exit status as a number: the exit code, -signal when killed by one.
int decode_status(int wait_status);

// Waits for `pid` to exit, at most `bound`: its decoded status, nullopt
// when it is still running (-998 when waitpid failed).
std::optional<int> reap_within(pid_t pid, std::chrono::milliseconds bound);

}  // namespace coraft::chaos
