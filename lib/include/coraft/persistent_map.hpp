// coraft/persistent_map.hpp — an ordered map whose copy costs O(1): the
// state a service keeps for pause-free snapshots (state_machine::capture()).
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
#include <functional>
#include <random>
#include <utility>
#include <vector>

namespace coraft {

template <class Key, class Value, class Compare = std::less<>>
class persistent_map {
  struct node {
    std::atomic<std::uint32_t> refs{1};
    std::uint64_t priority;
    Key key;
    Value value;
    node* left = nullptr;
    node* right = nullptr;
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

  template <class K>
  const Value* find(const K& key) const {
    const node* t = root_;
    while (t != nullptr) {
      const int c = order(key, t->key);
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
  bool insert_or_assign(Key key, Value value) {
    bool added = false;
    root_ = put(root_, key, value, added);
    size_ += added ? 1 : 0;
    return added;
  }

  // Removes `key`; false when it was not there.
  template <class K>
  bool erase(const K& key) {
    if (find(key) == nullptr) return false;  // nothing to copy for
    root_ = remove(root_, key);
    --size_;
    return true;
  }

  // In key order, from the first key not less than `from`: fn(key, value)
  // until it returns false.
  template <class K, class Fn>
  void for_each_from(const K& from, Fn&& fn) const {
    std::vector<const node*> stack;  // the path of nodes still to visit, in order
    for (const node* t = root_; t != nullptr;) {
      if (less_(t->key, from)) {
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
      if (!fn(t->key, t->value)) return;
      for (const node* c = t->right; c != nullptr; c = c->left) stack.push_back(c);
    }
  }

  // Three-way: below, equal to or above zero as `a` orders before, with or
  // after `b`. One comparison per level of the tree when Compare offers
  // compare(a, b) (bytes_less does: a memcmp), two otherwise.
  template <class A, class B>
  int order(const A& a, const B& b) const {
    if constexpr (requires { less_.compare(a, b); })
      return less_.compare(a, b);
    else
      return less_(a, b) ? -1 : (less_(b, a) ? 1 : 0);
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
        delete t;
      }
      if (todo.empty()) return;
      t = todo.back();
      todo.pop_back();
    }
  }
  // Given a reference it owns, returns a node it alone holds with the same
  // contents: `t` itself, or a copy (t's children gain a parent).
  static node* unique(node* t) {
    if (t->refs.load(std::memory_order_acquire) == 1) return t;
    node* c = new node{{1}, t->priority, t->key, t->value, retain(t->left), retain(t->right)};
    release(t);
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

  // Owns `t` (may be null), returns the owned new subtree. Recursion depth
  // is the treap's height: O(log n) expected.
  node* put(node* t, Key& key, Value& value, bool& added) {
    if (t == nullptr) {
      added = true;
      return new node{{1}, next_priority(), std::move(key), std::move(value)};
    }
    t = unique(t);
    const int c = order(key, t->key);
    if (c < 0) {
      t->left = put(t->left, key, value, added);
      if (t->left->priority > t->priority) t = rotate_right(t);
    } else if (c > 0) {
      t->right = put(t->right, key, value, added);
      if (t->right->priority > t->priority) t = rotate_left(t);
    } else {
      t->value = std::move(value);
    }
    return t;
  }

  // Owns `t`; `key` is in it.
  template <class K>
  node* remove(node* t, const K& key) {
    const int c = order(key, t->key);
    if (c < 0) {
      t = unique(t);
      t->left = remove(t->left, key);
      return t;
    }
    if (c > 0) {
      t = unique(t);
      t->right = remove(t->right, key);
      return t;
    }
    // Its children change hands: from t (freed unless a copy holds it) to
    // t's parent.
    node* l = retain(t->left);
    node* r = retain(t->right);
    release(t);
    return join(l, r);
  }

  // Owns `a` and `b`, every key of a before every key of b.
  static node* join(node* a, node* b) {
    if (a == nullptr) return b;
    if (b == nullptr) return a;
    if (a->priority > b->priority) {
      a = unique(a);
      a->right = join(a->right, b);
      return a;
    }
    b = unique(b);
    b->left = join(a, b->left);
    return b;
  }

  node* root_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t rng_ = std::random_device{}();
  [[no_unique_address]] Compare less_{};
};

}  // namespace coraft
