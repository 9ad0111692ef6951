// workload.cpp — see workload.hpp.
#include "workload.hpp"

#include "http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <stdexcept>

namespace coraft::chaos {

namespace asio = boost::asio;

history_writer::history_writer(const std::string& path, const run_clock& clock) : out_(path), clock_(clock) {
  if (!out_) throw std::runtime_error("cannot write the history to " + path);
}

void history_writer::invoke(std::int64_t process, op_kind f, const std::string& key, const boost::json::value& v) {
  out_ << invoke_line(process, f, key, v, clock_.now_ns()) << '\n';
}

void history_writer::complete(std::int64_t process, outcome r, op_kind f, const std::string& key,
                              const boost::json::value& v) {
  out_ << complete_line(process, r, f, key, v, clock_.now_ns()) << '\n';
}

namespace {

// What the answer to a write or cas says about it (workload.hpp).
outcome classify_write(const http_answer& a, op_kind f) {
  if (a.status == 200) return outcome::ok;
  if (a.status == 409 && f == op_kind::cas && a.error == "precondition_failed") return outcome::fail;
  if (!a.sent) return outcome::fail;        // nothing reached a node that would act on it
  if (a.status == 0) return outcome::info;  // timeout or connection lost after sending
  if (a.status == 504) return outcome::info;
  if (a.status == 503) return a.error == "interrupted" ? outcome::info : outcome::fail;
  if (a.status >= 400 && a.status < 500) return outcome::fail;
  return outcome::info;  // 500 and anything unexpected: assume the worst
}

// A client that throws is a bug of the tool: out of io_context::run().
void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

struct key_slot {
  std::string name;
  int ops_left = 0;
  value_t last;  // the latest value a client saw (for cas's expected value)
};

}  // namespace

struct workload::impl {
  impl(workload& s, asio::io_context& i, workload_config c, std::vector<std::string> a, history_writer& h,
       const run_clock& rc)
      : self(s), io(i), cfg(c), addrs(std::move(a)), history(h), clock(rc), rng(c.seed) {
    next_process = cfg.clients;
    for (int k = 0; k < cfg.active_keys; ++k) slots.push_back(fresh_key());
  }

  key_slot fresh_key() {
    key_slot s;
    s.name = "k" + std::to_string(next_key++);
    s.ops_left = cfg.ops_per_key;
    used.push_back(s.name);
    return s;
  }

  template <class T>
  T pick(T lo, T hi) {
    return std::uniform_int_distribution<T>(lo, hi)(rng);
  }

  const std::string& any_node() { return addrs[pick<std::size_t>(0, addrs.size() - 1)]; }

  void count(outcome r, op_kind f) {
    ++self.counts_.ops;
    switch (r) {
      case outcome::ok:
        ++self.counts_.ok;
        if (f != op_kind::read) self.ok_writes_.push_back(clock.now_ns());
        break;
      case outcome::fail: ++self.counts_.fail; break;
      case outcome::info: ++self.counts_.info; break;
    }
  }

  // One read; returns its outcome and records it. `sent`: whether it
  // reached a node.
  asio::awaitable<outcome> read(http_client& client, std::int64_t process, const std::string& key,
                                const std::string& node, bool& sent) {
    history.invoke(process, op_kind::read, key, nullptr);
    const http_answer a = co_await client.call(node, "GET", "/v1/kv/" + key);
    sent = a.sent || a.status != 0;
    outcome r = outcome::fail;  // a read that did not return changed nothing
    value_t seen;
    if (a.status == 200) {
      r = outcome::ok;
      seen = a.body;
    } else if (a.status == 404 && a.error == "not_found") {
      r = outcome::ok;
    }
    history.complete(process, r, op_kind::read, key, r == outcome::ok ? read_value(seen) : boost::json::value());
    if (r == outcome::ok) note_seen(key, seen);
    count(r, op_kind::read);
    co_return r;
  }

  void note_seen(const std::string& key, const value_t& v) {
    for (auto& s : slots)
      if (s.name == key) s.last = v;
  }

