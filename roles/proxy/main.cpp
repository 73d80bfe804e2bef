#include "roles/proxy/proxy.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Proxy>(argc, argv); }
