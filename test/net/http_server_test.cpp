// http_server_test.cpp — the bytes coraft's HTTP server puts on the wire
// (it writes its answers itself, not through Beast's serializer): the
// status line in the request's version, Server, Content-Type, the
// handler's headers, a Content-Length that matches the body, and
// Connection only where it differs from the version's default; keep-alive
// as the client asked, and the connection closed when it did not.
#include <boost/test/unit_test.hpp>

#include <coraft/net/http.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace coraft::net;

// 16 MiB that no socket buffer holds whole, each byte telling its place.
std::string big_body() {
  std::string b(16u << 20, '\0');
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return b;
}

// A server on 127.0.0.1 (an ephemeral port) on its own thread: GET /hello
// answers {"a":1} with an X-Test header; GET /big answers big_body().
struct server_fixture {
  asio::io_context io{1};
  std::optional<http_server> server;
  std::thread runner;

  server_fixture() {
    http_router r;
    r.add("GET", "/hello", [](const http_request&) -> asio::awaitable<http_response> {
      http_response res = http_response::json("{\"a\":1}");
      res.headers.emplace_back("X-Test", "v");
      co_return res;
    });
    r.add("GET", "/big", [](const http_request&) -> asio::awaitable<http_response> {
      co_return http_response{200, "application/octet-stream", big_body(), {}};
    });
    http_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    server.emplace(io.get_executor(), o, std::move(r));
    server->start();
    runner = std::thread([this] { io.run(); });
  }
  ~server_fixture() {
    asio::co_spawn(io, server->stop(), asio::detached);
    runner.join();
  }
  // `receive_buffer`: the client socket's SO_RCVBUF (0: the system's).
  tcp::socket connect(int receive_buffer = 0) {
    tcp::socket s(client_io);
    if (receive_buffer > 0) {
      s.open(tcp::v4());
      s.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
    }
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()));
    return s;
  }
  asio::io_context client_io;
};

struct answer {
  std::string head;  // status line and headers, up to the blank line
  std::string body;
  bool has(const std::string& line) const { return head.find("\r\n" + line + "\r\n") != std::string::npos; }
};

// Reads one answer: the head, then Content-Length bytes of body.
answer read_answer(tcp::socket& s, std::string& buf) {
  const std::size_t end = asio::read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n");
  answer a;
  a.head = buf.substr(0, end - 2);  // keeps the last header's CRLF
  buf.erase(0, end);
  const std::size_t at = a.head.find("Content-Length: ");
  BOOST_TEST_REQUIRE(at != std::string::npos, a.head);
  const std::size_t length = std::stoul(a.head.substr(at + 16));
  if (buf.size() < length) asio::read(s, asio::dynamic_buffer(buf), asio::transfer_exactly(length - buf.size()));
  a.body = buf.substr(0, length);
  buf.erase(0, length);
  return a;
}

// True when the server closed the connection (no more bytes).
bool closed_by_server(tcp::socket& s, std::string& buf) {
  boost::system::error_code ec;
  asio::read(s, asio::dynamic_buffer(buf), ec);
  return ec == asio::error::eof && buf.empty();
}

void send(tcp::socket& s, const std::string& request) { asio::write(s, asio::buffer(request)); }

}  // namespace

BOOST_AUTO_TEST_SUITE(http_server_wire)

