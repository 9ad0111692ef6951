// Message names and one-line descriptions for logs and golden scenario output.
#include <coraft/messages.hpp>

#include <coraft/detail/crc32c.hpp>

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
  std::string s(1, '(');  // built by appending: g++ 12 warns falsely on "(" + std::string
  s += std::to_string(id.term);
  s += ',';
  s += std::to_string(id.index);
  s += ')';
  return s;
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
                        [](const read_index_request&) { return "read_index_request"; },
                        [](const read_index_response&) { return "read_index_response"; },
                        [](const install_snapshot_request&) { return "install_snapshot_request"; },
                        [](const install_snapshot_response&) { return "install_snapshot_response"; },
                    },
                    m.body);
}

std::string describe(const message& m) {
  std::string head = std::to_string(m.from) + "->" + std::to_string(m.to) + " t" + std::to_string(m.term) + " ";
  return head +
         std::visit(
             overloaded{
                 [](const vote_request& r) {
                   return std::string(r.pre_vote ? "prevote" : "vote") + " last=" + fmt_id(r.last_log) +
                          (r.transfer ? " transfer" : "");
                 },
                 [](const vote_response& r) {
                   return std::string(r.pre_vote ? "prevote_resp " : "vote_resp ") +
                          (r.granted ? "granted" : "rejected");
                 },
                 [](const append_request& r) {
                   std::string s = "append prev=" + fmt_id(r.prev_log) + " n=" + std::to_string(r.entries.size());
                   if (!r.entries.empty())
                     s += " [" + std::to_string(r.entries.front().index) + ".." +
                          std::to_string(r.entries.back().index) + "]";
                   return s + " commit=" + std::to_string(r.leader_commit);
                 },
                 [](const append_response& r) {
                   if (r.success) return "append_resp ok index=" + std::to_string(r.index);
                   return "append_resp reject index=" + std::to_string(r.index) + " hint=" + fmt_id(r.hint);
                 },
                 [](const heartbeat_request& r) {
                   std::string s = "heartbeat commit=" + std::to_string(r.commit);
                   if (r.read_seq != 0) s += " read_seq=" + std::to_string(r.read_seq);
                   return s;
                 },
                 [](const heartbeat_response& r) {
                   std::string s = "heartbeat_resp";
                   if (r.read_seq != 0) s += " read_seq=" + std::to_string(r.read_seq);
                   return s;
                 },
                 [](const timeout_now&) { return std::string("timeout_now"); },
                 [](const read_index_request& r) { return "read_index ctx=" + std::to_string(r.ctx); },
                 [](const read_index_response& r) {
                   return "read_index_resp ctx=" + std::to_string(r.ctx) +
                          (r.ok ? " index=" + std::to_string(r.index) : std::string(" rejected"));
                 },
                 [](const install_snapshot_request& r) {
                   return "snapshot last=" + fmt_id(r.meta.last) + " offset=" + std::to_string(r.offset) +
                          " n=" + std::to_string(r.source ? r.fill : r.data.size()) + "/" +
                          std::to_string(r.meta.size) + (r.done ? " done" : "");
                 },
                 [](const install_snapshot_response& r) {
                   return "snapshot_resp index=" + std::to_string(r.index) + " next=" + std::to_string(r.next_offset) +
                          (r.installed ? " installed" : "") + (r.whole_failed ? " whole_failed" : "");
                 },
             },
             m.body);
}

std::size_t payload_bytes(const message& m) {
  if (const auto* s = std::get_if<install_snapshot_request>(&m.body)) return s->source ? s->fill : s->data.size();
  const auto* a = std::get_if<append_request>(&m.body);
  if (a == nullptr) return 0;
  std::size_t n = 0;
  for (const auto& e : a->entries) n += e.data.size();
  return n;
}

void fill_snapshot_chunk(install_snapshot_request& r) {
  if (!r.source) return;
  std::string bytes(static_cast<std::size_t>(r.fill), '\0');
  r.source->read(r.offset, bytes.data(), bytes.size());
  r.data = payload(bytes);
  r.crc = detail::crc32c(bytes.data(), bytes.size());
  r.source.reset();
  r.fill = 0;
}

bool needs_fill(const message& m) {
  const auto* r = std::get_if<install_snapshot_request>(&m.body);
  return r != nullptr && r->source;
}

}  // namespace coraft
