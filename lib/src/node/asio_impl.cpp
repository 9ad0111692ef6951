// The one translation unit that compiles Asio (BOOST_ASIO_SEPARATE_COMPILATION),
// built only with CORAFT_ASIO_SEPARATE_COMPILATION (cmake/CoraftDependencies.cmake).
#include <boost/asio/impl/src.hpp>
