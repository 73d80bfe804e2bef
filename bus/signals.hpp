// Signals as events of a main loop: the chosen signals are blocked and read
// from a signalfd, so no code runs in a signal handler. `agency up` and
// `agency watch` use it.
//
// Create it before any other thread exists: threads inherit the mask, so the
// nats.c threads started later never take the signals either. On
// destruction the descriptor is closed and the earlier mask comes back (a
// second Ctrl-C during shutdown then takes its default course).
//
// Thread: one thread owns it; the mask it changes is that thread's.
#pragma once

#include <signal.h>

#include <chrono>
#include <initializer_list>

namespace agency {

class SignalFd {
 public:
  explicit SignalFd(std::initializer_list<int> signals);
  ~SignalFd();
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;

  // Readable while a signal is pending; -1 when signalfd failed.
  [[nodiscard]] int fd() const { return fd_; }
  // The pending signal, consumed; 0 if none.
  int take();
  // Waits up to timeout for a signal; returns it (consumed) or 0.
  int wait(std::chrono::milliseconds timeout);

 private:
  sigset_t set_{};
  sigset_t old_{};
  int fd_ = -1;
};

}  // namespace agency
