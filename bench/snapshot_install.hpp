// snapshot_install.hpp — `coraft-bench snapshot-install` (see the .cpp).
#pragma once

int run_snapshot_install_bench(int argc, char** argv);
