// e2e_clients.cpp — see e2e_clients.hpp.
#include "e2e_clients.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace e2e {

namespace json = boost::json;

std::uint64_t number(const json::value& v, const char* key) {
  if (!v.is_object() || !v.as_object().contains(key) || !v.at(key).is_number()) return 0;
  return v.at(key).to_number<std::uint64_t>();
}

std::string text_field(const http_reply& r, const char* key) {
  const json::value v = r.json();
  if (!v.is_object() || !v.as_object().contains(key) || !v.at(key).is_string()) return {};
  return std::string(v.at(key).as_string());
}

std::string error_code(const http_reply& r) { return text_field(r, "error"); }

long long ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

std::uint64_t max_index(const std::vector<ack>& acks) {
  std::uint64_t m = 0;
  for (const auto& a : acks) m = std::max(m, a.index);
  return m;
}

// ---- the writer ------------------------------------------------------------

writer::writer(const kv_cluster& c, std::string prefix, writer_options o)
    : prefix_(std::move(prefix)), opts_(o), end_(clock_type::now() + o.max_time) {
  for (int id : c.ids()) addrs_.push_back(c.http_addr(id));
  for (int t = 0; t < std::max(1, opts_.threads); ++t) threads_.emplace_back([this, t] { run(t); });
}

void writer::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

bool writer::wait_acked(std::size_t n, std::chrono::milliseconds within) const {
  return kv_cluster::eventually(
      within, [&] { return acked_ >= n; }, 5ms);
}

std::vector<ack> writer::acks() const {
  std::lock_guard lock(mutex_);
  return acks_;
}

std::string writer::outcomes() const {
  std::lock_guard lock(mutex_);
  std::ostringstream os;
  for (const auto& [what, n] : outcomes_) os << "  " << n << " x " << what << "\n";
  return os.str();
}

void writer::run(int t) {
  std::size_t target = static_cast<std::size_t>(t) % addrs_.size();
  for (int seq = 0; !stop_ && clock_type::now() < end_ && started_++ < opts_.max_writes; ++seq) {
    std::ostringstream key;
    key << prefix_;
    if (opts_.threads > 1) key << t << "-";
    key << std::setw(5) << std::setfill('0') << seq;
    const std::string value = "value-" + std::to_string(seq) + "-" + key.str();
    std::string where = addrs_[target], what = "/v1/kv/" + key.str();
    http_reply r;
    for (int hop = 0; hop < 3; ++hop) {
      r = http_call(where, "PUT", what, value, {}, 3000ms);
      if (r.status != 307) break;
      auto loc = split_location(r.header("location"));
      if (!loc) break;
      std::tie(where, what) = *loc;
      for (std::size_t i = 0; i < addrs_.size(); ++i)
        if (addrs_[i] == where) target = i;
    }
    {
      std::lock_guard lock(mutex_);
      ++outcomes_[r.answered() ? std::to_string(r.status) + " " + error_code(r)
                               : "no answer from " + where + " (" + r.failure + ")"];
      if (r.status == 200) {
        acks_.push_back(ack{key.str(), value, number(r.json(), "index"), clock_type::now()});
        ++acked_;
      }
    }
    if (r.status != 200) target = (target + 1) % addrs_.size();
    const auto pause = r.status == 200 ? opts_.pause : opts_.retry_pause;
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  ++finished_;
}

// ---- operations and checks -------------------------------------------------

http_reply change_membership(const kv_cluster& c, int via, const std::string& method, const std::string& target,
                             const std::string& body, bool retry_not_caught_up) {
  http_reply r;
  kv_cluster::eventually(
      20s,
      [&] {
        r = c.call_following(via, method, target, body);
        const std::string code = error_code(r);
        return !(r.status == 409 && (code == "busy" || (retry_not_caught_up && code == "not_caught_up")));
      },
      100ms);
  return r;
}

std::optional<int> leader_among(const kv_cluster& c, const std::vector<int>& ids, std::chrono::milliseconds within) {
  std::optional<int> found;
  kv_cluster::eventually(
      within,
      [&] {
        std::optional<std::uint64_t> term;
        int leader = 0;
        bool says_so = false;
        for (int id : ids) {
          auto s = c.status(id);
          if (!s || s->leader == 0 || (term && (*term != s->term || leader != s->leader))) return false;
          term = s->term;
          leader = s->leader;
          says_so = says_so || (s->id == leader && s->role == "leader");
        }
        if (says_so) found = leader;
        return says_so;
      },
      10ms);
  return found;
}

void check_every_ack_is_readable(const kv_cluster& c, int via, const std::vector<int>& nodes,
                                 const std::vector<ack>& acks, std::chrono::milliseconds apply_within) {
  int lost = 0;
  for (const auto& a : acks) {
    const http_reply r = c.call_following(via, "GET", "/v1/kv/" + a.key);
    if ((r.status != 200 || r.body != a.value) && ++lost <= 5)
      BOOST_ERROR("acknowledged write " << a.key << " (index " << a.index << ") read linearizably via node " << via
                                        << ": " << r.brief());
  }
  BOOST_TEST(lost == 0, lost << " of " << acks.size() << " acknowledged writes missing on a linearizable read");
  const std::uint64_t last = max_index(acks);
  for (int id : nodes) {
    BOOST_TEST_REQUIRE(c.wait_applied(id, last, apply_within),
                       "node " << id << " did not apply index " << last << " within " << apply_within.count() << " ms");
    int stale_lost = 0;
    for (const auto& a : acks) {
      const http_reply r = c.call(id, "GET", "/v1/kv/" + a.key + "?stale");
      if ((r.status != 200 || r.body != a.value) && ++stale_lost <= 5)
        BOOST_ERROR("acknowledged write " << a.key << " (index " << a.index << ") read ?stale on node " << id << ": "
                                          << r.brief());
    }
    BOOST_TEST(stale_lost == 0, stale_lost << " of " << acks.size() << " acknowledged writes missing in node " << id
                                           << "'s local state");
  }
}

}  // namespace e2e
