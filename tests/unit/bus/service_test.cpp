// The $SRV responder needs a live Connection even to be created, so its JSON
// shapes, counting and subscriptions are tested against a real server in
// tests/integration/service_test.cpp.
#include <doctest/doctest.h>
