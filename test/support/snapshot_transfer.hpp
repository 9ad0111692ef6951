// snapshot_transfer.hpp — what a runtime does for a snapshot transfer, in
// memory, for the harnesses that drive the core directly: fill the chunks
// a leader sends (core::raft names their source), and receive a leader's
// chunks (write each, acknowledge it, check the whole, hand it over).
// coraft::node does the same against storage (snapshot_receiver).
#pragma once

#include <coraft/core/raft.hpp>
#include <coraft/detail/crc32c.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace coraft::test {

// Reads every chunk's bytes from its (in-memory) source.
inline void fill_chunks(std::vector<message>& msgs) {
  for (auto& m : msgs)
    if (auto* r = std::get_if<install_snapshot_request>(&m.body)) fill_snapshot_chunk(*r);
}

// A snapshot being received, kept in memory (lost with the process: a
// restart starts the transfer over).
class memory_snapshot_receiver {
 public:
  void receive(core::raft& raft, std::vector<core::snapshot_chunk>& chunks) {
    for (core::snapshot_chunk& c : chunks) {
      if (!partial_ || partial_->meta != c.meta) partial_ = partial{c.meta, {}};
      partial_->bytes.resize(c.offset);
      partial_->bytes.append(c.data.view());
      raft.snapshot_chunk_stored(c.meta, c.offset + c.data.size());
      if (!c.done) continue;
      partial p = std::move(*partial_);
      partial_.reset();
      if (p.bytes.size() == p.meta.size && detail::crc32c(p.bytes.data(), p.bytes.size()) == p.meta.crc)
        raft.snapshot_received(snapshot{p.meta, snapshot_bytes(payload(p.bytes))});
      else
        raft.snapshot_receive_failed(p.meta);
    }
  }
  void reset() { partial_.reset(); }

 private:
  struct partial {
    snapshot_meta meta;
    std::string bytes;
  };
  std::optional<partial> partial_;
};

}  // namespace coraft::test
