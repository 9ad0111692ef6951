// coraft/persistent_map.hpp — an ordered map from byte strings to values
// whose copy costs O(1): the state a service keeps for pause-free snapshots
// (state_machine::capture()).
//
// A randomized binary search tree (a treap: a heap by random priority, a
// search tree by key) whose nodes are shared between copies and counted.
// Copying a map copies its root pointer; a change copies only the nodes on
// its path that another copy still shares (path copying), and changes in
// place the nodes it alone holds. So a state machine copies its map as its
// snapshot image on its own thread in O(1), writes the copy out on another
// thread while apply() changes the original, and the two never see each
// other's changes. Memory: the nodes changed since the copy, while it
// lives.
//
// Keys are bytes, ordered as std::string_view orders them, and kept in the
// node itself, after its fields: a lookup in a map too big for the cache
// misses once per level of the tree instead of twice (node, then a key
// held elsewhere). With an 8-byte value (coraft-kv's payload) a node and a
// key of up to 24 bytes take 64 bytes.
//
// Changes give the strong exception guarantee: when a Value's copy or an
// allocation throws, the map and its copies are as they were.
//
// Invariants: a node reachable from more than one map (or from more than
// one parent) has a count above 1 and is never changed; a map changes a
// node only when it holds the one reference to it (it then also holds the
// only path to it). Counts are atomic, so copies may be read, and
// destroyed, on different threads at once — each copy by one thread at a
// time, as with any value.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <random>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace coraft {

template <class Value>
class persistent_map {
  // Followed in the same allocation by key_size bytes of key.
  struct node {
    std::atomic<std::uint32_t> refs;
    std::uint32_t key_size;
    std::uint64_t priority;
    node* left;
    node* right;
    Value value;
    std::string_view key() const noexcept { return {reinterpret_cast<const char*>(this + 1), key_size}; }
  };

