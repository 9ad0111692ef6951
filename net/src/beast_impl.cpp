// The one translation unit that compiles Beast (BOOST_BEAST_SEPARATE_COMPILATION),
// built only with CORAFT_ASIO_SEPARATE_COMPILATION (cmake/CoraftDependencies.cmake).
#include <boost/beast/src.hpp>
// ... and Asio's TLS (the raft port, issue 17).
#include <boost/asio/ssl/impl/src.hpp>