  asio::awaitable<void> client_loop(int c, double until_s, const std::atomic<bool>& stop) {
    std::int64_t process = c;
    http_client client(io.get_executor(), cfg.timeout);
    asio::steady_timer think(io);
    while (clock.now_s() < until_s && !stop) {
      const std::size_t si = pick<std::size_t>(0, slots.size() - 1);
      const std::string key = slots[si].name;
      const value_t last = slots[si].last;
      if (--slots[si].ops_left <= 0) slots[si] = fresh_key();
      const std::string node = any_node();
      const int dice = pick(0, 99);
      outcome r;
      bool sent = true;
      op_kind f_last = op_kind::read;
      if (dice < 50) {
        r = co_await read(client, process, key, node, sent);
      } else {
        const bool cas = dice >= 80 && last.has_value();
        const op_kind f = cas ? op_kind::cas : op_kind::write;
        f_last = f;
        const std::string v = std::to_string(next_value++);
        const boost::json::value jv = cas ? cas_value(*last, v) : write_value(v);
        history.invoke(process, f, key, jv);
        const std::string target = "/v1/kv/" + key + (cas ? "?expect=" + *last : std::string());
        const http_answer a = co_await client.call(node, "PUT", target, v);
        sent = a.sent || a.status != 0;
        r = classify_write(a, f);
        history.complete(process, r, f, key, jv);
        if (r == outcome::ok) note_seen(key, v);
        count(r, f);
      }
      if (r == outcome::info) {
        // Its request may still take effect: this process never sends again.
        process = next_process++;
        client.close();
      }
      // After a refusal (a node killed or restarting, no leader, a
      // transfer) the client waits a little: the history would fill with
      // failures otherwise. A cas that found another value (409) is no
      // refusal.
      const bool refused = r == outcome::fail && (!sent || f_last != op_kind::cas);
      if (cfg.max_think.count() > 0 || refused) {
        think.expires_after(refused ? std::chrono::milliseconds(100)
                                    : std::chrono::milliseconds(pick<std::int64_t>(0, cfg.max_think.count())));
        co_await think.async_wait(asio::use_awaitable);
      }
    }
    if (--self.active_ == 0) history.flush();
  }

  asio::awaitable<void> final_reader(std::size_t first, std::size_t stride, int attempts) {
    http_client client(io.get_executor(), cfg.timeout);
    asio::steady_timer backoff(io);
    for (std::size_t k = first; k < used.size(); k += stride) {
      bool read_ok = false;
      for (int a = 0; a < attempts && !read_ok; ++a) {
        const std::int64_t process = next_process++;
        bool sent = true;
        read_ok = co_await read(client, process, used[k], any_node(), sent) == outcome::ok;
        if (!read_ok) {
          backoff.expires_after(std::chrono::milliseconds(100));
          co_await backoff.async_wait(asio::use_awaitable);
        }
      }
      if (!read_ok) ++unread;
    }
    if (--readers_left == 0) {
      history.flush();
      done(unread);
    }
  }

  workload& self;
  asio::io_context& io;
  workload_config cfg;
  std::vector<std::string> addrs;
  history_writer& history;
  const run_clock& clock;
  std::mt19937_64 rng;
  std::vector<key_slot> slots;
  std::vector<std::string> used;
  std::int64_t next_process = 0;
  std::uint64_t next_value = 1;
  std::uint64_t next_key = 1;
  // Final reads' shared state (lives until the last reader ends).
  std::size_t unread = 0;
  int readers_left = 0;
  std::function<void(std::size_t)> done;
};

workload::workload(asio::io_context& io, workload_config cfg, std::vector<std::string> http_addrs,
                   history_writer& history, const run_clock& clock)
    : impl_(std::make_unique<impl>(*this, io, cfg, std::move(http_addrs), history, clock)) {}

workload::~workload() = default;

void workload::start(double until_s, const std::atomic<bool>& stop) {
  for (int c = 0; c < impl_->cfg.clients; ++c) {
    ++active_;
    asio::co_spawn(impl_->io, impl_->client_loop(c, until_s, stop), rethrow);
  }
}

void workload::final_reads(int attempts, std::function<void(std::size_t)> done) {
  impl& m = *impl_;
  m.done = std::move(done);
  m.unread = 0;
  constexpr std::size_t readers = 4;
  m.readers_left = static_cast<int>(readers);
  for (std::size_t r = 0; r < readers; ++r) asio::co_spawn(m.io, m.final_reader(r, readers, attempts), rethrow);
}

}  // namespace coraft::chaos