 public:
  persistent_map() = default;
  persistent_map(const persistent_map& o) noexcept : root_(retain(o.root_)), size_(o.size_), rng_(o.rng_ + 1) {}
  persistent_map(persistent_map&& o) noexcept
      : root_(std::exchange(o.root_, nullptr)), size_(std::exchange(o.size_, 0)), rng_(o.rng_) {}
  persistent_map& operator=(persistent_map o) noexcept {
    std::swap(root_, o.root_);
    std::swap(size_, o.size_);
    std::swap(rng_, o.rng_);
    return *this;
  }
  ~persistent_map() { release(root_); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  const Value* find(std::string_view key) const {
    const node* t = root_;
    while (t != nullptr) {
      const int c = key.compare(t->key());
      if (c < 0)
        t = t->left;
      else if (c > 0)
        t = t->right;
      else
        return &t->value;
    }
    return nullptr;
  }

  // Sets `key` to `value`; true when the key is new.
  bool insert_or_assign(std::string_view key, Value value) {
    if (key.size() > max_key_size) throw std::length_error("persistent_map: key longer than 4 GiB");
    bool added = false;
    root_ = put(root_, key, value, added);
    size_ += added ? 1 : 0;
    return added;
  }

  // Removes `key`; false when it was not there.
  bool erase(std::string_view key) {
    if (find(key) == nullptr) return false;  // nothing to copy for
    root_ = remove(root_, key);
    --size_;
    return true;
  }

  // In key order, from the first key not less than `from`: fn(key, value)
  // until it returns false.
  template <class Fn>
  void for_each_from(std::string_view from, Fn&& fn) const {
    std::vector<const node*> stack;  // the path of nodes still to visit, in order
    for (const node* t = root_; t != nullptr;) {
      if (t->key() < from) {
        t = t->right;
      } else {
        stack.push_back(t);
        t = t->left;
      }
    }
    walk(stack, fn);
  }

  template <class Fn>
  void for_each(Fn&& fn) const {
    std::vector<const node*> stack;
    for (const node* t = root_; t != nullptr; t = t->left) stack.push_back(t);
    walk(stack, fn);
  }

 private:
  template <class Fn>
  static void walk(std::vector<const node*>& stack, Fn& fn) {
    while (!stack.empty()) {
      const node* t = stack.back();
      stack.pop_back();
      if (!fn(t->key(), t->value)) return;
      for (const node* c = t->right; c != nullptr; c = c->left) stack.push_back(c);
    }
  }

  static constexpr std::size_t max_key_size = UINT32_MAX;

  // Nodes come from ::operator new; a Value aligned beyond what it gives
  // by default asks for its alignment.
  static constexpr bool over_aligned = alignof(node) > __STDCPP_DEFAULT_NEW_ALIGNMENT__;
  static void* allocate(std::size_t n) {
    if constexpr (over_aligned)
      return ::operator new (n, std::align_val_t{alignof(node)});
    else
      return ::operator new(n);
  }
  static void deallocate(void* p) noexcept {
    if constexpr (over_aligned)
      ::operator delete (p, std::align_val_t{alignof(node)});
    else
      ::operator delete(p);
  }

  // A node with one reference (the caller's), owning `left` and `right`.
  template <class V>
  static node* make_node(std::uint64_t priority, std::string_view key, V&& value, node* left, node* right) {
    void* mem = allocate(sizeof(node) + key.size());
    node* t = nullptr;
    try {
      t = new (mem) node{{1}, static_cast<std::uint32_t>(key.size()), priority, left, right, std::forward<V>(value)};
    } catch (...) {
      deallocate(mem);
      throw;
    }
    if (!key.empty()) std::memcpy(reinterpret_cast<char*>(t + 1), key.data(), key.size());
    return t;
  }
  static void destroy(node* t) noexcept {
    t->~node();
    deallocate(t);
  }

  static node* retain(node* t) noexcept {
    if (t != nullptr) t->refs.fetch_add(1, std::memory_order_relaxed);
    return t;
  }
  // Drops one reference; frees what no one else holds. Iterative: a freed
  // subtree can be as deep as the tree.
  static void release(node* t) noexcept {
    std::vector<node*> todo;
    while (true) {
      if (t != nullptr && t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        if (t->left != nullptr) todo.push_back(t->left);
        if (t->right != nullptr) todo.push_back(t->right);
        destroy(t);
      }
      if (todo.empty()) return;
      t = todo.back();
      todo.pop_back();
    }
  }
  // A change is exception-safe (strong guarantee): whatever throws — a
  // Value's copy, an allocation — the map and every copy are as they were.
  // So a change goes down through writable() copies of shared nodes and
  // drops the originals only once the level below has succeeded; when it
  // throws, the copies made are freed and the originals, still referenced
  // by their parents, are untouched (change()).
  //
  // Given a reference it owns, a node with t's contents that only it holds:
  // `t` itself, or a copy holding its own references to t's children.
  static node* writable(node* t) {
    if (t->refs.load(std::memory_order_acquire) == 1) return t;
    node* c = make_node(t->priority, t->key(), t->value, t->left, t->right);
    retain(c->left);
    retain(c->right);
    return c;
  }
  // Runs fn on writable(t) and returns that node; a copy replaces `t` (its
  // reference dropped) only once fn succeeded. When fn throws, the copy is
  // freed and `t` is the caller's, unchanged.
  template <class Fn>
  static node* change(node* t, Fn&& fn) {
    node* c = writable(t);
    try {
      fn(c);
    } catch (...) {
      if (c != t) release(c);
      throw;
    }
    if (c != t) release(t);
    return c;
  }
  std::uint64_t next_priority() noexcept {
    // splitmix64: priorities only shape the tree, never its contents.
    std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  static node* rotate_right(node* t) noexcept {  // t and t->left are unique
    node* l = t->left;
    t->left = l->right;
    l->right = t;
    return l;
  }
  static node* rotate_left(node* t) noexcept {  // t and t->right are unique
    node* r = t->right;
    t->right = r->left;
    r->left = t;
    return r;
  }

  // Owns `t` (may be null), returns the owned new subtree; on a throw, `t`
  // is still the caller's, unchanged. Recursion depth is the treap's
  // height: O(log n) expected.
  node* put(node* t, std::string_view key, Value& value, bool& added) {
    if (t == nullptr) {
      node* leaf = make_node(next_priority(), key, std::move(value), nullptr, nullptr);
      added = true;
      return leaf;
    }
    const int o = key.compare(t->key());
    node* c = change(t, [&](node* w) {
      if (o < 0)
        w->left = put(w->left, key, value, added);
      else if (o > 0)
        w->right = put(w->right, key, value, added);
      else
        w->value = std::move(value);
    });
    if (o < 0 && c->left->priority > c->priority) return rotate_right(c);
    if (o > 0 && c->right->priority > c->priority) return rotate_left(c);
    return c;
  }

  // Owns `t`; `key` is in it. On a throw, `t` is the caller's, unchanged.
  node* remove(node* t, std::string_view key) {
    const int o = key.compare(t->key());
    if (o == 0) {
      // Its children change hands: from t (freed unless a copy holds it)
      // to t's parent.
      node* l = retain(t->left);
      node* r = retain(t->right);
      node* joined = nullptr;
      try {
        joined = join(l, r);
      } catch (...) {
        release(l);
        release(r);
        throw;
      }
      release(t);
      return joined;
    }
    return change(t, [&](node* w) {
      if (o < 0)
        w->left = remove(w->left, key);
      else
        w->right = remove(w->right, key);
    });
  }

  // Owns `a` and `b`, every key of a before every key of b. On a throw,
  // both are the caller's, unchanged.
  static node* join(node* a, node* b) {
    if (a == nullptr) return b;
    if (b == nullptr) return a;
    if (a->priority > b->priority) {
      return change(a, [b](node* w) { w->right = join(w->right, b); });
    }
    return change(b, [a](node* w) { w->left = join(a, w->left); });
  }

  node* root_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t rng_ = std::random_device{}();
};

}  // namespace coraft
