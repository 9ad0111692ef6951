// coraft/errors.hpp — expected failures of the node API, as error codes in
// the `coraft` category (STYLE.md "Errors": API errors callers handle).
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace coraft {

enum class errc {
  not_leader = 1,  // this node is not the leader; retry on the leader (hint)
  timeout,         // no answer in time: the outcome is unknown
  stopped,         // the node is stopping or stopped (or hit a fatal error): the
                   // command was refused before it entered the log (not applied)
  too_large,       // the command exceeds the configured maximum
  dropped,         // the entry was replaced by a newer leader: not committed
  overloaded,      // too many proposals pending: retry later
  transferring,    // leadership is being transferred: retry shortly (on the new leader)
  bad_target,      // leadership transfer to a node that is not a voter, or to itself
  busy,            // an operation of this kind is already running (or, for a
                   // membership change, the previous change is not committed yet;
                   // for a snapshot, a joiner does not yet know its configuration)
  bad_member,      // membership change: already a member, not a learner, not a member, or the last voter
  not_caught_up,   // promoting a learner whose log is still far behind the leader's
  interrupted,     // the node stopped after the command entered its log: it may
                   // still commit through the next leader, so the outcome is unknown
};

const boost::system::error_category& error_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace coraft

template <>
struct boost::system::is_error_code_enum<coraft::errc> : std::true_type {};
