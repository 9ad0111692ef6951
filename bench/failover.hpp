// coraft-bench failover — kill -9 the leader of a local 3-node cluster under
// writes, N times, and report how long writes were unavailable.
#pragma once

// Runs `coraft-bench failover ...`: argv[0] is the mode name ("failover"),
// the rest its flags (see --help). Returns 0 when every run recovered, 1 when
// a run did not recover within --recover-timeout or the cluster could not
// start, 2 on a bad flag.
int run_failover_bench(int argc, char** argv);
