// dashboard_page.hpp — the dashboard's HTML (net/src/dashboard/index.html),
// compiled in by net/CMakeLists.txt so that serving it needs no file.
#pragma once

#include <string_view>

namespace coraft::net {

std::string_view dashboard_html();

}  // namespace coraft::net
