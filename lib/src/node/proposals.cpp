// proposals.cpp — see proposals.hpp.
#include "proposals.hpp"

#include <algorithm>
#include <iterator>

namespace coraft::detail {

void proposals::reject(waiter&& w, errc e, node_id hint) { complete(w, node_error(e, hint)); }

void proposals::track(log_id id, waiter&& w) {
  while (!pending_.empty() && pending_.back().index >= id.index) {
    superseded_.push_back(std::move(pending_.back()));
    pending_.pop_back();
  }
  const auto timeout = static_cast<std::uint64_t>(ctx_.opts.propose_timeout_ticks);
  const auto accepted = ctx_.opts.latency_histograms ? now() : std::chrono::steady_clock::time_point{};
  pending_.push_back(pending{id.index, id.term, ctx_.deadline(timeout), accepted, std::move(w)});
}

void proposals::committed(std::span<const entry> committed) {
  if (committed.empty() || !ctx_.opts.latency_histograms) return;
  const index_t first = committed.front().index, last = committed.back().index;
  // pending_ is in index order: start past what an earlier call counted.
  auto it = std::upper_bound(pending_.begin(), pending_.end(), std::max(commit_seen_, first - 1),
                             [](index_t i, const pending& p) { return i < p.index; });
  commit_seen_ = std::max(commit_seen_, last);
  for (; it != pending_.end() && it->index <= last; ++it) {
    if (committed[it->index - first].term != it->term) continue;  // another leader's entry [§5.3]
    ctx_.metrics.propose_commit_latency.observe(std::chrono::duration<double>(now() - it->accepted).count());
  }
}

void proposals::applied(const entry& e, std::string result) {
  if (!superseded_.empty()) {
    // Decided now: ours committed after all, or another term's entry did.
    for (auto it = superseded_.begin(); it != superseded_.end();) {
      if (it->index > e.index) {
        ++it;
        continue;
      }
      if (it->index == e.index && it->term == e.term)
        complete(it->w, applied_command{e.index, result}, it->accepted);
      else if (it->index == e.index)
        complete(it->w, errc::dropped);
      else
        complete(it->w, errc::timeout);  // its index went by unseen (a guard): unknown, never a guess
      it = superseded_.erase(it);
    }
  }
  // Proposals below this index missed their entry (cannot happen while
  // indexes are applied one by one; kept as a guard against hangs).
  while (!pending_.empty() && pending_.front().index <= e.index) {
    pending& p = pending_.front();
    if (p.index == e.index && p.term == e.term) {
      complete(p.w, applied_command{e.index, std::move(result)}, p.accepted);
    } else {
      // A newer leader put another entry at this index [§5.3]: ours can
      // never commit.
      complete(p.w, errc::dropped);
    }
    pending_.pop_front();
  }
}

void proposals::restored(index_t last) {
  while (!pending_.empty() && pending_.front().index <= last) {
    complete(pending_.front().w, errc::timeout);
    pending_.pop_front();
  }
  settle_superseded([last](const pending& p) { return p.index <= last; }, errc::timeout);
}

void proposals::expire() {
  while (!pending_.empty() && pending_.front().deadline_tick <= ctx_.now_tick) {
    complete(pending_.front().w, errc::timeout);
    pending_.pop_front();
  }
  settle_superseded([this](const pending& p) { return p.deadline_tick <= ctx_.now_tick; }, errc::timeout);
}

void proposals::fail_all(errc e) {
  for (auto& p : pending_) complete(p.w, e);
  pending_.clear();
  settle_superseded([](const pending&) { return true; }, e);
}

template <class Pred>
void proposals::settle_superseded(Pred pred, errc e) {
  for (auto it = superseded_.begin(); it != superseded_.end();) {
    if (pred(*it)) {
      complete(it->w, e);
      it = superseded_.erase(it);
    } else {
      ++it;
    }
  }
}

void proposals::complete(waiter& w, node_result<applied_command> out, std::chrono::steady_clock::time_point accepted) {
  if (out) {
    ++ctx_.metrics.proposals_ok;
    if (ctx_.opts.latency_histograms)
      ctx_.metrics.commit_latency.observe(std::chrono::duration<double>(now() - accepted).count());
  } else {
    ++ctx_.metrics.proposals_failed;
  }
  if (completions_.empty()) asio::post(ctx_.strand, [this] { send_completions(); });
  completions_.push_back({std::move(w.client), std::move(w.handler), std::move(out)});
}

void proposals::send_completions() {
  std::vector<completion> all;
  all.swap(completions_);
  now_cache_.reset();
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i + 1;
    while (j < all.size() && all[j].client == all[i].client) ++j;
    std::vector<completion> run(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(i)),
                                std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(j)));
    auto ex = run.front().client;
    asio::post(ex, [run = std::move(run)]() mutable {
      for (auto& c : run) std::move(c.handler)(std::move(c.out));
    });
    i = j;
  }
}

std::chrono::steady_clock::time_point proposals::now() {
  if (!now_cache_) now_cache_ = std::chrono::steady_clock::now();
  return *now_cache_;
}

}  // namespace coraft::detail
