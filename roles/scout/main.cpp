#include "agents/runtime.hpp"
#include "roles/scout/scout.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Scout>(argc, argv); }
