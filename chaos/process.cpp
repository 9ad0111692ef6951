// process.cpp — see process.hpp.
#include "process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

extern char** environ;

namespace coraft::chaos {

namespace {

std::vector<char*> pointers(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Our environment, with `extra` replacing same-named variables.
std::vector<std::string> environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string v = *e;
    const auto eq = v.find('=');
    const std::string name = eq == std::string::npos ? v : v.substr(0, eq + 1);
    bool replaced = false;
    for (const auto& x : extra) replaced = replaced || (eq != std::string::npos && x.rfind(name, 0) == 0);
    if (!replaced) env.push_back(v);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

}  // namespace

pid_t spawn(const std::vector<std::string>& argv_in, const spawn_options& how) {
  std::vector<std::string> argv_s = argv_in;
  std::vector<std::string> env_s = environment(how.env);
  std::vector<char*> argv = pointers(argv_s);
  std::vector<char*> envp = pointers(env_s);
  const std::string ns_path = how.netns.empty() ? std::string() : "/var/run/netns/" + how.netns;
  const std::string log = how.log.empty() ? std::string("/dev/null") : how.log.string();
  const std::string hostname = how.hostname;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(126);
  if (how.own_process_group) ::setpgid(0, 0);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close(fd);
  }
  if (!ns_path.empty()) {
    const int ns = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "spawn: entering %s: %s\n", ns_path.c_str(), std::strerror(errno));
      ::_exit(125);
    }
    ::close(ns);
    // Its own host, by name too (best effort: the address is what counts).
    if (!hostname.empty() && ::unshare(CLONE_NEWUTS) == 0) (void)::sethostname(hostname.data(), hostname.size());
  }
  ::execve(argv[0], argv.data(), envp.data());
  std::fprintf(stderr, "spawn: execve %s: %s\n", argv[0], std::strerror(errno));
  ::_exit(127);
}

int decode_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return -WTERMSIG(st);
  return -999;
}

std::optional<int> reap_within(pid_t pid, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (true) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return decode_status(st);
    if (r < 0 && errno != EINTR) return -998;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace coraft::chaos