BOOST_AUTO_TEST_CASE(http_1_1_keeps_the_connection_and_says_nothing_about_it) {
  server_fixture f;
  tcp::socket s = f.connect();
  std::string buf;
  for (int i = 0; i < 2; ++i) {
    send(s, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    const answer a = read_answer(s, buf);
    BOOST_TEST(a.head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0, a.head);
    BOOST_TEST(a.has("Server: coraft"), a.head);
    BOOST_TEST(a.has("Content-Type: application/json"), a.head);
    BOOST_TEST(a.has("X-Test: v"), a.head);
    BOOST_TEST(a.has("Content-Length: 8"), a.head);
    BOOST_TEST(a.head.find("Connection") == std::string::npos, a.head);
    BOOST_TEST(a.body == "{\"a\":1}\n");
  }
}

BOOST_AUTO_TEST_CASE(connection_close_is_answered_and_the_server_closes) {
  server_fixture f;
  tcp::socket s = f.connect();
  std::string buf;
  send(s, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const answer a = read_answer(s, buf);
  BOOST_TEST(a.has("Connection: close"), a.head);
  BOOST_TEST(a.body == "{\"a\":1}\n");
  BOOST_TEST(closed_by_server(s, buf));
}

BOOST_AUTO_TEST_CASE(http_1_0_closes_unless_asked_to_keep_alive) {
  server_fixture f;
  {
    tcp::socket s = f.connect();
    std::string buf;
    send(s, "GET /hello HTTP/1.0\r\n\r\n");
    const answer a = read_answer(s, buf);
    BOOST_TEST(a.head.rfind("HTTP/1.0 200 OK\r\n", 0) == 0, a.head);
    BOOST_TEST(a.head.find("Connection") == std::string::npos, a.head);
    BOOST_TEST(closed_by_server(s, buf));
  }
  tcp::socket s = f.connect();
  std::string buf;
  for (int i = 0; i < 2; ++i) {
    send(s, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const answer a = read_answer(s, buf);
    BOOST_TEST(a.has("Connection: keep-alive"), a.head);
    BOOST_TEST(a.body == "{\"a\":1}\n");
  }
}

BOOST_AUTO_TEST_CASE(errors_carry_their_reason_headers_and_exact_length) {
  server_fixture f;
  tcp::socket s = f.connect();
  std::string buf;
  send(s, "PUT /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
  const answer a = read_answer(s, buf);
  BOOST_TEST(a.head.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0, a.head);
  BOOST_TEST(a.has("Allow: GET"), a.head);
  BOOST_TEST(a.body.find("\"error\":\"method_not_allowed\"") != std::string::npos, a.body);
  BOOST_TEST(a.has("Content-Length: " + std::to_string(a.body.size())), a.head);
  send(s, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");  // the connection is still good
  const answer b = read_answer(s, buf);
  BOOST_TEST(b.head.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0, b.head);
}

// The server writes what the socket takes at once and the rest
// asynchronously: an answer far larger than the socket's buffers (a client
// with a 4 KiB receive buffer) arrives whole and in order, and the
// connection serves the next request after it.
BOOST_AUTO_TEST_CASE(an_answer_larger_than_the_socket_buffers_arrives_whole) {
  server_fixture f;
  tcp::socket s = f.connect(4096);
  std::string buf;
  const std::string expected = big_body();
  for (int i = 0; i < 2; ++i) {
    send(s, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    const answer a = read_answer(s, buf);
    BOOST_TEST(a.has("Content-Length: " + std::to_string(expected.size())), a.head);
    BOOST_TEST_REQUIRE(a.body.size() == expected.size());
    BOOST_TEST((a.body == expected),
               "the body differs from byte "
                   << std::mismatch(a.body.begin(), a.body.end(), expected.begin()).first - a.body.begin());
  }
  send(s, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  BOOST_TEST(read_answer(s, buf).body == "{\"a\":1}\n");
}

// stop() lets an answer that is going out finish: the client has the first
// byte of a 16 MiB answer (the rest waits on its 4 KiB receive buffer) when
// the server stops; it still reads the whole answer, then the server
// closes the connection and stop() completes.
BOOST_AUTO_TEST_CASE(stop_lets_an_answer_being_written_finish) {
  server_fixture f;
  tcp::socket s = f.connect(4096);
  send(s, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string buf(1, '\0');
  asio::read(s, asio::buffer(buf.data(), 1));  // the server is writing
  std::promise<void> stopped;
  asio::co_spawn(f.io, f.server->stop(), [&stopped](std::exception_ptr) { stopped.set_value(); });
  const answer a = read_answer(s, buf);
  const std::string expected = big_body();
  BOOST_TEST_REQUIRE(a.body.size() == expected.size());
  BOOST_TEST((a.body == expected));
  BOOST_TEST(closed_by_server(s, buf));
  BOOST_TEST((stopped.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready));
}

BOOST_AUTO_TEST_SUITE_END()
