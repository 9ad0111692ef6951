#include <coraft/errors.hpp>
#include <coraft/node.hpp>

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

#include <string>

namespace coraft {
namespace {
class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "coraft"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::not_leader: return "not the leader";
      case errc::timeout: return "timed out: the outcome is unknown";
      case errc::stopped: return "node stopped: the command was not accepted";
      case errc::too_large: return "command too large";
      case errc::dropped: return "entry replaced by a newer leader: not committed";
      case errc::overloaded: return "too many pending proposals";
      case errc::transferring: return "leadership is being transferred: retry shortly";
      case errc::bad_target: return "not a voter this leader can transfer leadership to";
      case errc::busy: return "another operation of this kind is running";
      case errc::bad_member: return "not a valid membership change for the current configuration";
      case errc::not_caught_up: return "the learner's log is still far behind the leader's";
      case errc::interrupted: return "node stopped after accepting the command: the outcome is unknown";
    }
    return "unknown coraft error";
  }
};
}  // namespace

const boost::system::error_category& error_category() noexcept {
  static const category c;
  return c;
}

void throw_exception_from_error(const node_error& e, const boost::source_location& loc) {
  boost::throw_exception(boost::system::system_error(e.code), loc);
}
}  // namespace coraft
