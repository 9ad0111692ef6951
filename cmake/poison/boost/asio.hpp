// This directory is first on the include path of coraft::core only.
#error "coraft::core is the pure protocol: no Asio, no clock, no threads, no I/O. Move this code to lib/src/node."
