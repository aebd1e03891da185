#pragma once
// Test helper: a server process the tests start (s3rver, the GCS test server), its stdout and
// stderr in a log file, stopped by its pid (SIGTERM, then reaped) when the object dies.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace stagecheck::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// Starts `args` (args[0] looked up on PATH) with stdin from /dev/null and its output in
  /// `log`; false if fork failed.
  bool start(std::vector<std::string> args, const std::string& log) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out >= 0) {
        ::dup2(out, 1);
        ::dup2(out, 2);
      }
      const int in = ::open("/dev/null", O_RDONLY);
      if (in >= 0) ::dup2(in, 0);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    if (pid < 0) return false;
    pid_ = pid;
    return true;
  }

  /// True if the process has exited (it is then reaped).
  bool exited() {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) pid_ = -1;
    return pid_ <= 0;
  }

  /// Polls `ready` until it holds (true), the process exits or 20 s pass (false, with `why`
  /// naming `name` and its `log`).
  bool wait_until(const std::function<bool()>& ready, const std::string& name,
                  const std::string& log, std::string& why) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!ready()) {
      if (exited()) {
        why = name + " exited at start; see " + log;
        return false;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        why = name + " did not listen within 20 s; see " + log;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  /// Stops the process (SIGTERM) and waits for it.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace stagecheck::testing
