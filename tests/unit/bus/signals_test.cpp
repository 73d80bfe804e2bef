// Signals read from a descriptor: blocked while the object lives, taken one
// at a time, the mask restored after.
#include "bus/signals.hpp"

#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>

namespace {

bool blocked(int sig) {
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, nullptr, &now);
  return sigismember(&now, sig) == 1;
}

}  // namespace

TEST_CASE("signals: a raised signal is read from the descriptor, not delivered") {
  REQUIRE_FALSE(blocked(SIGUSR1));
  {
    agency::SignalFd signals({SIGUSR1, SIGUSR2});
    REQUIRE(signals.fd() >= 0);
    CHECK(blocked(SIGUSR1));
    CHECK(blocked(SIGUSR2));
    CHECK(signals.take() == 0);  // nothing pending
    CHECK(signals.wait(std::chrono::milliseconds{0}) == 0);

    // Blocked: the default action (ending the test run) does not happen.
    REQUIRE(pthread_kill(pthread_self(), SIGUSR2) == 0);
    CHECK(signals.wait(std::chrono::milliseconds{5000}) == SIGUSR2);
    CHECK(signals.take() == 0);  // consumed

    REQUIRE(pthread_kill(pthread_self(), SIGUSR1) == 0);
    CHECK(signals.take() == SIGUSR1);
  }
  // The earlier mask is back.
  CHECK_FALSE(blocked(SIGUSR1));
  CHECK_FALSE(blocked(SIGUSR2));
}
