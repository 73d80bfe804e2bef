#include "roles/dispatcher/dispatcher.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Dispatcher>(argc, argv); }
