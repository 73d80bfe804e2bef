#include "agents/runtime.hpp"
#include "roles/proxy/proxy.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Proxy>(argc, argv); }
