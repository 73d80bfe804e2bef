// Error codes of the bus layer. Each names a case the caller may handle
// differently; the Error's message carries the details for a person.
#pragma once

#include <string_view>

namespace agency {

enum class errc {
  internal,        // a bug or an unexpected library answer
  config,          // bad settings (environment, agency.yaml, context file)
  connect,         // no NATS server at the URL, or it refused us
  not_connected,   // the connection is down (it keeps reconnecting)
  timeout,         // no answer in time (request, fetch)
  no_responders,   // a request nobody serves
  bad_payload,     // input we cannot decode: the message says why
  not_found,       // no such key, stream, consumer or task
  wrong_revision,  // compare-and-set lost: someone else wrote first
  already_exists,  // create of something that exists
  jetstream,       // JetStream refused: the message carries its error
  io,              // local files, processes
  refused,         // not allowed from where things stand (a task move that is not legal)
};

std::string_view to_string(errc code);

}  // namespace agency
