#include "roles/scout/scout.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Scout>(argc, argv); }
