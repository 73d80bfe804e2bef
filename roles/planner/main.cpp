#include "agents/runtime.hpp"
#include "roles/planner/planner.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Planner>(argc, argv); }
