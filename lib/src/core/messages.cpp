// Message names and one-line descriptions for logs and golden scenario output.
#include <coraft/messages.hpp>

#include <cstdio>
#include <string>

namespace coraft {
namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

std::string fmt_id(log_id id) {
  return "(" + std::to_string(id.term) + "," + std::to_string(id.index) + ")";
}

}  // namespace

const char* type_name(const message& m) {
  return std::visit(overloaded{
                        [](const vote_request&) { return "vote_request"; },
                        [](const vote_response&) { return "vote_response"; },
                        [](const append_request&) { return "append_request"; },
                        [](const append_response&) { return "append_response"; },
                        [](const heartbeat_request&) { return "heartbeat_request"; },
                        [](const heartbeat_response&) { return "heartbeat_response"; },
                        [](const timeout_now&) { return "timeout_now"; },
                    },
                    m.body);
}

std::string describe(const message& m) {
  std::string head = std::to_string(m.from) + "->" + std::to_string(m.to) + " t" +
                     std::to_string(m.term) + " ";
  return head + std::visit(
                    overloaded{
                        [](const vote_request& r) {
                          return std::string(r.pre_vote ? "prevote" : "vote") +
                                 " last=" + fmt_id(r.last_log) + (r.transfer ? " transfer" : "");
                        },
                        [](const vote_response& r) {
                          return std::string(r.pre_vote ? "prevote_resp " : "vote_resp ") +
                                 (r.granted ? "granted" : "rejected");
                        },
                        [](const append_request& r) {
                          std::string s = "append prev=" + fmt_id(r.prev_log) +
                                          " n=" + std::to_string(r.entries.size());
                          if (!r.entries.empty())
                            s += " [" + std::to_string(r.entries.front().index) + ".." +
                                 std::to_string(r.entries.back().index) + "]";
                          return s + " commit=" + std::to_string(r.leader_commit);
                        },
                        [](const append_response& r) {
                          if (r.success) return "append_resp ok index=" + std::to_string(r.index);
                          return "append_resp reject index=" + std::to_string(r.index) +
                                 " hint=" + fmt_id(r.hint);
                        },
                        [](const heartbeat_request& r) {
                          return "heartbeat commit=" + std::to_string(r.commit);
                        },
                        [](const heartbeat_response&) { return std::string("heartbeat_resp"); },
                        [](const timeout_now&) { return std::string("timeout_now"); },
                    },
                    m.body);
}

std::size_t payload_bytes(const message& m) {
  const auto* a = std::get_if<append_request>(&m.body);
  if (a == nullptr) return 0;
  std::size_t n = 0;
  for (const auto& e : a->entries) n += e.data.size();
  return n;
}

}  // namespace coraft
