#include "roles/planner/planner.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Planner>(argc, argv); }
