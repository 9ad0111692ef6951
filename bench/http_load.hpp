// coraft-bench http — an HTTP/1.1 load generator for coraft-kv's /v1/kv routes.
#pragma once

#include <string>
#include <string_view>

// Runs `coraft-bench http ...`: argv[0] is the mode name ("http"), the rest
// its flags (see --help). Returns the process exit code: 0 after a run with
// at least one successful request, 1 when none succeeded (e.g. the server is
// down), 2 on a bad flag or a target that is not a loopback address.
int run_http_bench(int argc, char** argv);

// RFC 4648 base64 with padding, as etcd's JSON gateway expects for its
// bytes fields (keys and values).
std::string base64(std::string_view in);
