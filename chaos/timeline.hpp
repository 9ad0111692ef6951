// chaos/timeline.hpp — a picture of one key's sub-history, to see why the
// checker refused it (after Porcupine's visualisation).
//
// A self-contained SVG: one row per process (in process order), each
// operation one <rect> from its invoke to its completion, labelled "w 3",
// "r nil", "cas 1→2", filled by outcome (ok green, fail red, info amber).
// An info operation may take effect at any later time, so its bar is
// dashed and runs to the right edge (or, when its process went on, to that
// process's next invoke). The axis is in ms from the first invoke. Every
// value is escaped, so a value holding '<' or '&' cannot break the file;
// each bar's <title> (a hover tooltip) gives the full operation.
#pragma once

#include "history.hpp"

#include <string>
#include <vector>

namespace coraft::chaos {

std::string timeline_svg(const std::string& key, const std::vector<operation>& ops);

}  // namespace coraft::chaos
