#include "agents/runtime.hpp"
#include "roles/dispatcher/dispatcher.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Dispatcher>(argc, argv); }
